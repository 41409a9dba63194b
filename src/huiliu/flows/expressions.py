"""The expression language of flows: Jinja2 in an immutable sandbox, bounded and strict.

Owns: the sandboxed environment, the flow filters (``decimal``, ``sum_amount``, ``fen``, ``local_date``),
compiling a flow string once at load time into an :class:`Expression`, and turning every evaluation
failure into a :class:`~huiliu.errors.MappingError` that names the flow file, line, step, field and
expression. Does not own:
where the strings come from (``loader``) or what the values are used for (``steps``).

The rule for a string value in a flow:

* no ``{{`` — a literal;
* exactly one ``{{ expr }}`` (whitespace around allowed) — the expression's native value (a list stays a
  list, a ``Decimal`` stays a ``Decimal``);
* anything else with ``{{`` — rendered to text. Only ``{{ }}`` output is allowed in text: ``{% %}``
  statements are refused at load time, so no template can loop.

``when:`` conditions are bare expressions without braces.

Undefined names and fields are errors (``StrictUndefined``), never an empty string. Results that could
exhaust memory (``'a' * 10**9``, ``10**10**10``, ``'x'|center(10**9)``) are refused before they are built.
"""

from __future__ import annotations

import math
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from jinja2 import StrictUndefined, Undefined, nodes
from jinja2.exceptions import SecurityError, TemplateError, TemplateSyntaxError, UndefinedError
from jinja2.parser import Parser
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from huiliu.errors import MappingError
from huiliu.i18n import Text, t
from huiliu.model import parse_amount

__all__ = [
    "CONTEXT_NAMES",
    "MAX_ITEMS",
    "MAX_POWER_BITS",
    "MAX_SIZE",
    "Expression",
    "ExpressionKind",
    "Origin",
    "ParsedSource",
    "environment",
    "parse_condition",
    "parse_value",
]

CONTEXT_NAMES: frozenset[str] = frozenset({"event", "instance", "form", "reference", "steps", "cursor"})
"""Top-level names of a run's context that expressions may use (the caller builds the context)."""

MAX_SIZE = 1_000_000
"""Longest string or list an operator or filter may build."""

MAX_ITEMS = 10_000
"""Most items a ``for_each`` may iterate over."""

MAX_POWER_BITS = 128
"""Largest integer ``**`` may produce, in bits (38 decimal digits, beyond any amount ``Decimal`` keeps).

Jinja's ``**`` groups left to right: ``10**10**10`` is ``(10**10)**10``, 333 bits, refused."""

_CENT = Decimal("0.01")
_PADDING_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})


def _refuse(zh: str, en: str) -> SecurityError:
    return SecurityError(f"{zh} / {en}")


def _check_size(value: object) -> None:
    if isinstance(value, str | list | tuple) and len(value) > MAX_SIZE:
        raise _refuse(f"结果过大（{len(value)} > {MAX_SIZE}）",
                      f"result too large ({len(value)} > {MAX_SIZE})")


def _bounded_binop(operator: str, left: Any, right: Any) -> Any:
    """``*``, ``**`` and ``%`` with their result size checked before it is built."""
    if operator == "*":
        for seq, count in ((left, right), (right, left)):
            if (isinstance(seq, str | list | tuple) and isinstance(count, int) and not isinstance(count, bool)
                    and count > 0 and len(seq) * count > MAX_SIZE):
                raise _refuse(f"重复后的结果过大（{len(seq)} × {count}）",
                              f"repetition too large ({len(seq)} x {count})")
        return left * right
    if operator == "**":
        if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0:
            bits = right * math.log2(abs(left))
            if bits > MAX_POWER_BITS:
                raise _refuse(f"乘方结果过大（约 {bits:.0f} 位二进制）",
                              f"power too large (about {bits:.0f} bits)")
        return left**right
    if operator == "%":
        if isinstance(left, str):
            raise _refuse("不支持用 % 格式化文本，请用 ~ 拼接或 fen 过滤器",
                          "text formatting with % is not supported; use ~ or the fen filter")
        return left % right
    raise _refuse(f"不支持的运算符 {operator}", f"unsupported operator {operator}")


