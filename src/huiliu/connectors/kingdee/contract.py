"""Purchase contracts (采购合同) and suppliers in Kingdee K3Cloud: the contract and party actions.

* ``kingdee.party.ensure``: request ``{"supplier": {"name", "code"?, "tax_id"?}}`` (the shape every ERP's
  ``<erp>.party.ensure`` takes). The supplier (``settings.supplier_form``) is matched by its 统一社会信用代码
  (``settings.supplier_tax_field``), else by number (the OA's code), else by name; only when none matches is
  it saved — numbered with the OA's code, else its tax id — then submitted and audited, once however many
  approvals name it at the same time (:class:`~huiliu.connectors.base.FindOrCreate`). A matched supplier left
  创建 or 审核中 by a lost attempt is brought to 已审核, since bills refuse suppliers not audited.
  Result: ``{"id", "code", "name", "tax_id", "created", "matched_by"}``; ``matched_by`` is ``tax_id``,
  ``code``, ``name`` or ``None`` (created).
* ``kingdee.contract.create``: request ``{"contract": <contract JSON>, "supplier_number"?: str}``
  (:func:`~huiliu.model.purchasing.contract_from_json`). Without ``supplier_number`` the supplier is ensured
  as above first. The contract (``settings.contract_form``) is saved with the hub's reference in
  ``settings.reference_field``; every attempt after the first looks it up first and adopts it; a Save with
  no answer is :class:`AmbiguousOutcome`. It is then brought to 已审核 (A → Submit → B → Audit → C). A refusal
  (a required field missing, the supplier unknown, a duplicate 合同编号) is a :class:`VendorRejected` with
  Kingdee's own words, never retried, and leaves no contract behind.
* ``kingdee.contract.read``: ``{"id"}`` or ``{"reference"}`` → the same result, current state. Read-only.

  Result of both: ``{"id", "number", "state", "reference", "name", "supplier", "amount", "currency", "audited",
  "adopted"}``; ``number`` is the 合同编号 (the OA's when it gave one, else Kingdee's).

Unconfirmed (shared/contracts §4 is silent on contracts and on the supplier's tax id): the form id, bill type,
every field key (``FCONTRACTNAME``, ``FBeginDate``, ``FEndDate``, ``FSupplierId``, ``FPurchaseOrgId``,
``FContractFin.FSettleCurrId``, the amount and note fields) and ``FBaseInfo.FSOCIALCRECODE``; see the settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from huiliu.connectors.base import ActionContext, FindOrCreate
from huiliu.connectors.kingdee.client import KingdeeClient, quote
from huiliu.connectors.kingdee.ledger import AUDITED, Bills, bring_to_audited
from huiliu.connectors.kingdee.settings import KingdeeSettings
from huiliu.connectors.purchasing import request_part
from huiliu.errors import MappingError
from huiliu.i18n import t
from huiliu.model import parse_amount
from huiliu.model.purchasing import Contract, Supplier, contract_from_json, supplier_from_json

__all__ = ["CONTRACT_CREATE", "CONTRACT_READ", "PARTY_ENSURE", "KingdeeContracts"]

PARTY_ENSURE = "kingdee.party.ensure"
CONTRACT_CREATE = "kingdee.contract.create"
CONTRACT_READ = "kingdee.contract.read"

_FEN_FORMAT = ".2f"


class KingdeeContracts:
    """The three actions over one client: :meth:`ensure_party`, :meth:`create`, :meth:`read`.

    Args:
        client: the Kingdee client.
        settings: the connector settings (forms, field keys, reference field, purchasing organisation).
    """

    def __init__(self, client: KingdeeClient, settings: KingdeeSettings) -> None:
        self.client = client
        self.settings = settings
        self._once = FindOrCreate()
        self.bills = Bills(client, settings, settings.contract_form, t("采购合同", "purchase contract"), CONTRACT_READ)

    # ------------------------------------------------------------------ suppliers

    @property
    def _tax_query_key(self) -> str | None:
        """The tax id field as ExecuteBillQuery names it: the field alone, without its sub-entity."""
        field = self.settings.supplier_tax_field
        return None if field is None else field.rpartition(".")[2]

    async def _find_supplier(self, supplier: Supplier) -> dict[str, Any] | None:
        form, tax_key = self.settings.supplier_form, self._tax_query_key
        fields = "FSUPPLIERID,FNumber,FName,FDocumentStatus" + (f",{tax_key}" if tax_key else "")
        ways = [("tax_id", tax_key, supplier.tax_id), ("code", "FNumber", supplier.code),
                ("name", "FName", supplier.name)]
        for way, key, value in ways:
            if key is None or not value:
                continue
            rows = [r for r in await self.client.query(form, fields, f"{key}={quote(value)}")
                    if len(r) >= 4 and r[0] is not None]
            if rows:
                first = min(rows, key=lambda r: int(r[0]))  # the oldest, should an earlier failure have left two
                return {"id": int(first[0]), "code": str(first[1]), "name": first[2], "status": first[3],
                        "tax_id": first[4] if tax_key and len(first) > 4 else None, "matched_by": way}
        return None

    async def _create_supplier(self, supplier: Supplier) -> dict[str, Any]:
        number = supplier.code or supplier.tax_id or supplier.name
        model: dict[str, Any] = {"FNumber": number, "FName": supplier.name}
        field = self.settings.supplier_tax_field
        if field is not None and supplier.tax_id:
            group, _, key = field.rpartition(".")
            if group:
                model[group] = {key: supplier.tax_id}
            else:
                model[key] = supplier.tax_id
        saved = await self.client.save(self.settings.supplier_form, model)
        await self.client.submit(self.settings.supplier_form, ids=[saved.id])
        await self.client.audit(self.settings.supplier_form, ids=[saved.id])
        return {"id": saved.id, "code": number, "name": supplier.name, "status": AUDITED,
                "tax_id": supplier.tax_id, "matched_by": None}

    async def supplier(self, supplier: Supplier) -> dict[str, Any]:
        """Match the supplier (tax id, number, name) or create and audit it once; see the module docstring."""
        key = supplier.tax_id or supplier.code or supplier.name
        found, created = await self._once.ensure(f"{self.settings.supplier_form}:{key}",
                                                 lambda: self._find_supplier(supplier),
                                                 lambda: self._create_supplier(supplier))
        if not created:  # a supplier a lost attempt left 创建 / 审核中: bills refuse it until 已审核
            await bring_to_audited(self.client, self.settings.supplier_form, found["id"], found["status"])
        return {"id": found["id"], "code": found["code"], "name": found["name"], "tax_id": found.get("tax_id"),
                "created": created, "matched_by": found["matched_by"]}

    async def ensure_party(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """``kingdee.party.ensure``: match or create the supplier. Safe to retry."""
        return await self.supplier(supplier_from_json(request_part(request, "supplier", PARTY_ENSURE)))

    # ------------------------------------------------------------------ contracts

    async def result(self, contract_id: int, *, adopted: bool) -> dict[str, Any]:
        """The action result for one contract."""
        s = self.settings
        rows = await self.client.query(
            s.contract_form, f"FID,FBillNo,FDocumentStatus,{s.reference_field},FCONTRACTNAME,FSupplierId.FNumber,"
            f"{s.contract_amount_field},FSettleCurrId.FNumber", f"FID={contract_id}")
        if not rows:
            raise self.bills.missing(contract_id)
        _, number, status, reference, name, supplier, amount, currency_number = rows[0][:8]
        currencies = {v: k for k, v in s.currency_number.items()}
        return {"id": contract_id, "number": number, "state": status, "reference": reference, "name": name,
                "supplier": supplier, "amount": parse_amount(amount, "contract.amount"),
                "currency": currencies.get(str(currency_number), str(currency_number)),
                "audited": status == AUDITED, "adopted": adopted}

    def _currency(self, contract: Contract) -> str:
        currency = self.settings.currency_number.get(contract.amount.currency)
        if currency is None:
            raise MappingError(t(f"币别 {contract.amount.currency} 没有对应的金蝶币别编码",
                                 f"no Kingdee currency number for {contract.amount.currency}"),
                               where="contract.currency",
                               fix=t("在设置 currency_number 中加入该币别", "add it to the currency_number setting"))
        return currency

    def model(self, contract: Contract, supplier: str, reference: str) -> dict[str, Any]:
        """The contract's Save ``Model``: amounts as text with two decimals, dates as ISO dates.

        Raises:
            MappingError: the currency has no Kingdee number.
        """
        s = self.settings
        currency = self._currency(contract)
        notes = "；".join(part for part in (
            f"付款条件：{contract.payment_terms}" if contract.payment_terms else "", contract.description,
            f"OA 审批单 {contract.number}") if part)
        model: dict[str, Any] = {
            "FBillTypeID": {"FNumber": s.contract_bill_type},
            "FDate": contract.signed_on.isoformat(),
            "FBeginDate": contract.start.isoformat(),
            "FEndDate": contract.end.isoformat(),
            "FCONTRACTNAME": contract.name,
            "FSupplierId": {"FNumber": supplier},
            "FISINPUTDETAIL": False,  # a contract by amount, without material lines
            "FContractFin": {"FSettleCurrId": {"FNumber": currency}, "FExchangeRate": "1"},
            s.contract_amount_field: format(contract.amount.amount, _FEN_FORMAT),
            s.contract_note_field: notes,
            s.reference_field: reference,
        }
        if s.contract_org is not None:
            model["FPurchaseOrgId"] = {"FNumber": s.contract_org}
        if contract.contract_number:
            model["FBillNo"] = contract.contract_number
        return model

    async def create(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """``kingdee.contract.create``: save (or adopt) the contract, then submit and audit it."""
        contract = contract_from_json(request_part(request, "contract", CONTRACT_CREATE))
        self._currency(contract)  # a contract that cannot be mapped fails before any call, supplier included
        supplier_number = request.get("supplier_number")
        if supplier_number is not None and (not isinstance(supplier_number, str) or not supplier_number):
            raise MappingError(t("supplier_number 应为非空文本", "supplier_number must be a non-empty text"),
                               where=f"{CONTRACT_CREATE}.supplier_number",
                               fix=t("传入金蝶供应商编码（如 kingdee.party.ensure 的 code），或不传以自动匹配",
                                     "pass the Kingdee supplier number (e.g. the code kingdee.party.ensure "
                                     "returns), or leave it out to match the supplier here"))
        found = await self.bills.find(ctx.reference) if ctx.attempt > 1 else None
        contract_id = found
        if contract_id is None:
            if supplier_number is None:
                supplier_number = (await self.supplier(contract.supplier))["code"]
            contract_id = await self.bills.save(self.model(contract, supplier_number, ctx.reference))
        await self.bills.audit(contract_id, (await self.result(contract_id, adopted=False))["state"])
        return await self.result(contract_id, adopted=found is not None)

    async def read(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """``kingdee.contract.read``: the contract's current state. Read-only."""
        return await self.bills.read(request, lambda contract_id: self.result(contract_id, adopted=False))
