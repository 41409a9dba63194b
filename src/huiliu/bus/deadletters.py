"""Dead letters: look at them, replay them after a fix, or discard them with a reason.

A replay publishes the payload again on its topic, in one transaction with the mark on the dead letter
and an event-log entry, so a replay is never lost or doubled. The payload gains ``prior_attempts``:
handlers count those attempts too, so an effect that may have reached the vendor is looked up before it
is made again (DESIGN.md, invariant 3).

For finance as much as for IT: :meth:`DeadLetters.explain` says which document, which flow step, and
what the ERP said, in both languages (:mod:`huiliu.bus.deadletterview`); :meth:`DeadLetters.correct`
changes the mapped values of a dead effect (:mod:`huiliu.bus.correction`), logs old and new, and
re-pushes it under the same idempotency key and reference, so it can never make a second document.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Connection, Select, and_, bindparam, func, select, update

from huiliu.bus.correction import apply_changes
from huiliu.bus.deadletterview import (
    DeadLetterView,
    DocumentView,
    FlowView,
    NamedField,
    VendorFields,
    key_label,
    named_field,
    request_fields,
)
from huiliu.bus.eventlog import EventLog
from huiliu.bus.outbox import Outbox, OutboxEntry
from huiliu.bus.transports.db import DbTransport
from huiliu.errors import HuiliuError, NotFound
from huiliu.i18n import Text, t
from huiliu.model import Clock, SystemClock
from huiliu.store import Database, dumps, loads
from huiliu.store.schema import crosswalk, dead_letters, employees, inbox, org_users, outbox, runs

__all__ = ["Cause", "DeadLetter", "DeadLetterFilter", "DeadLetters"]

_MARK = update(dead_letters).where(dead_letters.c.id == bindparam("d_id"))
EFFECT = "effect"
"""The topic of an external call from the outbox (payload ``{outbox_id, run_id}``)."""
RUN = "flow.run"
"""The topic of a run's re-drive (payload ``{run_id}``)."""
MAX_NOTE = 1000
"""Longest note on a correction, in characters."""
_STEP_NAMED = re.compile(r"步骤 `([^`]+)`")
_AMOUNT_FIELDS = ("金额", "合计", "总金额", "报销金额", "付款金额", "合同金额", "amount", "total")
_CURRENCY_FIELDS = ("币种", "币别", "currency")
_SYSTEM_NAMES = {"kingdee": t("金蝶", "Kingdee"), "yonyou": t("用友", "Yonyou"), "sap": t("SAP", "SAP"),
                 "odoo": t("Odoo", "Odoo"), "erpnext": t("ERPNext", "ERPNext"), "tryton": t("Tryton", "Tryton"),
                 "dingtalk": t("钉钉", "DingTalk"), "wecom": t("企业微信", "WeCom"), "feishu": t("飞书", "Feishu")}


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One dead letter."""

    id: int
    topic: str
    key: str
    payload: dict[str, Any]
    reason: str
    last_error: str
    attempts: int
    attempt_log: list[dict[str, Any]]
    created_at: datetime
    replayed_at: datetime | None
    replays: int
    discarded_at: datetime | None
    note: str | None
    detail: dict[str, Any] | None = None
    """The structured error (:func:`huiliu.bus.diagnose`); ``None`` for dead letters older than it."""

    @property
    def open(self) -> bool:
        """Neither replayed since it died nor discarded."""
        return self.discarded_at is None and self.replayed_at is None


@dataclass(frozen=True, slots=True)
class Cause:
    """Open dead letters that failed the same way (:meth:`DeadLetters.causes`).

    Attributes:
        flow: the flow of their runs; step, action: the call step and its action (for an effect).
        reason: the dead letters' reason; system, field: the system that refused and the field it named.
        label: the field's name for people (科目, 借方金额 …), where the connector's table knows it.
        count: how many; example: the newest one's id; message: its ERP message (or error) as written.
    """

    flow: str | None
    step: str | None
    action: str | None
    reason: str
    system: str | None
    field: str | None
    label: Text | None
    count: int
    example: int
    message: str


@dataclass(frozen=True, slots=True)
class DeadLetterFilter:
    """Which dead letters: by id, reason, business key and time; only open ones unless told otherwise."""

    ids: Sequence[int] = ()
    reason: str | None = None
    key: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    include_closed: bool = False

    def apply(self, query: Select[Any]) -> Select[Any]:
        """Add the conditions to a query over ``dead_letters``."""
        if self.ids:
            query = query.where(dead_letters.c.id.in_(list(self.ids)))
        if self.reason:
            query = query.where(dead_letters.c.reason == self.reason)
        if self.key:
            query = query.where(dead_letters.c.key == self.key)
        if self.since:
            query = query.where(dead_letters.c.created_at >= self.since)
        if self.until:
            query = query.where(dead_letters.c.created_at < self.until)
        if not self.include_closed:
            query = query.where(dead_letters.c.discarded_at.is_(None), dead_letters.c.replayed_at.is_(None))
        return query


class DeadLetters:
    """List, show, replay and discard dead letters."""

    def __init__(self, db: Database, transport: DbTransport, eventlog: EventLog, clock: Clock | None = None, *,
                 vendor_fields: VendorFields | None = None) -> None:
        """Args: ``vendor_fields``: per action, the vendor's field names → request paths (for ``explain``)."""
        self.db = db
        self.transport = transport
        self.eventlog = eventlog
        self.clock = clock or SystemClock()
        self.vendor_fields: VendorFields = vendor_fields or {}
        self._outbox = Outbox(self.clock)

    def find(self, where: DeadLetterFilter | None = None, *, limit: int = 100, offset: int = 0) -> list[DeadLetter]:
        """Dead letters, newest first."""
        query = (where or DeadLetterFilter()).apply(select(dead_letters))
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(dead_letters.c.id.desc()).limit(limit).offset(offset)).all()
        return [_row(r) for r in rows]

    def counts_by_reason(self) -> dict[str, int]:
        """Open dead letters per reason: the rule that fails most shows first."""
        query = DeadLetterFilter().apply(select(dead_letters.c.reason, func.count()).group_by(dead_letters.c.reason))
        with self.db.read() as conn:
            return {str(reason): int(n) for reason, n in conn.execute(query).all()}

    def causes(self, *, limit: int = 10, scan: int = 5000) -> list[Cause]:
        """Open dead letters grouped by how they failed, most first, each with one to look at.

        The same flow, step, reason, system and field named by the ERP make one cause: the rule or mapping
        that fails most comes first. Reads the newest ``scan`` open ones (there are rarely more: each is
        work a person must see to).
        """
        with self.db.read() as conn:
            rows = conn.execute(DeadLetterFilter().apply(
                select(dead_letters.c.id, dead_letters.c.payload, dead_letters.c.reason, dead_letters.c.last_error,
                       dead_letters.c.detail)).order_by(dead_letters.c.id.desc()).limit(scan)).all()
            decoded = [(r, loads(r.payload), loads(r.detail) if r.detail else {}) for r in rows]
            effects = {e.id: e for e in conn.execute(select(outbox.c.id, outbox.c.action, outbox.c.step_id).where(
                outbox.c.id.in_([str(p["outbox_id"]) for _, p, _ in decoded if "outbox_id" in p])))}
            flows = dict(conn.execute(select(runs.c.id, runs.c.flow_id).where(
                runs.c.id.in_([str(p["run_id"]) for _, p, _ in decoded if "run_id" in p]))).all())
        groups: dict[tuple[str | None, ...], list[tuple[Any, dict[str, Any], dict[str, Any]]]] = {}
        for row, payload, detail in decoded:
            effect = effects.get(str(payload.get("outbox_id")))
            action = effect.action if effect is not None else None
            key = (flows.get(str(payload.get("run_id"))), effect.step_id if effect is not None else None, action,
                   row.reason, detail.get("system"), detail.get("field"))
            groups.setdefault(key, []).append((row, payload, detail))
        found = []
        for (flow, step, action, reason, system, field), members in groups.items():
            newest, _, detail = members[0]
            template = self.vendor_fields.get(action or "", {}).get(str(field)) if field else None
            label = key_label(template.rsplit(".", 1)[-1]) if template else None
            message = str(detail.get("vendor_message") or newest.last_error.split("；", 1)[0])
            found.append(Cause(flow, step, action, str(reason), system, field, label, len(members), newest.id,
                               message[:300]))
        return sorted(found, key=lambda c: (-c.count, -c.example))[:limit]

    def get(self, dead_id: int) -> DeadLetter:
        """One dead letter, or a clear error."""
        with self.db.read() as conn:
            row = conn.execute(select(dead_letters).where(dead_letters.c.id == dead_id)).first()
        if row is None:
            raise _not_found(dead_id)
        return _row(row)

    def replay(self, where: DeadLetterFilter, *, actor: str = "cli") -> list[int]:
        """Publish the matching open dead letters again; returns their ids.

        Raises:
            HuiliuError: an id given explicitly does not exist or is already replayed or discarded.
        """
        replayed: list[int] = []
        with self.db.begin() as conn:
            rows = [_row(r) for r in conn.execute(where.apply(select(dead_letters)).order_by(dead_letters.c.id))]
            self._check_explicit(conn, where, rows)
            for dead in rows:
                self._republish(conn, dead, actor=actor)
                replayed.append(dead.id)
        return replayed

    def _republish(self, conn: Connection, dead: DeadLetter, *, actor: str, note: str | None = None) -> None:
        """Publish one dead letter again, mark it replayed, and log it, in the caller's transaction."""
        payload = {**dead.payload, "prior_attempts": int(dead.payload.get("prior_attempts", 0)) + dead.attempts,
                   "replayed_from": dead.id}
        self.transport.publish(conn, dead.topic, dead.key, payload)
        values: dict[str, Any] = {"d_id": dead.id, "replayed_at": self.clock.now(), "replays": dead.replays + 1}
        if note is not None:
            values["note"] = note
        conn.execute(_MARK, values)
        self.eventlog.record(conn, case_id=dead.key, activity="deadletter.replayed", system="hub", actor=actor,
                             detail={"dead_letter": dead.id, "topic": dead.topic, "reason": dead.reason})

    def discard(self, where: DeadLetterFilter, *, note: str, actor: str = "cli") -> list[int]:
        """Close the matching open dead letters without replaying them; ``note`` says why (required)."""
        if not note.strip():
            raise HuiliuError(t("丢弃死信必须写明原因", "discarding a dead letter needs a reason"),
                              where="note", fix=t("例如：已在 ERP 手工录入", "e.g. entered by hand in the ERP"))
        done: list[int] = []
        with self.db.begin() as conn:
            rows = [_row(r) for r in conn.execute(where.apply(select(dead_letters)).order_by(dead_letters.c.id))]
            self._check_explicit(conn, where, rows)
            now = self.clock.now()
            for dead in rows:
                conn.execute(_MARK, {"d_id": dead.id, "discarded_at": now, "note": note})
                self.eventlog.record(conn, case_id=dead.key, activity="deadletter.discarded", system="hub",
                                     actor=actor, detail={"dead_letter": dead.id, "note": note})
                done.append(dead.id)
        return done

    def explain(self, dead_id: int) -> DeadLetterView:
        """The dead letter with its document, flow step, error and (for an effect) its editable request.

        Raises:
            NotFound: no dead letter ``dead_id``.
        """
        with self.db.read() as conn:
            row = conn.execute(select(dead_letters).where(dead_letters.c.id == dead_id)).first()
            if row is None:
                raise _not_found(dead_id)
            dead = _row(row)
            entry = self._entry(conn, dead)
            run_id = entry.run_id if entry is not None else str(dead.payload.get("run_id") or "") or None
            run = conn.execute(select(runs).where(runs.c.id == run_id)).first() if run_id else None
            envelope = conn.execute(select(inbox).where(inbox.c.id == run.envelope_id)).first() if run else None
            document = _document(conn, dead, run, envelope, entry)
        detail = dead.detail or {"kind": dead.reason, "what": {"zh": dead.last_error, "en": dead.last_error},
                                 "where": None, "fix": None}
        action = entry.action if entry is not None else None
        named = named_field(self.vendor_fields, action, detail, entry.request if entry else None)
        fields = request_fields(entry.request, named.path if named else None) if entry is not None else ()
        status = "discarded" if dead.discarded_at else "replayed" if dead.replayed_at else "open"
        correctable = (status == "open" and dead.topic == EFFECT and entry is not None and entry.status == "failed"
                       and any(f.editable for f in fields))
        step = entry.step_id if entry is not None else _step_named(detail)
        flow = FlowView(run.flow_id if run else None, run.flow_version if run else None, run_id,
                        run.status if run else None, step, action)
        return DeadLetterView(
            dead.id, dead.topic, dead.key, dead.reason, status, dead.created_at, dead.attempts, dead.replays,
            dead.note, _summary(document, detail, named), _next_steps(status, dead.topic, correctable, named),
            document, flow, detail, named, fields, correctable)

    def correct(self, dead_id: int, changes: Mapping[str, str], *, note: str, actor: str) -> int:
        """Correct the mapped request of an open ``effect`` dead letter and re-push it; returns ``dead_id``.

        In one transaction: check every change (:func:`huiliu.bus.correction.apply_changes`), save the
        corrected request in the outbox, log ``deadletter.corrected`` with the old and new values, the
        actor and the note, and replay the dead letter. The outbox entry keeps its idempotency key, so the
        re-push looks the hub's reference up first and adopts a document an earlier attempt made.

        Raises:
            NotFound: no dead letter ``dead_id``.
            HuiliuError: an empty note; the dead letter is closed, not an effect (a run's is fixed in
                master data or the flow, then replayed) or its call already done; a change is refused.
        """
        if not note.strip() or len(note) > MAX_NOTE:
            raise HuiliuError(t(f"修改死信必须写明原因（不超过 {MAX_NOTE} 字）",
                                f"correcting a dead letter needs a note (at most {MAX_NOTE} characters)"),
                              where="note", fix=t("例如：科目 6602.08 未启用，改记 6602.01",
                                                  "e.g. account 6602.08 is not open, book to 6602.01"))
        with self.db.begin() as conn:
            row = conn.execute(select(dead_letters).where(dead_letters.c.id == dead_id).with_for_update()).first()
            if row is None:
                raise _not_found(dead_id)
            dead = _row(row)
            where = f"dead letter {dead_id}"
            if not dead.open:
                raise HuiliuError(t(f"死信 {dead_id} 已处理过（已重放或已丢弃），不能再修改",
                                    f"dead letter {dead_id} is already replayed or discarded and cannot be corrected"),
                                  where=where, fix=t("新的失败会生成新的死信；用 list 查看未处理的死信",
                                                     "a new failure makes a new dead letter; list the open ones"))
            if dead.topic != EFFECT:
                raise HuiliuError(
                    t(f"死信 {dead_id} 是流程运行（{dead.topic}）的失败，没有可修改的推送数据",
                      f"dead letter {dead_id} is a failed run ({dead.topic}): it has no pushed data to correct"),
                    where=where, fix=t("请修正主数据（员工、部门、科目映射）或流程文件后重放该死信，"
                                       "或写明原因后标记为已手工处理",
                                       "fix the master data (employee, department, account mapping) or the flow, "
                                       "then replay it; or mark it handled by hand with a note"))
            entry = self._entry(conn, dead)
            if entry is None or entry.status != "failed":
                raise HuiliuError(t(f"死信 {dead_id} 的推送记录不存在或已完成", f"the call of dead letter {dead_id} "
                                    "is missing or already done"), where=where,
                                  fix=t("直接重放或丢弃该死信", "replay or discard it instead"))
            corrected, done = apply_changes(entry.request, changes)
            conn.execute(update(outbox).where(outbox.c.id == entry.id).values(request=dumps(corrected)))
            self.eventlog.record(conn, case_id=dead.key, activity="deadletter.corrected", system="hub", actor=actor,
                                 run_id=entry.run_id, detail={
                                     "dead_letter": dead.id, "outbox_id": entry.id, "action": entry.action,
                                     "note": note, "changes": [{"path": c.path, "old": c.old, "new": c.new}
                                                               for c in done]})
            self._republish(conn, dead, actor=actor, note=note)
        return dead_id

    def _entry(self, conn: Connection, dead: DeadLetter) -> OutboxEntry | None:
        """The outbox entry of an ``effect`` dead letter."""
        if dead.topic != EFFECT or "outbox_id" not in dead.payload:
            return None
        return self._outbox.get(conn, str(dead.payload["outbox_id"]))

    @staticmethod
    def _check_explicit(conn: Connection, where: DeadLetterFilter, rows: list[DeadLetter]) -> None:
        found = {d.id for d in rows}
        for dead_id in where.ids:
            if dead_id in found:
                continue
            row = conn.execute(select(dead_letters).where(dead_letters.c.id == dead_id)).first()
            if row is None:
                raise _not_found(dead_id)
            raise HuiliuError(
                t(f"死信 {dead_id} 已处理过（已重放或已丢弃）",
                  f"dead letter {dead_id} is already replayed or discarded"),
                where=f"dead letter {dead_id}",
                fix=t("用 list --all 查看；新的失败会生成新的死信",
                      "see list --all; a new failure makes a new dead letter"))


