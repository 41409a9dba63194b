"""``hub.voucher.merge``: many approvals' vouchers merged into one per day and department (汇总凭证).

Finance often wants one voucher per day and department rather than one per claim. A flow then builds
each claim's voucher (a ``voucher`` step) without posting it; a scheduled flow calls this action for the
day: the vouchers of the approvals the flow selected that finished on that day are merged (per book,
date, 凭证字, currency and department; equal lines summed, summaries joined) and posted in one batch
through the ERP's batch action (``kingdee.voucher.create_batch``).

Nothing is posted twice: the batch is keyed by flow and day, so a retry adopts what an earlier attempt
saved; and a claim merged by an earlier run for the day (the action's earlier results) is left out of a
later one, which then posts only the approvals that came late.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from huiliu.bus import reference_for
from huiliu.connectors import ActionContext, ActionRegistry
from huiliu.connectors.kingdee import merge_vouchers, voucher_department
from huiliu.errors import HuiliuError, MappingError
from huiliu.flows import Flow
from huiliu.i18n import Lang, t
from huiliu.model import Direction, Voucher
from huiliu.model.purchasing import voucher_from_json
from huiliu.service.hubactions import HubServices, day_approvals, loaded_flow, request_day, request_text
from huiliu.service.runs import run_id_for
from huiliu.store import loads
from huiliu.store.codec import to_jsonable
from huiliu.store.schema import outbox, run_steps, runs

__all__ = ["MERGE_ACTIONS", "VOUCHER_MERGE", "VoucherMerge"]

VOUCHER_MERGE = "hub.voucher.merge"
MERGE_ACTIONS = frozenset({VOUCHER_MERGE})


class VoucherMerge:
    """The ``hub.voucher.merge`` action.

    Request: ``{flow, day: "YYYY-MM-DD", step: "voucher", post: "kingdee.voucher.create_batch",
    timezone: "Asia/Shanghai"}``. Result: ``{day, flow, sources: [references merged now], vouchers:
    [{reference, id, number, status, sources, debit, department}], failed: [...], pending: [business keys
    whose run has not finished], earlier: n}`` — ``earlier`` counts approvals merged by an earlier call.
    """

    def __init__(self, hub: HubServices) -> None:
        self.hub = hub

    def register(self, registry: ActionRegistry) -> None:
        """Register ``hub.voucher.merge``."""
        registry.register(VOUCHER_MERGE, self)

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Merge the day's vouchers and post them in one batch."""
        flow_id = request_text(request, "flow", VOUCHER_MERGE)
        step = request_text(request, "step", VOUCHER_MERGE, default="voucher")
        post = request_text(request, "post", VOUCHER_MERGE, default="kingdee.voucher.create_batch")
        zone = ZoneInfo(request_text(request, "timezone", VOUCHER_MERGE, default="Asia/Shanghai"))
        day = request_day(request, VOUCHER_MERGE)
        flow = loaded_flow(self.hub.flows, flow_id, VOUCHER_MERGE)
        if post not in self.hub.actions.names():
            raise MappingError(t(f"批量记账的动作 {post} 未配置", f"the batch posting action {post} is not configured"),
                               where=f"{VOUCHER_MERGE}.post",
                               fix=t("例如 kingdee.voucher.create_batch", "e.g. kingdee.voucher.create_batch"))
        start = datetime(day.year, day.month, day.day, tzinfo=zone)
        vouchers, pending, earlier = self._collect(flow, step, start, start + timedelta(days=1), day)
        merged = merge_vouchers(vouchers) if vouchers else []
        report: dict[str, Any] = {"day": day.isoformat(), "flow": flow_id, "sources": [v.reference for v in vouchers],
                                  "vouchers": [], "failed": [], "pending": pending, "earlier": earlier}
        key = f"merge:{flow_id}:{day.isoformat()}"  # the batch's references derive from it: a retry adopts
        if merged:
            reply = await self.hub.actions.get(post)({"vouchers": [to_jsonable(v) for v in merged]},
                                                     ActionContext(key, ctx.attempt, reference_for(key)))
            for item in reply.get("items") or []:
                source = merged[int(item["index"])]
                entry = {"reference": source.reference, "id": item.get("id"), "number": item.get("number"),
                         "status": item.get("status"), "sources": _sources(source, vouchers),
                         "debit": str(sum((ln.amount.amount for ln in source.lines
                                           if ln.direction is Direction.DEBIT), start=Decimal(0))),
                         "department": voucher_department(source)}
                (report["failed"] if item.get("error") else report["vouchers"]).append(
                    {**entry, "error": item.get("error")} if item.get("error") else entry)
        parts = self.hub.parts()
        with parts.db.begin() as conn:
            parts.eventlog.record(conn, case_id=key, activity="voucher.merged", system="hub",
                                  outcome="failed" if report["failed"] else "done",
                                  detail={"sources": len(vouchers), "vouchers": len(report["vouchers"]),
                                          "failed": len(report["failed"]), "pending": len(pending)})
        return report

    def _collect(self, flow: Flow, step: str, start: datetime, end: datetime,
                 day: date) -> tuple[list[Voucher], list[str], int]:
        """The day's vouchers not merged before, the business keys still running, and how many were merged."""
        parts = self.hub.parts()
        merged_before: set[str] = set()
        vouchers: list[Voucher] = []
        pending: list[str] = []
        with parts.db.read() as conn:
            for (result,) in conn.execute(select(outbox.c.result).where(
                    outbox.c.action == VOUCHER_MERGE, outbox.c.status == "done")):
                done = loads(result) if result else {}
                if done.get("flow") == flow.id and done.get("day") == day.isoformat():
                    failed = {f["reference"] for f in done.get("failed") or []}
                    merged_before.update(s for v in done.get("vouchers") or [] for s in v.get("sources") or [])
                    merged_before.difference_update(failed)
            for row, _ in day_approvals(conn, flow, start, end):
                run_id = run_id_for(flow.id, row.id)
                status = conn.execute(select(runs.c.status).where(runs.c.id == run_id)).scalar()
                output = conn.execute(select(run_steps.c.output).where(
                    run_steps.c.run_id == run_id, run_steps.c.step_id == step)).scalar()
                if status != "succeeded" or output is None:
                    pending.append(row.business_key)
                    continue
                try:
                    voucher = voucher_from_json({k: v for k, v in loads(output).items() if k != "preparer"})
                except HuiliuError as exc:
                    raise MappingError(t(f"审批 {row.business_key} 的步骤 {step} 不是凭证：{exc.render(Lang.ZH)}",
                                         f"step {step} of approval {row.business_key} is not a voucher: "
                                         f"{exc.render(Lang.EN)}"), where=f"{VOUCHER_MERGE}.step",
                                       fix=t("step 应为流程中 voucher 步骤的 id",
                                             "step must be the id of the flow's voucher step")) from exc
                if voucher.reference not in merged_before:
                    vouchers.append(voucher)
        return vouchers, pending, len(merged_before)


def _sources(merged: Voucher, vouchers: list[Voucher]) -> list[str]:
    """The source references a merged voucher stands for (same book, date, group, currency, department)."""
    key = (merged.book, merged.date, merged.group, merged.currency, voucher_department(merged))
    return [v.reference for v in vouchers if (v.book, v.date, v.group, v.currency, voucher_department(v)) == key]
