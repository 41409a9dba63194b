"""Flow versions: a run finishes on the version it began with, a new version applies to new runs, every
version is kept, a bad edit never replaces the flows in force."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import ColumnElement, func, select

from huiliu.bus import Envelope
from huiliu.cli.demo import DemoStack
from huiliu.sandbox import Fault, FaultKind
from huiliu.service import TEMPLATES
from huiliu.service.flowcatalog import FlowCatalog
from huiliu.service.handlers import store_and_start
from huiliu.store.schema import dead_letters, flow_versions, messages, runs, waits

OLD = "已生成金蝶凭证"
NEW = "凭证已入账（第二版）"


def write_flow(directory: Path, text: str) -> None:
    (directory / "expense.yaml").write_text(text, encoding="utf-8")


def comments(stack: DemoStack, instance_id: str) -> list[str]:
    return [r["remark"] for r in stack.ding.instances[instance_id].records if r["type"] == "ADD_REMARK"]


async def test_a_run_finishes_on_its_version_and_new_runs_take_the_new_one(
        make_stack: Callable[..., DemoStack], tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    v1 = (TEMPLATES / "expense_claim_voucher.yaml").read_text(encoding="utf-8")
    assert OLD in v1
    write_flow(flows, v1)
    async with make_stack(seed=5, settings={"flows_dir": flows, "flows_reload_interval": 0}) as stack:
        hub = stack.hub
        assert hub is not None
        stack.kd.faults.script("Save", Fault(FaultKind.SLOW, delay=1.0))  # the first run is mid-call …
        first = stack.submit(stack.company.claim(approve_rate=1.0))
        for _ in range(200):
            if stack.kd.save_calls:
                break
            await asyncio.sleep(0.01)
        write_flow(flows, v1.replace(OLD, NEW).replace('version: "1"', 'version: "2"'))  # … when v2 lands
        reload = hub.catalog.reload_if_changed()
        assert reload is not None and reload.changed == ("expense-claim-to-voucher",)
        second = stack.submit(stack.company.claim(approve_rate=1.0))
        assert await stack.settle(expected_runs=2, timeout=30)
        assert OLD in comments(stack, first)[0] and NEW not in comments(stack, first)[0]
        assert NEW in comments(stack, second)[0]
        with hub.db.read() as conn:
            versions = conn.execute(select(flow_versions.c.version)).scalars().all()
            started = dict(conn.execute(select(runs.c.business_key, runs.c.flow_version)).all())
        assert sorted(versions) == ["1", "2"]
        assert started == {first: "1", second: "2"}


async def test_an_older_version_is_compiled_from_the_history_and_a_bad_edit_is_refused(
        make_stack: Callable[..., DemoStack], tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    v1 = (TEMPLATES / "expense_claim_voucher.yaml").read_text(encoding="utf-8")
    write_flow(flows, v1)
    async with make_stack(worker=False, settings={"flows_dir": flows, "flows_reload_interval": 0}) as stack:
        hub = stack.hub
        assert hub is not None
        old = hub.flows[0]
        write_flow(flows, v1.replace(OLD, NEW))
        assert hub.catalog.reload_if_changed() is not None and hub.flows[0].digest != old.digest
        write_flow(flows, v1 + "\n  - id: [broken\n")  # a bad edit: the flows in force stay
        assert hub.catalog.reload_if_changed() is None
        assert NEW in hub.flows[0].text
        fresh = FlowCatalog(hub.db, hub.clock, lambda: [], lambda: None)  # a worker that never saw v1
        with hub.db.read() as conn:
            again = fresh.get(conn, old.id, old.digest)
            missing = fresh.get(conn, old.id, "0" * 64)
        assert again is not None and again.digest == old.digest and OLD in again.text
        assert missing is None


GATED = """\
id: gated-comment
version: "VERSION"
title: 报销审批通过 → 等待放行 → 钉钉评论
trigger:
  event: dingtalk.approval.approved
steps:
  - id: employee
    lookup: {entity: employee, system: "{{ event.source }}", key: "{{ instance.originator_user_id }}"}
  - id: claim
    map:
      claim_no: "{{ instance.business_id }}"
      name: "{{ steps.employee.name }}"
  - id: release
    wait: {event: test.release.sent, key: "{{ instance.instance_id }}", timeout: 600}
  - id: write_back
    call: dingtalk.approval.comment
    with:
      instance_id: "{{ instance.instance_id }}"
      text: "MARKER {{ steps.claim.claim_no }} {{ steps.claim.name }}"
