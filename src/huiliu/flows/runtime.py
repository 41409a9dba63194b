"""The flow runtime: a pure function from a run's context to the next context and the next effect.

Owns: matching an event to a flow's trigger, running pure steps from the context's ``cursor`` until a
``call`` step or the end (:func:`advance`), and storing a call's result (:func:`complete`). Does not own:
storing contexts, the outbox, or calling anything — the caller (``service``) records each
:class:`Effect` in its outbox, makes the call, and hands the result back to :func:`complete`.

A run's context is JSON-shaped and stored between steps::

    {"event": {...}, "instance": {...}, "form": {...}, "reference": "BX-2024-0001",
     "steps": {"employee": {...}, "claim": {...}}, "cursor": 2}

Step outputs are stored in their JSON form (a ``Decimal`` becomes a string) the moment they are made,
so a run gives the same result whether it goes on in this call or after a reload.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from huiliu.errors import ProcessingError
from huiliu.flows.model import Flow
from huiliu.flows.steps import BranchStep, CallStep, FilterStep, Lookup, SubflowStep, WaitStep
from huiliu.i18n import t
from huiliu.store.codec import to_jsonable

__all__ = [
    "COMPENSATE_SUFFIX",
    "Advance",
    "Effect",
    "Recovery",
    "StepMismatch",
    "Waiting",
    "advance",
    "compensating",
    "complete",
    "complete_compensation",
    "matches",
    "next_compensation",
    "recover",
]

COMPENSATE_SUFFIX = ".compensate"
"""A compensation's effect id: ``<call step id>.compensate``."""


class StepMismatch(ProcessingError):
    """A result was handed back for a step that is not the run's current call step."""

    kind = "step_mismatch"


@dataclass(frozen=True, slots=True)
class Effect:
    """An external call the flow asks for.

    Attributes:
        step_id: the ``call`` step; its result goes back through :func:`complete`.
        action: the action name, e.g. ``kingdee.voucher.create``.
        request: the JSON-shaped request built from the step's ``with``.
    """

    step_id: str
    action: str
    request: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Advance:
    """What :func:`advance` did.

    Attributes:
        context: the new context to store (``cursor`` points at ``effect``'s step, or past the end).
        completed: ``(step_id, output)`` for each step finished in this call; skipped steps give ``None``.
        effect: the next external call, or ``None`` when the flow is done or waits.
        done: every step has run.
        wait: the event the run now waits for (a ``wait`` step), or ``None``.
        filtered: the ``filter`` step that ended the run early, or ``None``.
        subflow: the sub-flow the run now starts and waits for (a ``subflow`` step), or ``None``.
    """

    context: dict[str, Any]
    completed: list[tuple[str, Any]]
    effect: Effect | None
    done: bool
    wait: Waiting | None = None
    filtered: str | None = None
    subflow: Subflow | None = None


@dataclass(frozen=True, slots=True)
class Subflow:
    """A run paused at a ``subflow`` step: which flow to start with which input, how long to wait for it."""

    step_id: str
    flow_id: str
    inputs: dict[str, Any]
    timeout: float


@dataclass(frozen=True, slots=True)
class Waiting:
    """A run paused at a ``wait`` step: for which event types, which business key, how long at most."""

    step_id: str
    events: tuple[str, ...]
    key: str
    timeout: float
    on_timeout: str


def matches(flow: Flow, event_type: str, context: Mapping[str, Any]) -> bool:
    """Whether ``flow`` starts on this event.

    Raises:
        MappingError: the trigger's ``when`` failed on this context.
    """
    if event_type not in flow.trigger.events:
        return False
    condition = flow.trigger.condition
    return condition is None or bool(condition.evaluate(context))


