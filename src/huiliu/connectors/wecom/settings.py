"""Settings of one WeCom (企业微信) app: credentials, callback keys and the knobs the contract leaves open."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

__all__ = ["MAX_LIST_SPAN", "MAX_PAGE_SIZE", "WeComSettings"]

MAX_LIST_SPAN = timedelta(days=31)
"""``getapprovalinfo`` accepts a span of at most 31 days between ``starttime`` and ``endtime`` (§2.2)."""

MAX_PAGE_SIZE = 100
"""``getapprovalinfo`` returns at most 100 ``sp_no`` a page (§2.2)."""


class WeComSettings(BaseModel):
    """How the hub talks to one WeCom corp through the 审批 (approval) API.

    Attributes:
        base_url: the API host, ``https://qyapi.weixin.qq.com`` in production, a sandbox in tests.
        corp_id: the corp's corpid; also the receiveId sealed into every callback.
        corp_secret: the 审批 app secret, or a self-built app's secret whitelisted under
            审批 → API → 可调用应用 (contracts §2.1).
        agent_id: the self-built app's AgentID, when callbacks come through that app; informational.
        callback_token: the callback Token (接收事件服务器).
        encoding_aes_key: the callback's 43-character EncodingAESKey.
        timestamp_tolerance: callbacks whose ``timestamp`` (seconds) is further from now than this are stale.
        token_refresh_margin: refresh the access token this long before ``expires_in`` runs out.
        list_window: span of one ``getapprovalinfo`` call when paging a long range; ≤ 31 days.
        page_size: ``size`` of one ``getapprovalinfo`` page; ≤ 100.
        cursor_style: ``next_cursor`` (numeric ``cursor`` in, ``next_cursor`` out — what the Senparc
            contract test parses) or ``new_cursor`` (string ``new_cursor`` in, ``new_next_cursor`` out —
            newer doc revisions). Unconfirmed which one a tenant answers (contracts §2.2): check and set it.
        callback_ack: the body of the HTTP 200 that acknowledges an event callback: empty or ``success``.
            Unconfirmed (contracts §2.3: sources differ); both are answered with HTTP 200.
        rate_limit_errcodes: errcodes meaning "slow down". The contract confirms only 45009 (api freq out
            of limit, wechatpy ``APILimitedException``); add others your tenant returns (e.g. 45033).
        transient_errcodes: errcodes meaning "the server is busy, try again". Unconfirmed: -1 (系统繁忙) is
            WeCom's global busy code but is not in the contract.
        rate_limit_backoff: the first wait after a rate-limit reply (WeCom sends no Retry-After; its limits
            are per minute and per hour, contracts §2.5); doubled on each consecutive one.
        rate_limit_backoff_max: the longest wait a rate-limit reply asks for.
        reference_control_id: id of a Text control in the templates the hub submits to, which carries the
            hub's reference; ``applyevent`` has no idempotency key, so the reference is how a retried
            create finds an instance an earlier attempt made (DESIGN.md, invariant 3).
        lookup_window: how far back a retried create lists instances looking for its reference.
        ambiguous_wait: seconds a create that got no answer waits before its retry looks the reference up.
        ambiguous_margin: half-width of the window listed right after a create got no answer.
        directory_root_id: the department the directory is read from (1 is the corp's root).
        department_list_path: the endpoint listing a department and everything below it
            (``GET ?id=`` → ``department[{id, name, parentid, order}]``). Unconfirmed (not in
            shared/contracts): the shape follows WeCom's public documentation.
        user_list_path: the endpoint listing a department's members (``GET ?department_id=`` →
            ``userlist[{userid, name, department, main_department, status}]``). Unconfirmed (not in
            shared/contracts).
        employee_number_field: where a member's employee number (工号) is: a field of the ``userlist``
            item (``userid`` by default, since companies commonly make the userid the 工号), or
            ``extattr:<name>`` for a custom attribute of that name. WeCom has no standard 工号 field, and
            never the mobile or e-mail (not returned to apps created after 2022-06-20).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = "https://qyapi.weixin.qq.com"
    corp_id: str = Field(min_length=1)
    corp_secret: SecretStr
    agent_id: int | None = None
    callback_token: SecretStr
    encoding_aes_key: SecretStr
    timestamp_tolerance: timedelta = timedelta(seconds=300)
    token_refresh_margin: timedelta = timedelta(seconds=300)
    list_window: timedelta = MAX_LIST_SPAN
    page_size: int = Field(default=MAX_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    cursor_style: Literal["next_cursor", "new_cursor"] = "next_cursor"
    callback_ack: Literal["", "success"] = ""
    rate_limit_errcodes: frozenset[int] = frozenset({45009})
    transient_errcodes: frozenset[int] = frozenset({-1})
    rate_limit_backoff: timedelta = timedelta(seconds=60)
    rate_limit_backoff_max: timedelta = timedelta(minutes=15)
    reference_control_id: str = "Text-huiliu-reference"
    lookup_window: timedelta = timedelta(days=7)
    ambiguous_wait: float = Field(default=60.0, ge=0)
    ambiguous_margin: timedelta = timedelta(minutes=5)
    directory_root_id: int = Field(default=1, ge=1)
    department_list_path: str = "/cgi-bin/department/list"
    user_list_path: str = "/cgi-bin/user/list"
    employee_number_field: str = Field(default="userid", min_length=1)

    @field_validator("encoding_aes_key")
    @classmethod
    def _aes_key_length(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) != 43:
            raise ValueError("encoding_aes_key must be the 43-character EncodingAESKey from the WeCom console")
        return value

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("list_window")
    @classmethod
    def _window_within_limit(cls, value: timedelta) -> timedelta:
        if not timedelta(seconds=1) <= value <= MAX_LIST_SPAN:
            raise ValueError("list_window must be between 1 second and 31 days (getapprovalinfo's limit)")
        return value
