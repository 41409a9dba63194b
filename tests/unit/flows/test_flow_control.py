"""Control steps: ``filter`` ends a run early, ``branch`` jumps forward; error handling decides what a
failed call does (``recover``) and compensation undoes the calls made, newest first. Loading refuses
jumps back, unknown targets and steps no path reaches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flow_fixtures import crosswalk, write_flow

from huiliu.errors import FlowFileError, ProcessingError
from huiliu.flows import (
    StepMismatch,
    advance,
    compensating,
    complete,
    complete_compensation,
    load_flow,
    next_compensation,
    recover,
)
from huiliu.i18n import Lang

ROUTED = """\
id: routed
version: "1"
title: 按金额分流
trigger: {event: dingtalk.approval.approved}
steps:
  - id: only_expenses
    filter: "instance.process_code == 'PROC-EXPENSE'"
  - id: route
    branch:
      cases:
        - {when: "form['金额'] | decimal > 10000", goto: big}
        - {when: "form['金额'] | decimal == 0", goto: done}
      else: small
  - id: big
    map: {kind: 大额}
  - id: big_only
    map: {kind: 大额复核}
  - id: small
    map: {kind: 小额}
  - id: done
    map: {last: "{{ steps.route.goto }}"}
"""


def context(code: str = "PROC-EXPENSE", amount: str = "500.00") -> dict[str, Any]:
    return {"event": {"type": "dingtalk.approval.approved", "source": "dingtalk"},
            "instance": {"process_code": code, "instance_id": "i-1"}, "form": {"金额": amount},
            "reference": "i-1", "steps": {}, "cursor": 0}


@pytest.mark.parametrize(("amount", "ran", "skipped"), [
    ("500.00", ["only_expenses", "route", "small", "done"], ["big", "big_only"]),
    ("20000.00", ["only_expenses", "route", "big", "big_only", "small", "done"], []),  # a branch only jumps
    ("0", ["only_expenses", "route", "done"], ["big", "big_only", "small"]),
])
def test_branch_goes_to_the_first_case_that_holds(tmp_path: Path, amount: str, ran: list[str],
                                                  skipped: list[str]) -> None:
    flow = load_flow(write_flow(tmp_path, ROUTED))
    result = advance(flow, context(amount=amount), crosswalk())
    assert result.done and result.filtered is None
    assert [s for s, out in result.completed if out is not None] == ran
    assert all(result.context["steps"][s] is None for s in skipped)


def test_a_filter_that_fails_ends_the_run_done_with_every_later_step_skipped(tmp_path: Path) -> None:
    flow = load_flow(write_flow(tmp_path, ROUTED))
    result = advance(flow, context(code="PROC-LEAVE"), crosswalk())
    assert result.done and result.filtered == "only_expenses" and result.effect is None
    assert result.context["steps"] == {"only_expenses": {"passed": False}, "route": None, "big": None,
                                       "big_only": None, "small": None, "done": None}
    assert result.context["cursor"] == len(flow.steps)


@pytest.mark.parametrize(("edit", "says", "where"), [
    (("goto: done}", "goto: route}"), "jumps back to `route`", "12:53"),
    (("goto: done}", "goto: only_expenses}"), "jumps back to `only_expenses`", "12:53"),
    (("goto: big}", "goto: bgi}"), "did you mean `big`?", "11:56"),
    (("else: small", "else: nowhere"), "unknown else `nowhere`", "13:13"),
])
def test_jumps_are_forward_only_and_to_known_steps(tmp_path: Path, edit: tuple[str, str], says: str,
                                                   where: str) -> None:
    path = write_flow(tmp_path, ROUTED.replace(*edit))
    with pytest.raises(FlowFileError) as info:
        load_flow(path)
    assert says in info.value.render(Lang.EN)
    assert info.value.where == f"{path}:{where}"


def test_a_step_no_path_reaches_is_refused(tmp_path: Path) -> None:
    unreachable = ROUTED.replace("{when: \"form['金额'] | decimal > 10000\", goto: big}",
                                 "{when: \"form['金额'] | decimal > 10000\", goto: big_only}")
    path = write_flow(tmp_path, unreachable)
    with pytest.raises(FlowFileError) as info:
        load_flow(path)
    assert "step `big` can never run" in info.value.render(Lang.EN)
    assert info.value.where == f"{path}:14:9"


SAGA = """\
id: saga
version: "1"
title: 两张单据
trigger: {event: dingtalk.approval.approved}
steps:
  - id: first
    call: kingdee.voucher.create
    with: {n: 1}
    compensate:
      call: kingdee.voucher.reverse
      with: {reference: "{{ undo.reference }}", n: "{{ steps.first.number }}"}
  - id: plain
    call: dingtalk.approval.comment
    with: {text: 无需撤销}
  - id: second
    call: kingdee.voucher.create
    with: {n: 2}
    compensate: {call: kingdee.voucher.reverse, with: {reference: "{{ undo.reference }}"}}
  - id: third
    call: dingtalk.approval.comment
    on_error: ON_ERROR
    with: {text: 最后一步}
  - id: after
    map: {ok: "{{ steps.third.failed }}"}
