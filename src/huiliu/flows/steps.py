"""Compiled steps and what each does with a run's context.

Owns: the step kinds after loading (``lookup``, ``map``, ``voucher``, ``call``), building values from
compiled expressions (mappings, lists, ``for_each`` blocks), and building a balanced
:class:`~huiliu.model.Voucher`. Every step is pure: it reads the context and returns JSON-shaped output
(``call`` returns the request of its effect); the only outside call is the injected :class:`Lookup`.
Does not own: the order of steps or the cursor (``runtime``), or parsing flow files (``loader``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any, ClassVar, Protocol, TypeAlias

from huiliu.bus.retry import RetryPolicy
from huiliu.errors import MappingError, UnbalancedVoucher
from huiliu.flows.expressions import MAX_ITEMS, Expression, Origin
from huiliu.i18n import t
from huiliu.model import Direction, Money, Voucher, VoucherLine, parse_amount
from huiliu.store.codec import to_jsonable

__all__ = [
    "AccountRule",
    "AccountRules",
    "AccountTable",
    "CallStep",
    "DictNode",
    "ForEachNode",
    "LineRule",
    "ListNode",
    "Lookup",
    "LookupStep",
    "MapStep",
    "Split",
    "Step",
    "ValueNode",
    "VoucherStep",
    "allocate",
    "build",
    "covers",
    "pattern_matches",
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


WILDCARD = "*"
"""In an account rule's pattern: alone, any value; at the end (``P-*``), any value with that prefix."""


def pattern_matches(pattern: str, value: str) -> bool:
    """Whether an account rule's pattern matches a value: ``*`` anything, ``P-*`` a prefix, else equal."""
    if pattern.endswith(WILDCARD):
        return value.startswith(pattern[:-1])
    return value == pattern


def covers(general: str, specific: str) -> bool:
    """Whether ``general`` matches every value ``specific`` matches (both valid patterns)."""
    if general.endswith(WILDCARD):
        return specific.startswith(general[:-1])
    return not specific.endswith(WILDCARD) and general == specific


def _attribute(expr: Expression, scope: Mapping[str, Any]) -> str:
    """An account rule attribute's value as text; a missing value (``None``) is the empty text."""
    value = expr.evaluate(scope)
    if value is None:
        return ""
    if isinstance(value, str | int | float | Decimal) and not isinstance(value, bool):
        return str(value)
    raise MappingError(
        t(f"{expr.origin.label().zh} 应为文本，实际是 {value!r:.60}（表达式 {expr.source}）",
          f"{expr.origin.label().en} must be text, got {value!r:.60} (expression {expr.source})"),
        where=expr.origin.where,
        fix=t("科目规则的属性应取一个值（费用类型、部门编码…），不能是列表或对象",
              "an account rule attribute takes one value (expense type, department number …), "
              "not a list or an object"))


@dataclass(frozen=True, slots=True)
class AccountRule:
    """One rule of :class:`AccountRules`.

    Attributes:
        patterns: ``(attribute, pattern)`` for the attributes the rule names; the others match anything.
        account: the account expression.
    """

    patterns: tuple[tuple[str, str], ...]
    account: Expression

    def matches(self, values: Mapping[str, str]) -> bool:
        """Whether every pattern of the rule matches its attribute's value."""
        return all(pattern_matches(pattern, values[name]) for name, pattern in self.patterns)

    def describe(self) -> str:
        """``type=差旅费, dept=BM03 → 6601.03`` (``*`` for a rule without conditions)."""
        conditions = ", ".join(f"{name}={pattern}" for name, pattern in self.patterns) or WILDCARD
        return f"{conditions} → {self.account.source}"


