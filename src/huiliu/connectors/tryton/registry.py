"""Registers every Tryton action a flow may call, over one shared catalog and one accounting look-up."""

from __future__ import annotations

from huiliu.connectors.base import ActionRegistry
from huiliu.connectors.purchasing import PartyEnsure, ProductEnsure
from huiliu.connectors.tryton.accounting import Accounting
from huiliu.connectors.tryton.actions import (
    PARTY_ENSURE,
    PRODUCT_ENSURE,
    PURCHASE_CREATE,
    PURCHASE_READ,
    PURCHASE_REVERSE,
    PurchaseCreate,
    PurchaseRead,
    PurchaseReverse,
    TrytonCatalog,
)
from huiliu.connectors.tryton.client import TrytonClient
from huiliu.connectors.tryton.payment import PAYMENT_CREATE, PAYMENT_READ, PaymentCreate, PaymentRead
from huiliu.connectors.tryton.project import PROJECT_ACTUALS, PROJECT_ENSURE, ProjectActuals, ProjectEnsure
from huiliu.connectors.tryton.settings import TrytonSettings
from huiliu.connectors.tryton.voucher import VOUCHER_CREATE, VoucherCreate

__all__ = ["register_actions"]


def register_actions(registry: ActionRegistry, client: TrytonClient, settings: TrytonSettings) -> None:
    """Register the Tryton actions.

    Party and product ensure; purchase create, read and reverse; payment create and read; project ensure
    and actuals; voucher create.
    """
    catalog = TrytonCatalog(client, settings)
    accounting = Accounting(client, settings)
    registry.register(PARTY_ENSURE, PartyEnsure(catalog, PARTY_ENSURE))
    registry.register(PRODUCT_ENSURE, ProductEnsure(catalog, PRODUCT_ENSURE))
    registry.register(PURCHASE_CREATE, PurchaseCreate(client, settings, catalog))
    registry.register(PURCHASE_READ, PurchaseRead(client, settings, catalog))
    registry.register(PURCHASE_REVERSE, PurchaseReverse(client, settings, catalog))
    registry.register(PAYMENT_CREATE, PaymentCreate(client, settings, catalog, accounting))
    registry.register(PAYMENT_READ, PaymentRead(client, settings, catalog))
    registry.register(PROJECT_ENSURE, ProjectEnsure(accounting))
    registry.register(PROJECT_ACTUALS, ProjectActuals(client, accounting, catalog))
    registry.register(VOUCHER_CREATE, VoucherCreate(client, settings, accounting))
