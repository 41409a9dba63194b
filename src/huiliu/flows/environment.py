"""The Jinja2 sandbox flow expressions run in: immutable, bounded, and without a text form for code.

Owns: the one sandboxed environment, its size limits, and the flow filters (``decimal``, ``sum_amount``,
``fen``, ``local_date``, ``add_days``). Does not own: how flow strings are classified, compiled and reported
(``expressions``).

The bounds, and why each is there:

* ``*``, ``**`` and ``%`` are checked before the result is built. ``*`` counts what the result holds,
  nested (``['a' * 10**6] * 10**6`` is a short list of one long string, repeated: 10**12 characters
  once turned into text or JSON).
* Padding and replacing (``center``, ``ljust``, ``zfill``, ``replace`` …, on text and bytes), ``join``
  and ``batch`` are checked before they build; ``translate`` and a ``sum`` of lists (quadratic) are
  refused. Every filter and every call has its result checked after, so a chain of growing filters
  (``|urlencode|urlencode…``) stops at the first one too large.
* Functions and methods are values code can call but never turn into text: ``{{ range }}`` or
  ``form.items | string`` would otherwise show Python's ``<function safe_range at 0x…>``.
"""

from __future__ import annotations

import math
import types
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from functools import update_wrapper
from typing import Any

from jinja2 import StrictUndefined, Undefined
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from huiliu.model import parse_amount

__all__ = [
    "MAX_POWER_BITS",
    "MAX_SIZE",
    "MAX_WEIGHT",
    "check_size",
    "check_weight",
    "environment",
    "refuse",
    "weight",
]

MAX_SIZE = 1_000_000
"""Longest string or list an operator or filter may build."""

MAX_WEIGHT = 10 * MAX_SIZE
"""Most a filter's or call's result may hold, nested (see :func:`weight`)."""

MAX_POWER_BITS = 128
"""Largest integer ``**`` may produce, in bits (38 decimal digits, beyond any amount ``Decimal`` keeps).

Jinja's ``**`` groups left to right: ``10**10**10`` is ``(10**10)**10``, 333 bits, refused."""

_CENT = Decimal("0.01")
# ``isinstance`` with a tuple of types is about twice as fast as with an ``X | Y`` union, and these checks
# run on every expression's and every filter's result.
_TEXT = (str, bytes, bytearray)
_SEQUENCES = (list, tuple)
_SIZED = (str, list, tuple)
_PADDING_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})


def refuse(zh: str, en: str) -> SecurityError:
    """The error for an operation the sandbox refuses, in both languages."""
    return SecurityError(f"{zh} / {en}")


def check_size(value: object) -> None:
    """Refuse a string or list longer than :data:`MAX_SIZE`."""
    if isinstance(value, _SIZED) and len(value) > MAX_SIZE:
        raise refuse(f"结果过大（{len(value)} > {MAX_SIZE}）", f"result too large ({len(value)} > {MAX_SIZE})")


def weight(value: object, limit: int = MAX_WEIGHT) -> int:
    """What ``value`` holds: the characters of its strings plus one per item, nested.

    A value used twice counts twice (``[s] * 3`` weighs three ``s``): that is what turning it into text
    or JSON costs. Counting stops once past ``limit``, so the walk is bounded and the result exact only
    up to ``limit``.
    """
    if isinstance(value, _TEXT):  # most results: nothing to walk
        return len(value)
    total = 0
    stack = [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, _TEXT):
            total += len(item)
        elif isinstance(item, _SEQUENCES):
            total += len(item)
            stack.extend(item)
        elif isinstance(item, Mapping):
            total += len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
    return total


def check_weight(value: object) -> None:
    """Refuse a value that holds more than :data:`MAX_WEIGHT`, nested (see :func:`weight`)."""
    if weight(value) > MAX_WEIGHT:
        raise refuse(f"结果过大（嵌套后超过 {MAX_WEIGHT}）", f"result too large (more than {MAX_WEIGHT} nested)")


def _check_result(value: object) -> None:
    check_size(value)
    check_weight(value)