@dataclass(frozen=True, slots=True)
class AccountRules:
    """Account chosen by several attributes: the first rule whose patterns all match wins; none is an error.

    Attributes:
        by: each attribute's name and the expression giving its value.
        rules: the rules, in the order written.
        origin: where ``account`` is written (for the no-match error).
    """

    by: tuple[tuple[str, Expression], ...]
    rules: tuple[AccountRule, ...]
    origin: Origin

    def account(self, scope: Mapping[str, Any]) -> str:
        """The account for this scope.

        Raises:
            MappingError: no rule matches; the message names every attribute and value and lists the rules.
        """
        values = {name: _attribute(expr, scope) for name, expr in self.by}
        for rule in self.rules:
            if rule.matches(values):
                return _text(rule.account, scope)
        shown_zh = "、".join(f"{name}=“{value}”" if value else f"{name}=（空）" for name, value in values.items())
        shown_en = ", ".join(f"{name}={value!r}" for name, value in values.items())
        listed = [f"{i}) {rule.describe()}" for i, rule in enumerate(self.rules, 1)]
        label = self.origin.label()
        raise MappingError(
            t(f"{label.zh}：没有匹配的科目规则（{shown_zh}）；规则依次为：{'；'.join(listed)}",
              f"{label.en}: no account rule matches ({shown_en}); the rules, in order: {'; '.join(listed)}"),
            where=self.origin.where,
            fix=t("在 account.rules 中为这些取值加一条规则（\"*\" 匹配任意值，\"P-*\" 匹配前缀），"
                  "或更正 OA 表单与主数据中的取值",
                  "add a rule for these values to account.rules (\"*\" matches anything, \"P-*\" a prefix), "
                  "or correct the values in the OA form and the master data"))


def allocate(total: Decimal, shares: Sequence[Decimal], quantum: Decimal) -> list[Decimal]:
    """Split ``total`` by ``shares`` (which add up to 1) into parts of ``quantum`` (the fen).

    Every part but the largest share's is rounded half up; the largest share's part (the first of equal
    ones) is what is left, so the parts add up to ``total`` exactly and the rounding remainder (尾差)
    lands on the largest share. Should that leave it negative (a few fen over many shares), the other
    parts are rounded down instead.

    Raises:
        ValueError: no shares.
    """
    if not shares:
        raise ValueError("allocate: no shares")
    largest = max(range(len(shares)), key=shares.__getitem__)
    parts: list[Decimal] = []
    rest = total
    for rounding in (ROUND_HALF_UP, ROUND_DOWN):
        parts = [(total * share).quantize(quantum, rounding=rounding) for share in shares]
        parts[largest] = Decimal(0)
        rest = total - sum(parts, Decimal(0))
        if rest >= 0:
            break
    parts[largest] = rest
    return parts


def _brief(item: Any) -> str:
    """A short form of a split item for messages: ``dept=BM01, ratio=0.6``."""
    if isinstance(item, Mapping):
        return f"{', '.join(f'{k}={v}' for k, v in item.items()):.60}"
    return f"{item!r:.60}"


def _share(expr: Expression, scope: Mapping[str, Any]) -> tuple[Decimal, bool]:
    """A share as a fraction, and whether it was written as a percentage (``"60%"``)."""
    raw = expr.evaluate(scope)
    percent = isinstance(raw, str) and raw.strip().endswith("%")
    try:
        value = parse_amount(raw.strip()[:-1] if percent else raw, "share")
    except ValueError as exc:
        raise MappingError(
            t(f"{expr.origin.label().zh} 不是比例：{raw!r:.60}（表达式 {expr.source}）",
              f"{expr.origin.label().en} is not a share: {raw!r:.60} (expression {expr.source})"),
            where=expr.origin.where,
            fix=t("比例写成小数（0.6）或百分数（\"60%\"）", "write a share as a fraction (0.6) or a "
                  "percentage (\"60%\")")) from exc
    if value < 0:
        raise MappingError(
            t(f"{expr.origin.label().zh} 不能为负数：{raw}", f"{expr.origin.label().en} cannot be negative: {raw}"),
            where=expr.origin.where, fix=t("检查分摊表中的比例", "check the shares of the allocation"))
    return (value / 100 if percent else value), percent


