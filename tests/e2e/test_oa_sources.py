"""The loop from each OA: WeCom and Feishu callbacks, bad input at their webhooks, batch approvals, and
catch-up polling after an outage for all three OAs."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from huiliu.bus import reference_for
from huiliu.cli.demo import DemoStack
from huiliu.crypto import MsgCrypt
from huiliu.store.schema import crosswalk, event_log, inbox, messages, runs

FLOW = "expense-claim-to-voucher"


def vouchers_for(stack: DemoStack, instance_id: str) -> list[Any]:
    return stack.kd.find_by_reference(reference_for(f"{FLOW}:{instance_id}:post_voucher"))


def counts(stack: DemoStack) -> tuple[dict[str, int], int]:
    assert stack.hub is not None
    with stack.hub.db.read() as conn:
        statuses = dict(conn.execute(select(runs.c.status, func.count()).group_by(runs.c.status)).all())
        queued = conn.execute(select(func.count()).select_from(messages)).scalar_one()
    return statuses, queued


@pytest.mark.parametrize("oa", ["wecom", "feishu"])
async def test_approved_claims_from_wecom_and_feishu_become_one_voucher_each(
        make_stack: Callable[..., DemoStack], oa: str) -> None:
    async with make_stack(seed=11, oa=oa) as stack:
        specs = {}
        for _ in range(16):
            spec = stack.company.claim()
            specs[stack.submit(spec)] = spec
        approved = [i for i, s in specs.items() if s.outcome == "approved"]
        assert 5 < len(approved) < 16
        assert await stack.settle(expected_runs=len(approved), timeout=60)
        assert stack.kd.count() == len(approved)
        for instance_id in approved:
            [voucher] = vouchers_for(stack, instance_id)
            assert voucher.status == "C"
            credits = [e["FCREDIT"] for e in voucher.model["FEntity"] if e.get("FCREDIT")]
            assert sum(map(float, credits)) == pytest.approx(float(specs[instance_id].total))
        assert stack.hub is not None
        with stack.hub.db.read() as conn:
            sources = dict(conn.execute(select(inbox.c.source, func.count()).group_by(inbox.c.source)).all())
            links = dict(conn.execute(select(crosswalk.c.system, func.count()).where(
                crosswalk.c.entity == "approval").group_by(crosswalk.c.system)).all())
        assert sources == {oa: len(approved)}
        assert links == {oa: len(approved), "kingdee": len(approved)}
        assert counts(stack) == ({"succeeded": len(approved)}, 0)


async def test_a_wecom_batch_approval_sharing_one_create_time_loses_none(
        make_stack: Callable[..., DemoStack]) -> None:
    """A WeCom SDK once merged a batch approval's events (same CreateTime) and dropped approvals."""
    async with make_stack(seed=5, oa="wecom") as stack:
        assert stack.wecom is not None
        sp_nos = [stack.wecom.start_claim(stack.company.claim(approve_rate=1.0)) for _ in range(6)]
        while any(stack.wecom.instances[s].sp_status == 1 for s in sp_nos):  # every approver, in batches
            stack.wecom.batch_approve([s for s in sp_nos if stack.wecom.instances[s].sp_status == 1])
        assert await stack.settle(expected_runs=6, timeout=60)
        assert stack.kd.count() == 6
        assert all(len(vouchers_for(stack, s)) == 1 for s in sp_nos)


