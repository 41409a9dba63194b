"""The read API over real HTTP after a run: runs, a run's trace, dead letters, summary, clear 4xx."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp

from huiliu.cli.demo import DemoStack


async def test_read_api_after_a_run(make_stack: Callable[..., DemoStack]) -> None:
    async with make_stack() as stack:
        instance_id = stack.submit(stack.company.claim(approve_rate=1.0))
        assert await stack.settle(expected_runs=1, timeout=30)
        base = f"http://127.0.0.1:{stack.port}/api"
        async with aiohttp.ClientSession(headers=stack.api_headers()) as http:
            async with http.get(f"{base}/health") as resp:
                health = await resp.json()
            assert health["status"] == "ok"
            assert health["pending_messages"] == 0
            assert "expense-claim-to-voucher" in health["flows"]  # with the other templates Kingdee serves
            async with http.get(f"{base}/runs", params={"status": "succeeded", "key": instance_id}) as resp:
                items = (await resp.json())["items"]
            assert len(items) == 1
            assert items[0]["business_key"] == instance_id
            async with http.get(f"{base}/runs/{items[0]['id']}") as resp:
                trace = await resp.json()
            assert [s["step_id"] for s in trace["steps"]] == ["employee", "claim", "voucher", "post_voucher",
                                                              "write_back"][: len(trace["steps"])]
            assert {e["action"] for e in trace["effects"]} == {"kingdee.voucher.create", "dingtalk.approval.comment"}
            assert all(e["status"] == "done" for e in trace["effects"])
            voucher = trace["run"]["context"]["steps"]["post_voucher"]
            assert voucher["status"] == "C"
            assert any(ev["activity"] == "run.succeeded" for ev in trace["events"])
            async with http.get(f"{base}/summary") as resp:
                summary = await resp.json()
            assert summary["runs"] == {"succeeded": 1}
            assert summary["effects_done"] == {"kingdee.voucher.create": 1, "dingtalk.approval.comment": 1}
            assert summary["dead_letters"] == 0
            async with http.get(f"{base}/dead-letters") as resp:
                assert (await resp.json())["items"] == []
            # bad input: clear 4xx, never a 500
            async with http.get(f"{base}/runs", params={"status": "done"}) as resp:
                assert resp.status == 400
                assert "succeeded" in (await resp.json())["message"]
            async with http.get(f"{base}/runs", params={"limit": "0"}) as resp:
                assert resp.status == 422
            async with http.get(f"{base}/runs/no-such-run") as resp:
                assert resp.status == 404
                assert "不存在" in (await resp.json())["message"]
            async with http.get(f"http://127.0.0.1:{stack.port}/openapi.json") as resp:
                spec = await resp.json()
            assert "/webhooks/dingtalk" in spec["paths"]
            assert "/api/runs/{run_id}" in spec["paths"]
