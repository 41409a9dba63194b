"""Approval instances as any OA system has them: a form, an originator, tasks and a final status."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from huiliu.model.ids import InstanceId, SystemName
from huiliu.model.time import aware

__all__ = ["ApprovalInstance", "ApprovalStatus", "ApprovalTask", "Attachment"]


class ApprovalStatus(enum.StrEnum):
    """Where an approval stands, whatever the vendor calls it."""

    RUNNING = "running"
    APPROVED = "approved"
    REFUSED = "refused"
    REVOKED = "revoked"
    REVERTED = "reverted"
    """Approved, then withdrawn (WeCom 通过后撤销, Feishu ``REVERTED``): what was posted must be reversed."""


@dataclass(frozen=True, slots=True)
class ApprovalTask:
    """One approver's task in an instance."""

    task_id: str
    user_id: str
    status: str
    result: str | None = None


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file attached to an approval (an invoice image, a PDF): its name and where the OA keeps it.

    Attributes:
        field: the form field it was attached in.
        name: the file name (the OA's file id when the OA gives no name).
        ref: a URL, or ``<system>:<kind>/<id>`` for a file the OA's own API serves. The hub keeps the link
            with the document; downloading it into the ERP needs vendor APIs not in the verified contracts.
    """

    field: str
    name: str
    ref: str


@dataclass(frozen=True, slots=True)
class ApprovalInstance:
    """An approval instance in canonical form.

    ``form`` holds the form fields by their label; a table (明细) field is a list of row mappings.
    """

    system: SystemName
    instance_id: InstanceId
    process_code: str
    title: str
    status: ApprovalStatus
    originator_user_id: str
    originator_dept_id: str | None
    business_id: str | None
    created_at: datetime
    finished_at: datetime | None
    form: Mapping[str, Any]
    tasks: tuple[ApprovalTask, ...] = field(default=())
    attachments: tuple[Attachment, ...] = field(default=())

    def __post_init__(self) -> None:
        aware(self.created_at, "created_at")
        if self.finished_at is not None:
            aware(self.finished_at, "finished_at")

    @property
    def version(self) -> str:
        """The part of the identity that changes when the instance moves on (for inbox dedupe)."""
        return self.status.value
