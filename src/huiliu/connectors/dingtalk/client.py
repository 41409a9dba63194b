"""The DingTalk v1.0 API client: the access token and the workflow (审批) calls the hub makes.

Owns: token caching and refresh (one refresh at a time, however many calls wait), the access-token header,
refresh-and-retry-once on an expired token, and the request/response field names of contracts §1.2.
Does not own: error codes (``errors.py``), turning payloads into canonical objects (``mapping.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from huiliu.connectors.dingtalk.errors import SYSTEM, expect_object, map_reply
from huiliu.connectors.dingtalk.settings import DingTalkSettings
from huiliu.connectors.http import HttpClient
from huiliu.connectors.tokens import TokenCache
from huiliu.errors import AuthExpired, VendorRejected
from huiliu.i18n import t
from huiliu.model import Clock

__all__ = ["ACCESS_TOKEN_HEADER", "DingTalkClient", "InstanceIdPage"]

ACCESS_TOKEN_HEADER = "x-acs-dingtalk-access-token"  # noqa: S105 -- a header name, not a secret


@dataclass(frozen=True, slots=True)
class InstanceIdPage:
    """One page of ``ListProcessInstanceIds``.

    Attributes:
        ids: instance ids on this page.
        next_token: pass it back for the next page; ``None`` on the last page.
    """

    ids: tuple[str, ...]
    next_token: str | None


class DingTalkClient:
    """Calls the DingTalk v1.0 API as one app.

    Args:
        settings: the app's settings.
        http: the HTTP client (its session is owned by the caller).
        clock: time source for token expiry.
    """

    def __init__(self, settings: DingTalkSettings, http: HttpClient, clock: Clock) -> None:
        self.settings = settings
        self._http = http
        self._clock = clock
        self._tokens = TokenCache(self._fetch_token, clock, settings.token_refresh_margin)

    async def access_token(self) -> str:
        """The cached token, fetched again ``token_refresh_margin`` before it expires (one refresh at a time)."""
        return await self._tokens.get()

    def invalidate_token(self, token: str) -> None:
        """Forget ``token`` if it is still the cached one (another call may have refreshed it already)."""
        self._tokens.invalidate(token)

    async def _fetch_token(self) -> tuple[str, float]:
        operation = "token"
        reply = await self._http.request(
            "POST", f"{self.settings.base_url}/v1.0/oauth2/accessToken", operation,
            json_body={"appKey": self.settings.app_key,
                       "appSecret": self.settings.app_secret.get_secret_value()})
        map_reply(reply, operation)
        body = expect_object(reply, operation)
        token, expire_in = body.get("accessToken"), body.get("expireIn")
        if not (isinstance(token, str) and token and isinstance(expire_in, int | float) and expire_in > 0):
            raise VendorRejected(
                t("钉钉 token 应答缺少 accessToken 或 expireIn",
                  "DingTalk token reply lacks accessToken or expireIn"),
                system=SYSTEM, operation=operation,
                fix=t("检查 base_url 是否指向钉钉 API", "check that base_url points at the DingTalk API"))
        return token, float(expire_in)

    async def _call(self, method: str, path: str, operation: str, *, json_body: Any = None,
                    params: Mapping[str, str] | None = None) -> dict[str, Any]:
        """One API call with the token header; an expired token is refreshed and the call retried once."""
        url = f"{self.settings.base_url}{path}"
        for attempt in (1, 2):
            token = await self.access_token()
            reply = await self._http.request(method, url, operation, json_body=json_body, params=params,
                                             headers={ACCESS_TOKEN_HEADER: token})
            try:
                map_reply(reply, operation)
            except AuthExpired:
                self.invalidate_token(token)
                if attempt == 2:
                    raise
                continue
            return expect_object(reply, operation)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _oapi(self, path: str, operation: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """One legacy ``oapi`` call (token in the query, ``errcode`` in the body); refresh-and-retry once."""
        url = f"{self.settings.oapi_base_url}{path}"
        for attempt in (1, 2):
            token = await self.access_token()
            reply = await self._http.request("POST", url, operation, json_body=dict(body),
                                             params={"access_token": token})
            try:
                map_reply(reply, operation)
            except AuthExpired:
                self.invalidate_token(token)
                if attempt == 2:
                    raise
                continue
            return expect_object(reply, operation)
        raise AssertionError("unreachable")  # pragma: no cover

    async def list_sub_departments(self, dept_id: int) -> list[dict[str, Any]]:
        """``topapi/v2/department/listsub``: the direct children of ``dept_id`` (unconfirmed shape)."""
        operation = "department/listsub"
        body = await self._oapi("/topapi/v2/department/listsub", operation, {"dept_id": dept_id})
        result = body.get("result")
        if not isinstance(result, list) or not all(isinstance(d, dict) for d in result):
            raise VendorRejected(t("钉钉部门列表应答缺少 result 列表", "DingTalk department list has no result list"),
                                 system=SYSTEM, operation=operation)
        return result

    async def list_users(self, dept_id: int, cursor: int = 0, size: int = 100) -> tuple[list[dict[str, Any]],
                                                                                         int | None]:
        """``topapi/v2/user/list``: one page of a department's people and the next cursor (unconfirmed shape)."""
        operation = "user/list"
        body = await self._oapi("/topapi/v2/user/list", operation, {"dept_id": dept_id, "cursor": cursor,
                                                                    "size": size})
        result = body.get("result")
        people = result.get("list") if isinstance(result, dict) else None
        if not isinstance(result, dict) or not isinstance(people, list):
            raise VendorRejected(t("钉钉用户列表应答缺少 result.list", "DingTalk user list has no result.list"),
                                 system=SYSTEM, operation=operation)
        more, nxt = result.get("has_more"), result.get("next_cursor")
        return people, (int(nxt) if more and isinstance(nxt, int | str) and str(nxt).isdigit() else None)

    async def get_instance(self, instance_id: str) -> dict[str, Any]:
        """``GetProcessInstance``: the raw ``result`` object (contracts §1.3)."""
        operation = "GetProcessInstance"
        body = await self._call("GET", "/v1.0/workflow/processInstances", operation,
                                params={"processInstanceId": instance_id})
        result = body.get("result")
        if not isinstance(result, dict):
            raise VendorRejected(t("钉钉应答缺少 result 对象", "DingTalk reply has no result object"),
                                 system=SYSTEM, operation=operation,
                                 vendor_message=f"processInstanceId={instance_id}")
        return result

    async def add_comment(self, instance_id: str, text: str, user_id: str) -> None:
        """``AddProcessInstanceComment``: post ``text`` on the instance as ``user_id``."""
        operation = "AddProcessInstanceComment"
        body = await self._call("POST", "/v1.0/workflow/processInstances/comments", operation,
                                json_body={"processInstanceId": instance_id, "text": text,
                                           "commentUserId": user_id})
        if body.get("result") is False:
            raise VendorRejected(t("钉钉未接受评论", "DingTalk did not accept the comment"),
                                 system=SYSTEM, operation=operation,
                                 fix=t("确认 writeback_user_id 能看到该审批实例",
                                       "make sure writeback_user_id can see the approval instance"))

    async def start_instance(self, *, process_code: str, originator_user_id: str,
                             form: Sequence[Mapping[str, Any]], dept_id: str | int = -1,
                             approvers: Sequence[str] = ()) -> str:
        """``StartProcessInstance``: create an instance and return its id.

        DingTalk has no idempotency key here (contracts §1.6): a caller that retries after an ambiguous
        failure must look the instance up with :meth:`list_instance_ids` first.

        Args:
            process_code: the approval template's processCode.
            originator_user_id: who submits it.
            form: ``formComponentValues`` items, at least ``{name, value}``.
            dept_id: the originator's department; documented optional, de-facto required (−1 works).
            approvers: user ids that must all approve (会签), if the template lets the caller choose.
        """
        operation = "StartProcessInstance"
        payload: dict[str, Any] = {"processCode": process_code, "originatorUserId": originator_user_id,
                                   "deptId": dept_id, "formComponentValues": [dict(v) for v in form]}
        if approvers:
            payload["approvers"] = [{"actionType": "AND", "userIds": list(approvers)}]
        body = await self._call("POST", "/v1.0/workflow/processInstances", operation, json_body=payload)
        instance_id = body.get("instanceId")
        if not isinstance(instance_id, str) or not instance_id:
            raise VendorRejected(t("钉钉应答缺少 instanceId", "DingTalk reply has no instanceId"),
                                 system=SYSTEM, operation=operation)
        return instance_id

    async def list_instance_ids(self, process_code: str, start_ms: int, end_ms: int | None = None, *,
                                next_token: str | None = None, max_results: int = 20,
                                statuses: Sequence[str] = (), user_ids: Sequence[str] = ()) -> InstanceIdPage:
        """``ListProcessInstanceIds``: one page of instance ids created in ``[start_ms, end_ms]``.

        DingTalk allows ``max_results`` ≤ 20, ≤ 10 ``user_ids`` and a window of at most 120 days that
        starts at most 120 days ago (contracts §1.2).
        """
        operation = "ListProcessInstanceIds"
        payload: dict[str, Any] = {"processCode": process_code, "startTime": start_ms,
                                   "nextToken": int(next_token) if next_token and next_token.isdigit()
                                   else (next_token or 0), "maxResults": max_results}
        if end_ms is not None:
            payload["endTime"] = end_ms
        if statuses:
            payload["statuses"] = list(statuses)
        if user_ids:
            payload["userIds"] = list(user_ids)
        body = await self._call("POST", "/v1.0/workflow/processes/instanceIds/query", operation,
                                json_body=payload)
        result = body.get("result")
        ids = result.get("list") if isinstance(result, dict) else None
        if not isinstance(result, dict) or not isinstance(ids, list):
            raise VendorRejected(t("钉钉应答缺少 result.list", "DingTalk reply has no result.list"),
                                 system=SYSTEM, operation=operation)
        token = result.get("nextToken")
        return InstanceIdPage(tuple(str(i) for i in ids), str(token) if token not in (None, "") else None)
