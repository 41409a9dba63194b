"""The WeCom API client: the access token and the 审批 (approval) calls the hub makes.

Owns: token caching and refresh (one refresh at a time, however many calls wait), ``?access_token=`` on
every call, refresh-and-retry-once on an expired token, the rate-limit backoff, the request/response
field names of contracts §2.2, and splitting a long time range into ``getapprovalinfo``'s ≤ 31-day windows.
Does not own: error codes (``errors.py``), turning payloads into canonical objects (``mapping.py``).

Also the directory reads (``department/list``, ``user/list``), which the contract does not document:
unconfirmed (not in shared/contracts), their paths are settings. Not here, because the contract documents
no such call for WeCom: a comment / 审批备注 write-back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from huiliu.connectors.http import HttpClient
from huiliu.connectors.tokens import TokenCache
from huiliu.connectors.wecom.errors import SYSTEM, TOKEN_OPERATION, expect_object, map_reply
from huiliu.connectors.wecom.settings import MAX_LIST_SPAN, MAX_PAGE_SIZE, WeComSettings
from huiliu.errors import AuthExpired, ConfigError, RateLimited, VendorRejected
from huiliu.i18n import t
from huiliu.model import Clock, aware

__all__ = ["SpNoPage", "WeComClient", "split_windows"]

_ONE_SECOND = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class SpNoPage:
    """One page of ``getapprovalinfo``.

    Attributes:
        sp_nos: approval numbers (审批单号) on this page, as strings (they can exceed 32 bits).
        cursor: pass it back for the next page; ``None`` on the last page.
    """

    sp_nos: tuple[str, ...]
    cursor: str | None


def split_windows(start: datetime, end: datetime, span: timedelta = MAX_LIST_SPAN
                  ) -> list[tuple[datetime, datetime]]:
    """Cut ``[start, end]`` into consecutive windows of at most ``span`` that ``getapprovalinfo`` accepts.

    Windows do not overlap: WeCom's times are whole seconds and both ends are inclusive, so each window
    after the first starts one second after the previous one ends. 95 days give four windows
    (31 + 31 + 31 + 2 days).

    Raises:
        ValueError: a naive time, ``end`` before ``start``, or a span outside 1 s … 31 days.
    """
    aware(start, "start")
    aware(end, "end")
    if end < start:
        raise ValueError(f"end {end.isoformat()} is before start {start.isoformat()}")
    if not _ONE_SECOND <= span <= MAX_LIST_SPAN:
        raise ValueError("span must be between 1 second and 31 days")
    windows: list[tuple[datetime, datetime]] = []
    cursor = start
    while True:
        stop = min(cursor + span, end)
        windows.append((cursor, stop))
        if stop >= end:
            return windows
        cursor = stop + _ONE_SECOND


def _epoch(value: datetime) -> int:
    return int(aware(value).timestamp())


class WeComClient:
    """Calls the WeCom API as one app of one corp.

    Args:
        settings: the app's settings.
        http: the HTTP client (its session is owned by the caller).
        clock: time source for token expiry.
    """

    def __init__(self, settings: WeComSettings, http: HttpClient, clock: Clock) -> None:
        self.settings = settings
        self._http = http
        self.clock = clock
        self._tokens = TokenCache(self._fetch_token, clock, settings.token_refresh_margin)
        self._limited_in_a_row = 0

    # ------------------------------------------------------------------ token

    async def access_token(self) -> str:
        """The cached token, fetched again ``token_refresh_margin`` before it expires (one refresh at a time)."""
        return await self._tokens.get()

    def invalidate_token(self, token: str) -> None:
        """Forget ``token`` if it is still the cached one (another call may have refreshed it already)."""
        self._tokens.invalidate(token)

    async def _fetch_token(self) -> tuple[str, float]:
        reply = await self._http.request(
            "GET", f"{self.settings.base_url}/cgi-bin/gettoken", TOKEN_OPERATION,
            params={"corpid": self.settings.corp_id, "corpsecret": self.settings.corp_secret.get_secret_value()})
        self._map(reply, TOKEN_OPERATION)
        body = expect_object(reply, TOKEN_OPERATION)
        token, expires_in = body.get("access_token"), body.get("expires_in", 7200)
        if not (isinstance(token, str) and token and isinstance(expires_in, int | float)
                and not isinstance(expires_in, bool) and expires_in > 0):
            raise VendorRejected(
                t("企业微信 gettoken 应答缺少 access_token 或 expires_in",
                  "WeCom gettoken reply lacks access_token or expires_in"),
                system=SYSTEM, operation=TOKEN_OPERATION,
                fix=t("检查 base_url 是否指向企业微信 API", "check that base_url points at the WeCom API"))
        return token, float(expires_in)

    # ------------------------------------------------------------------ calls

    def _backoff(self) -> float:
        base = self.settings.rate_limit_backoff.total_seconds()
        ceiling = self.settings.rate_limit_backoff_max.total_seconds()
        return float(min(base * 2 ** min(self._limited_in_a_row, 30), ceiling))

    def _map(self, reply: Any, operation: str) -> None:
        """Map the reply's errcode; count consecutive rate limits for the backoff."""
        try:
            map_reply(reply, operation, rate_limit_errcodes=self.settings.rate_limit_errcodes,
                      transient_errcodes=self.settings.transient_errcodes, retry_after=self._backoff())
        except RateLimited:
            self._limited_in_a_row += 1
            raise
        self._limited_in_a_row = 0

    async def _call(self, path: str, operation: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """One ``POST`` with ``?access_token=``; an expired token is refreshed and the call retried once."""
        return await self._request("POST", path, operation, payload=payload)

    async def _get(self, path: str, operation: str, params: Mapping[str, str]) -> dict[str, Any]:
        """One ``GET`` with ``params`` and ``?access_token=``; refresh-and-retry once, as :meth:`_call`."""
        return await self._request("GET", path, operation, params=params)

    async def _request(self, method: str, path: str, operation: str, *, payload: Mapping[str, Any] | None = None,
                       params: Mapping[str, str] | None = None) -> dict[str, Any]:
        url = f"{self.settings.base_url}{path}"
        for attempt in (1, 2):
            token = await self.access_token()
            reply = await self._http.request(method, url, operation,
                                             json_body=dict(payload) if payload is not None else None,
                                             params={**(params or {}), "access_token": token})
            try:
                self._map(reply, operation)
            except AuthExpired:
                self.invalidate_token(token)
                if attempt == 2:
                    raise
                continue
            return expect_object(reply, operation)
        raise AssertionError("unreachable")  # pragma: no cover

    def _missing(self, operation: str, field: str) -> VendorRejected:
        return VendorRejected(t(f"企业微信应答缺少 {field}", f"WeCom reply has no {field}"),
                              system=SYSTEM, operation=operation,
                              fix=t("应答与契约（contracts §2.2）不符；请附上原始应答报告问题",
                                    "the reply does not match contracts §2.2; report it with the raw reply"))

    def _unexpected(self, operation: str, field: str) -> VendorRejected:
        return VendorRejected(t(f"企业微信通讯录应答缺少 {field} 列表", f"WeCom directory reply has no {field} list"),
                              system=SYSTEM, operation=operation,
                              fix=t("通讯录接口未经契约核实；检查设置中的接口路径，并附上原始应答报告问题",
                                    "the directory API is not in the verified contracts: check the endpoint "
                                    "paths in the settings and report it with the raw reply"))

    async def list_departments(self, dept_id: int | None = None) -> list[dict[str, Any]]:
        """``department/list``: department ``dept_id`` and every department below it, raw items.

        The whole corp when ``dept_id`` is ``None``; items ``{id, name, parentid, order}``. Unconfirmed
        (not in shared/contracts).
        """
        operation = "department/list"
        body = await self._get(self.settings.department_list_path, operation,
                               {"id": str(dept_id)} if dept_id is not None else {})
        departments = body.get("department")
        if not isinstance(departments, list) or not all(isinstance(d, dict) for d in departments):
            raise self._unexpected(operation, "department")
        return departments

    async def list_users(self, dept_id: int) -> list[dict[str, Any]]:
        """``user/list``: the members directly in ``dept_id``, raw items; WeCom does not page it.

        Items ``{userid, name, department, main_department, status, …}``. Unconfirmed (not in
        shared/contracts).
        """
        operation = "user/list"
        body = await self._get(self.settings.user_list_path, operation, {"department_id": str(dept_id)})
        users = body.get("userlist")
        if not isinstance(users, list) or not all(isinstance(u, dict) for u in users):
            raise self._unexpected(operation, "userlist")
        return users

    async def get_template(self, template_id: str) -> dict[str, Any]:
        """``gettemplatedetail``: the whole reply (``template_names``, ``template_content.controls``)."""
        operation = "gettemplatedetail"
        body = await self._call("/cgi-bin/oa/gettemplatedetail", operation, {"template_id": template_id})
        if not isinstance(body.get("template_content"), dict):
            raise self._missing(operation, "template_content")
        return body

    async def get_detail(self, sp_no: str) -> dict[str, Any]:
        """``getapprovaldetail``: the raw ``info`` object (contracts §2.2)."""
        operation = "getapprovaldetail"
        body = await self._call("/cgi-bin/oa/getapprovaldetail", operation, {"sp_no": sp_no})
        info = body.get("info")
        if not isinstance(info, dict):
            raise self._missing(operation, "info")
        return info

    async def apply_event(self, *, creator_userid: str, template_id: str, contents: Sequence[Mapping[str, Any]],
                          use_template_approver: int = 1, approvers: Sequence[tuple[int, Sequence[str]]] = (),
                          notifyer: Sequence[str] = (), notify_type: int | None = None,
                          summary: Sequence[Mapping[str, Any]] = (),
                          choose_department: int | None = None) -> str:
        """``applyevent``: submit an approval and return its ``sp_no``.

        WeCom has no idempotency key here (contracts §2.5): a caller that retries after an ambiguous
        failure must look for the instance first (see ``actions.py``).

        Args:
            creator_userid: who submits it.
            template_id: the approval template.
            contents: ``apply_data.contents`` (build them with :func:`~.mapping.to_contents`).
            use_template_approver: 1 = the template's flow (it must have no 申请人自选 node);
                0 = ``approvers`` / ``notifyer``.
            approvers: ``(attr, userids)`` per node; ``attr`` 1 或签 (any one), 2 会签 (all).
            notifyer: users notified (抄送).
            notify_type: 1 on submit, 2 after approval, 3 both.
            summary: ``summary_list`` rows (≤ 3; build with :func:`~.mapping.to_summary`).
            choose_department: the creator's department, when they are in several.
        """
        operation = "applyevent"
        payload: dict[str, Any] = {"creator_userid": creator_userid, "template_id": template_id,
                                   "use_template_approver": use_template_approver,
                                   "apply_data": {"contents": [dict(c) for c in contents]}}
        if choose_department is not None:
            payload["choose_department"] = choose_department
        if approvers:
            payload["approver"] = [{"attr": attr, "userid": list(users)} for attr, users in approvers]
        if notifyer:
            payload["notifyer"] = list(notifyer)
        if notify_type is not None:
            payload["notify_type"] = notify_type
        if summary:
            payload["summary_list"] = [dict(s) for s in summary]
        body = await self._call("/cgi-bin/oa/applyevent", operation, payload)
        sp_no = body.get("sp_no")
        if isinstance(sp_no, int) and not isinstance(sp_no, bool):
            sp_no = str(sp_no)
        if not isinstance(sp_no, str) or not sp_no:
            raise self._missing(operation, "sp_no")
        return sp_no

    async def list_sp_nos(self, start: datetime, end: datetime, *, cursor: str | None = None,
                          size: int | None = None, filters: Mapping[str, str] | None = None) -> SpNoPage:
        """``getapprovalinfo``: one page of ``sp_no`` applied for in ``[start, end]`` (whole seconds).

        Args:
            start: window start, tz-aware.
            end: window end, tz-aware, at most 31 days after ``start``.
            cursor: from the previous page; ``None`` for the first.
            size: page size ≤ 100; the settings' ``page_size`` by default.
            filters: ``template_id | creator | department | sp_status | record_type`` → value.

        Raises:
            ConfigError: the window is longer than 31 days or ``size`` is out of range (WeCom would refuse
                it; use :meth:`iter_sp_nos` for long ranges).
        """
        operation = "getapprovalinfo"
        size = self.settings.page_size if size is None else size
        starttime, endtime = _epoch(start), _epoch(end)
        if not 0 <= endtime - starttime <= int(MAX_LIST_SPAN.total_seconds()) or not 1 <= size <= MAX_PAGE_SIZE:
            raise ConfigError(t("getapprovalinfo 的时间跨度须在 0 到 31 天之间，size 须在 1 到 100 之间",
                                "getapprovalinfo needs a span of 0 to 31 days and a size of 1 to 100"),
                              where=f"{SYSTEM}.{operation}",
                              fix=t("用 iter_sp_nos 分窗口拉取", "use iter_sp_nos to page through windows"))
        payload: dict[str, Any] = {"starttime": starttime, "endtime": endtime, "size": size}
        new_style = self.settings.cursor_style == "new_cursor"
        if new_style:
            payload["new_cursor"] = cursor or ""
        else:
            payload["cursor"] = int(cursor) if cursor and cursor.lstrip("-").isdigit() else 0
        if filters:
            payload["filters"] = [{"key": key, "value": value} for key, value in filters.items()]
        body = await self._call("/cgi-bin/oa/getapprovalinfo", operation, payload)
        sp_nos = body.get("sp_no_list", [])
        if not isinstance(sp_nos, list):
            raise self._missing(operation, "sp_no_list")
        following = body.get("new_next_cursor" if new_style else "next_cursor")
        # No cursor, or an empty / zero one, means the last page.
        next_cursor = None if following in (None, "", 0, "0") else str(following)
        return SpNoPage(tuple(str(s) for s in sp_nos), next_cursor)

    async def iter_sp_nos(self, start: datetime, end: datetime, *,
                          filters: Mapping[str, str] | None = None) -> AsyncIterator[str]:
        """Every ``sp_no`` applied for in ``[start, end]``, any length: window by window, page by page."""
        for window_start, window_end in split_windows(start, end, self.settings.list_window):
            cursor: str | None = None
            while True:
                page = await self.list_sp_nos(window_start, window_end, cursor=cursor, filters=filters)
                for sp_no in page.sp_nos:
                    yield sp_no
                if page.cursor is None or page.cursor == cursor:
                    break
                cursor = page.cursor
