"""The seam between flows and vendor systems: named actions with idempotency context."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from huiliu.errors import ConfigError, VendorRejected
from huiliu.i18n import t

__all__ = ["Action", "ActionContext", "ActionRegistry", "CallObserver", "CallRecord", "FindOrCreate"]


@dataclass(frozen=True, slots=True)
class ActionContext:
    """What an action needs to be idempotent.

    Attributes:
        idempotency_key: derived from (flow, business key, step); recorded before the first call.
        attempt: 1 on the first try. From 2 on, a previous try may have reached the vendor, so an
            action that creates something looks its reference up first (DESIGN.md, invariant 3).
        reference: a short hub-set reference derived from the key, for vendors that store one.
    """

    idempotency_key: str
    attempt: int
    reference: str


Action = Callable[[Mapping[str, Any], ActionContext], Awaitable[Mapping[str, Any]]]
"""An external effect: takes the request built by the flow, returns a JSON-shaped result."""


class ActionRegistry:
    """The actions flows may call, by name (``<system>.<entity>.<verb>``)."""

    def __init__(self) -> None:
        self._actions: dict[str, Action] = {}

    def register(self, name: str, action: Action) -> None:
        """Add an action; a name can be registered once."""
        if name in self._actions:
            raise ValueError(f"action {name} registered twice")
        self._actions[name] = action

    def names(self) -> frozenset[str]:
        """Every registered name."""
        return frozenset(self._actions)

    def get(self, name: str) -> Action:
        """Return the action, or raise a :class:`ConfigError` listing the known ones."""
        try:
            return self._actions[name]
        except KeyError:
            known = ", ".join(sorted(self._actions)) or "(none)"
            raise ConfigError(
                t(f"未知的动作 {name}", f"unknown action {name}"),
                fix=t(f"可用的动作：{known}", f"known actions: {known}"),
            ) from None


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One HTTP call to a vendor, for the event log and metrics."""

    system: str
    operation: str
    status: int | None
    duration_ms: float
    outcome: str
    started_at: datetime


class CallObserver(Protocol):
    """Receives a record of every external call."""

    def __call__(self, record: CallRecord) -> None:
        """Record one call."""


_T = TypeVar("_T")


class FindOrCreate:
    """Master data (a supplier, an item) created at most once, however many approvals name it at once.

    Within this process one find-or-create runs at a time per key; across processes, the ERP's refusal of
    a duplicate (a unique code) is answered by finding again and adopting what the other one made.
    """

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}

    async def once(self, key: str, find_or_create: Callable[[], Awaitable[_T]]) -> _T:
        """Run a connector's own find-or-create for ``key``, one at a time; a refusal means another process
        created it meanwhile, so the find-or-create runs once more (and finds it).
        """  # noqa: D205
        async with self._locks.setdefault(key, asyncio.Lock()):
            try:
                return await find_or_create()
            except VendorRejected:
                return await find_or_create()

    async def ensure(self, key: str, find: Callable[[], Awaitable[_T | None]],
                     create: Callable[[], Awaitable[_T]]) -> tuple[_T, bool]:
        """``(record, created)``: the record ``find`` returns, else the one ``create`` makes.

        Raises:
            VendorRejected: the create was refused and nothing was found afterwards either.
        """
        async with self._locks.setdefault(key, asyncio.Lock()):
            found = await find()
            if found is not None:
                return found, False
            try:
                return await create(), True
            except VendorRejected:
                found = await find()  # another process created it meanwhile: adopt it
                if found is None:
                    raise
                return found, False
