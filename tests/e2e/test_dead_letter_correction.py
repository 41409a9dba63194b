"""Dead letters finance can understand and fix, over real HTTP against the sandboxes: Kingdee refuses a
voucher whose account it lacks, the explanation names the document, the field and Kingdee's own words, a
user with the right role corrects the account and the voucher is created once, written back, audited in
the event log; every bad correction is refused with nothing changed; a run's dead letter cannot be
corrected; a correction after a lost reply adopts the voucher Kingdee already made."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import aiohttp
from sqlalchemy import select

from huiliu.bus import DeadLetterFilter
from huiliu.cli.demo import DemoStack
from huiliu.sandbox import Fault, FaultKind
from huiliu.sandbox.company import ClaimSpec, ExpenseItem
from huiliu.store import loads
from huiliu.store.schema import crosswalk, dead_letters, event_log, outbox, runs


async def _wait_run(stack: DemoStack, key: str, status: str, timeout: float = 30) -> None:  # noqa: ASYNC109
    assert stack.hub is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with stack.hub.db.read() as conn:
            found = conn.execute(select(runs.c.status).where(runs.c.business_key == key)).scalar()
        if found == status:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"run of {key} is {found}, not {status}")


def _state(stack: DemoStack, dead_id: int) -> tuple[Any, ...]:
    """What a refused correction must leave as it was: the request, the dead letter, the log."""
    assert stack.hub is not None
    with stack.hub.db.read() as conn:
        dead = conn.execute(select(dead_letters).where(dead_letters.c.id == dead_id)).one()
        entry = conn.execute(select(outbox.c.request, outbox.c.status).where(
            outbox.c.id == loads(dead.payload)["outbox_id"])).one()
        corrected = conn.execute(select(event_log.c.id).where(event_log.c.activity == "deadletter.corrected")).all()
    return entry.request, entry.status, dead.replayed_at, dead.discarded_at, dead.replays, len(corrected)


async def test_a_refused_voucher_is_explained_corrected_and_pushed_once(
        make_stack: Callable[..., DemoStack]) -> None:
    async with make_stack() as stack:
        assert stack.hub is not None
        mistakes = stack.plan_mistakes(2)
        keys = [stack.submit(spec) for spec in mistakes]
        assert await stack.settle(expected_runs=2, timeout=30)
        assert stack.kd.count() == 0
        by_key = {d.key: d for d in stack.hub.deadletters.find()}
        assert set(by_key) == set(keys)
        dead, other = by_key[keys[0]], by_key[keys[1]]
        assert dead.topic == "effect" and dead.reason == "vendor_rejected"
        assert dead.detail is not None and dead.detail["field"] == "FACCOUNTID" and dead.detail["line"] == 1
        base = f"http://127.0.0.1:{stack.port}/api/dead-letters"
        viewer, integrator = stack.api_headers("viewer"), stack.api_headers("integrator")
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/{dead.id}/explain", headers=viewer) as resp:
                assert resp.status == 200
                view = await resp.json()
            # the document, as the people who approved it know it
            spec = mistakes[0]
            assert view["status"] == "open" and view["correctable"] is True
            assert view["document"]["applicant"] == spec.employee.name
            assert view["document"]["title"] and view["document"]["number"]
            assert Decimal(view["document"]["amount"]) == spec.total and view["document"]["currency"] == "CNY"
            assert view["flow"] == {**view["flow"], "id": "expense-claim-to-voucher", "version": "1",
                                    "step": "post_voucher", "action": "kingdee.voucher.create", "run_status": "failed"}
            # Kingdee's own words, verbatim, and the field it named mapped onto the request
            assert view["error"]["vendor_message"] == "FACCOUNTID：第2行分录：科目“6602.08”不存在"
            assert view["error"]["system"] == "kingdee" and view["error"]["operation"] == "Save"
            assert view["named"] == {"vendor_field": "FACCOUNTID", "line": 1, "path": "voucher.lines[1].account",
                                     "label": {"zh": "第2行分录 科目", "en": "line 2 account"}}
            assert "科目“6602.08”不存在" in view["summary"]["zh"] and spec.employee.name in view["summary"]["zh"]
            fields = {f["path"]: f for f in view["fields"]}
            assert fields["voucher.lines[1].account"]["named"] is True
            assert fields["voucher.lines[1].account"]["value"] == "6602.08"
            assert [p for p, f in fields.items() if f["named"]] == ["voucher.lines[1].account"]
            assert fields["voucher.lines[1].amount.amount"]["type"] == "decimal"
            assert fields["voucher.lines[1].amount.amount"]["label"]["zh"] == "第2行分录 借方金额"
            assert fields["voucher.date"]["type"] == "date"
            assert fields["voucher.reference"]["editable"] is False

            before = _state(stack, dead.id)
            ok = {"changes": {"voucher.lines[1].account": "6602.01"}, "note": "培训费科目未启用，改记办公费"}
            # a viewer may explain but not correct
            async with http.post(f"{base}/{dead.id}/correct", json=ok, headers=viewer) as resp:
                assert resp.status == 403
            bad: list[tuple[dict[str, Any], int, str]] = [
                ({"changes": {"voucher.lines[9].account": "6602.01"}, "note": "x"}, 400, "voucher.lines[9].account"),
                ({"changes": {"voucher.lines[1].amount.amount": "12.345"}, "note": "x"}, 400, "两位小数"),
                ({"changes": {"voucher.lines[1].amount.amount": "abc"}, "note": "x"}, 400, "类型不对"),
                ({"changes": {"voucher.date": "2026-02-30"}, "note": "x"}, 400, "YYYY-MM-DD"),
                ({"changes": {"voucher.lines[1].amount.amount": "1.00"}, "note": "x"}, 400, "借贷不平衡"),
                ({"changes": {"voucher.reference": "HLX"}, "note": "x"}, 400, "不能修改"),
                ({"changes": {"voucher.lines[1].account": "6602.01"}, "note": "   "}, 400, "原因"),
                ({"changes": {"voucher.lines[1].account": "6602.01"}, "note": ""}, 422, ""),
                ({"changes": {}, "note": "x"}, 422, ""),
                ({"changes": {"voucher.lines[1].account": "6602.01"}, "note": "x", "extra": 1}, 422, ""),
                ({"changes": {"voucher.lines[1].account": "x" * 501}, "note": "x"}, 422, ""),
            ]
            for body, status, words in bad:
                async with http.post(f"{base}/{dead.id}/correct", json=body, headers=integrator) as resp:
                    reply = await resp.json()
                    assert resp.status == status, (body, reply)
                    assert words in reply["message"], (words, reply)
                    assert reply["message_en"] and reply["message"] != reply["message_en"]
            async with http.post(f"{base}/999999/correct", json=ok, headers=integrator) as resp:
                assert resp.status == 404
            async with http.get(f"{base}/999999/explain", headers=viewer) as resp:
                assert resp.status == 404
            assert _state(stack, dead.id) == before  # nothing changed
            assert stack.kd.count() == 0

            # the other one is handled by hand: discarded with a note, then it cannot be corrected
            handled = stack.hub.deadletters.discard(DeadLetterFilter(ids=[other.id]), note="已在金蝶手工录入")
            assert handled == [other.id]
            async with http.post(f"{base}/{other.id}/correct", json=ok, headers=integrator) as resp:
                assert resp.status == 400 and "已处理过" in (await resp.json())["message"]

            async with http.post(f"{base}/{dead.id}/correct", json=ok, headers=integrator) as resp:
                assert resp.status == 200, await resp.text()
                assert await resp.json() == {"corrected": dead.id, "replayed": [dead.id]}
            await _wait_run(stack, keys[0], "succeeded")
            async with http.post(f"{base}/{dead.id}/correct", json=ok, headers=integrator) as resp:
                assert resp.status == 400  # replayed: closed
            async with http.get(f"{base}/{dead.id}/explain", headers=viewer) as resp:
                assert (await resp.json())["status"] == "replayed"

        # exactly one voucher, with the corrected account, audited, linked and written back
        assert stack.kd.count() == 1
        voucher = next(iter(stack.kd.vouchers.values()))
        assert voucher.status == "C"
        assert [e["FACCOUNTID"]["FNumber"] for e in voucher.model["FEntity"]] == ["6602.04", "6602.01", "2241.01"]
        with stack.hub.db.read() as conn:
            links = conn.execute(select(crosswalk.c.native_id).where(crosswalk.c.system == "kingdee")).all()
            assert [row.native_id for row in links] == [str(voucher.id)]
            logged = conn.execute(select(event_log).where(event_log.c.activity == "deadletter.corrected")).one()
        assert logged.actor == "demo-integrator" and logged.case_id == keys[0]
        detail = loads(logged.detail)
        assert detail["changes"] == [{"path": "voucher.lines[1].account", "old": "6602.08", "new": "6602.01"}]
        assert detail["note"] == "培训费科目未启用，改记办公费" and detail["dead_letter"] == dead.id
        remarks = [r["remark"] for r in stack.ding.instances[keys[0]].records if r["type"] == "ADD_REMARK"]
        assert len(remarks) == 1 and remarks[0].startswith(f"已生成金蝶凭证 {voucher.number}")


async def test_a_run_dead_letter_cannot_be_corrected_only_explained(make_stack: Callable[..., DemoStack]) -> None:
    async with make_stack() as stack:
        assert stack.hub is not None
        employee = stack.company.employees[0]
        key = stack.submit(ClaimSpec(employee, "礼品报销", (ExpenseItem("礼品费", Decimal("88.00"), "客户礼品"),),
                                     "approved"))
        assert await stack.settle(expected_runs=1, timeout=30)
        (dead,) = stack.hub.deadletters.find()
        assert dead.topic == "flow.run" and dead.key == key and dead.detail is not None
        base = f"http://127.0.0.1:{stack.port}/api/dead-letters"
        async with aiohttp.ClientSession(headers=stack.api_headers("integrator")) as http:
            async with http.get(f"{base}/{dead.id}/explain") as resp:
                view = await resp.json()
            assert view["correctable"] is False and view["fields"] == []
            assert view["flow"]["step"] == "voucher" and view["flow"]["action"] is None
            assert view["document"]["applicant"] == employee.name
            assert "主数据" in view["next_steps"]["zh"] and "master data" in view["next_steps"]["en"]
            async with http.post(f"{base}/{dead.id}/correct",
                                 json={"changes": {"voucher.date": "2026-01-01"}, "note": "x"}) as resp:
                reply = await resp.json()
            assert resp.status == 400 and "主数据" in reply["message"] and "master data" in reply["message_en"]
        assert stack.hub.deadletters.get(dead.id).open


async def test_a_correction_after_a_lost_reply_adopts_the_voucher_kingdee_made(
        make_stack: Callable[..., DemoStack]) -> None:
    async with make_stack() as stack:
        assert stack.hub is not None
        # Save is applied but its reply is lost; every lookup after it fails until the effect is given up
        stack.kd.faults.script("save", Fault(FaultKind.APPLIED_REPLY_LOST))
        stack.kd.faults.script("query", *[Fault(FaultKind.SERVER_ERROR)] * 60)
        key = stack.submit(stack.company.claim(approve_rate=1.0))
        assert await stack.settle(expected_runs=1, timeout=60)
        (dead,) = stack.hub.deadletters.find()
        assert dead.topic == "effect" and stack.kd.count() == 1
        stack.kd.faults.clear()
        stack.hub.deadletters.correct(dead.id, {"voucher.lines[0].summary": "更正后的摘要"}, note="补充摘要",
                                      actor="finance")
        await _wait_run(stack, key, "succeeded")
        assert stack.kd.count() == 1  # the re-push looked the reference up and adopted it
        with stack.hub.db.read() as conn:
            links = conn.execute(select(crosswalk.c.native_id).where(crosswalk.c.system == "kingdee")).all()
        assert [row.native_id for row in links] == [str(next(iter(stack.kd.vouchers)))]
