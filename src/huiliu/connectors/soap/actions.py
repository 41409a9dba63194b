"""SOAP actions flows may call, each idempotent under retries where the service allows (DESIGN.md, invariant 3).

* ``soap.call``: request ``{"operation", "payload", "reference"?}`` → ``{"operation", "result", "reference",
  "adopted"}``. ``result`` is the reply as plain data (``Decimal`` kept). When ``settings.lookups`` names the
  operation, the reference (``reference``, else the hub's) is written into the payload at ``payload_path`` and,
  from the second attempt on, looked up first with the lookup operation: what is found is returned as
  ``result`` with ``adopted`` true and the operation is not called again. A create that got no answer is then
  :class:`AmbiguousOutcome`. Operations without a lookup are called as they are on every attempt.
* ``soap.journal_entry.create``: request ``{"voucher"}`` (:func:`huiliu.model.purchasing.voucher_from_json`)
  → ``{"id", "number", "company_code", "fiscal_year", "reference", "status": "posted", "adopted"}``, posted
  as SAP's ``JournalEntryBulkCreateRequest`` with the hub reference in ``DocumentReferenceID``. Looked up before
  every retry through ``settings.journal.lookup`` or the finder given to :func:`register_actions`.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from huiliu.connectors.base import ActionContext, ActionRegistry
from huiliu.connectors.purchasing import request_part
from huiliu.connectors.soap.client import SoapClient
from huiliu.connectors.soap.mapping import (
    get_path,
    journal_entry_request,
    journal_entry_result,
    set_path,
    stored_reference,
)
from huiliu.connectors.soap.settings import SoapLookup, SoapSettings
from huiliu.errors import AmbiguousOutcome, ConfigError, MappingError, NoReply
from huiliu.i18n import t
from huiliu.model.purchasing import voucher_from_json

__all__ = ["JOURNAL_ENTRY_CREATE", "SOAP_CALL", "EntryFinder", "SoapActions", "register_actions"]

SOAP_CALL = "soap.call"
JOURNAL_ENTRY_CREATE = "soap.journal_entry.create"

EntryFinder = Callable[[str], Awaitable[Mapping[str, Any] | None]]
"""Finds a posted journal entry by the hub's full reference (e.g. ``SapActions.find_entry`` over OData);
returns a mapping with ``AccountingDocument``, ``CompanyCode`` and ``FiscalYear``, or ``None``."""


def _found(value: Any) -> Mapping[str, Any] | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None or value == {}:
        return None
    return value if isinstance(value, Mapping) else {"value": value}


class SoapActions:
    """The SOAP actions, sharing the client and the settings.

    Args:
        client: the SOAP client.
        settings: the connector settings.
        find_entry: looks a journal entry up by reference when ``settings.journal.lookup`` is not set.
    """

    def __init__(self, client: SoapClient, settings: SoapSettings, find_entry: EntryFinder | None = None) -> None:
        self.client = client
        self.settings = settings
        self.find_entry = find_entry

    def _ambiguous(self, operation: str, exc: NoReply) -> AmbiguousOutcome:
        return AmbiguousOutcome(
            t(f"{operation} 未得到应答，可能已生效", f"{operation} got no answer; it may have been applied"),
            system=self.client.system, operation=operation, retry_after=self.settings.ambiguous_wait,
            fix=t("稍后按引用查找并沿用，不会重复生成", "it is looked up by reference later, never made twice"))

    async def lookup(self, lookup: SoapLookup, reference: str) -> Mapping[str, Any] | None:
        """What ``lookup`` finds for the stored ``reference`` (the first record when it finds several), or ``None``."""
        reply = await self.client.call(lookup.operation, {**lookup.fixed, lookup.reference_element: reference})
        return _found(get_path(reply, lookup.result_path))

    async def call(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """``soap.call``; see the module docstring."""
        operation, payload, given = request.get("operation"), request.get("payload", {}), request.get("reference")
        if not isinstance(operation, str) or not operation:
            raise MappingError(t("请求缺少 operation", "the request has no operation"), where=f"{SOAP_CALL}.operation",
                               fix=t("传入 WSDL 中的操作名", "pass an operation name from the WSDL"))
        if not isinstance(payload, Mapping):
            raise MappingError(t("payload 应为对象", "payload must be an object"), where=f"{SOAP_CALL}.payload",
                               fix=t("传入操作输入元素的各子元素",
                                     "pass the children of the operation's input element"))
        if given is not None and (not isinstance(given, str) or not given):
            raise MappingError(t("reference 应为非空字符串", "reference must be a non-empty string"),
                               where=f"{SOAP_CALL}.reference", fix=t("省略它以使用流程的引用",
                                                                     "leave it out to use the flow's reference"))
        lookup = self.settings.lookups.get(operation)
        if lookup is None:
            result = await self.client.call(operation, payload)
            return {"operation": operation, "result": result, "reference": given, "adopted": False}
        reference = stored_reference(given or ctx.reference, lookup.reference_length)
        body = copy.deepcopy(dict(payload))
        if lookup.payload_path and get_path(body, lookup.payload_path) is None:
            set_path(body, lookup.payload_path, reference)
        if ctx.attempt > 1:
            found = await self.lookup(lookup, reference)
            if found is not None:
                return {"operation": operation, "result": dict(found), "reference": reference, "adopted": True}
        try:
            result = await self.client.call(operation, body)
        except NoReply as exc:
            raise self._ambiguous(operation, exc) from exc
        return {"operation": operation, "result": result, "reference": reference, "adopted": False}

    def _no_lookup(self) -> ConfigError:
        return ConfigError(
            t(f"{JOURNAL_ENTRY_CREATE} 没有办法在重试前查找已过账的凭证",
              f"{JOURNAL_ENTRY_CREATE} has no way to look a posted entry up before a retry"),
            where="soap.journal.lookup",
            fix=t("设置 journal.lookup（按引用查询的 SOAP 操作），或在注册动作时传入 find_entry"
                  "（如 SAP OData 连接器的凭证查询）",
                  "set journal.lookup (a SOAP operation reading by reference), or pass find_entry when registering "
                  "the actions (e.g. the SAP OData connector's entry lookup)"))

    async def _find_entry(self, reference: str, stored: str) -> Mapping[str, Any] | None:
        if self.settings.journal.lookup is not None:
            return await self.lookup(self.settings.journal.lookup, stored)
        if self.find_entry is not None:
            return await self.find_entry(reference)
        raise self._no_lookup()

    async def journal_entry_create(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """``soap.journal_entry.create``; see the module docstring."""
        journal = self.settings.journal
        voucher = voucher_from_json(request_part(request, "voucher", JOURNAL_ENTRY_CREATE))
        stored = stored_reference(ctx.reference, journal.reference_length)
        if journal.lookup is None and self.find_entry is None:
            raise self._no_lookup()  # before anything is posted: without a lookup a retry could post twice
        found = await self._find_entry(ctx.reference, stored) if ctx.attempt > 1 else None
        if found is not None:
            number, company, year = (str(found.get(k) or "") for k in ("AccountingDocument", "CompanyCode",
                                                                         "FiscalYear"))
            return {"id": f"{company}/{number}/{year}", "number": number, "company_code": company,
                    "fiscal_year": year, "reference": stored, "status": "posted", "adopted": True}
        body = journal_entry_request(voucher, stored, journal, self.client.clock.now())
        try:
            reply = await self.client.call(journal.operation, body)
        except NoReply as exc:
            raise self._ambiguous(journal.operation, exc) from exc
        key = journal_entry_result(reply, system=self.client.system, operation=journal.operation)
        return {"id": f"{key['company_code']}/{key['number']}/{key['fiscal_year']}", **key, "reference": stored,
                "status": "posted", "adopted": False}


def register_actions(registry: ActionRegistry, client: SoapClient, settings: SoapSettings, *,
                     find_entry: EntryFinder | None = None, prefix: str = "soap") -> SoapActions:
    """Register ``<prefix>.call`` and ``<prefix>.journal_entry.create``.

    Args:
        registry: where to register.
        client: the SOAP client.
        settings: the connector settings.
        find_entry: the journal entry lookup when ``settings.journal.lookup`` is not set.
        prefix: the action prefix; a second SOAP service registers under another one.
    """
    actions = SoapActions(client, settings, find_entry)
    registry.register(SOAP_CALL.replace("soap", prefix, 1), actions.call)
    registry.register(JOURNAL_ENTRY_CREATE.replace("soap", prefix, 1), actions.journal_entry_create)
    return actions
