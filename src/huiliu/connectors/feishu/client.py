"""The Feishu open platform client: the tenant access token and the Approval v4 calls the hub makes.

Owns: token caching and refresh (``expire − token_refresh_margin``, one refresh at a time however many
calls wait), the ``Authorization: Bearer`` header, refresh-and-retry-once on an invalid token, the
request/response field names of contracts §3.2, paging instance codes over a time range, the
deterministic create ``uuid`` and the search for the instance that holds one; and the directory reads
(contact v3 department children and users by department, paged), which are unconfirmed (not in
shared/contracts) and whose paths are settings. Does not own: error codes
(``errors.py``), turning payloads into canonical objects (``mapping.py``).
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from huiliu.connectors.feishu.errors import AUTH_CODES, SYSTEM, TOKEN_OPERATION, expect_data, map_reply
from huiliu.connectors.feishu.settings import FeishuSettings
from huiliu.connectors.http import HttpClient, HttpReply
from huiliu.connectors.tokens import TokenCache
from huiliu.errors import AuthExpired, VendorRejected
from huiliu.i18n import t
from huiliu.model import Clock, aware

__all__ = ["FeishuClient", "InstanceCodePage", "instance_uuid"]

_UUID_NAMESPACE = uuidlib.UUID("6f1b3c2e-9d4a-5e7b-8c21-4a5f0e9d7b13")


def instance_uuid(reference: str) -> str:
    """The create ``uuid`` for a hub reference: the same reference always gives the same uuid.

    A UUID-5 (36 characters, within Feishu's 64) in upper case, the format the contract's example uses;
    Feishu compares uuids case-insensitively (contracts §3.2).
    """
    if not reference:
        raise ValueError("reference must not be empty")
    return str(uuidlib.uuid5(_UUID_NAMESPACE, f"huiliu:{reference}")).upper()


def _ms(value: datetime, name: str) -> str:
    return str(int(aware(value, name).timestamp() * 1000))


@dataclass(frozen=True, slots=True)
class InstanceCodePage:
    """One page of instance codes.

    Attributes:
        codes: instance codes on this page.
        page_token: pass it back for the next page; ``None`` on the last page.
    """

    codes: tuple[str, ...]
    page_token: str | None


class FeishuClient:
    """Calls the Feishu open platform as one app.

    Args:
        settings: the app's settings.
        http: the HTTP client (its session is owned by the caller).
        clock: time source for token expiry.
    """

    def __init__(self, settings: FeishuSettings, http: HttpClient, clock: Clock) -> None:
        self.settings = settings
        self._http = http
        self._clock = clock
        self._tokens = TokenCache(self._fetch_token, clock, settings.token_refresh_margin)
        self._auth_codes = AUTH_CODES | settings.extra_auth_codes

    # ------------------------------------------------------------------ token

    async def tenant_access_token(self) -> str:
        """The cached token, fetched again ``token_refresh_margin`` before it expires (one refresh at a time)."""
        return await self._tokens.get()

    def invalidate_token(self, token: str) -> None:
        """Forget ``token`` if it is still the cached one (another call may have refreshed it already)."""
        self._tokens.invalidate(token)

    async def _fetch_token(self) -> tuple[str, float]:
        operation = TOKEN_OPERATION
        reply = await self._http.request(
            "POST", f"{self.settings.base_url}/open-apis/auth/v3/tenant_access_token/internal", operation,
            json_body={"app_id": self.settings.app_id,
                       "app_secret": self.settings.app_secret.get_secret_value()})
        self._check(reply, operation)
        body = reply.json
        token = body.get("tenant_access_token") if isinstance(body, dict) else None
        expire = body.get("expire") if isinstance(body, dict) else None
        if not (isinstance(token, str) and token and isinstance(expire, int | float)
                and not isinstance(expire, bool) and expire > 0):
            raise VendorRejected(
                t("飞书 token 应答缺少 tenant_access_token 或 expire",
                  "Feishu token reply lacks tenant_access_token or expire"),
                system=SYSTEM, operation=operation,
                fix=t("检查 base_url 是否指向飞书开放平台", "check that base_url points at the Feishu open platform"))
        return token, float(expire)

    # ------------------------------------------------------------------ calls

    def _check(self, reply: HttpReply, operation: str) -> None:
        map_reply(reply, operation, auth_codes=self._auth_codes, transient_codes=self.settings.transient_codes)

    async def _call(self, method: str, path: str, operation: str, *, json_body: Any = None,
                    params: Mapping[str, str] | None = None) -> dict[str, Any]:
        """One API call with the bearer token; an invalid token is refreshed and the call retried once."""
        url = f"{self.settings.base_url}{path}"
        for attempt in (1, 2):
            token = await self.tenant_access_token()
            reply = await self._http.request(method, url, operation, json_body=json_body, params=params,
                                             headers={"Authorization": f"Bearer {token}"})
            try:
                self._check(reply, operation)
            except AuthExpired:
                self.invalidate_token(token)
                if attempt == 2:
                    raise
                continue
            return expect_data(reply, operation)
        raise AssertionError("unreachable")  # pragma: no cover

    async def list_child_departments(self, dept_id: str, page_token: str | None = None
                                     ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the direct children of ``dept_id`` (``0`` is the root) and the next page token.

        ``GET departments/:department_id/children`` of contact v3, ids of ``directory_department_id_type``;
        raw items ``{department_id, open_department_id, name, parent_department_id}``. Unconfirmed (not in
        shared/contracts).
        """
        operation = "department_children"
        path = self.settings.department_children_path.format(department_id=quote(dept_id, safe=""))
        data = await self._call("GET", path, operation, params=self._directory_params(page_token))
        return self._directory_page(data, operation)

    async def list_users(self, dept_id: str, page_token: str | None = None) -> tuple[list[dict[str, Any]],
                                                                                      str | None]:
        """One page of the people directly in ``dept_id`` and the next page token.

        ``GET users/find_by_department`` of contact v3 with ``user_id_type=user_id``; raw items ``{user_id,
        open_id, name, employee_no, department_ids, status, orders}``. Unconfirmed (not in shared/contracts).
        """
        operation = "find_by_department"
        params = {"department_id": dept_id, "user_id_type": "user_id", **self._directory_params(page_token)}
        data = await self._call("GET", self.settings.users_by_department_path, operation, params=params)
        return self._directory_page(data, operation)

    def _directory_params(self, page_token: str | None) -> dict[str, str]:
        params = {"department_id_type": self.settings.directory_department_id_type,
                  "page_size": str(self.settings.directory_page_size)}
        if page_token:
            params["page_token"] = page_token
        return params

    @staticmethod
    def _directory_page(data: dict[str, Any], operation: str) -> tuple[list[dict[str, Any]], str | None]:
        items = data.get("items")
        if items is None:
            items = []  # Feishu leaves ``items`` out of an empty page
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise VendorRejected(t("飞书通讯录应答的 data.items 不是对象数组",
                                   "Feishu directory reply's data.items is not a list of objects"),
                                 system=SYSTEM, operation=operation,
                                 fix=t("通讯录接口未经契约核实；检查设置中的接口路径，并附上原始应答报告问题",
                                       "the directory API is not in the verified contracts: check the endpoint "
                                       "paths in the settings and report it with the raw reply"))
        token = data.get("page_token")
        if data.get("has_more") is not True:
            return items, None
        if not token:  # stopping here would read part of the directory as if it were all of it
            raise VendorRejected(t("飞书通讯录应答 has_more 为真却没有 page_token",
                                   "Feishu directory reply has has_more but no page_token"),
                                 system=SYSTEM, operation=operation)
        return items, str(token)

    async def get_instance(self, instance_code: str, *, locale: str | None = None,
                           user_id: str | None = None) -> dict[str, Any]:
        """``GET /open-apis/approval/v4/instances/:instance_id``: the raw ``data`` object (contracts §3.2)."""
        operation = "get_instance"
        params: dict[str, str] = {"user_id_type": self.settings.user_id_type}
        if locale:
            params["locale"] = locale
        if user_id:
            params["user_id"] = user_id
        data = await self._call("GET", f"/open-apis/approval/v4/instances/{quote(instance_code, safe='')}",
                                operation, params=params)
        if not isinstance(data.get("instance_code"), str):
            raise VendorRejected(t("飞书应答缺少 data.instance_code", "Feishu reply has no data.instance_code"),
                                 system=SYSTEM, operation=operation, vendor_message=f"instance_id={instance_code}")
        return data

    async def list_instance_codes(self, approval_code: str, start: datetime, end: datetime, *,
                                  page_size: int | None = None,
                                  page_token: str | None = None) -> InstanceCodePage:
        """``GET /open-apis/approval/v4/instances``: one page of codes of instances started in ``[start, end]``.

        Times go out as Unix-millisecond strings; the codes come back in ``instance_code_list``
        (contracts §3.2, [T]).
        """
        operation = "list_instances"
        params = {"approval_code": approval_code, "start_time": _ms(start, "start"), "end_time": _ms(end, "end"),
                  "page_size": str(page_size or self.settings.list_page_size)}
        if page_token:
            params["page_token"] = page_token
        data = await self._call("GET", "/open-apis/approval/v4/instances", operation, params=params)
        codes = data.get("instance_code_list", [])
        if codes is None:
            codes = []
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            raise VendorRejected(t("飞书应答的 instance_code_list 不是字符串数组",
                                   "Feishu reply's instance_code_list is not a list of strings"),
                                 system=SYSTEM, operation=operation)
        token = data.get("page_token")
        more = data.get("has_more")
        next_token = str(token) if token and (more is None or more is True) else None
        return InstanceCodePage(tuple(codes), next_token)

    def _windows(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        span = self.settings.list_max_span
        if span is None or end - start <= span:
            return [(start, end)]
        windows, lower = [], start
        while lower < end:
            upper = min(lower + span, end)
            windows.append((lower, upper))
            lower = upper
        return windows

    async def iter_instance_codes(self, approval_code: str, start: datetime,
                                  end: datetime) -> AsyncIterator[str]:
        """Every instance code started in ``[start, end]``, page after page.

        The range is split into windows of ``list_max_span`` when that is set; a code on the boundary of
        two windows is yielded once.
        """
        aware(start, "start")
        aware(end, "end")
        if end < start:
            raise ValueError("end must not be before start")
        seen: set[str] = set()
        for lower, upper in self._windows(start, end):
            token: str | None = None
            while True:
                page = await self.list_instance_codes(approval_code, lower, upper, page_token=token)
                for code in page.codes:
                    if code not in seen:
                        seen.add(code)
                        yield code
                if page.page_token is None or page.page_token == token:
                    break
                token = page.page_token

    async def find_by_uuid(self, approval_code: str, instance_uuid: str, start: datetime,
                           end: datetime) -> dict[str, Any] | None:
        """The instance (raw ``data``) created with ``instance_uuid`` in ``[start, end]``, or ``None``.

        Feishu has no look-up by uuid in the contract, so this lists the range and reads each instance;
        uuids compare case-insensitively (contracts §3.2).
        """
        wanted = instance_uuid.lower()
        async for code in self.iter_instance_codes(approval_code, start, end):
            data = await self.get_instance(code)
            if str(data.get("uuid") or "").lower() == wanted:
                return data
        return None

    async def create_instance(self, *, approval_code: str, form: str, uuid: str, open_id: str | None = None,
                              user_id: str | None = None, department_id: str | None = None,
                              title: str | None = None, node_approver_open_id_list: Sequence[Any] = (),
                              node_approver_user_id_list: Sequence[Any] = (),
                              extra: Mapping[str, Any] | None = None) -> str:
        """``POST /open-apis/approval/v4/instances``: create an instance and return its ``instance_code``.

        Args:
            approval_code: the approval definition.
            form: the form as a JSON *string* (see :func:`~huiliu.connectors.feishu.mapping.to_form`).
            uuid: the idempotency key (≤ 64 characters); see :func:`instance_uuid`.
            open_id: the originator's open_id; one of ``open_id`` and ``user_id`` is required.
            user_id: the originator's user_id; wins over ``open_id``.
            department_id: the originator's department.
            title: an optional display title.
            node_approver_open_id_list: approvers chosen by the submitter, as the contract names them.
            node_approver_user_id_list: the same by user_id.
            extra: any other ``InstanceCreate`` field, sent as given.

        Raises:
            DuplicateUuid: ``uuid`` was used before (60012); the instance may be adopted.
        """
        operation = "create_instance"
        if not (open_id or user_id):
            raise ValueError("one of open_id and user_id is required")
        if not uuid or len(uuid) > 64:
            raise ValueError("uuid must be 1 to 64 characters")
        payload: dict[str, Any] = {**(extra or {}), "approval_code": approval_code, "form": form, "uuid": uuid}
        for name, value in (("open_id", open_id), ("user_id", user_id), ("department_id", department_id),
                            ("title", title)):
            if value:
                payload[name] = value
        if node_approver_open_id_list:
            payload["node_approver_open_id_list"] = list(node_approver_open_id_list)
        if node_approver_user_id_list:
            payload["node_approver_user_id_list"] = list(node_approver_user_id_list)
        data = await self._call("POST", "/open-apis/approval/v4/instances", operation, json_body=payload)
        code = data.get("instance_code")
        if not isinstance(code, str) or not code:
            raise VendorRejected(t("飞书应答缺少 data.instance_code", "Feishu reply has no data.instance_code"),
                                 system=SYSTEM, operation=operation)
        return code

    async def subscribe(self, approval_code: str) -> None:
        """``POST /open-apis/approval/v4/approvals/:approval_code/subscribe``.

        Feishu pushes ``approval_instance`` events only for subscribed definitions (contracts §3.2).
        """
        await self._call("POST", f"/open-apis/approval/v4/approvals/{quote(approval_code, safe='')}/subscribe",
                         "subscribe")
