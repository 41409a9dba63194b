"""Odoo replies sorted into retry / refresh-then-retry / rate-limited / reject, in one place.

Both APIs carry the same serialised exception ``{name, message, arguments, context, debug}`` (contract §6):
JSON-RPC inside ``{"error": {"code", "message", "data": …}}`` with HTTP 200, JSON-2 as the body of a 4xx/5xx.
The exception's ``name`` decides, whatever the status:

* ``odoo.exceptions.AccessDenied``, ``odoo.http.SessionExpiredException``, ``werkzeug.exceptions.Unauthorized``
  (JSON-2 "Invalid apikey", HTTP 401) → :class:`AuthExpired`: the client re-reads the key, authenticates
  again and retries once; a second refusal becomes :func:`bad_key` (:class:`VendorRejected`).
* ``UserError``, ``ValidationError``, ``AccessError``, ``MissingError``, ``RedirectWarning`` and the
  ``builtins`` errors of a bad call (``ValueError`` for an unknown field, ``TypeError`` for an unexpected
  keyword — JSON-2 answers 422, ``AttributeError`` for an unknown method, ``KeyError`` for an unknown model)
  → :class:`VendorRejected`, Odoo's message kept verbatim.
* ``psycopg2.OperationalError`` naming a database that "does not exist" → :class:`VendorRejected` (the
  ``database`` setting is wrong); other ``psycopg2`` errors (serialization failures, lost connections) and
  ``odoo.exceptions.ConcurrencyError`` → :class:`TransientError`.
* any other name is an unexpected server exception → :class:`TransientError` (a retry may pass; a server bug
  exhausts the retry policy and reaches the dead letters with Odoo's text).

Before that, by HTTP status: 429 → :class:`RateLimited` with ``Retry-After`` (Odoo documents no rate limit;
a proxy or Odoo.sh may send one), 5xx without an Odoo body → :class:`TransientError`, 404 without an Odoo body →
:class:`VendorRejected` (the endpoint does not exist: check ``api`` — ``/jsonrpc`` is gone in Odoo 22 — and
the paths), any other non-200 without an Odoo body → :class:`VendorRejected`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from huiliu.connectors.http import HttpReply
from huiliu.errors import AuthExpired, ConnectorError, RateLimited, TransientError, VendorRejected
from huiliu.i18n import t

__all__ = ["AUTHENTICATE", "SYSTEM", "bad_key", "check_json2", "check_jsonrpc", "error_from_data"]

SYSTEM = "odoo"
AUTHENTICATE = "common.authenticate"
_LIMIT = 500

_AUTH = frozenset({"odoo.exceptions.AccessDenied", "odoo.http.SessionExpiredException",
                   "werkzeug.exceptions.Unauthorized"})
_REJECTED = frozenset({
    "odoo.exceptions.UserError", "odoo.exceptions.ValidationError", "odoo.exceptions.AccessError",
    "odoo.exceptions.MissingError", "odoo.exceptions.RedirectWarning", "odoo.exceptions.Warning",
    "builtins.ValueError", "builtins.TypeError", "builtins.AttributeError", "builtins.KeyError",
    "builtins.NameError", "werkzeug.exceptions.BadRequest", "werkzeug.exceptions.NotFound",
    "werkzeug.exceptions.Forbidden", "werkzeug.exceptions.UnprocessableEntity",
})
_KIND = {
    "UserError": ("业务规则不允许", "a business rule refused it"),
    "ValidationError": ("数据校验未通过", "validation failed"),
    "AccessError": ("该用户无权操作", "the user lacks the access right"),
    "MissingError": ("记录不存在或已删除", "the record does not exist or was deleted"),
}


def _snippet(body: bytes, limit: int = 300) -> str:
    return body[:limit].decode("utf-8", errors="replace")


def bad_key(operation: str, vendor_message: str | None = None) -> VendorRejected:
    """The refusal of the configured login / API key, after one renewal did not help."""
    return VendorRejected(
        t("Odoo 拒绝了 API 密钥：密钥无效、已撤销或已过期（最长 3 个月），或登录名不对",
          "Odoo refused the API key: invalid, revoked or expired (3 months at most), or the wrong login"),
        system=SYSTEM, operation=operation, vendor_code="AccessDenied", vendor_message=vendor_message,
        fix=t("在 Odoo 用户偏好设置 → 账户安全中新建 API 密钥，更新设置 api_key（及 login、database）",
              "create a new API key in the Odoo user's preferences → Account Security and update api_key "
              "(and login, database)"))


def error_from_data(data: Any, operation: str) -> ConnectorError:
    """The hub error for a serialised Odoo exception ``{name, message, …}``.

    Args:
        data: the exception as Odoo serialises it (JSON-RPC ``error.data``, or a JSON-2 error body).
        operation: ``<model>.<method>`` or ``common.authenticate``.
    """
    fields: Mapping[str, Any] = data if isinstance(data, Mapping) else {}
    name = str(fields.get("name") or "")
    message = str(fields.get("message") or (fields.get("arguments") or [""])[0] or "").strip()[:_LIMIT]
    short = name.rsplit(".", 1)[-1] or "exception"
    if name in _AUTH:
        return AuthExpired(
            t("Odoo 认证失效（API 密钥被拒绝或会话过期）", "Odoo authentication expired (key refused or session gone)"),
            system=SYSTEM, operation=operation, vendor_code=short, vendor_message=message,
            fix=t("重新认证后重试一次", "authenticate again and retry once"))
    if name.startswith("psycopg2") and "does not exist" in message and "database" in message:
        return VendorRejected(
            t(f"Odoo 中没有该数据库：{message}", f"Odoo has no such database: {message}"),
            system=SYSTEM, operation=operation, vendor_code=short, vendor_message=message,
            fix=t("检查设置 database", "check the database setting"))
    if name in _REJECTED:
        zh, en = _KIND.get(short, ("请求被拒绝", "the request was refused"))
        return VendorRejected(
            t(f"Odoo 拒绝了 {operation}（{zh}）：{message}", f"Odoo rejected {operation} ({en}): {message}"),
            system=SYSTEM, operation=operation, vendor_code=short, vendor_message=message,
            fix=t("按 Odoo 返回的信息修正数据、单据状态或用户权限后重新发起",
                  "correct the data, the document's state or the user's rights named by Odoo and send again"))
    return TransientError(
        t(f"Odoo 服务器异常 {short}：{message}", f"Odoo server exception {short}: {message}"),
        system=SYSTEM, operation=operation, vendor_code=short, vendor_message=message,
        fix=t("稍后自动重试；若持续出现，请查看 Odoo 服务器日志", "retried later automatically; if it persists, "
              "read the Odoo server log"))


def _check_http(reply: HttpReply, operation: str, *, odoo_body: bool) -> None:
    status = reply.status
    if status == 429:
        raise RateLimited(system=SYSTEM, operation=operation, retry_after=reply.retry_after(), vendor_code="429",
                          vendor_message=_snippet(reply.body))
    if status == 200 or odoo_body:
        return
    if status >= 500:
        raise TransientError(
            t(f"Odoo 服务器错误 HTTP {status}", f"Odoo server error HTTP {status}"),
            system=SYSTEM, operation=operation, vendor_code=str(status), vendor_message=_snippet(reply.body),
            fix=t("稍后自动重试；若持续出现，请查看 Odoo 服务器日志",
                  "retried later automatically; if it persists, read the Odoo server log"))
    if status == 401:
        raise AuthExpired(t("Odoo 拒绝了认证（HTTP 401）", "Odoo refused the credentials (HTTP 401)"),
                          system=SYSTEM, operation=operation, vendor_code="401", vendor_message=_snippet(reply.body))
    if status == 404:
        raise VendorRejected(
            t("Odoo 没有该接口地址（HTTP 404）", "Odoo has no such endpoint (HTTP 404)"),
            system=SYSTEM, operation=operation, vendor_code="404", vendor_message=_snippet(reply.body),
            fix=t("检查设置 api（≤18 用 jsonrpc，19 起用 json2）、base_url 与接口路径",
                  "check the api setting (jsonrpc up to 18, json2 from 19), base_url and the paths"))
    raise VendorRejected(
        t(f"Odoo 拒绝了请求：HTTP {status}", f"Odoo refused the request: HTTP {status}"),
        system=SYSTEM, operation=operation, vendor_code=str(status), vendor_message=_snippet(reply.body),
        fix=t("检查设置 base_url 是否指向 Odoo", "check that base_url points at Odoo"))


def _not_json(reply: HttpReply, operation: str) -> TransientError:
    return TransientError(
        t("Odoo 的回复不是预期的 JSON", "Odoo's reply is not the expected JSON"),
        system=SYSTEM, operation=operation, vendor_message=_snippet(reply.body),
        fix=t("稍后自动重试；若持续出现，请检查 base_url 是否指向 Odoo（而非代理页面）",
              "retried later; if it persists, check base_url points at Odoo, not a proxy page"))


def check_jsonrpc(reply: HttpReply, operation: str) -> Any:
    """Return the ``result`` of a ``/jsonrpc`` reply, or raise the error it means.

    Raises:
        AuthExpired: ``AccessDenied`` or an expired session.
        RateLimited: HTTP 429.
        TransientError: HTTP 5xx, a reply that is not JSON-RPC, or a server exception that may pass.
        VendorRejected: a business or call error (Odoo's message kept), an unknown database or endpoint.
    """
    _check_http(reply, operation, odoo_body=False)
    body = reply.json
    if not isinstance(body, dict) or ("result" not in body and "error" not in body):
        raise _not_json(reply, operation)
    error = body.get("error")
    if error is not None:
        data = error.get("data") if isinstance(error, Mapping) else None
        if not isinstance(data, Mapping):
            data = {"name": "", "message": str(error.get("message") if isinstance(error, Mapping) else error)}
        raise error_from_data(data, operation)
    return body.get("result")


def check_json2(reply: HttpReply, operation: str) -> Any:
    """Return the body of a JSON-2 reply (the method's result), or raise the error it means.

    Raises:
        AuthExpired: HTTP 401 "Invalid apikey".
        RateLimited: HTTP 429.
        TransientError: HTTP 5xx, a body that is not JSON, or a server exception that may pass.
        VendorRejected: a business or call error (Odoo's message kept), an unknown database or endpoint.
    """
    odoo_body = isinstance(reply.json, dict) and "name" in reply.json and "message" in reply.json
    _check_http(reply, operation, odoo_body=odoo_body)
    if reply.status != 200:
        raise error_from_data(reply.json, operation)
    if reply.json is None and reply.body.strip() not in (b"null", b""):
        raise _not_json(reply, operation)
    return reply.json
