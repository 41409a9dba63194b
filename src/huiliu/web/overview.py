"""The console's overview (驾驶舱): today's approvals and documents, latency, success, backlog, errors, trends.

Owns: what ``GET /api/overview`` reports and how each figure is read. Does not own the rows: it only reads
them, and it does not decide how old an answer may be (:class:`huiliu.web.summary.SummaryCache` does).

Definitions (all days and hours in the hub's zone, ``Settings.timezone``, Asia/Shanghai by default):

- an *approval* is an envelope of a finished, approved OA instance (:data:`APPROVAL_TYPES`), counted on the
  day the hub received it;
- a *document* is an effect done whose action creates a document in an ERP (:data:`DOCUMENT_ACTIONS`:
  vouchers, purchase orders, payments, contracts, journal entries; a merged day's batch counts once).
  Reversals (``*.voucher.reverse``, ``*.purchase.reverse``) undo a document and are not counted, nor are
  master data (``*.party.ensure``) or approvals started in an OA;
- *latency* runs from the approval's time in the OA (the envelope's ``occurred_at``; a time given to the
  minute only stands for the hub's receipt within that minute, :func:`approved_at`) to the run's first
  document done today, over the latest :data:`LATENCY_RUNS` such runs at most;
- *errors* are failed external calls in the event log (outcome ``failed``, ``timeout``,
  ``connection_error`` or ``http_*``; the hub's own entries left out) plus dead letters that name a system.

Every query is a range over an index (migration 0012), grouped by quarter hour in SQL: quarter hours fit
every zone's offsets and transitions, so Python then sums them into the zone's hours and days exactly.

Figures (``bench/overview.py``, 2 CPUs; 1,000,000 runs over a year — 923k envelopes, 2M effects, 9.5M
event-log rows, 12k dead letters; ~2,700 runs a day, ~1,400 "today" at the time; milliseconds):

==========  ==================  =========================  ===========================
backend     schema              computed afresh p50 / p95  ``GET /api/overview`` p50 / p95
==========  ==================  =========================  ===========================
SQLite      0011 (no 0012)      1,784 / 1,857              1.1 / 1.3 (reused: slow to compute)
SQLite      0012                   93 / 99                 1.1 / 96 (computed when under 100 ms)
PostgreSQL  0011 (no 0012)        711 / 817                1.1 / 3.6 (reused)
PostgreSQL  0012                   85 / 116                1.1 / 81 (computed when under 100 ms)
==========  ==================  =========================  ===========================

Fetching the 14 days' timestamps alone, as bucketing in Python would, takes 307 ms (SQLite) and 326 ms
(PostgreSQL) with the indexes: grouping by quarter hour in SQL is the faster way on both.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, BackgroundTasks, Request
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Integer,
    Row,
    cast,
    extract,
    func,
    literal_column,
    or_,
    select,
)

from huiliu.model import Clock
from huiliu.service import Hub
from huiliu.store import Database, loads
from huiliu.store.schema import dead_letters, event_log, inbox, messages, outbox, runs
from huiliu.web.summary import SummaryCache

__all__ = ["APPROVAL_TYPES", "DOCUMENT_ACTIONS", "LATENCY_RUNS", "approved_at", "compute_overview",
           "is_document_action", "overview_cache", "router"]

OAS = ("dingtalk", "wecom", "feishu")
APPROVAL_TYPES = tuple(f"{oa}.approval.approved" for oa in OAS)
"""Envelope types of an approval that finished approved (``<oa>.approval.approved``)."""

ERPS = ("kingdee", "tryton", "odoo", "erpnext", "yonyou", "sap", "soap", "u8")
_DOCUMENTS = ("voucher", "purchase", "payment", "contract", "journal_entry")
DOCUMENT_ACTIONS = frozenset(
    {f"{erp}.{document}.create" for erp in ERPS for document in _DOCUMENTS}
    | {"kingdee.voucher.create_batch", "hub.voucher.merge"})
"""Actions whose done effect is a document the hub created in an ERP (nobody typed it again)."""

LATENCY_RUNS = 5000
"""The latency percentiles read this many of today's runs at most (the latest)."""

FAILED_OUTCOMES = ("failed", "timeout", "connection_error")
"""Event-log outcomes of a failed external call, besides ``http_<status>``."""

