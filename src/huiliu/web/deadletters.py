"""Dead letters for the people who fix them: explain one, correct its mapped values and re-push it.

``GET /api/dead-letters/{id}/explain`` gives :class:`huiliu.bus.deadletterview.DeadLetterView` as JSON
(the document, the flow step, the ERP's own message, the request as labelled fields);
``POST /api/dead-letters/{id}/correct`` changes fields by path and re-pushes under the same idempotency
key. Who may call which is in :data:`huiliu.web.auth.PERMISSIONS`; every change is audited by the
middleware, and the correction itself is in the event log with the principal's name. Listing, replay and
discard are in :mod:`huiliu.web.api`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from huiliu.bus.correction import MAX_CHANGES, MAX_VALUE
from huiliu.bus.deadletters import MAX_NOTE
from huiliu.store.codec import to_jsonable
from huiliu.web.api import DeadId
from huiliu.web.common import actor_of, hub_of

__all__ = ["CorrectRequest", "router"]

router = APIRouter(prefix="/api", tags=["dead letters"])

_Path = Annotated[str, StringConstraints(min_length=1, max_length=300)]
_Value = Annotated[str, StringConstraints(max_length=MAX_VALUE)]


class CorrectRequest(BaseModel):
    """New values for fields of the mapped request, by path, and why."""

    model_config = ConfigDict(extra="forbid")

    changes: dict[_Path, _Value] = Field(min_length=1, max_length=MAX_CHANGES, examples=[
        {"voucher.lines[1].account": "6602.01"}])
    """Path (as ``explain`` lists it) → new value as text: ``"1280.50"``, ``"2026-11-30"``, ``"6602.01"``."""
    note: str = Field(min_length=1, max_length=MAX_NOTE, examples=["培训费科目未启用，改记办公费"])


@router.get("/dead-letters/{dead_id}/explain", summary="A dead letter explained: document, step, ERP message, fields")
def explain_dead_letter(request: Request, dead_id: DeadId) -> dict[str, Any]:
    """Which document, which flow step, what the ERP said, and the mapped request as editable fields."""
    result: dict[str, Any] = to_jsonable(hub_of(request).deadletters.explain(dead_id))
    return result


@router.post("/dead-letters/{dead_id}/correct", summary="Correct a dead effect's mapped values and re-push it")
def correct_dead_letter(request: Request, dead_id: DeadId, body: CorrectRequest) -> dict[str, Any]:
    """Change the fields, check types and balance, log old and new, and replay under the same key."""
    dl = hub_of(request).deadletters
    dl.correct(dead_id, body.changes, note=body.note, actor=actor_of(request))
    return {"corrected": dead_id, "replayed": [dead_id]}
