"""Canonical purchase requisitions (采购申请) ⇄ Tryton ``party.party``, ``product.template``, ``purchase.purchase``.

The input is the JSON a flow builds from an approved OA requisition::

    {"number": "PR-2026-0042", "currency": "CNY", "description": "研发部采购办公椅",
     "supplier": {"name": "上海某某办公家具有限公司", "code": "SUP-001", "tax_id": "91310000…",
                  "address": {"street": "淮海中路 1 号", "city": "上海", "postal_code": "200000"}},
     "lines": [{"item": {"code": "CHAIR-01", "name": "人体工学椅", "unit": "把"},
                "quantity": "4", "unit_price": "1299.00", "description": "黑色 带头枕"}]}

Amounts are strings (or integers) and become ``Decimal``; a float is refused, since it has already lost cents.
It is rebuilt into the frozen dataclasses below first, so a malformed requisition fails before any call to
Tryton. Building Tryton values is pure: ids found by the actions are passed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, Strict, StrictInt, StrictStr, ValidationError

from huiliu.connectors.tryton.settings import TrytonSettings
from huiliu.errors import MappingError
from huiliu.i18n import t
from huiliu.model import Money, parse_amount

__all__ = [
    "Address",
    "Item",
    "PurchaseRequisition",
    "RequisitionLine",
    "Supplier",
    "item_from_json",
    "party_values",
    "product_values",
    "purchase_values",
    "requisition_from_json",
    "supplier_from_json",
    "to_money",
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
    """One line: an item, a quantity and a unit price (untaxed, all its digits kept: Tryton has 4)."""

    item: Item
    quantity: Decimal
    unit_price: Decimal
    currency: str = "CNY"
    description: str = ""

    @property
    def amount(self) -> Money:
        """Quantity × unit price, rounded half-up to the currency's minor unit as Tryton rounds it."""
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
            fix=t("请按 huiliu.connectors.tryton.mapping 模块说明中的格式传入",
                  "pass the shape described in huiliu.connectors.tryton.mapping")) from exc


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
    """A Tryton amount (already a ``Decimal`` after decoding) as :class:`Money`.

    Raises:
        MappingError: the value is not an amount; ``where`` names ``field``.
    """
    try:
        return Money(parse_amount(value, field), currency)
    except (ValueError, TypeError) as exc:
        raise MappingError(t(f"Tryton 返回的金额不正确：{exc}", f"Tryton returned a bad amount: {exc}"),
                           where=field, fix=t("检查 Tryton 的币别设置", "check the currency in Tryton")) from exc


def party_values(supplier: Supplier, settings: TrytonSettings) -> dict[str, Any]:
    """Values to create the supplier as a ``party.party``, with its address and tax identifier.

    The address is always created (possibly empty), since a purchase order needs an invoice address and raw
    JSON-RPC runs no ``on_change`` to add one (contract §8.5).
    """
    address = supplier.address or Address()
    values: dict[str, Any] = {
        "name": supplier.name,
        "addresses": [["create", [{"street": address.street, "city": address.city,
                                   "postal_code": address.postal_code}]]],
    }
    if supplier.code:
        values["code"] = supplier.code
    if supplier.tax_id:
        identifier: dict[str, Any] = {"code": supplier.tax_id}
        if settings.tax_identifier_type:
            identifier["type"] = settings.tax_identifier_type
        values["identifiers"] = [["create", [identifier]]]
    if settings.payment_term is not None:
        values["supplier_payment_term"] = settings.payment_term
    return values


def product_values(item: Item, uom: int, settings: TrytonSettings) -> dict[str, Any]:
    """Values to create the item as a goods ``product.template`` with one variant.

    Raises:
        MappingError: ``settings.account_category`` is not set (Tryton cannot quote without it).
    """
    if settings.account_category is None:
        raise MappingError(
            t(f"无法在 Tryton 中新建物料 {item.name}：未配置 account_category",
              f"cannot create item {item.name} in Tryton: account_category is not set"),
            where="tryton.account_category",
            fix=t("在设置中填写带费用科目的产品分类 id（product.category）",
                  "set account_category to the id of a product.category with an expense account"))
    values: dict[str, Any] = {
        "name": item.name, "type": "goods", "default_uom": uom, "purchase_uom": uom, "purchasable": True,
        "list_price": Decimal(0), "account_category": settings.account_category,
        "products": [["create", [{}]]],
    }
    if item.code:
        values["code"] = item.code  # the variant's code is the template's code plus an empty suffix
    return values


def purchase_values(requisition: PurchaseRequisition, reference: str, *, party: int, invoice_address: int,
                    products: Mapping[int, int], units: Mapping[int, int], currency: int,
                    settings: TrytonSettings) -> dict[str, Any]:
    """Values to create the ``purchase.purchase`` with its lines in one call.

    Args:
        requisition: the requisition.
        reference: the hub's reference, stored in ``settings.reference_field`` and searched before a retry.
        party: the supplier's party id.
        invoice_address: one of that party's addresses.
        products: line index → ``product.product`` id.
        units: line index → ``product.uom`` id.
        currency: the ``currency.currency`` id of the requisition's currency.
        settings: invoice method and payment term.
    """
    lines = []
    for index, line in enumerate(requisition.lines):
        lines.append({
            "type": "line", "product": products[index], "unit": units[index],
            # quantity is a Float field in Tryton; the Decimal's exact text goes through float unchanged for
            # any quantity a requisition has (at most 15 significant digits).
            "quantity": float(line.quantity),
            "unit_price": line.unit_price,
            "description": line.description or line.item.name,
        })
    values: dict[str, Any] = {
        "party": party, "invoice_address": invoice_address, "currency": currency,
        "description": requisition.description or requisition.number,
        "invoice_method": settings.invoice_method.value,
        "lines": [["create", lines]],
    }
    values[settings.reference_field] = reference  # last: it wins when the reference field is "description"
    if settings.payment_term is not None:
        values["payment_term"] = settings.payment_term
    return values
