"""Actions the hub performs itself, for flows: alerts, directory sync, re-drives, and reconciliation (对账).

``hub.alert.raise``        an alert (预警) as an event ``hub.alert.raised``: logged, and any flow on that
                           event runs (e.g. a DingTalk message to the project owner); once per ``key``
``hub.directory.sync``     read an OA's directory into the hub's departments and people (组织同步)
``hub.directory.read``     the hub's golden directory (departments and employees, leavers too), for an ERP
``hub.flow.redrive``       re-drive a flow over a time range (idempotent): repairs what a reconciliation found
``hub.reconcile.vouchers`` approvals a flow should have posted on a day vs the vouchers the ERP holds

They go through the outbox like any call, so a flow's scheduled night job is traced and retried like the
rest; each is idempotent (an alert by its key, a re-drive by design, a reconciliation and a directory read
only read).
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Row, select

from huiliu.bus import Envelope, reference_for
from huiliu.connectors import ActionContext, ActionRegistry
from huiliu.errors import MappingError
from huiliu.flows import Flow, matches
from huiliu.i18n import t
from huiliu.service.handlers import Parts, store_and_start
from huiliu.service.runs import Redrive, initial_context, run_id_for
from huiliu.store import loads
from huiliu.store.codec import to_jsonable
from huiliu.store.schema import departments, employees, inbox, outbox, runs

__all__ = ["ALERT_EVENT", "ALERT_RAISE", "DIRECTORY_READ", "DIRECTORY_SYNC", "FLOW_REDRIVE", "HUB_ACTIONS",
           "RECONCILE_VOUCHERS", "HubActions", "HubServices", "day_approvals", "loaded_flow", "request_day",
           "request_text"]

ALERT_RAISE = "hub.alert.raise"
DIRECTORY_SYNC = "hub.directory.sync"
DIRECTORY_READ = "hub.directory.read"
FLOW_REDRIVE = "hub.flow.redrive"
RECONCILE_VOUCHERS = "hub.reconcile.vouchers"
HUB_ACTIONS = frozenset({ALERT_RAISE, DIRECTORY_READ, DIRECTORY_SYNC, FLOW_REDRIVE, RECONCILE_VOUCHERS})
ALERT_EVENT = "hub.alert.raised"
"""The event an alert is: a flow with ``trigger: {event: hub.alert.raised}`` acts on alerts."""
LEVELS = ("info", "warning", "critical")


class HubServices(Protocol):
    """What the hub actions use of the hub."""

    flows: list[Flow]
    actions: ActionRegistry

    @property
    def sources(self) -> Mapping[str, Any]:
        """The configured OAs by name."""

    def parts(self) -> Parts:
        """The handlers' parts."""

    def redrive(self, flow_id: str, *, since: datetime, until: datetime) -> Redrive:
        """Re-drive a flow."""

    def sync_directory(self, system: str) -> Awaitable[Any]:
        """Sync an OA's directory."""


def request_text(request: Mapping[str, Any], name: str, action: str, *, default: str | None = None) -> str:
    """``request[name]`` (else ``default``) stripped, which must be a non-empty text.

    Raises:
        MappingError: it is missing, empty or not a text; ``where`` is ``<action>.<name>``.
    """
    value = request.get(name, default)
    if not isinstance(value, str) or not value.strip():
        raise MappingError(t(f"请求缺少 `{name}`（文本）", f"the request needs `{name}` (text)"),
                           where=f"{action}.{name}", fix=t(f"在 call 步骤的 with 中写出 {name}",
                                                            f"give {name} in the call step's with"))
    return value.strip()


def request_day(request: Mapping[str, Any], action: str) -> date:
    """The request's ``day`` (``YYYY-MM-DD``, anything after the first ten characters ignored).

    Raises:
        MappingError: it is missing or not a date.
    """
    raw = request_text(request, "day", action)
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        raise MappingError(t(f"日期无效：{raw}", f"not a date: {raw}"), where=f"{action}.day",
                           fix=t("写成 YYYY-MM-DD", "write YYYY-MM-DD")) from None


