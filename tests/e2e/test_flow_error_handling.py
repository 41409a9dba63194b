"""Per-step error handling end to end: a call that fails for good is dead-lettered (``fail``), recorded
and passed (``continue``), jumped past (a later step's id), or undone with the calls before it
(``compensate``: the voucher already made is reversed in Kingdee, newest first)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from huiliu.bus import DeadLetterFilter, reference_for
from huiliu.cli.demo import DemoStack
from huiliu.sandbox import Fault, FaultKind
from huiliu.store import loads
from huiliu.store.schema import dead_letters, event_log, run_steps, runs

HEAD = """\
id: claim-saga
version: "1"
title: 报销 → 凭证，写回失败时的处理
trigger: {event: dingtalk.approval.approved}
FLOW_ON_ERROR
steps:
  - id: employee
    lookup: {entity: employee, system: dingtalk, key: "{{ instance.originator_user_id }}"}
  - id: voucher
    voucher:
      book: "001"
      date: "{{ instance.finished_at | local_date }}"
      lines:
        - for_each: "{{ form['费用明细'] }}"
          as: row
          direction: debit
          account: "6602.01"
          amount: "{{ row['金额'] | decimal }}"
          aux: {department: "{{ steps.employee.department_number }}", employee: "{{ steps.employee.number }}"}
        - direction: credit
          account: "2241.01"
          amount: "{{ form['费用明细'] | sum_amount('金额') }}"
          aux: {employee: "{{ steps.employee.number }}"}
  - id: post_voucher
    call: kingdee.voucher.create
    with: {voucher: "{{ steps.voucher }}"}
    retry: {initial_interval: 0.05, max_interval: 0.1, max_attempts: 3}  # its undo's too
    compensate:
      call: kingdee.voucher.reverse
      with: {reference: "{{ undo.reference }}"}
  - id: write_back
    call: dingtalk.approval.comment
    retry: {initial_interval: 0.05, max_interval: 0.1, max_attempts: 2}
STEP_ON_ERROR
    with:
      instance_id: "{{ instance.instance_id }}"
      text: "已生成金蝶凭证 {{ steps.post_voucher.number }}"
  - id: note_failure
    when: "steps.write_back.failed"
    map: {reason: "{{ steps.write_back.error.kind }}"}
  - id: done
    map: {number: "{{ steps.post_voucher.number }}"}
