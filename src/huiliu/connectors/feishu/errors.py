"""Feishu's replies sorted into the hub's error tree — the one place that knows Feishu's error codes.

Every reply is the envelope ``{"code": 0, "msg": "success", "data": {…}}``; a non-zero ``code`` is an error
whatever the HTTP status (contracts §3.1)::

    HTTP 429, or code 99991400 (older APIs send it with HTTP 400)     → RateLimited, retry_after from
                                                                        x-ogw-ratelimit-reset (else Retry-After)
    code 99991663 (invalid token), 99991661 (missing token),
         settings.extra_auth_codes; HTTP 401 on an API call            → AuthExpired (refresh, retry once)
    code 60012 (uuid already used on create)                          → DuplicateUuid (a VendorRejected)
    settings.transient_codes; HTTP 5xx                                → TransientError
    any other non-zero code or HTTP 4xx                               → VendorRejected

Sources: contracts §3.2 (60012), §3.5 (99991400, 99991663, 99991661, the rate-limit headers) and §10.4.
The generic error list was not fully read for the contract, so codes beyond these are settings.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from huiliu.connectors.http import HttpReply
from huiliu.errors import AuthExpired, RateLimited, TransientError, VendorRejected
from huiliu.i18n import t

__all__ = ["AUTH_CODES", "DUPLICATE_UUID_CODE", "RATE_LIMIT_CODE", "RATE_LIMIT_RESET_HEADER", "SYSTEM",
           "DuplicateUuid", "expect_data", "map_reply"]

SYSTEM = "feishu"

AUTH_CODES = frozenset({99991663, 99991661})
"""Invalid (99991663) and missing (99991661) tenant access token: refresh and retry once."""

RATE_LIMIT_CODE = 99991400
"""``request trigger frequency limit``."""

RATE_LIMIT_RESET_HEADER = "x-ogw-ratelimit-reset"
"""Seconds to wait before the next call, sent with a throttled reply."""

DUPLICATE_UUID_CODE = 60012
"""Create refused: the ``uuid`` idempotency key was already used in this tenant."""

TOKEN_OPERATION = "tenant_access_token"  # noqa: S105 -- an operation name, not a secret


class DuplicateUuid(VendorRejected):
    """Create was refused because an instance with this ``uuid`` exists (code 60012).

    Attributes:
        instance_code: the existing instance, if the reply named it. Whether it does is unconfirmed, so
            callers must be ready to look the instance up by its uuid.
    """

    kind = "duplicate_uuid"

    def __init__(self, *, operation: str, instance_code: str | None, vendor_message: str | None) -> None:
        self.instance_code = instance_code
        super().__init__(
            t("飞书审批实例 uuid 已被使用", "the Feishu approval instance uuid is already used"),
            system=SYSTEM, operation=operation, vendor_code=str(DUPLICATE_UUID_CODE),
            vendor_message=vendor_message,
            fix=t("同一业务单据只能创建一个审批实例；按 uuid 查找并沿用已有实例",
                  "one approval instance per business document: look the existing one up by its uuid"))


def _envelope(body: Any) -> tuple[int | None, str | None]:
    """``(code, msg)`` of a reply body; ``code`` is ``None`` when the body has none."""
    if not isinstance(body, dict):
        return None, None
    code, message = body.get("code"), body.get("msg")
    if isinstance(code, str) and code.lstrip("-").isdigit():
        code = int(code)
    if not isinstance(code, int) or isinstance(code, bool):
        code = None
    return code, str(message) if message is not None else None


def _retry_after(reply: HttpReply) -> float | None:
    value = reply.header(RATE_LIMIT_RESET_HEADER)
    if value is not None:
        try:
            return max(float(value), 0.0)
        except ValueError:
            pass
    return reply.retry_after()


def map_reply(reply: HttpReply, operation: str, *, auth_codes: Collection[int] = AUTH_CODES,
              transient_codes: Collection[int] = ()) -> None:
    """Raise the hub's error for a failed Feishu reply; return for a successful one.

    Args:
        reply: the HTTP reply.
        operation: the operation name for ``where`` (e.g. ``get_instance``).
        auth_codes: codes that mean the tenant token is invalid (:data:`AUTH_CODES` plus settings).
        transient_codes: codes to retry as transient (from settings; none are confirmed).

    Raises:
        RateLimited: throttled; ``retry_after`` from ``x-ogw-ratelimit-reset`` when Feishu sent it.
        AuthExpired: the tenant token is invalid or missing; refresh it and retry once.
        DuplicateUuid: create with a uuid already used (60012).
        TransientError: a 5xx reply or a configured transient code.
        VendorRejected: any other refusal, Feishu's code and message kept verbatim.
    """
    code, message = _envelope(reply.json)
    if reply.status < 400 and (code == 0 or not isinstance(reply.json, dict)):
        return  # a body that is no JSON object is refused by :func:`expect_data`, with the body quoted
    vendor_code = str(code) if code is not None else None
    kw: dict[str, Any] = {"system": SYSTEM, "operation": operation, "vendor_code": vendor_code,
                          "vendor_message": message}
    if reply.status == 429 or code == RATE_LIMIT_CODE:
        raise RateLimited(retry_after=_retry_after(reply), **kw)
    if code in auth_codes or (reply.status == 401 and operation != TOKEN_OPERATION):
        raise AuthExpired(t("飞书 tenant_access_token 无效或已过期",
                            "Feishu tenant_access_token invalid or expired"),
                          fix=t("客户端会刷新 token 并重试一次；若仍失败，请检查应用的 app_id/app_secret",
                                "the client refreshes the token and retries once; if it still fails, "
                                "check the app's app_id/app_secret"), **kw)
    if code == DUPLICATE_UUID_CODE:
        data = reply.json.get("data") if isinstance(reply.json, dict) else None
        existing = data.get("instance_code") if isinstance(data, dict) else None
        raise DuplicateUuid(operation=operation, vendor_message=message,
                            instance_code=existing if isinstance(existing, str) and existing else None)
    if reply.status >= 500 or code in transient_codes:
        detail = f"{vendor_code}: {message}" if vendor_code else f"HTTP {reply.status}"
        raise TransientError(t(f"飞书服务端错误（{detail}）", f"Feishu server error ({detail})"),
                             fix=t("稍后自动重试", "retried later automatically"), **kw)
    if operation == TOKEN_OPERATION:
        raise VendorRejected(t("飞书拒绝了获取 tenant_access_token 的请求",
                               "Feishu refused the tenant_access_token request"),
                             fix=t("检查设置中的 app_id 与 app_secret 是否与飞书开放平台一致",
                                   "check that app_id and app_secret match the Feishu open platform"), **kw)
    detail = f"{vendor_code}: {message}" if vendor_code is not None else f"HTTP {reply.status}"
    raise VendorRejected(t(f"飞书拒绝了请求（{detail}）", f"Feishu refused the request ({detail})"),
                         fix=t("按飞书返回的错误码与信息修正请求数据；重试不会成功",
                               "correct the request according to Feishu's code and message; a retry will "
                               "not succeed"), **kw)


def expect_data(reply: HttpReply, operation: str) -> dict[str, Any]:
    """The ``data`` object of a successful reply (``{}`` when absent); a non-object body is refused."""
    body = reply.json
    if not isinstance(body, dict):
        raise VendorRejected(
            t("飞书返回的不是 JSON 对象", "Feishu did not answer with a JSON object"),
            system=SYSTEM, operation=operation, vendor_message=reply.body[:200].decode("utf-8", "replace"),
            fix=t("检查 base_url 是否指向飞书开放平台（https://open.feishu.cn）",
                  "check that base_url points at the Feishu open platform (https://open.feishu.cn)"))
    data = body.get("data", {})
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise VendorRejected(t("飞书应答的 data 不是对象", "Feishu reply's data is not an object"),
                             system=SYSTEM, operation=operation)
    return data
