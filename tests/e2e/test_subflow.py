"""Sub-flows: a step runs another flow (started by hand) with its input and waits for its end; a sub-flow
that fails fails the step, and after both are fixed and replayed the parent takes the sub-flow's result;
a sub-flow that does not end in time fails the parent."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from huiliu.bus import DeadLetterFilter
from huiliu.cli.demo import DemoStack
from huiliu.errors import FlowFileError
from huiliu.flows import load_flows
from huiliu.i18n import Lang
from huiliu.sandbox import Fault, FaultKind
from huiliu.service.runs import run_id_for
from huiliu.store import loads
from huiliu.store.schema import dead_letters, inbox, runs

PARENT = """\
id: claim-with-notice
version: "1"
title: 报销受理并通知（子流程）
trigger: {event: dingtalk.approval.approved}
steps:
  - id: claim
    map: {number: "{{ instance.business_id }}", total: "{{ form['费用明细'] | sum_amount('金额') }}"}
  - id: notify
    subflow:
      flow: tell-originator
      with:
        instance_id: "{{ instance.instance_id }}"
        text: "报销 {{ steps.claim.number }} 已受理，共 {{ steps.claim.total }} 元"
      timeout: TIMEOUT
  - id: after
    map: {told: "{{ steps.notify.steps.comment.posted }}", status: "{{ steps.notify.status }}"}
"""
CHILD = """\
id: tell-originator
version: "1"
title: 在审批单上留言（子流程）
trigger: {manual: true}
steps:
  - id: comment
    call: dingtalk.approval.comment
    retry: {initial_interval: 0.05, max_interval: 0.1, max_attempts: 2}
    with: {instance_id: "{{ form.instance_id }}", text: "{{ form.text }}"}
"""


def flows(tmp_path: Path, *, timeout: float = 60, child: str = CHILD) -> Path:
    directory = tmp_path / "flows"
    directory.mkdir()
    (directory / "parent.yaml").write_text(PARENT.replace("TIMEOUT", str(timeout)), encoding="utf-8")
    (directory / "child.yaml").write_text(child, encoding="utf-8")
    return directory


def run_rows(stack: DemoStack) -> dict[str, Any]:
    assert stack.hub is not None
    with stack.hub.db.read() as conn:
        return {r.flow_id: r for r in conn.execute(select(runs.c.id, runs.c.flow_id, runs.c.status, runs.c.context,
                                                          runs.c.business_key))}


def remarks(stack: DemoStack, instance_id: str) -> list[str]:
    return [r["remark"] for r in stack.ding.instances[instance_id].records if r["type"] == "ADD_REMARK"]


async def test_a_subflow_runs_with_its_input_and_the_parent_takes_its_result(
        make_stack: Callable[..., DemoStack], tmp_path: Path) -> None:
    async with make_stack(seed=71, settings={"flows_dir": flows(tmp_path)}) as stack:
        instance_id = stack.submit(stack.company.claim(approve_rate=1.0))
        assert await stack.settle(expected_runs=2, timeout=60)
        rows = run_rows(stack)
        parent, child = rows["claim-with-notice"], rows["tell-originator"]
        assert parent.status == child.status == "succeeded"
        assert child.business_key == f"tell-originator@{parent.id}.notify"
        context = loads(parent.context)
        assert context["steps"]["after"] == {"told": True, "status": "succeeded"}
        [remark] = remarks(stack, instance_id)
        total = context["steps"]["claim"]["total"]
        assert remark.startswith(f"报销 {context['steps']['claim']['number']} 已受理，共 {total} 元 [huiliu:")
        assert loads(child.context)["form"]["instance_id"] == instance_id


async def test_a_failed_subflow_fails_the_parent_and_replays_finish_both(
        make_stack: Callable[..., DemoStack], tmp_path: Path) -> None:
    async with make_stack(seed=72, settings={"flows_dir": flows(tmp_path)}) as stack:
        stack.ding.faults.script("comment", Fault(FaultKind.SERVER_ERROR), Fault(FaultKind.SERVER_ERROR))
        instance_id = stack.submit(stack.company.claim(approve_rate=1.0))
        assert await stack.settle(expected_runs=2, timeout=60)
        rows = run_rows(stack)
        assert rows["tell-originator"].status == "failed" and rows["claim-with-notice"].status == "failed"
        hub = stack.hub
        assert hub is not None
        with hub.db.read() as conn:
            dead = {r.reason: r.id for r in conn.execute(select(dead_letters.c.id, dead_letters.c.reason))}
        assert set(dead) == {"transient_exhausted", "subflow_failed"}  # the child's call, and the parent
        assert hub.deadletters.replay(DeadLetterFilter(ids=[dead["transient_exhausted"]]), actor="test")
        assert await stack.settle(expected_runs=2, timeout=60)
        assert run_rows(stack)["tell-originator"].status == "succeeded"
        assert hub.deadletters.replay(DeadLetterFilter(ids=[dead["subflow_failed"]]), actor="test")
        assert await stack.settle(expected_runs=2, timeout=60)
        rows = run_rows(stack)
        assert rows["claim-with-notice"].status == "succeeded"
        assert loads(rows["claim-with-notice"].context)["steps"]["after"]["told"] is True
        assert len(remarks(stack, instance_id)) == 1  # the sub-flow was not started twice
        with hub.db.read() as conn:
            finished = conn.execute(select(inbox.c.version).where(inbox.c.type == "hub.flow.finished")
                                    .order_by(inbox.c.received_at)).scalars().all()
        assert finished == ["failed", "succeeded"]


async def test_a_subflow_that_does_not_end_in_time_fails_the_parent(
        make_stack: Callable[..., DemoStack], tmp_path: Path) -> None:
    slow = CHILD + """\
  - id: hold
    wait: {event: test.never.sent, key: "{{ form.instance_id }}", timeout: 3600}