"""


def flows_dir(tmp_path: Path, *, on_error: str = "", step_on_error: str = "") -> Path:
    """A flows directory holding the saga flow with the given ``on_error`` of the flow and of ``write_back``."""
    text = HEAD.replace("STEP_ON_ERROR\n", f"    on_error: {step_on_error}\n" if step_on_error else "")
    text = text.replace("FLOW_ON_ERROR\n", f"on_error: {on_error}\n" if on_error else "")
    directory = tmp_path / "flows"
    directory.mkdir()
    (directory / "saga.yaml").write_text(text, encoding="utf-8")
    return directory


def run_of(stack: DemoStack, instance_id: str) -> tuple[str, str | None, dict[str, Any]]:
    assert stack.hub is not None
    with stack.hub.db.read() as conn:
        row = conn.execute(select(runs.c.status, runs.c.error, runs.c.context)
                           .where(runs.c.business_key == instance_id)).one()
    return row.status, row.error, loads(row.context)


def activities(stack: DemoStack, instance_id: str) -> list[str]:
    assert stack.hub is not None
    with stack.hub.db.read() as conn:
        return list(conn.execute(select(event_log.c.activity).where(event_log.c.case_id == instance_id)
                                 .order_by(event_log.c.id)).scalars())


def open_dead_letters(stack: DemoStack) -> int:
    assert stack.hub is not None
    with stack.hub.db.read() as conn:
        return len(conn.execute(select(dead_letters.c.id).where(dead_letters.c.replayed_at.is_(None),
                                                                dead_letters.c.discarded_at.is_(None))).all())


def posted(stack: DemoStack, instance_id: str) -> list[Any]:
    return stack.kd.find_by_reference(reference_for(f"claim-saga:{instance_id}:post_voucher"))


@asynccontextmanager
async def write_back_fails(make_stack: Callable[..., DemoStack], tmp_path: Path, seed: int,
                           **options: str) -> AsyncIterator[tuple[DemoStack, str]]:
    """One approved claim whose write-back fails twice (its retry allows two attempts)."""
    async with make_stack(seed=seed, settings={"flows_dir": flows_dir(tmp_path, **options)}) as stack:
        stack.ding.faults.script("comment", Fault(FaultKind.SERVER_ERROR), Fault(FaultKind.SERVER_ERROR))
        instance_id = stack.submit(stack.company.claim(approve_rate=1.0))
        assert await stack.settle(expected_runs=1, timeout=60)
        yield stack, instance_id


async def test_by_default_a_call_that_fails_for_good_fails_the_run_and_is_dead_lettered(
        make_stack: Callable[..., DemoStack], tmp_path: Path) -> None:
    async with write_back_fails(make_stack, tmp_path, 41) as (stack, instance_id):
        status, error, _ = run_of(stack, instance_id)
        assert status == "failed" and error
        assert len(posted(stack, instance_id)) == 1  # nothing is undone unless the flow says so
        assert open_dead_letters(stack) == 1


async def test_on_error_continue_records_the_failure_and_goes_on(
        make_stack: Callable[..., DemoStack], tmp_path: Path) -> None:
    async with write_back_fails(make_stack, tmp_path, 42, step_on_error="continue") as (stack, instance_id):
        status, error, context = run_of(stack, instance_id)
        assert status == "succeeded" and error is None
        assert context["steps"]["write_back"]["failed"] is True
        assert context["steps"]["note_failure"] == {"reason": "transient"}
        assert context["steps"]["done"]["number"] == posted(stack, instance_id)[0].number
        assert open_dead_letters(stack) == 0  # handled by the flow: nothing for a person to replay


async def test_on_error_jumps_forward_past_the_steps_between(
        make_stack: Callable[..., DemoStack], tmp_path: Path) -> None:
    async with write_back_fails(make_stack, tmp_path, 43, step_on_error="done") as (stack, instance_id):
        status, _, context = run_of(stack, instance_id)
        assert status == "succeeded"
        assert context["steps"]["note_failure"] is None  # jumped over
        assert context["steps"]["done"]["number"]


@pytest.mark.parametrize(("flow_level", "step_level"), [("compensate", ""), ("", "compensate")])
async def test_compensation_after_a_failure_part_way_reverses_the_voucher_already_made(
        make_stack: Callable[..., DemoStack], tmp_path: Path, flow_level: str, step_level: str) -> None:
    async with write_back_fails(make_stack, tmp_path, 44, on_error=flow_level,
                                                step_on_error=step_level) as (stack, instance_id):
        status, error, context = run_of(stack, instance_id)
        assert status == "compensated"
        assert error is not None and "钉钉服务端错误" in error  # why it was undone
        assert posted(stack, instance_id) == []  # the voucher was un-audited and deleted
        assert stack.kd.count() == 0
        undone = context["compensation"]["done"]["post_voucher"]
        assert undone["method"] == "deleted"
        log = activities(stack, instance_id)
        assert log.index("run.compensating") < log.index("effect.kingdee.voucher.reverse") < log.index(
            "run.compensated")
        assert open_dead_letters(stack) == 0
        assert stack.hub is not None
        with stack.hub.db.read() as conn:
            steps = set(conn.execute(select(run_steps.c.step_id)).scalars())
        assert "note_failure" not in steps and "done" not in steps  # nothing after the failure ran


async def test_a_posted_voucher_is_compensated_by_a_red_reversal(
        make_stack: Callable[..., DemoStack], tmp_path: Path) -> None:
    async with make_stack(seed=45, settings={"flows_dir": flows_dir(tmp_path, on_error="compensate")}) as stack:
        stack.ding.faults.script("comment", Fault(FaultKind.SLOW, delay=1.0), Fault(FaultKind.SERVER_ERROR),
                                 Fault(FaultKind.SERVER_ERROR))
        instance_id = stack.submit(stack.company.claim(approve_rate=1.0))
        for _ in range(300):
            if posted(stack, instance_id):
                break
            await asyncio.sleep(0.01)
        [voucher] = posted(stack, instance_id)
        stack.kd.post(voucher.id)  # 过账 while the write-back is still trying: it can no longer be deleted
        assert await stack.settle(expected_runs=1, timeout=60)
        status, _, context = run_of(stack, instance_id)
        assert status == "compensated"
        assert context["compensation"]["done"]["post_voucher"]["method"] == "red_reversal"
        assert stack.kd.count() == 2  # the original and its red reversal, netting to zero


async def test_a_failing_compensation_is_dead_lettered_and_a_replay_finishes_it(
        make_stack: Callable[..., DemoStack], tmp_path: Path) -> None:
    async with make_stack(seed=46, settings={"flows_dir": flows_dir(tmp_path, on_error="compensate")}) as stack:
        stack.ding.faults.script("comment", Fault(FaultKind.SERVER_ERROR), Fault(FaultKind.SERVER_ERROR))
        stack.kd.faults.script("unaudit", *[Fault(FaultKind.SERVER_ERROR)] * 3)  # every attempt
        instance_id = stack.submit(stack.company.claim(approve_rate=1.0))
        assert await stack.settle(expected_runs=1, timeout=60)
        status, _, _ = run_of(stack, instance_id)
        assert status == "failed" and open_dead_letters(stack) == 1
        assert len(posted(stack, instance_id)) == 1  # not undone yet
        assert stack.hub is not None
        with stack.hub.db.read() as conn:
            dead_id = conn.execute(select(dead_letters.c.id)).scalar_one()
        assert stack.hub.deadletters.replay(DeadLetterFilter(ids=[dead_id]), actor="test") == [dead_id]
        assert await stack.settle(expected_runs=1, timeout=60)
        status, _, _ = run_of(stack, instance_id)
        assert status == "compensated" and posted(stack, instance_id) == []
