"""The objects the Tryton integration tests share: the running server and one test's client and actions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import aiohttp

from huiliu.connectors.base import ActionRegistry
from huiliu.connectors.http import HttpClient
from huiliu.connectors.tryton import SYSTEM, TrytonClient, TrytonSettings, register_actions


@dataclass
class TrytonServer:
    """A running trytond: where it listens, how to log in, and the ids of the template's set-up."""

    url: str
    database: str
    login: str
    password: str
    info: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)

    def settings(self, **overrides: Any) -> TrytonSettings:
        values: dict[str, Any] = {
            "base_url": self.url, "database": self.database, "username": self.login, "password": self.password,
            "account_category": self.info["account_category"], "payment_term": self.info["payment_term"],
            "ambiguous_wait": 0,
        }
        values.update(overrides)
        return TrytonSettings.model_validate(values)


@dataclass
class Env:
    """What one test uses: the server, a client, and the registered actions."""

    server: TrytonServer
    settings: TrytonSettings
    client: TrytonClient
    registry: ActionRegistry
    http: aiohttp.ClientSession

    def make(self, **overrides: Any) -> Env:
        settings = self.server.settings(**overrides)
        client = TrytonClient(settings, HttpClient(SYSTEM, self.http, timeout=settings.timeout))
        registry = ActionRegistry()
        register_actions(registry, client, settings)
        return Env(self.server, settings, client, registry, self.http)
