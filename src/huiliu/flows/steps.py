"""Compiled steps and what each does with a run's context.

Owns: the step kinds after loading (``lookup``, ``map``, ``voucher``, ``call``), building values from
compiled expressions (mappings, lists, ``for_each`` blocks), and building a balanced
:class:`~huiliu.model.Voucher`. Every step is pure: it reads the context and returns JSON-shaped output
(``call`` returns the request of its effect); the only outside call is the injected :class:`Lookup`.
Does not own: the order of steps or the cursor (``runtime``), or parsing flow files (``loader``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar, Protocol, TypeAlias

from huiliu.bus.retry import RetryPolicy
from huiliu.errors import MappingError, UnbalancedVoucher
from huiliu.flows.expressions import MAX_ITEMS, Expression, Origin
from huiliu.i18n import t
from huiliu.model import Direction, Money, Voucher, VoucherLine
from huiliu.store.codec import to_jsonable

__all__ = [
    "AccountTable",
    "CallStep",
    "DictNode",
    "ForEachNode",
    "LineRule",
    "ListNode",
    "Lookup",
    "LookupStep",
    "MapStep",
    "Step",
    "ValueNode",
    "VoucherStep",
    "build",
]

SOURCE_SYSTEM = "{{ event.source }}"
"""A lookup's ``system`` that means the system the flow's event came from."""

ENTITY_NAMES: dict[str, str] = {"employee": "员工", "department": "部门", "supplier": "供应商",
                                "customer": "客户", "project": "项目", "cost_center": "成本中心"}


class Lookup(Protocol):
    """Finds a master-data record by a system's native key; ``None`` when there is none."""

    def __call__(self, entity: str, system: str, key: str) -> Mapping[str, Any] | None:
        """Return the record of ``entity`` known in ``system`` as ``key``."""


@dataclass(frozen=True, slots=True)
class DictNode:
    """A mapping whose values are built."""

    items: tuple[tuple[str, ValueNode], ...]


@dataclass(frozen=True, slots=True)
class ListNode:
    """A list whose items are built."""

    items: tuple[ValueNode, ...]


@dataclass(frozen=True, slots=True)
class ForEachNode:
    """A list built from ``body`` once per item of ``items``, each item named ``name``."""

    items: Expression
    name: str
    body: ValueNode


ValueNode: TypeAlias = Expression | DictNode | ListNode | ForEachNode


def _in_item(exc: MappingError, name: str, index: int) -> MappingError:
    """The same error, saying which item of a loop it happened on."""
    what = t(f"{exc.what.zh}（{name} 第 {index + 1} 项）", f"{exc.what.en} ({name} item {index + 1})")
    return MappingError(what, where=exc.where, fix=exc.fix)


def _items(expr: Expression, scope: Mapping[str, Any]) -> list[Any]:
    value = expr.evaluate(scope)
    if not isinstance(value, list):
        raise MappingError(
            t(f"{expr.origin.label().zh} 的 for_each 应得到列表，实际是 {type(value).__name__}"
              f"（表达式 {expr.source}）",
              f"for_each of {expr.origin.label().en} must give a list, got {type(value).__name__} "
              f"(expression {expr.source})"),
            where=expr.origin.where,
            fix=t("for_each 应指向表单中的明细表或前一步生成的列表",
                  "point for_each at a table field of the form or a list an earlier step built"))
    if len(value) > MAX_ITEMS:
        raise MappingError(
            t(f"{expr.origin.label().zh} 的 for_each 有 {len(value)} 项，超过上限 {MAX_ITEMS}",
              f"for_each of {expr.origin.label().en} has {len(value)} items, more than {MAX_ITEMS}"),
            where=expr.origin.where, fix=t("拆分单据", "split the document"))
    return value


def build(node: ValueNode, scope: Mapping[str, Any]) -> Any:
    """Build a value from compiled nodes against ``scope``.

    Raises:
        MappingError: an expression failed; the message names the step, the field and the loop item.
    """
    if isinstance(node, Expression):
        return node.evaluate(scope)
    if isinstance(node, DictNode):
        return {key: build(value, scope) for key, value in node.items}
    if isinstance(node, ListNode):
        return [build(value, scope) for value in node.items]
    out = []
    for index, item in enumerate(_items(node.items, scope)):
        try:
            out.append(build(node.body, {**scope, node.name: item}))
        except MappingError as exc:
            raise _in_item(exc, node.name, index) from exc
    return out