class _FlowEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox with size-bounded operators and dict keys preferred over dict methods."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """Apply ``*``, ``**`` or ``%`` after checking the size of the result."""
        return _bounded_binop(operator, left, right)

    def getattr(self, obj: Any, attribute: str) -> Any:
        """``row.items`` is the row's ``items`` field, not ``dict.items``: data first, methods after."""
        if type(obj) is dict and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """``str.format`` and ``format_map`` pad without bound: refused; ``~`` and filters build text."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None

        def refused(*_args: Any, **_kwargs: Any) -> str:
            raise _refuse("不支持 format，请用 ~ 拼接或 fen 过滤器",
                          "format is not supported; use ~ or the fen filter")

        return refused

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        """Refuse padding and replacing calls whose result would be too large, then call."""
        if isinstance(__obj, types.BuiltinMethodType) and isinstance(__obj.__self__, str):
            name = __obj.__name__
            if name in _PADDING_METHODS and any(isinstance(a, int) and a > MAX_SIZE for a in args):
                raise _refuse(f"{name} 的宽度过大", f"width of {name} too large")
            if name == "replace" and len(args) >= 2:
                _check_replace(__obj.__self__, args[0], args[1])
        return super().call(__context, __obj, *args, **kwargs)


def _check_replace(text: str, old: object, new: object) -> None:
    if isinstance(old, str) and isinstance(new, str) and len(new) > len(old):
        hits = text.count(old) if old else len(text) + 1
        if len(text) + hits * (len(new) - len(old)) > MAX_SIZE:
            raise _refuse("replace 的结果过大", "result of replace too large")


def _filter_decimal(value: object) -> Decimal:
    """``"12,800.00" | decimal`` → ``Decimal("12800.00")``; a stored amount ``{amount, currency}`` gives its amount."""
    if isinstance(value, Mapping) and "amount" in value and "currency" in value:
        value = value["amount"]
    return parse_amount(value, "decimal")


def _item_value(item: object, attribute: str) -> object:
    if isinstance(item, Mapping):
        if attribute not in item:
            raise ValueError(f"sum_amount: an item has no {attribute!r} (keys: {', '.join(map(str, item))})")
        return item[attribute]
    raise ValueError(f"sum_amount: items must be mappings, got {type(item).__name__}")


def _filter_sum_amount(items: Iterable[object], attribute: str) -> Decimal:
    """``lines | sum_amount('amount')``: the exact sum of one field over a list."""
    if isinstance(items, str | Mapping) or not isinstance(items, Iterable):
        raise ValueError(f"sum_amount: expected a list, got {type(items).__name__}")
    total = Decimal(0)
    for item in items:
        total += parse_amount(_item_value(item, attribute), attribute)
    return total


def _filter_fen(value: object) -> str:
    """Format an amount to the fen (two decimals, half up): ``1234.5`` → ``"1234.50"``."""
    return str(parse_amount(value, "fen").quantize(_CENT, rounding=ROUND_HALF_UP))


def _filter_local_date(value: object, utc_offset: str = "+08:00") -> str:
    """The calendar date of an ISO time at a UTC offset (China by default).

    ``"2024-05-31T17:30:00+00:00" | local_date`` → ``"2024-06-01"``: an approval finished at 01:30 Beijing
    time belongs to June's books, whatever zone the OA reports in.
    """
    moment = datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        raise ValueError(f"local_date: {value!r} has no time zone")
    sign = -1 if utc_offset.startswith("-") else 1
    hours, _, minutes = utc_offset.lstrip("+-").partition(":")
    zone = timezone(sign * timedelta(hours=int(hours), minutes=int(minutes or 0)))
    return moment.astimezone(zone).date().isoformat()


def _bounded_filter(name: str, original: Callable[..., Any], width_arg: int) -> Callable[..., Any]:
    def guarded(*args: Any, **kwargs: Any) -> Any:
        width = args[width_arg] if len(args) > width_arg else kwargs.get("width", 0)
        if isinstance(width, int) and width > MAX_SIZE:
            raise _refuse(f"{name} 的参数过大", f"argument of {name} too large")
        result = original(*args, **kwargs)
        _check_size(result)
        return result

    guarded.__name__ = name
    return guarded


def _guarded_join(original: Callable[..., Any]) -> Callable[..., Any]:
    def join(eval_ctx: Any, value: Any, d: str = "", attribute: Any = None) -> Any:
        items = list(value)
        if len(d) * len(items) > MAX_SIZE:
            raise _refuse("join 的结果过大", "result of join too large")
        return original(eval_ctx, items, d, attribute)

    join.jinja_pass_arg = original.jinja_pass_arg  # type: ignore[attr-defined]
    return join


def _guarded_replace(original: Callable[..., Any]) -> Callable[..., Any]:
    def replace(eval_ctx: Any, s: Any, old: Any, new: Any, count: Any = None) -> Any:
        _check_replace(str(s), str(old), str(new))
        return original(eval_ctx, s, old, new, count)

    replace.jinja_pass_arg = original.jinja_pass_arg  # type: ignore[attr-defined]
    return replace


def _build_environment() -> _FlowEnvironment:
    env = _FlowEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    # Non-deterministic or unbounded helpers are not for flows: runs must replay to the same result.
    for name in ("lipsum", "cycler", "joiner", "namespace"):
        env.globals.pop(name, None)
    for name in ("random", "format", "slice", "wordwrap", "urlize", "xmlattr"):
        env.filters.pop(name, None)
    env.filters["center"] = _bounded_filter("center", env.filters["center"], 1)
    env.filters["indent"] = _bounded_filter("indent", env.filters["indent"], 1)
    env.filters["join"] = _guarded_join(env.filters["join"])
    env.filters["replace"] = _guarded_replace(env.filters["replace"])
    env.filters["decimal"] = _filter_decimal
    env.filters["sum_amount"] = _filter_sum_amount
    env.filters["fen"] = _filter_fen
    env.filters["local_date"] = _filter_local_date
    return env


environment = _build_environment()
"""The one sandboxed environment every flow expression is compiled in."""


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a flow string comes from.

    Attributes:
        file: the flow file, as given to the loader.
        line: 1-based line of the value in the file.
        column: 1-based column.
        step: the step id, or ``None`` for the trigger.
        field: the field path inside the step (``voucher.lines[0].amount``) or flow (``trigger.when``).
    """

    file: str
    line: int
    column: int
    step: str | None
    field: str

    @property
    def where(self) -> str:
        """``file:line:column``, the form :class:`~huiliu.errors.FlowFileError` uses."""
        return f"{self.file}:{self.line}:{self.column}"

    def label(self) -> Text:
        """The step and field, for messages."""
        if self.step is None:
            return t(f"字段 `{self.field}`", f"field `{self.field}`")
        return t(f"步骤 `{self.step}` 的字段 `{self.field}`", f"field `{self.field}` of step `{self.step}`")


