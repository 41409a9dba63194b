"""What every router asks of a request: the hub, who acts, and query values bounded like the columns."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import Request

from huiliu.service import Hub

__all__ = ["MAX_ID", "actor_of", "as_utc", "hub_of"]

MAX_ID = 2**31 - 1
"""Largest id of a table's integer key (PostgreSQL's ``integer``): a bound for ids in paths and queries."""


def hub_of(request: Request) -> Hub:
    """The hub the app was built around."""
    hub: Hub = request.app.state.hub
    return hub


def actor_of(request: Request) -> str:
    """Who makes this change, for the event log: the signed-in user (``api`` before authorization ran)."""
    principal = getattr(request.state, "principal", None)
    return str(getattr(principal, "name", None) or "api")


def as_utc(value: datetime) -> datetime:
    """A time from a query, UTC when it names no zone."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)
