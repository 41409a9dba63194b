"""JSON for stored payloads: ``Decimal`` stays exact (as a string), times stay tz-aware ISO 8601."""

from __future__ import annotations

import dataclasses
import enum
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

__all__ = ["dumps", "loads", "to_jsonable"]


def to_jsonable(value: Any) -> Any:
    """Return a JSON-ready copy of ``value``: Decimals and dates become strings, dataclasses dicts."""
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
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