RUN_ENDS = ("succeeded", "failed", "compensated")
"""Final run statuses: the success rate's denominator."""
RUN_STATUSES = ("running", "waiting", *RUN_ENDS, "compensating")
"""Every run status. Named in the query of runs started today, so that SQLite seeks each status's time range
in ``ix_runs_status_started_at`` instead of reading the whole index."""

_QUARTER = 900
"""Seconds per bucket in SQL: every zone's offset and transition falls on a quarter hour."""
_DAYS = 14
_HOURS = 24


def is_document_action(action: str) -> bool:
    """Whether an effect of ``action`` creates a document in an ERP (see :data:`DOCUMENT_ACTIONS`)."""
    return action in DOCUMENT_ACTIONS


def compute_overview(db: Database, clock: Clock, *, tz: ZoneInfo, now: datetime | None = None,
                     latency_runs: int = LATENCY_RUNS) -> dict[str, Any]:
    """The overview's figures at ``now`` (the clock's time when not given), days and hours in ``tz``.

    Returns a JSON-able dict: ``as_of``, ``tz``, ``day``, ``approvals_today``, ``documents_today``,
    ``documents_total``, ``latency_ms`` (``p50``, ``p95``, ``count``), ``success_rate`` (``None`` without
    finished runs today), ``runs_today`` (started today, by status), ``backlog`` (``messages``, ``running``,
    ``waiting``, ``dead_letters_open``), ``errors_by_system`` (last 24 hours, most first), ``throughput``
    (24 hours: ``hour``, ``started``, ``succeeded``, ``failed``) and ``daily`` (14 days: ``day``,
    ``approvals``, ``documents``, ``failed``), zero-filled, oldest first; times ISO 8601 with their offset.
    """
    at = (now or clock.now()).astimezone(tz)
    today = at.date()
    days = [today - timedelta(days=k) for k in range(_DAYS - 1, -1, -1)]
    day_start = _midnight(today, tz)
    origin = _midnight(days[0], tz)
    hour0 = (at.replace(minute=0, second=0, microsecond=0).astimezone(UTC) - timedelta(hours=_HOURS - 1))
    hours = [hour0 + timedelta(hours=k) for k in range(_HOURS)]
    buckets = _Buckets(origin, hour0, tz)
    since_24h = at - timedelta(hours=24)

    with db.read() as conn:
        sqlite = conn.dialect.name == "sqlite"

        def quarter(column: ColumnElement[datetime]) -> ColumnElement[int]:
            return _quarter(column, origin, sqlite=sqlite)

        approvals = buckets.days(conn.execute(
            select(quarter(inbox.c.received_at), func.count())
            .where(inbox.c.type.in_(APPROVAL_TYPES), inbox.c.received_at >= origin)
            .group_by(quarter(inbox.c.received_at))).all())
        documents_q = quarter(outbox.c.done_at)
        documents = buckets.days(conn.execute(
            select(documents_q, func.count())
            .where(outbox.c.status == "done", outbox.c.action.in_(DOCUMENT_ACTIONS), outbox.c.done_at >= origin)
            .group_by(documents_q)).all())
        documents_total = conn.execute(select(func.count()).where(
            outbox.c.status == "done", outbox.c.action.in_(DOCUMENT_ACTIONS))).scalar_one()
        lo = min(day_start, hour0)
        started_q = _quarter(runs.c.started_at, lo, sqlite=sqlite)
        started = conn.execute(select(runs.c.status, started_q, func.count())
                               .where(runs.c.status.in_(RUN_STATUSES), runs.c.started_at >= lo)
                               .group_by(runs.c.status, started_q)).all()
        ended_q = quarter(runs.c.finished_at)
        ended = conn.execute(select(runs.c.status, ended_q, func.count())
                             .where(runs.c.status.in_(RUN_ENDS), runs.c.finished_at >= origin)
                             .group_by(runs.c.status, ended_q)).all()
        latencies = _latencies(conn, day_start, latency_runs)
        backlog = _backlog(conn)
        errors = _errors(conn, since_24h)

    runs_today: Counter[str] = Counter()
    started_hourly: Counter[int] = Counter()
    started_buckets = _Buckets(lo, hour0, tz)
    for status, q, n in started:
        when = started_buckets.instant(q)
        if when >= day_start:
            runs_today[status] += n
        hour = buckets.hour_of(when)
        if hour is not None:
            started_hourly[hour] += n
    ended_daily: dict[str, Counter[date]] = defaultdict(Counter)
    ended_hourly: dict[str, Counter[int]] = defaultdict(Counter)
    for status, q, n in ended:
        when = buckets.instant(q)
        ended_daily[status][when.astimezone(tz).date()] += n
        hour = buckets.hour_of(when)
        if hour is not None:
            ended_hourly[status][hour] += n
    finished_today = {s: ended_daily[s][today] for s in RUN_ENDS}
    finished = sum(finished_today.values())

    return {
        "as_of": at.isoformat(),
        "tz": tz.key,
        "day": today.isoformat(),
        "approvals_today": approvals[today],
        "documents_today": documents[today],
        "documents_total": documents_total,
        "latency_ms": _percentiles(latencies),
        "success_rate": round(finished_today["succeeded"] / finished, 4) if finished else None,
        "runs_today": dict(sorted(runs_today.items())),
        "backlog": backlog,
        "errors_by_system": errors,
        "throughput": [{"hour": h.astimezone(tz).isoformat(), "started": started_hourly[k],
                        "succeeded": ended_hourly["succeeded"][k], "failed": ended_hourly["failed"][k]}
                       for k, h in enumerate(hours)],
        "daily": [{"day": d.isoformat(), "approvals": approvals[d], "documents": documents[d],
                   "failed": ended_daily["failed"][d]} for d in days],
    }


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    """The start of ``day`` in ``tz``, in UTC."""
    return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)


