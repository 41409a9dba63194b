"""WeCom's replies sorted into the hub's error tree — the one place that knows WeCom's error codes.

::

    errcode 40001/40014/42001 (credential / access_token invalid or expired)   → AuthExpired
    errcode 45009 (+ settings.rate_limit_errcodes)                            → RateLimited
    errcode -1 (settings.transient_errcodes), HTTP 5xx                        → TransientError
    any errcode on gettoken that is none of the above                        → VendorRejected (credentials)
    any other errcode ≠ 0, other HTTP 4xx, a body that is not a JSON object  → VendorRejected

WeCom answers HTTP 200 with ``{"errcode": …, "errmsg": …}`` for business failures; ``errcode`` 0 is
success (contracts §2.1, §2.5). Sources: wechatpy ``client/base.py`` and ``constants.py`` (token codes
refetch-and-retry-once, 45009 ``APILimitedException``). Which other codes throttle, and -1 "busy", are
unconfirmed and therefore settings (:class:`~huiliu.connectors.wecom.WeComSettings`).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from huiliu.connectors.http import HttpReply
from huiliu.errors import AuthExpired, RateLimited, TransientError, VendorRejected
from huiliu.i18n import t

__all__ = [
    "AUTH_ERRCODES",
    "RATE_LIMIT_ERRCODES",
    "SYSTEM",
    "TOKEN_OPERATION",
    "TRANSIENT_ERRCODES",
    "expect_object",
    "map_reply",
]

SYSTEM = "wecom"
TOKEN_OPERATION = "gettoken"  # noqa: S105 -- an operation name, not a secret

AUTH_ERRCODES = frozenset({40001, 40014, 42001})
"""invalid credential (40001), invalid access_token (40014), access_token expired (42001): wechatpy
refetches the token and retries once (contracts §2.5, §10.4)."""

RATE_LIMIT_ERRCODES = frozenset({45009})
"""api freq out of limit (contracts §2.5, §10.5). The only throttling code the contract confirms."""

TRANSIENT_ERRCODES = frozenset({-1})
"""系统繁忙. Unconfirmed: WeCom's global busy code, not in the contract."""


def _errcode(body: Any) -> tuple[int | None, str | None]:
    if not isinstance(body, dict):
        return None, None
    code = body.get("errcode")
    message = body.get("errmsg")
    errcode: int | None = None
    if isinstance(code, int) and not isinstance(code, bool):
        errcode = code
    elif isinstance(code, str) and code.lstrip("-").isdigit():
        errcode = int(code)
    return errcode, str(message) if message is not None else None


def map_reply(reply: HttpReply, operation: str, *, rate_limit_errcodes: Collection[int] = RATE_LIMIT_ERRCODES,
              transient_errcodes: Collection[int] = TRANSIENT_ERRCODES, retry_after: float | None = None) -> None:
    """Raise the hub's error for a failed WeCom reply; return for a successful one.

    Args:
        reply: the HTTP reply.
        operation: the API name for ``where`` (``gettoken``, ``getapprovaldetail`` …).
        rate_limit_errcodes: errcodes that mean "slow down" (45009 and the configured extras).
        transient_errcodes: errcodes that mean "busy, try again".
        retry_after: the wait a :class:`RateLimited` asks for; WeCom sends none itself.

    Raises:
        AuthExpired: the access token is invalid or expired; refresh it and retry once.
        RateLimited: WeCom throttled the call.
        TransientError: a 5xx reply or a busy errcode.
        VendorRejected: any other refusal, with WeCom's errcode and errmsg kept verbatim.
    """
    errcode, message = _errcode(reply.json)
    if reply.status < 400 and errcode in (None, 0):
        return
    vendor_code = str(errcode) if errcode is not None else None
    kw: dict[str, Any] = {"system": SYSTEM, "operation": operation, "vendor_code": vendor_code,
                          "vendor_message": message}
    if errcode in rate_limit_errcodes or reply.status == 429:
        raise RateLimited(retry_after=retry_after if retry_after is not None else reply.retry_after(), **kw)
    if errcode in transient_errcodes or reply.status >= 500:
        detail = f"errcode {errcode}" if errcode is not None else f"HTTP {reply.status}"
        raise TransientError(t(f"企业微信服务端繁忙或出错（{detail}）", f"WeCom server busy or failing ({detail})"),
                             fix=t("稍后自动重试", "retried later automatically"), **kw)
    if operation == TOKEN_OPERATION:
        raise VendorRejected(t("企业微信拒绝了获取 access_token 的请求",
                               "WeCom refused the access token request"),
                             fix=t("检查设置中的 corp_id 与 corp_secret：须是审批应用的 Secret，"
                                   "或已加入「审批 → API → 可调用应用」的自建应用的 Secret",
                                   "check corp_id and corp_secret: use the 审批 app secret, or the secret of a "
                                   "self-built app whitelisted under 审批 → API → 可调用应用"), **kw)
    if errcode in AUTH_ERRCODES:
        raise AuthExpired(t("企业微信 access_token 无效或已过期", "WeCom access token invalid or expired"),
                          fix=t("客户端会刷新 token 并重试一次；若仍失败，请检查 corp_secret",
                                "the client refreshes the token and retries once; if it still fails, "
                                "check corp_secret"), **kw)
    detail = f"{vendor_code}: {message}" if vendor_code is not None else f"HTTP {reply.status}"
    raise VendorRejected(t(f"企业微信拒绝了请求（{detail}）", f"WeCom refused the request ({detail})"),
                         fix=t("按企业微信返回的 errcode 与 errmsg 修正请求；重试不会成功",
                               "correct the request according to WeCom's errcode and errmsg; a retry will "
                               "not succeed"), **kw)


def expect_object(reply: HttpReply, operation: str) -> dict[str, Any]:
    """The JSON object of a successful reply; anything else is a :class:`VendorRejected`."""
    body = reply.json
    if not isinstance(body, dict):
        raise VendorRejected(
            t("企业微信返回的不是 JSON 对象", "WeCom did not answer with a JSON object"),
            system=SYSTEM, operation=operation, vendor_message=reply.body[:200].decode("utf-8", "replace"),
            fix=t("检查 base_url 是否指向企业微信 API（https://qyapi.weixin.qq.com）",
                  "check that base_url points at the WeCom API (https://qyapi.weixin.qq.com)"))
    return body
