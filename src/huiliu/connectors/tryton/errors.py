"""Tryton JSON-RPC replies sorted into retry / refresh-then-retry / rate-limited / reject, in one place.

Every reply passes through :func:`check_reply` (or :func:`check_login` for ``common.db.login``). What Tryton 8.2
answers (contract §7, §8, and ``trytond/protocols``):

* HTTP 401 on a call → :class:`AuthExpired`: the session timed out (5 min idle), was logged out or never
  existed; the client logs in again and retries once. At login, 401 means a wrong login or password →
  :class:`VendorRejected`, never retried (each failure makes the server sleep longer, contract §8.8).
* HTTP 429 → :class:`RateLimited` (too many failed logins, or the server's rate limit).
* HTTP 403 → :class:`VendorRejected`: the method is not exposed over RPC, or the login is refused.
* HTTP 404 → :class:`VendorRejected`: no such database (check ``database`` and ``rpc_path``).
* HTTP 5xx (504 is Tryton's own request timeout), or a body that is not JSON → :class:`TransientError`.
* A business error still comes with HTTP 200 and ``{"error": [type, args]}``:

  - ``UserError`` ``[message, description, domain]`` (validation, access rules, wrong state) →
    :class:`VendorRejected` with Tryton's message and description kept verbatim. The domain part can be
    kilobytes of field definitions and is dropped.
  - ``UserWarning`` ``[name, message, description]`` → :class:`VendorRejected`: a warning needs a person to
    acknowledge it in Tryton; the connector does not skip warnings.
  - ``ConcurrencyException`` → :class:`TransientError`: the record changed meanwhile; a retry reads it again.
  - ``LoginException`` ``[name, message, type]`` → :class:`VendorRejected`: the login needs another
    parameter (a second factor), which a service account cannot give.
  - anything else is an unexpected server exception sent as ``[str(exc), traceback]`` →
    :class:`TransientError` with the first line kept (a SQLite "database is locked" passes; a server bug
    exhausts the retry policy and lands in the dead letters with Tryton's text).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from huiliu.connectors.http import HttpReply
from huiliu.errors import AuthExpired, ConnectorError, RateLimited, TransientError, VendorRejected
from huiliu.i18n import t

__all__ = ["LOGIN_OPERATION", "SYSTEM", "check_login", "check_reply", "error_from_payload"]

SYSTEM = "tryton"
LOGIN_OPERATION = "common.db.login"
_LIMIT = 500


def _snippet(body: bytes, limit: int = 300) -> str:
    return body[:limit].decode("utf-8", errors="replace")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _check_http(reply: HttpReply, operation: str) -> None:
    status = reply.status
    if status == 429:
        raise RateLimited(system=SYSTEM, operation=operation, retry_after=reply.retry_after(), vendor_code="429",
                          vendor_message=_snippet(reply.body))
    if status == 401:
        if operation == LOGIN_OPERATION:
            raise VendorRejected(
                t("Tryton 登录失败：用户名或密码错误", "Tryton login failed: wrong login or password"),
                system=SYSTEM, operation=operation, vendor_code="401", vendor_message=_snippet(reply.body),
                fix=t("检查设置 username 与 password；多次失败后 Tryton 会限制该用户登录",
                      "check the username and password settings; Tryton throttles a login after failures"))
        raise AuthExpired(
            t("Tryton 会话已失效（超时或已注销）", "Tryton session expired or was logged out"),
            system=SYSTEM, operation=operation, vendor_code="401",
            fix=t("重新登录后重试；若反复出现，请检查服务器的 [session] timeout 设置",
                  "log in again and retry; if it repeats, check the server's [session] timeout"))
    if status >= 500:
        raise TransientError(
            t(f"Tryton 服务器错误 HTTP {status}", f"Tryton server error HTTP {status}"),
            system=SYSTEM, operation=operation, vendor_code=str(status), vendor_message=_snippet(reply.body),
            fix=t("稍后自动重试；若持续出现，请查看 Tryton 服务器日志",
                  "retried later automatically; if it persists, read the Tryton server log"))
    if status == 404:
        raise VendorRejected(
            t("Tryton 找不到该数据库或接口地址", "Tryton has no such database or endpoint"),
            system=SYSTEM, operation=operation, vendor_code="404", vendor_message=_snippet(reply.body),
            fix=t("检查设置 database 与 rpc_path（8.2 为 /{database}/rpc/，旧版本为 /{database}/）",
                  "check the database and rpc_path settings (/{database}/rpc/ in 8.2, /{database}/ before)"))
    if status == 403:
        raise VendorRejected(
            t(f"Tryton 拒绝了 {operation}（HTTP 403）", f"Tryton refused {operation} (HTTP 403)"),
            system=SYSTEM, operation=operation, vendor_code="403", vendor_message=_snippet(reply.body),
            fix=t("该方法未开放给 RPC，或该用户无权调用；检查 Tryton 版本与用户权限",
                  "the method is not exposed over RPC or the user may not call it; check the version and rights"))
    if status != 200:
        raise VendorRejected(
            t(f"Tryton 拒绝了请求：HTTP {status}", f"Tryton refused the request: HTTP {status}"),
            system=SYSTEM, operation=operation, vendor_code=str(status), vendor_message=_snippet(reply.body),
            fix=t("检查设置 base_url 是否指向 Tryton", "check that base_url points at Tryton"))
    if not isinstance(reply.json, dict):
        raise TransientError(
            t("Tryton 的回复不是 JSON-RPC 格式", "Tryton's reply is not JSON-RPC"),
            system=SYSTEM, operation=operation, vendor_message=_snippet(reply.body),
            fix=t("稍后自动重试；若持续出现，请检查 base_url 是否指向 Tryton（而非代理页面）",
                  "retried later; if it persists, check base_url points at Tryton, not a proxy page"))


def error_from_payload(error: Any, operation: str) -> ConnectorError:
    """The hub error for the ``error`` member of a JSON-RPC reply (HTTP 200).

    Args:
        error: ``[type, args]`` as Tryton sends it, e.g. ``["UserError", [message, description, domain]]``.
        operation: the method called, e.g. ``model.purchase.purchase.confirm``.
    """
    kind, args = "", None
    if isinstance(error, Sequence) and not isinstance(error, str | bytes) and error:
        kind, args = _text(error[0]), error[1] if len(error) > 1 else None
    else:
        kind = _text(error)
    parts = list(args) if isinstance(args, Sequence) and not isinstance(args, str | bytes) else [args]
    if kind == "UserError":
        message = " - ".join(p for p in (_text(parts[0]), _text(parts[1]) if len(parts) > 1 else "") if p)
        message = message[:_LIMIT]
        return VendorRejected(
            t(f"Tryton 拒绝了 {operation}：{message}", f"Tryton rejected {operation}: {message}"),
            system=SYSTEM, operation=operation, vendor_code=kind, vendor_message=message,
            fix=t("按 Tryton 返回的信息修正数据或单据状态后重新发起",
                  "correct the data or the document's state named by Tryton and send again"))
    if kind == "UserWarning":
        name = _text(parts[0])
        message = " - ".join(p for p in (_text(x) for x in parts[1:3]) if p)[:_LIMIT]
        return VendorRejected(
            t(f"Tryton 提出警告，需要人工确认：{message}", f"Tryton raised a warning that needs a person: {message}"),
            system=SYSTEM, operation=operation, vendor_code=f"UserWarning:{name}", vendor_message=message,
            fix=t("在 Tryton 中确认该警告（或调整其配置）后重新发起",
                  "acknowledge the warning in Tryton (or change its configuration) and send again"))
    if kind == "ConcurrencyException":
        message = _text(args)[:_LIMIT]
        return TransientError(
            t(f"Tryton 记录已被他人修改：{message}", f"Tryton record changed meanwhile: {message}"),
            system=SYSTEM, operation=operation, vendor_code=kind, vendor_message=message,
            fix=t("稍后自动重试", "retried later automatically"))
    if kind == "LoginException":
        message = _text(parts[1] if len(parts) > 1 else parts[0])[:_LIMIT]
        return VendorRejected(
            t(f"Tryton 登录需要更多信息：{message}", f"Tryton login needs more: {message}"),
            system=SYSTEM, operation=operation, vendor_code=kind, vendor_message=message,
            fix=t("为接口用户关闭双因素等额外登录步骤，或改用 session 设置",
                  "turn off extra login steps (second factor) for the API user, or use the session setting"))
    if kind == "RateLimitException":
        return RateLimited(system=SYSTEM, operation=operation, vendor_code=kind)
    message = (kind or repr(error)).splitlines()[0][:_LIMIT] if (kind or error) else "(empty error)"
    return TransientError(
        t(f"Tryton 服务器异常：{message}", f"Tryton server exception: {message}"),
        system=SYSTEM, operation=operation, vendor_code="exception", vendor_message=message,
        fix=t("稍后自动重试；若持续出现，请查看 Tryton 服务器日志中的堆栈",
              "retried later automatically; if it persists, read the traceback in the Tryton server log"))


def check_reply(reply: HttpReply, operation: str) -> Any:
    """Return the ``result`` of a JSON-RPC reply, or raise the error it means.

    Args:
        reply: the HTTP reply.
        operation: the JSON-RPC method, named in errors.

    Raises:
        AuthExpired: HTTP 401, the session is gone.
        RateLimited: HTTP 429.
        TransientError: HTTP 5xx, a reply that is not JSON-RPC, a ``ConcurrencyException`` or an
            unexpected server exception.
        VendorRejected: HTTP 403/404, a ``UserError``, ``UserWarning`` or ``LoginException``; Tryton's message
            is kept in ``vendor_message``.
    """
    _check_http(reply, operation)
    body = reply.json
    if "error" in body and body["error"] is not None:
        raise error_from_payload(body["error"], operation)
    return body.get("result")


def check_login(reply: HttpReply) -> tuple[int, str]:
    """Return ``(user_id, token)`` from a ``common.db.login`` reply, or raise the error it means.

    Raises:
        VendorRejected: HTTP 401 (wrong login or password), 403, 404 (no such database), or a
            ``LoginException``.
        RateLimited: HTTP 429 after too many failures.
        TransientError: HTTP 5xx, or a reply of another shape.
    """
    result = check_reply(reply, LOGIN_OPERATION)
    if (isinstance(result, list) and len(result) >= 2 and isinstance(result[0], int)
            and isinstance(result[1], str) and result[1]):
        return result[0], result[1]
    raise TransientError(t("Tryton 登录回复格式不正确", "Tryton's login reply has an unexpected shape"),
                         system=SYSTEM, operation=LOGIN_OPERATION, vendor_message=_snippet(reply.body))
