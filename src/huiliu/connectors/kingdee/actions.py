"""Kingdee actions flows may call, each idempotent under retries (DESIGN.md, invariant 3).

``kingdee.voucher.create``: Save is not idempotent in K3Cloud and a lost reply followed by a blind
retry makes a second voucher (contract §4.3). So every attempt after the first looks the hub's
reference up with ExecuteBillQuery and adopts what it finds; only when nothing is found does it Save.
A Save that gets no answer at all (timeout, dropped connection) is :class:`AmbiguousOutcome`: the
retry waits ``ambiguous_wait`` before that lookup, since the server may still be saving. Where the
reference field is unique in the account set, a second Save is refused and the refusal adopts the
first voucher.
The voucher is then brought to 已审核: 创建 (A) → Submit → 审核中 (B) → Audit → 已审核 (C).

The account book (账簿) and organisation, in order of precedence: ``book`` (and ``org``) in the request,
set by the flow; else the first matching rule of ``settings.routes`` (no match is a
:class:`MappingError`, never a guess); else ``settings.book`` / ``settings.org``.

Also registered here: ``kingdee.voucher.reverse`` (:mod:`.reversal`), ``kingdee.voucher.create_batch``
(:mod:`.batch`) and ``kingdee.org.sync`` (:mod:`.org`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from huiliu.connectors.base import ActionContext, ActionRegistry
from huiliu.connectors.kingdee.batch import VOUCHER_CREATE_BATCH, VoucherCreateBatch
from huiliu.connectors.kingdee.client import KingdeeClient
from huiliu.connectors.kingdee.contract import CONTRACT_CREATE, CONTRACT_READ, PARTY_ENSURE, KingdeeContracts
from huiliu.connectors.kingdee.ledger import Found, Ledger
from huiliu.connectors.kingdee.mapping import explicit_book, voucher_from_json, voucher_model
from huiliu.connectors.kingdee.org import ORG_SYNC, KingdeeOrg
from huiliu.connectors.kingdee.payment import (
    PAYMENT_CREATE,
    PAYMENT_READ,
    PROJECT_ACTUALS,
    PROJECT_ENSURE,
    KingdeePayments,
)
from huiliu.connectors.kingdee.reversal import VOUCHER_REVERSE, VoucherReverse
from huiliu.connectors.kingdee.settings import KingdeeSettings
from huiliu.connectors.kingdee.voucher_read import VOUCHER_READ, VoucherRead
from huiliu.errors import MappingError
from huiliu.i18n import t

__all__ = ["VOUCHER_CREATE", "VoucherCreate", "register_actions"]

VOUCHER_CREATE = "kingdee.voucher.create"


class VoucherCreate:
    """The ``kingdee.voucher.create`` action.

    Request: ``{"voucher": <JSON form of huiliu.model.Voucher>, "book"?: str, "org"?: str}``. Result:
    ``{"id", "number", "status", "adopted"}``; ``adopted`` is true when a voucher saved by an earlier
    attempt was found and used.

    Args:
        client: the Kingdee client.
        settings: the connector settings (form, reference field, routes, whether to audit).
    """

    def __init__(self, client: KingdeeClient, settings: KingdeeSettings) -> None:
        self.client = client
        self.settings = settings
        self.ledger = Ledger(client, settings)

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Create (or adopt) the voucher, then submit and audit it."""
        voucher = request.get("voucher")
        if not isinstance(voucher, Mapping):
            raise MappingError(t("请求缺少 voucher 对象", "the request has no voucher object"),
                               where=f"{VOUCHER_CREATE}.voucher",
                               fix=t("流程应传入 {\"voucher\": <凭证 JSON>}",
                                     "the flow must pass {\"voucher\": <voucher JSON>}"))
        # Map before touching Kingdee: a malformed, unbalanced or unroutable voucher fails without any call.
        built = voucher_from_json(voucher)
        book, org = explicit_book(request, VOUCHER_CREATE)
        preparer = request.get("preparer")
        model = voucher_model(built, ctx.reference, self.settings, book=book, org=org,
                              preparer=str(preparer) if preparer else None)
        found = await self.ledger.find(ctx.reference) if ctx.attempt > 1 else None
        adopted = found is not None
        if found is None:
            found, adopted = await self.ledger.save(model, ctx.reference, built.date)
        status = await self.ledger.audit(found) if self.settings.audit_vouchers else found.status
        return {"id": found.id, "number": found.number, "status": status, "adopted": adopted}

    async def find(self, reference: str) -> Found | None:
        """The voucher carrying ``reference`` (the oldest if several), or ``None``."""
        return await self.ledger.find(reference)


def register_actions(registry: ActionRegistry, client: KingdeeClient, settings: KingdeeSettings, *,
                     today: Callable[[], date] | None = None) -> None:
    """Register the Kingdee actions.

    ``kingdee.voucher.create``, ``kingdee.voucher.reverse``, ``kingdee.voucher.read`` (:mod:`.voucher_read`),
    ``kingdee.voucher.create_batch``,
    ``kingdee.payment.create`` / ``read`` and ``kingdee.project.ensure`` / ``actuals`` (:mod:`.payment`),
    ``kingdee.party.ensure`` and ``kingdee.contract.create`` / ``read`` (:mod:`.contract`),
    ``kingdee.org.sync`` (departments and employees, :mod:`.org`).

    Args:
        registry: where to register.
        client: the Kingdee client.
        settings: the connector settings.
        today: the date a reversing voucher gets when the request names none; ``date.today`` by default.
    """
    registry.register(VOUCHER_CREATE, VoucherCreate(client, settings))
    registry.register(VOUCHER_REVERSE, VoucherReverse(client, settings, today=today))
    registry.register(VOUCHER_READ, VoucherRead(client, settings))
    registry.register(VOUCHER_CREATE_BATCH, VoucherCreateBatch(client, settings))
    payments = KingdeePayments(client, settings)
    registry.register(PAYMENT_CREATE, payments.create)
    registry.register(PAYMENT_READ, payments.read)
    registry.register(PROJECT_ENSURE, payments.ensure_project)
    registry.register(PROJECT_ACTUALS, payments.actuals)
    contracts = KingdeeContracts(client, settings)
    registry.register(PARTY_ENSURE, contracts.ensure_party)
    registry.register(CONTRACT_CREATE, contracts.create)
    registry.register(CONTRACT_READ, contracts.read)
    registry.register(ORG_SYNC, KingdeeOrg(client, settings))