def loaded_flow(flows: Sequence[Flow], flow_id: str, action: str) -> Flow:
    """The loaded flow ``flow_id``.

    Raises:
        MappingError: no such flow is loaded; the fix lists those that are.
    """
    flow = next((f for f in flows if f.id == flow_id), None)
    if flow is None:
        known = ", ".join(f.id for f in flows)
        raise MappingError(t(f"流程 {flow_id} 未加载", f"flow {flow_id} is not loaded"),
                           where=f"{action}.flow", fix=t(f"已加载：{known}", f"loaded: {known}"))
    return flow


def day_approvals(conn: Connection, flow: Flow, start: datetime,
                  end: datetime) -> Iterator[tuple[Row[Any], dict[str, Any]]]:
    """The inbox rows ``flow`` selects that occurred in ``[start, end)``, with their run context.

    One per business key (its first event), oldest first: what a day's reconciliation or merge covers.
    """
    seen: set[str] = set()
    rows = conn.execute(select(inbox).where(inbox.c.type.in_(flow.trigger.events),
                                            inbox.c.occurred_at >= start, inbox.c.occurred_at < end)
                        .order_by(inbox.c.occurred_at)).all()
    for row in rows:
        if row.business_key in seen:
            continue
        context = initial_context(envelope_id=row.id, event_type=row.type, source=row.source,
                                  business_key=row.business_key, payload=loads(row.payload), received_at=None)
        if matches(flow, row.type, context):
            seen.add(row.business_key)
            yield row, context


def _when(request: Mapping[str, Any], name: str, action: str) -> datetime:
    raw = request_text(request, name, action)
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise MappingError(t(f"`{name}` 不是 ISO 8601 时间：{raw}", f"`{name}` is not an ISO 8601 time: {raw}"),
                           where=f"{action}.{name}", fix=t("例如 2026-11-25T00:00:00+08:00",
                                                            "e.g. 2026-11-25T00:00:00+08:00")) from None
    if value.tzinfo is None:
        raise MappingError(t(f"`{name}` 没有时区：{raw}", f"`{name}` has no time zone: {raw}"),
                           where=f"{action}.{name}", fix=t("写上时区，例如 +08:00", "add the zone, e.g. +08:00"))
    return value


