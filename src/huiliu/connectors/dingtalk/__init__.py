"""The DingTalk (钉钉) connector: v1.0 workflow API, encrypted HTTP callbacks, approval mapping.

Same files as every connector: ``client.py`` (token and calls), ``webhook.py`` (callback verification
and decryption), ``mapping.py`` (DingTalk → canonical approval instance), ``errors.py`` (DingTalk's
codes sorted into the error tree), ``actions.py`` (write-back actions) and ``settings.py``. The contract
followed is ``shared/contracts`` §1; its unconfirmed points are settings here.
"""

from huiliu.connectors.dingtalk.actions import (
    COMMENT_ACTION,
    CREATE_ACTION,
    comment_marker,
    register_actions,
    to_form_values,
)
from huiliu.connectors.dingtalk.client import ACCESS_TOKEN_HEADER, DingTalkClient, InstanceIdPage
from huiliu.connectors.dingtalk.directory import read_directory
from huiliu.connectors.dingtalk.errors import SYSTEM, expect_object, map_reply
from huiliu.connectors.dingtalk.mapping import EVENT_TYPES, announced_type, event_type, to_instance
from huiliu.connectors.dingtalk.settings import DingTalkSettings
from huiliu.connectors.dingtalk.stream import StreamReceiver
from huiliu.connectors.dingtalk.webhook import REJECT_REASONS, CallbackCodec

__all__ = [
    "ACCESS_TOKEN_HEADER",
    "COMMENT_ACTION",
    "CREATE_ACTION",
    "EVENT_TYPES",
    "REJECT_REASONS",
    "SYSTEM",
    "CallbackCodec",
    "DingTalkClient",
    "DingTalkSettings",
    "InstanceIdPage",
    "StreamReceiver",
    "announced_type",
    "comment_marker",
    "event_type",
    "expect_object",
    "map_reply",
    "read_directory",
    "register_actions",
    "to_form_values",
    "to_instance",
]
