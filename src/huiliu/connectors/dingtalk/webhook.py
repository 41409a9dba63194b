"""Inbound DingTalk HTTP callbacks (事件订阅, delivery mode A): verify, decrypt, and build the reply.

Owns: the JSON envelope of contracts §1.4 around the WXBizMsgCrypt algorithm of :mod:`huiliu.crypto`
(query ``msg_signature``/``timeStamp``/``nonce``, body ``{"encrypt": …}``, reply ``enc("success")``), the
freshness window, and the refusal reasons. Does not own: what to do with the event (the inbox), nor the
crypto itself.

Order of checks: parameters, body, timestamp, signature, then — only for a signed message — decryption
and the event shape. Each refusal is a :class:`WebhookRejected` with a machine-readable ``reason``.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import Any

from huiliu.connectors.dingtalk.settings import DingTalkSettings
from huiliu.crypto import CryptoError, MsgCrypt
from huiliu.errors import WebhookRejected
from huiliu.i18n import Text, t
from huiliu.model import Clock

__all__ = ["REJECT_REASONS", "CallbackCodec"]

REJECT_REASONS = frozenset({"missing_params", "bad_body", "stale_timestamp", "bad_signature",
                            "bad_ciphertext", "wrong_receiver", "bad_event"})
"""Every ``WebhookRejected.reason`` this module raises."""

_WHERE = "dingtalk.callback"


def _reject(reason: str, what: Text, part: str, fix: Text) -> WebhookRejected:
    return WebhookRejected(reason, what, where=f"{_WHERE} {part}", fix=fix)


class CallbackCodec:
    """Opens DingTalk callbacks and seals the replies, for one event subscription.

    Args:
        settings: the app's settings (token, EncodingAESKey, receive id, tolerance).
        clock: time source for the freshness check and reply timestamps.
    """

    def __init__(self, settings: DingTalkSettings, clock: Clock) -> None:
        self._crypt = MsgCrypt(settings.callback_token.get_secret_value(),
                               settings.aes_key.get_secret_value(), settings.receive_id)
        self._tolerance_ms = settings.timestamp_tolerance.total_seconds() * 1000
        self._clock = clock

    def _now_ms(self) -> int:
        return int(self._clock.now().timestamp() * 1000)

    def open(self, query: Mapping[str, str], body: bytes) -> dict[str, Any]:
        """Verify and decrypt one callback; return the event (a JSON object with ``EventType``).

        Args:
            query: the request's query parameters. ``msg_signature`` or the older ``signature``,
                ``timeStamp`` or the older ``timestamp`` (milliseconds), and ``nonce``.
            body: the raw request body, JSON ``{"encrypt": "<base64>"}``.

        Raises:
            WebhookRejected: with ``reason`` one of :data:`REJECT_REASONS`; nothing was decrypted unless
                the signature matched.
        """
        signature = query.get("msg_signature") or query.get("signature")
        timestamp = query.get("timeStamp") or query.get("timestamp")
        nonce = query.get("nonce")
        if signature is None or timestamp is None or nonce is None or not (signature and timestamp and nonce):
            given = (("msg_signature", signature), ("timeStamp", timestamp), ("nonce", nonce))
            missing = ", ".join(name for name, value in given if not value)
            raise _reject("missing_params", t(f"回调缺少查询参数：{missing}",
                                              f"callback lacks query parameters: {missing}"), "query",
                          t("确认回调地址原样转发了钉钉的查询参数",
                            "make sure the callback URL passes DingTalk's query string through"))
        encrypt = self._encrypt_field(body)
        self._check_fresh(timestamp)
        try:
            self._crypt.verify(signature, timestamp, nonce, encrypt)
        except CryptoError as exc:
            raise _reject("bad_signature", t("回调签名不匹配", "callback signature does not match"),
                          "query.msg_signature",
                          t("检查 callback_token 是否与钉钉开放平台事件订阅中的 token 一致",
                            "check that callback_token matches the event subscription's token")) from exc
        try:
            plaintext = self._crypt.decrypt(encrypt)
        except CryptoError as exc:
            if exc.reason == "wrong_receiver":
                raise _reject("wrong_receiver", t("回调是发给另一个应用的",
                                                  "callback was encrypted for another receiver"),
                              "body.encrypt",
                              t("检查 receive_id：企业内部应用事件订阅用 appKey，旧版回调用 corpId，"
                                "第三方应用用 suiteKey",
                                "check receive_id: appKey for internal-app event subscriptions, "
                                "corpId for legacy callbacks, suiteKey for ISV apps")) from exc
            raise _reject("bad_ciphertext", t("回调密文无法解密", "callback ciphertext cannot be decrypted"),
                          "body.encrypt",
                          t("检查 aes_key 是否与钉钉开放平台的 EncodingAESKey 一致",
                            "check that aes_key matches the subscription's EncodingAESKey")) from exc
        return self._event(plaintext)

    @staticmethod
    def _encrypt_field(body: bytes) -> str:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            data = None
        encrypt = data.get("encrypt") if isinstance(data, dict) else None
        if not isinstance(encrypt, str) or not encrypt:
            raise _reject("bad_body", t('回调请求体不是 {"encrypt": …} JSON',
                                        'callback body is not JSON {"encrypt": …}'), "body",
                          t("确认该地址只接收钉钉 HTTP 回调，且请求体未被代理改写",
                            "make sure only DingTalk HTTP callbacks reach this URL, unmodified"))
        return encrypt

    def _check_fresh(self, timestamp: str) -> None:
        if not timestamp.isdigit():
            raise _reject("stale_timestamp", t("回调 timeStamp 不是毫秒时间戳",
                                               "callback timeStamp is not ms"), "query.timeStamp",
                          t("钉钉的 timeStamp 是毫秒整数", "DingTalk sends integer ms"))
        skew = abs(self._now_ms() - int(timestamp))
        if skew > self._tolerance_ms:
            raise _reject("stale_timestamp", t(f"回调时间戳与当前时间相差 {skew // 1000} 秒，超出允许范围",
                                               f"callback timestamp is {skew // 1000} s from now, too far"),
                          "query.timeStamp", t("校准服务器时钟（NTP）；若为重放请求则无需处理",
                                               "synchronise the clock (NTP); a replay needs no action"))

    @staticmethod
    def _event(plaintext: str) -> dict[str, Any]:
        try:
            event = json.loads(plaintext)
        except ValueError:
            event = None
        if not isinstance(event, dict) or not isinstance(event.get("EventType"), str):
            raise _reject("bad_event", t("解密后的内容不是带 EventType 的 JSON 对象",
                                         "decrypted text is not a JSON object with EventType"), "plaintext",
                          t("该订阅可能不是钉钉事件订阅；检查回调配置",
                            "this may not be a DingTalk event subscription; check its settings"))
        return event

    def reply(self, message: str = "success") -> dict[str, str]:
        """The encrypted reply envelope ``{msg_signature, timeStamp, nonce, encrypt}``, freshly stamped."""
        return self._crypt.seal(message, str(self._now_ms()), secrets.token_urlsafe(6))
