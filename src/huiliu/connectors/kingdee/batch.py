"""``kingdee.voucher.create_batch``: many vouchers in BatchSave calls, each with its own hub reference.

One BatchSave call carries up to ``settings.batch_size`` models (``{"Model": [...]}``); Kingdee saves or
refuses each on its own and answers per item (``SuccessEntitys`` / ``Errors`` by ``DIndex``). The saved
vouchers are then submitted and audited with one Submit and one Audit call for all of them.

Each voucher's reference is :func:`~huiliu.connectors.kingdee.mapping.batch_reference` of the action's
reference and the voucher's own, so it does not depend on the voucher's position. Like Save, BatchSave
is not idempotent: a retry (attempt 2 on) looks every reference up first, adopts what it finds and
sends only the vouchers still missing. A BatchSave without any answer is :class:`AmbiguousOutcome`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from huiliu.connectors.base import ActionContext
from huiliu.connectors.kingdee.client import KingdeeClient
from huiliu.connectors.kingdee.errors import SYSTEM, closed_period_error
from huiliu.connectors.kingdee.ledger import CREATED, Found, Ledger
from huiliu.connectors.kingdee.mapping import batch_reference, explicit_book, voucher_from_json, voucher_model
from huiliu.connectors.kingdee.settings import KingdeeSettings
from huiliu.errors import AmbiguousOutcome, HuiliuError, MappingError, NoReply
from huiliu.i18n import Text, t

__all__ = ["VOUCHER_CREATE_BATCH", "VoucherCreateBatch"]

VOUCHER_CREATE_BATCH = "kingdee.voucher.create_batch"


@dataclass
class _Item:
    """One voucher of the batch on its way through the action."""

    index: int
    source: str
    reference: str
    day: date | None = None
    model: dict[str, Any] | None = None
    found: Found | None = None
    adopted: bool = False
    status: str | None = None
    error: dict[str, Any] | None = None

    def fail(self, what: Text, *, field: str | None = None, vendor_message: str | None = None,
             fix: Text | None = None) -> None:
        self.error = {"message": what.zh, "message_en": what.en, "field": field,
                      "vendor_message": vendor_message,
                      "fix": None if fix is None else fix.zh, "fix_en": None if fix is None else fix.en}

    def result(self) -> dict[str, Any]:
        return {"index": self.index, "source": self.source, "reference": self.reference,
                "id": None if self.found is None else self.found.id,
                "number": None if self.found is None else self.found.number,
                "status": self.status, "adopted": self.adopted, "error": self.error}


class VoucherCreateBatch:
    """The ``kingdee.voucher.create_batch`` action.

    Request: ``{"vouchers": [<JSON form of huiliu.model.Voucher>, …], "book"?: str, "org"?: str}``; the
    vouchers' own ``reference`` values must differ. ``book`` / ``org`` apply to all; otherwise each
    voucher is routed by ``settings.routes`` (see :mod:`.actions`).

    Result: ``{"items": [{"index", "source", "reference", "id", "number", "status", "adopted",
    "error"}, …], "saved": n, "failed": m}`` in request order. ``source`` is the voucher's own
    reference, ``reference`` the hub reference stored in Kingdee. ``error`` is ``null`` or
    ``{"message", "message_en", "field", "vendor_message", "fix", "fix_en"}``: a voucher that could not
    be mapped or that Kingdee refused has no id (counted in ``failed``); one saved but refused at
    Submit / Audit has an id, its status and the error.

    Args:
        client: the Kingdee client.
        settings: the connector settings (batch size, routes, whether to audit).
    """

    def __init__(self, client: KingdeeClient, settings: KingdeeSettings) -> None:
        self.client = client
        self.settings = settings
        self.ledger = Ledger(client, settings)

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Save the missing vouchers in BatchSave calls, then submit and audit all of them."""
        items = self._map(request, ctx)
        if ctx.attempt > 1:
            found = await self.ledger.find_many(i.reference for i in items)
            for item in items:
                if item.reference in found:
                    item.found, item.adopted, item.error = found[item.reference], True, None
        pending = [i for i in items if i.found is None and i.model is not None]
        size = self.settings.batch_size
        for start in range(0, len(pending), size):
            await self._save(pending[start:start + size])
        done = [i for i in items if i.found is not None]
        if self.settings.audit_vouchers and done:
            audited = await self.ledger.audit_many(i.found for i in done if i.found is not None)
            for item in done:
                assert item.found is not None
                item.status, refusal = audited[item.found.id]
                if refusal is not None:
                    item.fail(t(f"凭证 {item.found.number} 已保存，但提交或审核被拒绝：{refusal}",
                                f"voucher {item.found.number} was saved, but Submit or Audit was refused: "
                                f"{refusal}"), vendor_message=refusal,
                              fix=t("在金蝶中处理该凭证后手工审核", "fix it in Kingdee and audit it by hand"))
        else:
            for item in done:
                assert item.found is not None
                item.status = item.found.status
        results = [i.result() for i in items]
        saved = sum(1 for r in results if r["id"] is not None)
        return {"items": results, "saved": saved, "failed": len(results) - saved}

    def _map(self, request: Mapping[str, Any], ctx: ActionContext) -> list[_Item]:
        vouchers = request.get("vouchers")
        if not isinstance(vouchers, list) or not vouchers:
            raise MappingError(t("请求缺少 vouchers 列表", "the request has no vouchers list"),
                               where=f"{VOUCHER_CREATE_BATCH}.vouchers",
                               fix=t("流程应传入 {\"vouchers\": [<凭证 JSON>, …]}",
                                     "the flow must pass {\"vouchers\": [<voucher JSON>, …]}"))
        book, org = explicit_book(request, VOUCHER_CREATE_BATCH)
        items: list[_Item] = []
        seen: dict[str, int] = {}
        for index, raw in enumerate(vouchers):
            source = str(raw.get("reference")) if isinstance(raw, Mapping) else f"#{index}"
            if source in seen:
                raise MappingError(
                    t(f"第 {seen[source] + 1} 与第 {index + 1} 张凭证的参考号相同：{source}",
                      f"vouchers {seen[source] + 1} and {index + 1} share the reference {source}"),
                    where=f"{VOUCHER_CREATE_BATCH}.vouchers.{index}.reference",
                    fix=t("每张凭证的 reference 须不同", "give every voucher its own reference"))
            seen[source] = index
            item = _Item(index, source, batch_reference(ctx.reference, source))
            try:
                if not isinstance(raw, Mapping):
                    raise MappingError(t("凭证应为 JSON 对象", "a voucher must be a JSON object"),
                                       where=f"{VOUCHER_CREATE_BATCH}.vouchers.{index}")
                built = voucher_from_json(raw)
                item.day = built.date
                item.model = voucher_model(built, item.reference, self.settings, book=book, org=org)
            except HuiliuError as exc:  # MappingError, UnbalancedVoucher: this voucher only
                item.fail(exc.what, field=exc.where, fix=exc.fix)
            items.append(item)
        return items

    async def _save(self, chunk: list[_Item]) -> None:
        models = [i.model for i in chunk if i.model is not None]
        try:
            outcome = await self.client.batch_save(self.settings.voucher_form, models)
        except NoReply as exc:
            raise AmbiguousOutcome(
                t(f"批量保存 {len(models)} 张凭证未得到应答，可能已部分生成",
                  f"BatchSave of {len(models)} vouchers got no answer; some may exist"),
                system=SYSTEM, operation="BatchSave", retry_after=self.settings.ambiguous_wait,
                fix=t("稍后按参考号逐张查找并沿用，只补发缺少的凭证",
                      "each is looked up by reference later; only the missing ones are sent again"),
            ) from exc
        for position, item in enumerate(chunk):
            saved = outcome.saved.get(position)
            if saved is not None:
                item.found = Found(saved.id, saved.number, CREATED)
                continue
            field, message = outcome.refused.get(position, (None, "未返回结果"))
            existing = await self.ledger.adopt_duplicate(message, item.reference)
            if existing is not None:
                item.found, item.adopted = existing, True
                continue
            assert item.day is not None
            closed = closed_period_error(message, item.day, "BatchSave", outcome.msg_code)
            if closed is not None:
                item.fail(closed.what, field=field, vendor_message=message, fix=closed.fix)
            else:
                item.fail(t(f"金蝶拒绝了该凭证：{message}", f"Kingdee refused this voucher: {message}"),
                          field=field, vendor_message=message,
                          fix=t("按金蝶返回的字段与信息修正数据（科目、核算维度、金额）后重新发起",
                                "correct the data named by Kingdee (account, auxiliary dimension, amount) "
                                "and send again"))
