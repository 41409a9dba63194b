"""Console read speed with a big store: the runs list, a run's trace, the summary and the pages over N runs.

Fills a fresh database — a SQLite file in a temporary directory, and a schema of its own on the local
PostgreSQL (127.0.0.1:5432, database ``test``), dropped at the end — migrated to the newest revision, with
N runs and what each run leaves behind in a working hub: its inbox envelope, ~5 ``run_steps``, 2 ``outbox``
effects, 10 ``event_log`` rows (the envelope's own entry carries the business key but no run id), and a dead
letter for some failures. Eight flows with skewed volumes; statuses mostly succeeded, some failed, waiting,
running or compensated; business keys as the OAs write them (one in ten shared by a second run of another
flow); start times spread over 90 days in the order they happened; Chinese text in payloads and errors.

The load drops the five tables' indexes and constraints, bulk-loads (``executemany`` in large transactions
on SQLite; ``COPY`` on PostgreSQL), then builds them again, as a restore does; PostgreSQL then gets the
``VACUUM ANALYZE`` its autovacuum would run. SQLite is measured as shipped: no ``ANALYZE``.

Then every figure goes through the real FastAPI app (``huiliu.web.create_app`` around a :class:`Hub` on that
database, httpx's ASGI transport): one request at a time, ``--requests`` of each kind after a short
warm-up, random arguments drawn from the loaded rows. Kinds: the first page of the runs list, the list
filtered by flow + status (every combination, so the rare ones too), by status alone, by business key, by a
one-day time window, a deep page (offset 10,000 – 50,000), one run's trace, and the summary (as the app
answers it, and counted afresh without reuse); then the console's pages, rendered: the runs list, the list
filtered by flow and ``failed``, a run's trace and the overview (驾驶舱, through its cache as users get it).

With ``--before 0008`` the load and a first round of figures happen at that revision; the upgrade to the
newest revision (its index builds, timed) follows, and the same requests again.

    .venv/bin/python bench/console.py [--runs 1000000] [--requests 300] [--budget 60] [--before REVISION]
                                      [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from alembic import command
from sqlalchemy import select

from huiliu.identity.accounts import Accounts
from huiliu.service import Hub, Settings
from huiliu.store import Database
from huiliu.store.schema import api_tokens, audit_log, metadata, sessions, users
from huiliu.web import create_app
from huiliu.web.summary import count_summary

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
CHUNK = 10_000
"""Runs per transaction while loading."""
SPAN = timedelta(days=90)
TABLES = ("inbox", "runs", "run_steps", "outbox", "event_log", "dead_letters")

COLUMNS = {
    "inbox": ("id", "source", "native_id", "version", "type", "business_key", "payload", "occurred_at",
              "received_at"),
    "runs": ("id", "flow_id", "flow_version", "envelope_id", "business_key", "status", "context", "error",
             "started_at", "updated_at", "finished_at", "flow_digest"),
    "run_steps": ("run_id", "step_id", "status", "output", "error", "started_at", "finished_at"),
    "outbox": ("id", "idempotency_key", "run_id", "step_id", "action", "request", "status", "result", "created_at",
               "done_at"),
    "event_log": ("at", "case_id", "activity", "system", "actor", "run_id", "outcome", "duration_ms", "detail"),
    "dead_letters": ("message_id", "topic", "key", "payload", "reason", "last_error", "attempts", "attempt_log",
                     "created_at"),
}


@dataclass(frozen=True)
class FlowShape:
    """What one flow's runs look like: its trigger, its steps and the two external calls it makes."""

    id: str
    weight: int
    source: str
    event: str
    steps: tuple[str, ...]
    actions: tuple[str, str]