"""


def run_to_third(tmp_path: Path, on_error: str) -> tuple[Any, dict[str, Any]]:
    flow = load_flow(write_flow(tmp_path, SAGA.replace("ON_ERROR", on_error)))
    state = advance(flow, context(), crosswalk()).context
    for step_id, number in (("first", "记-1"), ("plain", None), ("second", "记-2")):
        state = advance(flow, complete(flow, state, step_id, {"number": number} if number else {}),
                        crosswalk()).context
    return flow, state


def test_compensation_undoes_the_calls_made_newest_first_with_their_references(tmp_path: Path) -> None:
    flow, state = run_to_third(tmp_path, "compensate")
    recovery = recover(flow, state, "third", {"kind": "transient", "message": "503"})
    assert recovery.action == "compensate" and compensating(recovery.context)
    assert recovery.context["compensation"]["pending"] == ["second", "first"]  # not `plain`: nothing to undo
    refs = {"first": "HL-1", "second": "HL-2"}
    undo = next_compensation(flow, recovery.context, crosswalk(), refs.__getitem__)
    assert undo is not None and (undo.step_id, undo.request) == ("second.compensate", {"reference": "HL-2"})
    with pytest.raises(StepMismatch):
        complete_compensation(flow, recovery.context, "first.compensate", {})  # out of order
    state = complete_compensation(flow, recovery.context, "second.compensate", {"method": "deleted"})
    undo = next_compensation(flow, state, crosswalk(), refs.__getitem__)
    assert undo is not None and undo.request == {"reference": "HL-1", "n": "记-1"}
    state = complete_compensation(flow, state, "first.compensate", {"method": "red_reversal"})
    assert next_compensation(flow, state, crosswalk(), refs.__getitem__) is None
    assert state["compensation"]["done"] == {"second": {"method": "deleted"}, "first": {"method": "red_reversal"}}


def test_continue_records_the_failure_and_fail_leaves_the_context(tmp_path: Path) -> None:
    flow, state = run_to_third(tmp_path, "continue")
    recovery = recover(flow, state, "third", {"kind": "vendor_rejected", "message": "拒绝"})
    assert recovery.action == "continue"
    assert recovery.context["steps"]["third"] == {"failed": True, "error": {"kind": "vendor_rejected",
                                                                           "message": "拒绝"}}
    result = advance(flow, recovery.context, crosswalk())
    assert result.done and result.context["steps"]["after"] == {"ok": True}
    flow, state = run_to_third(tmp_path, "fail")
    assert recover(flow, state, "third", {"kind": "x", "message": "y"}).action == "fail"
    flow, state = run_to_third(tmp_path, "continue")
    with pytest.raises(StepMismatch):  # only the call the run is at can fail (a late report is refused)
        recover(flow, {**state, "cursor": 0}, "third", {"kind": "x", "message": "y"})


def test_compensating_on_a_version_that_no_longer_says_how_is_an_error_naming_the_step(tmp_path: Path) -> None:
    flow, state = run_to_third(tmp_path, "compensate")
    recovery = recover(flow, state, "third", {"kind": "transient", "message": "503"})
    edited = SAGA.replace("ON_ERROR", "compensate").replace(
        '    compensate: {call: kingdee.voucher.reverse, with: {reference: "{{ undo.reference }}"}}\n', "")
    newer = load_flow(write_flow(tmp_path, edited, "newer.yaml"))
    with pytest.raises(ProcessingError) as info:
        next_compensation(newer, recovery.context, crosswalk(), lambda step_id: "HL-2")
    assert "step `second` has no compensation" in info.value.render(Lang.EN)
    assert info.value.where == str(newer.source)
