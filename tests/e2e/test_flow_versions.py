"""Flow versions: a run finishes on the version it began with, a new version applies to new runs, every
version is kept, a bad edit never replaces the flows in force."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from huiliu.cli.demo import DemoStack
from huiliu.sandbox import Fault, FaultKind
from huiliu.service import TEMPLATES
from huiliu.service.flowcatalog import FlowCatalog
from huiliu.store.schema import flow_versions, runs

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