"""
    async with make_stack(seed=73, settings={"flows_dir": flows(tmp_path, timeout=0.5, child=slow)}) as stack:
        stack.submit(stack.company.claim(approve_rate=1.0))
        for _ in range(600):  # not settle(): the sub-flow's own hour-long wait keeps a message queued
            rows = run_rows(stack)
            if "claim-with-notice" in rows and rows["claim-with-notice"].status == "failed":
                break
            await asyncio.sleep(0.02)
        assert rows["claim-with-notice"].status == "failed" and rows["tell-originator"].status == "waiting"
        assert rows["claim-with-notice"].id == run_id_for("claim-with-notice", loads(
            rows["claim-with-notice"].context)["event"]["id"])


@pytest.mark.parametrize(("child", "says"), [
    ("", "runs sub-flow `tell-originator`, which does not exist"),
    (CHILD.replace("trigger: {manual: true}", "trigger: {event: dingtalk.approval.approved}"),
     "whose trigger is not manual"),
])
def test_a_subflow_must_exist_and_be_started_by_hand(tmp_path: Path, child: str, says: str) -> None:
    directory = tmp_path / "flows"
    directory.mkdir()
    (directory / "parent.yaml").write_text(PARENT.replace("TIMEOUT", "60"), encoding="utf-8")
    if child:
        (directory / "child.yaml").write_text(child, encoding="utf-8")
    with pytest.raises(FlowFileError) as info:
        load_flows(directory)
    assert says in info.value.render(Lang.EN)
    assert info.value.where == f"{directory / 'parent.yaml'}:8:5"  # the step


def test_a_subflow_needs_a_timeout_and_is_not_itself(tmp_path: Path) -> None:
    directory = tmp_path / "flows"
    directory.mkdir()
    (directory / "parent.yaml").write_text(PARENT.replace("      timeout: TIMEOUT\n", ""), encoding="utf-8")
    with pytest.raises(FlowFileError) as info:
        load_flows(directory)
    assert "timeout" in info.value.render(Lang.EN)
    (directory / "parent.yaml").write_text(PARENT.replace("TIMEOUT", "60").replace(
        "flow: tell-originator", "flow: claim-with-notice"), encoding="utf-8")
    with pytest.raises(FlowFileError) as loop:
        load_flows(directory)
    assert "runs its own flow as a sub-flow" in loop.value.render(Lang.EN)
