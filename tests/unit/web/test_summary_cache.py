from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from huiliu.store import Database
from huiliu.store.schema import dead_letters, inbox, outbox, runs
from huiliu.testing import FakeClock
from huiliu.web.summary import SummaryCache, count_summary


class Counter:
    """Counts by returning how many times it was asked, taking ``took`` seconds of the fake clock."""

    def __init__(self, clock: FakeClock, took: float) -> None:
        self.clock, self.took, self.calls = clock, took, 0

    def __call__(self) -> dict[str, Any]:
        self.calls += 1
        self.clock.advance(self.took)
        return {"calls": self.calls}


def test_quick_counts_are_made_on_every_request(clock: FakeClock) -> None:
    count = Counter(clock, took=0.01)
    cache = SummaryCache(count, clock)
    assert cache.get() == ({"calls": 1, "as_of": clock.now() - timedelta(seconds=0.01)}, False)
    assert cache.get()[0]["calls"] == 2
    assert cache.get()[0]["calls"] == 3


def test_slow_counts_are_reused_then_refreshed_after_the_response_then_counted_before_it(clock: FakeClock) -> None:
    count = Counter(clock, took=0.5)
    cache = SummaryCache(count, clock, fresh_for=10, stale_for=60)
    first, refresh = cache.get()
    assert (first["calls"], refresh) == (1, False)
    clock.advance(5)
    assert cache.get() == (first, False)  # fresh: the same answer, nothing counted
    clock.advance(10)
    stale, refresh = cache.get()
    assert (stale, refresh) == (first, True)  # given at once, counted after the response
    assert cache.get() == (first, False)  # one refresh at a time
    cache.refresh()
    assert count.calls == 2
    assert cache.get()[0]["calls"] == 2
    clock.advance(120)
    assert cache.get() == ({"calls": 3, "as_of": clock.now() - timedelta(seconds=0.5)}, False)  # too old: counted


def test_a_refresh_that_fails_lets_the_next_request_try_again(clock: FakeClock) -> None:
    count = Counter(clock, took=0.5)
    failing = [False]

    def flaky() -> dict[str, Any]:
        if failing[0]:
            raise RuntimeError("database gone")
        return count()

    cache = SummaryCache(flaky, clock)
    cache.get()
    clock.advance(15)
    assert cache.get()[1] is True
    failing[0] = True
    with pytest.raises(RuntimeError):
        cache.refresh()
    failing[0] = False
    assert cache.get()[1] is True  # not stuck believing a refresh runs


def test_count_summary_reads_every_table(db: Database) -> None:
    at = datetime(2026, 11, 25, tzinfo=UTC)
    with db.begin() as conn:
        conn.execute(inbox.insert(), [
            {"id": f"e{i}", "source": "dingtalk", "native_id": f"n{i}", "version": "1", "type": kind,
             "business_key": f"k{i}", "payload": "{}", "occurred_at": at, "received_at": at}
            for i, kind in enumerate(["dingtalk.approval.approved"] * 2 + ["dingtalk.approval.revoked"])])
        conn.execute(runs.insert(), [
            {"id": f"r{i}", "flow_id": "f", "flow_version": "1", "envelope_id": f"e{i}", "business_key": f"k{i}",
             "status": status, "context": "{}", "started_at": at, "updated_at": at}
            for i, status in enumerate(["succeeded", "succeeded", "failed"])])
        conn.execute(outbox.insert(), [
            {"id": f"o{i}", "idempotency_key": f"o{i}", "run_id": "r0", "step_id": "s", "action": action,
             "request": "{}", "status": status, "created_at": at}
            for i, (action, status) in enumerate([("kingdee.voucher.create", "done"),
                                                  ("kingdee.voucher.create", "pending"),
                                                  ("dingtalk.approval.comment", "done")])])
        conn.execute(dead_letters.insert().values(message_id=1, topic="effects", key="k2", payload="{}",
                                                  reason="vendor_rejected", last_error="x", attempts=6,
                                                  attempt_log="[]", created_at=at))
    assert count_summary(db) == {
        "envelopes": {"dingtalk.approval.approved": 2, "dingtalk.approval.revoked": 1},
        "runs": {"succeeded": 2, "failed": 1},
        "effects_done": {"kingdee.voucher.create": 1, "dingtalk.approval.comment": 1},
        "dead_letters": 1,
    }
