from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from huiliu.identity.accounts import Accounts
from huiliu.service import Hub, Settings
from huiliu.store import Database, dumps
from huiliu.store.schema import dead_letters, event_log, inbox, messages, outbox, runs
from huiliu.testing import FakeClock
from huiliu.web import create_app
from huiliu.web.overview import DOCUMENT_ACTIONS, approved_at, compute_overview, is_document_action

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 26, 2, 30, tzinfo=UTC)
"""10:30 in Beijing on 2026-11-26; Beijing's day began at 2026-11-25 16:00 UTC."""


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def envelope(id_: str, type_: str, received: str, occurred: str | None = None) -> dict[str, Any]:
    return {"id": id_, "source": type_.partition(".")[0], "native_id": id_, "version": "1", "type": type_,
            "business_key": id_, "payload": "{}", "occurred_at": utc(occurred or received),
            "received_at": utc(received)}


def run(id_: str, envelope_id: str, status: str, started: str, finished: str | None = None) -> dict[str, Any]:
    return {"id": id_, "flow_id": "f", "flow_version": "1", "envelope_id": envelope_id, "business_key": envelope_id,
            "status": status, "context": "{}", "started_at": utc(started), "updated_at": utc(started),
            "finished_at": None if finished is None else utc(finished)}


def effect(id_: str, run_id: str, action: str, status: str, done: str | None) -> dict[str, Any]:
    return {"id": id_, "idempotency_key": id_, "run_id": run_id, "step_id": "s", "action": action, "request": "{}",
            "status": status, "created_at": utc(done or "2026-11-26 00:00:00"),
            "done_at": None if done is None else utc(done)}


def event(at: str, system: str, outcome: str) -> dict[str, Any]:
    return {"at": utc(at), "case_id": "c", "activity": "call.x", "system": system, "outcome": outcome}


def dead(created: str, *, detail: dict[str, Any] | None = None, payload: dict[str, Any] | None = None,
         replayed: str | None = None, discarded: str | None = None) -> dict[str, Any]:
    return {"message_id": 1, "topic": "effects", "key": "k", "payload": dumps(payload or {}), "reason": "r",
            "last_error": "x", "attempts": 1, "attempt_log": "[]", "created_at": utc(created),
            "replayed_at": None if replayed is None else utc(replayed),
            "discarded_at": None if discarded is None else utc(discarded),
            "detail": None if detail is None else dumps(detail)}