async def test_bad_input_at_the_wecom_and_feishu_webhooks_is_refused_and_nothing_is_stored(
        make_stack: Callable[..., DemoStack]) -> None:
    async with make_stack(oa="wecom", worker=False) as stack:
        hub = stack.hub
        assert hub is not None and hub.settings.wecom is not None
        s = hub.settings.wecom
        crypt = MsgCrypt(s.callback_token.get_secret_value(), s.encoding_aes_key.get_secret_value(), s.corp_id)
        url = f"http://127.0.0.1:{stack.port}/webhooks/wecom"
        ts = str(int(time.time()))
        echo = crypt.encrypt("握手-12345")
        good_echo = {"msg_signature": crypt.sign(ts, "n1", echo), "timestamp": ts, "nonce": "n1", "echostr": echo}
        bomb = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
                "<xml><Encrypt>&b;</Encrypt></xml>")
        async with aiohttp.ClientSession() as session:
            async with session.get(url, params=good_echo) as resp:  # the URL check: the plaintext echoed
                assert resp.status == 200
                assert await resp.text() == "握手-12345"
            async with session.get(url, params={**good_echo, "msg_signature": "0" * 40}) as resp:
                assert resp.status == 400 and (await resp.json())["error"] == "bad_signature"
            for reason, query, body in [
                    ("missing_params", {}, "<xml/>"),
                    ("bad_signature", {"msg_signature": "0" * 40, "timestamp": ts, "nonce": "n"},
                     f"<xml><Encrypt>{echo}</Encrypt></xml>"),
                    ("unsafe_xml", {"msg_signature": "0" * 40, "timestamp": ts, "nonce": "n"}, bomb),
                    ("bad_xml", {"msg_signature": "0" * 40, "timestamp": ts, "nonce": "n"}, "<xml><Encr")]:
                async with session.post(url, params=query, data=body.encode()) as resp:
                    reply = await resp.json()
                    assert resp.status == 400, reason
                    assert reply["error"] == reason and reply["message"] and reply["message_en"]
        with hub.db.read() as conn:
            assert conn.execute(select(func.count()).select_from(messages)).scalar_one() == 0
            assert conn.execute(select(func.count()).select_from(event_log)).scalar_one() == 0
    async with make_stack(oa="feishu", worker=False) as stack:
        hub = stack.hub
        assert hub is not None
        url = f"http://127.0.0.1:{stack.port}/webhooks/feishu"
        async with aiohttp.ClientSession() as session:
            for reason, body in [("bad_body", b"{not json"), ("bad_base64", b'{"encrypt": "@@@"}'),
                                 ("wrong_token", json.dumps({"type": "url_verification", "challenge": "c",
                                                           "token": "wrong"}).encode())]:
                async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as resp:
                    reply = await resp.json()
                    assert resp.status == 400, (reason, reply)
                    assert reply["error"] == reason, (reason, reply)
        with hub.db.read() as conn:
            assert conn.execute(select(func.count()).select_from(messages)).scalar_one() == 0


@pytest.mark.parametrize("oa", ["dingtalk", "wecom", "feishu"])
async def test_approvals_finished_during_an_outage_are_caught_up_by_polling_none_missed_none_doubled(
        make_stack: Callable[..., DemoStack], oa: str) -> None:
    async with make_stack(seed=23, oa=oa, deliver=False) as stack:  # no callback reaches the hub
        specs = {stack.submit(stack.company.claim()): None for _ in range(12)}
        hub = stack.hub
        assert hub is not None
        with hub.db.read() as conn:
            assert conn.execute(select(func.count()).select_from(messages)).scalar_one() == 0
        poller = hub.catch_up("test-poller")
        first = await poller.poll(oa)
        assert first.listed == len(specs) and first.queued == len(specs)
        approved = _approved(stack, list(specs))
        assert await stack.settle(expected_runs=len(approved), timeout=60)
        assert stack.kd.count() == len(approved)
        assert all(len(vouchers_for(stack, i)) == 1 for i in approved)
        # The next poll lists them again (they are within the lookback) but queues only the unfinished.
        second = await poller.poll(oa)
        assert second.listed == len(specs) and second.queued == 0
        assert second.since is not None and first.until is not None and second.since < first.until
        assert await stack.settle(expected_runs=len(approved), timeout=30)
        assert stack.kd.count() == len(approved)
        assert counts(stack) == ({"succeeded": len(approved)}, 0)
        # Another process holding the lease makes a poll a no-op.
        rival = hub.catch_up("rival")
        taken = poller._take_lease(f"catch-up:{oa}", hub.clock.now())
        assert taken and (await rival.poll(oa)).skipped


def _approved(stack: DemoStack, ids: list[str]) -> list[str]:
    if stack.wecom is not None:
        return [i for i in ids if stack.wecom.instances[i].sp_status == 2]
    if stack.feishu is not None:
        return [i for i in ids if stack.feishu.instances[i].status == "APPROVED"]
    return [i for i in ids if stack.ding.instances[i].result == "agree"]