def _bounded_binop(operator: str, left: Any, right: Any) -> Any:
    """``*``, ``**`` and ``%`` with their result size checked before it is built."""
    if operator == "*":
        for seq, count in ((left, right), (right, left)):
            if isinstance(seq, str | list | tuple) and isinstance(count, int) and not isinstance(count, bool):
                size = weight(seq, MAX_SIZE)
                if count > 0 and size * count > MAX_SIZE:
                    raise refuse(f"重复后的结果过大（{size} × {count}）", f"repetition too large ({size} x {count})")
        return left * right
    if operator == "**":
        if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0:
            bits = right * math.log2(abs(left))
            if bits > MAX_POWER_BITS:
                raise refuse(f"乘方结果过大（约 {bits:.0f} 位二进制）", f"power too large (about {bits:.0f} bits)")
        return left**right
    if operator == "%":
        if isinstance(left, str):
            raise refuse("不支持用 % 格式化文本，请用 ~ 拼接或 fen 过滤器",
                         "text formatting with % is not supported; use ~ or the fen filter")
        return left % right
    raise refuse(f"不支持的运算符 {operator}", f"unsupported operator {operator}")


class _Callable:
    """A function or method as flow expressions see it: it can be called, but has no text form.

    Python's own text for one (``<built-in method items of dict object at 0x…>``) names internals and
    memory addresses; it must never end up in a voucher's summary or an error message.
    """

    __slots__ = ("target",)

    def __init__(self, target: Callable[..., Any]) -> None:
        self.target = target

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.target(*args, **kwargs)

    def __str__(self) -> str:
        raise refuse("函数或方法不是数据，不能转成文本（是否漏了括号，例如 x.upper()？）",
                     "a function or method is not data and has no text form (missing brackets, e.g. "
                     "x.upper()?)")

    __repr__ = __str__

    def __format__(self, spec: str) -> str:
        return self.__str__()


def _opaque(value: Any) -> Any:
    """``value``, wrapped in :class:`_Callable` when it is code rather than data."""
    if callable(value) and not isinstance(value, Undefined | _Callable):
        return _Callable(value)
    return value


def _check_replace(text: str | bytes | bytearray, old: object, new: object) -> None:
    if isinstance(old, str | bytes) and isinstance(new, str | bytes) and len(new) > len(old):
        hits = text.count(old) if old else len(text) + 1  # type: ignore[arg-type]
        if len(text) + hits * (len(new) - len(old)) > MAX_SIZE:
            raise refuse("replace 的结果过大", "result of replace too large")


def _check_join(separator: str | bytes | bytearray, items: list[Any]) -> None:
    total = len(separator) * max(len(items) - 1, 0)
    total += sum(len(item) for item in items if isinstance(item, str | bytes | bytearray))
    if total > MAX_SIZE:
        raise refuse(f"join 的结果过大（{total} > {MAX_SIZE}）", f"result of join too large ({total} > {MAX_SIZE})")


class _FlowEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox with size-bounded operators and calls, dict keys preferred over dict methods, and
    functions without a text form.
    """  # noqa: D205

    intercepted_binops = frozenset({"*", "**", "%"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """Apply ``*``, ``**`` or ``%`` after checking the size of the result."""
        return _bounded_binop(operator, left, right)

    def getattr(self, obj: Any, attribute: str) -> Any:
        """``row.items`` is the row's ``items`` field, not ``dict.items``: data first, methods after."""
        if type(obj) is dict and attribute in obj:
            return obj[attribute]
        return _opaque(super().getattr(obj, attribute))

    def getitem(self, obj: Any, argument: Any) -> Any:
        """``x['upper']`` falls back to the method, as in Jinja, but without a text form."""
        return _opaque(super().getitem(obj, argument))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """``str.format`` and ``format_map`` pad without bound: refused; ``~`` and filters build text."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None

        def refused(*_args: Any, **_kwargs: Any) -> str:
            raise refuse("不支持 format，请用 ~ 拼接或 fen 过滤器", "format is not supported; use ~ or the fen filter")

        return refused

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        """Refuse text and bytes methods whose result would be too large, call, and check the result."""
        target = __obj.target if isinstance(__obj, _Callable) else __obj
        if isinstance(target, types.BuiltinMethodType) and isinstance(target.__self__, str | bytes | bytearray):
            owner, name = target.__self__, target.__name__
            if name in _PADDING_METHODS and any(isinstance(a, int) and a > MAX_SIZE for a in args):
                raise refuse(f"{name} 的宽度过大", f"width of {name} too large")
            if name == "replace" and len(args) >= 2:
                _check_replace(owner, args[0], args[1])
            if name == "join" and len(args) == 1:
                args = (list(args[0]),)
                _check_join(owner, args[0])
            if name == "translate" and isinstance(owner, str):  # one character may become a whole text
                raise refuse("不支持 translate，请用 replace", "translate is not supported; use replace")
        result = super().call(__context, target, *args, **kwargs)
        _check_result(result)
        return _opaque(result)


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


def _filter_add_days(value: object, days: int) -> str:
    """A calendar date ``days`` later (earlier when negative): ``"2026-11-26" | add_days(-1)`` → ``"2026-11-25"``.

    Takes a date (``YYYY-MM-DD``, e.g. from ``local_date``); at most ten years either way.
    """
    if isinstance(days, bool) or not isinstance(days, int) or abs(days) > 3660:
        raise ValueError(f"add_days: {days!r} is not a whole number of days within ten years")
    return (date.fromisoformat(str(value)[:10]) + timedelta(days=days)).isoformat()


def _wrap(original: Callable[..., Any], guarded: Callable[..., Any]) -> Callable[..., Any]:
    """``guarded`` with ``original``'s name and Jinja markers (``jinja_pass_arg``)."""
    return update_wrapper(guarded, original)


