"""What every ERP connector's purchasing actions share: request parts and the master-data actions.

The requisition itself is parsed by :mod:`huiliu.model.purchasing`; here are the two actions whose shape is
the same for every ERP — ``<erp>.party.ensure`` (``{"supplier": {…}}``) and ``<erp>.product.ensure``
(``{"item": {…}}``) — over a connector's own catalog, which knows how its ERP matches and creates.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from huiliu.connectors.base import ActionContext
from huiliu.errors import MappingError
from huiliu.i18n import t
from huiliu.model.purchasing import Item, Supplier, item_from_json, supplier_from_json

__all__ = ["MasterDataCatalog", "PartyEnsure", "ProductEnsure", "request_part"]


class MasterDataCatalog(Protocol):
    """A connector's matching and creation of suppliers and items."""

    async def ensure_party(self, supplier: Supplier) -> dict[str, Any]:
        """``{"id", "code", "name", "address", "created", "matched_by"}``."""

    async def ensure_product(self, item: Item) -> dict[str, Any]:
        """``{"id", "template", "code", "name", "unit", "created", "matched_by"}``."""


def request_part(request: Mapping[str, Any], key: str, action: str) -> Mapping[str, Any]:
    """``request[key]``, which must be an object.

    Raises:
        MappingError: it is missing or not an object; ``where`` is ``<action>.<key>``.
    """
    value = request.get(key)
    if not isinstance(value, Mapping):
        raise MappingError(t(f"请求缺少 {key} 对象", f"the request has no {key} object"), where=f"{action}.{key}",
                           fix=t(f"流程应传入 {{\"{key}\": {{…}}}}", f"the flow must pass {{\"{key}\": {{…}}}}"))
    return value


class PartyEnsure:
    """``<erp>.party.ensure``: request ``{"supplier": {"name", "code"?, "tax_id"?, "address"?}}``; result
    ``{"id", "code", "name", "address", "created", "matched_by"}`` (``created`` false when one was matched).
    Safe to retry: a supplier made by a lost attempt is matched.
    """  # noqa: D205

    def __init__(self, catalog: MasterDataCatalog, action: str) -> None:
        self.catalog = catalog
        self.action = action

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Match or create the supplier."""
        return await self.catalog.ensure_party(supplier_from_json(request_part(request, "supplier", self.action)))


class ProductEnsure:
    """``<erp>.product.ensure``: request ``{"item": {"name", "code"?, "unit"?}}``; result ``{"id", "template",
    "code", "name", "unit", "created", "matched_by"}``. Safe to retry: an item made by a lost attempt is matched.
    """  # noqa: D205

    def __init__(self, catalog: MasterDataCatalog, action: str) -> None:
        self.catalog = catalog
        self.action = action

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Match or create the item."""
        return await self.catalog.ensure_product(item_from_json(request_part(request, "item", self.action)))
