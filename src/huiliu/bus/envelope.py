"""The canonical envelope: what a connector makes of a vendor event."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from huiliu.model import aware

__all__ = ["Envelope"]

_NAMESPACE = uuid.UUID("6f1c7f0e-6a39-4c1b-9a51-1f5e2b0c7d11")


@dataclass(frozen=True, slots=True)
class Envelope:
    """One vendor event in canonical form.

    Attributes:
        source: the system it came from (``dingtalk``).
        type: ``<system>.<entity>.<past-verb>``, e.g. ``dingtalk.approval.approved``.
        native_id: the vendor's id of the object (the approval instance id).
        version: what distinguishes two events of one object (its status); with ``source`` and
            ``native_id`` it is the inbox's idempotency key.
        business_key: the key runs and ordering are grouped by.
        payload: the canonical object, JSON-shaped.
        occurred_at: when it happened at the source (tz-aware).
    """

    source: str
    type: str
    native_id: str
    version: str
    business_key: str
    payload: dict[str, Any]
    occurred_at: datetime
    id: str = field(default="")

    def __post_init__(self) -> None:
        aware(self.occurred_at, "occurred_at")
        if not self.id:
            # Deterministic: the same event always gets the same id, which keeps replays idempotent.
            key = f"{self.source}\x1f{self.native_id}\x1f{self.version}"
            object.__setattr__(self, "id", str(uuid.uuid5(_NAMESPACE, key)))
