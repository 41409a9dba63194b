"""The loop end to end: DingTalk callback → inbox → flow → Kingdee voucher → write-back."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import aiohttp
from sqlalchemy import func, select

from huiliu.bus import reference_for
from huiliu.cli.demo import DemoStack
from huiliu.crypto import MsgCrypt
from huiliu.sandbox import Fault, FaultKind
from huiliu.sandbox.company import ClaimSpec, ExpenseItem
from huiliu.service import TEMPLATES
from huiliu.store import loads
from huiliu.store.schema import crosswalk, dead_letters, event_log, inbox, messages, runs

FLOW = "expense-claim-to-voucher"


def template_with(tmp_path: Path, old: str, new: str) -> Path:
    """A flow directory holding the shipped template with one change (asserted to apply)."""
    flows = tmp_path / "flows"
    flows.mkdir(exist_ok=True)
    text = (TEMPLATES / "expense_claim_voucher.yaml").read_text(encoding="utf-8")
    changed = text.replace(old, new)
    assert changed != text
    (flows / "expense.yaml").write_text(changed, encoding="utf-8")
    return flows


def comments(stack: DemoStack, instance_id: str) -> list[str]:
    return [r["remark"] for r in stack.ding.instances[instance_id].records if r["type"] == "ADD_REMARK"]


def voucher_for(stack: DemoStack, instance_id: str):  # type: ignore[no-untyped-def]
    found = stack.kd.find_by_reference(reference_for(f"{FLOW}:{instance_id}:post_voucher"))
    assert len(found) == 1, f"{instance_id}: {len(found)} vouchers"
    return found[0]


async def test_happy_path_every_approved_claim_becomes_one_audited_voucher_written_back(
        make_stack: Callable[..., DemoStack]) -> None:
    async with make_stack(seed=11) as stack:
        specs = {}
        for _ in range(24):
            spec = stack.company.claim()
            specs[stack.submit(spec)] = spec
        approved = [i for i, s in specs.items() if s.outcome == "approved"]
        assert 10 < len(approved) < 24  # the seed gives all three outcomes
        assert await stack.settle(expected_runs=len(approved), timeout=60)
        assert stack.kd.count() == len(approved)
        for instance_id, spec in specs.items():
            if spec.outcome != "approved":
                assert comments(stack, instance_id) == []
                continue
            voucher = voucher_for(stack, instance_id)
            assert voucher.status == "C"  # saved, submitted, audited
            entries = voucher.model["FEntity"]
            debits = [Decimal(str(e["FDEBIT"])) for e in entries if Decimal(str(e.get("FDEBIT") or 0))]
            credits = [Decimal(str(e["FCREDIT"])) for e in entries if Decimal(str(e.get("FCREDIT") or 0))]
            assert debits == [item.amount for item in spec.items]  # to the fen, in order
            assert sum(credits) == spec.total == sum(debits)
            assert all(spec.employee.name in e["FEXPLANATION"] for e in entries)
            written = comments(stack, instance_id)
            assert len(written) == 1 and voucher.number in written[0]
        assert stack.hub is not None
        with stack.hub.db.read() as conn:
            statuses = dict(conn.execute(select(runs.c.status, func.count()).group_by(runs.c.status)).all())
            links = conn.execute(select(crosswalk.c.system, func.count()).where(crosswalk.c.entity == "approval")
                                 .group_by(crosswalk.c.system)).all()
            activities = {a for (a,) in conn.execute(select(event_log.c.activity).where(
                event_log.c.case_id == approved[0])).all()}
            types = dict(conn.execute(select(inbox.c.type, func.count()).group_by(inbox.c.type)).all())
            ignored = {c for (c,) in conn.execute(select(event_log.c.case_id).where(
                event_log.c.activity == "callback.received", event_log.c.outcome == "ignored")).all()}
        assert statuses == {"succeeded": len(approved)}
        # Refusals and revocations start no flow: logged for process mining, never fetched or queued.
        assert ignored == set(specs)  # every instance's start event; and the others' final one
        assert dict(links) == {"dingtalk": len(approved), "kingdee": len(approved)}
        assert {"callback.received", "envelope.stored", "run.started", "step.employee", "step.claim",
                "step.voucher", "effect.kingdee.voucher.create", "effect.dingtalk.approval.comment",
                "run.succeeded", "call.GetProcessInstance", "call.AddProcessInstanceComment", "call.Save"} <= activities
        assert types == {"dingtalk.approval.approved": len(approved)}


async def test_the_same_callback_five_times_makes_one_voucher(make_stack: Callable[..., DemoStack]) -> None:
    async with make_stack(worker=False) as stack:
        spec = stack.company.claim(approve_rate=1.0)
        queued = stack.submit(spec)
        stack.ding.redeliver(queued, 5)  # duplicates while the first is still queued
        assert await stack.ding.wait_delivered(10)
        stack.start_worker()
        assert await stack.settle(expected_runs=1, timeout=30)
        stack.ding.redeliver(queued, 5)  # and again after it was processed
        assert await stack.ding.wait_delivered(10)
        assert await stack.settle(expected_runs=1, timeout=30)
        assert stack.kd.count() == 1 and stack.kd.save_calls == 1
        assert len(comments(stack, queued)) == 1
        assert stack.hub is not None
        with stack.hub.db.read() as conn:
            outcomes = [o for (o,) in conn.execute(select(event_log.c.outcome).where(
                event_log.c.activity == "callback.received", event_log.c.case_id == queued)).all()]
            handled = [a for (a,) in conn.execute(select(event_log.c.activity).where(
                event_log.c.case_id == queued, event_log.c.activity.like("envelope.%"))).all()]
        assert outcomes.count("duplicate") >= 5  # dropped while still queued
        # every callback that was queued was handled once: stored the first time, dropped at the inbox after
        assert len(handled) == outcomes.count("ok")
        assert handled.count("envelope.duplicate") >= 1
        # the start and finish callbacks both read the finished instance: one version, stored once
        assert handled.count("envelope.stored") == 1


async def test_chinese_text_and_amounts_round_trip(make_stack: Callable[..., DemoStack]) -> None:
    long_text = ("差旅费说明：上海至深圳往返高铁、住宿与客户拜访，含“引号”、《书名号》与￥符号。" * 40)[:1000]
    async with make_stack() as stack:
        employee = stack.company.employees[3]
        spec = ClaimSpec(employee, "出差报销：" + long_text, (
            ExpenseItem("差旅费", Decimal("1234.56"), long_text), ExpenseItem("交通费", Decimal("0.01"), "地铁")),
            "approved")
        instance_id = stack.submit(spec)
        assert await stack.settle(expected_runs=1, timeout=30)
        voucher = voucher_for(stack, instance_id)
        first, second, credit = voucher.model["FEntity"]
        assert first["FEXPLANATION"].endswith(long_text) and len(long_text) == 1000
        assert (Decimal(str(first["FDEBIT"])), Decimal(str(second["FDEBIT"])), Decimal(str(credit["FCREDIT"]))) == (
            Decimal("1234.56"), Decimal("0.01"), Decimal("1234.57"))
        assert employee.name in credit["FEXPLANATION"]
        assert "1234.57" in comments(stack, instance_id)[0]


async def test_kingdee_session_lost_relogs_in_and_retries_once(make_stack: Callable[..., DemoStack]) -> None:
    async with make_stack() as stack:
        stack.kd.faults.script("save", Fault(FaultKind.EXPIRED_TOKEN))
        instance_id = stack.submit(stack.company.claim(approve_rate=1.0))
        assert await stack.settle(expected_runs=1, timeout=30)
        assert stack.kd.count() == 1 and stack.kd.login_calls == 2
        assert voucher_for(stack, instance_id).status == "C"


async def test_kingdee_rate_limit_backs_off(make_stack: Callable[..., DemoStack]) -> None:
    async with make_stack() as stack:
        stack.kd.faults.script("save", Fault(FaultKind.RATE_LIMIT, retry_after=0.6))
        instance_id = stack.submit(stack.company.claim(approve_rate=1.0))
        assert await stack.settle(expected_runs=1, timeout=30)
        assert stack.kd.count() == 1
        assert stack.hub is not None
        with stack.hub.db.read() as conn:
            saves = conn.execute(select(event_log.c.at, event_log.c.outcome).where(
                event_log.c.case_id == instance_id, event_log.c.activity == "call.Save")
                .order_by(event_log.c.at)).all()
            attempt = conn.execute(select(event_log.c.outcome, event_log.c.detail).where(
                event_log.c.activity == "attempt.effect")).one()
            effect = conn.execute(select(event_log.c.detail).where(
                event_log.c.activity == "effect.kingdee.voucher.create")).scalar_one()
        assert [o for _, o in saves] == ["http_429", "ok"]  # both calls are in the event log
        waited = (saves[1].at - saves[0].at).total_seconds()
        assert waited >= 0.6  # the vendor's Retry-After was honoured (the policy alone would wait 0.05 s)
        assert attempt.outcome == "retry"
        assert loads(attempt.detail)["retry_in_s"] >= 0.6
        assert loads(effect)["attempt"] == 2


async def test_unbalanced_voucher_is_dead_lettered_and_nothing_reaches_the_erp(
        make_stack: Callable[..., DemoStack], tmp_path: Path) -> None:
    flows = template_with(tmp_path, "amount: \"{{ steps.claim.lines | sum_amount('amount') }}\"", 'amount: "1.00"')
    async with make_stack(settings={"flows_dir": flows}) as stack:
        stack.submit(stack.company.claim(approve_rate=1.0))
        assert await stack.settle(expected_runs=1, timeout=30)
        assert stack.kd.count() == 0 and stack.kd.save_calls == 0
        assert stack.hub is not None
        with stack.hub.db.read() as conn:
            dead = conn.execute(select(dead_letters)).one()
            run = conn.execute(select(runs)).one()
        assert dead.reason == "unbalanced_voucher" and "借贷不平衡" in dead.last_error
        assert run.status == "failed" and "借贷不平衡" in run.error


async def test_bad_webhook_input_is_rejected_nothing_stored_service_up(
        make_stack: Callable[..., DemoStack]) -> None:
    async with make_stack(worker=False) as stack:
        hub = stack.hub
        assert hub is not None and hub.settings.dingtalk is not None
        s = hub.settings.dingtalk
        crypt = MsgCrypt(s.callback_token.get_secret_value(), s.aes_key.get_secret_value(), s.app_key)
        url = f"http://127.0.0.1:{stack.port}/webhooks/dingtalk"
        now_ms = str(int(time.time() * 1000))
        event = json.dumps({"EventType": "bpms_instance_change", "processInstanceId": "x-1", "type": "finish",
                            "result": "agree"})

        def sealed(message: str, ts: str = now_ms) -> tuple[dict[str, str], str]:
            env = crypt.seal(message, ts, "nonce1")
            return ({"msg_signature": env["msg_signature"], "timeStamp": ts, "nonce": "nonce1"},
                    json.dumps({"encrypt": env["encrypt"]}))

        async with aiohttp.ClientSession() as session:  # DingTalk's URL check: answered, nothing stored
            check_params, check_body = sealed(json.dumps({"EventType": "check_url"}))
            async with session.post(url, params=check_params, data=check_body) as resp:
                assert resp.status == 200
                check = await resp.json()
        assert crypt.open(check["msg_signature"], check["timeStamp"], check["nonce"], check["encrypt"]) == "success"
        cases = []
        params, body = sealed(event)
        cases.append(("bad_signature", {**params, "msg_signature": "0" * 40}, body))
        stale = str(int(time.time() * 1000) - 3_600_000)
        cases.append(("stale_timestamp", *sealed(event, stale)))
        cases.append(("bad_body", params, "这不是 JSON {"))
        cases.append(("unknown_event", *sealed(json.dumps({"EventType": "user_add_org", "UserId": ["u1"]}))))
        cases.append(("missing_params", {}, body))
        async with aiohttp.ClientSession() as session:
            for reason, query, payload in cases:
                async with session.post(url, params=query, data=payload) as resp:
                    reply = await resp.json()
                    assert resp.status == 400, reason
                    assert reply["error"] == reason, (reason, reply)
                    assert reply["message"] and reply["message_en"]
            with hub.db.read() as conn:
                assert conn.execute(select(func.count()).select_from(messages)).scalar_one() == 0
                assert conn.execute(select(func.count()).select_from(event_log)).scalar_one() == 0
            good_params, good_body = sealed(event)
            async with session.post(url, params=good_params, data=good_body) as resp:
                assert resp.status == 200
                reply = await resp.json()
        assert crypt.open(reply["msg_signature"], reply["timeStamp"], reply["nonce"], reply["encrypt"]) == "success"
        with hub.db.read() as conn:
            assert conn.execute(select(func.count()).select_from(messages)).scalar_one() == 1
        # A start event announces a type no loaded flow starts on: acknowledged and logged, not queued.
        start = json.dumps({"EventType": "bpms_instance_change", "processInstanceId": "x-2", "type": "start"})
        async with aiohttp.ClientSession() as session:
            start_params, start_body = sealed(start)
            async with session.post(url, params=start_params, data=start_body) as resp:
                assert resp.status == 200
                reply = await resp.json()
        assert crypt.open(reply["msg_signature"], reply["timeStamp"], reply["nonce"], reply["encrypt"]) == "success"
        with hub.db.read() as conn:
            assert conn.execute(select(func.count()).select_from(messages)).scalar_one() == 1
            assert conn.execute(select(event_log.c.outcome).where(
                event_log.c.case_id == "x-2", event_log.c.activity == "callback.received")).scalar_one() == "ignored"


async def test_poison_effect_is_dead_lettered_others_go_on_and_replay_after_the_fix_is_done_once(
        make_stack: Callable[..., DemoStack]) -> None:
    async with make_stack() as stack:
        assert stack.hub is not None
        attempts = stack.hub.settings.retry.max_attempts
        stack.kd.faults.script("save", *[Fault(FaultKind.SERVER_ERROR)] * attempts)
        poisoned = stack.submit(stack.company.claim(approve_rate=1.0))
        assert await stack.settle(expected_runs=1, timeout=30)
        others = [stack.submit(stack.company.claim(approve_rate=1.0)) for _ in range(3)]
        assert await stack.settle(expected_runs=4, timeout=30)
        assert stack.kd.count() == 3  # the others were not held up
        base = f"http://127.0.0.1:{stack.port}/api"
        async with aiohttp.ClientSession(headers=stack.api_headers()) as http:
            async with http.get(f"{base}/dead-letters") as resp:
                listing = await resp.json()
            [dead] = listing["items"]
            assert dead["key"] == poisoned
            assert dead["reason"] == "transient_exhausted"
            assert dead["attempts"] == attempts
            assert len(dead["attempt_log"]) == attempts
            assert listing["counts_by_reason"] == {"transient_exhausted": 1}
            async with http.get(f"{base}/runs", params={"key": poisoned}) as resp:
                assert (await resp.json())["items"][0]["status"] == "failed"
            # the fix: Kingdee is back. Replay once; a second replay is refused.
            async with http.post(f"{base}/dead-letters/{dead['id']}/replay") as resp:
                assert resp.status == 200
                assert (await resp.json())["replayed"] == [dead["id"]]
            async with http.post(f"{base}/dead-letters/{dead['id']}/replay") as resp:
                assert resp.status == 400
                assert "已处理过" in (await resp.json())["message"]
            async with http.post(f"{base}/dead-letters/999999/discard", json={"note": "x"}) as resp:
                assert resp.status == 404
            async with http.post(f"{base}/dead-letters/{dead['id']}/discard", json={}) as resp:
                assert resp.status == 422
                body = await resp.json()
                assert body["error"] == "bad_request"
                assert "note" in body["where"]
            async with http.post(f"{base}/dead-letters/replay", json={}) as resp:
                assert resp.status == 400
        assert await stack.settle(expected_runs=4, timeout=30)
        assert stack.kd.count() == 4
        for instance_id in [poisoned, *others]:
            assert voucher_for(stack, instance_id).status == "C"
            assert len(comments(stack, instance_id)) == 1
        with stack.hub.db.read() as conn:
            effect = conn.execute(select(event_log.c.detail).where(
                event_log.c.case_id == poisoned, event_log.c.activity == "effect.kingdee.voucher.create")).scalar_one()
            status = conn.execute(select(runs.c.status).where(runs.c.business_key == poisoned)).scalar_one()
        assert loads(effect)["attempt"] == attempts + 1  # the replay counted the earlier attempts: looked up first
        assert status == "succeeded"


async def test_a_steps_retry_policy_from_the_flow_file_is_what_the_worker_follows(
        make_stack: Callable[..., DemoStack], tmp_path: Path) -> None:
    flows = template_with(tmp_path, "    call: kingdee.voucher.create\n",
                          "    call: kingdee.voucher.create\n"
                          "    retry: {max_attempts: 2, initial_interval: 0.01, max_interval: 0.01, jitter: 0}\n")
    async with make_stack(settings={"flows_dir": flows}) as stack:
        assert stack.hub is not None
        assert stack.hub.settings.retry.max_attempts == 6  # the hub's default would try six times
        stack.kd.faults.script("save", *[Fault(FaultKind.SERVER_ERROR)] * 3)
        stack.submit(stack.company.claim(approve_rate=1.0))
        assert await stack.settle(expected_runs=1, timeout=30)
        with stack.hub.db.read() as conn:
            dead = conn.execute(select(dead_letters)).one()
        assert (dead.reason, dead.attempts) == ("transient_exhausted", 2)
        assert stack.kd.count() == 0


async def test_a_save_slower_than_the_timeout_still_makes_one_voucher(make_stack: Callable[..., DemoStack]) -> None:
    # Kingdee applies the Save 1.2 s after it was sent; the hub gives up waiting at 0.5 s. The retry waits
    # ambiguous_wait before it looks the voucher up, so it finds the first one instead of saving again.
    async with make_stack(settings={"http_timeout": 0.5}, kingdee_settings={"ambiguous_wait": 2.0}) as stack:
        stack.kd.faults.script("save", Fault(FaultKind.SLOW, delay=1.2))
        instance_id = stack.submit(stack.company.claim(approve_rate=1.0))
        assert await stack.settle(expected_runs=1, timeout=30)
        assert stack.kd.count() == 1
        assert stack.kd.save_calls == 1
        assert voucher_for(stack, instance_id).status == "C"
        assert stack.hub is not None
        with stack.hub.db.read() as conn:
            attempt = conn.execute(select(event_log.c.detail).where(
                event_log.c.activity == "attempt.effect")).scalar_one()
            effect = conn.execute(select(event_log.c.detail).where(
                event_log.c.activity == "effect.kingdee.voucher.create")).scalar_one()
        assert loads(attempt)["retry_in_s"] >= 2.0
        assert loads(effect)["result"]["adopted"] is True


async def test_a_unique_reference_field_in_kingdee_turns_a_second_save_into_adoption(
        make_stack: Callable[..., DemoStack]) -> None:
    # Without a settle wait the retry saves again — and Kingdee, with the field unique, refuses it.
    async with make_stack(settings={"http_timeout": 0.5}, kingdee_settings={"ambiguous_wait": 0},
                          kd_options={"unique_reference": True}) as stack:
        stack.kd.faults.script("save", Fault(FaultKind.SLOW, delay=1.2))
        instance_id = stack.submit(stack.company.claim(approve_rate=1.0))
        assert await stack.settle(expected_runs=1, timeout=30)
        await asyncio.sleep(1.0)  # let the slow first Save land if it has not yet
        assert stack.kd.count() == 1
        assert voucher_for(stack, instance_id).status == "C"
        assert len(comments(stack, instance_id)) == 1


async def test_redrive_a_flow_over_a_time_range_after_a_fix_is_idempotent(
        make_stack: Callable[..., DemoStack], tmp_path: Path) -> None:
    good = (TEMPLATES / "expense_claim_voucher.yaml").read_text(encoding="utf-8")
    flows = template_with(tmp_path, "差旅费: \"6602.03\", ", "")  # a rule that matches nothing for travel claims
    async with make_stack(settings={"flows_dir": flows}) as stack:
        hub = stack.hub
        assert hub is not None
        specs = [stack.company.claim(approve_rate=1.0) for _ in range(12)]
        travel = [s for s in specs if any(i.expense_type == "差旅费" for i in s.items)]
        assert 0 < len(travel) < len(specs)
        since = hub.clock.now()
        ids = [stack.submit(s) for s in specs]
        assert await stack.settle(expected_runs=len(specs), timeout=30)
        assert stack.kd.count() == len(specs) - len(travel)
        # the fix: the account table is complete again; new worker, new flows
        await stack.stop_worker()
        (flows / "expense.yaml").write_text(good, encoding="utf-8")
        hub.catalog.load()  # (a running hub reloads by itself: flows_reload_interval)
        stack.start_worker()
        async with aiohttp.ClientSession(headers=stack.api_headers()) as http:
            url = f"http://127.0.0.1:{stack.port}/api/flows/expense-claim-to-voucher/redrive"
            window = {"since": since.isoformat(), "until": hub.clock.now().isoformat()}
            async with http.post(url, json=window) as resp:
                first = await resp.json()
            assert len(first["resumed"]) == len(travel)
            assert first["done"] == len(specs) - len(travel)
            assert first["started"] == []
            assert await stack.settle(expected_runs=len(specs), timeout=30)
            async with http.post(url, json=window) as resp:
                again = await resp.json()
            assert again["resumed"] == []
            assert again["done"] == len(specs)
            async with http.post(url.replace("expense-claim-to-voucher", "nope"), json=window) as resp:
                assert resp.status == 404
            async with http.post(url, json={"since": window["until"], "until": window["since"]}) as resp:
                assert resp.status == 400
        assert await stack.settle(expected_runs=len(specs), timeout=30)
        assert stack.kd.count() == len(specs)  # every claim exactly one voucher
        assert hub.deadletters.find() == []  # the re-drive closed the dead letters it superseded
        for instance_id in ids:
            assert voucher_for(stack, instance_id).status == "C"
            assert len(comments(stack, instance_id)) == 1
