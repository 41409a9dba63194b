"""The expression language of flows: Jinja2 in an immutable sandbox, bounded and strict.

Owns: compiling a flow string once at load time into an :class:`Expression`, and turning every
evaluation failure into a :class:`~huiliu.errors.MappingError` that names the flow file, line, step,
field and expression. Does not own: the sandbox, its bounds and its filters (``environment``), where the
strings come from (``loader``) or what the values are used for (``steps``).

The rule for a string value in a flow:

* no ``{{`` — a literal;
* exactly one ``{{ expr }}`` (whitespace around allowed) — the expression's native value (a list stays a
  list, a ``Decimal`` stays a ``Decimal``);
* anything else with ``{{`` — rendered to text. Only ``{{ }}`` output is allowed in text: ``{% %}``
  statements are refused at load time, so no template can loop.

``when:`` conditions are bare expressions without braces.

Undefined names and fields are errors (``StrictUndefined``), never an empty string. Results that could
exhaust memory (``'a' * 10**9``, ``10**10**10``, ``'x'|center(10**9)``) are refused before they are built;
an expression nested deeper than :data:`MAX_DEPTH` is a syntax error (Jinja would overflow the stack).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from jinja2 import Undefined, nodes
from jinja2.exceptions import SecurityError, TemplateError, TemplateSyntaxError, UndefinedError
from jinja2.parser import Parser

from huiliu.errors import MappingError
from huiliu.flows.environment import MAX_POWER_BITS, MAX_SIZE, check_size, check_weight, environment, refuse
from huiliu.i18n import Text, t

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

MAX_ITEMS = 10_000
"""Most items a ``for_each`` may iterate over."""

MAX_DEPTH = 50
"""Deepest an expression may nest (brackets, operators, filters): Jinja parses and compiles recursively."""


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
        paths: constant access paths from a name, e.g. ``("instance", "originator_user_id")`` or
            ``("steps", "claim", "lines")``: what the loader checks against the data each name holds.
    """

    kind: ExpressionKind
    source: str
    expression: str
    names: frozenset[str]
    step_refs: frozenset[str]
    statements: tuple[str, ...]
    filters: frozenset[str] = frozenset()
    tests: frozenset[str] = frozenset()
    paths: frozenset[tuple[str, ...]] = frozenset()
    filtered: frozenset[tuple[str, tuple[str, ...]]] = frozenset()
    """(filter, path) where a filter is applied straight to a constant path, e.g. ``("decimal",
    ("instance", "finished_at"))``: what the loader checks against the type the data has there."""


def _chain(node: nodes.Node) -> tuple[str, tuple[str, ...], bool] | None:
    """A ``name.a['b'][x].c`` chain as (name, constant keys up to a computed one, whether all are constant).

    Here ``("name", ("a", "b"), False)``; ``None`` unless the chain starts at a name with a constant key.
    """
    keys: list[str] = []
    constant = True
    while isinstance(node, nodes.Getattr | nodes.Getitem):
        if isinstance(node, nodes.Getattr):
            keys.append(node.attr)
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            keys.append(node.arg.value)
        else:
            keys.clear()  # a computed key: only what lies between it and the name is known
            constant = False
        node = node.node
    if not isinstance(node, nodes.Name) or not keys:
        return None
    return node.name, tuple(reversed(keys)), constant


def _filtered(tree: nodes.Node) -> frozenset[tuple[str, tuple[str, ...]]]:
    """(filter, path) for every filter applied straight to a chain of constant keys."""
    found = set()
    for node in tree.find_all(nodes.Filter):
        chain = _chain(node.node) if node.node is not None else None
        if chain is not None and chain[2]:
            found.add((node.name, (chain[0], *chain[1])))
    return frozenset(found)


