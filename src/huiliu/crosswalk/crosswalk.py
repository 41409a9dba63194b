"""Links between the hub's golden ids and the native ids of each system."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, select

from huiliu.errors import ProcessingError
from huiliu.i18n import t
from huiliu.model import Clock, SystemClock
from huiliu.store.schema import crosswalk
from huiliu.store.statements import insert_if_absent

__all__ = ["Crosswalk", "CrosswalkConflict", "Link", "golden_id_for"]

_BY_NATIVE = select(crosswalk).where(
    crosswalk.c.system == bindparam("system"), crosswalk.c.native_type == bindparam("native_type"),
    crosswalk.c.native_id == bindparam("native_id"))
_GOLDEN_OF = select(crosswalk.c.golden_id).where(
    crosswalk.c.system == bindparam("system"), crosswalk.c.native_type == bindparam("native_type"),
    crosswalk.c.native_id == bindparam("native_id"))
_BY_GOLDEN = select(crosswalk.c.native_id).where(
    crosswalk.c.entity == bindparam("entity"), crosswalk.c.golden_id == bindparam("golden_id"),
    crosswalk.c.system == bindparam("system"), crosswalk.c.native_type == bindparam("native_type"))
_NAMESPACE = uuid.UUID("0b7f3d5e-2c1a-4e8b-9f60-3a2d1c4b5e6f")


def golden_id_for(entity: str, system: str, native_id: str) -> str:
    """The golden id of an object first seen in ``system`` (deterministic, so replays agree)."""
    return str(uuid.uuid5(_NAMESPACE, f"{entity}\x1f{system}\x1f{native_id}"))


class CrosswalkConflict(ProcessingError):
    """A native id is already linked to another golden id."""


@dataclass(frozen=True, slots=True)
class Link:
    """One system's id of one business object."""

    entity: str
    golden_id: str
    system: str
    native_type: str
    native_id: str
    native_number: str | None


class Crosswalk:
    """Reads and writes links in the caller's transaction."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()

    def link(self, conn: Connection, *, entity: str, golden_id: str, system: str, native_type: str,
             native_id: str, native_number: str | None = None) -> Link:
        """Link a native id to a golden id; linking the same pair again is a no-op.

        Raises:
            CrosswalkConflict: the native id, or this golden id in this system, is linked elsewhere.
        """
        if insert_if_absent(conn, crosswalk, {
                "entity": entity, "golden_id": golden_id, "system": system, "native_type": native_type,
                "native_id": native_id, "native_number": native_number, "created_at": self.clock.now()}):
            return Link(entity, golden_id, system, native_type, native_id, native_number)
        existing = conn.execute(_BY_NATIVE, {"system": system, "native_type": native_type,
                                             "native_id": native_id}).first()
        if existing is not None:
            if existing.golden_id != golden_id or existing.entity != entity:
                raise CrosswalkConflict(
                    t(f"{system} 的 {native_type} {native_id} 已关联到另一个对象 {existing.golden_id}",
                      f"{system} {native_type} {native_id} is already linked to {existing.golden_id}"),
                    where=f"crosswalk.{entity}",
                    fix=t("检查是否有两个审批生成了同一张单据", "check whether two approvals made one document"))
            return Link(entity, golden_id, system, native_type, native_id, existing.native_number)
        other = conn.execute(_BY_GOLDEN, {"entity": entity, "golden_id": golden_id, "system": system,
                                          "native_type": native_type}).scalar()
        raise CrosswalkConflict(
            t(f"对象 {golden_id} 在 {system} 中已有 {native_type} {other}，不能再关联 {native_id}",
              f"{golden_id} already has {system} {native_type} {other}; cannot link {native_id}"),
            where=f"crosswalk.{entity}",
            fix=t("在 ERP 中核对是否生成了重复单据", "check the ERP for a duplicate document"))

    def golden_id(self, conn: Connection, *, system: str, native_type: str, native_id: str) -> str | None:
        """The golden id linked to a native id, if any."""
        value = conn.execute(_GOLDEN_OF, {"system": system, "native_type": native_type,
                                          "native_id": native_id}).scalar()
        return None if value is None else str(value)

    def links(self, conn: Connection, *, entity: str, golden_id: str) -> list[Link]:
        """Every system's id of one object."""
        rows = conn.execute(select(crosswalk).where(
            crosswalk.c.entity == entity, crosswalk.c.golden_id == golden_id).order_by(crosswalk.c.id)).all()
        return [Link(r.entity, r.golden_id, r.system, r.native_type, r.native_id, r.native_number)
                for r in rows]