ExpressionKind = Literal["literal", "native", "text", "condition"]


@dataclass(frozen=True, slots=True)
class ParsedSource:
    """A flow string parsed but not yet compiled: its kind, its expression text and its syntax tree.

    Attributes:
        kind: ``literal``, ``native`` (one ``{{ expr }}``), ``text`` (rendered) or ``condition`` (bare).
        source: the string as written.
        expression: for ``native`` and ``condition``, the expression text without braces.
        names: top-level names the string reads (``instance``, ``steps``, a loop variable …).
        step_refs: step ids read through ``steps.<id>`` or ``steps['<id>']``.
        statements: ``{% %}`` statement kinds found in a text template (refused by the loader).
        filters: filter names used (``x | name``).
        tests: test names used (``x is name``).
    """

    kind: ExpressionKind
    source: str
    expression: str
    names: frozenset[str]
    step_refs: frozenset[str]
    statements: tuple[str, ...]
    filters: frozenset[str] = frozenset()
    tests: frozenset[str] = frozenset()


def _uses(tree: nodes.Node) -> tuple[frozenset[str], frozenset[str]]:
    filters = frozenset(n.name for n in tree.find_all(nodes.Filter))
    tests = frozenset(n.name for n in tree.find_all(nodes.Test))
    return filters, tests


