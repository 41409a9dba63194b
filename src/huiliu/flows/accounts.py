"""How a voucher line finds its account and splits across departments: tables, multi-attribute rules, shares.

Owns: ``{by, map}`` account tables, ``{by, rules}`` rules chosen by several attributes (first match wins,
``*`` and prefix patterns), and splitting one line into shares that add up to the fen. Does not own: the
voucher step itself (:mod:`.steps`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

from huiliu.errors import MappingError
from huiliu.flows.expressions import Expression, Origin
from huiliu.flows.nodes import _in_item, _items, _text
from huiliu.i18n import t
from huiliu.model import parse_amount

__all__ = ["WILDCARD", "AccountRule", "AccountRules", "AccountTable", "Split", "allocate", "covers", "pattern_matches"]


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
