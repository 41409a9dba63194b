"""SAP replies sorted into retry / refresh-then-retry / rate-limited / reject, in one place.

Every OData reply passes through :func:`check_reply`; SOAP replies through :func:`check_soap`.

* HTTP 403 with ``x-csrf-token: Required`` → :class:`AuthExpired` with ``vendor_code="csrf"``: the client
  fetches a new token and retries once (the header value is unconfirmed in stored sources, contract §8).
* HTTP 401 → :class:`AuthExpired` with a bearer token (it expired); with basic auth :class:`VendorRejected`
  (a wrong password fails again, and retrying locks the user).
* HTTP 429 → :class:`RateLimited` with ``Retry-After``; 5xx, or a body that is not JSON → :class:`TransientError`.
* any other 4xx → :class:`VendorRejected` with SAP's message verbatim: OData V2 ``error.message.value`` and
  ``error.innererror.errordetails[].message``, V4 ``error.message`` and ``error.details[].message``
  (both shapes unconfirmed for these services; the common OData ones).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from huiliu.connectors.http import HttpReply
from huiliu.errors import AuthExpired, RateLimited, TransientError, VendorRejected
from huiliu.i18n import t

__all__ = ["CSRF_CODE", "SYSTEM", "check_reply", "odata_message"]

SYSTEM = "sap"
CSRF_CODE = "csrf"


def _snippet(body: bytes, limit: int = 300) -> str:
    return body[:limit].decode("utf-8", errors="replace")


def odata_message(body: Any) -> tuple[str | None, str]:
    """``(code, message)`` of an OData error body, V2 or V4; details are appended after ``；``."""
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        return None, ""
    message = error.get("message")
    text = str(message.get("value", "")) if isinstance(message, Mapping) else str(message or "")
    details: list[Any] = []
    inner = error.get("innererror")
    if isinstance(inner, Mapping) and isinstance(inner.get("errordetails"), list):
        details = inner["errordetails"]
    elif isinstance(error.get("details"), list):
        details = error["details"]
    extra = [str(d.get("message")) for d in details if isinstance(d, Mapping) and d.get("message")
             and str(d.get("message")) != text]
    code = error.get("code")
    return (None if code is None else str(code)), "；".join([text, *extra])[:500]


def check_reply(reply: HttpReply, operation: str, *, bearer: bool) -> Any:
    """Return the parsed JSON of a successful OData reply (``None`` for 204), or raise the error it means.

    Args:
        reply: the HTTP reply.
        operation: e.g. ``A_PurchaseOrder.create``, named in errors.
        bearer: whether the call used a bearer token (401 then means "expired", else "wrong password").
    """
    status = reply.status
    if status == 403 and (reply.header("x-csrf-token") or "").lower() == "required":
        raise AuthExpired(t("SAP CSRF 令牌无效或已过期", "the SAP CSRF token is missing or expired"),
                          system=SYSTEM, operation=operation, vendor_code=CSRF_CODE,
                          vendor_message=_snippet(reply.body),
                          fix=t("重新获取 CSRF 令牌后重试", "a new CSRF token is fetched and the call retried"))
    if status == 401:
        if bearer:
            raise AuthExpired(t("SAP 访问令牌已过期", "the SAP access token expired"), system=SYSTEM,
                              operation=operation, vendor_code="401",
                              fix=t("更新 bearer_token 后重试", "renew bearer_token and retry"))
        raise VendorRejected(t("SAP 登录失败：用户名或密码错误", "SAP login failed: wrong user or password"),
                             system=SYSTEM, operation=operation, vendor_code="401",
                             fix=t("检查通信用户的 username 与 password；多次失败会锁定该用户",
                                   "check the communication user's password; repeated failures lock it"))
    if status == 429:
        raise RateLimited(system=SYSTEM, operation=operation, retry_after=reply.retry_after(), vendor_code="429",
                          vendor_message=_snippet(reply.body))
    if status >= 500:
        code, message = odata_message(reply.json)
        raise TransientError(t(f"SAP 服务器错误 HTTP {status}", f"SAP server error HTTP {status}"),
                             system=SYSTEM, operation=operation, vendor_code=code or str(status),
                             vendor_message=message or _snippet(reply.body),
                             fix=t("稍后自动重试；若持续出现，请在 SAP 中查看 /IWFND/ERROR_LOG",
                                   "retried later; if it persists, read /IWFND/ERROR_LOG in SAP"))
    if status >= 400:
        code, message = odata_message(reply.json)
        message = message or _snippet(reply.body)
        fix = (t("检查通信安排（communication arrangement）是否授权该服务",
                 "check the communication arrangement grants this service") if status == 403 else
               t("按 SAP 返回的信息修正数据后重新发起", "correct the data SAP names and send again"))
        raise VendorRejected(t(f"SAP 拒绝了 {operation}：{message}", f"SAP rejected {operation}: {message}"),
                             system=SYSTEM, operation=operation, vendor_code=code or str(status),
                             vendor_message=message, fix=fix)
    if status == 204 or not reply.body:
        return None
    if reply.json is None:
        raise TransientError(t("SAP 的回复不是 JSON", "SAP's reply is not JSON"), system=SYSTEM,
                             operation=operation, vendor_message=_snippet(reply.body),
                             fix=t("稍后自动重试；若持续出现，请检查 base_url 是否指向 API 主机（而非登录页）",
                                   "retried later; if it persists, check base_url is the API host"))
    return reply.json
