"""Settings of the Odoo ERP connector, validated once at start-up."""

from __future__ import annotations

import enum

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

__all__ = ["OdooApi", "OdooSettings", "PartyMatch", "ProductMatch"]


class OdooApi(enum.StrEnum):
    """Which external API the server speaks (contract §6.1, §6.2)."""

    JSONRPC = "jsonrpc"
    """``POST /jsonrpc``, services ``common``/``object``: Odoo ≤ 18 (deprecated in 19, removed in 22).
    ``common.authenticate`` turns login + API key into a uid; every ``execute_kw`` carries uid and key."""
    JSON2 = "json2"
    """``POST /json/2/<model>/<method>`` with ``Authorization: bearer <key>``: Odoo 19+."""


class PartyMatch(enum.StrEnum):
    """How a supplier from the OA is matched to an existing ``res.partner``."""

    CODE = "code"
    """``res.partner.ref`` (内部参考) equals the supplier's code (供应商编码)."""
    TAX_ID = "tax_id"
    """``res.partner.vat`` equals the supplier's tax id (统一社会信用代码)."""
    NAME = "name"
    """``res.partner.name`` equals the supplier's name exactly."""


class ProductMatch(enum.StrEnum):
    """How an item from the OA is matched to an existing ``product.product``."""

    CODE = "code"
    """``product.product.default_code`` (内部参考) equals the item's code (物料编码)."""
    NAME = "name"
    """``product.product.name`` equals the item's name exactly."""


