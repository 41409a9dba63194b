"""SIGKILL at each dangerous point, restart, and still exactly one voucher, written back once.

The sandboxes run in this process (on a thread of their own); the hub's webhook runs as
``huiliu serve --no-worker`` and the worker as ``huiliu worker`` — real processes, killed for real.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from backends import NATS_URL, RABBIT_URL, nats_available, nats_cleanup, rabbit_available, rabbit_cleanup
from huiliu.bus import reference_for
from huiliu.bus.transports import NatsLink
from huiliu.store import loads
from huiliu.store.schema import crosswalk, event_log, runs
from huiliu.testing.rig import ProcessRig

pytestmark = pytest.mark.slow
CHAOS_APPROVALS = int(os.environ.get("HUILIU_CHAOS_APPROVALS", "150"))
"""CI runs 150; the full run of issue 3 is ``HUILIU_CHAOS_APPROVALS=2000 pytest tests/e2e/test_crash.py -k three``."""



@pytest.fixture
def rig(tmp_path: Path, database_url: str) -> Iterator[ProcessRig]:
    r = ProcessRig(tmp_path, database_url)
    try:
        yield r
    finally:
        r.close()


@pytest.mark.parametrize("point", [
    "after_call:kingdee.voucher.create",   # the ERP created it; the hub had not recorded it
    "after_commit:kingdee.voucher.create",  # crosswalk committed; write-back not yet made
    "after_call:dingtalk.approval.comment",  # comment posted; the hub had not recorded it
])
def test_sigkill_at_each_dangerous_point_then_restart_gives_exactly_one(rig: ProcessRig, point: str) -> None:
    rig.start_hub()
    instance_id = rig.submit_approved()
    doomed = rig.spawn("worker", HUILIU_CRASH_AT=json.dumps([point]))
    assert doomed.wait(30) == -9, "the worker should have been killed with SIGKILL at " + point
    assert rig.run_status() == "running"
    survivor = rig.spawn("worker")
    deadline = time.monotonic() + 30
    while rig.run_status() != "succeeded" and time.monotonic() < deadline:
        assert survivor.poll() is None
        time.sleep(0.1)
    assert rig.run_status() == "succeeded"
    reference = reference_for(f"expense-claim-to-voucher:{instance_id}:post_voucher")
    vouchers = rig.kd.find_by_reference(reference)
    assert rig.kd.count() == 1 and len(vouchers) == 1 and vouchers[0].status == "C"
    remarks = [r["remark"] for r in rig.ding.instances[instance_id].records if r["type"] == "ADD_REMARK"]
    assert len(remarks) == 1 and vouchers[0].number in remarks[0]
    with rig.db.read() as conn:
        links = conn.execute(select(crosswalk.c.system, crosswalk.c.native_number).where(
            crosswalk.c.entity == "approval")).all()
        effects = [loads(d) for (d,) in conn.execute(select(event_log.c.detail).where(
            event_log.c.activity.like("effect.%")).order_by(event_log.c.id)).all()]
    assert sorted(s for s, _ in links) == ["dingtalk", "kingdee"]
    assert (("kingdee", vouchers[0].number) in links)
    if point == "after_call:kingdee.voucher.create":
        assert effects[0]["attempt"] == 2 and effects[0]["result"]["adopted"] is True
    if point == "after_call:dingtalk.approval.comment":
        assert effects[-1]["attempt"] == 2 and effects[-1]["result"]["already"] is True


@pytest.mark.parametrize("transport", ["db", "rabbitmq", "nats"])
async def test_three_workers_killed_at_random_still_give_exactly_one_voucher_each(rig: ProcessRig,
                                                                                  transport: str) -> None:
    """Chaos: 3 worker processes, one killed with SIGKILL about every second and started again."""
    prefix = f"hl-chaos-{uuid.uuid4().hex[:8]}"
    if transport != "db":
        await (rabbit_available() if transport == "rabbitmq" else nats_available())
        rig.transport_env = {"HUILIU_TRANSPORT": transport, "HUILIU_BROKER_PREFIX": prefix,
                             "HUILIU_BROKER_URL": RABBIT_URL if transport == "rabbitmq" else NATS_URL}
    try:
        await asyncio.to_thread(_chaos, rig)
    finally:
        rig.stop_processes()
        if transport == "rabbitmq":
            await rabbit_cleanup(prefix, ["effect", "flow.run", "oa.event"])
        elif transport == "nats":
            await nats_cleanup(NatsLink("", prefix=prefix).stream)


def _chaos(rig: ProcessRig) -> None:
    rng = random.Random(7)
    rig.start_hub()
    workers = [rig.spawn("worker") for _ in range(3)]
    instances = [rig.submit_approved() for _ in range(CHAOS_APPROVALS)]
    kills = 0
    deadline = time.monotonic() + 90 + CHAOS_APPROVALS / 10
    while time.monotonic() < deadline:
        with rig.db.read() as conn:
            done = conn.execute(select(func.count()).select_from(runs).where(runs.c.status == "succeeded")).scalar_one()
        if done == len(instances):
            break
        time.sleep(rng.uniform(0.5, 1.2))
        if kills < max(12, CHAOS_APPROVALS // 12):
            victim = rng.randrange(3)
            workers[victim].send_signal(signal.SIGKILL)
            workers[victim].wait(10)
            kills += 1
            workers[victim] = rig.spawn("worker")
    assert kills >= 3, "the run ended before the workers could be killed; raise the count"
    with rig.db.read() as conn:
        statuses = dict(conn.execute(select(runs.c.status, func.count()).group_by(runs.c.status)).all())
    assert statuses == {"succeeded": len(instances)}
    assert rig.kd.count() == len(instances)  # the ERP's own count is the judge
    for instance_id in instances:
        reference = reference_for(f"expense-claim-to-voucher:{instance_id}:post_voucher")
        [voucher] = rig.kd.find_by_reference(reference)
        assert voucher.status == "C"
        remarks = [r["remark"] for r in rig.ding.instances[instance_id].records if r["type"] == "ADD_REMARK"]
        assert len(remarks) == 1
        assert voucher.number in remarks[0]


def _stopped(proc: subprocess.Popen[bytes]) -> bool:
    state = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state == "T"


@pytest.mark.parametrize("point", ["after_call:kingdee.voucher.create", "after_call:dingtalk.approval.comment"])
def test_a_worker_paused_past_its_lease_has_its_late_result_refused(rig: ProcessRig, point: str) -> None:
    rig.start_hub()
    instance_id = rig.submit_approved()
    paused = rig.spawn("worker", HUILIU_PAUSE_AT=json.dumps([point]))
    deadline = time.monotonic() + 30
    while not _stopped(paused):
        assert time.monotonic() < deadline, "the worker never reached " + point
        time.sleep(0.05)
    rival = rig.spawn("worker")  # takes the work over once the paused worker's 2 s lease has run out
    deadline = time.monotonic() + 30
    while rig.run_status() != "succeeded":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    paused.send_signal(signal.SIGCONT)  # wakes up and tries to record its stale result
    time.sleep(1.5)
    assert paused.poll() is None
    for proc in (paused, rival):  # graceful shutdown: SIGTERM finishes work in flight and exits 0
        proc.terminate()
        assert proc.wait(15) == 0
    log = (rig.tmp / "worker-1.log").read_text(encoding="utf-8")
    assert "lease lost" in log
    assert rig.kd.count() == 1
    remarks = [r["remark"] for r in rig.ding.instances[instance_id].records if r["type"] == "ADD_REMARK"]
    assert len(remarks) == 1
    with rig.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(runs)).scalar_one() == 1
