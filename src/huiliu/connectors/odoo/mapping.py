"""Canonical purchase requisitions (采购申请) ⇄ Odoo ``res.partner``, ``product.product``, ``purchase.order``.

The input is the same JSON the Tryton and ERPNext connectors take, so a flow can switch ERPs::

    {"number": "PR-2026-0042", "currency": "CNY", "description": "研发部采购办公椅",
     "supplier": {"name": "上海某某办公家具有限公司", "code": "SUP-001", "tax_id": "91310000…",
                  "address": {"street": "淮海中路 1 号", "city": "上海", "postal_code": "200000"}},
     "lines": [{"item": {"code": "CHAIR-01", "name": "人体工学椅", "unit": "把"},
                "quantity": "4", "unit_price": "1299.00", "description": "黑色 带头枕"}]}

Amounts are strings (or integers) and become ``Decimal``; a float is refused, since it has already lost cents.
It is rebuilt into frozen dataclasses first, so a malformed requisition fails before any call to Odoo.
Building Odoo values is pure: ids found by the actions are passed in.

Odoo's float fields (``product_qty``, ``price_unit``) travel as JSON numbers: a Decimal's text goes through a
float unchanged for any amount a requisition has (at most 15 significant digits), and what Odoo returns is
read back through ``repr`` (:func:`to_money`), so cents survive the round trip.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, Strict, StrictInt, StrictStr, ValidationError

from huiliu.connectors.odoo.settings import OdooSettings
from huiliu.errors import MappingError
from huiliu.i18n import t
from huiliu.model import Money, parse_amount

__all__ = [
    "Address",
    "Item",
    "PurchaseRequisition",
    "RequisitionLine",
    "Supplier",
    "from_odoo_datetime",
    "item_from_json",
    "many2one_id",
    "many2one_name",
    "partner_values",
    "product_values",
    "purchase_values",
    "requisition_from_json",
    "supplier_from_json",
    "text",
    "to_money",
    "to_odoo_datetime",
]

_ODOO_DT = "%Y-%m-%d %H:%M:%S"


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
        """Quantity × unit price, rounded half-up to the currency's minor unit as Odoo rounds it."""
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
            fix=t("请按 huiliu.connectors.odoo.mapping 模块说明中的格式传入",
                  "pass the shape described in huiliu.connectors.odoo.mapping")) from exc


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
    """An Odoo amount (a JSON number) as :class:`Money`, read through its shortest ``repr``.

    Raises:
        MappingError: the value is not an amount; ``where`` names ``field``.
    """
    try:
        return Money(parse_amount(value, field), currency)
    except (ValueError, TypeError) as exc:
        raise MappingError(t(f"Odoo 返回的金额不正确：{exc}", f"Odoo returned a bad amount: {exc}"),
                           where=field, fix=t("检查 Odoo 的币别设置", "check the currency in Odoo")) from exc


def many2one_id(value: Any) -> int | None:
    """The id of a many2one as ``read`` returns it (``[id, "name"]`` or ``false``)."""
    if isinstance(value, list | tuple) and value and isinstance(value[0], int):
        return int(value[0])
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def many2one_name(value: Any) -> str | None:
    """The display name of a many2one as ``read`` returns it."""
    if isinstance(value, list | tuple) and len(value) > 1:
        return str(value[1])
    return None


def text(value: Any) -> str | None:
    """A Char/Text value: Odoo sends ``false`` for empty."""
    return None if value is False or value is None else str(value)


def to_odoo_datetime(value: datetime) -> str:
    """A tz-aware time in Odoo's stored form: UTC ``YYYY-MM-DD HH:MM:SS`` (the second is truncated).

    Raises:
        ValueError: the time is naive (guessing a zone would shift it by hours).
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} cannot be sent to Odoo")
    return value.astimezone(UTC).strftime(_ODOO_DT)


def from_odoo_datetime(value: Any) -> datetime | None:
    """An Odoo datetime string (UTC, no zone) as a tz-aware datetime; ``false`` → ``None``."""
    if not isinstance(value, str) or not value:
        return None
    return datetime.strptime(value[:19], _ODOO_DT).replace(tzinfo=UTC)


def partner_values(supplier: Supplier) -> dict[str, Any]:
    """Values to create the supplier as a company ``res.partner`` with ``supplier_rank`` 1."""
    address = supplier.address or Address()
    values: dict[str, Any] = {"name": supplier.name, "is_company": True, "supplier_rank": 1}
    for key, value in (("ref", supplier.code), ("vat", supplier.tax_id), ("street", address.street),
                       ("city", address.city), ("zip", address.postal_code)):
        if value:
            values[key] = value
    return values


def product_values(item: Item, uom: int, settings: OdooSettings) -> dict[str, Any]:
    """Values to create the item as a purchasable ``product.product`` (its template is made with it)."""
    values: dict[str, Any] = {"name": item.name, "type": settings.product_type, "purchase_ok": True,
                              "uom_id": uom, "uom_po_id": uom}
    if item.code:
        values["default_code"] = item.code
    return values


def purchase_values(requisition: PurchaseRequisition, reference: str, *, partner: int,
                    products: Mapping[int, int], units: Mapping[int, int], currency: int,
                    settings: OdooSettings) -> dict[str, Any]:
    """Values to create the ``purchase.order`` with its lines in one call (one transaction).

    Args:
        requisition: the requisition.
        reference: the hub's reference, stored in ``settings.reference_field`` and searched before a retry.
        partner: the supplier's ``res.partner`` id.
        products: line index → ``product.product`` id.
        units: line index → ``uom.uom`` id.
        currency: the ``res.currency`` id of the requisition's currency.
        settings: the line unit field and the reference field.
    """
    lines = []
    for index, line in enumerate(requisition.lines):
        lines.append([0, 0, {
            "product_id": products[index], settings.line_uom_field: units[index],
            "product_qty": float(line.quantity), "price_unit": float(line.unit_price),
            "name": line.description or line.item.name,
        }])
    values: dict[str, Any] = {"partner_id": partner, "currency_id": currency, "order_line": lines}
    if requisition.description:
        values["notes"] = requisition.description
    values[settings.reference_field] = reference
    return values