FLOWS = (
    FlowShape("expense-claim-to-voucher", 40, "dingtalk", "dingtalk.approval.approved",
              ("employee", "claim", "voucher", "post_voucher", "write_back"),
              ("kingdee.voucher.create", "dingtalk.approval.comment")),
    FlowShape("expense-claim-to-voucher-rules", 15, "wecom", "wecom.approval.approved",
              ("employee", "claim", "allocation", "voucher", "write_back"),
              ("kingdee.voucher.create", "wecom.approval.comment")),
    FlowShape("purchase-requisition-to-po", 15, "feishu", "feishu.approval.approved",
              ("supplier", "items", "order", "confirm", "notify"), ("odoo.purchase.create", "feishu.message.send")),
    FlowShape("payment-request-to-payment", 10, "dingtalk", "dingtalk.approval.approved",
              ("payee", "bill", "payment", "write_back"), ("kingdee.payment.create", "dingtalk.approval.comment")),
    FlowShape("contract-supplier", 8, "dingtalk", "dingtalk.approval.approved",
              ("supplier", "contract", "ensure", "notify"), ("kingdee.supplier.ensure", "dingtalk.message.send")),
    FlowShape("erp-document-approval", 7, "kingdee", "kingdee.bill.submitted",
              ("document", "start", "wait", "verdict", "write_back"),
              ("dingtalk.approval.start", "kingdee.bill.audit")),
    FlowShape("expense-claim-reversal", 3, "dingtalk", "dingtalk.approval.revoked",
              ("voucher", "reverse", "write_back"), ("kingdee.voucher.reverse", "dingtalk.approval.comment")),
    FlowShape("project-budget-check", 2, "hub", "hub.schedule.fired",
              ("budgets", "actuals", "alert"), ("hub.budget.check", "hub.alert.raise")),
)
STATUSES = (("succeeded", 9300), ("failed", 400), ("waiting", 180), ("running", 60), ("compensated", 40),
            ("compensating", 20))
PEOPLE = ("张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "赵敏", "黄强", "周杰", "吴婷")
DEPARTMENTS = ("财务部", "销售一部", "研发中心", "采购部", "行政部", "华东大区")
REASONS = ("vendor_rejected", "mapping_failed", "retries_exhausted", "unknown_employee")
ERRORS = ("金蝶拒绝：科目 6602.03 已禁用（ERR 1002）", "找不到员工 E1042 的 ERP 用户", "供应商编码 GYS009 不存在",
          "审批单字段 金额 为空", "ERP 超时：30 秒内未应答")


def ts(value: datetime) -> str:
    """A UTC time as both backends take it in text (SQLite as SQLAlchemy writes it; PostgreSQL in UTC)."""
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


@dataclass
class Samples:
    """Arguments for the requests, drawn from what was loaded."""

    run_ids: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)