@pytest.fixture
def filled(db: Database) -> Database:
    """Hand-made rows around Beijing's day boundaries, with known answers."""
    with db.begin() as conn:
        conn.execute(inbox.insert(), [
            envelope("e1", "dingtalk.approval.approved", "2026-11-25 23:30:00"),  # Beijing 26th 07:30: today
            envelope("e2", "wecom.approval.approved", "2026-11-25 15:30:00"),  # Beijing 25th 23:30: yesterday
            envelope("e3", "feishu.approval.approved", "2026-11-26 01:00:00", occurred="2026-11-26 01:05:00"),
            envelope("e4", "dingtalk.approval.refused", "2026-11-26 01:10:00"),  # not an approval
            envelope("e5", "dingtalk.approval.approved", "2026-11-12 15:59:59"),  # 11-12: before the 14 days
            envelope("e6", "dingtalk.approval.approved", "2026-11-12 16:00:00"),  # 11-13 00:00: the first day
        ])
        conn.execute(runs.insert(), [
            run("r1", "e1", "succeeded", "2026-11-25 23:31:00", "2026-11-25 23:31:05"),
            run("r2", "e2", "failed", "2026-11-25 15:40:00", "2026-11-25 16:10:00"),  # ends today, began before
            run("r3", "e3", "compensated", "2026-11-26 01:05:00", "2026-11-26 01:06:00"),
            run("r4", "e4", "running", "2026-11-26 02:00:00"),
            run("r5", "e5", "waiting", "2026-11-20 02:00:00"),
            run("r6", "e6", "succeeded", "2026-11-24 03:00:00", "2026-11-24 03:00:02"),
        ])
        conn.execute(outbox.insert(), [
            effect("o1", "r1", "kingdee.voucher.create", "done", "2026-11-25 23:30:01"),  # 1 s after approval
            effect("o2", "r1", "dingtalk.approval.comment", "done", "2026-11-25 23:30:02"),  # not a document
            effect("o3", "r1", "tryton.purchase.create", "done", "2026-11-25 23:40:00"),  # r1's second document
            effect("o4", "r3", "kingdee.voucher.create", "done", "2026-11-26 01:05:03"),  # 3 s after approval
            effect("o5", "r3", "kingdee.voucher.reverse", "done", "2026-11-26 01:06:00"),  # a reversal
            effect("o6", "r6", "kingdee.payment.create", "done", "2026-11-24 03:00:01"),
            effect("o7", "r2", "kingdee.voucher.create", "pending", None),
        ])
        conn.execute(event_log.insert(), [
            event("2026-11-26 01:00:00", "kingdee", "http_500"),
            event("2026-11-26 01:10:00", "kingdee", "timeout"),
            event("2026-11-25 10:00:00", "dingtalk", "connection_error"),
            event("2026-11-26 01:00:00", "hub", "failed"),  # the hub's own
            event("2026-11-26 01:00:00", "kingdee", "ok"),
            event("2026-11-26 01:00:00", "wecom", "duplicate"),
            event("2026-11-25 02:29:59", "dingtalk", "failed"),  # more than 24 hours ago
        ])
        conn.execute(dead_letters.insert(), [
            dead("2026-11-26 01:00:00", detail={"system": "kingdee", "code": "1002"}),
            dead("2026-11-26 01:00:00", payload={"system": "dingtalk"}, replayed="2026-11-26 01:30:00"),
            dead("2026-11-20 01:00:00", detail={"system": "wecom"}, discarded="2026-11-21 01:00:00"),
        ])
        conn.execute(messages.insert(), [
            {"topic": "effects", "key": f"k{i}", "payload": "{}", "available_at": NOW, "created_at": NOW,
             "attempts": 0, "attempt_log": "[]"} for i in range(2)])
    return db


def test_overview_counts_in_beijing_days(filled: Database, clock: FakeClock) -> None:
    o = compute_overview(filled, clock, tz=SHANGHAI, now=NOW)
    assert (o["as_of"], o["tz"], o["day"]) == ("2026-11-26T10:30:00+08:00", "Asia/Shanghai", "2026-11-26")
    assert o["approvals_today"] == 2  # e1 (23:30 UTC is the next Beijing day) and e3; not e2, not refused e4
    assert (o["documents_today"], o["documents_total"]) == (3, 4)  # o1, o3, o4; o6 two days ago; no reversal
    assert o["latency_ms"] == {"p50": 2000.0, "p95": 2900.0, "count": 2}  # r1 by its first document: 1 s, r3: 3 s
    assert o["success_rate"] == round(1 / 3, 4)  # r1 succeeded, r2 failed, r3 compensated
    assert o["runs_today"] == {"compensated": 1, "running": 1, "succeeded": 1}  # started today; r2 began before
    assert o["backlog"] == {"messages": 2, "running": 1, "waiting": 1, "dead_letters_open": 1}
    assert o["errors_by_system"] == [{"system": "kingdee", "count": 3}, {"system": "dingtalk", "count": 2}]


