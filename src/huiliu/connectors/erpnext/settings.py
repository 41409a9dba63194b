"""Settings of the ERPNext connector, validated once at start-up."""

from __future__ import annotations

import enum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

__all__ = ["AccountLookup", "ErpnextSettings", "PartyMatch", "ProductMatch"]


class AccountLookup(enum.StrEnum):
    """How a voucher line's account (科目) is turned into an ERPNext ``Account`` name."""

    NUMBER = "number"
    """The line names the account number (``6602``); the Account with that ``account_number`` is used."""
    NAME = "name"
    """The line names the Account itself (``6602 - 管理费用 - HL``); the site checks the link."""


class PartyMatch(enum.StrEnum):
    """How a supplier from the OA is matched to an existing ``Supplier``."""

    CODE = "code"
    """``supplier_code_field`` equals the supplier's code (供应商编码)."""
    TAX_ID = "tax_id"
    """``Supplier.tax_id`` equals the supplier's tax id (统一社会信用代码)."""
    NAME = "name"
    """``Supplier.supplier_name`` equals the supplier's name exactly."""


class ProductMatch(enum.StrEnum):
    """How an item from the OA is matched to an existing ``Item``."""

    CODE = "code"
    """``Item.item_code`` (the Item's name) equals the item's code (物料编码)."""
    NAME = "name"
    """``Item.item_name`` equals the item's name exactly."""


