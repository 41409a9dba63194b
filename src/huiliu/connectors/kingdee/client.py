"""The K3Cloud WebAPI client: session login, service calls, and one re-login on a lost session.

Session mode (contract §4.2a): ``ValidateUser`` hands out a session id that later calls carry. The id
is sent explicitly, as the ``kdservice-sessionid`` cookie and header (the official SDK replays it the
same way), so the client does not depend on the cookie jar: aiohttp's default jar refuses cookies from
IP hosts. Reply interpretation lives in :mod:`huiliu.connectors.kingdee.errors`.
"""

from __future__ import annotations

import asyncio
import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from huiliu.connectors.http import HttpClient, HttpReply
from huiliu.connectors.kingdee.errors import (
    LOGIN_OPERATION,
    SYSTEM,
    check_login,
    check_partial,
    check_result,
    item_errors,
    response_status,
)
from huiliu.connectors.kingdee.settings import KingdeeSettings
from huiliu.errors import AuthExpired, VendorRejected
from huiliu.i18n import t

__all__ = ["SESSION_COOKIE", "BatchOutcome", "KingdeeClient", "SaveResult", "Service", "quote"]

SESSION_COOKIE = "kdservice-sessionid"


class Service(enum.StrEnum):
    """K3Cloud service names; the URL is ``{server}/k3cloud/{name}.common.kdsvc`` (contract §4.1)."""

    VALIDATE_USER = "Kingdee.BOS.WebApi.ServicesStub.AuthService.ValidateUser"
    SAVE = "Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.Save"
    BATCH_SAVE = "Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.BatchSave"
    SUBMIT = "Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.Submit"
    AUDIT = "Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.Audit"
    UNAUDIT = "Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.UnAudit"
    DELETE = "Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.Delete"
    VIEW = "Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.View"
    EXECUTE_BILL_QUERY = "Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.ExecuteBillQuery"
    EXCUTE_OPERATION = "Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.ExcuteOperation"
    """Kingdee's own spelling (contract §4.1); runs a form operation named by ``opNumber`` (禁用 ``Forbid`` …)."""

    @property
    def operation(self) -> str:
        """The short name used in errors and call records, e.g. ``Save``."""
        return self.value.rsplit(".", 1)[1]