def generate(n: int, end: datetime, rng: random.Random, samples: Samples,
             span: timedelta = SPAN) -> Iterator[dict[str, list[tuple[Any, ...]]]]:
    """The rows, a chunk of :data:`CHUNK` runs at a time, oldest first, started over ``span`` before ``end``."""
    flow_weights = [f.weight for f in FLOWS]
    status_names = [s for s, _ in STATUSES]
    status_weights = [w for _, w in STATUSES]
    start = end - span
    step = span / n
    keep = max(1, n // 5000)
    dead = 0
    digests = {f.id: hashlib.sha256(f.id.encode()).hexdigest() for f in FLOWS}
    previous: tuple[str, str, str] | None = None  # envelope id, business key, flow id
    for base in range(0, n, CHUNK):
        rows: dict[str, list[tuple[Any, ...]]] = {name: [] for name in TABLES}
        for i in range(base, min(base + CHUNK, n)):
            flow = rng.choices(FLOWS, flow_weights)[0]
            status = rng.choices(status_names, status_weights)[0]
            started = start + step * i + timedelta(microseconds=rng.randrange(1_000_000))
            run_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            person, dept = rng.choice(PEOPLE), rng.choice(DEPARTMENTS)
            amount = f"{rng.randrange(100, 5_000_000) / 100:.2f}"
            if previous is not None and i % 10 == 0 and previous[2] != flow.id:
                envelope_id, key = previous[0], previous[1]  # a second flow on the same approval
            else:
                envelope_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
                key = f"PROC-{rng.getrandbits(64):016X}"
                received = started - timedelta(milliseconds=rng.randrange(5, 400))
                payload = json.dumps({"instance_id": key, "title": f"{person}提交的报销申请", "department": dept,
                                      "amount": amount, "currency": "CNY",
                                      "lines": [{"摘要": "差旅费", "金额": amount}]}, ensure_ascii=False)
                rows["inbox"].append((envelope_id, flow.source, key, "1", flow.event, key, payload, ts(received),
                                      ts(received)))
                rows["event_log"].append((ts(received), key, flow.event, flow.source, person, None, "ok", None, None))
            previous = (envelope_id, key, flow.id)
            steps = flow.steps
            done_steps = len(steps) if status in ("succeeded", "compensated") else rng.randrange(1, len(steps))
            at = started
            outputs: dict[str, Any] = {}
            for k, step_id in enumerate(steps[:done_steps]):
                took = timedelta(milliseconds=rng.randrange(2, 900))
                last = k == done_steps - 1
                step_status = "failed" if last and status == "failed" else (
                    "waiting" if last and status == "waiting" else "done")
                output = {"number": f"{step_id.upper()}-{i:07d}", "金额": amount, "部门": dept}
                outputs[step_id] = output
                error = rng.choice(ERRORS) if step_status == "failed" else None
                rows["run_steps"].append((run_id, step_id, step_status, json.dumps(output, ensure_ascii=False),
                                          error, ts(at), None if step_status == "waiting" else ts(at + took)))
                rows["event_log"].append((ts(at + took), key, f"step.{step_id}", "hub", None, run_id,
                                          "ok" if step_status == "done" else step_status, took // timedelta(
                                              milliseconds=1), None))
                at += took
            for k, action in enumerate(flow.actions):
                call_at = started + timedelta(milliseconds=50 * (k + 1))
                done = status in ("succeeded", "compensated") or (k == 0 and done_steps > 2)
                lines = [{"科目": "6602.03", "借方": amount}, {"科目": "2241.01", "贷方": amount}]
                request = json.dumps({"bill_no": f"HL{i:08d}", "摘要": f"{person} {dept} 报销", "金额": amount,
                                      "分录": lines}, ensure_ascii=False)
                result = json.dumps({"id": f"V{i:08d}", "status": "C"}) if done else None
                rows["outbox"].append((str(uuid.UUID(int=rng.getrandbits(128), version=4)), f"{run_id}:{action}",
                                       run_id, steps[min(k + 2, len(steps) - 1)], action, request,
                                       "done" if done else "pending", result, ts(call_at),
                                       ts(call_at + timedelta(milliseconds=120)) if done else None))
                rows["event_log"].append((ts(call_at + timedelta(milliseconds=120)), key, action,
                                          action.split(".")[0], None, run_id, "ok" if done else "retry",
                                          rng.randrange(40, 3000), json.dumps({"attempt": 1}) if not done else None))
            rows["event_log"].append((ts(started), key, "run.started", "hub", None, run_id, "ok", None,
                                      json.dumps({"flow": flow.id}, ensure_ascii=False)))
            error = rng.choice(ERRORS) if status in ("failed", "compensated", "compensating") else None
            finished = at if status in ("succeeded", "failed", "compensated") else None
            if finished is not None:
                rows["event_log"].append((ts(finished), key, f"run.{status}", "hub", None, run_id,
                                          "ok" if status == "succeeded" else "failed", None,
                                          json.dumps({"error": error}, ensure_ascii=False) if error else None))
            context = json.dumps({"instance": {"id": key, "发起人": person, "部门": dept, "金额": amount},
                                  "steps": outputs}, ensure_ascii=False)
            rows["runs"].append((run_id, flow.id, "1.0", envelope_id, key, status, context, error, ts(started),
                                 ts(at), None if finished is None else ts(finished), digests[flow.id]))
            if status == "failed" and rng.random() < 0.3:
                dead += 1
                rows["dead_letters"].append((dead, "effects", key, json.dumps({"run_id": run_id}),
                                             rng.choice(REASONS), error, 6, "[]", ts(at)))
            if i % keep == 0:
                samples.run_ids.append(run_id)
                samples.keys.append(key)
        yield rows


class Store:
    """One backend's bench database: its URL, its bulk load, and its cleanup."""

    name: str
    url: str

    def load(self, chunks: Iterator[dict[str, list[tuple[Any, ...]]]]) -> dict[str, int]:
        raise NotImplementedError


class SqliteStore(Store):
    """A SQLite file in a temporary directory."""

    name = "sqlite"

    def __init__(self, directory: Path) -> None:
        self.path = directory / "console.db"
        self.url = f"sqlite:///{self.path}"

    def load(self, chunks: Iterator[dict[str, list[tuple[Any, ...]]]]) -> dict[str, int]:
        conn = sqlite3.connect(self.path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-2000000")
        indexes = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND "
                               f"tbl_name IN ({','.join('?' * len(TABLES))})", TABLES).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        counts = dict.fromkeys(TABLES, 0)
        for rows in chunks:
            conn.execute("BEGIN")
            for table, values in rows.items():
                cols = COLUMNS[table]
                conn.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                                 values)
                counts[table] += len(values)
            conn.execute("COMMIT")
        for _, sql in indexes:
            conn.execute(sql)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.close()
        return counts