def test_throughput_has_24_hours_and_daily_14_days_zero_filled(filled: Database, clock: FakeClock) -> None:
    o = compute_overview(filled, clock, tz=SHANGHAI, now=NOW)
    hours = o["throughput"]
    assert len(hours) == 24
    assert hours[0]["hour"] == "2026-11-25T11:00:00+08:00"
    assert hours[-1]["hour"] == "2026-11-26T10:00:00+08:00"
    busy = {h["hour"][11:16]: (h["started"], h["succeeded"], h["failed"]) for h in hours
            if h["started"] or h["succeeded"] or h["failed"]}
    assert busy == {"23:00": (1, 0, 0),  # r2 began 23:40 Beijing
                    "00:00": (0, 0, 1),  # and failed at 00:10
                    "07:00": (1, 1, 0),  # r1
                    "09:00": (1, 0, 0),  # r3 (compensated: neither)
                    "10:00": (1, 0, 0)}  # r4
    days = o["daily"]
    assert [d["day"] for d in days] == [f"2026-11-{n}" for n in range(13, 27)]
    nonzero = {d["day"]: (d["approvals"], d["documents"], d["failed"]) for d in days
               if d["approvals"] or d["documents"] or d["failed"]}
    assert nonzero == {"2026-11-13": (1, 0, 0), "2026-11-24": (0, 1, 0), "2026-11-25": (1, 0, 0),
                       "2026-11-26": (2, 3, 1)}


def test_an_empty_store_has_no_rate_and_zero_buckets(db: Database, clock: FakeClock) -> None:
    o = compute_overview(db, clock, tz=SHANGHAI, now=NOW)
    assert o["success_rate"] is None
    assert o["latency_ms"] == {"p50": None, "p95": None, "count": 0}
    assert (o["approvals_today"], o["documents_today"], o["documents_total"], o["runs_today"]) == (0, 0, 0, {})
    assert o["errors_by_system"] == []
    assert all(h["started"] == h["succeeded"] == h["failed"] == 0 for h in o["throughput"])
    assert all(d["approvals"] == d["documents"] == d["failed"] == 0 for d in o["daily"])
    assert len(o["throughput"]) == 24 and len(o["daily"]) == 14


def test_latency_reads_the_latest_runs_only(db: Database, clock: FakeClock) -> None:
    with db.begin() as conn:
        for i in range(10):  # run i's document came (i + 1) seconds after its approval, all today
            at = datetime(2026, 11, 26, 1, 0, tzinfo=UTC) + timedelta(minutes=i)
            conn.execute(inbox.insert().values(envelope(f"e{i}", "dingtalk.approval.approved",
                                                        at.strftime("%Y-%m-%d %H:%M:%S"))))
            conn.execute(runs.insert().values(run(f"r{i}", f"e{i}", "succeeded", at.strftime("%Y-%m-%d %H:%M:%S"))))
            conn.execute(outbox.insert().values(effect(
                f"o{i}", f"r{i}", "kingdee.voucher.create", "done",
                (at + timedelta(seconds=i + 1)).strftime("%Y-%m-%d %H:%M:%S"))))
    everything = compute_overview(db, clock, tz=SHANGHAI, now=NOW)["latency_ms"]
    assert everything == {"p50": 5500.0, "p95": 9550.0, "count": 10}
    latest = compute_overview(db, clock, tz=SHANGHAI, now=NOW, latency_runs=4)["latency_ms"]
    assert latest == {"p50": 8500.0, "p95": 9850.0, "count": 4}  # runs 6..9: 7, 8, 9, 10 s
    one = compute_overview(db, clock, tz=SHANGHAI, now=NOW, latency_runs=1)["latency_ms"]
    assert one == {"p50": 10000.0, "p95": 10000.0, "count": 1}