@dataclass(frozen=True, slots=True)
class SaveResult:
    """What Save returns: the internal id (内码) and the bill number."""

    id: int
    number: str


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What a per-item operation did with each item, by position (``DIndex``).

    Attributes:
        saved: position → (id, number) of the items that succeeded.
        refused: position → (first field named, Kingdee's messages for that item, verbatim).
        msg_code: the reply's ``MsgCode``, for errors.
    """

    saved: dict[int, SaveResult]
    refused: dict[int, tuple[str | None, str]]
    msg_code: str | None = None


class KingdeeClient:
    """Calls one K3Cloud account set with a shared login session.

    Args:
        settings: the connector settings.
        http: the HTTP client for system ``kingdee``.

    Attributes:
        logins: how many logins this client made (for tests and metrics).
    """

    def __init__(self, settings: KingdeeSettings, http: HttpClient) -> None:
        self.settings = settings
        self.http = http
        self.logins = 0
        self._session: str | None = None
        self._lock = asyncio.Lock()

    def _url(self, service: str) -> str:
        return f"{self.settings.service_root}{service}.common.kdsvc"

    async def login(self) -> None:
        """Log in now (``ValidateUser``) and keep the session for later calls.

        Raises:
            VendorRejected: wrong acct id, user or password.
            TransientError: the server could not be reached or failed.
            RateLimited: the server asked to slow down.
        """
        async with self._lock:
            await self._login_locked()

    async def _login_locked(self) -> None:
        s = self.settings
        body = {"format": 1, "useragent": "ApiClient", "rid": {},
                "parameters": [s.acct_id, s.username, s.password.get_secret_value(), s.lcid],
                "timestamp": date.today().isoformat(), "v": "1.0"}
        reply = await self.http.request("POST", self._url(Service.VALIDATE_USER), LOGIN_OPERATION,
                                        json_body=body)
        self._session = check_login(reply)
        self.logins += 1

    async def _current_session(self) -> str:
        session = self._session
        if session is not None:
            return session
        async with self._lock:
            # Concurrent callers wait here for the one login in progress instead of starting their own.
            if self._session is None:
                await self._login_locked()
            assert self._session is not None
            return self._session

    async def _renew(self, stale: str) -> None:
        async with self._lock:
            if self._session == stale:  # nobody renewed it while we waited
                self._session = None
                await self._login_locked()

    async def call(self, service: str, body: Mapping[str, Any], operation: str, *, partial: bool = False) -> Any:
        """Call a service with the session; on 「会话信息已丢失」 log in again and retry once.

        Args:
            service: the full service name, e.g. :attr:`Service.SAVE`.
            body: the JSON body, e.g. ``{"formid": …, "data": …}``.
            operation: the operation named in errors and call records.
            partial: a per-item operation: a reply refusing some items is returned, not raised
                (:func:`check_partial`).

        Returns:
            The parsed JSON reply.

        Raises:
            AuthExpired: the session was lost again right after a fresh login.
            VendorRejected, TransientError, RateLimited: see :func:`check_result`.
        """
        check = check_partial if partial else check_result
        session = await self._current_session()
        try:
            return check(await self._post(service, body, operation, session), operation)
        except AuthExpired:
            await self._renew(session)
        session = await self._current_session()
        # A second session loss right after a fresh login propagates as AuthExpired.
        return check(await self._post(service, body, operation, session), operation)

    async def _post(self, service: str, body: Mapping[str, Any], operation: str, session: str) -> HttpReply:
        headers = {SESSION_COOKIE: session, "Cookie": f"{SESSION_COOKIE}={session}"}
        return await self.http.request("POST", self._url(service), operation, json_body=body, headers=headers)

    def _form_body(self, formid: str, data: Mapping[str, Any]) -> dict[str, Any]:
        payload: Any = json.dumps(data, ensure_ascii=False) if self.settings.data_as_string else dict(data)
        return {"formid": formid, "data": payload}

    async def save(self, formid: str, model: Mapping[str, Any], **options: Any) -> SaveResult:
        """Save one bill. Not idempotent: never blindly retry, look the reference up first.

        Args:
            formid: the form, e.g. ``GL_VOUCHER``.
            model: the ``Model`` object.
            **options: other ``data`` keys (``NeedReturnFields``, ``IsVerifyBaseDataField`` …).

        Returns:
            The id and number Kingdee gave the bill.
        """
        reply = await self.call(Service.SAVE, self._form_body(formid, {**options, "Model": dict(model)}),
                                Service.SAVE.operation)
        result = reply.get("Result", {}) if isinstance(reply, Mapping) else {}
        raw_id, number = result.get("Id"), result.get("Number")
        if raw_id in (None, 0, "", "0") or not number:
            entities = result.get("ResponseStatus", {}).get("SuccessEntitys") or [{}]
            raw_id, number = entities[0].get("Id"), entities[0].get("Number")
        try:
            return SaveResult(int(raw_id), str(number))
        except (TypeError, ValueError):
            raise VendorRejected(t("金蝶保存成功但未返回单据内码", "Kingdee saved but returned no id"),
                                 system=SYSTEM, operation=Service.SAVE.operation,
                                 vendor_message=json.dumps(reply, ensure_ascii=False)[:300],
                                 fix=t("在金蝶中按参考号查找该单据",
                                       "look the bill up by its reference in Kingdee")) from None

    async def batch_save(self, formid: str, models: Sequence[Mapping[str, Any]], **options: Any) -> BatchOutcome:
        """Save many bills in one BatchSave call; each is saved or refused on its own.

        Not idempotent, like Save: look every reference up before a retry. ``data`` is
        ``{"Model": [model, …], **options}`` (contract §4.1: BatchSave takes ``{formid, data}`` like
        Save, with a list of models).

        Returns:
            The saved and the refused items, by position in ``models``.

        Raises:
            VendorRejected: the whole request was refused (unknown form, missing parameter …).
        """
        body = self._form_body(formid, {**options, "Model": [dict(m) for m in models]})
        reply = await self.call(Service.BATCH_SAVE, body, Service.BATCH_SAVE.operation, partial=True)
        return _outcome(reply)

    async def transition(self, service: Service, formid: str, ids: Sequence[int]) -> BatchOutcome:
        """Submit / Audit / UnAudit / Delete many bills by id; each succeeds or is refused on its own.

        Positions in the outcome are positions in ``ids``.
        """
        data: dict[str, Any] = {"CreateOrgId": 0, "Numbers": [], "Ids": ",".join(str(i) for i in ids)}
        reply = await self.call(service, self._form_body(formid, data), service.operation, partial=True)
        return _outcome(reply)

    async def execute_operation(self, formid: str, op_number: str, ids: Sequence[int]) -> BatchOutcome:
        """Run the form operation ``op_number`` (e.g. ``Forbid`` 禁用, ``Enable`` 反禁用) on many records by id.

        ``ExcuteOperation`` takes ``{formid, opNumber, data}`` (contract §4.1); ``data`` is shaped like
        Submit's. Each record succeeds or is refused on its own; positions are positions in ``ids``.
        """
        data: dict[str, Any] = {"CreateOrgId": 0, "Numbers": [], "Ids": ",".join(str(i) for i in ids)}
        body = {**self._form_body(formid, data), "opNumber": op_number}
        reply = await self.call(Service.EXCUTE_OPERATION, body, op_number, partial=True)
        return _outcome(reply)

    async def _bill_op(self, service: Service, formid: str, numbers: Sequence[str],
                       ids: Sequence[int]) -> list[dict[str, Any]]:
        data: dict[str, Any] = {"CreateOrgId": 0, "Numbers": list(numbers),
                                "Ids": ",".join(str(i) for i in ids)}
        reply = await self.call(service, self._form_body(formid, data), service.operation)
        entities = reply["Result"]["ResponseStatus"].get("SuccessEntitys") or []
        return [dict(e) for e in entities]

    async def submit(self, formid: str, numbers: Sequence[str] = (), *,
                     ids: Sequence[int] = ()) -> list[dict[str, Any]]:
        """Submit bills (创建 → 审核中) by number or id; returns Kingdee's ``SuccessEntitys``."""
        return await self._bill_op(Service.SUBMIT, formid, numbers, ids)

    async def audit(self, formid: str, numbers: Sequence[str] = (), *,
                    ids: Sequence[int] = ()) -> list[dict[str, Any]]:
        """Audit bills (审核中 → 已审核) by number or id; returns Kingdee's ``SuccessEntitys``."""
        return await self._bill_op(Service.AUDIT, formid, numbers, ids)

    async def unaudit(self, formid: str, numbers: Sequence[str] = (), *,
                      ids: Sequence[int] = ()) -> list[dict[str, Any]]:
        """Undo the audit of bills (反审核) by number or id; returns Kingdee's ``SuccessEntitys``."""
        return await self._bill_op(Service.UNAUDIT, formid, numbers, ids)

    async def delete(self, formid: str, numbers: Sequence[str] = (), *,
                     ids: Sequence[int] = ()) -> list[dict[str, Any]]:
        """Delete bills that are not submitted or audited; returns Kingdee's ``SuccessEntitys``."""
        return await self._bill_op(Service.DELETE, formid, numbers, ids)

    async def view(self, formid: str, number: str | None = None, *, id: int | None = None) -> dict[str, Any]:
        """Read one bill by number or id.

        Returns:
            The bill's model as Kingdee returns it (``Result.Result``).
        """
        if (number is None) == (id is None):
            raise ValueError("view() needs exactly one of number or id")
        data: dict[str, Any] = {"CreateOrgId": 0, "Number": number or "", "Id": "" if id is None else str(id)}
        reply = await self.call(Service.VIEW, self._form_body(formid, data), Service.VIEW.operation)
        result = reply.get("Result", {}).get("Result") if isinstance(reply, Mapping) else None
        if not isinstance(result, Mapping):
            raise VendorRejected(t("金蝶 View 未返回单据", "Kingdee View returned no bill"),
                                 system=SYSTEM, operation=Service.VIEW.operation,
                                 vendor_message=json.dumps(reply, ensure_ascii=False)[:300])
        return dict(result)

    async def query(self, formid: str, field_keys: str | Sequence[str], filter_string: str = "",
                    limit: int = 0, *, start_row: int = 0, order: str = "") -> list[list[Any]]:
        """Run ExecuteBillQuery and return its rows (one list of values per row).

        Args:
            formid: the form to query.
            field_keys: ``"FVOUCHERID,FBillNo"`` or a sequence of keys.
            filter_string: Kingdee's filter syntax, e.g. ``F_HUILIU_REF='abc'``; quote values with
                :func:`quote`.
            limit: rows per page; 0 for no limit.
            start_row: the first row, from 0.
            order: ``OrderString``.
        """
        keys = field_keys if isinstance(field_keys, str) else ",".join(field_keys)
        data = {"FormId": formid, "FieldKeys": keys, "FilterString": filter_string, "OrderString": order,
                "TopRowCount": 0, "StartRow": start_row, "Limit": limit}
        operation = Service.EXECUTE_BILL_QUERY.operation
        reply = await self.call(Service.EXECUTE_BILL_QUERY, {"data": data}, operation)
        if not isinstance(reply, list) or not all(isinstance(row, list) for row in reply):
            raise VendorRejected(t("金蝶查询结果格式不正确", "Kingdee's query result has another shape"),
                                 system=SYSTEM, operation=operation,
                                 vendor_message=json.dumps(reply, ensure_ascii=False)[:300])
        return reply


def _outcome(reply: Any) -> BatchOutcome:
    status = response_status(reply) or {}
    saved: dict[int, SaveResult] = {}
    for position, entity in enumerate(status.get("SuccessEntitys") or []):
        if isinstance(entity, Mapping) and entity.get("Id") not in (None, "", 0, "0"):
            index = entity.get("DIndex")
            saved[index if isinstance(index, int) else position] = SaveResult(int(entity["Id"]),
                                                                               str(entity.get("Number")))
    code = status.get("MsgCode")
    return BatchOutcome(saved, item_errors(status), None if code is None else str(code))


def quote(value: str) -> str:
    """Quote a text value for a Kingdee filter string: ``O'Brien`` → ``'O''Brien'``."""
    return "'" + value.replace("'", "''") + "'"