class HubActions:
    """The hub's own actions; :meth:`register` puts them in the hub's registry."""

    def __init__(self, hub: HubServices) -> None:
        self.hub = hub

    def register(self, registry: ActionRegistry) -> None:
        """Register every hub action."""
        registry.register(ALERT_RAISE, self.alert)
        registry.register(DIRECTORY_SYNC, self.directory_sync)
        registry.register(DIRECTORY_READ, self.directory_read)
        registry.register(FLOW_REDRIVE, self.redrive)
        registry.register(RECONCILE_VOUCHERS, self.reconcile)

    async def alert(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Raise an alert once per ``key``: ``{key, kind, level, title, detail}``."""
        key = request_text(request, "key", ALERT_RAISE)
        kind = request_text(request, "kind", ALERT_RAISE)
        level = request_text(request, "level", ALERT_RAISE, default="warning")
        if level not in LEVELS:
            raise MappingError(t(f"预警级别 `{level}` 无效", f"alert level `{level}` is not valid"),
                               where=f"{ALERT_RAISE}.level", fix=t(f"可用：{', '.join(LEVELS)}",
                                                                   f"use one of {', '.join(LEVELS)}"))
        title = request_text(request, "title", ALERT_RAISE)
        detail = to_jsonable(request.get("detail") or {})
        parts = self.hub.parts()
        now = parts.clock.now()
        document = {"key": key, "kind": kind, "level": level, "title": title, "detail": detail}
        envelope = Envelope(source="hub", type=ALERT_EVENT, native_id=key, version=kind, business_key=key,
                            payload={"document": document}, occurred_at=now)
        with parts.db.begin() as conn:
            new = store_and_start(parts, self.hub.flows, conn, envelope, now.isoformat())
            if new:
                parts.eventlog.record(conn, case_id=key, activity="alert.raised", system="hub", outcome=level,
                                      detail=document)
        return {"alert": key, "new": new, "level": level}

    async def directory_sync(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Sync ``{oa}``'s directory (``"*"``: every configured OA); per OA, the counts of what changed."""
        oa = request_text(request, "oa", DIRECTORY_SYNC)
        systems = list(self.hub.sources) if oa == "*" else [oa]
        return {"systems": {system: to_jsonable(await self.hub.sync_directory(system)) for system in systems}}

    async def directory_read(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """The hub's golden directory, whole: what an ERP's ``<erp>.org.sync`` takes.

        Result: ``{"departments": [{number, name, parent_number, active}], "employees": [{number, name,
        department_number, active, erp_user?}]}``, by number; inactive ones too (a department removed in the
        OA, a leaver), so the ERP can disable them. ``department_number`` is ``null`` for someone the OA
        lists in no department; ``erp_user`` only where one is linked.

        Always the whole directory: the golden tables keep no change time (``departments`` none at all,
        ``employees`` only ``left_at``), so a ``since`` is refused rather than silently ignored. The ERP side
        compares before it writes, so unchanged records cost a read, not a save.
        """
        if "since" in request:
            raise MappingError(t("hub.directory.read 不支持 since：汇流的部门与员工表不记录变更时间，"
                                 "总是返回整个通讯录",
                                 "hub.directory.read takes no since: the hub's department and employee tables keep "
                                 "no change time, so it always returns the whole directory"),
                               where=f"{DIRECTORY_READ}.since",
                               fix=t("去掉 since；ERP 一侧只写有变化的记录", "leave since out; the ERP side only "
                                     "writes what changed"))
        parts = self.hub.parts()
        with parts.db.read() as conn:
            depts = conn.execute(select(departments.c.number, departments.c.name, departments.c.parent_number,
                                        departments.c.active).order_by(departments.c.number)).all()
            people = conn.execute(select(employees.c.number, employees.c.name, employees.c.department_number,
                                         employees.c.active, employees.c.erp_user)
                                  .order_by(employees.c.number)).all()
        return {
            "departments": [{"number": d.number, "name": d.name, "parent_number": d.parent_number or None,
                             "active": bool(d.active)} for d in depts],
            "employees": [{"number": e.number, "name": e.name, "department_number": e.department_number or None,
                           "active": bool(e.active), **({"erp_user": e.erp_user} if e.erp_user else {})}
                          for e in people],
        }

    async def redrive(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Re-drive ``{flow, since, until}``; how many runs were started and resumed."""
        report = self.hub.redrive(request_text(request, "flow", FLOW_REDRIVE),
                                  since=_when(request, "since", FLOW_REDRIVE),
                                  until=_when(request, "until", FLOW_REDRIVE))
        return {"started": len(report.started), "resumed": len(report.resumed), "done": report.done,
                "running": report.running}

    async def reconcile(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Compare a day's approvals a flow should have posted with the vouchers the ERP holds.

        Request: ``{flow, day: "YYYY-MM-DD", step: "post_voucher", read: "kingdee.voucher.read",
        timezone: "Asia/Shanghai"}``. The approvals are those the flow's trigger selects that finished on
        ``day`` (local time); each should have the voucher its ``step`` made, under the hub reference.

        Result: ``{day, flow, checked, matched, differences: [{business_key, business_id, kind, expected,
        found, number, run_status}], by_kind, repair: {since, until} | null}``. Kinds: ``not_posted`` (no
        voucher was made: the run failed or never ran), ``missing_in_erp`` (made, then gone from the ERP),
        ``amount_mismatch`` (the ERP's total differs from what the hub sent). ``repair`` is the received-time
        range a ``hub.flow.redrive`` must cover to post the ``not_posted`` ones.
        """
        flow_id = request_text(request, "flow", RECONCILE_VOUCHERS)
        step = request_text(request, "step", RECONCILE_VOUCHERS, default="post_voucher")
        read = request_text(request, "read", RECONCILE_VOUCHERS, default="kingdee.voucher.read")
        zone = ZoneInfo(request_text(request, "timezone", RECONCILE_VOUCHERS, default="Asia/Shanghai"))
        day = request_day(request, RECONCILE_VOUCHERS)
        flow = loaded_flow(self.hub.flows, flow_id, RECONCILE_VOUCHERS)
        if read not in self.hub.actions.names():
            readers = ", ".join(sorted(a for a in self.hub.actions.names() if a.endswith(".voucher.read"))) or "—"
            raise MappingError(t(f"读取凭证的动作 {read} 未配置",
                                 f"the voucher-reading action {read} is not configured"),
                               where=f"{RECONCILE_VOUCHERS}.read",
                               fix=t(f"可用：{readers}", f"available: {readers}"))
        start = datetime(day.year, day.month, day.day, tzinfo=zone)
        claims = self._claims(flow, step, start, start + timedelta(days=1))
        references = [c["reference"] for c in claims if c["posted"]]
        found: Mapping[str, Any] = {}
        if references:
            reply = await self.hub.actions.get(read)({"references": references},
                                                     ActionContext(f"reconcile:{flow_id}:{day}", 1, ""))
            found = reply.get("vouchers") or {}
        differences = []
        for claim in claims:
            kind, voucher = None, found.get(claim["reference"])
            if not claim["posted"]:
                kind = "not_posted"
            elif voucher is None:
                kind = "missing_in_erp"
            elif _decimal(voucher.get("debit")) != claim["expected"]:
                kind = "amount_mismatch"
            if kind is not None:
                differences.append({"business_key": claim["business_key"], "business_id": claim["business_id"],
                                    "kind": kind, "expected": None if claim["expected"] is None
                                    else str(claim["expected"]), "found": voucher and voucher.get("debit"),
                                    "number": voucher and voucher.get("number"), "run_status": claim["run_status"]})
        by_kind: dict[str, int] = {}
        for difference in differences:
            by_kind[difference["kind"]] = by_kind.get(difference["kind"], 0) + 1
        unposted = [c["received_at"] for c in claims if not c["posted"]]
        repair = ({"since": min(unposted).isoformat(), "until": (max(unposted) + timedelta(seconds=1)).isoformat()}
                  if unposted else None)
        report = {"day": day.isoformat(), "flow": flow_id, "checked": len(claims),
                  "matched": len(claims) - len(differences), "differences": differences, "by_kind": by_kind,
                  "repair": repair}
        parts = self.hub.parts()
        with parts.db.begin() as conn:
            parts.eventlog.record(conn, case_id=f"reconcile:{flow_id}:{day}", activity="reconcile.reported",
                                  system="hub", outcome="differences" if differences else "matched",
                                  detail={k: v for k, v in report.items() if k != "differences"})
        return report

    def _claims(self, flow: Flow, step: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """The approvals ``flow`` selects that finished in ``[start, end)``, each with what the hub posted."""
        parts = self.hub.parts()
        claims: list[dict[str, Any]] = []
        with parts.db.read() as conn:
            for row, context in day_approvals(conn, flow, start, end):
                key = f"{flow.id}:{row.business_key}:{step}"
                entry = conn.execute(select(outbox.c.status, outbox.c.request).where(
                    outbox.c.idempotency_key == key)).first()
                status = conn.execute(select(runs.c.status).where(
                    runs.c.id == run_id_for(flow.id, row.id))).scalar()
                posted = entry is not None and entry.status == "done"
                claims.append({
                    "business_key": row.business_key, "business_id": context["reference"],
                    "reference": reference_for(key), "posted": posted, "run_status": status,
                    "received_at": row.received_at,
                    "expected": _debit(loads(entry.request)) if entry is not None else None})
        return claims


def _decimal(value: object) -> Decimal | None:
    try:
        return Decimal(str(value)) if value is not None else None
    except InvalidOperation:
        return None


def _debit(request: Mapping[str, Any]) -> Decimal | None:
    """The debit total of the voucher a create request carried (``{"voucher": {"lines": […]}}``)."""
    voucher = request.get("voucher")
    lines: Sequence[Any] = voucher.get("lines") or [] if isinstance(voucher, Mapping) else []
    total = Decimal(0)
    for line in lines:
        if isinstance(line, Mapping) and line.get("direction") == "debit":
            amount = line.get("amount")  # Money as JSON ({"amount", "currency"}) or a bare amount
            total += _decimal(amount.get("amount") if isinstance(amount, Mapping) else amount) or Decimal(0)
    return total if lines else None


