"""The flows in force, their version history, and hot reload.

A run records the version (the digest of the flow file's text) it started with and finishes on it: a new
version applies to new runs only. Every version the hub has loaded is kept in ``flow_versions`` with its
text, so a worker that never saw an older version — or a restarted one — can still compile it for the runs
that began on it. Reloading is all or nothing: a directory with one bad file keeps the flows in force and
says what is wrong.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, select

from huiliu.flows import Flow, compile_flow
from huiliu.model import Clock
from huiliu.store import Database
from huiliu.store.schema import flow_versions
from huiliu.store.statements import insert_if_absent

__all__ = ["FlowCatalog", "Reload"]

log = logging.getLogger("huiliu.flows")


@dataclass(frozen=True, slots=True)
class Reload:
    """What a reload changed: flow ids whose version is new, added, or gone."""

    changed: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()


class FlowCatalog:
    """The flows in force (``current``, one list shared with whoever matches events) and older versions.

    Args:
        db: where the version history is kept.
        clock: time of loading.
        load: loads the flows in force from their directory (raises on any bad file).
        signature: a cheap fingerprint of the directory (names, sizes, times) to notice changes.
    """

    def __init__(self, db: Database, clock: Clock, load: Callable[[], list[Flow]],
                 signature: Callable[[], object]) -> None:
        self.db = db
        self.clock = clock
        self._load = load
        self._signature = signature
        self._seen: object = None
        self.current: list[Flow] = []
        self._versions: dict[tuple[str, str], Flow] = {}

    def install(self, flows: Collection[Flow]) -> Reload:
        """Put ``flows`` in force (in place, so every holder of :attr:`current` sees them) and record them."""
        before = {f.id: f.digest for f in self.current}
        after = {f.id: f.digest for f in flows}
        with self.db.begin() as conn:
            for flow in flows:
                insert_if_absent(conn, flow_versions, {
                    "flow_id": flow.id, "digest": flow.digest, "version": flow.version, "source": str(flow.source),
                    "text": flow.text, "loaded_at": self.clock.now()})
        for flow in flows:
            self._versions[(flow.id, flow.digest)] = flow
        self.current[:] = list(flows)
        return Reload(changed=tuple(i for i in after if i in before and before[i] != after[i]),
                      added=tuple(i for i in after if i not in before),
                      removed=tuple(i for i in before if i not in after))

    def load(self) -> Reload:
        """Load the directory and put it in force; raises on a bad file (nothing changes then)."""
        self._seen = self._signature()
        return self.install(self._load())

    def reload_if_changed(self) -> Reload | None:
        """Reload when the directory changed since the last look; ``None`` when it did not.

        A directory that no longer loads is logged and the flows in force stay.
        """
        seen = self._signature()
        if seen == self._seen:
            return None
        self._seen = seen
        try:
            result = self.install(self._load())
        except Exception as exc:  # a bad edit must not stop the hub: the old flows keep running
            log.error("flow files not reloaded, the flows in force stay: %s", exc)
            return None
        if result.changed or result.added or result.removed:
            log.info("flows reloaded: changed %s, added %s, removed %s", result.changed, result.added,
                     result.removed)
        return result

    def get(self, conn: Connection, flow_id: str, digest: str | None) -> Flow | None:
        """The flow ``flow_id`` at version ``digest`` (``None``: the one in force)."""
        if digest is None:
            return next((f for f in self.current if f.id == flow_id), None)
        found = self._versions.get((flow_id, digest))
        if found is not None:
            return found
        row = conn.execute(select(flow_versions.c.text, flow_versions.c.source).where(
            flow_versions.c.flow_id == flow_id, flow_versions.c.digest == digest)).first()
        if row is None:
            return None
        flow = compile_flow(row.text, Path(row.source))
        self._versions[(flow_id, digest)] = flow
        return flow
