"""The WeCom (企业微信) connector: the 审批 (approval) API, encrypted XML callbacks, approval mapping.

Same files as every connector: ``client.py`` (token and calls), ``webhook.py`` (the URL handshake,
callback verification and decryption, the event dedupe key), ``mapping.py`` (WeCom ⇄ canonical approval
instance and form), ``errors.py`` (WeCom's errcodes sorted into the error tree), ``actions.py`` (the
create action with hub-side dedupe) and ``settings.py``; plus ``directory.py``, reading the 通讯录
(unconfirmed: not in shared/contracts). The contract followed is ``shared/contracts``
§2; its unconfirmed points are settings here. WeCom's approval event server is no longer offered to new
customers, so polling ``getapprovalinfo`` (:meth:`WeComClient.iter_sp_nos`) is the main path.
"""

from huiliu.connectors.wecom.actions import APPROVAL_CREATE, ApprovalCreate, register_actions
from huiliu.connectors.wecom.client import SpNoPage, WeComClient, split_windows
from huiliu.connectors.wecom.directory import read_directory
from huiliu.connectors.wecom.errors import SYSTEM, expect_object, map_reply
from huiliu.connectors.wecom.mapping import (
    EVENT_TYPES,
    SP_STATUS,
    Control,
    event_type,
    form_from_contents,
    template_controls,
    to_contents,
    to_instance,
    to_summary,
)
from huiliu.connectors.wecom.settings import WeComSettings
from huiliu.connectors.wecom.webhook import (
    REJECT_REASONS,
    ApprovalChange,
    CallbackCodec,
    WeComEvent,
    dedupe_key,
)

__all__ = [
    "APPROVAL_CREATE",
    "EVENT_TYPES",
    "REJECT_REASONS",
    "SP_STATUS",
    "SYSTEM",
    "ApprovalChange",
    "ApprovalCreate",
    "CallbackCodec",
    "Control",
    "SpNoPage",
    "WeComClient",
    "WeComEvent",
    "WeComSettings",
    "dedupe_key",
    "event_type",
    "expect_object",
    "form_from_contents",
    "map_reply",
    "read_directory",
    "register_actions",
    "split_windows",
    "template_controls",
    "to_contents",
    "to_instance",
    "to_summary",
]