@pytest.mark.parametrize("oa", ["wecom", "feishu"])
async def test_redelivered_and_late_events_after_the_approval_change_nothing(
        make_stack: Callable[..., DemoStack], oa: str) -> None:
    async with make_stack(seed=19, oa=oa) as stack:
        approved = [stack.submit(stack.company.claim(approve_rate=1.0)) for _ in range(4)]
        assert await stack.settle(expected_runs=4, timeout=60)
        side = stack.wecom or stack.feishu
        assert side is not None
        for instance_id in approved:  # the vendor sends the final event again, three times, late
            side.redeliver(instance_id, times=3)
        assert await stack.settle(expected_runs=4, timeout=60)
        assert stack.kd.count() == 4
        assert all(len(vouchers_for(stack, i)) == 1 for i in approved)
        assert stack.hub is not None
        with stack.hub.db.read() as conn:
            envelopes = conn.execute(select(func.count()).select_from(inbox)).scalar_one()
            duplicates = conn.execute(select(func.count()).select_from(event_log).where(
                event_log.c.activity.in_(["envelope.duplicate", "callback.received"]),
                event_log.c.outcome.in_(["ok", "duplicate"]))).scalar_one()
        assert envelopes == 4 and duplicates > 4  # each redelivery was seen, stored once, applied once


@pytest.mark.parametrize("oa", ["wecom", "feishu"])
async def test_an_approval_withdrawn_after_posting_is_reversed_in_the_erp(
        make_stack: Callable[..., DemoStack], oa: str) -> None:
    """WeCom 通过后撤销 / Feishu REVERTED: the compensation flow reverses the voucher the approval made."""
    async with make_stack(seed=29, oa=oa) as stack:
        kept, withdrawn = (stack.submit(stack.company.claim(approve_rate=1.0)) for _ in range(2))
        assert await stack.settle(expected_runs=2, timeout=60)
        [posted] = vouchers_for(stack, withdrawn)
        assert stack.kd.count() == 2
        if stack.wecom is not None:
            stack.wecom.revoke_approved(withdrawn)
        else:
            assert stack.feishu is not None
            stack.feishu.revert(withdrawn)
        assert await stack.settle(expected_runs=3, timeout=60)
        assert vouchers_for(stack, withdrawn) == []  # still un-auditable: un-audited and deleted
        assert len(vouchers_for(stack, kept)) == 1 and stack.kd.count() == 1
        assert stack.hub is not None
        with stack.hub.db.read() as conn:
            statuses = dict(conn.execute(select(runs.c.flow_id, runs.c.status).where(
                runs.c.business_key == withdrawn)).all())
            reversed_ = conn.execute(select(event_log.c.detail).where(
                event_log.c.case_id == withdrawn,
                event_log.c.activity == "effect.kingdee.voucher.reverse")).scalar_one()
        assert statuses == {"expense-claim-to-voucher": "succeeded", "expense-claim-reversal": "succeeded"}
        assert '"method":"deleted"' in reversed_ and posted.number in reversed_


async def test_a_withdrawn_approval_whose_voucher_was_posted_gets_a_red_reversal_voucher(
        make_stack: Callable[..., DemoStack]) -> None:
    async with make_stack(seed=31, oa="wecom") as stack:
        assert stack.wecom is not None
        withdrawn = stack.submit(stack.company.claim(approve_rate=1.0))
        assert await stack.settle(expected_runs=1, timeout=60)
        [posted] = vouchers_for(stack, withdrawn)
        stack.kd.post(posted.id)  # 过账: the voucher can no longer be un-audited and deleted
        stack.wecom.revoke_approved(withdrawn)
        assert await stack.settle(expected_runs=2, timeout=60)
        assert stack.kd.count() == 2  # the original stays, a red voucher reverses it
        red = next(v for v in stack.kd.vouchers.values() if v.number != posted.number)
        amounts = [Decimal(str(e.get("FDEBIT") or 0)) - Decimal(str(e.get("FCREDIT") or 0))
                   for e in red.model["FEntity"]]
        original = [Decimal(str(e.get("FDEBIT") or 0)) - Decimal(str(e.get("FCREDIT") or 0))
                    for e in posted.model["FEntity"]]
        assert sum(amounts) == 0 and sorted(amounts) == sorted(-a for a in original)  # nets the original to zero
