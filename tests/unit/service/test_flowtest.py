"""``huiliu flow test``: a wait step takes the event recorded for it; without one the run stops there, said."""

from __future__ import annotations

from huiliu.flows import load_flow
from huiliu.i18n import Lang
from huiliu.service.flowtest import load_fixture, run_fixture
from huiliu.service.hub import TEMPLATES

FLOW = TEMPLATES / "erp_document_approval.yaml"
FIXTURE = TEMPLATES / "fixtures" / "erp_document_approval.yaml"


def test_a_wait_receives_the_event_recorded_for_it() -> None:
    report = run_fixture(load_flow(FLOW), load_fixture(FIXTURE))
    assert report.passed, [d.render(Lang.EN) for d in report.differences]
    verdict = next(s for s in report.steps if s.step_id == "verdict")
    assert (verdict.kind, verdict.output["type"]) == ("wait", "dingtalk.approval.refused")
    assert [s.step_id for s in report.steps] == ["approval", "verdict", "record"]


def test_a_wait_without_a_recorded_event_stops_the_run_and_the_steps_after_it_did_not_run() -> None:
    fixture = load_fixture(FIXTURE)
    del fixture["results"]["verdict"]
    report = run_fixture(load_flow(FLOW), fixture)
    assert report.error is None and not report.passed
    assert [s.step_id for s in report.steps] == ["approval"]
    assert [d.render(Lang.EN) for d in report.differences] == ["step `record` did not run"]
