"""Test rig: a Yonyou sandbox on 127.0.0.1 and a connector pointed at it, sharing one fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from huiliu.connectors.base import ActionContext, ActionRegistry
from huiliu.connectors.http import HttpClient
from huiliu.connectors.yonyou import YonyouClient, YonyouSettings, register_actions
from huiliu.sandbox import SandboxServer
from huiliu.sandbox.yonyou import YonyouSandbox
from huiliu.testing import FakeClock

APP_KEY = "ak-7f3e"
APP_SECRET = "sk-不要外传-93a1"


@dataclass
class YonyouEnv:
    sandbox: YonyouSandbox
    client: YonyouClient
    settings: YonyouSettings
    registry: ActionRegistry
    clock: FakeClock
    url: str
    http: aiohttp.ClientSession

    async def run(self, action: str, request: dict[str, Any], attempt: int = 1, ref: str = "HL-PR-0042") -> Any:
        return await self.registry.get(action)(request, ActionContext("key-1", attempt, ref))

    def connector(self, **extra: Any) -> YonyouEnv:
        settings = YonyouSettings.model_validate({"base_url": self.url, "app_key": APP_KEY,
                                                  "app_secret": APP_SECRET, **extra})
        client = YonyouClient(settings, HttpClient("yonyou", self.http, timeout=5, clock=self.clock))
        registry = ActionRegistry()
        register_actions(registry, client, settings)
        return YonyouEnv(self.sandbox, client, settings, registry, self.clock, self.url, self.http)


@pytest.fixture
async def yonyou() -> AsyncIterator[YonyouEnv]:
    clock = FakeClock()
    sandbox = YonyouSandbox(app_key=APP_KEY, app_secret=APP_SECRET, clock=clock)
    async with SandboxServer(sandbox.app) as server, aiohttp.ClientSession() as http:
        env = YonyouEnv(sandbox, None, None, ActionRegistry(), clock, server.url, http)  # type: ignore[arg-type]
        yield env.connector()


def requisition(price: str = "1299.00", quantity: str = "4") -> dict[str, Any]:
    return {"number": "PR-2026-0042", "currency": "CNY", "description": "研发部采购办公椅",
            "supplier": {"name": "上海某某办公家具有限公司", "code": "SUP-001", "tax_id": "91310000MA1K000001"},
            "lines": [{"item": {"code": "CHAIR-01", "name": "人体工学椅", "unit": "把"},
                       "quantity": quantity, "unit_price": price, "description": "黑色 带头枕"},
                      {"item": {"name": "显示器支架"}, "quantity": "2", "unit_price": "0.05"}]}
