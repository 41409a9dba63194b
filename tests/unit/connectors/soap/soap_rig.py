"""Test rig: the SOAP journal entry sandbox on 127.0.0.1 and a SOAP connector pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from huiliu.connectors.base import ActionContext, ActionRegistry
from huiliu.connectors.soap import SoapClient, SoapSettings, register_actions
from huiliu.sandbox import SandboxServer
from huiliu.sandbox.soap import READ_OPERATION, SERVICE_PATH, SoapJournalSandbox
from huiliu.testing import FakeClock

PASSWORD = "pw-秘密"
LOOKUP = {"operation": READ_OPERATION, "reference_element": "DocumentReferenceID",
          "fixed": {"CompanyCode": "1010"}}


@dataclass
class SoapEnv:
    sandbox: SoapJournalSandbox
    url: str
    clock: FakeClock
    clients: list[SoapClient] = field(default_factory=list)

    @property
    def wsdl_url(self) -> str:
        return self.url + SERVICE_PATH + "?wsdl"

    def settings(self, **extra: Any) -> SoapSettings:
        auth = {"basic": "basic", "wsse": "wsse", "none": "none"}[self.sandbox.auth]
        values: dict[str, Any] = {"system": "sap", "wsdl": self.wsdl_url, "auth": auth, "timeout": 5,
                                  "journal": {"lookup": LOOKUP}}
        if auth != "none":
            values |= {"username": "COMM_USER", "password": PASSWORD}
        return SoapSettings.model_validate(values | extra)

    async def client(self, **extra: Any) -> SoapClient:
        client = await SoapClient.open(self.settings(**extra), clock=self.clock)
        self.clients.append(client)
        return client

    async def registry(self, **extra: Any) -> ActionRegistry:
        registry = ActionRegistry()
        client = await self.client(**extra)
        register_actions(registry, client, client.settings)
        return registry


async def run(registry: ActionRegistry, action: str, request: dict[str, Any], attempt: int = 1,
              ref: str = "HL-EXP-0042") -> Any:
    return await registry.get(action)(request, ActionContext("key-1", attempt, ref))


async def make(**sandbox_args: Any) -> AsyncIterator[SoapEnv]:
    clock = FakeClock()
    sandbox_args.setdefault("username", "COMM_USER")
    sandbox_args.setdefault("password", PASSWORD)
    sandbox = SoapJournalSandbox(clock=clock, **sandbox_args)
    async with SandboxServer(sandbox.app) as server:
        env = SoapEnv(sandbox, server.url, clock)
        try:
            yield env
        finally:
            for client in env.clients:
                await client.aclose()


@pytest.fixture
async def soap() -> AsyncIterator[SoapEnv]:
    async for env in make():
        yield env


@pytest.fixture
async def soap_wsse() -> AsyncIterator[SoapEnv]:
    async for env in make(auth="wsse"):
        yield env