class OdooSettings(BaseModel):
    """How to reach one Odoo database and how purchase orders are laid out in it.

    Values that differ per installation or per Odoo release, or that the contract (shared/contracts §6)
    could not confirm, are settings, so that a deployment matches its server without code changes.

    Attributes:
        base_url: the server, e.g. ``https://erp.example.com``.
        database: the database name (``X-Odoo-Database`` for JSON-2, the first ``execute_kw`` argument before).
        login: the API user's login (JSON-RPC only; JSON-2 identifies the user by the key).
        api_key: the user's API key (since Odoo 14 it stands where the password stood). Never shown in messages
            or ``repr``. Keys live at most 3 months (§6.2): the client can re-read a rotated key through its
            ``key_source`` before it gives up.
        api: which external API to use; ``jsonrpc`` up to 18, ``json2`` from 19.
        uid: the API user's id, to skip ``common.authenticate`` (JSON-RPC only). ``None`` authenticates first.
        language: the ``lang`` put in every call's context; Odoo answers messages in it (``zh_CN``).
        company: the company id put in ``allowed_company_ids``; ``None`` keeps the user's default company.
        timeout: seconds for one request.
        jsonrpc_path: the JSON-RPC endpoint.
        json2_path: the JSON-2 prefix; ``/<model>/<method>`` is appended.
        reference_field: the ``purchase.order`` field that stores the hub's reference and is searched before a
            retried create: ``origin`` (源单据, default) or ``partner_ref`` (供应商参考). Both are plain Char
            fields Odoo keeps as given.
        party_match: the ways a supplier is matched to an existing partner, tried in order.
        product_match: the ways an item is matched to an existing product, tried in order.
        units: canonical unit name (as the OA sends it) → ``uom.uom`` name in Odoo.
        default_unit: the ``uom.uom`` name for items that name no unit.
        line_uom_field: the order line's unit field: ``product_uom`` up to 18, ``uom_id`` in master (contract
            §6.3; the exact release boundary is unconfirmed, hence a setting).
        product_type: ``product.product.type`` of created items: ``consu`` (goods; 17+) or ``product`` (stored
            goods before 17) or ``service``.
        confirm_purchases: confirm created orders (``button_confirm``). Off leaves them as RFQs for a buyer.
        check_amounts: after creating an order, compare its untaxed amount with the requisition's total and
            refuse to confirm when they differ (a unit price rounded by Odoo's price digits).
        ambiguous_wait: seconds to wait, after a create that got no answer, before looking it up by reference.
            Odoo commits a request only when it finishes, so a slow create can still appear.
        page_size: records per page of ``odoo.changes.since`` when the request names none.
        payment_reference_field: the ``account.payment`` field holding the hub's reference, searched before a
            retried create: ``ref`` (Memo) up to 17, ``memo`` from 18 (release boundary unconfirmed).
        payment_journal: the ``account.journal`` code payments are made from (the bank journal, ``BNK1``).
        post_payments: post created payments (``action_post``). Off leaves drafts for the treasurer.
        payment_paid_field: the boolean ``account.payment`` field meaning "paid" (matched with the bank
            statement): ``is_matched`` up to 17 (unconfirmed); ``None`` when only the state says it.
        payment_paid_states: payment states that mean paid (``paid`` in 18; unconfirmed).
        voucher_reference_field: the ``account.move`` field holding a voucher's hub reference (``ref``).
        voucher_journal: the ``account.journal`` code vouchers are entered in (miscellaneous, ``MISC``).
        company_currency: the company's currency; a voucher in another is refused (foreign-currency items need
            ``amount_currency``, which the hub does not compute).
        analytic_plan: the ``account.analytic.plan`` name projects are created in (Odoo 16+ needs a plan).
        project_dimension: the voucher line dimension (``aux`` name) holding a project code; its analytic
            account goes in the item's ``analytic_distribution`` at 100 %.
        department_dimension: the dimension holding a department code; Odoo has no department on journal items,
            so it is carried in the item's label as ``[部门 <code>]``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = Field(min_length=1)
    database: str = Field(min_length=1)
    login: str = Field("", description="required for the jsonrpc API")
    api_key: SecretStr
    api: OdooApi = OdooApi.JSONRPC
    uid: int | None = Field(None, ge=1)
    language: str = "zh_CN"
    company: int | None = Field(None, ge=1)
    timeout: float = Field(30.0, gt=0)
    jsonrpc_path: str = "/jsonrpc"
    json2_path: str = "/json/2"
    reference_field: str = Field(default="origin", pattern=r"^[a-z_][a-z0-9_]*$")
    party_match: tuple[PartyMatch, ...] = (PartyMatch.CODE, PartyMatch.TAX_ID, PartyMatch.NAME)
    product_match: tuple[ProductMatch, ...] = (ProductMatch.CODE,)
    units: dict[str, str] = Field(default_factory=lambda: {
        "unit": "Units", "u": "Units", "pcs": "Units", "个": "Units", "件": "Units", "台": "Units",
        "套": "Units", "把": "Units", "支": "Units", "包": "Units", "盒": "Units", "箱": "Units",
        "kg": "kg", "千克": "kg", "公斤": "kg", "g": "g", "克": "g",
        "m": "m", "米": "m", "l": "L", "升": "L",
    })
    default_unit: str = "Units"
    line_uom_field: str = Field(default="product_uom", pattern=r"^[a-z_][a-z0-9_]*$")
    product_type: str = "consu"
    confirm_purchases: bool = True
    check_amounts: bool = True
    ambiguous_wait: float = Field(30.0, ge=0)
    page_size: int = Field(200, ge=1, le=10_000)
    payment_reference_field: str = Field(default="ref", pattern=r"^[a-z_][a-z0-9_]*$")
    payment_journal: str = "BNK1"
    post_payments: bool = True
    payment_paid_field: str | None = Field(default="is_matched", pattern=r"^[a-z_][a-z0-9_]*$")
    payment_paid_states: tuple[str, ...] = ("paid",)
    voucher_reference_field: str = Field(default="ref", pattern=r"^[a-z_][a-z0-9_]*$")
    voucher_journal: str = "MISC"
    company_currency: str = "CNY"
    analytic_plan: str = "Projects"
    project_dimension: str = "project"
    department_dimension: str = "department"

    @field_validator("base_url")
    @classmethod
    def _normalise_base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {value!r}")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _complete(self) -> OdooSettings:
        if self.api is OdooApi.JSONRPC and not self.login:
            raise ValueError("the jsonrpc API needs login (the user the API key belongs to)")
        if not self.api_key.get_secret_value():
            raise ValueError("api_key is empty")
        if not self.party_match:
            raise ValueError("party_match needs at least one way to match suppliers")
        if not self.product_match:
            raise ValueError("product_match needs at least one way to match items")
        return self

    @property
    def jsonrpc_url(self) -> str:
        """The JSON-RPC endpoint, e.g. ``https://erp.example.com/jsonrpc``."""
        return self.base_url + self.jsonrpc_path

    def json2_url(self, model: str, method: str) -> str:
        """The JSON-2 endpoint of one method, e.g. ``…/json/2/purchase.order/button_confirm``."""
        return f"{self.base_url}{self.json2_path}/{model}/{method}"