@dataclass(frozen=True, slots=True)
class Split:
    """Split a line into one line per share (分摊), e.g. a cost across departments.

    Attributes:
        parts: the list of shares (one item per department …).
        name: the name of one item in ``share`` and in the line's account, summary and aux.
        share: the item's share: a fraction or a percentage (``"60%"``).
    """

    parts: Expression
    name: str
    share: Expression

    def shares(self, scope: Mapping[str, Any]) -> list[tuple[Any, Decimal]]:
        """Each item with its share as a fraction.

        Raises:
            MappingError: the list is empty, a share is not a non-negative number, or they do not add up to 1.
        """
        items = _items(self.parts, scope)
        label = self.parts.origin.label()
        if not items:
            raise MappingError(
                t(f"{label.zh}：分摊列表为空（表达式 {self.parts.source}）",
                  f"{label.en}: the allocation is empty (expression {self.parts.source})"),
                where=self.parts.origin.where,
                fix=t("分摊表至少要有一项；不分摊的费用不要写 split", "an allocation needs at least one item; "
                      "leave split out for costs that are not split"))
        out: list[tuple[Any, Decimal]] = []
        percent = False
        for index, item in enumerate(items):
            try:
                share, written_percent = _share(self.share, {**scope, self.name: item})
            except MappingError as exc:
                raise _in_item(exc, self.name, index) from exc
            percent = percent or written_percent
            out.append((item, share))
        total = sum((share for _, share in out), Decimal(0))
        if total != 1:
            shown = f"{(total * 100).normalize():f}%" if percent else f"{total.normalize():f}"
            listed = "；".join(f"{i}) {_brief(item)}" for i, (item, _) in enumerate(out, 1))
            fix = (t("比例合计为 100：写成小数（0.6）或百分数（\"60%\"），不要写成 60",
                     "the shares add up to 100: write fractions (0.6) or percentages (\"60%\"), not 60")
                   if total == 100 and not percent else
                   t("调整分摊表，使比例合计恰好为 1（100%）；三等分可写 33.34%、33.33%、33.33%",
                     "correct the allocation so that the shares add up to exactly 1 (100%); thirds can be "
                     "33.34%, 33.33%, 33.33%"))
            raise MappingError(
                t(f"{self.share.origin.label().zh}：分摊比例合计为 {shown}，应为 1（100%）；各项：{listed}",
                  f"{self.share.origin.label().en}: the shares add up to {shown}, not 1 (100%); items: {listed}"),
                where=self.share.origin.where, fix=fix)
        return out


