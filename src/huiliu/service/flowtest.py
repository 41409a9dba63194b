"""``huiliu flow test``: run a flow against a recorded input, show every step, compare with what is expected.

A fixture is a YAML file an integrator keeps beside the flow::

    event: dingtalk.approval.approved      # optional: the flow's first trigger event
    instance: {…}                          # the canonical approval instance (as the inbox stores it)
    masterdata:                            # what lookups find, by entity and "<system>:<key>"
      employee: {"dingtalk:0123": {number: E1001, name: 李娜, department_number: BM02}}
    results:                               # what each call step's connector answered, as recorded,
      post_voucher: {id: "100001", number: 记-0001}   # and the event each wait step receives
      verdict: {type: dingtalk.approval.approved, source: dingtalk, payload: {…}}
    expected:                              # optional: step id → the output or call request it must give
      voucher: {…}

Nothing leaves the machine: lookups read the fixture, call steps take the recorded result. Every step's
input (for calls, the request) and output are reported; a difference from ``expected`` fails the test
with the path of the first differing value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from huiliu.errors import ConfigError, HuiliuError
from huiliu.flows import Flow, advance, complete, matches
from huiliu.i18n import Text, t
from huiliu.service.runs import initial_context
from huiliu.store.codec import to_jsonable

__all__ = ["FixtureError", "StepTrace", "TestReport", "load_fixture", "run_fixture"]


class FixtureError(ConfigError):
    """The fixture file is missing, unreadable, or not shaped as documented."""


@dataclass(frozen=True, slots=True)
class StepTrace:
    """One step as the test ran it: ``output`` for pure steps, ``request`` and ``output`` for calls."""

    step_id: str
    kind: str
    output: Any
    request: Any = None
    skipped: bool = False


@dataclass
class TestReport:
    """The whole test: every step, whether the trigger matched, and the differences from ``expected``."""

    flow_id: str
    matched: bool
    steps: list[StepTrace] = field(default_factory=list)
    differences: list[Text] = field(default_factory=list)
    error: HuiliuError | None = None

    @property
    def passed(self) -> bool:
        """Matched, ran to the end, and gave what was expected."""
        return self.matched and self.error is None and not self.differences


def load_fixture(path: Path) -> dict[str, Any]:
    """Read a fixture file.

    Raises:
        FixtureError: missing, not YAML, or without an ``instance`` mapping.
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise FixtureError(t(f"无法读取测试数据：{exc.strerror}", f"cannot read the fixture: {exc.strerror}"),
                           where=str(path), fix=t("检查路径", "check the path")) from exc
    except yaml.YAMLError as exc:
        raise FixtureError(t(f"测试数据不是合法的 YAML：{exc}", f"the fixture is not valid YAML: {exc}"),
                           where=str(path), fix=t("修正 YAML 语法", "fix the YAML syntax")) from exc
    if not isinstance(data, dict) or not isinstance(data.get("instance"), dict):
        raise FixtureError(t("测试数据缺少 instance（审批实例）", "the fixture has no instance mapping"),
                           where=f"{path}:instance",
                           fix=t("按 huiliu.service.flowtest 模块说明的格式书写", "follow the format in "
                                 "huiliu.service.flowtest"))
    for key in ("masterdata", "results", "expected"):
        if not isinstance(data.get(key, {}), dict):
            raise FixtureError(t(f"测试数据的 {key} 必须是映射", f"the fixture's {key} must be a mapping"),
                               where=f"{path}:{key}", fix=t("改成 键: 值 的形式", "write it as key: value"))
    return data


