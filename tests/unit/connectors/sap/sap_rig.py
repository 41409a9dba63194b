"""Test rig: a SAP sandbox on 127.0.0.1 and a connector pointed at it, sharing one fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from huiliu.connectors.base import ActionContext, ActionRegistry
from huiliu.connectors.http import HttpClient
from huiliu.connectors.sap import SapClient, SapSettings, register_actions
from huiliu.sandbox import SandboxServer
from huiliu.sandbox.sap import SapSandbox
from huiliu.testing import FakeClock


@dataclass
class SapEnv:
    sandbox: SapSandbox
    client: SapClient
    settings: SapSettings
    registry: ActionRegistry
    clock: FakeClock
    url: str
    http: aiohttp.ClientSession

    async def run(self, action: str, request: dict[str, Any], attempt: int = 1, ref: str = "HL-PR-0042") -> Any:
        return await self.registry.get(action)(request, ActionContext("key-1", attempt, ref))

    def connector(self, **extra: Any) -> SapEnv:
        values = {"base_url": self.url, "username": "COMM_USER", "password": "pw-秘密", **extra}
        settings = SapSettings.model_validate(values)
        client = SapClient(settings, HttpClient("sap", self.http, timeout=5, clock=self.clock))
        registry = ActionRegistry()
        register_actions(registry, client, settings)
        return SapEnv(self.sandbox, client, settings, registry, self.clock, self.url, self.http)


async def make(**sandbox_args: Any) -> AsyncIterator[SapEnv]:
    clock = FakeClock()
    sandbox = SapSandbox(username="COMM_USER", password="pw-秘密", clock=clock, **sandbox_args)
    async with SandboxServer(sandbox.app) as server, aiohttp.ClientSession() as http:
        env = SapEnv(sandbox, None, None, ActionRegistry(), clock, server.url, http)  # type: ignore[arg-type]
        yield env.connector()


@pytest.fixture
async def sap() -> AsyncIterator[SapEnv]:
    async for env in make():
        yield env
