"""JSON for stored payloads: ``Decimal`` stays exact (as a string), times stay tz-aware ISO 8601."""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

__all__ = ["dumps", "loads", "to_jsonable"]


def to_jsonable(value: Any) -> Any:
    """Return a JSON-ready copy of ``value``: Decimals and dates become strings, dataclasses dicts."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or kind is float or value is None:  # the common case first
        return value
    if kind is dict:
        return {k if type(k) is str else str(k): to_jsonable(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [to_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if isinstance(value, str | int | float):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    raise TypeError(f"cannot store {type(value).__name__} as JSON")


def dumps(value: Any) -> str:
    """Serialise to compact JSON text; Chinese is kept as is, not escaped."""
    return json.dumps(to_jsonable(value), ensure_ascii=False, separators=(",", ":"))


def loads(text: str | None) -> Any:
    """Parse JSON text; ``None`` stays ``None``."""
    return None if text is None else json.loads(text)
