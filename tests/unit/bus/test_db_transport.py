from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from huiliu.bus import DbTransport, Envelope, Inbox, LeaseLost, Outbox, RetryPolicy, reference_for
from huiliu.errors import RateLimited, TransientError, VendorRejected
from huiliu.i18n import t
from huiliu.store import Database
from huiliu.store.schema import dead_letters, messages
from huiliu.testing import FakeClock


def _publish(transport: DbTransport, db: Database, n: int, **kw: object) -> None:
    with db.begin() as conn:
        for i in range(n):
            transport.publish(conn, "t", f"k{i}", {"i": i, "名": "张伟"}, **kw)  # type: ignore[arg-type]


def test_claim_leases_and_a_crashed_workers_message_comes_back(db: Database, clock: FakeClock) -> None:
    transport = DbTransport(db, clock, server_clock=False)  # the fake clock judges the leases
    _publish(transport, db, 3)
    first = transport.claim(["t"], "w1", 10, lease=30)
    assert [d.payload["i"] for d in first] == [0, 1, 2]
    assert first[0].payload["名"] == "张伟" and first[0].attempts == 1
    assert transport.claim(["t"], "w2", 10, lease=30) == []  # leased
    clock.advance(31)  # w1 died: its leases run out
    again = transport.claim(["t"], "w2", 10, lease=30)
    assert [d.attempts for d in again] == [2, 2, 2]
    # w1 wakes up late: its ack is refused (fencing), w2's goes through
    with pytest.raises(LeaseLost), db.begin() as conn:
        transport.ack(conn, first[0])
    with db.begin() as conn:
        for d in again:
            transport.ack(conn, d)
    assert transport.pending() == 0


def test_a_refused_ack_rolls_back_the_whole_transaction(db: Database, clock: FakeClock) -> None:
    transport, inbox = DbTransport(db, clock, server_clock=False), Inbox(clock)
    _publish(transport, db, 1)
    late = transport.claim(["t"], "w1", 1, lease=5)[0]
    clock.advance(6)
    transport.claim(["t"], "w2", 1, lease=5)
    env = Envelope("dingtalk", "dingtalk.approval.approved", "i1", "approved", "i1", {}, clock.now())
    def late_result() -> None:
        with db.begin() as conn:
            inbox.accept(conn, env)
            transport.ack(conn, late)

    with pytest.raises(LeaseLost):
        late_result()
    with db.begin() as conn:
        assert inbox.accept(conn, env) is True  # the first insert was rolled back with the refused ack


def test_dedupe_key_while_queued(db: Database, clock: FakeClock) -> None:
    transport = DbTransport(db, clock)
    with db.begin() as conn:
        assert transport.publish(conn, "t", "k", {}, dedupe_key="x") is True
        assert transport.publish(conn, "t", "k", {}, dedupe_key="x") is False
    assert transport.pending() == 1


def test_retry_later_delays_and_logs_attempts_then_dead_letter(db: Database, clock: FakeClock) -> None:
    transport = DbTransport(db, clock, server_clock=False)
    _publish(transport, db, 1)
    d = transport.claim(["t"], "w", 1, lease=30)[0]
    transport.retry_later(d, 10, "金蝶 503")
    assert transport.claim(["t"], "w", 1, lease=30) == []
    clock.advance(10)
    d2 = transport.claim(["t"], "w", 1, lease=30)[0]
    assert d2.attempts == 2 and d2.attempt_log[0]["error"] == "金蝶 503"
    with db.begin() as conn:
        transport.dead_letter(conn, d2, "vendor_rejected", "科目不存在")
    with db.read() as conn:
        row = conn.execute(select(dead_letters)).one()
    assert (row.reason, row.attempts, row.topic) == ("vendor_rejected", 2, "t")
    assert "科目不存在" in row.attempt_log and transport.pending() == 0


