"""Vouchers per second into the Kingdee sandbox: one Save/Submit/Audit per voucher vs BatchSave of 50.

Both runs go through the connector's own actions over real HTTP on 127.0.0.1, against a sandbox in
this process (so the figure includes the sandbox's work), and end with every voucher 已审核:

* ``single``: ``kingdee.voucher.create`` per voucher — Save, Submit, Audit: three calls each —
  with ``--concurrency`` in flight;
* ``batch``: ``kingdee.voucher.create_batch`` with ``--batch`` vouchers per call — one BatchSave, one
  Submit and one Audit per batch — run one batch after another.

    .venv/bin/python bench/kingdee_batch.py [--vouchers 1000] [--batch 50] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import date
from decimal import Decimal
from typing import Any

import aiohttp

from huiliu.connectors import ActionContext, ActionRegistry, HttpClient
from huiliu.connectors.kingdee import (
    VOUCHER_CREATE,
    VOUCHER_CREATE_BATCH,
    KingdeeClient,
    KingdeeSettings,
    register_actions,
)
from huiliu.model import Direction, Money, Voucher, VoucherLine
from huiliu.sandbox import SandboxServer
from huiliu.sandbox.kingdee import KingdeeSandbox
from huiliu.store.codec import to_jsonable


def voucher(i: int) -> dict[str, Any]:
    amount = Money(Decimal(f"{100 + i % 900}.25"))
    lines = (VoucherLine("差旅费", "6602.03", Direction.DEBIT, amount, (("department", "BM03"), ("employee", "E1001"))),
             VoucherLine("应付报销款", "2241.01", Direction.CREDIT, amount, (("employee", "E1001"),)))
    result: dict[str, Any] = to_jsonable(Voucher(f"bench-{i}", "001", date(2026, 11, 25), "记", "CNY", lines))
    return result


async def environment(http: aiohttp.ClientSession, batch: int) -> tuple[KingdeeSandbox, SandboxServer, ActionRegistry]:
    sandbox = KingdeeSandbox(acct_id="AC1", username="api", password="pw")
    server = SandboxServer(sandbox.app)
    await server.start()
    settings = KingdeeSettings.model_validate({"base_url": server.url, "acct_id": "AC1", "username": "api",
                                               "password": "pw", "batch_size": batch})
    registry = ActionRegistry()
    register_actions(registry, KingdeeClient(settings, HttpClient("kingdee", http, timeout=30)), settings)
    await registry.get(VOUCHER_CREATE)({"voucher": voucher(0)}, ActionContext("warm", 1, "HLWARM"))  # login
    return sandbox, server, registry


async def single(http: aiohttp.ClientSession, n: int, concurrency: int) -> tuple[float, int]:
    sandbox, server, registry = await environment(http, 50)
    action = registry.get(VOUCHER_CREATE)
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            await action({"voucher": voucher(i)}, ActionContext(f"s{i}", 1, f"HLS{i:08d}"))

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(1, n + 1)))
    elapsed = time.perf_counter() - started
    audited = sum(1 for v in sandbox.vouchers.values() if v.status == "C") - 1
    await server.stop()
    return n / elapsed, audited


async def batched(http: aiohttp.ClientSession, n: int, batch: int) -> tuple[float, int]:
    sandbox, server, registry = await environment(http, batch)
    action = registry.get(VOUCHER_CREATE_BATCH)
    started = time.perf_counter()
    for start in range(1, n + 1, batch):
        chunk = [voucher(i) for i in range(start, min(start + batch, n + 1))]
        result = await action({"vouchers": chunk}, ActionContext(f"b{start}", 1, f"HLB{start:08d}"))
        assert result["failed"] == 0, result
    elapsed = time.perf_counter() - started
    audited = sum(1 for v in sandbox.vouchers.values() if v.status == "C") - 1
    await server.stop()
    return n / elapsed, audited


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vouchers", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    async with aiohttp.ClientSession() as http:
        one_rate, one_done = await single(http, args.vouchers, args.concurrency)
        batch_rate, batch_done = await batched(http, args.vouchers, args.batch)
    print(f"Kingdee sandbox, {args.vouchers} vouchers each, all audited (已审核):")
    print(f"{'mode':<44}{'vouchers/s':>12}{'audited':>10}{'calls/voucher':>15}")
    print(f"{'single Save+Submit+Audit, concurrency ' + str(args.concurrency):<44}{one_rate:>12.1f}{one_done:>10}"
          f"{3:>15.2f}")
    print(f"{'BatchSave of ' + str(args.batch) + ' + Submit + Audit, sequential':<44}{batch_rate:>12.1f}"
          f"{batch_done:>10}{3 / args.batch:>15.2f}")
    print(f"speed-up: {batch_rate / one_rate:.1f}x")


if __name__ == "__main__":
    asyncio.run(main())
