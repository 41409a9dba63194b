from datetime import timedelta

import pytest

from huiliu.bus import DbTransport, DeadLetterFilter, DeadLetters, EventLog
from huiliu.errors import HuiliuError, NotFound
from huiliu.store import Database
from huiliu.testing import FakeClock


def _bury(transport: DbTransport, db: Database, n: int, reason: str = "vendor_rejected") -> None:
    with db.begin() as conn:
        for i in range(n):
            transport.bury(conn, topic="effect", key=f"inst-{i}", payload={"outbox_id": f"o{i}"}, reason=reason,
                           error=f"金蝶：科目 {i} 不存在", attempts=3)


def test_find_filter_replay_and_discard(db: Database, clock: FakeClock) -> None:
    transport = DbTransport(db, clock)
    dl = DeadLetters(db, transport, EventLog(clock), clock)
    _bury(transport, db, 3)
    clock.advance(3600)
    _bury(transport, db, 1, reason="unbalanced_voucher")
    assert dl.counts_by_reason() == {"vendor_rejected": 3, "unbalanced_voucher": 1}
    newest = dl.find()
    assert [d.reason for d in newest] == ["unbalanced_voucher", "vendor_rejected", "vendor_rejected", "vendor_rejected"]
    assert len(dl.find(DeadLetterFilter(key="inst-0"))) == 2  # one of each burial
    old = dl.find(DeadLetterFilter(until=clock.now() - timedelta(minutes=30)))
    assert len(old) == 3
    # replay by filter: republished with the attempts already made, marked, logged
    replayed = dl.replay(DeadLetterFilter(reason="vendor_rejected", until=clock.now() - timedelta(minutes=30)))
    assert len(replayed) == 3
    queued = transport.claim(["effect"], "w", 10, lease=30)
    assert sorted(d.payload["outbox_id"] for d in queued) == ["o0", "o1", "o2"]
    assert all(d.payload["prior_attempts"] == 3 for d in queued)
    assert dl.counts_by_reason() == {"unbalanced_voucher": 1}
    shown = dl.get(replayed[0])
    assert shown.replays == 1
    assert shown.replayed_at is not None
    assert not shown.open
    # discard needs a reason; a closed one cannot be replayed again
    last = dl.find()[0]
    with pytest.raises(HuiliuError, match="原因"):
        dl.discard(DeadLetterFilter(ids=[last.id]), note="  ")
    assert dl.discard(DeadLetterFilter(ids=[last.id]), note="已在金蝶手工录入") == [last.id]
    assert dl.get(last.id).note == "已在金蝶手工录入"
    with pytest.raises(HuiliuError, match="已处理过"):
        dl.replay(DeadLetterFilter(ids=[last.id]))
    with pytest.raises(NotFound):
        dl.replay(DeadLetterFilter(ids=[99999]))
    with pytest.raises(NotFound):
        dl.get(99999)
    assert len(dl.find(DeadLetterFilter(include_closed=True))) == 4
    assert dl.find() == []
