"""Canonical requisitions (采购申请) and vouchers (凭证) ⇄ SAP partners, products, purchase orders, journal entries.

The input shapes are those of the Tryton connector (requisitions) and of :class:`huiliu.model.Voucher`
(vouchers), described in :mod:`huiliu.connectors.yonyou.mapping` as well, so a flow can switch ERPs. Both are
rebuilt into frozen dataclasses first, so a malformed requisition or an unbalanced voucher fails before any
call. Building SAP bodies is pure. OData V2 ``Edm.Decimal`` values travel as strings, which keeps every digit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, Strict, StrictInt, StrictStr, ValidationError

from huiliu.connectors.sap.settings import SapSettings
from huiliu.errors import MappingError
from huiliu.i18n import t
from huiliu.model import Direction, Money, Voucher, VoucherLine, parse_amount

__all__ = [
    "Address",
    "Item",
    "PurchaseRequisition",
    "RequisitionLine",
    "Supplier",
    "item_from_json",
    "journal_entry_values",
    "partner_values",
    "product_values",
    "purchase_order_values",
    "requisition_from_json",
    "short_reference",
    "supplier_from_json",
    "to_money",
    "voucher_from_json",
]

_FEN = Decimal("0.01")

@dataclass(frozen=True, slots=True)
class Address:
    """A supplier's address; every part is optional."""

    street: str = ""
    city: str = ""
    postal_code: str = ""


@dataclass(frozen=True, slots=True)
class Supplier:
    """A supplier (供应商) as the OA names it."""

    name: str
    code: str | None = None
    tax_id: str | None = None
    address: Address | None = None


@dataclass(frozen=True, slots=True)
class Item:
    """An item (物料) as the OA names it; ``unit`` is the OA's unit name, e.g. ``个``."""

    name: str
    code: str | None = None
    unit: str | None = None


@dataclass(frozen=True, slots=True)
class RequisitionLine:
    """One line: an item, a quantity and an untaxed unit price."""

    item: Item
    quantity: Decimal
    unit_price: Decimal
    currency: str = "CNY"
    description: str = ""

    @property
    def amount(self) -> Money:
        """Quantity × unit price, rounded half-up to the currency's minor unit."""
        return Money(self.quantity * self.unit_price, self.currency)


@dataclass(frozen=True, slots=True)
class PurchaseRequisition:
    """An approved purchase requisition (采购申请): one supplier, one currency, at least one line."""

    number: str
    supplier: Supplier
    currency: str
    lines: tuple[RequisitionLine, ...]
    description: str = ""

    @property
    def total(self) -> Money:
        """The sum of the lines' amounts (untaxed)."""
        total = Money.zero(self.currency)
        for line in self.lines:
            total = total + line.amount
        return total


_M = TypeVar("_M", bound=BaseModel)
_Amount = StrictStr | StrictInt | Annotated[Decimal, Strict()]
"""Amounts as text, integers or Decimals; strict, so a float (which already lost cents) is refused."""


class _AddressIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    street: str = ""
    city: str = ""
    postal_code: str = ""


class _SupplierIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    code: str | None = Field(None, min_length=1)
    tax_id: str | None = Field(None, min_length=1)
    address: _AddressIn | None = None


class _ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    code: str | None = Field(None, min_length=1)
    unit: str | None = Field(None, min_length=1)


class _LineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item: _ItemIn
    quantity: _Amount
    unit_price: _Amount
    description: str = ""


class _RequisitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: str = Field(min_length=1)
    supplier: _SupplierIn
    currency: str = "CNY"
    description: str = ""
    lines: list[_LineIn] = Field(min_length=1)


class _MoneyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: _Amount
    currency: str = "CNY"


class _VoucherLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    summary: str
    account: str = Field(min_length=1)
    direction: Direction
    amount: _MoneyIn
    aux: list[tuple[str, str]] = Field(default_factory=list)


class _VoucherIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reference: str
    book: str
    date: date
    group: str = Field(min_length=1)
    currency: str
    lines: list[_VoucherLineIn]


def _validate(model: type[_M], data: Any, root: str) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(str(p) for p in (root, *first["loc"]))
        raise MappingError(
            t(f"{root} 数据格式不正确：{first['msg']}（共 {exc.error_count()} 处）",
              f"malformed {root}: {first['msg']} ({exc.error_count()} problem(s))"),
            where=path,
            fix=t(f"请按 {__name__} 模块说明中的格式传入", f"pass the shape described in {__name__}")) from exc


def _supplier(parsed: _SupplierIn) -> Supplier:
    address = None
    if parsed.address is not None:
        address = Address(parsed.address.street, parsed.address.city, parsed.address.postal_code)
    return Supplier(parsed.name.strip(), parsed.code, parsed.tax_id, address)