class ErpnextSettings(BaseModel):
    """How to reach one ERPNext site and how purchase orders are laid out in it.

    Field lists are unconfirmed in the contract (§7), so every field name the connector writes besides the
    standard ones is a setting.

    Attributes:
        base_url: the site, e.g. ``https://erp.example.com``.
        api_key: the API user's key (User → Settings → API Access).
        api_secret: its secret; sent as ``Authorization: token key:secret``. Never shown in messages or ``repr``.
            Frappe keys do not expire, but they can be regenerated: the client can re-read them through its
            ``credentials_source`` after a 401.
        api_prefix: ``/api`` (v1 paths, every version) or ``/api/v1`` (v15+).
        timeout: seconds for one request.
        company: the ``Company`` orders belong to; ``None`` leaves the user's default company.
        time_zone: the site's time zone (System Settings); ``modified`` and dates are stored in it without an
            offset, so it is needed to compare them with tz-aware times.
        reference_field: the Purchase Order field holding the hub's reference, searched before a retried create.
            Standard ERPNext has no free reference field on Purchase Order, so the default is a custom Data field
            the deployment adds (``custom_`` prefix as Frappe v15 names custom fields). Marking it unique lets the
            site refuse a second order; the connector then adopts the first.
        supplier_code_field: the Supplier field holding the OA's supplier code (a custom field); ``None`` stores
            no code and skips matching by code.
        supplier_group: the ``Supplier Group`` of created suppliers.
        item_group: the ``Item Group`` of created items.
        party_match: the ways a supplier is matched, tried in order.
        product_match: the ways an item is matched, tried in order.
        units: canonical unit name (as the OA sends it) → ``UOM`` name.
        default_unit: the ``UOM`` for items that name no unit.
        stock_items: create items with ``is_stock_item`` (a stock item needs a warehouse on receipt).
        schedule_days: days after today for the lines' ``schedule_date`` (Required By, mandatory).
        submit_purchases: submit created orders (docstatus 1). Off leaves drafts for a buyer.
        check_amounts: refuse to submit an order whose net total differs from the requisition's total.
        ambiguous_wait: seconds to wait, after a create that got no answer, before looking it up by reference.
        page_size: records per page of ``erpnext.changes.since`` when the request names none.
        payment_reference_field: the Payment Entry field holding the hub's reference, searched before a retried
            create: ``reference_no`` (Cheque/Reference No, with ``reference_date``; default) or a custom field
            (then ``reference_no`` gets the OA's payment number, as bank accounts require one).
        payment_account: the Account paid from (``paid_from``, the bank account); required by payments.
        payable_account: the Account paid to (``paid_to``); ``None`` lets the site use the supplier's default
            payable account.
        mode_of_payment: the ``Mode of Payment`` of payments (e.g. ``Bank Draft``), or ``None``.
        submit_payments: submit created Payment Entries (docstatus 1 — in ERPNext the payment is then made).
        voucher_reference_field: the Journal Entry field holding a voucher's hub reference: ``cheque_no``
            (Reference Number, with ``cheque_date``; default) or a custom field.
        account_lookup: how voucher accounts are found (by number, or by the Account name as given).
        cost_centers: department code (the voucher line's department dimension) → Cost Center name; an
            unmapped code is sent as the Cost Center name itself.
        project_dimension: the voucher line dimension holding a project code (→ the row's ``project``).
        department_dimension: the dimension holding a department code (→ the row's ``cost_center``).
        project_code_field: the Project field holding the project code (a custom field, unconfirmed); ``None``
            stores the code as ``project_name`` (the name then goes to ``notes``).
        company_currency: the company's currency; vouchers and payments in another are refused (exchange rates
            are not computed by the hub).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = Field(min_length=1)
    api_key: SecretStr
    api_secret: SecretStr
    api_prefix: str = "/api"
    timeout: float = Field(30.0, gt=0)
    company: str | None = None
    time_zone: str = "Asia/Shanghai"
    reference_field: str = Field(default="custom_huiliu_ref", pattern=r"^[a-z_][a-z0-9_]*$")
    supplier_code_field: str | None = Field(default="custom_supplier_code", pattern=r"^[a-z_][a-z0-9_]*$")
    supplier_group: str = "All Supplier Groups"
    item_group: str = "All Item Groups"
    party_match: tuple[PartyMatch, ...] = (PartyMatch.CODE, PartyMatch.TAX_ID, PartyMatch.NAME)
    product_match: tuple[ProductMatch, ...] = (ProductMatch.CODE,)
    units: dict[str, str] = Field(default_factory=lambda: {
        "unit": "Nos", "u": "Nos", "pcs": "Nos", "个": "Nos", "件": "Nos", "台": "Nos", "把": "Nos", "支": "Nos",
        "包": "Nos", "盒": "Box",
        "套": "Set", "箱": "Box", "kg": "Kg", "千克": "Kg", "公斤": "Kg", "g": "Gram", "克": "Gram",
        "m": "Meter", "米": "Meter", "l": "Litre", "升": "Litre",
    })
    default_unit: str = "Nos"
    stock_items: bool = False
    schedule_days: int = Field(7, ge=0)
    submit_purchases: bool = True
    check_amounts: bool = True
    ambiguous_wait: float = Field(30.0, ge=0)
    page_size: int = Field(100, ge=1, le=10_000)
    payment_reference_field: str = Field(default="reference_no", pattern=r"^[a-z_][a-z0-9_]*$")
    payment_account: str | None = None
    payable_account: str | None = None
    mode_of_payment: str | None = None
    submit_payments: bool = True
    voucher_reference_field: str = Field(default="cheque_no", pattern=r"^[a-z_][a-z0-9_]*$")
    account_lookup: AccountLookup = AccountLookup.NUMBER
    cost_centers: dict[str, str] = Field(default_factory=dict)
    project_dimension: str = "project"
    department_dimension: str = "department"
    project_code_field: str | None = Field(default="custom_project_code", pattern=r"^[a-z_][a-z0-9_]*$")
    company_currency: str = "CNY"

    @field_validator("base_url")
    @classmethod
    def _normalise_base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {value!r}")
        return value.rstrip("/")

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _complete(self) -> ErpnextSettings:
        if not self.api_key.get_secret_value() or not self.api_secret.get_secret_value():
            raise ValueError("api_key and api_secret must not be empty")
        if not self.party_match:
            raise ValueError("party_match needs at least one way to match suppliers")
        if not self.product_match:
            raise ValueError("product_match needs at least one way to match items")
        return self

    @property
    def zone(self) -> ZoneInfo:
        """The site's time zone."""
        return ZoneInfo(self.time_zone)

    def resource_url(self, doctype: str, name: str | None = None) -> str:
        """``{base_url}{api_prefix}/resource/<DocType>[/<name>]`` (the caller quotes nothing: aiohttp does)."""
        url = f"{self.base_url}{self.api_prefix}/resource/{doctype}"
        return url if name is None else f"{url}/{name}"

    def method_url(self, method: str) -> str:
        """``{base_url}{api_prefix}/method/<dotted.path>``."""
        return f"{self.base_url}{self.api_prefix}/method/{method}"
