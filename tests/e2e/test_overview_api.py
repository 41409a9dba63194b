"""The overview over real HTTP after the demo stack processed claims: it counts what the sandboxes saw."""

from __future__ import annotations

import re
from collections.abc import Callable

import aiohttp

from huiliu.cli.demo import DemoStack
from huiliu.web.overview import DOCUMENT_ACTIONS

CREATES = re.compile(r"^(?!dingtalk\.|wecom\.|feishu\.|hub\.)[a-z0-9_]+\.(voucher|purchase|payment|contract"
                     r"|journal_entry)\.create(_batch)?$")


async def test_overview_counts_what_the_sandboxes_saw(make_stack: Callable[..., DemoStack]) -> None:
    async with make_stack() as stack:
        specs = [stack.company.claim(approve_rate=1.0) for _ in range(4)]
        specs += [stack.company.claim(approve_rate=0.0, refuse_rate=1.0) for _ in range(2)]
        await stack.play(specs)
        assert await stack.settle(expected_runs=4, timeout=60)
        assert stack.hub is not None
        assert {a for a in stack.hub.actions.names() if CREATES.match(a)} <= DOCUMENT_ACTIONS
        async with (aiohttp.ClientSession(headers=stack.api_headers("viewer")) as http,
                    http.get(f"http://127.0.0.1:{stack.port}/api/overview") as resp):
            assert resp.status == 200
            overview = await resp.json()
        approved = sum(1 for i in stack.ding.instances.values() if i.status == "COMPLETED" and i.result == "agree")
        assert approved == 4
        assert overview["approvals_today"] == approved
        assert overview["documents_today"] == overview["documents_total"] == stack.kd.count() == 4
        assert overview["latency_ms"]["count"] == 4
        assert 0 <= overview["latency_ms"]["p50"] <= overview["latency_ms"]["p95"] < 60_000
        assert overview["success_rate"] == 1.0
        assert overview["runs_today"] == {"succeeded": 4}
        assert overview["backlog"] == {"messages": 0, "running": 0, "waiting": 0, "dead_letters_open": 0}
        assert sum(h["started"] for h in overview["throughput"]) == 4
        assert overview["daily"][-1] == {"day": overview["day"], "approvals": 4, "documents": 4, "failed": 0}
