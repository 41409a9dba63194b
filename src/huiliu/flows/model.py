"""The flow file's schema (YAML → pydantic) and the loaded, compiled :class:`Flow`.

Owns: which keys a flow file may have, their types, and the rules one step can check on its own (exactly
one kind per step, ``with`` only on a ``call``). Does not own: reading YAML and locating errors in the
file (``loader``), checks across steps (``loader``), or running steps (``steps``, ``runtime``).

Every spec model forbids unknown keys; the error for one carries the key (so the loader can point at its
line) and the keys that are allowed (so the message can suggest the right one).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PlainValidator,
    StrictBool,
    StrictStr,
    StringConstraints,
    Tag,
    model_validator,
)
from pydantic_core import PydanticCustomError
from typing_extensions import TypeAliasType

from huiliu.flows.expressions import Expression
from huiliu.flows.steps import CallStep, Step, SubflowStep, WaitStep
from huiliu.model import Direction

__all__ = [
    "DEFAULT_TIMEZONE",
    "ON_ERROR_KEYWORDS",
    "RETRYABLE_KINDS",
    "STEP_KINDS",
    "TAGS",
    "AccountRulesSpec",
    "AccountTableSpec",
    "BranchCaseSpec",
    "BranchSpec",
    "CompensateSpec",
    "Flow",
    "FlowSpec",
    "ForEachSpec",
    "LookupSpec",
    "RetrySpec",
    "SplitSpec",
    "StepSpec",
    "SubflowSpec",
    "Trigger",
    "TriggerSpec",
    "ValueSpec",
    "VoucherLineSpec",
    "VoucherSpec",
]

STEP_KINDS: tuple[str, ...] = ("lookup", "map", "voucher", "call", "wait", "filter", "branch", "subflow")
"""The kinds of step; each step has exactly one of these keys."""

TAGS: frozenset[str] = frozenset({"<scalar>", "<list>", "<mapping>", "<for_each>", "<text>", "<table>",
                                  "<rules>"})
"""Union tags pydantic puts in error locations; they are not keys of the file."""

Identifier = Annotated[StrictStr, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
FlowId = Annotated[StrictStr, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]*$")]
EventType = Annotated[StrictStr, StringConstraints(pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")]
ActionName = Annotated[StrictStr, StringConstraints(pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")]
NonEmpty = Annotated[StrictStr, StringConstraints(min_length=1)]


def _scalar(value: object) -> str | int | float | bool | None:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise PydanticCustomError("scalar_type", "expected text, a number, true/false or null, got {type}",
                              {"type": type(value).__name__})


def _code(value: object) -> str | int:
    if isinstance(value, str | int) and not isinstance(value, bool):
        return value
    raise PydanticCustomError("code_type", "expected text or a whole number, got {type}",
                              {"type": type(value).__name__})


def _amount(value: object) -> str | int | float:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return value
    raise PydanticCustomError("amount_type", "expected an amount or an expression, got {type}",
                              {"type": type(value).__name__})


Scalar = Annotated[str | int | float | bool | None, PlainValidator(_scalar)]
AmountValue = Annotated[str | int | float, PlainValidator(_amount)]
Code = Annotated[str | int, PlainValidator(_code)]


class _Spec(BaseModel):
    """Base of every spec: frozen, unknown keys refused with the key and the allowed keys named."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            allowed = [f.alias or name for name, f in cls.model_fields.items()]
            for key in data:
                if key not in allowed:
                    raise PydanticCustomError("unknown_field", "unknown field {field}",
                                              {"field": str(key), "allowed": ", ".join(allowed)})
        return data


def _value_tag(value: Any) -> str:
    if isinstance(value, dict):
        return "<for_each>" if {"for_each", "as", "fields"} & value.keys() else "<mapping>"
    if isinstance(value, list):
        return "<list>"
    return "<scalar>"


if TYPE_CHECKING:  # mypy resolves the recursion itself; pydantic needs the TypeAliasType below
    ValueSpec: TypeAlias = "Scalar | list[ValueSpec] | dict[str, ValueSpec] | ForEachSpec"
else:
    ValueSpec = TypeAliasType(
        "ValueSpec",
        Annotated[
            Annotated[Scalar, Tag("<scalar>")]
            | Annotated[list["ValueSpec"], Tag("<list>")]
            | Annotated[dict[str, "ValueSpec"], Tag("<mapping>")]
            | Annotated["ForEachSpec", Tag("<for_each>")],
            Discriminator(_value_tag),
        ],
    )
    """A value built by a step: a template or literal, a list, a mapping, or a ``for_each`` block."""


class ForEachSpec(_Spec):
    """Build a list: evaluate ``fields`` once per item of ``for_each``, the item named ``as``."""

    for_each: StrictStr
    as_: Identifier = Field(alias="as")
    fields: ValueSpec


