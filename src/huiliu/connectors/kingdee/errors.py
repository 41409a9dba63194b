"""Kingdee replies sorted into retry / refresh-then-retry / rate-limited / reject, in one place.

Every HTTP reply of K3Cloud passes through :func:`check_login` or :func:`check_result`:

* HTTP 429 → :class:`RateLimited` (Kingdee's own throttling is unconfirmed; a proxy's 429 is honoured);
* HTTP 5xx, a body that is not JSON, or the SDK's ``response_error:`` text → :class:`TransientError`;
* ``ResponseStatus.MsgCode`` 1 「会话信息已丢失，请重新登录」 → :class:`AuthExpired` (the client logs
  in again and retries once);
* any other ``IsSuccess: false`` → :class:`VendorRejected` listing every ``Errors[]`` entry verbatim;
  a refusal because the accounting period is closed (「已结账」) is rewritten by
  :func:`closed_period_error` to name the period and the fix;
* per-item operations (BatchSave, and Submit / Audit of many bills) go through :func:`check_partial`,
  which hands back a reply whose every error names its item (``DIndex``) instead of raising;
* at login, another non-200 status means a wrong account-set id (empirical, contract §4.2), and
  ``LoginResultType`` other than 1 a refused user or password.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from huiliu.connectors.http import HttpReply
from huiliu.errors import AuthExpired, RateLimited, TransientError, VendorRejected
from huiliu.i18n import Text, t

__all__ = [
    "CLOSED_PERIOD_MARK",
    "LOGIN_OPERATION",
    "SESSION_LOST_CODE",
    "SYSTEM",
    "check_login",
    "check_partial",
    "check_result",
    "closed_period_error",
    "first_field",
    "item_errors",
    "response_status",
]

SYSTEM = "kingdee"
LOGIN_OPERATION = "ValidateUser"
SESSION_LOST_CODE = 1
"""``MsgCode`` of 「会话信息已丢失，请重新登录」: the session is gone, log in again."""

CLOSED_PERIOD_MARK = "已结账"
"""The words in Kingdee's refusal of a voucher dated in a closed period (结账). The full wording is
unconfirmed; every variant seen in the wild says 「…期间已结账…」."""

_FIXES: dict[int, Text] = {
    4: t("检查设置 voucher_form：该业务对象（表单）在金蝶中不存在",
         "check the voucher_form setting: the form does not exist in Kingdee"),
    8: t("请求缺少必填参数；请检查连接器版本与金蝶版本是否匹配",
         "a required parameter is missing; check the connector and Kingdee versions match"),
    9: t("字段不存在：检查设置 reference_field 与 aux_fields 是否已在 BOS 中配置",
         "a field does not exist: check reference_field and aux_fields are configured in BOS"),
}
_ENTRY_ROW = re.compile(r"第\s*(\d+)\s*行")
"""「第1行分录：…」: the 1-based entry row Kingdee names in a message about a voucher or bill entry."""

_DEFAULT_FIX = t("按金蝶返回的字段与信息修正数据（科目、核算维度、金额）后重新发起",
                 "correct the data named by Kingdee (account, auxiliary dimension, amount) and send again")


def response_status(payload: Any) -> Mapping[str, Any] | None:
    """The ``ResponseStatus`` object of a reply, in either shape Kingdee uses, or ``None``.

    Write operations and View answer ``{"Result":{"ResponseStatus":…}}``; ExecuteBillQuery answers
    errors as ``[[{"Result":{"ResponseStatus":…}}]]``.
    """
    if isinstance(payload, list) and payload and isinstance(payload[0], list) and payload[0]:
        payload = payload[0][0]
    if isinstance(payload, Mapping):
        result = payload.get("Result")
        if isinstance(result, Mapping):
            status = result.get("ResponseStatus")
            if isinstance(status, Mapping):
                return status
    return None


def _check_http(reply: HttpReply, operation: str) -> None:
    if reply.status == 429:
        raise RateLimited(system=SYSTEM, operation=operation, retry_after=reply.retry_after(),
                          vendor_code="429")
    if reply.status >= 500:
        fix = t("稍后自动重试；若持续出现，请检查金蝶服务器状态",
                "retried later automatically; if it persists, check the Kingdee server")
        if operation == LOGIN_OPERATION:
            fix = t("稍后自动重试；若持续出现，请检查金蝶服务器状态与设置 acct_id（数据中心 ID）",
                    "retried later automatically; if it persists, check the server and acct_id")
        raise TransientError(t(f"金蝶服务器错误 HTTP {reply.status}",
                               f"Kingdee server error HTTP {reply.status}"),
                             system=SYSTEM, operation=operation, vendor_code=str(reply.status),
                             vendor_message=_snippet(reply.body), fix=fix)
    if reply.body.lstrip().startswith(b"response_error:"):
        raise TransientError(t("金蝶返回 response_error", "Kingdee answered response_error"),
                             system=SYSTEM, operation=operation, vendor_message=_snippet(reply.body),
                             fix=t("稍后自动重试", "retried later automatically"))
    if reply.status != 200:
        if operation == LOGIN_OPERATION:
            raise VendorRejected(
                t(f"金蝶登录失败：HTTP {reply.status}", f"Kingdee login failed: HTTP {reply.status}"),
                system=SYSTEM, operation=operation, vendor_code=str(reply.status),
                vendor_message=_snippet(reply.body),
                fix=t("检查设置 acct_id（数据中心 ID）与 base_url：错误的数据中心 ID 会返回非 200 状态",
                      "check acct_id (the data-centre id) and base_url: a wrong acct id answers non-200"))
        raise VendorRejected(
            t(f"金蝶拒绝了请求：HTTP {reply.status}", f"Kingdee refused the request: HTTP {reply.status}"),
            system=SYSTEM, operation=operation, vendor_code=str(reply.status),
            vendor_message=_snippet(reply.body),
            fix=t("检查设置 base_url：服务地址应为 {server}/k3cloud/",
                  "check base_url: services live under {server}/k3cloud/"))
    if reply.json is None:
        raise TransientError(t("金蝶的回复不是 JSON", "Kingdee's reply is not JSON"),
                             system=SYSTEM, operation=operation, vendor_message=_snippet(reply.body),
                             fix=t("稍后自动重试；若持续出现，请检查 base_url 是否指向金蝶（而非代理页面）",
                                   "retried later; if it persists, check base_url points at Kingdee"))


def check_result(reply: HttpReply, operation: str) -> Any:
    """Return the parsed reply of a service call, or raise the error it means.

    Args:
        reply: the HTTP reply.
        operation: the Kingdee operation (``Save``, ``ExecuteBillQuery`` …), named in errors.

    Raises:
        RateLimited: HTTP 429.
        TransientError: HTTP 5xx, a body that is not JSON, or ``response_error:``.
        AuthExpired: ``MsgCode`` 1, the session is lost.
        VendorRejected: ``IsSuccess`` false for any other reason; the message lists each field and
            Kingdee's Chinese message verbatim, ``vendor_code`` is the ``MsgCode``; ``field`` and ``line``
            come from the first error that names a field (see :func:`first_field`).
    """
    _check_http(reply, operation)
    status = response_status(reply.json)
    if status is None or status.get("IsSuccess", True) is not False:
        return reply.json
    code = status.get("MsgCode")
    details = _details(status)
    if code == SESSION_LOST_CODE:
        raise AuthExpired(t(f"金蝶会话已失效：{details}", f"Kingdee session lost: {details}"),
                          system=SYSTEM, operation=operation, vendor_code=str(code), vendor_message=details,
                          fix=t("重新登录后重试；若反复出现，请检查该用户是否在别处登录或会话超时设置",
                                "log in again and retry; if it repeats, check the user is not logged in "
                                "elsewhere and the session timeout"))
    field, line = first_field(status)
    raise VendorRejected(t(f"金蝶拒绝了 {operation}：{details}", f"Kingdee rejected {operation}: {details}"),
                         system=SYSTEM, operation=operation,
                         vendor_code=None if code is None else str(code), vendor_message=details,
                         fix=_FIXES.get(code if isinstance(code, int) else -1, _DEFAULT_FIX),
                         field=field, line=line)


def first_field(status: Mapping[str, Any]) -> tuple[str | None, int | None]:
    """The field and 0-based entry line of the first error in ``Errors`` that names a field.

    The line is the row of 「第N行分录」 in its message when there is one (an entry of the document), else
    its ``DIndex`` (which, for Save, is the bill's position in the request). ``(None, None)`` when no
    error names a field.
    """
    for error in status.get("Errors") or []:
        if not isinstance(error, Mapping) or not error.get("FieldName"):
            continue
        row = _ENTRY_ROW.search(str(error.get("Message") or ""))
        index = error.get("DIndex")
        if row is not None:
            return str(error["FieldName"]), int(row.group(1)) - 1
        return str(error["FieldName"]), index if isinstance(index, int) and not isinstance(index, bool) else None
    return None, None


def check_partial(reply: HttpReply, operation: str) -> Any:
    """Like :func:`check_result` for per-item operations: item refusals come back, the rest raises.

    A reply with ``IsSuccess`` false is returned when ``MsgCode`` is 0 and every error has a
    ``DIndex`` (some items saved, some refused: read them with :func:`item_errors`). A lost session
    or a request-level refusal (``MsgCode`` 4, 8, 9 …, or an error naming no item) raises as in
    :func:`check_result`.
    """
    _check_http(reply, operation)
    status = response_status(reply.json)
    if status is None or status.get("IsSuccess", True) is not False:
        return reply.json
    errors = status.get("Errors")
    per_item = (status.get("MsgCode") in (0, None) and isinstance(errors, list) and bool(errors)
                and all(isinstance(e, Mapping) and isinstance(e.get("DIndex"), int) for e in errors))
    if per_item:
        return reply.json
    return check_result(reply, operation)


def item_errors(status: Mapping[str, Any]) -> dict[int, tuple[str | None, str]]:
    """``DIndex`` → (first field named, every message of that item joined by ``；``)."""
    found: dict[int, tuple[str | None, list[str]]] = {}
    for error in status.get("Errors") or []:
        if isinstance(error, Mapping) and isinstance(error.get("DIndex"), int):
            name = error.get("FieldName")
            _, messages = found.setdefault(error["DIndex"], (None if name is None else str(name), []))
            message = str(error.get("Message") or "")
            messages.append(f"{name}：{message}" if name else message)
    return {index: (field, "；".join(messages)) for index, (field, messages) in found.items()}


def closed_period_error(vendor_message: str | None, day: date, operation: str,
                        vendor_code: str | None = None) -> VendorRejected | None:
    """The error for a refusal because ``day``'s accounting period is closed, or ``None`` if it is not one.

    Args:
        vendor_message: Kingdee's message, kept verbatim in the error.
        day: the voucher's date; its period ``YYYY-MM`` is named.
        operation: ``Save`` or ``BatchSave``.
        vendor_code: Kingdee's ``MsgCode``.
    """
    if not vendor_message or CLOSED_PERIOD_MARK not in vendor_message:
        return None
    period = day.isoformat()[:7]
    return VendorRejected(
        t(f"金蝶拒绝了 {operation}：凭证日期 {day.isoformat()} 所在的会计期间 {period} 已结账（{vendor_message}）",
          f"Kingdee rejected {operation}: the accounting period {period} of the voucher date {day.isoformat()} "
          f"is closed ({vendor_message})"),
        system=SYSTEM, operation=operation, vendor_code=vendor_code, vendor_message=vendor_message,
        field="FDate",
        fix=t(f"把凭证日期改到未结账的期间（如当前期间）后重新发起；或请会计在金蝶总账中对 {period} 反结账后重放。"
              "不会自动重试",
              f"date the voucher in an open period (e.g. the current one) and send it again, or ask the "
              f"accountant to reopen {period} in Kingdee GL and replay; it is not retried automatically"))


def check_login(reply: HttpReply) -> str:
    """Return the session id of a ``ValidateUser`` reply, or raise the error it means.

    Raises:
        RateLimited: HTTP 429.
        TransientError: HTTP 5xx, or a body that is not JSON.
        VendorRejected: another non-200 status (wrong ``acct_id``), or ``LoginResultType`` ≠ 1 (wrong
            user or password, locked user …), with Kingdee's message verbatim.
    """
    _check_http(reply, LOGIN_OPERATION)
    body = reply.json
    if response_status(body) is not None:
        check_result(reply, LOGIN_OPERATION)  # an envelope instead of a login result: raise what it says
    if not isinstance(body, Mapping):
        raise TransientError(t("金蝶登录回复格式不正确", "Kingdee's login reply has an unexpected shape"),
                             system=SYSTEM, operation=LOGIN_OPERATION, vendor_message=_snippet(reply.body))
    result_type = body.get("LoginResultType")
    session = body.get("KDSVCSessionId")
    if result_type != 1 or not isinstance(session, str) or not session:
        message = str(body.get("Message") or "")
        raise VendorRejected(
            t(f"金蝶登录失败：{message}（LoginResultType={result_type}）",
              f"Kingdee login failed: {message} (LoginResultType={result_type})"),
            system=SYSTEM, operation=LOGIN_OPERATION, vendor_code=str(result_type), vendor_message=message,
            fix=t("检查设置 username 与 password，以及该用户是否被锁定或需要修改密码",
                  "check username and password, and whether the user is locked or must change the password"))
    return session


def _details(status: Mapping[str, Any]) -> str:
    errors = status.get("Errors")
    parts: list[str] = []
    if isinstance(errors, list):
        for error in errors:
            if isinstance(error, Mapping):
                name = error.get("FieldName")
                message = str(error.get("Message") or "")
                parts.append(f"{name}：{message}" if name else message)
    return "；".join(parts) or f"IsSuccess=false, ErrorCode={status.get('ErrorCode')}"


def _snippet(body: bytes, limit: int = 300) -> str:
    return body[:limit].decode("utf-8", errors="replace")