def _bounded_filter(name: str, original: Callable[..., Any], width_arg: int) -> Callable[..., Any]:
    def guarded(*args: Any, **kwargs: Any) -> Any:
        width = args[width_arg] if len(args) > width_arg else kwargs.get("width", 0)
        if isinstance(width, int) and width > MAX_SIZE:
            raise refuse(f"{name} 的参数过大", f"argument of {name} too large")
        return original(*args, **kwargs)

    return _wrap(original, guarded)


def _guarded_join(original: Callable[..., Any]) -> Callable[..., Any]:
    def join(eval_ctx: Any, value: Any, d: str = "", attribute: Any = None) -> Any:
        items = list(value)
        _check_join(str(d), items if attribute is None else [])
        return original(eval_ctx, items, d, attribute)

    return _wrap(original, join)


def _guarded_replace(original: Callable[..., Any]) -> Callable[..., Any]:
    def replace(eval_ctx: Any, s: Any, old: Any, new: Any, count: Any = None) -> Any:
        _check_replace(str(s), str(old), str(new))
        return original(eval_ctx, s, old, new, count)

    return _wrap(original, replace)


def _guarded_batch(original: Callable[..., Any]) -> Callable[..., Any]:
    def batch(value: Any, linecount: Any, fill_with: Any = None) -> Any:
        if isinstance(linecount, int) and linecount * max(weight(fill_with, MAX_SIZE), 1) > MAX_SIZE:
            raise refuse("batch 的参数过大", "argument of batch too large")
        return original(value, linecount, fill_with)

    return _wrap(original, batch)


def _guarded_sum(original: Callable[..., Any]) -> Callable[..., Any]:
    def sum_(environment: Any, iterable: Any, attribute: Any = None, start: Any = 0) -> Any:
        if isinstance(start, str | list | tuple):  # adding lists one by one copies them again and again
            raise refuse("sum 只能对数字求和", "sum adds numbers only")
        return original(environment, iterable, attribute, start)

    return _wrap(original, sum_)


def _checked(original: Callable[..., Any]) -> Callable[..., Any]:
    """A filter whose result is checked: a chain of filters that each make text longer stops in time."""

    def checked(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        _check_result(result)
        return result

    return _wrap(original, checked)


def _build_environment() -> _FlowEnvironment:
    env = _FlowEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    # Non-deterministic or unbounded helpers are not for flows: runs must replay to the same result.
    for name in ("lipsum", "cycler", "joiner", "namespace"):
        env.globals.pop(name, None)
    for name in ("random", "format", "slice", "wordwrap", "urlize", "xmlattr"):
        env.filters.pop(name, None)
    env.globals.update({name: _opaque(value) for name, value in env.globals.items()})
    env.filters["center"] = _bounded_filter("center", env.filters["center"], 1)
    env.filters["indent"] = _bounded_filter("indent", env.filters["indent"], 1)
    env.filters["join"] = _guarded_join(env.filters["join"])
    env.filters["replace"] = _guarded_replace(env.filters["replace"])
    env.filters["batch"] = _guarded_batch(env.filters["batch"])
    env.filters["sum"] = _guarded_sum(env.filters["sum"])
    env.filters["decimal"] = _filter_decimal
    env.filters["sum_amount"] = _filter_sum_amount
    env.filters["fen"] = _filter_fen
    env.filters["local_date"] = _filter_local_date
    env.filters["add_days"] = _filter_add_days
    env.filters.update({name: _checked(f) for name, f in env.filters.items()})
    return env


environment = _build_environment()
"""The one sandboxed environment every flow expression is compiled in."""
