"""Yonyou replies sorted into retry / refresh-then-retry / rate-limited / reject, in one place.

Every reply passes through :func:`check_reply` (or :func:`check_token` for the token endpoints). What the
contract (§5) reports, all [T] or unconfirmed, hence the codes are settings:

* YonBIP: ``{"code": "200" | "00000", "message", "data"}``; ``code`` may be a string or a number. U8:
  ``{"errcode": "0", "errmsg", …}``.
* HTTP 401, or a code in ``settings.expired_token_codes`` → :class:`AuthExpired`: the client fetches a new
  token and retries once.
* HTTP 429, or a code in ``settings.rate_limit_codes`` → :class:`RateLimited`, honouring ``Retry-After``.
* HTTP 5xx, or a body that is not JSON → :class:`TransientError`.
* any other failing code → :class:`VendorRejected` with Yonyou's code and message verbatim. A refusal that
  means "already saved" (a code in ``settings.duplicate_codes`` or a word of ``settings.duplicate_markers``
  in the message) is recognised by :func:`is_duplicate`, so that the caller adopts the saved document.
* At the token endpoint any refusal is :class:`VendorRejected` (a wrong appKey or signature would only
  fail again), except throttling and 5xx.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from huiliu.connectors.http import HttpReply
from huiliu.connectors.yonyou.settings import Flavour, YonyouSettings
from huiliu.errors import AuthExpired, ConnectorError, RateLimited, TransientError, VendorRejected
from huiliu.i18n import t

__all__ = ["SYSTEM", "TOKEN_OPERATION", "check_reply", "check_token", "error_from_body", "is_duplicate"]

SYSTEM = "yonyou"
TOKEN_OPERATION = "getAccessToken"  # noqa: S105 - an operation name, not a secret
_LIMIT = 500


def _snippet(body: bytes, limit: int = 300) -> str:
    return body[:limit].decode("utf-8", errors="replace")


def _code_and_message(body: Mapping[str, Any], flavour: Flavour) -> tuple[str, str]:
    if flavour is Flavour.U8 or ("errcode" in body and "code" not in body):
        return str(body.get("errcode", "")), str(body.get("errmsg") or body.get("message") or "")[:_LIMIT]
    return str(body.get("code", "")), str(body.get("message") or body.get("msg") or "")[:_LIMIT]


def _check_http(reply: HttpReply, operation: str, settings: YonyouSettings) -> Mapping[str, Any]:
    status = reply.status
    if status == 429:
        raise RateLimited(system=SYSTEM, operation=operation, retry_after=reply.retry_after(), vendor_code="429",
                          vendor_message=_snippet(reply.body))
    if status >= 500:
        raise TransientError(
            t(f"用友服务器错误 HTTP {status}", f"Yonyou server error HTTP {status}"),
            system=SYSTEM, operation=operation, vendor_code=str(status), vendor_message=_snippet(reply.body),
            fix=t("稍后自动重试；若持续出现，请查看用友开放平台的服务状态",
                  "retried later automatically; if it persists, check the Yonyou open platform's status"))
    if status == 401 and operation != TOKEN_OPERATION:
        raise AuthExpired(t("用友 access_token 已失效", "the Yonyou access_token is no longer valid"),
                          system=SYSTEM, operation=operation, vendor_code="401",
                          vendor_message=_snippet(reply.body),
                          fix=t("重新获取 access_token 后重试", "a new access_token is fetched and the call retried"))
    if status != 200:
        raise VendorRejected(
            t(f"用友拒绝了请求：HTTP {status}", f"Yonyou refused the request: HTTP {status}"),
            system=SYSTEM, operation=operation, vendor_code=str(status), vendor_message=_snippet(reply.body),
            fix=t("检查设置 base_url 与 paths（接口地址因数据中心与版本而异）",
                  "check base_url and paths (they differ per data centre and version)"))
    if not isinstance(reply.json, Mapping):
        raise TransientError(
            t("用友的回复不是 JSON 对象", "Yonyou's reply is not a JSON object"),
            system=SYSTEM, operation=operation, vendor_message=_snippet(reply.body),
            fix=t("稍后自动重试；若持续出现，请检查 base_url 是否指向网关（gatewayUrl）",
                  "retried later; if it persists, check base_url is the gateway (gatewayUrl)"))
    return reply.json


def error_from_body(body: Mapping[str, Any], operation: str, settings: YonyouSettings,
                    retry_after: float | None = None) -> ConnectorError | None:
    """The hub error a reply body means, or ``None`` when it reports success.

    Args:
        body: the parsed reply.
        operation: the operation, e.g. ``purchase.save``, named in errors.
        settings: the codes to recognise.
        retry_after: a ``Retry-After`` the reply carried, for throttling codes.
    """
    code, message = _code_and_message(body, settings.flavour)
    if code in settings.success_codes:
        return None
    if code in settings.rate_limit_codes:
        return RateLimited(system=SYSTEM, operation=operation, retry_after=retry_after, vendor_code=code,
                           vendor_message=message)
    if code in settings.expired_token_codes and operation != TOKEN_OPERATION:
        return AuthExpired(t(f"用友 access_token 已失效：{message}", f"the Yonyou access_token expired: {message}"),
                           system=SYSTEM, operation=operation, vendor_code=code, vendor_message=message,
                           fix=t("重新获取 access_token 后重试", "a new access_token is fetched and the call retried"))
    if operation == TOKEN_OPERATION:
        return VendorRejected(
            t(f"获取用友 access_token 失败：{message}（{code}）",
              f"getting the Yonyou access_token failed: {message} ({code})"),
            system=SYSTEM, operation=operation, vendor_code=code, vendor_message=message,
            fix=t("检查设置 app_key 与 app_secret，以及服务器时间（签名含时间戳）",
                  "check app_key and app_secret, and the server clock (the signature has a timestamp)"))
    return VendorRejected(
        t(f"用友拒绝了 {operation}：{message}（{code}）", f"Yonyou rejected {operation}: {message} ({code})"),
        system=SYSTEM, operation=operation, vendor_code=code, vendor_message=message,
        fix=t("按用友返回的信息修正数据（供应商、物料、组织、期间）后重新发起",
              "correct the data Yonyou names (vendor, material, organisation, period) and send again"))


def check_reply(reply: HttpReply, operation: str, settings: YonyouSettings) -> Any:
    """Return what a successful reply carries, or raise the error it means.

    Returns:
        YonBIP: the ``data`` member. U8: the whole body (U8 puts results beside ``errcode``).

    Raises:
        AuthExpired: HTTP 401 or an expired-token code.
        RateLimited: HTTP 429 or a throttling code.
        TransientError: HTTP 5xx, or a reply that is not a JSON object.
        VendorRejected: any other refusal, Yonyou's message kept in ``vendor_message``.
    """
    body = _check_http(reply, operation, settings)
    error = error_from_body(body, operation, settings, reply.retry_after())
    if error is not None:
        raise error
    return body if settings.flavour is Flavour.U8 else body.get("data")


def check_token(reply: HttpReply, settings: YonyouSettings) -> tuple[str, float]:
    """Return ``(token, seconds valid)`` from a token reply, or raise the error it means.

    YonBIP: ``{"code":"00000","data":{"access_token","expire"}}``; U8: ``{"errcode":"0","token":{"id",
    "expiresIn"}}`` (``expiresIn`` is unconfirmed; 7200 s is assumed when it is missing).

    Raises:
        VendorRejected: the token was refused (wrong key, secret or signature).
        RateLimited, TransientError: as for any call.
    """
    result = check_reply(reply, TOKEN_OPERATION, settings)
    if settings.flavour is Flavour.U8:
        token = result.get("token") if isinstance(result, Mapping) else None
        value = token.get("id") if isinstance(token, Mapping) else None
        ttl = token.get("expiresIn", 7200) if isinstance(token, Mapping) else 7200
    else:
        value = result.get("access_token") if isinstance(result, Mapping) else None
        ttl = result.get("expire", 7200) if isinstance(result, Mapping) else 7200
    if not isinstance(value, str) or not value:
        raise TransientError(t("用友令牌回复格式不正确", "Yonyou's token reply has an unexpected shape"),
                             system=SYSTEM, operation=TOKEN_OPERATION, vendor_message=_snippet(reply.body))
    try:
        seconds = float(ttl)
    except (TypeError, ValueError):
        seconds = 7200.0
    return value, seconds


def is_duplicate(exc: VendorRejected, settings: YonyouSettings) -> bool:
    """Whether a refusal says the document was already saved (a repeated ``resubmitCheckKey``, a duplicate)."""
    if exc.vendor_code in settings.duplicate_codes:
        return True
    message = exc.vendor_message or ""
    return any(marker in message for marker in settings.duplicate_markers)
