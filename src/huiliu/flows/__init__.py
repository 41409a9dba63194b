"""Flows: YAML files that say "when this happens in OA, do this in the ERP, and write that back".

Owns: the flow file's schema and loader (errors located by file, line and column), the sandboxed
expression language (Jinja2), the steps (``lookup``, ``map``, ``voucher``, ``call``, ``wait``) and a pure
runtime that advances a run's context, hands each external call back as an :class:`Effect`, and decides
what a failure does (``on_error``: fail, go on, or undo the calls made — a saga's compensation). Does not own:
storing runs, the outbox or calling vendors (``service``, ``connectors``).

Typical use by the caller::

    flows = load_flows(directory, known_actions=registry.names())
    if matches(flow, envelope.type, context):
        step = advance(flow, context, lookup)        # pure steps, up to the next call
        ...                                          # record step.effect in the outbox, call it
        context = complete(flow, step.context, step.effect.step_id, result)
        step = advance(flow, context, lookup)
"""

from huiliu.flows.diff import diff_flows
from huiliu.flows.expressions import CONTEXT_NAMES, Expression, Origin
from huiliu.flows.loader import compile_flow, load_flow, load_flows, validate_path
from huiliu.flows.model import Flow, FlowSpec, Trigger
from huiliu.flows.runtime import (
    COMPENSATE_SUFFIX,
    Advance,
    Effect,
    Recovery,
    StepMismatch,
    Subflow,
    Waiting,
    advance,
    compensating,
    complete,
    complete_compensation,
    matches,
    next_compensation,
    recover,
)
from huiliu.flows.steps import CallStep, Lookup, Step, SubflowStep

__all__ = [
    "COMPENSATE_SUFFIX",
    "CONTEXT_NAMES",
    "Advance",
    "CallStep",
    "Effect",
    "Expression",
    "Flow",
    "FlowSpec",
    "Lookup",
    "Origin",
    "Recovery",
    "Step",
    "StepMismatch",
    "Subflow",
    "SubflowStep",
    "Trigger",
    "Waiting",
    "advance",
    "compensating",
    "compile_flow",
    "complete",
    "complete_compensation",
    "diff_flows",
    "load_flow",
    "load_flows",
    "matches",
    "next_compensation",
    "recover",
    "validate_path",
]