def test_a_half_hour_zone_buckets_on_its_own_midnight(db: Database, clock: FakeClock) -> None:
    kolkata = ZoneInfo("Asia/Kolkata")  # UTC+5:30: its day begins at 18:30 UTC
    with db.begin() as conn:
        conn.execute(inbox.insert(), [envelope("a", "dingtalk.approval.approved", "2026-11-25 18:29:59"),
                                      envelope("b", "dingtalk.approval.approved", "2026-11-25 18:30:00")])
    o = compute_overview(db, clock, tz=kolkata, now=NOW)
    assert (o["day"], o["approvals_today"]) == ("2026-11-26", 1)
    assert o["daily"][-2:] == [{"day": "2026-11-25", "approvals": 1, "documents": 0, "failed": 0},
                               {"day": "2026-11-26", "approvals": 1, "documents": 0, "failed": 0}]
    assert o["throughput"][-1]["hour"] == "2026-11-26T08:00:00+05:30"


def test_document_actions() -> None:
    for action in ("kingdee.voucher.create", "kingdee.voucher.create_batch", "tryton.purchase.create",
                   "odoo.payment.create", "kingdee.contract.create", "soap.journal_entry.create", "hub.voucher.merge"):
        assert is_document_action(action), action
    for action in ("kingdee.voucher.reverse", "odoo.purchase.reverse", "dingtalk.approval.create",
                   "dingtalk.approval.comment", "kingdee.party.ensure", "kingdee.voucher.read"):
        assert not is_document_action(action), action
    assert all(a.split(".")[0] not in ("dingtalk", "wecom", "feishu") for a in DOCUMENT_ACTIONS)


async def test_the_api_answers_the_overview_to_a_viewer(filled: Database, database_url: str) -> None:
    hub = Hub(Settings(database_url=database_url, schedules=False))
    try:
        with hub.db.begin() as conn:
            Accounts(hub.clock).add_user(conn, "ana", "a-long-enough-password", "viewer")
            token = Accounts(hub.clock).create_token(conn, "ana", "t")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(hub)),
                                     base_url="http://hub") as client:
            assert (await client.get("/api/overview")).status_code == 401
            response = await client.get("/api/overview", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
        body = response.json()
        assert body["tz"] == "Asia/Shanghai"
        assert body["as_of"].endswith("+08:00")
        assert body["documents_total"] == 4
        assert body["backlog"]["dead_letters_open"] == 1
    finally:
        hub.db.dispose()


def test_latency_from_an_oa_time_given_to_the_minute(db: Database, clock: FakeClock) -> None:
    with db.begin() as conn:  # DingTalk's finishTime reads 03:46: the approval happened within that minute
        conn.execute(inbox.insert(), [
            envelope("pushed", "dingtalk.approval.approved", "2026-11-26 03:46:40", "2026-11-26 03:46:00"),
            envelope("caught_up", "dingtalk.approval.approved", "2026-11-26 05:00:00", "2026-11-26 03:46:00"),
            envelope("precise", "feishu.approval.approved", "2026-11-26 03:46:41", "2026-11-26 03:46:39.500000")])
        conn.execute(runs.insert(), [run(f"r-{k}", k, "succeeded", "2026-11-26 05:00:00")
                                     for k in ("pushed", "caught_up", "precise")])
        conn.execute(outbox.insert(), [
            effect("o1", "r-pushed", "kingdee.voucher.create", "done", "2026-11-26 03:46:40.800000"),
            effect("o2", "r-caught_up", "kingdee.voucher.create", "done", "2026-11-26 05:00:01"),
            effect("o3", "r-precise", "kingdee.voucher.create", "done", "2026-11-26 03:46:41")])
    latency = compute_overview(db, clock, tz=SHANGHAI, now=NOW)["latency_ms"]
    # pushed: from the callback (0.8 s), not from 03:46:00 (40.8 s); caught up hours later: from the minute's
    # end (74 min 1 s); a precise time is taken as it is (1.5 s)
    assert latency["count"] == 3 and latency["p50"] == 1500.0
    assert approved_at(utc("2026-11-26 03:46:00"), utc("2026-11-26 03:46:40")) == utc("2026-11-26 03:46:40")
    assert approved_at(utc("2026-11-26 03:46:00"), utc("2026-11-26 05:00:00")) == utc("2026-11-26 03:47:00")