def _paths(tree: nodes.Node) -> frozenset[tuple[str, ...]]:
    """Every ``name.a.b`` / ``name['a']`` chain of constant keys, from its name (at most three deep)."""
    found: set[tuple[str, ...]] = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        chain = _chain(node)
        if chain is not None:
            found.add((chain[0], *chain[1])[:3])
    return frozenset(found)


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


def _too_deep() -> TemplateSyntaxError:
    return TemplateSyntaxError(f"表达式嵌套超过 {MAX_DEPTH} 层 / the expression nests more than {MAX_DEPTH} "
                               "levels deep", 1)


def _shallow(parse: Callable[[], nodes.Node]) -> Any:
    """The tree ``parse`` gives, refused when it nests deeper than :data:`MAX_DEPTH`.

    Jinja's parser and code generator recurse once per level: ``((((…))))`` a few hundred deep would
    raise ``RecursionError`` there, so a deep tree is refused here, as a syntax error with a place.
    """
    try:
        tree = parse()
    except RecursionError as exc:
        raise _too_deep() from exc
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _too_deep()
        stack.extend((child, depth + 1) for child in node.iter_child_nodes())
    return tree


def parse_value(source: str) -> ParsedSource:
    """Classify and parse a flow string value.

    Raises:
        TemplateSyntaxError: the string is not a valid template, or nests too deeply.
    """
    if "{{" not in source:
        return ParsedSource("literal", source, "", frozenset(), frozenset(), ())
    tree: nodes.Template = _shallow(lambda: environment.parse(source))
    names, refs = _references(tree)
    filters, tests = _uses(tree)
    inner = _single_expression(source, tree)
    if inner is not None:
        return ParsedSource("native", source, inner, names, refs, (), filters, tests, _paths(tree), _filtered(tree))
    statements = tuple(type(n).__name__ for n in tree.body if not isinstance(n, nodes.Output))
    return ParsedSource("text", source, "", names, refs, statements, filters, tests, _paths(tree), _filtered(tree))


def parse_condition(source: str) -> ParsedSource:
    """Parse a bare expression (a ``when:`` condition).

    Raises:
        TemplateSyntaxError: the expression is not valid, or nests too deeply.
    """
    parser = Parser(environment, source, state="variable")
    expr: nodes.Expr = _shallow(parser.parse_expression)
    if not parser.stream.eos:
        token = parser.stream.current
        raise TemplateSyntaxError(f"unexpected {token.value!r} after the expression", token.lineno)
    names, refs = _references(expr)
    filters, tests = _uses(expr)
    return ParsedSource("condition", source, source, names, refs, (), filters, tests, _paths(expr),
                        _filtered(expr))


_SCALARS = (bool, int, float, Decimal)  # tuples: ``isinstance`` checks them faster than ``X | Y`` unions
_LISTS = (list, tuple, range)


def _plain(value: Any, depth: int = 0) -> Any:
    """Check a native result is data: no undefined, no functions, nothing too large or too deep."""
    if isinstance(value, Undefined):
        str(value)  # StrictUndefined raises UndefinedError with the name that was missing
    if isinstance(value, str):
        check_size(value)
        return value
    if value is None or isinstance(value, _SCALARS):
        return value
    if depth > 50:
        raise refuse("结果嵌套过深", "result nested too deeply")
    if isinstance(value, Mapping):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, _LISTS):
        check_size(value if not isinstance(value, range) else ())
        return [_plain(v, depth + 1) for v in value]
    if callable(value):
        raise TypeError("the expression gave a function or method, which is not data (missing brackets, e.g. "
                        "x.upper()?)")
    raise TypeError(f"the expression gave a {type(value).__name__}, which is not data")


def _data(value: Any) -> Any:
    """:func:`_plain`, after checking the whole result is not too large (one value can be used many times)."""
    check_weight(value)
    return _plain(value)


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
                return _data(compiled(scope))
        else:
            template = environment.from_string(parsed.source)

            def evaluate(scope: Mapping[str, Any]) -> Any:
                text = template.render(scope)
                check_size(text)
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
