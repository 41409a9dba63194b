"""An app's access token, shared by every call: fetched once, refreshed before it expires, one refresh at a time.

DingTalk, WeCom and Feishu all hand out a token with a lifetime (7200 s) and refuse calls once it has
expired or been replaced. The cache refreshes ``margin`` before the vendor would expire it; concurrent
callers share one refresh (the lock is taken only when the token is stale, and the check is repeated
under it); a call refused for its token invalidates exactly that token, so a token another call already
refreshed is not thrown away.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

from huiliu.model import Clock

__all__ = ["TokenCache"]


class TokenCache:
    """One app's token.

    Args:
        fetch: gets a new token from the vendor: ``(token, lifetime in seconds)``.
        clock: time source (monotonic) for the expiry.
        margin: refresh this long before the lifetime runs out; a lifetime shorter than the margin is
            refreshed at half its length instead (otherwise every call would refresh).
    """

    def __init__(self, fetch: Callable[[], Awaitable[tuple[str, float]]], clock: Clock, margin: timedelta) -> None:
        self._fetch = fetch
        self._clock = clock
        self._margin = margin.total_seconds()
        self._token: str | None = None
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()

    async def get(self) -> str:
        """The cached token, or a fresh one when it is missing or due."""
        token = self._token
        if token is not None and self._clock.monotonic() < self._refresh_at:
            return token
        async with self._lock:
            token = self._token
            if token is not None and self._clock.monotonic() < self._refresh_at:
                return token
            token, lifetime = await self._fetch()
            self._token = token
            self._refresh_at = self._clock.monotonic() + (
                lifetime - self._margin if lifetime > self._margin else lifetime / 2)
            return token

    def invalidate(self, token: str) -> None:
        """Forget ``token`` if it is still the cached one (another call may have refreshed it already)."""
        if self._token == token:
            self._token = None
