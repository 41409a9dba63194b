"""The console's overview (驾驶舱) with a big store: ``compute_overview`` and ``GET /api/overview`` over N runs.

Loads N runs with ``bench/console.py``'s generator, spread over a year as a hub of that size sees them
(1,000,000 runs: ~2,700 a day, so "today" holds a few thousand), into a SQLite file and a schema of its own
on the local PostgreSQL (127.0.0.1:5432, database ``test``, dropped at the end). The runs' envelopes,
effects, event log and dead letters are loaded; their steps are not (the overview does not read them). The
generator's failed external calls (outcome ``retry``) are written as ``http_500`` / ``timeout``, as the
connectors log them.

The load happens at revision ``--before`` (0011 by default: the schema without the overview's indexes),
then the figures; then the upgrade to the newest revision (its index builds, timed) and the figures again.
Figures: the overview computed afresh (``compute_overview``, ``--calls`` times: p50 / p95 / max), and
through the real app (``GET /api/overview`` with a viewer's token, httpx's ASGI transport, ``--requests``
times: the answer is reused for 10 s once computing it took longer than 100 ms). For comparison, the time
to only fetch the 14 days' timestamps that bucketing in Python would need (approvals, documents, ended runs).

    .venv/bin/python bench/overview.py [--runs 1000000] [--days 365] [--calls 20] [--requests 200]
                                       [--before 0011] [--backends sqlite,postgresql]

Measured 2026-11-26 (see the module docstring of ``huiliu.web.overview``).
"""

from __future__ import annotations

import os
import platform
import random
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from console import Store, arguments, each_store, generate, percentiles, viewer_client
from huiliu.model import SystemClock
from huiliu.service import Hub, Settings
from huiliu.store import Database
from huiliu.store.schema import inbox, outbox, runs
from huiliu.web.overview import APPROVAL_TYPES, DOCUMENT_ACTIONS, compute_overview

TZ = ZoneInfo("Asia/Shanghai")


def overview_rows(chunks: Iterator[dict[str, list[tuple[Any, ...]]]],
                  rng: random.Random) -> Iterator[dict[str, list[tuple[Any, ...]]]]:
    """The generator's rows without run steps, failed calls logged with the connectors' outcomes."""
    for rows in chunks:
        rows["run_steps"] = []
        rows["event_log"] = [
            (*row[:6], rng.choice(("http_500", "timeout")), *row[7:]) if row[6] == "retry" and row[3] != "hub"
            else row for row in rows["event_log"]]
        yield rows


def cuts(took: list[float]) -> str:
    """p50 / p95 / max of milliseconds."""
    q = percentiles(took)
    return f"{len(took):>5} {q[49]:>8.1f} {q[94]:>8.1f} {max(took):>8.1f}"


def fetch_only(db: Database) -> float:
    """Milliseconds to fetch the timestamps Python bucketing would need (14 days), without bucketing them."""
    now = datetime.now(TZ)
    origin = datetime.combine(now.date() - timedelta(days=13), datetime.min.time(), tzinfo=TZ)
    began = time.perf_counter()
    with db.read() as conn:
        conn.execute(select(inbox.c.received_at).where(inbox.c.type.in_(APPROVAL_TYPES),
                                                       inbox.c.received_at >= origin)).all()
        conn.execute(select(outbox.c.done_at).where(outbox.c.status == "done", outbox.c.action.in_(DOCUMENT_ACTIONS),
                                                    outbox.c.done_at >= origin)).all()
        conn.execute(select(runs.c.status, runs.c.finished_at).where(
            runs.c.status.in_(("succeeded", "failed", "compensated")), runs.c.finished_at >= origin)).all()
    return (time.perf_counter() - began) * 1e3


async def measure(store: Store, calls: int, requests: int) -> None:
    hub = Hub(Settings(database_url=store.url, schedules=False))
    print(f"{'':28} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    clock = SystemClock()
    compute_overview(hub.db, clock, tz=TZ)  # warm-up: the pool, the statement cache
    took = []
    for _ in range(calls):
        began = time.perf_counter()
        body = compute_overview(hub.db, clock, tz=TZ)
        took.append((time.perf_counter() - began) * 1e3)
    print(f"{'overview, computed afresh':28} {cuts(took)}")
    fetched = [fetch_only(hub.db) for _ in range(5)]
    print(f"{'(fetch for Python buckets)':28} {len(fetched):>5} {statistics.median(fetched):>8.1f}")
    print(f"    today {body['day']}: approvals {body['approvals_today']:,}, documents {body['documents_today']:,} "
          f"of {body['documents_total']:,}, latency {body['latency_ms']}, success {body['success_rate']}, "
          f"runs {sum(body['runs_today'].values()):,}, errors {body['errors_by_system'][:3]}")
    async with viewer_client(hub) as client:
        (await client.get("/api/overview")).raise_for_status()
        took = []
        for _ in range(requests):
            began = time.perf_counter()
            response = await client.get("/api/overview")
            took.append((time.perf_counter() - began) * 1e3)
            response.raise_for_status()
    print(f"{'GET /api/overview (cached)':28} {cuts(took)}")
    hub.db.dispose()


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--days", type=int, default=365, help="the runs' start times spread over this many days")
    parser.add_argument("--calls", type=int, default=20, help="fresh computations")
    parser.add_argument("--requests", type=int, default=200, help="requests through the app")
    parser.add_argument("--before", default="0011", help="revision of the first round (the load happens there)")
    args = parser.parse_args()
    print(f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"{args.runs:,} runs over {args.days} days")
    end = datetime.now(UTC).replace(microsecond=0)
    each_store(args.backends, args.before,
               lambda samples: overview_rows(generate(args.runs, end, random.Random(1), samples,
                                                      span=timedelta(days=args.days)), random.Random(2)),
               lambda store, _: measure(store, args.calls, args.requests))


if __name__ == "__main__":
    main()