class LookupSpec(_Spec):
    """Find a master-data record (employee, department …) by a system's native key.

    ``system`` is a system name, or ``"{{ event.source }}"`` for the system the event came from (one flow
    for approvals from several OAs).
    """

    entity: Identifier
    system: Annotated[StrictStr, StringConstraints(pattern=r"^([A-Za-z_][A-Za-z0-9_]*|\{\{ *event\.source *\}\})$")]
    key: StrictStr
    required: StrictBool = True


class AccountTableSpec(_Spec):
    """Choose the account by a value: ``{by: "{{ line.expense_type }}", map: {差旅费: "6602.03"}}``."""

    by: StrictStr
    map: Annotated[dict[str, StrictStr], Field(min_length=1)]


class AccountRulesSpec(_Spec):
    """Choose the account by several attributes; the first rule that matches wins.

    ``by`` names each attribute and the expression that gives its value; each rule maps some of those
    attributes to a pattern (``差旅费`` exactly, ``P-*`` a prefix, ``*`` anything; an attribute a rule
    leaves out matches anything) and has an ``account``::

        by: {type: "{{ line.expense_type }}", dept: "{{ steps.employee.department_number }}"}
        rules:
          - {type: 差旅费, dept: BM03, account: "6601.03"}
          - {type: 差旅费, account: "6602.03"}

    What the schema cannot see (a rule naming an attribute ``by`` lacks, a rule without ``account``, a
    rule an earlier one always hides, a misplaced ``*``) is checked by the compiler, which can point at
    the offending key.
    """

    by: Annotated[dict[Identifier, StrictStr], Field(min_length=1)]
    rules: Annotated[list[dict[str, Code]], Field(min_length=1)]


def _account_tag(value: Any) -> str:
    # A mapping ``by`` means several attributes, so a misspelt ``rules`` is reported against the rules' keys.
    if isinstance(value, dict):
        return "<rules>" if "rules" in value or isinstance(value.get("by"), dict) else "<table>"
    return "<text>"


AccountSpec = Annotated[
    Annotated[StrictStr, Tag("<text>")]
    | Annotated[AccountTableSpec, Tag("<table>")]
    | Annotated[AccountRulesSpec, Tag("<rules>")],
    Discriminator(_account_tag),
]


class SplitSpec(_Spec):
    """Split each line of a rule into one line per share (分摊), e.g. across departments.

    ``by`` gives a list (``[{dept: BM01, ratio: "0.6"}, …]``); each item is named ``as`` in the line's
    ``account``, ``summary`` and ``aux``; ``share`` gives the item's share: a fraction (``0.6``) or a
    percentage (``"60%"``). The shares must add up to exactly 1 (100 %).
    """

    by: StrictStr
    as_: Identifier = Field(alias="as")
    share: StrictStr


class VoucherLineSpec(_Spec):
    """One voucher line rule; with ``for_each``/``as`` it makes one line per item.

    ``when`` (a bare condition, evaluated per item) leaves the line out when false, e.g. the advance
    offset (借款冲销) line when there is no advance; ``split`` turns each line into one per share.
    """

    for_each: StrictStr | None = None
    as_: Identifier | None = Field(default=None, alias="as")
    when: StrictStr | None = None
    direction: Direction
    account: AccountSpec
    amount: AmountValue
    summary: StrictStr = ""
    aux: dict[str, Code] = Field(default_factory=dict)
    split: SplitSpec | None = None

    @model_validator(mode="after")
    def _loop_pair(self) -> VoucherLineSpec:
        if (self.for_each is None) != (self.as_ is None):
            raise PydanticCustomError("loop_pair", "for_each and as go together")
        return self


class VoucherSpec(_Spec):
    """A balanced accounting voucher (记账凭证).

    ``preparer`` (制单人), when given, must evaluate to a non-empty user; it is carried in the step's
    output next to the voucher's fields (``huiliu.model.Voucher`` has no preparer).
    """

    book: NonEmpty
    date: NonEmpty
    group: NonEmpty = "记"
    currency: NonEmpty = "CNY"
    reference: NonEmpty = "{{ reference }}"
    preparer: NonEmpty | None = None
    lines: Annotated[list[VoucherLineSpec], Field(min_length=1)]


RetryableKind = Literal["transient", "no_reply", "ambiguous", "rate_limited", "auth_expired", "internal_error"]
RETRYABLE_KINDS: tuple[str, ...] = get_args(RetryableKind)
"""Error kinds a retry policy may declare non-retryable (the others are never retried anyway)."""