def _text(expr: Expression, scope: Mapping[str, Any], *, empty_ok: bool = False) -> str:
    """Evaluate to text; numbers are written out, anything else (empty, a list, ``true``) is an error."""
    value = expr.evaluate(scope)
    if isinstance(value, str | int | float | Decimal) and not isinstance(value, bool) and (
            empty_ok or value != ""):
        return str(value)
    shown = "空值" if value in (None, "") else f"{value!r:.60}"
    raise MappingError(
        t(f"{expr.origin.label().zh} 应为文本，实际是 {shown}（表达式 {expr.source}）",
          f"{expr.origin.label().en} must be text, got {value!r:.60} (expression {expr.source})"),
        where=expr.origin.where,
        fix=t("检查表达式取到的字段；缺省时可用 default 过滤器", "check the field the expression reads; "
              "use the default filter for a fallback"))


@dataclass(frozen=True, slots=True)
class LookupStep:
    """Find a master-data record; its fields become the step's output.

    Attributes:
        id: the step id.
        origin: where the step is written.
        when: skip the step unless this is true.
        entity: ``employee``, ``department`` …
        system: the system whose native key ``key`` is.
        key: the key expression.
        required: a missing record is an error (``True``) or gives ``None``.
    """

    kind: ClassVar[str] = "lookup"
    id: str
    origin: Origin
    when: Expression | None
    entity: str
    system: str
    key: Expression
    required: bool = True

    def run(self, scope: Mapping[str, Any], lookup: Lookup) -> Any:
        """Look the record up.

        Raises:
            MappingError: the key failed to evaluate, or a required record does not exist.
        """
        key = _text(self.key, scope)
        event = scope.get("event")
        system = self.system
        if system.replace(" ", "") == SOURCE_SYSTEM.replace(" ", "") and isinstance(event, Mapping):
            system = str(event.get("source", ""))
        record = lookup(self.entity, system, key)
        if record is None:
            if not self.required:
                return None
            noun = ENTITY_NAMES.get(self.entity, self.entity)
            raise MappingError(
                t(f"{noun} {system}:{key} 在 crosswalk 中找不到（步骤 `{self.id}`）",
                  f"{self.entity} {system}:{key} not found in the crosswalk (step `{self.id}`)"),
                where=self.key.origin.where,
                fix=t(f"先同步主数据（{noun}），或在 crosswalk 中补上 {system} 的对应关系；"
                      "允许缺失时设 required: false",
                      f"sync the master data ({self.entity}) first, or link its {system} key in the "
                      "crosswalk; set required: false if it may be missing"))
        return to_jsonable(dict(record))


@dataclass(frozen=True, slots=True)
class MapStep:
    """Build a mapping of fields; the mapping is the step's output."""

    kind: ClassVar[str] = "map"
    id: str
    origin: Origin
    when: Expression | None
    fields: DictNode

    def run(self, scope: Mapping[str, Any], lookup: Lookup) -> Any:
        """Build the fields.

        Raises:
            MappingError: an expression failed.
        """
        return to_jsonable(build(self.fields, scope))


@dataclass(frozen=True, slots=True)
class AccountTable:
    """Account chosen by a value: ``by`` is evaluated and looked up in ``table``; no match is an error."""

    by: Expression
    table: tuple[tuple[str, Expression], ...]

    def account(self, scope: Mapping[str, Any]) -> str:
        """The account for this scope.

        Raises:
            MappingError: the value is not in the table; the message lists the known values.
        """
        key = _text(self.by, scope)
        for name, account in self.table:
            if name == key:
                return _text(account, scope)
        known = "、".join(name for name, _ in self.table)
        label = self.by.origin.label()
        raise MappingError(
            t(f"{label.zh}：科目映射中没有 “{key}”（来自 {self.by.source}）；已知的有：{known}",
              f"{label.en}: no account for {key!r} (from {self.by.source}); known values: "
              f"{', '.join(name for name, _ in self.table)}"),
            where=self.by.origin.where,
            fix=t(f"在流程的 account.map 中为 “{key}” 加一项科目，或更正 OA 表单中的取值",
                  f"add an account for {key!r} to account.map in the flow, or correct the value in the OA "
                  "form"))