def _references(tree: nodes.Node) -> tuple[frozenset[str], frozenset[str]]:
    names = {n.name for n in tree.find_all(nodes.Name) if n.ctx == "load"}
    refs: set[str] = set()
    for node in tree.find_all(nodes.Getattr):
        if isinstance(node.node, nodes.Name) and node.node.name == "steps":
            refs.add(node.attr)
    for item in tree.find_all(nodes.Getitem):
        if (isinstance(item.node, nodes.Name) and item.node.name == "steps"
                and isinstance(item.arg, nodes.Const)):
            refs.add(str(item.arg.value))
    return frozenset(names), frozenset(refs)


def _single_expression(source: str, tree: nodes.Template) -> str | None:
    """The inner text if ``source`` is exactly one ``{{ expr }}`` with only whitespace around it."""
    stripped = source.strip()
    if not (stripped.startswith("{{") and stripped.endswith("}}")):
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], nodes.Output):
        return None
    parts = [n for n in tree.body[0].nodes
             if not (isinstance(n, nodes.TemplateData) and not n.data.strip())]
    if len(parts) != 1 or isinstance(parts[0], nodes.TemplateData):
        return None
    inner = stripped[2:-2]
    # Whitespace control markers (``{{- x -}}``) belong to the braces, not to the expression.
    if inner[:1] in "-+":
        inner = inner[1:]
    if inner[-1:] in "-+":
        inner = inner[:-1]
    return inner


def parse_value(source: str) -> ParsedSource:
    """Classify and parse a flow string value.

    Raises:
        TemplateSyntaxError: the string is not a valid template.
    """
    if "{{" not in source:
        return ParsedSource("literal", source, "", frozenset(), frozenset(), ())
    tree = environment.parse(source)
    names, refs = _references(tree)
    filters, tests = _uses(tree)
    inner = _single_expression(source, tree)
    if inner is not None:
        return ParsedSource("native", source, inner, names, refs, (), filters, tests)
    statements = tuple(type(n).__name__ for n in tree.body if not isinstance(n, nodes.Output))
    return ParsedSource("text", source, "", names, refs, statements, filters, tests)


def parse_condition(source: str) -> ParsedSource:
    """Parse a bare expression (a ``when:`` condition).

    Raises:
        TemplateSyntaxError: the expression is not valid.
    """
    parser = Parser(environment, source, state="variable")
    expr = parser.parse_expression()
    if not parser.stream.eos:
        token = parser.stream.current
        raise TemplateSyntaxError(f"unexpected {token.value!r} after the expression", token.lineno)
    names, refs = _references(expr)
    filters, tests = _uses(expr)
    return ParsedSource("condition", source, source, names, refs, (), filters, tests)


def _plain(value: Any, depth: int = 0) -> Any:
    """Check a native result is data: no undefined, no functions, nothing too large or too deep."""
    if isinstance(value, Undefined):
        str(value)  # StrictUndefined raises UndefinedError with the name that was missing
    if isinstance(value, str):
        _check_size(value)
        return value
    if value is None or isinstance(value, bool | int | float | Decimal):
        return value
    if depth > 50:
        raise _refuse("结果嵌套过深", "result nested too deeply")
    if isinstance(value, Mapping):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | range):
        _check_size(value if not isinstance(value, range) else ())
        return [_plain(v, depth + 1) for v in value]
    raise TypeError(f"the expression gave a {type(value).__name__}, which is not data")