@dataclass(frozen=True, slots=True)
class LineRule:
    """One voucher line rule; with ``for_each`` it makes one line per item.

    Attributes:
        origin: where the rule is written.
        for_each: the list to iterate over, or ``None`` for a single line.
        name: the loop variable.
        direction: debit or credit.
        account: an expression, an :class:`AccountTable` or :class:`AccountRules`.
        amount: the amount expression.
        summary: the line's summary (摘要).
        aux: auxiliary dimensions (辅助核算) by canonical name.
        when: leave the line (this item's line) out unless this is true.
        split: split each line into one line per share.
    """

    origin: Origin
    for_each: Expression | None
    name: str | None
    direction: Direction
    account: Expression | AccountTable | AccountRules
    amount: Expression
    summary: Expression
    aux: tuple[tuple[str, Expression], ...]
    when: Expression | None = None
    split: Split | None = None

    def lines(self, scope: Mapping[str, Any], currency: str) -> list[VoucherLine]:
        """The lines this rule makes.

        Raises:
            MappingError: an expression failed, the account is unknown, an amount is not positive, or the
                shares of a split do not add up to 1.
        """
        if self.for_each is None or self.name is None:
            return self._lines(scope, currency)
        out = []
        for index, item in enumerate(_items(self.for_each, scope)):
            try:
                out.extend(self._lines({**scope, self.name: item}, currency))
            except MappingError as exc:
                raise _in_item(exc, self.name, index) from exc
        return out

    def _lines(self, scope: Mapping[str, Any], currency: str) -> list[VoucherLine]:
        if self.when is not None and not self.when.evaluate(scope):
            return []
        if self.split is None:
            account = self._account(scope)
            return [self._line(scope, account, self._amount(scope, currency, account))]
        amount = self._amount(scope, currency, None)
        shares = self.split.shares(scope)
        parts = allocate(amount.amount, [share for _, share in shares], Money.zero(currency).amount)
        out = []
        for index, ((item, _), part) in enumerate(zip(shares, parts, strict=True)):
            if part == 0:  # a zero share, or a few fen spread thin: no line rather than a zero line
                continue
            inner = {**scope, self.split.name: item}
            try:
                out.append(self._line(inner, self._account(inner), Money(part, currency)))
            except MappingError as exc:
                raise _in_item(exc, self.split.name, index) from exc
        return out

    def _account(self, scope: Mapping[str, Any]) -> str:
        if isinstance(self.account, AccountTable | AccountRules):
            return self.account.account(scope)
        return _text(self.account, scope)

    def _amount(self, scope: Mapping[str, Any], currency: str, account: str | None) -> Money:
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
            of_zh, of_en = (f"（科目 {account}）", f" (account {account})") if account else ("（分摊前）",
                                                                                            " (before the split)")
            raise MappingError(
                t(f"{label.zh} 必须为正数，实际是 {amount.amount}{of_zh}",
                  f"{label.en} must be positive, got {amount.amount}{of_en}"),
                where=self.amount.origin.where,
                fix=t("金额为 0 的明细可在 for_each 中过滤掉，或用 when 条件跳过该行，"
                      "例如 rows | rejectattr('金额', 'in', ['0', '0.00'])",
                      "filter zero rows out in for_each, or skip the line with a when condition, "
                      "e.g. rows | rejectattr('amount', 'in', ['0', '0.00'])"))
        return amount

    def _line(self, scope: Mapping[str, Any], account: str, amount: Money) -> VoucherLine:
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
    """Build a balanced voucher (记账凭证); its JSON form is the step's output.

    With ``preparer`` (制单人) the output also has ``preparer``, next to the voucher's fields: the
    canonical :class:`~huiliu.model.Voucher` has no preparer, so the ERP action has to be handed it.

    Attributes:
        preparer: the preparer expression, or ``None`` when the flow names none.
        preparer_steps: the steps the preparer expression reads (``employee``): a missing preparer's
            error names the person their output describes.
    """

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
    preparer: Expression | None = None
    preparer_steps: tuple[str, ...] = ()

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
        output: dict[str, Any] = to_jsonable(voucher)
        if self.preparer is not None:
            output["preparer"] = self._preparer(self.preparer, scope)
        return output

    def _preparer(self, expr: Expression, scope: Mapping[str, Any]) -> str:
        """The preparer's user; empty or failing is an error naming the employee it was read from."""
        reason: MappingError | None = None
        try:
            value = expr.evaluate(scope)
        except MappingError as exc:
            value, reason = None, exc
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
        who_zh, who_en = self._who(scope)
        why_zh = f"：{reason.what.zh}" if reason else f"，表达式 {expr.source} 得到 {value!r:.40}"
        why_en = f": {reason.what.en}" if reason else f"; {expr.source} gave {value!r:.40}"
        raise MappingError(
            t(f"凭证要求制单人（preparer），但{who_zh}没有取到制单人{why_zh}",
              f"the voucher needs a preparer, but none was found for {who_en}{why_en}"),
            where=expr.origin.where,
            fix=t(f"在主数据中为{who_zh}补上 ERP 用户（例如员工档案的 erp_user），或修改 voucher.preparer；"
                  "没有制单人的凭证不会送到 ERP",
                  f"give {who_en} an ERP user in the master data (e.g. the employee record's erp_user), or "
                  "change voucher.preparer; a voucher without its preparer is not sent to the ERP"))

    def _who(self, scope: Mapping[str, Any]) -> tuple[str, str]:
        """The person the preparer is read from: a looked-up record's name and number, else the originator."""
        steps = scope.get("steps")
        for step_id in self.preparer_steps:
            record = steps.get(step_id) if isinstance(steps, Mapping) else None
            if isinstance(record, Mapping) and (record.get("name") or record.get("number")):
                name, number = record.get("name") or "", record.get("number") or ""
                shown = f"{name}（{number}）" if name and number else f"{name or number}"
                return f"员工 {shown}", f"employee {shown} (step `{step_id}`)"
        instance = scope.get("instance")
        user = instance.get("originator_user_id") if isinstance(instance, Mapping) else None
        return f"发起人 {user or '（未知）'}", f"the originator {user or '(unknown)'}"


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