def _not_found(dead_id: int) -> NotFound:
    return NotFound(t(f"死信 {dead_id} 不存在", f"dead letter {dead_id} does not exist"),
                       where=f"dead letter {dead_id}", fix=t("用 list 查看现有死信", "use list to see them"))


def _row(r: Any) -> DeadLetter:
    return DeadLetter(r.id, r.topic, r.key, loads(r.payload), r.reason, r.last_error, r.attempts, loads(r.attempt_log),
                      r.created_at, r.replayed_at, r.replays, r.discarded_at, r.note, loads(r.detail))


def _step_named(detail: Mapping[str, Any]) -> str | None:
    """The flow step a run's error names (「步骤 `voucher` 的字段 …」), if it names one."""
    what = detail.get("what")
    found = _STEP_NAMED.search(str(what.get("zh") if isinstance(what, Mapping) else what or ""))
    return found.group(1) if found else None


def _document(conn: Connection, dead: DeadLetter, run: Any, envelope: Any, entry: OutboxEntry | None) -> DocumentView:
    """The approval (or ERP document) behind the dead letter, from the inbox envelope and the run."""
    payload = loads(envelope.payload) if envelope is not None else {}
    instance = payload.get("instance") if isinstance(payload, Mapping) else None
    instance = instance if isinstance(instance, Mapping) else {}
    raw_form = instance.get("form")
    form: Mapping[str, Any] = raw_form if isinstance(raw_form, Mapping) else {}
    source = str(envelope.source) if envelope is not None else None
    user_id = instance.get("originator_user_id")
    applicant = None
    if run is not None:
        steps = loads(run.context).get("steps") or {}
        employee = steps.get("employee") if isinstance(steps, Mapping) else None
        applicant = employee.get("name") if isinstance(employee, Mapping) else None
    if applicant is None and user_id and source:  # the golden employee the OA user is linked to, or the OA's name
        applicant = conn.execute(select(employees.c.name).join(crosswalk, and_(
            crosswalk.c.golden_id == employees.c.number, crosswalk.c.entity == "employee")).where(
            crosswalk.c.system == source, crosswalk.c.native_type == "user",
            crosswalk.c.native_id == str(user_id))).scalar() or conn.execute(select(org_users.c.name).where(
                org_users.c.system == source, org_users.c.native_id == str(user_id))).scalar()
    amount, currency = _form_amount(form)
    voucher = entry.request.get("voucher") if entry is not None else None
    if amount is None and isinstance(voucher, Mapping):
        amount, currency = _voucher_amount(voucher)
    if currency is None and isinstance(voucher, Mapping) and voucher.get("currency"):
        currency = str(voucher["currency"])
    return DocumentView(
        source, dead.key, _text(instance.get("business_id")), _text(instance.get("title")),
        str(applicant) if applicant else _text(user_id), _text(user_id), amount, currency)


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value is not None and not isinstance(value, bool) else None
    except InvalidOperation:
        return None