def run_fixture(flow: Flow, fixture: Mapping[str, Any]) -> TestReport:
    """Run ``flow`` on the fixture's instance with its master data and recorded call results."""
    instance = fixture["instance"]
    event = str(fixture.get("event") or flow.trigger.events[0])
    source = str(fixture.get("source") or instance.get("system") or event.split(".", 1)[0])
    business_key = str(instance.get("instance_id") or "fixture")
    context: dict[str, Any] = initial_context(envelope_id="fixture", event_type=event, source=source,
                                              business_key=business_key, payload={"instance": instance},
                                              received_at=None)
    report = TestReport(flow.id, matched=False)
    masterdata: Mapping[str, Any] = fixture.get("masterdata") or {}
    results: Mapping[str, Any] = fixture.get("results") or {}

    def lookup(entity: str, system: str, key: str) -> Mapping[str, Any] | None:
        records = masterdata.get(entity) or {}
        found = records.get(f"{system}:{key}", records.get(key))
        return found if isinstance(found, Mapping) else None

    try:
        report.matched = matches(flow, event, context)
        if not report.matched:
            return report
        while True:
            step = advance(flow, context, lookup)
            for step_id, output in step.completed:
                kind = flow.steps[flow.index(step_id)].kind
                report.steps.append(StepTrace(step_id, kind, to_jsonable(output), skipped=output is None))
            if step.wait is not None and isinstance(results.get(step.wait.step_id), Mapping):
                awaited = dict(results[step.wait.step_id])  # the event the wait receives, as recorded
                report.steps.append(StepTrace(step.wait.step_id, "wait", to_jsonable(awaited)))
                context = complete(flow, step.context, step.wait.step_id, awaited)
                continue
            if step.done or step.effect is None:
                break
            result = results.get(step.effect.step_id)
            if not isinstance(result, Mapping):
                raise FixtureError(
                    t(f"步骤 `{step.effect.step_id}`（{step.effect.action}）没有录制的结果",
                      f"step `{step.effect.step_id}` ({step.effect.action}) has no recorded result"),
                    where=f"results.{step.effect.step_id}",
                    fix=t("在测试数据的 results 下写出该连接器的应答", "put the connector's answer under results"))
            report.steps.append(StepTrace(step.effect.step_id, "call", to_jsonable(dict(result)),
                                          request=to_jsonable(step.effect.request)))
            context = complete(flow, step.context, step.effect.step_id, result)
    except HuiliuError as exc:
        report.error = exc
        return report
    expected: Mapping[str, Any] = fixture.get("expected") or {}
    by_id = {s.step_id: s for s in report.steps}
    for step_id, want in expected.items():
        got = by_id.get(step_id)
        if got is None:
            report.differences.append(t(f"步骤 `{step_id}` 没有运行", f"step `{step_id}` did not run"))
            continue
        actual = got.request if got.kind == "call" else got.output
        difference = _first_difference(to_jsonable(want), actual, step_id)
        if difference is not None:
            report.differences.append(difference)
    return report


def _first_difference(want: Any, got: Any, path: str) -> Text | None:
    """The first place where ``got`` differs from ``want`` (values compared as their JSON form)."""
    if isinstance(want, dict) and isinstance(got, dict):
        for key in want.keys() | got.keys():
            if key not in got:
                return t(f"{path}.{key}：缺少（应为 {want[key]!r}）", f"{path}.{key}: missing (expected {want[key]!r})")
            if key not in want:
                return t(f"{path}.{key}：多出 {got[key]!r}", f"{path}.{key}: unexpected {got[key]!r}")
            found = _first_difference(want[key], got[key], f"{path}.{key}")
            if found is not None:
                return found
        return None
    if isinstance(want, list) and isinstance(got, list):
        if len(want) != len(got):
            return t(f"{path}：应有 {len(want)} 项，实际 {len(got)} 项",
                     f"{path}: expected {len(want)} items, got {len(got)}")
        for index, (a, b) in enumerate(zip(want, got, strict=True)):
            found = _first_difference(a, b, f"{path}[{index}]")
            if found is not None:
                return found
        return None
    if str(want) != str(got) or isinstance(want, dict | list) != isinstance(got, dict | list):
        return t(f"{path}：应为 {want!r}，实际 {got!r}", f"{path}: expected {want!r}, got {got!r}")
    return None