def _quarter(column: ColumnElement[datetime], origin: datetime, *, sqlite: bool) -> ColumnElement[int]:
    """The quarter hour since ``origin`` a time falls in, computed by the database.

    ``origin`` is written into the statement (an integer the hub computed), so the same expression in the
    select list and in ``GROUP BY`` is the same text, as PostgreSQL requires.
    """
    start: ColumnElement[int] = literal_column(str(int(origin.timestamp())), Integer)
    if sqlite:  # times are UTC text: strftime('%s') reads them as UTC
        seconds: ColumnElement[int] = cast(func.strftime(literal_column("'%s'"), column), Integer)
    else:
        seconds = cast(func.floor(extract("epoch", column)), BigInteger)
    return (seconds - start) // literal_column(str(_QUARTER), Integer)


class _Buckets:
    """Counts by quarter hour since ``origin``, summed into the zone's days and the last 24 hours."""

    def __init__(self, origin: datetime, hour0: datetime, tz: ZoneInfo) -> None:
        self.origin, self.hour0, self.tz = origin, hour0, tz

    def instant(self, quarter: int) -> datetime:
        """The start of a quarter hour."""
        return self.origin + timedelta(seconds=int(quarter) * _QUARTER)

    def hour_of(self, when: datetime) -> int | None:
        """Which of the 24 hourly buckets ``when`` falls in, if any."""
        hour = int((when - self.hour0).total_seconds() // 3600)
        return hour if 0 <= hour < _HOURS else None

    def days(self, rows: Iterable[Row[int, int]]) -> Counter[date]:
        """``(quarter, count)`` rows summed by day."""
        days: Counter[date] = Counter()
        for quarter, n in rows:
            days[self.instant(quarter).astimezone(self.tz).date()] += n
        return days


def _latencies(conn: Connection, day_start: datetime, limit: int) -> list[float]:
    """Milliseconds from approval (in the OA) to each of the latest ``limit`` runs' first document today."""
    first = (select(outbox.c.run_id, func.min(outbox.c.done_at).label("done_at"))
             .where(outbox.c.status == "done", outbox.c.action.in_(DOCUMENT_ACTIONS), outbox.c.done_at >= day_start)
             .group_by(outbox.c.run_id).subquery())
    rows = conn.execute(
        select(first.c.done_at, inbox.c.occurred_at, inbox.c.received_at)
        .select_from(first.join(runs, runs.c.id == first.c.run_id).join(inbox, inbox.c.id == runs.c.envelope_id))
        .order_by(first.c.done_at.desc()).limit(limit)).all()
    # Clocks differ (the OA's and the hub's): a document a little "before" its approval took no time.
    return [max(0.0, (done - approved_at(occurred, received)).total_seconds() * 1000)
            for done, occurred, received in rows]


def approved_at(occurred: datetime, received: datetime) -> datetime:
    """When the approval happened, as well as the envelope tells.

    Some OAs give an instance's finish time to the minute only (DingTalk's ``finishTime`` reads
    ``2026-11-26T03:46Z``): the approval then happened within that minute, and not after the hub heard of
    it. So a whole-minute time stands for the earlier of the hub's receipt and the minute's end (never before
    the minute itself: the clocks differ); without this, a document made a second after the approval would
    show up to a minute of latency.
    """
    if occurred.second or occurred.microsecond:
        return occurred
    return max(occurred, min(received, occurred + timedelta(minutes=1)))


def _percentiles(values: list[float]) -> dict[str, Any]:
    """Median and 95th percentile (linear between the closest ranks), ``None`` without values."""
    if not values:
        return {"p50": None, "p95": None, "count": 0}
    if len(values) == 1:
        return {"p50": round(values[0], 1), "p95": round(values[0], 1), "count": 1}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": round(cuts[49], 1), "p95": round(cuts[94], 1), "count": len(values)}


def _backlog(conn: Connection) -> dict[str, int]:
    """Messages queued, runs running and waiting, dead letters neither replayed nor discarded."""
    by_status: dict[str, int] = dict(conn.execute(select(runs.c.status, func.count())
                                  .where(runs.c.status.in_(("running", "waiting"))).group_by(runs.c.status)).all())
    return {
        "messages": conn.execute(select(func.count()).select_from(messages)).scalar_one(),
        "running": by_status.get("running", 0),
        "waiting": by_status.get("waiting", 0),
        "dead_letters_open": conn.execute(select(func.count()).select_from(dead_letters).where(
            dead_letters.c.replayed_at.is_(None), dead_letters.c.discarded_at.is_(None))).scalar_one(),
    }


def _errors(conn: Connection, since: datetime) -> list[dict[str, Any]]:
    """Failed external calls and dead letters since ``since``, by system, most first."""
    counts: Counter[str] = Counter(dict(conn.execute(
        select(event_log.c.system, func.count())
        .where(event_log.c.at >= since, event_log.c.system != "hub",
               or_(event_log.c.outcome.in_(FAILED_OUTCOMES), event_log.c.outcome.like("http\\_%", escape="\\")))
        .group_by(event_log.c.system)).all()))
    for detail, payload in conn.execute(select(dead_letters.c.detail, dead_letters.c.payload)
                                        .where(dead_letters.c.created_at >= since)):
        system = _system_of(detail) or _system_of(payload)
        if system and system != "hub":
            counts[system] += 1
    return [{"system": s, "count": n} for s, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]


def _system_of(text: str | None) -> str | None:
    """The ``system`` a dead letter's detail or payload names, if any."""
    if not text:
        return None
    try:
        value = loads(text)
    except ValueError:
        return None
    system = value.get("system") if isinstance(value, dict) else None
    return system if isinstance(system, str) and system else None


def overview_cache(hub: Hub) -> SummaryCache:
    """The overview of ``hub``, computed afresh while that is quick and reused for a few seconds once it is not."""
    return SummaryCache(partial(compute_overview, hub.db, hub.clock, tz=ZoneInfo(hub.settings.timezone)), hub.clock)


router = APIRouter(prefix="/api", tags=["api"])


@router.get("/overview", summary="The overview: today's approvals, documents, latency, backlog, errors, trends")
def overview(request: Request, background: BackgroundTasks) -> dict[str, Any]:
    """The overview's figures at ``as_of`` (a few seconds ago at most on a big store)."""
    cache: SummaryCache = request.app.state.overview
    answer = cache.answer(background)
    as_of = answer["as_of"]
    if isinstance(as_of, datetime):  # the cache stamps when it computed, in UTC: shown in the hub's zone
        answer = {**answer, "as_of": as_of.astimezone(ZoneInfo(answer["tz"])).isoformat()}
    return answer