def _form_amount(form: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The form's total: a total field, else the sum of 金额 over its table rows (费用明细)."""
    currency = next((str(form[k]) for k in _CURRENCY_FIELDS if form.get(k)), None)
    if currency in ("人民币", "RMB"):
        currency = "CNY"
    for key in _AMOUNT_FIELDS:
        value = _decimal(form.get(key))
        if value is not None:
            return str(value), currency
    for value in form.values():
        if isinstance(value, list) and value and all(isinstance(r, Mapping) for r in value):
            amounts = [_decimal(r.get("金额", r.get("amount"))) for r in value]
            if all(a is not None for a in amounts):
                return str(sum((a for a in amounts if a is not None), Decimal(0))), currency
    return None, currency


def _voucher_amount(voucher: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """A voucher's debit total."""
    total, currency = Decimal(0), voucher.get("currency")
    for line in voucher.get("lines") or []:
        if isinstance(line, Mapping) and line.get("direction") == "debit":
            money = line.get("amount")
            value = _decimal(money.get("amount") if isinstance(money, Mapping) else money)
            if value is None:
                return None, None
            total += value
    return (str(total), str(currency) if currency else None) if total else (None, None)


def _summary(document: DocumentView, detail: Mapping[str, Any], named: NamedField | None) -> Text:
    """One sentence: which document, and what went wrong in the ERP's (or the hub's) words."""
    number = document.number or document.business_key
    who = "、".join(x for x in (document.applicant, _money(document)) if x)
    title = f"《{document.title}》" if document.title else ""
    zh_doc = f"审批单 {number}{title}" + (f"（{who}）" if who else "")
    en_doc = f"approval {number}" + (f" “{document.title}”" if document.title else "") + (
        f" ({who.replace('、', ', ')})" if who else "")
    raw_what = detail.get("what")
    what: Mapping[str, Any] = raw_what if isinstance(raw_what, Mapping) else {}
    vendor = detail.get("vendor_message")
    system = detail.get("system")
    if vendor and system:
        erp = _SYSTEM_NAMES.get(str(system), Text(str(system), str(system)))
        where = f"（{named.label.zh}）" if named and named.label else ""
        where_en = f" ({named.label.en})" if named and named.label else ""
        return t(f"{zh_doc}：{erp.zh}拒绝了推送{where}：{vendor}",
                 f"{en_doc}: {erp.en} refused it{where_en}: {vendor}")
    return t(f"{zh_doc}：{what.get('zh', '')}", f"{en_doc}: {what.get('en', '')}")


def _money(document: DocumentView) -> str | None:
    if document.amount is None:
        return None
    return f"{document.amount} {document.currency}" if document.currency else document.amount


def _next_steps(status: str, topic: str, correctable: bool, named: NamedField | None) -> Text:
    """What a person can do about it now."""
    if status != "open":
        return t("该死信已处理（已重放或已丢弃）；新的失败会生成新的死信",
                 "this dead letter is closed (replayed or discarded); a new failure makes a new one")
    if correctable:
        field = f"（{named.label.zh if named.label else named.vendor_field}）" if named else ""
        field_en = f" ({named.label.en if named.label else named.vendor_field})" if named else ""
        return t(f"修改被指出的字段{field}后重新推送（沿用同一参考号，不会重复生成单据）；"
                 "或在 ERP 中手工处理后写明原因标记为已处理",
                 f"correct the field named{field_en} and push again (same reference: never a second document); "
                 "or handle it by hand in the ERP and mark it handled with a note")
    if topic == RUN:
        return t("这是流程或主数据的问题：修正主数据（员工、部门、科目映射）或流程后重放；或写明原因后标记为已手工处理",
                 "a flow or master-data problem: fix the master data (employee, department, account mapping) or "
                 "the flow, then replay; or mark it handled by hand with a note")
    return t("排除原因后重放；或写明原因后标记为已手工处理",
             "remove the cause, then replay; or mark it handled by hand with a note")
