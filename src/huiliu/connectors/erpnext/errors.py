"""ERPNext / Frappe replies sorted into retry / refresh-then-retry / rate-limited / reject, in one place.

Frappe answers an exception with its class's HTTP status and a JSON body carrying ``exc_type``, ``exception``
and ``_server_messages`` (a JSON list of JSON objects with ``message``; contract §7 — keys unconfirmed, so
each is optional here and the raw body is the fallback):

* 401 ``AuthenticationError`` → :class:`AuthExpired`: the client re-reads the key and secret and retries once;
  a second refusal becomes :func:`bad_credentials` (:class:`VendorRejected`).
* 429 → :class:`RateLimited` with ``Retry-After`` (``frappe/rate_limiter.py``); a 417
  ``RateLimitExceededError`` from an endpoint's ``@rate_limit`` too.
* 417 ``TimestampMismatchError`` (the document changed meanwhile) and ``QueryDeadlockError`` /
  ``QueryTimeoutError`` → :class:`TransientError`: a retry reads the document again.
* 403 ``PermissionError``, 404 ``DoesNotExistError``, 409 ``DuplicateEntryError``, 417 ``ValidationError`` and
  its family (``MandatoryError``, ``LinkValidationError``, ``DocstatusTransitionError``, ``LinkExistsError``,
  ``UniqueValidationError`` …) → :class:`VendorRejected`, the site's message kept verbatim; ``vendor_code`` is
  the ``exc_type``.
* 5xx (503 ``SessionStopped`` during maintenance, a proxy's 502) or a body that is not JSON →
  :class:`TransientError`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from huiliu.connectors.http import HttpReply
from huiliu.errors import AuthExpired, ConnectorError, RateLimited, TransientError, VendorRejected
from huiliu.i18n import t

__all__ = ["SYSTEM", "bad_credentials", "check_reply", "error_from_reply", "server_message"]

SYSTEM = "erpnext"
_LIMIT = 500
_TRANSIENT = frozenset({"TimestampMismatchError", "QueryDeadlockError", "QueryTimeoutError", "SessionStopped"})
_KIND = {
    403: ("该用户无权操作", "the user lacks the permission"),
    404: ("单据不存在", "the document does not exist"),
    409: ("单据已存在", "the document already exists"),
}


def _snippet(body: bytes, limit: int = 300) -> str:
    return body[:limit].decode("utf-8", errors="replace")


def server_message(body: Any, raw: bytes = b"") -> str:
    """The user message of a Frappe error body: ``_server_messages``, else ``exception``, else the raw body."""
    if isinstance(body, Mapping):
        messages = body.get("_server_messages")
        texts: list[str] = []
        if isinstance(messages, str):
            try:
                decoded = json.loads(messages)
            except ValueError:
                decoded = [messages]
            for item in decoded if isinstance(decoded, list) else [decoded]:
                try:
                    parsed = json.loads(item) if isinstance(item, str) else item
                except ValueError:
                    parsed = item
                text = parsed.get("message") if isinstance(parsed, Mapping) else parsed
                if text:
                    texts.append(str(text))
        if texts:
            return "; ".join(texts)[:_LIMIT]
        for key in ("exception", "message", "exc_type"):
            if body.get(key):
                return str(body[key])[:_LIMIT]
    return _snippet(raw)


def bad_credentials(operation: str, vendor_message: str | None = None) -> VendorRejected:
    """The refusal of the configured key and secret, after one renewal did not help."""
    return VendorRejected(
        t("ERPNext 拒绝了 API 密钥：api_key / api_secret 错误或已重新生成",
          "ERPNext refused the API key: api_key / api_secret are wrong or were regenerated"),
        system=SYSTEM, operation=operation, vendor_code="AuthenticationError", vendor_message=vendor_message,
        fix=t("在 ERPNext 用户 → 设置 → API 访问中生成密钥，更新设置 api_key 与 api_secret",
              "generate keys under the ERPNext user → Settings → API Access and update api_key and api_secret"))


def error_from_reply(reply: HttpReply, operation: str) -> ConnectorError:
    """The hub error for a non-200 Frappe reply."""
    status = reply.status
    body = reply.json if isinstance(reply.json, Mapping) else {}
    exc_type = str(body.get("exc_type") or "")
    message = server_message(reply.json, reply.body)
    code = exc_type or str(status)
    if status == 429 or exc_type == "RateLimitExceededError":
        return RateLimited(system=SYSTEM, operation=operation, retry_after=reply.retry_after(), vendor_code=code,
                           vendor_message=message)
    if status == 401:
        return AuthExpired(t("ERPNext 认证失败（HTTP 401）", "ERPNext refused the credentials (HTTP 401)"),
                           system=SYSTEM, operation=operation, vendor_code=code, vendor_message=message,
                           fix=t("重新读取密钥后重试一次", "read the keys again and retry once"))
    if status >= 500 or exc_type in _TRANSIENT:
        return TransientError(
            t(f"ERPNext 暂时无法处理 {operation}（{code}）：{message}",
              f"ERPNext could not handle {operation} for now ({code}): {message}"),
            system=SYSTEM, operation=operation, vendor_code=code, vendor_message=message,
            fix=t("稍后自动重试；若持续出现，请查看 ERPNext 的 Error Log",
                  "retried later automatically; if it persists, read ERPNext's Error Log"))
    zh, en = _KIND.get(status, ("业务校验未通过", "validation failed"))
    return VendorRejected(
        t(f"ERPNext 拒绝了 {operation}（{zh}）：{message}", f"ERPNext rejected {operation} ({en}): {message}"),
        system=SYSTEM, operation=operation, vendor_code=code, vendor_message=message,
        fix=t("按 ERPNext 返回的信息修正数据、单据状态或用户权限后重新发起",
              "correct the data, the document's state or the user's permissions named by ERPNext and send again"))


def check_reply(reply: HttpReply, operation: str, envelope: str = "data") -> Any:
    """Return ``data`` (resources) or ``message`` (methods) of a reply, or raise the error it means.

    Raises:
        AuthExpired: HTTP 401.
        RateLimited: HTTP 429, or ``RateLimitExceededError``.
        TransientError: HTTP 5xx, a reply that is not JSON, ``TimestampMismatchError`` or a database deadlock.
        VendorRejected: 403, 404, 409, 417 and other refusals, with the site's message.
    """
    if reply.status != 200:
        raise error_from_reply(reply, operation)
    body = reply.json
    if not isinstance(body, Mapping) or envelope not in body:
        raise TransientError(
            t("ERPNext 的回复不是预期的 JSON", "ERPNext's reply is not the expected JSON"),
            system=SYSTEM, operation=operation, vendor_message=_snippet(reply.body),
            fix=t("稍后自动重试；若持续出现，请检查 base_url 与 api_prefix 是否指向 ERPNext",
                  "retried later; if it persists, check that base_url and api_prefix point at ERPNext"))
    return body[envelope]
