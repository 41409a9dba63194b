"""Purchase requisitions (采购申请), payments, contracts and vouchers as flows hand them to an ERP, parsed once.

A flow builds this JSON from an approved OA requisition; every ERP connector (Tryton, Odoo, ERPNext,
Yonyou, SAP …) takes the same shape, so a flow can change ERPs by changing the action's prefix::

    {"number": "PR-2026-0042", "currency": "CNY", "description": "研发部采购办公椅",
     "supplier": {"name": "上海某某办公家具有限公司", "code": "SUP-001", "tax_id": "91310000…",
                  "address": {"street": "淮海中路 1 号", "city": "上海", "postal_code": "200000"}},
     "lines": [{"item": {"code": "CHAIR-01", "name": "人体工学椅", "unit": "把"},
                "quantity": "4", "unit_price": "1299.00", "description": "黑色 带头枕"}]}

Amounts are strings, integers or ``Decimal`` and stay ``Decimal``; a float is refused, since it has
already lost cents. Parsing rebuilds the frozen dataclasses below, so a malformed requisition fails with
the field's path before any call to an ERP. ``voucher_from_json`` does the same for a voucher (凭证) a
flow built (:class:`~huiliu.model.Voucher` checks the balance), ``payment_from_json`` for a payment request
(付款申请) and ``contract_from_json`` for a purchase contract (采购合同).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, Strict, StrictInt, StrictStr, ValidationError

from huiliu.errors import MappingError
from huiliu.i18n import t
from huiliu.model.documents import Direction, Voucher, VoucherLine
from huiliu.model.money import Money, parse_amount

__all__ = [
    "Address",
    "Contract",
    "Item",
    "PaymentRequest",
    "Project",
    "PurchaseRequisition",
    "RequisitionLine",
    "Supplier",
    "contract_from_json",
    "erp_amount",
    "item_from_json",
    "payment_from_json",
    "project_from_json",
    "requisition_from_json",
    "supplier_from_json",
    "voucher_from_json",
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
    """One line: an item, a quantity and a unit price (untaxed, every digit kept; the ERP rounds the amount)."""

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


class _PaymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: str = Field(min_length=1)
    supplier: _SupplierIn
    amount: _Amount
    currency: str = "CNY"
    date: date
    description: str = ""
    invoice_number: str | None = Field(None, min_length=1)
    purchase_order: str | None = Field(None, min_length=1)
    bank_account: str | None = Field(None, min_length=1)
    project: str | None = Field(None, min_length=1)


class _ContractIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: str = Field(min_length=1)
    name: str = Field(min_length=1)
    contract_number: str | None = Field(None, min_length=1)
    supplier: _SupplierIn
    amount: _Amount
    currency: str = "CNY"
    signed_on: date
    start: date
    end: date
    payment_terms: str = ""
    description: str = ""


class _ProjectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1)
    name: str = Field(min_length=1)
    manager: str | None = Field(None, min_length=1)
    department: str | None = Field(None, min_length=1)
    budget: _Amount | None = None
    currency: str = "CNY"
    start: date | None = None
    end: date | None = None


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
            fix=t("请按 huiliu.model.purchasing 模块说明中的格式传入",
                  "pass the shape described in huiliu.model.purchasing")) from exc


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


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    """An approved payment request (付款申请): pay a supplier, possibly against an invoice or an order.

    Attributes:
        number: the OA's document number (the hub's reference goes with it to the ERP).
        supplier: whom to pay.
        amount: how much, in ``amount.currency``.
        date: the payment date wanted (the ERP's posting date).
        description: 付款事由.
        invoice_number: the supplier invoice paid, when the OA names one.
        purchase_order: the ERP purchase order it pays, when known.
        bank_account: the company's paying account, when the OA names it.
        project: the project the cost belongs to, when any.
    """

    number: str
    supplier: Supplier
    amount: Money
    date: date
    description: str = ""
    invoice_number: str | None = None
    purchase_order: str | None = None
    bank_account: str | None = None
    project: str | None = None


@dataclass(frozen=True, slots=True)
class Project:
    """A project (项目) the ERP books costs against: its code is the key OA, ERP and budgets share."""

    code: str
    name: str
    manager: str | None = None
    department: str | None = None
    budget: Money | None = None
    start: date | None = None
    end: date | None = None


def payment_from_json(data: Any) -> PaymentRequest:
    """Rebuild a :class:`PaymentRequest` from its JSON form.

    The shape::

        {"number": "FK-2026-0007", "supplier": {"name": "…", "code": "GYS001"}, "amount": "12800.00",
         "currency": "CNY", "date": "2026-11-26", "description": "支付货款", "invoice_number": "INV-88",
         "purchase_order": "PO-0042", "bank_account": "6222…", "project": "P-2026-01"}

    Raises:
        MappingError: a field is missing or malformed, the amount is not positive or is a float; ``where`` is
            the field path.
    """
    parsed = _validate(_PaymentIn, data, "payment")
    try:
        amount = Money(parse_amount(parsed.amount, "payment.amount"), parsed.currency.strip().upper())
    except (ValueError, TypeError) as exc:
        raise MappingError(t(f"付款金额不正确：{exc}", f"bad payment amount: {exc}"), where="payment.amount",
                           fix=t("金额为数字字符串，币别为 ISO 4217 代码",
                                 "the amount is a numeric string, the currency an ISO 4217 code")) from exc
    if amount.amount <= 0:
        raise MappingError(t(f"付款金额必须大于 0，实际为 {amount.amount}", f"the payment amount must be positive, "
                             f"got {amount.amount}"), where="payment.amount",
                           fix=t("检查 OA 付款申请中的金额", "check the amount in the OA payment request"))
    return PaymentRequest(parsed.number, _supplier(parsed.supplier), amount, parsed.date, parsed.description,
                          parsed.invoice_number, parsed.purchase_order, parsed.bank_account, parsed.project)


@dataclass(frozen=True, slots=True)
class Contract:
    """An approved purchase contract (采购合同) with one supplier.

    Attributes:
        number: the OA's document number (the hub's reference goes with it to the ERP).
        name: 合同名称.
        supplier: the other party; its 统一社会信用代码 (``tax_id``) is the key that finds it in the ERP.
        amount: 合同金额, in ``amount.currency``.
        signed_on: 签订日期.
        start: 开始日期.
        end: 结束日期, not before ``start``.
        contract_number: 合同编号 when the company numbers contracts itself; ``None`` lets the ERP number it.
        payment_terms: 付款条件, free text.
        description: anything else worth keeping on the ERP contract.
    """

    number: str
    name: str
    supplier: Supplier
    amount: Money
    signed_on: date
    start: date
    end: date
    contract_number: str | None = None
    payment_terms: str = ""
    description: str = ""


def contract_from_json(data: Any) -> Contract:
    """Rebuild a :class:`Contract` from its JSON form.

    The shape::

        {"number": "HT-SP-0007", "name": "2027 年度办公家具采购合同", "contract_number": "CG-2026-031",
         "supplier": {"name": "杭州绿源办公家具有限公司", "tax_id": "91330100MA2H3C7L5P"},
         "amount": "286000.50", "currency": "CNY", "signed_on": "2026-11-26", "start": "2027-01-01",
         "end": "2027-12-31", "payment_terms": "验收后 30 天内付清", "description": "…"}

    Raises:
        MappingError: a field is missing or malformed, the amount is not positive or is a float, the contract
            ends before it starts; ``where`` is the field path.
    """
    parsed = _validate(_ContractIn, data, "contract")
    try:
        exact = parse_amount(parsed.amount, "contract.amount")
        amount = Money(exact, parsed.currency.strip().upper())
    except (ValueError, TypeError) as exc:
        raise MappingError(t(f"合同金额不正确：{exc}", f"bad contract amount: {exc}"), where="contract.amount",
                           fix=t("金额为数字字符串，币别为 ISO 4217 代码",
                                 "the amount is a numeric string, the currency an ISO 4217 code")) from exc
    if amount.amount <= 0:
        raise MappingError(t(f"合同金额必须大于 0，实际为 {amount.amount}",
                             f"the contract amount must be positive, got {amount.amount}"), where="contract.amount",
                           fix=t("检查 OA 合同审批中的金额", "check the amount in the OA contract approval"))
    if amount.amount != exact:  # never round a contract's amount silently
        raise MappingError(t(f"合同金额 {exact} 超出币种的最小单位", f"the contract amount {exact} is finer than the "
                             "currency's minor unit"), where="contract.amount",
                           fix=t("金额精确到分", "give the amount to the fen (cent)"))
    if parsed.end < parsed.start:
        raise MappingError(t(f"合同结束日期 {parsed.end} 早于开始日期 {parsed.start}",
                             f"the contract ends ({parsed.end}) before it starts ({parsed.start})"),
                           where="contract.end", fix=t("检查合同的起止日期", "check the contract's dates"))
    return Contract(parsed.number, parsed.name.strip(), _supplier(parsed.supplier), amount, parsed.signed_on,
                    parsed.start, parsed.end, parsed.contract_number, parsed.payment_terms.strip(),
                    parsed.description.strip())


def project_from_json(data: Any) -> Project:
    """Rebuild a :class:`Project`: ``{"code", "name", "manager"?, "department"?, "budget"?, "currency"?,
    "start"?, "end"?}``.

    Raises:
        MappingError: a field is missing or malformed, a negative or float budget, an end before the start.
    """  # noqa: D205
    parsed = _validate(_ProjectIn, data, "project")
    budget = None
    if parsed.budget is not None:
        try:
            budget = Money(parse_amount(parsed.budget, "project.budget"), parsed.currency.strip().upper())
        except (ValueError, TypeError) as exc:
            raise MappingError(t(f"项目预算不正确：{exc}", f"bad project budget: {exc}"), where="project.budget",
                               fix=t("预算为数字字符串", "the budget is a numeric string")) from exc
        if budget.amount < 0:
            raise MappingError(t("项目预算不能为负数", "a project budget cannot be negative"), where="project.budget",
                               fix=t("检查预算", "check the budget"))
    if parsed.start and parsed.end and parsed.end < parsed.start:
        raise MappingError(t("项目结束日期早于开始日期", "the project ends before it starts"), where="project.end",
                           fix=t("检查项目起止日期", "check the project's dates"))
    return Project(parsed.code.strip(), parsed.name.strip(), parsed.manager, parsed.department, budget,
                   parsed.start, parsed.end)


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


def erp_amount(value: Any, currency: str, field: str, erp: tuple[str, str]) -> Money:
    """An amount an ERP returned (text, number or ``Decimal``) as :class:`Money`.

    Args:
        value: the ERP's value.
        currency: its currency code.
        field: the field, for ``where``.
        erp: the ERP's name in Chinese and English, for the message.

    Raises:
        MappingError: the value is not an amount.
    """
    try:
        return Money(parse_amount(value, field), currency)
    except (ValueError, TypeError) as exc:
        raise MappingError(t(f"{erp[0]}返回的金额不正确：{exc}", f"{erp[1]} returned a bad amount: {exc}"),
                           where=field, fix=t(f"检查{erp[0]}的币别与精度设置",
                                              f"check the currency and precision in {erp[1]}")) from exc