"""
GATED_V1 = "放行评论·第一版"
GATED_V2 = "放行后的评论（第二版）"  # another length too: the reload notices it by size as well as by time
IN_FLIGHT = 100


async def until(check: Callable[[], bool], timeout: float, what: str) -> None:  # noqa: ASYNC109 - a deadline
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        await asyncio.sleep(0.05)


async def test_a_flow_changed_while_100_runs_are_in_flight(
        make_stack: Callable[..., DemoStack], tmp_path: Path) -> None:
    """100 runs paused mid-way on v1 when v2 lands: each finishes on v1; the next 100 start and finish on v2."""
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "gated.yaml").write_text(GATED.replace("VERSION", "1").replace("MARKER", GATED_V1), encoding="utf-8")
    async with make_stack(seed=11, settings={"flows_dir": flows, "flows_reload_interval": 0}) as stack:
        hub = stack.hub
        assert hub is not None

        def count(*where: ColumnElement[bool]) -> int:
            assert hub is not None
            with hub.db.read() as conn:
                return int(conn.execute(select(func.count()).select_from(runs).where(*where)).scalar_one())

        old = [stack.submit(stack.company.claim(approve_rate=1.0)) for _ in range(IN_FLIGHT)]
        await until(lambda: count(runs.c.status == "waiting") == IN_FLIGHT, 60, "the v1 runs at their wait")
        with hub.db.read() as conn:  # all 100 are mid-way: past the lookup and the map, paused at the wait
            assert conn.execute(select(func.count()).select_from(waits)).scalar_one() == IN_FLIGHT
        assert not any(comments(stack, i) for i in old)

        (flows / "gated.yaml").write_text(GATED.replace("VERSION", "2").replace("MARKER", GATED_V2),
                                          encoding="utf-8")
        reload = hub.catalog.reload_if_changed()
        assert reload is not None and reload.changed == ("gated-comment",)
        new = [stack.submit(stack.company.claim(approve_rate=1.0)) for _ in range(IN_FLIGHT)]
        await until(lambda: count(runs.c.status == "waiting") == 2 * IN_FLIGHT, 60, "the v2 runs at their wait")

        released = old + new
        random.Random(3).shuffle(released)  # old and new runs resume interleaved
        parts = hub.parts()
        for instance_id in released:
            with hub.db.begin() as conn:
                assert store_and_start(parts, hub.flows, conn, Envelope(
                    source="test", type="test.release.sent", native_id=f"release-{instance_id}", version="1",
                    business_key=instance_id, payload={}, occurred_at=datetime.now(UTC)), received_at=None)
        await until(lambda: count(runs.c.status == "succeeded") == 2 * IN_FLIGHT, 120, "every run done")
        assert await stack.settle(expected_runs=2 * IN_FLIGHT, timeout=30)  # the deadlines were withdrawn too

        with hub.db.read() as conn:
            started = dict(conn.execute(select(runs.c.business_key, runs.c.flow_version)).all())
            digests = dict(conn.execute(select(flow_versions.c.version, flow_versions.c.digest)
                                        .where(flow_versions.c.flow_id == "gated-comment")).all())
            by_digest = dict(conn.execute(select(runs.c.flow_version, runs.c.flow_digest).distinct()).all())
            dead = conn.execute(select(func.count()).select_from(dead_letters)).scalar_one()
            queued = conn.execute(select(messages.c.key)).scalars().all()
            still_waiting = conn.execute(select(func.count()).select_from(waits)).scalar_one()
        assert started == {**dict.fromkeys(old, "1"), **dict.fromkeys(new, "2")}
        assert sorted(digests) == ["1", "2"] and by_digest == digests
        for instance_id, (marker, other) in [*((i, (GATED_V1, GATED_V2)) for i in old),
                                              *((i, (GATED_V2, GATED_V1)) for i in new)]:
            written = comments(stack, instance_id)
            assert len(written) == 1 and marker in written[0] and other not in written[0], (instance_id, written)
        assert sum(len(comments(stack, i)) for i in stack.ding.instances) == 2 * IN_FLIGHT
        assert dead == 0 and still_waiting == 0
        assert queued == []  # a resumed wait's deadline message is withdrawn with it, not left for 600 s