def _item(parsed: _ItemIn) -> Item:
    return Item(parsed.name.strip(), parsed.code, parsed.unit)


def supplier_from_json(data: Any) -> Supplier:
    """Rebuild a :class:`Supplier`; raises :class:`MappingError` with the field path."""
    return _supplier(_validate(_SupplierIn, data, "supplier"))


def item_from_json(data: Any) -> Item:
    """Rebuild an :class:`Item`; raises :class:`MappingError` with the field path."""
    return _item(_validate(_ItemIn, data, "item"))


def requisition_from_json(data: Any) -> PurchaseRequisition:
    """Rebuild a :class:`PurchaseRequisition` from its JSON form.

    Raises:
        MappingError: a field is missing or malformed, a quantity is not positive, a price is negative or a
            float; ``where`` is the field path, e.g. ``requisition.lines.1.unit_price``.
    """
    parsed = _validate(_RequisitionIn, data, "requisition")
    currency = parsed.currency.strip().upper()
    lines = []
    for index, line in enumerate(parsed.lines):
        where = f"requisition.lines.{index}"
        try:
            quantity = parse_amount(line.quantity, f"{where}.quantity")
            price = parse_amount(line.unit_price, f"{where}.unit_price")
            Money.zero(currency)  # checks the currency code
        except (ValueError, TypeError) as exc:
            raise MappingError(t(f"采购申请行不正确：{exc}", f"bad requisition line: {exc}"), where=where,
                               fix=t("数量与单价应为数字字符串，币别为 ISO 4217 代码",
                                     "quantity and unit price must be numeric strings, the currency an ISO 4217 "
                                     "code")) from exc
        if quantity <= 0:
            raise MappingError(t(f"数量必须大于 0，实际为 {quantity}", f"quantity must be positive, got {quantity}"),
                               where=f"{where}.quantity", fix=t("检查 OA 表单中的数量", "check the OA form's quantity"))
        if price < 0:
            raise MappingError(t(f"单价不能为负数，实际为 {price}", f"the unit price cannot be negative, got {price}"),
                               where=f"{where}.unit_price", fix=t("检查 OA 表单中的单价", "check the OA form's price"))
        lines.append(RequisitionLine(_item(line.item), quantity, price, currency, line.description))
    return PurchaseRequisition(parsed.number, _supplier(parsed.supplier), currency, tuple(lines),
                               parsed.description)


def voucher_from_json(data: Any) -> Voucher:
    """Rebuild a :class:`Voucher` from its JSON form; building it checks the balance.

    Raises:
        MappingError: a field is missing or malformed; ``where`` is the field path.
        UnbalancedVoucher: debit and credit totals differ, or fewer than two lines.
    """
    parsed = _validate(_VoucherIn, data, "voucher")
    lines = []
    for index, line in enumerate(parsed.lines):
        where = f"voucher.lines.{index}"
        try:
            amount = Money(parse_amount(line.amount.amount, f"{where}.amount"), line.amount.currency)
            lines.append(VoucherLine(line.summary, line.account, line.direction, amount, tuple(line.aux)))
        except (ValueError, TypeError) as exc:
            raise MappingError(t(f"凭证分录不正确：{exc}", f"bad voucher line: {exc}"), where=where,
                               fix=t("金额须为正数，币别为 ISO 4217 代码",
                                     "amounts must be positive, currencies ISO 4217 codes")) from exc
    try:
        return Voucher(parsed.reference, parsed.book, parsed.date, parsed.group, parsed.currency, tuple(lines))
    except ValueError as exc:  # mixed currencies inside Money arithmetic
        raise MappingError(t(f"凭证不正确：{exc}", f"bad voucher: {exc}"), where="voucher.lines",
                           fix=t("一张凭证只能使用一种币别", "use one currency per voucher")) from exc


def to_money(value: Any, currency: str, field: str) -> Money:
    """A vendor amount (string or number) as :class:`Money`; raises :class:`MappingError` naming ``field``."""
    try:
        return Money(parse_amount(value, field), currency)
    except (ValueError, TypeError) as exc:
        raise MappingError(t(f"SAP 返回的金额不正确：{exc}", f"SAP returned a bad amount: {exc}"),
                           where=field, fix=t("检查 SAP 的币别与小数位设置", "check currency decimals in SAP")
                           ) from exc


def _text(amount: Decimal, quantum: Decimal = _FEN) -> str:
    return format(amount.quantize(quantum, rounding=ROUND_HALF_UP), "f")