class PostgresStore(Store):
    """A schema of its own on the local PostgreSQL, dropped by :meth:`drop`."""

    name = "postgresql"

    def __init__(self) -> None:
        self.schema = f"bench_console_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {self.schema}")
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{self.schema}"

    def load(self, chunks: Iterator[dict[str, list[tuple[Any, ...]]]]) -> dict[str, int]:
        with psycopg.connect(PG_ADMIN, autocommit=True, options=f"-csearch_path={self.schema}") as conn:
            conn.execute("SET TIME ZONE 'UTC'")
            conn.execute("SET maintenance_work_mem = '1GB'")
            constraints = conn.execute(
                "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c "
                "JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = %s AND c.contype IN ('p', 'u') "
                "AND c.conrelid::regclass::text = ANY(%s)", (self.schema, list(TABLES))).fetchall()
            indexes = conn.execute(
                "SELECT indexname, indexdef FROM pg_indexes i WHERE schemaname = %s AND tablename = ANY(%s) AND NOT "
                "EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
                (self.schema, list(TABLES))).fetchall()
            for name, _ in indexes:
                conn.execute(f'DROP INDEX "{name}"')
            for table, name, _ in constraints:
                conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            counts = dict.fromkeys(TABLES, 0)
            for rows in chunks:
                with conn.transaction():
                    for table, values in rows.items():
                        with conn.cursor().copy(f"COPY {table} ({', '.join(COLUMNS[table])}) FROM STDIN") as copy:
                            for row in values:
                                copy.write_row(row)
                        counts[table] += len(values)
            for table, name, definition in constraints:
                conn.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
            for _, definition in indexes:
                conn.execute(definition)
            for table in TABLES:
                conn.execute(f"VACUUM ANALYZE {table}")
        return counts

    def drop(self) -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {self.schema} CASCADE")


@contextmanager
def stores(names: list[str]) -> Iterator[Iterator[Store]]:
    """Each asked-for backend in turn, removed after use (PostgreSQL skipped, and said so, when unreachable)."""
    with tempfile.TemporaryDirectory(prefix="bench-console-") as work:
        def each() -> Iterator[Store]:
            for name in names:
                if name == "sqlite":
                    store = SqliteStore(Path(work))
                    yield store
                    store.path.unlink(missing_ok=True)
                    continue
                try:
                    pg = PostgresStore()
                except psycopg.OperationalError:
                    print(f"\n(PostgreSQL at {PG_ADMIN} is not reachable: skipped)")
                    continue
                try:
                    yield pg
                finally:
                    pg.drop()

        yield each()


def requests(kind: str, count: int, rng: random.Random, samples: Samples, end: datetime) -> list[str]:
    """``count`` request paths of one kind."""
    if kind == "list, first page":
        return ["/api/runs"] * count
    if kind == "list, flow + status":
        combos = [(f.id, s) for f in FLOWS for s in ("succeeded", "failed", "waiting")]
        return [f"/api/runs?flow={f}&status={s}" for f, s in (combos[k % len(combos)] for k in range(count))]
    if kind == "list, status failed":
        return ["/api/runs?status=failed"] * count
    if kind == "list, business key":
        return [f"/api/runs?key={rng.choice(samples.keys)}" for _ in range(count)]
    if kind == "list, one day":
        days = [end - timedelta(days=rng.uniform(1, SPAN.days)) for _ in range(count)]
        return [f"/api/runs?since={(d - timedelta(days=1)).isoformat()}&until={d.isoformat()}".replace("+", "%2B")
                for d in days]
    if kind == "list, deep page":
        return [f"/api/runs?offset={rng.randrange(10_000, 50_000)}" for _ in range(count)]
    if kind == "trace":
        return [f"/api/runs/{rng.choice(samples.run_ids)}" for _ in range(count)]
    if kind == "page: runs":
        return ["/console/runs"] * count
    if kind == "page: runs filtered":
        return [f"/console/runs?flow={rng.choice(FLOWS).id}&status=failed" for _ in range(count)]
    if kind == "page: trace":
        return [f"/console/runs/{rng.choice(samples.run_ids)}" for _ in range(count)]
    if kind == "page: overview":
        return ["/console/"] * count
    return ["/api/summary"] * count


KINDS = ("list, first page", "list, flow + status", "list, status failed", "list, business key", "list, one day",
         "list, deep page", "trace", "summary", "page: runs", "page: runs filtered", "page: trace", "page: overview")
"""What is timed: the API's reads, then the console's pages (HTML rendered from the same reads)."""


def percentiles(took: list[float]) -> list[float]:
    """The 1st … 99th percentiles of ``took`` (one sample: itself 99 times)."""
    return statistics.quantiles(took, n=100, method="inclusive") if len(took) > 1 else took * 99


