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
from typing import Any, ClassVar, TypeAlias

from huiliu.bus.retry import RetryPolicy
from huiliu.errors import MappingError, UnbalancedVoucher
from huiliu.flows.accounts import AccountRule, AccountRules, AccountTable, Split, allocate, covers, pattern_matches
from huiliu.flows.expressions import Expression, Origin
from huiliu.flows.nodes import DictNode, ForEachNode, ListNode, Lookup, ValueNode, _in_item, _items, _text, build
from huiliu.i18n import t
from huiliu.model import Direction, Money, Voucher, VoucherLine
from huiliu.store.codec import to_jsonable

__all__ = [
    "AccountRule",
    "AccountRules",
    "AccountTable",
    "BranchStep",
    "CallStep",
    "DictNode",
    "FilterStep",
    "ForEachNode",
    "LineRule",
    "ListNode",
    "Lookup",
    "LookupStep",
    "MapStep",
    "Split",
    "Step",
    "SubflowStep",
    "ValueNode",
    "VoucherStep",
    "WaitStep",
    "allocate",
    "build",
    "covers",
    "pattern_matches",
]

SOURCE_SYSTEM = "{{ event.source }}"
"""A lookup's ``system`` that means the system the flow's event came from."""

ENTITY_NAMES: dict[str, str] = {"employee": "员工", "department": "部门", "supplier": "供应商",
                                "customer": "客户", "project": "项目", "cost_center": "成本中心"}


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
    on_error: str | None = None
    """When the call fails for good: ``fail``, ``continue``, ``compensate``, or a later step's id to go on
    at; ``None``: the flow's ``on_error``."""
    compensation: CallStep | None = None
    """The call that undoes this one (its id is ``<id>.compensate``), run when the run compensates."""

    def run(self, scope: Mapping[str, Any], lookup: Lookup) -> Any:
        """Build the request.

        Raises:
            MappingError: an expression failed.
        """
        return to_jsonable(build(self.request, scope))


@dataclass(frozen=True, slots=True)
class WaitStep:
    """Pause the run until an event of one of ``events`` with business key ``key`` arrives, or ``timeout``.

    Its output is the awaited event (``{"type", "source", "payload"}``), or ``{"timed_out": true}`` when
    ``on_timeout`` is ``continue``.
    """

    kind: ClassVar[str] = "wait"
    id: str
    origin: Origin
    when: Expression | None
    events: tuple[str, ...]
    key: Expression
    timeout: float
    on_timeout: str = "fail"

    def run(self, scope: Mapping[str, Any], lookup: Lookup) -> Any:
        """The business key to wait for.

        Raises:
            MappingError: the key expression failed or gave nothing.
        """
        return _text(self.key, scope)


@dataclass(frozen=True, slots=True)
class FilterStep:
    """End the run here, done, unless the condition holds; its output is ``{"passed": bool}``."""

    kind: ClassVar[str] = "filter"
    id: str
    origin: Origin
    when: Expression | None
    condition: Expression

    def run(self, scope: Mapping[str, Any], lookup: Lookup) -> Any:
        """Whether the run goes on.

        Raises:
            MappingError: the condition failed.
        """
        return bool(self.condition.evaluate(scope))


@dataclass(frozen=True, slots=True)
class BranchStep:
    """Go to the first case's step whose condition holds, else ``otherwise`` (``None``: the next step).

    Its output is ``{"goto": <step id or null>}``; the steps jumped over are skipped (output ``None``).
    """

    kind: ClassVar[str] = "branch"
    id: str
    origin: Origin
    when: Expression | None
    cases: tuple[tuple[Expression, str], ...]
    otherwise: str | None = None

    def run(self, scope: Mapping[str, Any], lookup: Lookup) -> Any:
        """The step to go to, or ``None`` for the next one.

        Raises:
            MappingError: a condition failed.
        """
        for condition, target in self.cases:
            if condition.evaluate(scope):
                return target
        return self.otherwise


@dataclass(frozen=True, slots=True)
class SubflowStep:
    """Run the flow ``flow_id`` with ``inputs`` as its form, and wait at most ``timeout`` seconds for it."""

    kind: ClassVar[str] = "subflow"
    id: str
    origin: Origin
    when: Expression | None
    flow_id: str
    inputs: DictNode
    timeout: float

    def run(self, scope: Mapping[str, Any], lookup: Lookup) -> Any:
        """Build the sub-flow's input.

        Raises:
            MappingError: an expression failed.
        """
        return to_jsonable(build(self.inputs, scope))


Step: TypeAlias = LookupStep | MapStep | VoucherStep | CallStep | WaitStep | FilterStep | BranchStep | SubflowStep
