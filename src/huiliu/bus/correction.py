"""Corrections to a dead effect's mapped request: which paths may change, to what, and the checks after.

A correction names leaves of the request by path (``voucher.lines[0].account``) and gives each a new
value as text. Each path must already exist and be editable (never the hub reference: the re-push must
find the same document), and the value must keep the leaf's type: an amount stays a decimal string with
at most two decimals, a date an ISO date, a number a number. A request that holds a voucher must still
build a balanced :class:`huiliu.model.Voucher`. Every refusal is a bilingual :class:`HuiliuError` naming
the path. Does not own: saving and re-pushing (:meth:`huiliu.bus.DeadLetters.correct`).
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from huiliu.bus.deadletterview import editable, leaves, path_text, value_type
from huiliu.errors import HuiliuError
from huiliu.i18n import Text, t
from huiliu.model.purchasing import voucher_from_json

__all__ = ["MAX_CHANGES", "MAX_VALUE", "Change", "apply_changes"]

MAX_CHANGES = 50
"""Most fields one correction may change."""
MAX_VALUE = 500
"""Longest new value, in characters."""

_AMOUNT = re.compile(r"^-?\d{1,15}(\.\d{1,2})?$")
_INTEGER = re.compile(r"^-?\d{1,18}$")


@dataclass(frozen=True, slots=True)
class Change:
    """One corrected leaf: its path, the value before and after."""

    path: str
    old: Any
    new: Any


def apply_changes(request: Mapping[str, Any], changes: Mapping[str, str]) -> tuple[dict[str, Any], list[Change]]:
    """The corrected copy of ``request`` and what changed; ``request`` itself is left as it is.

    Raises:
        HuiliuError: no changes or too many, an unknown or read-only path, a value of the wrong type, or
            (for a voucher) a result that is malformed or does not balance.
    """
    if not changes:
        raise HuiliuError(t("没有要修改的字段", "no fields to change"), where="changes",
                          fix=t("至少给出一个 路径=新值", "give at least one path=value"))
    if len(changes) > MAX_CHANGES:
        raise HuiliuError(t(f"一次最多修改 {MAX_CHANGES} 个字段", f"at most {MAX_CHANGES} fields at once"),
                          where="changes", fix=t("分几次修改", "correct in several steps"))
    known = {path_text(path): (path, value) for path, value in leaves(request)}
    corrected: dict[str, Any] = copy.deepcopy(dict(request))
    done: list[Change] = []
    for text, raw in changes.items():
        if text not in known:
            sample = ", ".join(list(known)[:6])
            raise HuiliuError(t(f"请求中没有字段 {text}", f"the request has no field {text}"), where=text,
                              fix=t(f"使用 explain 列出的路径，例如 {sample}",
                                    f"use a path explain lists, e.g. {sample}"))
        path, old = known[text]
        if not editable(path, old):
            raise HuiliuError(t(f"字段 {text} 不能修改", f"field {text} cannot be changed"), where=text,
                              fix=t("中枢参考号与辅助核算维度名不可修改：它们保证重新推送不会生成第二张单据",
                                    "the hub reference and dimension names are fixed: they keep a re-push from "
                                    "making a second document"))
        if not isinstance(raw, str) or len(raw) > MAX_VALUE:
            raise HuiliuError(t(f"字段 {text} 的新值应为不超过 {MAX_VALUE} 字的文本",
                                f"the new value of {text} must be a text of at most {MAX_VALUE} characters"),
                              where=text, fix=t("缩短该值", "shorten the value"))
        new = _convert(text, value_type(path, old), old, raw)
        _put(corrected, path, new)
        done.append(Change(text, old, new))
    voucher = corrected.get("voucher")
    if isinstance(voucher, Mapping):
        voucher_from_json(voucher)  # MappingError or UnbalancedVoucher: nothing is saved
    return corrected, done


def _convert(path: str, kind: str, old: Any, raw: str) -> Any:
    value = raw.strip()
    if kind == "text":
        return raw
    if kind == "decimal":
        if not _AMOUNT.match(value):
            raise _type_error(path, t("金额，最多两位小数，如 1280.50",
                                      "an amount with at most 2 decimals, e.g. 1280.50"), raw)
        return value
    if kind == "date":
        try:
            if len(value) != 10:
                raise ValueError(value)
            date.fromisoformat(value)
        except ValueError:
            raise _type_error(path, t("日期，格式 YYYY-MM-DD", "a date, YYYY-MM-DD"), raw) from None
        return value
    if kind == "datetime":
        try:
            datetime.fromisoformat(value)
        except ValueError:
            raise _type_error(path, t("ISO 8601 时间", "an ISO 8601 time"), raw) from None
        return value
    if kind == "number":
        if isinstance(old, int) and _INTEGER.match(value):
            return int(value)
        if not isinstance(old, int):
            try:
                number = float(value)
            except ValueError:
                number = math.nan
            if math.isfinite(number):
                return number
        raise _type_error(path, t("整数" if isinstance(old, int) else "数字",
                                  "an integer" if isinstance(old, int) else "a number"), raw)
    if kind == "boolean":
        if value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise _type_error(path, t("true 或 false", "true or false"), raw)
    raise HuiliuError(t(f"字段 {path} 没有值，不能修改", f"field {path} has no value and cannot be changed"),
                      where=path, fix=t("修正流程后重放", "fix the flow, then replay"))


def _type_error(path: str, expected: Text, raw: str) -> HuiliuError:
    return HuiliuError(t(f"字段 {path} 的新值 {raw!r} 类型不对：应为{expected.zh}",
                         f"the new value {raw!r} of {path} has the wrong type: expected {expected.en}"),
                       where=path, fix=t(f"按原类型填写：{expected.zh}", f"keep the type: {expected.en}"))


def _put(root: Any, path: tuple[str | int, ...], value: Any) -> None:
    target = root
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
