"""A Kingdee sandbox on 127.0.0.1 with the connector's actions registered against it (no mocks); see conftest."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from huiliu.connectors.base import ActionContext, ActionRegistry
from huiliu.connectors.http import HttpClient
from huiliu.connectors.kingdee import KingdeeClient, KingdeeSettings, register_actions
from huiliu.model import Direction, Money, Voucher, VoucherLine
from huiliu.sandbox import SandboxServer
from huiliu.sandbox.kingdee import KingdeeSandbox
from huiliu.store.codec import to_jsonable

TODAY = date(2026, 12, 3)
"""The date the actions take as today: reversing vouchers get it."""


@dataclass
class KdEnv:
    sandbox: KingdeeSandbox
    settings: KingdeeSettings
    registry: ActionRegistry

    async def run(self, action: str, request: dict[str, Any], *, attempt: int = 1, ref: str = "HL-REF-1",
                  key: str = "key-1") -> Any:
        return await self.registry.get(action)(request, ActionContext(key, attempt, ref))


MakeEnv = Callable[..., Awaitable[KdEnv]]


@pytest.fixture
async def make_kd_env() -> AsyncIterator[MakeEnv]:
    """Build environments: ``await make_kd_env(settings_overrides, sandbox=KingdeeSandbox(...))``."""
    async with aiohttp.ClientSession() as http:
        servers: list[SandboxServer] = []

        async def make(sandbox: KingdeeSandbox | None = None, **settings: Any) -> KdEnv:
            sandbox = sandbox or KingdeeSandbox(acct_id="AC1", username="api", password="pw")
            server = SandboxServer(sandbox.app)
            await server.start()
            servers.append(server)
            parsed = KingdeeSettings.model_validate({"base_url": server.url, "acct_id": "AC1", "username": "api",
                                                     "password": "pw", **settings})
            client = KingdeeClient(parsed, HttpClient("kingdee", http, timeout=5))
            registry = ActionRegistry()
            register_actions(registry, client, parsed, today=lambda: TODAY)
            return KdEnv(sandbox, parsed, registry)

        try:
            yield make
        finally:
            for server in reversed(servers):
                await server.stop()


@pytest.fixture
async def kd(make_kd_env: MakeEnv) -> KdEnv:
    """The default environment: one account book ``001``, auditing on."""
    return await make_kd_env()


def claim_voucher(reference: str = "claim-1", amount: str = "880.00", *, department: str = "BM03",
                  employee: str = "E1003", day: date = date(2026, 11, 25), account: str = "6602.05",
                  book: str = "001") -> Voucher:
    """An expense claim's voucher: the expense on the department, owed to the employee."""
    money = Money(Decimal(amount))
    return Voucher(reference, book, day, "记", "CNY", (
        VoucherLine("业务招待费 客户晚宴", account, Direction.DEBIT, money,
                    (("department", department), ("employee", employee))),
        VoucherLine("应付员工报销款", "2241.01", Direction.CREDIT, money, (("employee", employee),)),
    ))


def voucher_json(voucher: Voucher) -> dict[str, Any]:
    """The JSON form flows pass to the actions."""
    result: dict[str, Any] = to_jsonable(voucher)
    return result