class RetrySpec(_Spec):
    """A retry policy for a flow or one call step: exponential backoff with jitter, then a dead letter."""

    initial_interval: Annotated[float, Field(gt=0, le=3600, strict=False)] = 0.5
    multiplier: Annotated[float, Field(ge=1, le=10)] = 2.0
    max_interval: Annotated[float, Field(gt=0, le=86400)] = 60.0
    max_attempts: Annotated[int, Field(ge=1, le=100, strict=True)] = 8
    jitter: Annotated[float, Field(ge=0, le=1)] = 0.5
    non_retryable: list[RetryableKind] = []

    @model_validator(mode="after")
    def _interval_order(self) -> RetrySpec:
        if self.max_interval < self.initial_interval:
            raise PydanticCustomError("retry_intervals", "max_interval ({max}) is shorter than initial_interval "
                                      "({initial})", {"max": self.max_interval, "initial": self.initial_interval})
        return self


class WaitSpec(_Spec):
    """Wait for another event of the same business object (e.g. the OA's verdict on an approval the flow
    started): its type(s), the business key it must carry, and how long to wait at most.
    """  # noqa: D205

    event: EventType | Annotated[list[EventType], Field(min_length=1)]
    key: StrictStr
    timeout: Annotated[float, Field(gt=0, le=90 * 86400, strict=False)]
    """Seconds; required — a wait without a timeout could hold a run forever."""
    on_timeout: Literal["fail", "continue"] = "fail"


class BranchCaseSpec(_Spec):
    """One way a ``branch`` goes: a bare condition and the later step it goes to."""

    when: NonEmpty
    goto: Identifier


class BranchSpec(_Spec):
    """Go to the first case whose condition holds, else to ``else`` (or on to the next step).

    Only forward: a branch never goes back, so a flow never loops (checked at load time).
    """

    cases: Annotated[list[BranchCaseSpec], Field(min_length=1)]
    else_: Identifier | None = Field(default=None, alias="else")


class CompensateSpec(_Spec):
    """What undoes a call step's effect (a saga's compensation), e.g. reverse the voucher it created.

    Its ``with`` sees the run's context, including the step's own result (``steps.<id>``), and ``undo``:
    ``{"step", "reference", "result"}`` — the hub reference the call was made with (what the ERP
    document carries) and its result::

        compensate: {call: kingdee.voucher.reverse, with: {reference: "{{ undo.reference }}"}}
    """

    call: ActionName
    with_: dict[str, ValueSpec] = Field(default_factory=dict, alias="with")