@asynccontextmanager
async def viewer_client(hub: Hub) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the real app around ``hub`` (httpx's ASGI transport) with a viewer's token.

    The API refuses anonymous calls, so the figures include checking a token. An older revision (``--before``)
    has no account tables: they are added.
    """
    metadata.create_all(hub.db.engine, tables=[users, api_tokens, sessions, audit_log], checkfirst=True)
    accounts = Accounts(hub.clock)
    with hub.db.begin() as conn:
        if conn.execute(select(users.c.id).where(users.c.name == "bench")).first() is None:
            accounts.add_user(conn, "bench", "bench-password-not-secret", "viewer")
        token = accounts.create_token(conn, "bench", "bench")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(hub)), base_url="http://hub",
                                 headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


async def measure(store: Store, count: int, budget: float, samples: Samples, end: datetime) -> None:
    hub = Hub(Settings(database_url=store.url, schedules=False))
    rng = random.Random(7)
    print(f"{'request':22} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}  {'items':>6}")
    async with viewer_client(hub) as client:
        for kind in KINDS:
            paths = requests(kind, count, rng, samples, end)
            for path in paths[:5]:  # warm-up: the connection pool, the statement cache
                (await client.get(path)).raise_for_status()
            took, items = [], 0
            deadline = time.perf_counter() + budget
            for path in paths:
                if time.perf_counter() > deadline:
                    break
                began = time.perf_counter()
                response = await client.get(path)
                took.append((time.perf_counter() - began) * 1e3)
                response.raise_for_status()
                if kind.startswith("page"):
                    items += response.text.count("<tr>") + response.text.count('<li class="step">')
                    continue
                body = response.json()
                items += len(body.get("items", body.get("steps", ())))
            cuts = percentiles(took)
            print(f"{kind:22} {len(took):>5} {cuts[49]:>8.1f} {cuts[94]:>8.1f} {cuts[98]:>8.1f} {max(took):>8.1f}  "
                  f"{items / len(took):>6.1f}")
    took = []  # what the summary costs when it is not reused: counted afresh
    deadline = time.perf_counter() + budget
    while len(took) < 20 and time.perf_counter() < deadline:
        began = time.perf_counter()
        count_summary(hub.db)
        took.append((time.perf_counter() - began) * 1e3)
    print(f"{'summary, counted':22} {len(took):>5} {statistics.median(took):>8.1f} {'':>8} {'':>8} "
          f"{max(took):>8.1f}  (count_summary itself, no reuse)")
    hub.db.dispose()


def migrate(database: Database, revision: str) -> None:
    """Upgrade to ``revision``, leaving no pooled connection behind (the SQLite load changes the journal mode)."""
    cfg = database.alembic_config()
    with database.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    database.dispose()


def arguments(doc: str | None) -> argparse.ArgumentParser:
    """The options every store bench takes (``--runs``, ``--backends``); each adds its own."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    return parser


def each_store(backends: str, before: str | None, rows: Callable[[Samples], Iterator[dict[str, list[tuple[Any, ...]]]]],
               measure_round: Callable[[Store, Samples], Coroutine[Any, Any, None]]) -> None:
    """For each backend: load ``rows`` at revision ``before`` (the newest when ``None``), measure a round; with
    ``before``, upgrade to the newest (timed) and measure again."""
    with stores(backends.split(",")) as each:
        for store in each:
            print(f"\n== {store.name}")
            database = Database(store.url)
            migrate(database, before or "head")
            samples = Samples()
            began = time.perf_counter()
            counts = store.load(rows(samples))
            seconds = time.perf_counter() - began
            total = sum(counts.values())
            print(f"loaded {total:,} rows in {seconds:.0f} s ({total / seconds:,.0f} rows/s, generating included): "
                  + ", ".join(f"{t} {c:,}" for t, c in counts.items()))
            if isinstance(store, SqliteStore):
                print(f"file: {store.path.stat().st_size / 2**30:.2f} GiB")
            print(f"\nschema at revision {before or 'head'}")
            asyncio.run(measure_round(store, samples))
            if before:
                began = time.perf_counter()
                migrate(database, "head")
                print(f"\nupgraded to head in {time.perf_counter() - began:.1f} s")
                asyncio.run(measure_round(store, samples))


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--requests", type=int, default=300, help="requests of each kind (at least 200 for a p99)")
    parser.add_argument("--budget", type=float, default=60.0,
                        help="seconds of requests of one kind at most (n says how many were made)")
    parser.add_argument("--before", metavar="REVISION",
                        help="load and measure at this schema revision, then upgrade to the newest and measure again")
    args = parser.parse_args()
    print(f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"{args.runs:,} runs, {args.requests} requests of each kind")
    end = datetime.now(UTC).replace(microsecond=0)
    each_store(args.backends, args.before, lambda samples: generate(args.runs, end, random.Random(1), samples),
               lambda store, samples: measure(store, args.requests, args.budget, samples, end))


if __name__ == "__main__":
    main()
