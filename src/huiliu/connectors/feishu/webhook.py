"""Inbound Feishu events (事件订阅): decrypt, verify, and read the approval event out of them.

Owns: the checks of contracts §3.4 in the contract's order — (1) decrypt ``{"encrypt": …}`` when an
Encrypt Key is set, (2) compare the Verification Token, (3) answer ``url_verification`` with its
challenge, (4) verify ``X-Lark-Signature`` — then the freshness window and the event shape: the v1
``event_callback`` schema with ``event.type`` ``approval_instance`` or ``approval_task`` (§3.3), and the v2
``{"schema":"2.0","header":…}`` envelope. Also the dedupe key and the replies. Does not own: what to do
with the event — it is only a trigger; the hub re-reads the instance (contracts §10.2).

Each refusal is a :class:`WebhookRejected` whose ``reason`` is one of :data:`REJECT_REASONS`.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from huiliu.connectors.feishu.cipher import FeishuCipher
from huiliu.connectors.feishu.settings import FeishuSettings
from huiliu.crypto import CryptoError
from huiliu.errors import WebhookRejected
from huiliu.i18n import Text, t
from huiliu.model import Clock

__all__ = ["EVENT_KINDS", "NONCE_HEADER", "REJECT_REASONS", "SIGNATURE_HEADER", "TIMESTAMP_HEADER",
           "ApprovalEvent", "EventCodec", "UrlVerification", "dedupe_key"]

REJECT_REASONS = frozenset({"bad_body", "bad_base64", "bad_ciphertext", "bad_padding",
                            "not_json", "wrong_token", "bad_challenge", "missing_signature", "bad_signature",
                            "stale_timestamp", "unknown_event", "bad_event"})
"""Every ``WebhookRejected.reason`` this module raises."""

EVENT_KINDS = frozenset({"approval_instance", "approval_task"})
"""Event types accepted: instance status changes and (third-party documented, [T]) task changes."""

TIMESTAMP_HEADER = "X-Lark-Request-Timestamp"
NONCE_HEADER = "X-Lark-Request-Nonce"
SIGNATURE_HEADER = "X-Lark-Signature"

_WHERE = "feishu.event"
_CRYPTO_REASONS = {"bad_base64": t("密文不是合法的 base64", "encrypt is not base64"),
                   "bad_ciphertext": t("密文长度不对或内容不是 UTF-8", "ciphertext has a bad length or is not UTF-8"),
                   "bad_padding": t("密文填充错误：Encrypt Key 不对或密文被改动",
                                    "bad padding: wrong Encrypt Key or damaged ciphertext")}


def _reject(reason: str, what: Text, part: str, fix: Text) -> WebhookRejected:
    return WebhookRejected(reason, what, where=f"{_WHERE} {part}", fix=fix)


def _bad_event(part: str, zh: str, en: str) -> WebhookRejected:
    return _reject("bad_event", t(f"事件内容不完整：{zh}", f"incomplete event: {en}"), part,
                   t("该事件与契约（contracts §3.3）不符；请附上原始 JSON 报告问题",
                     "the event does not match contracts §3.3; report it with the raw JSON"))


@dataclass(frozen=True, slots=True)
class UrlVerification:
    """The ``url_verification`` request Feishu sends when the request URL is saved; answer :meth:`reply`."""

    challenge: str

    def reply(self) -> dict[str, str]:
        """``{"challenge": …}``, returned as the HTTP 200 JSON body."""
        return {"challenge": self.challenge}


@dataclass(frozen=True, slots=True)
class ApprovalEvent:
    """An approval event, a trigger only: the instance must be re-read before anything is done.

    Attributes:
        event_id: top-level ``uuid`` (v1) or ``header.event_id`` (v2); the same on every redelivery.
        event_type: ``approval_instance`` or ``approval_task``.
        approval_code: the approval definition.
        instance_code: the instance.
        status: the status the event reports, verbatim (``PENDING``, ``APPROVED``, ``REVERTED`` …).
        operate_time: when it happened, if the event says (``operate_time`` may be int or string).
        instance_uuid: ``event.uuid``: the uuid the instance was created with, if any.
        task_id: for ``approval_task``, the task.
        tenant_key: the tenant.
        schema: ``"1.0"`` (``event_callback``) or ``"2.0"``.
        raw: the decrypted event body.
    """

    event_id: str
    event_type: str
    approval_code: str
    instance_code: str
    status: str
    operate_time: datetime | None
    instance_uuid: str | None
    task_id: str | None
    tenant_key: str | None
    schema: str
    raw: Mapping[str, Any]


def dedupe_key(event: ApprovalEvent) -> str:
    """The full dedupe key: event id, instance, task and status together.

    A redelivery repeats all four; two distinct changes never share all four, even when Feishu reuses
    an id or two events share a timestamp (RELIABILITY.md: dedupe on the full event key).
    """
    return "\x1f".join(("feishu", event.event_id, event.instance_code, event.task_id or "", event.status))


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | str):
        text = str(value)
        return text or None
    return None


def _epoch(value: Any, unit_ms: bool) -> datetime | None:
    """An epoch time from int, float-like string or digits; ``None`` when unreadable."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    seconds = number / 1000 if unit_ms else number
    try:
        return datetime.fromtimestamp(float(seconds), tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


class EventCodec:
    """Opens Feishu event requests for one app.

    Args:
        settings: the app's settings (Verification Token, Encrypt Key, tolerance).
        clock: time source for the freshness check.
        event_types: the event types accepted; anything else is refused as ``unknown_event``.
    """

    def __init__(self, settings: FeishuSettings, clock: Clock,
                 event_types: frozenset[str] = EVENT_KINDS) -> None:
        key = settings.encrypt_key.get_secret_value()
        self._cipher = FeishuCipher(key) if key else None
        self._token = settings.verification_token.get_secret_value()
        self._verify_signature = settings.verify_signature and self._cipher is not None
        self._tolerance = settings.timestamp_tolerance.total_seconds()
        self._clock = clock
        self._event_types = event_types

    @staticmethod
    def reply() -> dict[str, str]:
        """The body to answer an accepted event with (HTTP 200)."""
        return {"msg": "success"}

    def open(self, headers: Mapping[str, str], body: bytes) -> UrlVerification | ApprovalEvent:
        """Verify and decode one request.

        Args:
            headers: the request headers (a case-insensitive mapping such as aiohttp's, or lower-case keys).
            body: the raw request body, exactly as received (the signature covers these bytes).

        Raises:
            WebhookRejected: with ``reason`` one of :data:`REJECT_REASONS`.
        """
        outer = self._json(body, "body")
        plaintext_event = self._decrypt(outer)
        self._check_token(plaintext_event)
        if plaintext_event.get("type") == "url_verification":
            challenge = plaintext_event.get("challenge")
            if not isinstance(challenge, str) or not challenge:
                raise _reject("bad_challenge", t("url_verification 缺少 challenge",
                                                 "url_verification has no challenge"), "challenge",
                              t("确认请求来自飞书开放平台", "make sure the request comes from Feishu"))
            return UrlVerification(challenge)
        header_ts = self._header(headers, TIMESTAMP_HEADER)
        if self._verify_signature:
            self._check_signature(headers, header_ts, body)
        self._check_fresh(plaintext_event, header_ts)
        return self._event(plaintext_event)

    # ------------------------------------------------------------------ steps

    @staticmethod
    def _header(headers: Mapping[str, str], name: str) -> str | None:
        value = headers.get(name)
        if value is None:
            value = headers.get(name.lower())
        return value or None

    @staticmethod
    def _json(data: bytes | str, part: str) -> dict[str, Any]:
        try:
            value = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            value = None
        if not isinstance(value, dict):
            reason = "bad_body" if part == "body" else "not_json"
            raise _reject(reason, t(f"{'请求体' if part == 'body' else '解密后的内容'}不是 JSON 对象",
                                    f"{'body' if part == 'body' else 'decrypted text'} is not a JSON object"),
                          part, t("确认该地址只接收飞书事件推送，且请求体未被代理改写",
                                  "make sure only Feishu event pushes reach this URL, unmodified"))
        return value

    def _decrypt(self, outer: dict[str, Any]) -> dict[str, Any]:
        if "encrypt" not in outer:
            return outer
        encrypt = outer["encrypt"]
        if self._cipher is None:
            raise _reject("bad_body", t("收到加密事件，但未配置 Encrypt Key",
                                        "encrypted event received but no Encrypt Key is set"), "body.encrypt",
                          t("在设置中填入飞书开放平台事件订阅的 Encrypt Key",
                            "set encrypt_key to the subscription's Encrypt Key"))
        if not isinstance(encrypt, str) or not encrypt:
            raise _reject("bad_body", t("encrypt 不是字符串", "encrypt is not a string"), "body.encrypt",
                          t("确认请求来自飞书开放平台", "make sure the request comes from Feishu"))
        try:
            plaintext = self._cipher.decrypt(encrypt)
        except CryptoError as exc:
            raise _reject(exc.reason, _CRYPTO_REASONS[exc.reason], "body.encrypt",
                          t("检查 encrypt_key 是否与飞书开放平台事件订阅的 Encrypt Key 一致",
                            "check that encrypt_key matches the subscription's Encrypt Key")) from exc
        return self._json(plaintext, "plaintext")

    def _check_token(self, event: dict[str, Any]) -> None:
        header = event.get("header")
        token = header.get("token") if event.get("schema") and isinstance(header, dict) else event.get("token")
        if not isinstance(token, str) or not hmac.compare_digest(token.encode("utf-8"),
                                                                 self._token.encode("utf-8")):
            raise _reject("wrong_token", t("事件的 Verification Token 不匹配",
                                           "the event's Verification Token does not match"), "token",
                          t("检查 verification_token 是否与飞书开放平台事件订阅中的一致",
                            "check that verification_token matches the event subscription's"))

    def _check_signature(self, headers: Mapping[str, str], timestamp: str | None, body: bytes) -> None:
        assert self._cipher is not None
        nonce = self._header(headers, NONCE_HEADER)
        signature = self._header(headers, SIGNATURE_HEADER)
        if timestamp is None or nonce is None or signature is None:
            raise _reject("missing_signature", t("请求缺少 X-Lark-Signature/Timestamp/Nonce 头",
                                                 "request lacks X-Lark-Signature/Timestamp/Nonce"), "headers",
                          t("确认代理原样转发了飞书的请求头",
                            "make sure the proxy passes Feishu's headers through"))
        try:
            self._cipher.verify(signature, timestamp, nonce, body)
        except CryptoError as exc:
            raise _reject("bad_signature", t("X-Lark-Signature 签名不匹配", "X-Lark-Signature does not match"),
                          "headers.X-Lark-Signature",
                          t("检查 encrypt_key 是否正确，且请求体未被代理改写（签名覆盖原始字节）",
                            "check encrypt_key, and that the body reaches us byte for byte")) from exc

    def _check_fresh(self, event: dict[str, Any], header_ts: str | None) -> None:
        header = event.get("header")
        if header_ts is not None:
            sent, part = _epoch(header_ts, unit_ms=False), f"headers.{TIMESTAMP_HEADER}"
        elif event.get("schema") and isinstance(header, dict):
            sent, part = _epoch(header.get("create_time"), unit_ms=True), "header.create_time"
        else:
            sent, part = _epoch(event.get("ts"), unit_ms=False), "ts"
        if sent is None:
            raise _reject("stale_timestamp", t("事件没有可读的时间戳", "the event has no readable timestamp"), part,
                          t("确认请求来自飞书开放平台", "make sure the request comes from Feishu"))
        skew = abs((self._clock.now() - sent).total_seconds())
        if skew > self._tolerance:
            raise _reject("stale_timestamp", t(f"事件时间戳与当前时间相差 {int(skew)} 秒，超出允许范围",
                                               f"event timestamp is {int(skew)} s from now, too far"), part,
                          t("校准服务器时钟（NTP）；若为重放请求则无需处理",
                            "synchronise the clock (NTP); a replay needs no action"))

    def _event(self, body: dict[str, Any]) -> ApprovalEvent:
        if body.get("schema"):
            header = body.get("header")
            if body.get("schema") != "2.0" or not isinstance(header, dict):
                raise _reject("unknown_event", t(f"未知的事件格式 schema={body.get('schema')!r}",
                                                 f"unknown event schema {body.get('schema')!r}"), "schema",
                              t("仅支持 v1 event_callback 与 v2.0 事件", "only v1 event_callback and v2.0 are read"))
            event_id, kind, schema = _text(header.get("event_id")), _text(header.get("event_type")), "2.0"
            tenant_key = _text(header.get("tenant_key"))
            id_part, kind_part = "header.event_id", "header.event_type"
        else:
            if body.get("type") != "event_callback":
                raise _reject("unknown_event", t(f"未知的请求类型 type={body.get('type')!r}",
                                                 f"unknown request type {body.get('type')!r}"), "type",
                              t("仅支持 event_callback 与 url_verification",
                                "only event_callback and url_verification are read"))
            inner = body.get("event")
            event_id, schema = _text(body.get("uuid")), "1.0"
            kind = _text(inner.get("type")) if isinstance(inner, dict) else None
            tenant_key = _text(inner.get("tenant_key")) if isinstance(inner, dict) else None
            id_part, kind_part = "uuid", "event.type"
        event = body.get("event")
        if not isinstance(event, dict):
            raise _bad_event("event", "缺少 event 对象", "no event object")
        if kind is None or kind not in self._event_types:
            raise _reject("unknown_event", t(f"不处理的事件类型 {kind!r}", f"event type {kind!r} is not handled"),
                          kind_part, t("在飞书开放平台只订阅审批事件，或调整 event_types",
                                       "subscribe only to approval events, or widen event_types"))
        if event_id is None:
            raise _bad_event(id_part, "缺少事件 id", "no event id")
        fields = {name: _text(event.get(name)) for name in ("approval_code", "instance_code", "status")}
        for name, value in fields.items():
            if value is None:
                raise _bad_event(f"event.{name}", f"缺少 {name}", f"no {name}")
        operate = event.get("operate_time", event.get("instance_operate_time"))
        task_id = _text(event.get("task_id"))
        if kind == "approval_task" and task_id is None:
            raise _bad_event("event.task_id", "任务事件缺少 task_id", "task event has no task_id")
        return ApprovalEvent(
            event_id=event_id, event_type=kind, approval_code=str(fields["approval_code"]),
            instance_code=str(fields["instance_code"]), status=str(fields["status"]),
            operate_time=_epoch(operate, unit_ms=True), instance_uuid=_text(event.get("uuid")),
            task_id=task_id, tenant_key=tenant_key, schema=schema, raw=body)