OnError = Annotated[StrictStr, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
"""``fail`` | ``continue`` | ``compensate`` | the id of a later step to go on at."""

ON_ERROR_KEYWORDS: tuple[str, ...] = ("fail", "continue", "compensate")

DEFAULT_TIMEZONE = "Asia/Shanghai"
"""A schedule's time zone when the flow names none: Beijing time, what a Chinese company's clock says."""


class SubflowSpec(_Spec):
    """Run another flow (one whose trigger is ``manual: true``) with ``with`` as its ``form``, and wait for it.

    The step's output is ``{"status": "succeeded", "steps": {…the sub-flow's step outputs…}}``; a sub-flow
    that fails, or does not finish within ``timeout`` seconds (required), fails this step.
    """

    flow: FlowId
    with_: dict[str, ValueSpec] = Field(default_factory=dict, alias="with")
    timeout: Annotated[float, Field(gt=0, le=90 * 86400, strict=False)]


class StepSpec(_Spec):
    """One step: an id, an optional ``when``, and exactly one kind (:data:`STEP_KINDS`).

    A call step may say what happens when it fails for good (``on_error``) and what undoes it
    (``compensate``).
    """

    id: Identifier
    title: StrictStr | None = None
    when: StrictStr | None = None
    lookup: LookupSpec | None = None
    map: dict[str, ValueSpec] | None = None
    voucher: VoucherSpec | None = None
    call: ActionName | None = None
    wait: WaitSpec | None = None
    filter: NonEmpty | None = None
    """A bare condition: when false the run ends here, done (the rest does not apply to this event)."""
    branch: BranchSpec | None = None
    subflow: SubflowSpec | None = None
    with_: dict[str, ValueSpec] | None = Field(default=None, alias="with")
    retry: RetrySpec | None = None
    on_error: OnError | None = None
    compensate: CompensateSpec | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> StepSpec:
        kinds = [k for k in STEP_KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise PydanticCustomError("step_kind", "a step needs exactly one kind, found {found}",
                                      {"found": ", ".join(kinds) or "none"})
        if self.with_ is not None and self.call is None:
            raise PydanticCustomError("with_without_call", "with belongs to a call step")
        if self.retry is not None and self.call is None:
            raise PydanticCustomError("retry_without_call", "retry belongs to a call step: only calls are retried")
        if self.call is None and (self.on_error is not None or self.compensate is not None):
            raise PydanticCustomError("error_handling_without_call",
                                      "on_error and compensate belong to a call step: only calls act on other systems")
        return self

    @property
    def kind(self) -> str:
        """One of :data:`STEP_KINDS`."""
        return next(k for k in STEP_KINDS if getattr(self, k) is not None)


class TriggerSpec(_Spec):
    """What starts the flow: exactly one of ``event``, ``schedule`` or ``manual``.

    * ``event``: an event type, or any of several (the same approval from different OAs), with an
      optional ``when`` condition;
    * ``schedule``: a cron expression (five fields: minute hour day month weekday) in ``timezone``
      (default Asia/Shanghai), e.g. ``"0 2 * * *"`` every night at 02:00 Beijing time;
    * ``manual: true``: a person or a script starts it (``huiliu flow start``,
      ``POST /api/flows/{id}/start``).
    """

    event: EventType | Annotated[list[EventType], Field(min_length=1)] | None = None
    schedule: NonEmpty | None = None
    timezone: NonEmpty | None = None
    manual: StrictBool = False
    when: StrictStr | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> TriggerSpec:
        found = [k for k, v in (("event", self.event), ("schedule", self.schedule), ("manual", self.manual or None))
                 if v is not None]
        if len(found) != 1:
            raise PydanticCustomError("trigger_kind", "a trigger needs exactly one of event, schedule or manual: "
                                      "true, found {found}", {"found": ", ".join(found) or "none"})
        if self.timezone is not None and self.schedule is None:
            raise PydanticCustomError("timezone_without_schedule", "timezone belongs to a schedule")
        if self.when is not None and self.event is None:
            raise PydanticCustomError("when_without_event", "when filters events: a schedule or manual start "
                                      "has none to filter")
        return self


class FlowSpec(_Spec):
    """A whole flow file."""

    id: FlowId
    version: NonEmpty
    title: NonEmpty
    description: StrictStr | None = None
    trigger: TriggerSpec
    retry: RetrySpec | None = None
    on_error: Literal["fail", "compensate"] = "fail"
    """What a run does when a step fails for good: stop and dead-letter (``fail``, replayable after a fix),
    or first undo the calls already made, newest first (``compensate``), then stop."""
    steps: Annotated[list[StepSpec], Field(min_length=1)]


@dataclass(frozen=True, slots=True)
class Trigger:
    """What a flow starts on.

    Attributes:
        events: the event types, ``<system>.<entity>.<past-verb>``; any of them starts the flow. A
            scheduled flow starts on ``schedule.<flow id>``, a manual one on ``manual.<flow id>``: the
            hub makes those events (with the fire time, or the person's input, as ``form``).
        when: the condition as written, or ``None``.
        condition: the compiled condition.
        schedule: the cron expression, for a scheduled flow.
        timezone: the schedule's time zone.
        manual: started by a person or a script.
    """

    events: tuple[str, ...]
    when: str | None
    condition: Expression | None = None
    schedule: str | None = None
    timezone: str = DEFAULT_TIMEZONE
    manual: bool = False


@dataclass(frozen=True, eq=False)
class Flow:
    """A loaded flow: validated, every template compiled. Compared by identity.

    Attributes:
        id: the flow id (stable; runs refer to it).
        version: the flow's version as written.
        title: a title for people.
        source: the file it was loaded from.
        trigger: the event it starts on.
        steps: the compiled steps, in order.
        description: optional longer text.
        id_where: ``file:line:column`` of the ``id`` (for duplicate-id errors across files).
        text: the file's text as loaded (kept in the version history, so a run finishes on its version).
        on_error: ``fail`` or ``compensate``: what a run does when a step fails for good (a call step's
            own ``on_error`` comes first).
    """

    id: str
    version: str
    title: str
    source: Path
    trigger: Trigger
    steps: tuple[Step, ...]
    description: str | None = None
    id_where: str = ""
    text: str = field(default="", repr=False)
    on_error: str = "fail"
    _index: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._index.update({step.id: i for i, step in enumerate(self.steps)})

    def index(self, step_id: str) -> int:
        """Position of a step; raises ``KeyError`` for an unknown id."""
        return self._index[step_id]

    @property
    def digest(self) -> str:
        """SHA-256 of the file's text: what identifies this version, whatever ``version`` says."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @property
    def awaited(self) -> frozenset[str]:
        """Every event type the flow's ``wait`` steps wait for."""
        return frozenset(e for s in self.steps if isinstance(s, WaitStep) for e in s.events)

    @property
    def subflows(self) -> frozenset[str]:
        """Every flow the flow's ``subflow`` steps run."""
        return frozenset(s.flow_id for s in self.steps if isinstance(s, SubflowStep))

    @property
    def actions(self) -> frozenset[str]:
        """Every action the flow's ``call`` steps use."""
        return frozenset(s.action for s in self.steps if isinstance(s, CallStep))


ForEachSpec.model_rebuild()
StepSpec.model_rebuild()
