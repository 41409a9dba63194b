"""Values built from compiled expressions: mappings, lists and ``for_each`` blocks, and the lookup seam."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol, TypeAlias

from huiliu.errors import MappingError
from huiliu.flows.expressions import MAX_ITEMS, Expression
from huiliu.i18n import t

__all__ = ["DictNode", "ForEachNode", "ListNode", "Lookup", "ValueNode", "build"]


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