def test_inbox_drops_duplicates(db: Database, clock: FakeClock) -> None:
    inbox = Inbox(clock)
    env = Envelope("dingtalk", "dingtalk.approval.approved", "i1", "approved", "i1", {"a": 1}, clock.now())
    same = Envelope("dingtalk", "dingtalk.approval.approved", "i1", "approved", "i1", {"a": 1}, clock.now())
    newer = Envelope("dingtalk", "dingtalk.approval.revoked", "i1", "revoked", "i1", {}, clock.now())
    assert env.id == same.id != newer.id
    with db.begin() as conn:
        assert inbox.accept(conn, env) is True
        assert inbox.accept(conn, same) is False
        assert inbox.accept(conn, newer) is True


def test_outbox_records_once_per_key(db: Database, clock: FakeClock) -> None:
    outbox = Outbox(clock)
    with db.begin() as conn:
        a = outbox.record(conn, idempotency_key="f:k:s", run_id="r", step_id="s", action="x", request={"n": 1})
        b = outbox.record(conn, idempotency_key="f:k:s", run_id="r", step_id="s", action="x", request={"n": 2})
        assert a == b
        outbox.done(conn, a, {"number": "记-0001"})
        entry = outbox.get(conn, a)
    assert entry is not None and entry.status == "done" and entry.result == {"number": "记-0001"}
    assert reference_for("f:k:s") == reference_for("f:k:s") != reference_for("f:k:t")
    assert len(reference_for("f:k:s")) <= 30


def test_retry_policy() -> None:
    policy = RetryPolicy(initial_interval=1, multiplier=2, max_interval=8, max_attempts=5, jitter=0)
    err = TransientError(t("x", "x"), system="kingdee", operation="Save")
    assert [policy.next_delay(a, err) for a in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert policy.next_delay(5, err) is None  # attempts exhausted
    assert policy.next_delay(1, VendorRejected(t("x", "x"), system="k", operation="Save")) is None
    assert policy.next_delay(1, RateLimited(system="k", operation="Save", retry_after=30)) == 30
    assert policy.next_delay(1, KeyError("bug")) == 1  # unknown errors are retried, then dead-lettered
    jittered = RetryPolicy(initial_interval=1, max_interval=100, jitter=1)
    assert all(0 <= jittered.backoff(3) <= 4 for _ in range(50))
    for bad in ({"initial_interval": 0}, {"multiplier": 0.5}, {"max_attempts": 0}, {"jitter": 2}):
        with pytest.raises(ValueError, match="retry policy"):
            RetryPolicy(**bad)  # type: ignore[arg-type]


def test_retry_policy_waits_out_an_ambiguous_create() -> None:
    from huiliu.errors import AmbiguousOutcome

    policy = RetryPolicy(initial_interval=0.1, max_interval=1, jitter=0)
    ambiguous = AmbiguousOutcome(t("x", "x"), system="kingdee", operation="Save", retry_after=60)
    assert policy.next_delay(1, ambiguous) == 60  # longer than the policy's cap: the ERP may still be saving
    assert ambiguous.retryable
    assert ambiguous.kind == "ambiguous"


def test_on_postgresql_a_worker_whose_clock_ran_ahead_cannot_take_a_held_lease(db: Database) -> None:
    if db.is_sqlite:
        pytest.skip("PostgreSQL judges leases by the server's clock; SQLite lives on one machine")
    honest = DbTransport(db, FakeClock(datetime.now(UTC)))
    ahead_clock = FakeClock(datetime.now(UTC))
    ahead_clock.advance(600)  # ten minutes fast
    ahead = DbTransport(db, ahead_clock)
    assert honest.server_clock
    assert ahead.server_clock
    _publish(honest, db, 1)
    held = honest.claim(["t"], "honest", 1, lease=30)
    assert len(held) == 1
    assert ahead.claim(["t"], "ahead", 1, lease=30) == []  # its clock says the lease ran out; the server's does not
    with db.read() as conn:
        until = conn.execute(select(messages.c.lease_until)).scalar_one()
    assert abs((until - datetime.now(UTC)).total_seconds() - 30) < 5  # set by the server's clock
