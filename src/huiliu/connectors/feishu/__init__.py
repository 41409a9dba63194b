"""The Feishu (飞书 / Lark) connector: Approval v4 API, event subscription, approval mapping.

Same files as every connector: ``client.py`` (tenant token and calls), ``webhook.py`` (event verification
and decryption), ``mapping.py`` (Feishu ⇄ canonical approval instance and form), ``errors.py`` (Feishu's
codes sorted into the error tree), ``actions.py`` (actions flows call) and ``settings.py``; plus
``cipher.py``, Feishu's own event cryptography, and ``directory.py``, reading the 通讯录 (unconfirmed: not
in shared/contracts). The contract followed is ``shared/contracts`` §3; its unconfirmed points are settings
here.
"""

from huiliu.connectors.feishu.actions import CREATE_ACTION, ApprovalCreate, register_actions
from huiliu.connectors.feishu.cipher import FeishuCipher, request_signature
from huiliu.connectors.feishu.client import FeishuClient, InstanceCodePage, instance_uuid
from huiliu.connectors.feishu.directory import read_directory
from huiliu.connectors.feishu.errors import SYSTEM, DuplicateUuid, expect_data, map_reply
from huiliu.connectors.feishu.mapping import EVENT_TYPES, event_type, parse_form, status_of, to_form, to_instance
from huiliu.connectors.feishu.settings import FeishuSettings, FormFieldSpec
from huiliu.connectors.feishu.webhook import (
    REJECT_REASONS,
    ApprovalEvent,
    EventCodec,
    UrlVerification,
    dedupe_key,
)

__all__ = [
    "CREATE_ACTION",
    "EVENT_TYPES",
    "REJECT_REASONS",
    "SYSTEM",
    "ApprovalCreate",
    "ApprovalEvent",
    "DuplicateUuid",
    "EventCodec",
    "FeishuCipher",
    "FeishuClient",
    "FeishuSettings",
    "FormFieldSpec",
    "InstanceCodePage",
    "UrlVerification",
    "dedupe_key",
    "event_type",
    "expect_data",
    "instance_uuid",
    "map_reply",
    "parse_form",
    "read_directory",
    "register_actions",
    "request_signature",
    "status_of",
    "to_form",
    "to_instance",
]
