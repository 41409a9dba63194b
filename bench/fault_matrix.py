"""The fault matrix of shared/RELIABILITY.md: each row, the tests that show it, and whether they pass.

Runs the covering tests against the real services (PostgreSQL, RabbitMQ, NATS on 127.0.0.1) row by
row and prints a table. Rows no test covers yet are listed as such, not hidden.

    .venv/bin/python bench/fault_matrix.py [--rows 1,2,3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (row, fault, what must hold, pytest selection or None)
MATRIX: list[tuple[int, str, str, list[str] | None]] = [
    (1, "kill -9 worker before the ERP call", "redelivered, one document",
     ["tests/e2e/test_crash.py::test_three_workers_killed_at_random_still_give_exactly_one_voucher_each"]),
    (2, "kill -9 after the ERP accepted, before the hub recorded it", "found by its reference, one document",
     ["tests/e2e/test_crash.py", "-k", "sigkill_at_each"]),
    (3, "ERP applied, reply lost (timeout or reset)", "same as 2",
     ["tests/unit/connectors/kingdee", "tests/e2e/test_loop.py", "-k", "reply_lost or slower or unique"]),
    (4, "kill -9 outbox relay before / after the broker confirm", "nothing lost / duplicate absorbed",
     ["tests/integration/test_broker_transports.py", "tests/e2e/test_crash.py", "-k",
      "duplicates_absorbed or (three_workers and (rabbitmq or nats))"]),
    (5, "broker restart mid-stream", "confirmed survive, unconfirmed republished",
     ["tests/integration/test_service_restarts.py", "-k", "rabbitmq or nats"]),
    (6, "worker cut off past the ack wait", "another takes it; the late result is refused",
     ["tests/e2e/test_crash.py", "-k", "paused"]),
    (7, "republish after NATS's dedupe window", "the inbox dedupes",
     ["tests/e2e/test_loop.py", "tests/integration/test_broker_transports.py", "-k",
      "five_times or duplicates_absorbed"]),
    (8, "handler slower than the ack wait", "one effect", ["tests/e2e/test_loop.py", "-k", "slower"]),
    (9, "poison message", "dead letter, never dropped; others unaffected",
     ["tests/e2e/test_loop.py", "tests/unit/service/test_worker.py", "-k", "poison or per_key_order"]),
    (10, "unroutable publish", "detected, never counted as sent",
     ["tests/integration/test_broker_transports.py", "-k", "unroutable"]),
    (11, "worker paused past its lease, resumed", "its late write is refused",
     ["tests/e2e/test_crash.py", "tests/unit/bus/test_db_transport.py", "-k", "paused or crashed_workers"]),
    (12, "long idle transaction on the queue database", "an alarm, nothing lost",
     ["tests/integration/test_long_transaction.py"]),
    (13, "disk full", "the webhook answers 5xx, nothing acknowledged", ["tests/e2e/test_disk_full.py"]),
    (14, "clock ±10 minutes", "leases still correct; webhooks outside the window refused",
     ["tests/unit/connectors/dingtalk/test_dingtalk_webhook.py", "tests/unit/bus/test_db_transport.py", "-k",
      "stale or future or clock_ran_ahead"]),
    (15, "replayed signed webhook", "processed once", ["tests/e2e/test_loop.py", "-k", "five_times"]),
    (16, "restart between the 2xx and processing", "processed exactly once",
     ["tests/e2e/test_crash.py", "-k", "sigkill_at_each and sqlite"]),
]


def run(selection: list[str]) -> tuple[str, float, str]:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *selection],
                          cwd=ROOT, capture_output=True, text=True, check=False)
    last = (proc.stdout.strip().splitlines() or [""])[-1]
    return ("pass" if proc.returncode == 0 else "FAIL"), time.perf_counter() - started, last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", help="comma-separated row numbers (default: all)")
    args = parser.parse_args()
    wanted = {int(r) for r in args.rows.split(",")} if args.rows else None
    failed = 0
    print(f"{'row':>3}  {'result':<11} {'time':>6}  fault → must hold   [tests]")
    for row, fault, holds, selection in MATRIX:
        if wanted and row not in wanted:
            continue
        if selection is None:
            print(f"{row:>3}  {'not covered':<11} {'':>6}  {fault} → {holds}")
            continue
        result, seconds, summary = run(selection)
        failed += result == "FAIL"
        print(f"{row:>3}  {result:<11} {seconds:5.1f}s  {fault} → {holds}   [{summary}]", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
