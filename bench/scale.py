"""Scale-out benchmark: the hub as real processes — ``huiliu serve --no-worker`` and N ``huiliu worker`` —
against sandboxes in this process, for each transport, with 1 and then 2 workers.

The sandboxes (DingTalk and Kingdee) and the driver share this process; the hub's webhook server and
its workers are children, so the hub's own figure is no longer diluted by the sandboxes' event loop
(they still share the machine's cores). Each configuration gets a fresh database (a new SQLite file,
or a new PostgreSQL schema) and fresh broker queues.

Prints, per row: approvals/s (first submission → last run finished) and hub-added latency p50/p99
(callback received at the webhook → run finished after the write-back), and the ratio of 2 workers
to 1.

    .venv/bin/python bench/scale.py --claims 1000 [--transports db,rabbitmq,nats] [--workers 1,2]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test] [--rate 0]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import nats
import psycopg
from sqlalchemy import select

from huiliu.bus.transports import NatsLink
from huiliu.store.schema import event_log
from huiliu.testing.rig import ProcessRig

BROKERS = {"rabbitmq": "amqp://guest:guest@127.0.0.1:5672/", "nats": "nats://127.0.0.1:4222"}


@dataclass
class Row:
    transport: str
    workers: int
    claims: int
    seconds: float
    p50: float
    p99: float
    cpu: dict[str, float]

    def cpu_text(self) -> str:
        return " ".join(f"{k}={v:.1f}s" for k, v in self.cpu.items())

    @property
    def rate(self) -> float:
        return self.claims / self.seconds


def _fresh_url(base: str | None, tmp: Path, tag: str) -> tuple[str, str | None]:
    if base is None:
        return f"sqlite:///{tmp / f'{tag}.db'}", None
    schema = f"bench_{tag}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    return f"{base}?options=-csearch_path%3D{schema}", schema


def _drop_schema(schema: str | None) -> None:
    if schema is not None:
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def measure(transport: str, workers: int, claims: int, base_url: str | None, rate: float, tmp: Path) -> Row:
    tag = f"{transport}{workers}"
    url, schema = _fresh_url(base_url, tmp, tag)
    logs = tmp / tag
    logs.mkdir()
    rig = ProcessRig(logs, url, seed=3, lease=30.0)
    prefix = f"hl-scale-{uuid.uuid4().hex[:6]}"
    if transport != "db":
        rig.transport_env = {"HUILIU_TRANSPORT": transport, "HUILIU_BROKER_PREFIX": prefix,
                             "HUILIU_BROKER_URL": BROKERS[transport]}
    try:
        rig.start_hub()
        for _ in range(workers):
            rig.spawn("worker")
        time.sleep(2.0)  # the workers connect and declare their queues
        started = time.perf_counter()
        cpu0 = _cpu(rig)
        for i in range(claims):
            rig.submit_approved()
            if rate:
                time.sleep(max(0.0, started + (i + 1) / rate - time.perf_counter()))
        deadline = time.monotonic() + 60 + claims / 5
        while rig.succeeded() < claims:
            if time.monotonic() > deadline:
                raise SystemExit(f"{tag}: only {rig.succeeded()} of {claims} finished; logs in {logs}")
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        cpu = {k: v - cpu0.get(k, 0.0) for k, v in _cpu(rig).items()}
        with rig.db.read() as conn:
            lat = sorted(float(v) for (v,) in conn.execute(select(event_log.c.duration_ms).where(
                event_log.c.activity == "run.succeeded", event_log.c.duration_ms.is_not(None))).all())
        assert rig.kd.count() == claims, f"{tag}: {rig.kd.count()} vouchers for {claims} approvals"
        q = statistics.quantiles(lat, n=100, method="inclusive")
        return Row(transport, workers, claims, seconds, q[49], q[98], cpu)
    finally:
        rig.close()
        _drop_schema(schema)
        if transport != "db":
            asyncio.run(_cleanup(transport, prefix))


def _cpu(rig: ProcessRig) -> dict[str, float]:
    """CPU seconds used so far by this process (sandboxes + driver) and by each child."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {"sandboxes": time.process_time()}
    for i, proc in enumerate(rig.procs):
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        out["serve" if i == 0 else f"worker{i}"] = (int(fields[11]) + int(fields[12])) / tick
    return out


async def _cleanup(transport: str, prefix: str) -> None:
    if transport == "rabbitmq":
        conn = await aio_pika.connect_robust(BROKERS["rabbitmq"])
        async with conn:
            channel = await conn.channel()
            for topic in ("effect", "flow.run", "oa.event"):
                await channel.queue_delete(f"{prefix}.{topic}")
    else:
        nc = await nats.connect(BROKERS["nats"])
        try:
            await nc.jetstream().delete_stream(NatsLink("", prefix=prefix).stream)
        finally:
            await nc.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--claims", type=int, default=1000)
    parser.add_argument("--transports", default="db,rabbitmq,nats")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (default: a new SQLite file per row)")
    parser.add_argument("--rate", type=float, default=0.0, help="approvals submitted per second (0 = burst)")
    args = parser.parse_args()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        for transport in args.transports.split(","):
            for n in (int(w) for w in args.workers.split(",")):
                row = measure(transport, n, args.claims, args.database_url, args.rate, Path(tmp))
                rows.append(row)
                print(f"{row.transport:9} workers={row.workers} {row.rate:7.1f} approvals/s  "
                      f"p50={row.p50:5.0f} ms  p99={row.p99:6.0f} ms  cpu: {row.cpu_text()}", flush=True)
    db = "postgresql" if args.database_url else "sqlite"
    print(f"\n== {args.claims} approvals, db={db}, rate={args.rate or 'burst'}")
    for transport in args.transports.split(","):
        by = {r.workers: r for r in rows if r.transport == transport}
        if 1 in by and 2 in by:
            print(f"{transport:9} 2 workers / 1 worker = {by[2].rate / by[1].rate:.2f}x")


if __name__ == "__main__":
    main()