def _state(flow: Flow, context: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
    """A JSON copy of ``context`` (the caller's stays untouched) and its checked cursor."""
    state = to_jsonable(dict(context))
    steps = state.setdefault("steps", {})
    cursor = state.setdefault("cursor", 0)
    if not isinstance(steps, dict) or isinstance(cursor, bool) or not isinstance(cursor, int) or not (
            0 <= cursor <= len(flow.steps)):
        raise ProcessingError(
            t(f"流程 {flow.id} 的运行上下文已损坏：cursor={cursor!r}",
              f"the run context of flow {flow.id} is corrupt: cursor={cursor!r}"),
            where=str(flow.source),
            fix=t(f"cursor 应为 0 到 {len(flow.steps)} 的整数，steps 应为映射；流程改版后请用新版本重新发起",
                  f"cursor must be an integer from 0 to {len(flow.steps)} and steps a mapping; after "
                  "changing a flow, start its runs again"))
    return state, cursor


def _go_to(flow: Flow, state: dict[str, Any], cursor: int, target: int) -> int:
    """Move ``state``'s cursor from the step at ``cursor`` to ``target``; the steps jumped over are skipped."""
    for skipped in flow.steps[cursor + 1:target]:
        state["steps"][skipped.id] = None
    state["cursor"] = target
    return target


def advance(flow: Flow, context: Mapping[str, Any], lookup: Lookup) -> Advance:
    """Run pure steps from ``context["cursor"]`` until a ``call`` step or the end.

    Deterministic and free of side effects apart from ``lookup`` (which only reads). The given context
    is not changed; a new one is returned.

    Raises:
        MappingError: an expression, lookup or account mapping failed; the message names the flow file and
            line, the step and the field.
        UnbalancedVoucher: a voucher step's debit and credit differ.
        ProcessingError: the context is corrupt.
    """
    state, cursor = _state(flow, context)
    steps: dict[str, Any] = state["steps"]
    completed: list[tuple[str, Any]] = []
    while cursor < len(flow.steps):
        step = flow.steps[cursor]
        if step.when is not None and not step.when.evaluate(state):
            steps[step.id] = None
            completed.append((step.id, None))
            cursor += 1
            state["cursor"] = cursor
            continue
        if isinstance(step, CallStep):
            effect = Effect(step.id, step.action, step.run(state, lookup))
            return Advance(state, completed, effect, done=False)
        if isinstance(step, WaitStep):
            waiting = Waiting(step.id, step.events, step.run(state, lookup), step.timeout, step.on_timeout)
            return Advance(state, completed, None, done=False, wait=waiting)
        if isinstance(step, SubflowStep):
            sub = Subflow(step.id, step.flow_id, step.run(state, lookup), step.timeout)
            return Advance(state, completed, None, done=False, subflow=sub)
        output = step.run(state, lookup)
        after = cursor + 1
        if isinstance(step, FilterStep):
            output = {"passed": output}
            if not output["passed"]:  # the rest does not apply: done, every later step skipped
                after = len(flow.steps)
        elif isinstance(step, BranchStep):
            output = {"goto": output}
            if output["goto"] is not None:
                after = flow.index(output["goto"])
        steps[step.id] = output
        completed.append((step.id, output))
        cursor = _go_to(flow, state, cursor, after)
        if isinstance(step, FilterStep) and not output["passed"]:
            return Advance(state, completed, None, done=True, filtered=step.id)
    return Advance(state, completed, None, done=True)


def complete(flow: Flow, context: Mapping[str, Any], step_id: str,
             result: Mapping[str, Any]) -> dict[str, Any]:
    """Store a call's result under ``steps[step_id]`` and move the cursor past it.

    Returns:
        The new context (the given one is not changed). Call :func:`advance` on it to go on.

    Raises:
        StepMismatch: ``step_id`` is not the call step the cursor points at (a late or repeated result).
    """
    state, cursor = _state(flow, context)
    current = flow.steps[cursor] if cursor < len(flow.steps) else None
    expected = current.id if isinstance(current, CallStep | WaitStep | SubflowStep) else None
    if expected != step_id:
        waiting_zh = f"`{expected}`" if expected else "（无）"
        waiting_en = f"`{expected}`" if expected else "nothing"
        raise StepMismatch(
            t(f"流程 {flow.id} 收到步骤 `{step_id}` 的结果，但当前等待的是 {waiting_zh}",
              f"flow {flow.id} got a result for step `{step_id}` but is waiting for {waiting_en}"),
            where=f"{flow.source} cursor={cursor}",
            fix=t("只为 advance 交出的 effect 回填结果，且每个只回填一次",
                  "complete only the effect advance handed out, and only once"))
    state["steps"][step_id] = to_jsonable(dict(result))
    state["cursor"] = cursor + 1
    return state


@dataclass(frozen=True, slots=True)
class Recovery:
    """What a run does after a step failed for good (its ``on_error``, or the flow's).

    Attributes:
        action: ``fail`` (stop; the failure is dead-lettered), ``continue`` (the context goes on at the
            next step or the ``on_error`` target), or ``compensate`` (undo the calls made, newest first).
        context: the context to go on with.
    """

    action: str
    context: dict[str, Any]


def recover(flow: Flow, context: Mapping[str, Any], step_id: str | None, error: Mapping[str, Any]) -> Recovery:
    """Decide what a failure does: the failed call step's ``on_error`` (or the flow's ``on_error``).

    ``step_id`` is the call step that failed for good (its retries spent, or an error not worth
    retrying), or ``None`` for a failure elsewhere (a mapping, a wait's timeout), which follows the flow's
    ``on_error``. A step that goes on records ``{"failed": true, "error": …}`` as its output, so later steps
    can test ``steps.<id>.failed``; a ``compensate`` lists the calls to undo under ``compensation``.
    """
    state, cursor = _state(flow, context)
    step = flow.steps[flow.index(step_id)] if step_id is not None else None
    rule = (step.on_error if isinstance(step, CallStep) else None) or flow.on_error
    if rule == "fail":
        return Recovery("fail", state)
    steps: dict[str, Any] = state["steps"]
    if rule == "compensate":
        done = [s.id for s in flow.steps[:cursor + 1] if isinstance(s, CallStep) and s.compensation is not None
                and isinstance(steps.get(s.id), Mapping) and not steps[s.id].get("failed")]
        state["compensation"] = {"pending": done[::-1], "done": {}, "error": dict(error), "failed_at": step_id}
        return Recovery("compensate", state)
    if step_id is None or step is None or cursor != flow.index(step_id):
        raise StepMismatch(
            t(f"流程 {flow.id} 的步骤 `{step_id}` 出错，但运行停在第 {cursor} 步",
              f"flow {flow.id} got a failure of step `{step_id}` but the run is at step {cursor}"),
            where=str(flow.source),
            fix=t("只为当前的调用步骤报告失败", "report failures of the current call step only"))
    steps[step_id] = {"failed": True, "error": dict(error)}
    _go_to(flow, state, cursor, cursor + 1 if rule == "continue" else flow.index(rule))
    return Recovery("continue", state)


def compensating(context: Mapping[str, Any]) -> bool:
    """Whether the run is undoing its calls."""
    return isinstance(context.get("compensation"), Mapping)


def next_compensation(flow: Flow, context: Mapping[str, Any], lookup: Lookup,
                      reference_of: Callable[[str], str]) -> Effect | None:
    """The next call that undoes one already made (newest first), or ``None`` when all are undone.

    ``reference_of(step_id)`` gives the hub reference that step's call was made with; the compensation's
    request sees it as ``undo.reference`` (with ``undo.step`` and ``undo.result``).

    Raises:
        MappingError: the compensation's request could not be built.
    """
    pending = context["compensation"]["pending"]
    if not pending:
        return None
    step = flow.steps[flow.index(pending[0])]
    undo = step.compensation if isinstance(step, CallStep) else None
    if undo is None:  # a flow version without it: nothing to undo for this step
        raise ProcessingError(
            t(f"步骤 `{pending[0]}` 没有补偿动作", f"step `{pending[0]}` has no compensation"),
            where=str(flow.source), fix=t("给该步骤加上 compensate 后重放", "add compensate to the step, then replay"))
    scope = {**context, "undo": {"step": step.id, "reference": reference_of(step.id),
                                 "result": context["steps"].get(step.id)}}
    return Effect(undo.id, undo.action, undo.run(scope, lookup))


def complete_compensation(flow: Flow, context: Mapping[str, Any], effect_id: str,
                          result: Mapping[str, Any]) -> dict[str, Any]:
    """Record one compensation's result and move on to the next.

    Raises:
        StepMismatch: ``effect_id`` is not the compensation the run waits for.
    """
    state, _ = _state(flow, context)
    plan = state["compensation"]
    pending: list[str] = plan["pending"]
    step_id = effect_id.removesuffix(COMPENSATE_SUFFIX)
    if not pending or pending[0] != step_id:
        raise StepMismatch(
            t(f"流程 {flow.id} 收到补偿 `{effect_id}` 的结果，但当前等待的是 {pending[:1] or '（无）'}",
              f"flow {flow.id} got the result of compensation `{effect_id}` but waits for {pending[:1] or 'nothing'}"),
            where=str(flow.source), fix=t("每个补偿只回填一次", "complete each compensation once"))
    plan["done"][step_id] = to_jsonable(dict(result))
    pending.pop(0)
    return state
