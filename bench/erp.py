"""Documents per second through each ERP connector: the sandboxes, and a real Tryton when it is installed.

Each run creates N purchase orders (Kingdee: vouchers) through the connector's own action — supplier and
item matched, the order created with the hub's reference, then confirmed/audited — with ``--concurrency``
in flight, against the sandbox in this process (the figure includes the sandbox's work), and against a
real trytond started from ``scripts/tryton`` (skipped, and said so, when Tryton is not installed).

    .venv/bin/python bench/erp.py [--documents 300] [--concurrency 8] [--erps odoo,erpnext,yonyou,sap,kingdee,tryton]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

from huiliu.connectors import ActionContext, ActionRegistry, HttpClient, erpnext, kingdee, odoo, sap, tryton, yonyou
from huiliu.model import Direction, Money, Voucher, VoucherLine
from huiliu.sandbox import SandboxServer
from huiliu.sandbox.erpnext import ErpnextSandbox
from huiliu.sandbox.kingdee import KingdeeSandbox
from huiliu.sandbox.odoo import OdooSandbox
from huiliu.sandbox.sap import SapSandbox
from huiliu.sandbox.yonyou import YonyouSandbox
from huiliu.store.codec import to_jsonable

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "tryton"


def requisition(i: int) -> dict[str, Any]:
    return {"requisition": {
        "number": f"PR-BENCH-{i:05d}", "currency": "CNY", "description": f"办公用品采购 {i}",
        "supplier": {"name": f"上海晨光文具有限公司{i % 5}", "code": f"GYS{i % 5:03d}"},
        "lines": [{"item": {"code": f"WL-{k}", "name": f"物料{k}", "unit": "个"}, "quantity": str(1 + k),
                   "unit_price": f"{10 + k}.50", "description": "测试"} for k in range(3)]}}


def voucher(i: int) -> dict[str, Any]:
    amount = Money(Decimal(f"{100 + i}.25"))
    lines = (VoucherLine("差旅费", "6602.03", Direction.DEBIT, amount, (("department", "BM03"), ("employee", "E1001"))),
             VoucherLine("应付报销款", "2241.01", Direction.CREDIT, amount, (("employee", "E1001"),)))
    return {"voucher": to_jsonable(Voucher(f"bench-{i}", "001", date(2026, 11, 25), "记", "CNY", lines))}


async def measure(action: Callable[[dict[str, Any], ActionContext], Awaitable[Any]],
                  build: Callable[[int], dict[str, Any]], n: int, concurrency: int) -> float:
    await action(build(0), ActionContext("warm", 1, "HLWARM"))  # tokens, sessions, master data
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            await action(build(i), ActionContext(f"k{i}", 1, f"HLB{i:06d}"))

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(1, n + 1)))
    return n / (time.perf_counter() - started)


def sandbox_case(name: str) -> tuple[Any, Callable[[str], Any], Any, str]:
    """(sandbox, settings for its URL, connector module, action name)."""
    if name == "odoo":
        return OdooSandbox(), lambda u: odoo.OdooSettings(base_url=u, database="hub", login="api",
                                                          api_key="odoo-key"), odoo, odoo.PURCHASE_CREATE
    if name == "erpnext":
        return ErpnextSandbox(), lambda u: erpnext.ErpnextSettings(base_url=u, api_key="erp-key",
                                                                   api_secret="erp-secret"), erpnext, \
            erpnext.PURCHASE_CREATE
    if name == "yonyou":
        return YonyouSandbox(app_key="k", app_secret="s"), lambda u: yonyou.YonyouSettings(
            base_url=u, app_key="k", app_secret="s"), yonyou, yonyou.PURCHASE_CREATE
    if name == "sap":
        return SapSandbox(username="U", password="p"), lambda u: sap.SapSettings(base_url=u, username="U",
                                                                                 password="p"), sap, \
            sap.PURCHASE_CREATE
    return KingdeeSandbox(acct_id="AC1", username="api", password="pw"), lambda u: kingdee.KingdeeSettings(
        base_url=u, acct_id="AC1", username="api", password="pw"), kingdee, kingdee.VOUCHER_CREATE


CLIENTS: dict[str, Any] = {"odoo": odoo.OdooClient, "erpnext": erpnext.ErpnextClient, "yonyou": yonyou.YonyouClient,
                           "sap": sap.SapClient, "kingdee": kingdee.KingdeeClient, "tryton": tryton.TrytonClient}


async def run_sandbox(name: str, n: int, concurrency: int) -> float:
    sandbox, settings_for, module, action_name = sandbox_case(name)
    async with SandboxServer(sandbox.app) as server, aiohttp.ClientSession() as http:
        settings = settings_for(server.url)
        registry = ActionRegistry()
        module.register_actions(registry, CLIENTS[name](settings, HttpClient(name, http, timeout=30)), settings)
        build = voucher if name == "kingdee" else requisition
        return await measure(registry.get(action_name), build, n, concurrency)


async def run_tryton(n: int, concurrency: int) -> float | None:
    done = subprocess.run([sys.executable, str(SCRIPT), "template"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print("tryton: not installed here (scripts/tryton template failed); skipped")
        return None
    info = json.loads(done.stdout)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as work:
        proc = subprocess.Popen([sys.executable, str(SCRIPT), "serve", "--port", str(port), "--workdir", work],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            for _ in range(300):
                try:
                    body = json.dumps({"id": 0, "method": "common.server.version", "params": []}).encode()
                    urllib.request.urlopen(urllib.request.Request(f"{url}/rpc/", body), timeout=1)
                    break
                except OSError:
                    time.sleep(0.1)
            settings = tryton.TrytonSettings(base_url=url, database=info["database"], username=info["login"],
                                             password=info["password"], account_category=info["account_category"],
                                             payment_term=info["payment_term"])
            async with aiohttp.ClientSession() as http:
                registry = ActionRegistry()
                tryton.register_actions(registry, tryton.TrytonClient(settings, HttpClient("tryton", http,
                                                                                            timeout=60)), settings)
                return await measure(registry.get(tryton.PURCHASE_CREATE), requisition, n, concurrency)
        finally:
            proc.terminate()
            proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--erps", default="odoo,erpnext,yonyou,sap,kingdee,tryton")
    args = parser.parse_args()
    for name in args.erps.split(","):
        if name == "tryton":
            rate = asyncio.run(run_tryton(min(args.documents, 100), args.concurrency))
        else:
            rate = asyncio.run(run_sandbox(name, args.documents, args.concurrency))
        if rate is not None:
            what = "vouchers" if name == "kingdee" else "purchase orders"
            where = "real trytond" if name == "tryton" else "sandbox"
            print(f"{name:8} {rate:8.1f} {what}/s ({where}, concurrency {args.concurrency})", flush=True)


if __name__ == "__main__":
    main()
