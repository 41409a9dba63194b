"""DingTalk's replies sorted into the hub's error tree — the one place that knows DingTalk's error codes.

::

    400/401 + code InvalidAuthentication, legacy errcode 33001/40001/42001/40014  → AuthExpired
    HTTP 429, code Throttling*, legacy errcode 90018/90019/90006/90005/90002/88    → RateLimited
    legacy errcode 90020, code Forbidden.AccessDenied.ApiCountLimitForOrg          → VendorRejected (quota)
    HTTP 5xx                                                                       → TransientError
    any other 4xx, or a legacy errcode ≠ 0                                         → VendorRejected

Sources: contracts §1.6. The v1.0 API's throttling code name is unconfirmed, so any code starting with
``Throttling`` counts, and so does HTTP 429 whatever the body says.
"""

from __future__ import annotations

from typing import Any

from huiliu.connectors.http import HttpReply
from huiliu.errors import AuthExpired, RateLimited, TransientError, VendorRejected
from huiliu.i18n import t

__all__ = ["AUTH_ERRCODES", "QUOTA_ERRCODES", "RATE_LIMIT_ERRCODES", "SYSTEM", "expect_object", "map_reply"]

SYSTEM = "dingtalk"

AUTH_ERRCODES = frozenset({33001, 40001, 42001, 40014})
"""Legacy errcodes after which ``007gzs/dingtalk-sdk`` refreshes the token and retries."""

RATE_LIMIT_ERRCODES = frozenset({90018, 90019, 90006, 90005, 90002, 88})
"""Legacy throttling errcodes: per app per API per second (90018), ISV per corp (90019), per minute
(90006/90005), platform-wide (90002), and 88 "forbidden temporarily"."""

QUOTA_ERRCODES = frozenset({90020})
"""Monthly API quota of the organisation exhausted: retrying this month will not help."""

_AUTH_CODE = "InvalidAuthentication"
_QUOTA_CODE = "Forbidden.AccessDenied.ApiCountLimitForOrg"


def _vendor_code(body: Any) -> tuple[str | None, str | None, int | None]:
    """``(code, message, legacy errcode)`` from a v1.0 or a legacy error body."""
    if not isinstance(body, dict):
        return None, None, None
    code = body.get("code")
    message = body.get("message", body.get("errmsg"))
    errcode = body.get("errcode")
    legacy = errcode if isinstance(errcode, int) and not isinstance(errcode, bool) else None
    if isinstance(errcode, str) and errcode.lstrip("-").isdigit():
        legacy = int(errcode)
    return (str(code) if code is not None else None,
            str(message) if message is not None else None, legacy)


def map_reply(reply: HttpReply, operation: str) -> None:
    """Raise the hub's error for a failed DingTalk reply; return for a successful one.

    Args:
        reply: the HTTP reply.
        operation: the operation name for ``where`` (e.g. ``GetProcessInstance``).

    Raises:
        AuthExpired: the access token is invalid or expired; refresh it and retry once.
        RateLimited: DingTalk throttled the call; ``retry_after`` comes from the Retry-After header.
        TransientError: a 5xx reply.
        VendorRejected: any other refusal, with DingTalk's code and message kept verbatim.
    """
    code, message, errcode = _vendor_code(reply.json)
    legacy_failed = errcode is not None and errcode != 0
    if reply.status < 400 and not legacy_failed:
        return
    vendor_code = code if code is not None else (str(errcode) if errcode is not None else None)
    kw: dict[str, Any] = {"system": SYSTEM, "operation": operation, "vendor_code": vendor_code,
                          "vendor_message": message}
    if (code == _AUTH_CODE and reply.status in (400, 401)) or errcode in AUTH_ERRCODES or (
            reply.status == 401 and operation != "token"):
        raise AuthExpired(t("钉钉 access_token 无效或已过期", "DingTalk access token invalid or expired"),
                          fix=t("客户端会刷新 token 并重试一次；若仍失败，请检查应用的 appKey/appSecret",
                                "the client refreshes the token and retries once; if it still fails, "
                                "check the app's appKey/appSecret"), **kw)
    if errcode in QUOTA_ERRCODES or code == _QUOTA_CODE:
        raise VendorRejected(t("钉钉本月接口调用次数已用完", "DingTalk monthly API quota is exhausted"),
                             fix=t("在钉钉开放平台购买或申请更多调用量，或等待下月额度恢复",
                                   "buy or request more API calls on the DingTalk open platform, or wait "
                                   "for next month's quota"), **kw)
    if reply.status == 429 or errcode in RATE_LIMIT_ERRCODES or (code or "").startswith("Throttling"):
        raise RateLimited(retry_after=reply.retry_after(), **kw)
    if reply.status >= 500:
        raise TransientError(t(f"钉钉服务端错误 HTTP {reply.status}",
                               f"DingTalk server error HTTP {reply.status}"),
                             fix=t("稍后自动重试", "retried later automatically"), **kw)
    if operation == "token":
        raise VendorRejected(t("钉钉拒绝了获取 access_token 的请求",
                               "DingTalk refused the access token request"),
                             fix=t("检查设置中的 app_key 与 app_secret 是否与钉钉开放平台一致",
                                   "check that app_key and app_secret match the DingTalk open platform"),
                             **kw)
    detail = f"{vendor_code}: {message}" if vendor_code or message else f"HTTP {reply.status}"
    raise VendorRejected(t(f"钉钉拒绝了请求（{detail}）", f"DingTalk refused the request ({detail})"),
                         fix=t("按钉钉返回的错误码与信息修正请求数据；重试不会成功",
                               "correct the request according to DingTalk's code and message; a retry will "
                               "not succeed"), **kw)


def expect_object(reply: HttpReply, operation: str) -> dict[str, Any]:
    """The JSON object of a successful reply; a body that is not one is a :class:`VendorRejected`.

    A v1.0 body with ``"success": false`` is refused too, with its code and message.
    """
    body = reply.json
    if not isinstance(body, dict):
        raise VendorRejected(
            t("钉钉返回的不是 JSON 对象", "DingTalk did not answer with a JSON object"),
            system=SYSTEM, operation=operation, vendor_message=reply.body[:200].decode("utf-8", "replace"),
            fix=t("检查 base_url 是否指向钉钉 API（https://api.dingtalk.com）",
                  "check that base_url points at the DingTalk API (https://api.dingtalk.com)"))
    if body.get("success") is False:
        code, message, _ = _vendor_code(body)
        raise VendorRejected(t(f"钉钉返回失败：{code}: {message}",
                               f"DingTalk reported failure: {code}: {message}"),
                             system=SYSTEM, operation=operation, vendor_code=code, vendor_message=message)
    return body
