"""End-to-end benchmark of the embedded loop: N approved expense claims through DingTalk → hub → Kingdee.

Prints approvals/s (from the first submission to the last write-back) and the hub-added latency
(callback received at the webhook → run finished after the write-back), p50 and p99. Sandboxes, hub
server and worker share one process and one event loop, as in ``huiliu demo``: the figure includes the
sandboxes' own work, so it is a floor for the hub, not a ceiling.

    .venv/bin/python bench/e2e.py --claims 1000 [--sync NORMAL] [--concurrency 64] [--rate 40]
        [--transport db|rabbitmq|nats] [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path

from huiliu.cli.demo import DemoStack, DemoSummary, collect
from huiliu.service import Settings

BROKERS = {"rabbitmq": "amqp://guest:guest@127.0.0.1:5672/", "nats": "nats://127.0.0.1:4222"}


async def run(claims: int, sync: str, concurrency: int, database_url: str, rate: float, transport: str) -> DemoSummary:
    settings = Settings(database_url=database_url, sqlite_synchronous=sync, port=0, worker_concurrency=concurrency,
                        poll_interval=0.05, transport=transport, broker_url=BROKERS.get(transport),
                        broker_prefix=f"hl-bench-{uuid.uuid4().hex[:6]}")
    summary = DemoSummary(claims=claims)
    async with DemoStack(settings, seed=3) as stack:
        specs = [stack.company.claim(approve_rate=1.0) for _ in range(claims)]
        started = time.perf_counter()
        await stack.play(specs, rate=rate)
        summary.approved = claims
        ok = await stack.settle(expected_runs=claims, timeout=600)
        summary.seconds = time.perf_counter() - started
        collect(stack, summary)
        if not ok:
            print("warning: not everything finished before the timeout")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--claims", type=int, default=1000)
    parser.add_argument("--sync", default="FULL", choices=["FULL", "NORMAL"])
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--transport", default="db", choices=["db", "rabbitmq", "nats"])
    parser.add_argument("--database-url", default=None,
                        help="e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test (default: temporary SQLite)")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="claims submitted per second (0 = all at once, to measure throughput)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        s = asyncio.run(run(args.claims, args.sync, args.concurrency, url, args.rate, args.transport))
    backend = url.split(":", 1)[0]
    print(f"claims={s.claims} db={backend} transport={args.transport} sync={args.sync} "
          f"concurrency={args.concurrency} rate={args.rate or 'burst'}")
    print(f"vouchers={s.vouchers_created} audited={s.vouchers_audited} written_back={s.written_back} "
          f"failed={s.failed} dead_letters={s.dead_lettered} callbacks={s.callbacks_received} "
          f"callback_redeliveries={s.callback_retries}")
    print(f"elapsed={s.seconds:.2f}s throughput={s.throughput:.1f} approvals/s")
    print(f"hub-added latency p50={s.percentile(50):.0f} ms p99={s.percentile(99):.0f} ms")


if __name__ == "__main__":
    main()