_Evaluator = Callable[[Mapping[str, Any]], Any]


@dataclass(frozen=True, slots=True)
class Expression:
    """A flow string compiled once, evaluated many times.

    Attributes:
        kind: ``literal``, ``native``, ``text`` or ``condition``.
        source: the string as written in the flow.
        origin: where it is written.
    """

    kind: ExpressionKind
    source: str
    origin: Origin
    _evaluate: _Evaluator

    @classmethod
    def compile(cls, parsed: ParsedSource, origin: Origin) -> Expression:
        """Compile a parsed string.

        Raises:
            TemplateSyntaxError: an unknown filter or test (``TemplateAssertionError``).
        """
        evaluate: _Evaluator
        if parsed.kind == "literal":
            literal = parsed.source

            def evaluate(_scope: Mapping[str, Any]) -> Any:
                return literal
        elif parsed.kind in ("native", "condition"):
            compiled = environment.compile_expression(parsed.expression, undefined_to_none=False)

            def evaluate(scope: Mapping[str, Any]) -> Any:
                return _plain(compiled(scope))
        else:
            template = environment.from_string(parsed.source)

            def evaluate(scope: Mapping[str, Any]) -> Any:
                text = template.render(scope)
                _check_size(text)
                return text
        return cls(parsed.kind, parsed.source, origin, evaluate)

    @classmethod
    def constant(cls, value: object, origin: Origin) -> Expression:
        """A YAML scalar that is not a string (a number, ``true``, ``null``): always itself."""

        def evaluate(_scope: Mapping[str, Any]) -> Any:
            return value

        return cls("literal", repr(value), origin, evaluate)

    def evaluate(self, scope: Mapping[str, Any]) -> Any:
        """Evaluate against a run's context (plus loop variables).

        Raises:
            MappingError: the expression failed on this data; the message names the flow file and line,
                the step, the field and the expression.
        """
        try:
            return self._evaluate(scope)
        except (TemplateError, TypeError, ValueError, ArithmeticError, LookupError, AttributeError,
                RecursionError) as exc:
            raise self.error(exc) from exc

    def error(self, exc: BaseException) -> MappingError:
        """The :class:`MappingError` for ``exc`` raised while evaluating this expression."""
        label = self.origin.label()
        if isinstance(exc, SecurityError) or (isinstance(exc, OverflowError) and "MAX_RANGE" in str(exc)):
            what = t(f"{label.zh} 的表达式被沙箱拒绝：{exc}（表达式 {self.source}）",
                     f"the sandbox refused the expression of {label.en}: {exc} (expression {self.source})")
            fix = t("表达式只能读取数据并做有限的计算；去掉私有属性（__…）和超大的运算",
                    "expressions may only read data and compute within limits; drop private attributes "
                    "(__…) and huge operations")
        elif isinstance(exc, UndefinedError):
            what = t(f"{label.zh} 引用了不存在的数据：{exc.message}（表达式 {self.source}）",
                     f"{label.en} refers to missing data: {exc.message} (expression {self.source})")
            fix = t("检查字段名的拼写与该事件的实际数据；可用 default 过滤器给出缺省值，例如 x | default('')",
                    "check the field name against the event's data; give a fallback with the default "
                    "filter, e.g. x | default('')")
        else:
            what = t(f"{label.zh} 求值失败：{type(exc).__name__}: {exc}（表达式 {self.source}）",
                     f"{label.en} failed: {type(exc).__name__}: {exc} (expression {self.source})")
            fix = t("检查表达式与数据的类型是否相符（例如金额用 decimal 过滤器解析）",
                    "check that the expression fits the data's types (e.g. parse amounts with the "
                    "decimal filter)")
        return MappingError(what, where=self.origin.where, fix=fix)