def short_reference(reference: str, length: int) -> str:
    """The hub's reference as it fits a short SAP field.

    Itself when it is ``length`` ASCII characters or fewer, else ``H`` + upper-case hex of its SHA-256
    (``length`` in all). The same reference always gives the same value, so the lookup before a retry finds
    what the first attempt stored.
    """
    if len(reference) <= length and reference.isascii():
        return reference
    return "H" + hashlib.sha256(reference.encode()).hexdigest()[: length - 1].upper()


def partner_values(supplier: Supplier, code: str, settings: SapSettings) -> dict[str, Any]:
    """A business partner (organisation, category 2) with the supplier role; role and grouping unconfirmed."""
    values: dict[str, Any] = {
        "BusinessPartnerCategory": "2", "BusinessPartnerGrouping": settings.partner_grouping,
        settings.supplier_name_field: supplier.name[:40], settings.supplier_code_field: code[:20],
        "to_BusinessPartnerRole": {"results": [{"BusinessPartnerRole": "FLVN01"}]},
    }
    if supplier.tax_id:
        values[settings.supplier_tax_field] = supplier.tax_id
    if supplier.address is not None:
        values["to_BusinessPartnerAddress"] = {"results": [{
            "Country": "CN", "CityName": supplier.address.city, "StreetName": supplier.address.street,
            "PostalCode": supplier.address.postal_code, "Language": settings.language}]}
    return values


def product_values(item: Item, code: str, unit: str, settings: SapSettings) -> dict[str, Any]:
    """A product (material) with one description in ``settings.language``."""
    return {"Product": code, "ProductType": settings.product_type, "BaseUnit": unit,
            "to_Description": {"results": [{"Product": code, "Language": settings.language,
                                            "ProductDescription": item.name[:40]}]}}


def purchase_order_values(requisition: PurchaseRequisition, reference: str, *, supplier: str,
                          materials: Mapping[int, str], units: Mapping[int, str],
                          settings: SapSettings) -> dict[str, Any]:
    """The deep insert of ``A_PurchaseOrder`` with its items (contract §8, [T]).

    The reference goes into ``settings.reference_field`` through :func:`short_reference`. Net prices are per
    one unit (``NetPriceQuantity`` 1) and untaxed; tax comes from ``settings.tax_code`` in SAP's pricing.
    """
    items = []
    for index, line in enumerate(requisition.lines):
        items.append({
            "PurchaseOrderItem": str(10 * (index + 1)), "Material": materials[index], "Plant": settings.plant,
            "OrderQuantity": format(line.quantity, "f"), "PurchaseOrderQuantityUnit": units[index],
            "NetPriceAmount": format(line.unit_price, "f"), "NetPriceQuantity": "1",
            "DocumentCurrency": requisition.currency, "TaxCode": settings.tax_code,
            "PurchaseOrderItemText": (line.description or line.item.name)[:40],
        })
    return {
        "CompanyCode": settings.company_code, "PurchasingOrganization": settings.purchasing_org,
        "PurchasingGroup": settings.purchasing_group, "Supplier": supplier,
        "PurchaseOrderType": settings.order_type, "DocumentCurrency": requisition.currency,
        "Language": settings.language,
        settings.reference_field: short_reference(reference, settings.reference_length),
        settings.purchase_items: {"results": items},
    }


def journal_entry_values(voucher: Voucher, reference: str, settings: SapSettings) -> dict[str, Any]:
    """A journal entry with the fields of SOAP ``JournalEntryBulkCreateRequest`` (contract §8, [D] for SOAP).

    Credit amounts are negative, debit positive, with ``DebitCreditCode`` ``S`` (Soll) or ``H`` (Haben), as
    SAP stores them; the entry sums to zero. The reference goes into ``settings.journal_reference_field``.
    """
    items = []
    for index, line in enumerate(voucher.lines):
        debit = line.direction is Direction.DEBIT
        amount = line.amount.amount.quantize(_FEN, rounding=ROUND_HALF_UP)
        item: dict[str, Any] = {
            "ReferenceDocumentItem": str(index + 1), "GLAccount": line.account,
            "AmountInTransactionCurrency": format(amount if debit else -amount, "f"),
            "TransactionCurrency": voucher.currency, "DebitCreditCode": "S" if debit else "H",
            "DocumentItemText": line.summary[:50],
        }
        for name, value in line.aux:
            item[{"department": "CostCenter", "cost_center": "CostCenter", "profit_center": "ProfitCenter",
                  "employee": "PersonnelNumber"}.get(name, name)] = value
        items.append(item)
    return {
        "CompanyCode": settings.company_code, "AccountingDocumentType": settings.document_type,
        "DocumentDate": voucher.date.isoformat(), "PostingDate": voucher.date.isoformat(),
        settings.journal_reference_field: short_reference(reference, settings.journal_reference_length),
        "DocumentHeaderText": f"{voucher.group} {voucher.reference}"[:25],
        "to_Item": {"results": items},
    }