@dataclass(frozen=True, slots=True)
class LineRule:
    """One voucher line rule; with ``for_each`` it makes one line per item.

    Attributes:
        origin: where the rule is written.
        for_each: the list to iterate over, or ``None`` for a single line.
        name: the loop variable.
        direction: debit or credit.
        account: an expression or an :class:`AccountTable`.
        amount: the amount expression.
        summary: the line's summary (摘要).
        aux: auxiliary dimensions (辅助核算) by canonical name.
    """

    origin: Origin
    for_each: Expression | None
    name: str | None
    direction: Direction
    account: Expression | AccountTable
    amount: Expression
    summary: Expression
    aux: tuple[tuple[str, Expression], ...]

    def lines(self, scope: Mapping[str, Any], currency: str) -> list[VoucherLine]:
        """The lines this rule makes.

        Raises:
            MappingError: an expression failed, the account is unknown, or an amount is not positive.
        """
        if self.for_each is None or self.name is None:
            return [self._line(scope, currency)]
        out = []
        for index, item in enumerate(_items(self.for_each, scope)):
            try:
                out.append(self._line({**scope, self.name: item}, currency))
            except MappingError as exc:
                raise _in_item(exc, self.name, index) from exc
        return out

    def _line(self, scope: Mapping[str, Any], currency: str) -> VoucherLine:
        account = (self.account.account(scope) if isinstance(self.account, AccountTable)
                   else _text(self.account, scope))
        raw = self.amount.evaluate(scope)
        label = self.amount.origin.label()
        try:
            amount = Money.of(raw, currency, field=self.amount.origin.field)
        except ValueError as exc:
            raise MappingError(
                t(f"{label.zh} 不是金额：{exc}（表达式 {self.amount.source}）",
                  f"{label.en} is not an amount: {exc} (expression {self.amount.source})"),
                where=self.amount.origin.where,
                fix=t("金额应为数字或数字文本，例如 \"1,280.50\"", "an amount is a number or numeric text, "
                      "e.g. \"1,280.50\"")) from exc
        if amount.amount <= 0:
            raise MappingError(
                t(f"{label.zh} 必须为正数，实际是 {amount.amount}（科目 {account}）",
                  f"{label.en} must be positive, got {amount.amount} (account {account})"),
                where=self.amount.origin.where,
                fix=t("金额为 0 的明细可在 for_each 中过滤掉，"
                      "例如 rows | rejectattr('金额', 'in', ['0', '0.00'])",
                      "filter zero rows out in for_each, "
                      "e.g. rows | rejectattr('amount', 'in', ['0', '0.00'])"))
        aux = tuple((name, _text(expr, scope)) for name, expr in self.aux)
        return VoucherLine(summary=_text(self.summary, scope, empty_ok=True), account=account,
                           direction=self.direction, amount=amount, aux=aux)


def _date(expr: Expression, scope: Mapping[str, Any]) -> date:
    text = _text(expr, scope)
    try:
        return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text).date()
    except ValueError as exc:
        raise MappingError(
            t(f"{expr.origin.label().zh} 不是日期：{text!r}（表达式 {expr.source}）",
              f"{expr.origin.label().en} is not a date: {text!r} (expression {expr.source})"),
            where=expr.origin.where,
            fix=t("日期应为 YYYY-MM-DD，例如用 instance.finished_at | local_date",
                  "a date is YYYY-MM-DD, e.g. instance.finished_at | local_date")) from exc


@dataclass(frozen=True, slots=True)
class VoucherStep:
    """Build a balanced voucher (记账凭证); its JSON form is the step's output."""

    kind: ClassVar[str] = "voucher"
    id: str
    origin: Origin
    when: Expression | None
    book: Expression
    date: Expression
    group: Expression
    currency: Expression
    reference: Expression
    rules: tuple[LineRule, ...]

    def run(self, scope: Mapping[str, Any], lookup: Lookup) -> Any:
        """Build the voucher.

        Raises:
            MappingError: an expression, account or amount failed.
            UnbalancedVoucher: debit and credit differ; ``where`` is the voucher step.
        """
        currency = _text(self.currency, scope)
        try:
            Money.zero(currency)
        except ValueError as exc:
            raise MappingError(
                t(f"{self.currency.origin.label().zh} 不是币种代码：{currency!r}",
                  f"{self.currency.origin.label().en} is not a currency code: {currency!r}"),
                where=self.currency.origin.where,
                fix=t("使用 ISO 4217 代码，例如 CNY", "use an ISO 4217 code such as CNY")) from exc
        lines: list[VoucherLine] = []
        for rule in self.rules:
            lines.extend(rule.lines(scope, currency))
        try:
            voucher = Voucher(reference=_text(self.reference, scope), book=_text(self.book, scope),
                              date=_date(self.date, scope), group=_text(self.group, scope),
                              currency=currency, lines=tuple(lines))
        except UnbalancedVoucher as exc:
            raise UnbalancedVoucher(exc.what, where=self.origin.where, fix=exc.fix) from exc
        return to_jsonable(voucher)


@dataclass(frozen=True, slots=True)
class CallStep:
    """An external call: the action's name and its request, handed back to the caller as an effect."""

    kind: ClassVar[str] = "call"
    id: str
    origin: Origin
    when: Expression | None
    action: str
    request: DictNode
    retry: RetryPolicy | None = None
    """The step's retry policy (or the flow's); ``None``: the hub's default."""

    def run(self, scope: Mapping[str, Any], lookup: Lookup) -> Any:
        """Build the request.

        Raises:
            MappingError: an expression failed.
        """
        return to_jsonable(build(self.request, scope))


Step: TypeAlias = LookupStep | MapStep | VoucherStep | CallStep
