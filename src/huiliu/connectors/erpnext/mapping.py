"""Canonical purchase requisitions (采购申请) ⇄ ERPNext ``Supplier``, ``Item``, ``Purchase Order``.

The input is the same JSON the Tryton and Odoo connectors take, so a flow can switch ERPs::

    {"number": "PR-2026-0042", "currency": "CNY", "description": "研发部采购办公椅",
     "supplier": {"name": "上海某某办公家具有限公司", "code": "SUP-001", "tax_id": "91310000…",
                  "address": {"street": "淮海中路 1 号", "city": "上海", "postal_code": "200000"}},
     "lines": [{"item": {"code": "CHAIR-01", "name": "人体工学椅", "unit": "把"},
                "quantity": "4", "unit_price": "1299.00", "description": "黑色 带头枕"}]}

Amounts are strings (or integers) and become ``Decimal``; a float is refused, since it has already lost cents.
It is rebuilt into frozen dataclasses first, so a malformed requisition fails before any call to ERPNext.
Building documents is pure: names found by the actions are passed in.

Frappe's Float and Currency fields (``qty``, ``rate``, ``grand_total``) travel as JSON numbers: a Decimal's text
goes through a float unchanged for any amount a requisition has (at most 15 significant digits), and what
ERPNext returns is read back through ``repr`` (:func:`to_money`), so cents survive the round trip. Dates and
``modified`` are in the site's time zone without an offset.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, Strict, StrictInt, StrictStr, ValidationError

from huiliu.connectors.erpnext.settings import ErpnextSettings
from huiliu.errors import MappingError
from huiliu.i18n import t
from huiliu.model import Money, parse_amount

__all__ = [
    "Address",
    "Item",
    "PurchaseRequisition",
    "RequisitionLine",
    "Supplier",
    "from_site_time",
    "item_from_json",
    "item_values",
    "purchase_values",
    "requisition_from_json",
    "supplier_from_json",
    "supplier_values",
    "to_money",
    "to_site_time",
]


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
    """One line: an item, a quantity and a unit price (untaxed)."""

    item: Item
    quantity: Decimal
    unit_price: Decimal
    currency: str = "CNY"
    description: str = ""

    @property
    def amount(self) -> Money:
        """Quantity × unit price, rounded half-up to the currency's minor unit as ERPNext rounds it."""
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
            fix=t("请按 huiliu.connectors.erpnext.mapping 模块说明中的格式传入",
                  "pass the shape described in huiliu.connectors.erpnext.mapping")) from exc


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
        MappingError: a field is missing or malformed, a quantity is not positive, a price is negative or
            a float; ``where`` is the field path, e.g. ``requisition.lines.1.unit_price``.
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


def to_money(value: Any, currency: str, field: str) -> Money:
    """An ERPNext amount (a JSON number) as :class:`Money`, read through its shortest ``repr``.

    Raises:
        MappingError: the value is not an amount; ``where`` names ``field``.
    """
    try:
        return Money(parse_amount(value if value is not None else 0, field), currency)
    except (ValueError, TypeError) as exc:
        raise MappingError(t(f"ERPNext 返回的金额不正确：{exc}", f"ERPNext returned a bad amount: {exc}"),
                           where=field, fix=t("检查 ERPNext 的币别设置", "check the currency in ERPNext")) from exc


def to_site_time(value: datetime, zone: ZoneInfo) -> str:
    """A tz-aware time as Frappe stores it: site-local ``YYYY-MM-DD HH:MM:SS.ffffff`` without an offset.

    Raises:
        ValueError: the time is naive (guessing a zone would shift it by hours).
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} cannot be sent to ERPNext")
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S.%f")


def from_site_time(value: Any, zone: ZoneInfo) -> datetime | None:
    """A Frappe datetime (site-local, no offset) as a tz-aware datetime; empty → ``None``."""
    if not isinstance(value, str) or not value:
        return None
    return datetime.fromisoformat(value).replace(tzinfo=zone)


def supplier_values(supplier: Supplier, settings: ErpnextSettings) -> dict[str, Any]:
    """A new ``Supplier`` (named by its supplier name on a default site): group, tax id, code field."""
    values: dict[str, Any] = {"supplier_name": supplier.name, "supplier_group": settings.supplier_group,
                              "supplier_type": "Company"}
    if supplier.tax_id:
        values["tax_id"] = supplier.tax_id
    if supplier.code and settings.supplier_code_field:
        values[settings.supplier_code_field] = supplier.code
    return values


def item_values(item: Item, uom: str, settings: ErpnextSettings) -> dict[str, Any]:
    """A new purchasable ``Item``; its ``item_code`` (and name) is the OA code, or the item's name without one."""
    return {"item_code": item.code or item.name, "item_name": item.name, "item_group": settings.item_group,
            "stock_uom": uom, "is_stock_item": 1 if settings.stock_items else 0, "is_purchase_item": 1,
            "description": item.name}


def purchase_values(requisition: PurchaseRequisition, reference: str, *, supplier: str, items: Mapping[int, str],
                    units: Mapping[int, str], today: date, settings: ErpnextSettings) -> dict[str, Any]:
    """A new ``Purchase Order`` with its items, in one insert (one transaction).

    Args:
        requisition: the requisition.
        reference: the hub's reference, stored in ``settings.reference_field`` and searched before a retry.
        supplier: the ``Supplier`` name.
        items: line index → ``Item`` name.
        units: line index → ``UOM`` name.
        today: the site's date: ``transaction_date``; ``schedule_date`` is ``schedule_days`` later.
        settings: company, reference field, schedule.
    """
    schedule = (today + timedelta(days=settings.schedule_days)).isoformat()
    values: dict[str, Any] = {
        "supplier": supplier, "transaction_date": today.isoformat(), "schedule_date": schedule,
        "currency": requisition.currency,
        "items": [{"item_code": items[index], "qty": float(line.quantity), "rate": float(line.unit_price),
                   "uom": units[index], "conversion_factor": 1, "schedule_date": schedule,
                   "description": line.description or line.item.name}
                  for index, line in enumerate(requisition.lines)],
    }
    if requisition.description:
        values["remarks"] = requisition.description
    if settings.company:
        values["company"] = settings.company
    values[settings.reference_field] = reference
    return values
