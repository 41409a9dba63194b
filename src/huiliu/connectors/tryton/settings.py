"""Settings of the Tryton ERP connector, validated once at start-up."""

from __future__ import annotations

import enum

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

__all__ = ["InvoiceMethod", "PartyMatch", "ProductMatch", "TrytonSettings"]


class PartyMatch(enum.StrEnum):
    """How a supplier from the OA is matched to an existing Tryton party."""

    CODE = "code"
    """``party.party.code`` equals the supplier's code (供应商编码)."""
    TAX_IDENTIFIER = "tax_identifier"
    """A ``party.identifier`` of the party has the supplier's tax id (统一社会信用代码)."""
    NAME = "name"
    """``party.party.name`` equals the supplier's name exactly."""


class ProductMatch(enum.StrEnum):
    """How an item from the OA is matched to an existing Tryton product."""

    CODE = "code"
    """``product.product.code`` equals the item's code (物料编码)."""
    NAME = "name"
    """``product.product.name`` (the template's name) equals the item's name exactly."""


class InvoiceMethod(enum.StrEnum):
    """``purchase.purchase.invoice_method`` in Tryton 8.2 (contract §8.10; ``fulfillment`` was ``shipment``)."""

    ORDER = "order"
    """The supplier invoice is drafted as soon as the order is confirmed."""
    FULFILLMENT = "fulfillment"
    """The invoice is drafted when the goods are received."""
    MANUAL = "manual"
    """Nobody drafts it; an accountant creates it by hand."""


class TrytonSettings(BaseModel):
    """How to reach one Tryton database and how purchase orders are laid out in it.

    Values that differ per installation, or that the contract (shared/contracts/tryton.md) could not
    confirm beyond Tryton 8.2, are settings so that a deployment can match its server without code changes.

    Attributes:
        base_url: the server, e.g. ``http://erp.example.com:8000``.
        database: the Tryton database name.
        username: the login name.
        password: the password, used to log in and to log in again after the session expired. Never shown
            in messages or ``repr``.
        session: an existing session as ``"<user_id>:<token>"``, used instead of logging in first. Without a
            password an expired session cannot be renewed and :class:`AuthExpired` reaches the caller.
        language: the language code sent at login; Tryton answers messages in it.
        rpc_path: the JSON-RPC path; ``{database}`` is replaced. ``/{database}/rpc/`` in 8.2, ``/{database}/``
            in older series (contract §7). Unconfirmed for other series, hence a setting.
        company: the company id put in the context of every call. ``None`` keeps the user's company from
            ``res.user.get_preferences`` (the server does not fill it in by itself, contract §8.4).
        timeout: seconds for one request.
        reference_field: the ``purchase.purchase`` field that stores the hub's reference and is searched
            before a retried create. ``reference`` is a plain Char that stays writable in every state
            (checked on 8.2); ``description`` would do as well but is shown to users as the PO's title.
        party_match: the ways a supplier is matched to an existing party, tried in order.
        tax_identifier_type: the ``party.identifier`` type for the supplier's tax id. ``None`` stores an
            identifier without type: on the tested 8.2 server ``cn_uscc`` was refused as "not one of the
            allowed options" although it is listed in the code, so the type is left to the deployment.
        product_match: the ways an item is matched to an existing product, tried in order.
        account_category: the ``product.category`` (with expense and revenue accounts) new products get;
            required to create products, since quoting needs it (contract §8.6). Per installation.
        payment_term: the ``account.invoice.payment_term`` put on new suppliers and on purchase orders;
            ``None`` leaves Tryton's default.
        invoice_method: when the supplier invoice is drafted. ``order`` drafts it at confirmation, which
            lets the invoice be read back without a shipment.
        units: canonical unit name (as the OA sends it) → ``product.uom`` symbol in Tryton.
        default_unit: the ``product.uom`` symbol for items that name no unit.
        confirm_purchases: quote and confirm created orders. Off leaves them in draft for a buyer.
        check_amounts: after creating an order, compare its untaxed amount with the requisition's total
            and refuse to quote it when they differ (a unit price rounded by Tryton's price digits).
        ambiguous_wait: seconds to wait, after a create that got no answer, before looking it up by
            reference. Tryton commits a request only when it finishes, so a slow create can still appear.
        payment_account: the code of the expense account (科目编码) on the line of the supplier invoice a
            payment request becomes (``tryton.payment.create``); ``5.1.3`` is "Services" in the template
            chart "Universal Chart of Accounts". It must be of an expense or debt type.
        payment_reference_field: the ``account.invoice`` field that stores the hub's reference and is searched
            before a retried create; the supplier's own invoice number then goes into the description.
        payment_journal: the code of the ``account.journal`` supplier invoices are booked in (``EXP`` in the
            default data).
        payment_method: the ``account.invoice.payment.method`` (journal and cash account) used to pay the
            posted invoice at once. ``None`` leaves it 已过账 awaiting payment; ``paid`` turns true when the
            treasurer pays it in Tryton (read back with ``tryton.payment.read``).
        project_root: the code of the root analytic account (``analytic_account.account``, type root) under
            which projects are kept; created on first use. Tryton 8.2 has no project model in the installed
            set, so a project is a normal analytic account with the project's code.
        project_root_name: the name given to that root when it is created.
        project_dimension: the auxiliary dimension (辅助核算) of a voucher line that names the project; it
            becomes an analytic line on the move line.
        voucher_journal: the code of the ``account.journal`` vouchers are posted in (``MISC`` in the default
            data).
        voucher_aux_in_description: auxiliary dimensions other than the project, which Tryton's moves cannot
            hold, are appended to the line's description (``部门=D01``) instead of being refused.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = Field(min_length=1)
    database: str = Field(min_length=1)
    username: str = Field(min_length=1)
    password: SecretStr | None = None
    session: SecretStr | None = None
    language: str = "en"
    rpc_path: str = "/{database}/rpc/"
    company: int | None = Field(None, ge=1)
    timeout: float = Field(30.0, gt=0)
    reference_field: str = Field(default="reference", pattern=r"^[a-z_][a-z0-9_]*$")
    party_match: tuple[PartyMatch, ...] = (PartyMatch.CODE, PartyMatch.TAX_IDENTIFIER, PartyMatch.NAME)
    tax_identifier_type: str | None = None
    product_match: tuple[ProductMatch, ...] = (ProductMatch.CODE,)
    account_category: int | None = Field(None, ge=1)
    payment_term: int | None = Field(None, ge=1)
    invoice_method: InvoiceMethod = InvoiceMethod.ORDER
    units: dict[str, str] = Field(default_factory=lambda: {
        "unit": "u", "u": "u", "pcs": "u", "个": "u", "件": "u", "台": "u", "套": "u", "把": "u", "支": "u",
        "包": "u", "箱": "u", "盒": "u", "张": "u", "本": "u", "瓶": "u", "只": "u", "块": "u",
        "kg": "kg", "千克": "kg", "公斤": "kg", "g": "g", "克": "g", "m": "m", "米": "m", "l": "l", "升": "l",
    })
    default_unit: str = "u"
    confirm_purchases: bool = True
    check_amounts: bool = True
    ambiguous_wait: float = Field(30.0, ge=0)
    payment_account: str = Field("5.1.3", min_length=1)
    payment_reference_field: str = Field(default="reference", pattern=r"^[a-z_][a-z0-9_]*$")
    payment_method: int | None = Field(None, ge=1)
    payment_journal: str = Field("EXP", min_length=1)
    project_root: str = Field("HUILIU-PROJECTS", min_length=1)
    project_root_name: str = Field("项目 Projects", min_length=1)
    project_dimension: str = Field("project", min_length=1)
    voucher_journal: str = Field("MISC", min_length=1)
    voucher_aux_in_description: bool = False

    @field_validator("base_url")
    @classmethod
    def _normalise_base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {value!r}")
        return value.rstrip("/")

    @field_validator("session")
    @classmethod
    def _session_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            user, _, token = value.get_secret_value().partition(":")
            if not user.isdigit() or not token:
                raise ValueError("session must be '<user_id>:<token>'")
        return value

    @model_validator(mode="after")
    def _credentials(self) -> TrytonSettings:
        if self.password is None and self.session is None:
            raise ValueError("give a password, a session, or both")
        if not self.party_match:
            raise ValueError("party_match needs at least one way to match suppliers")
        if not self.product_match:
            raise ValueError("product_match needs at least one way to match items")
        return self

    @property
    def rpc_url(self) -> str:
        """The database's JSON-RPC endpoint, e.g. ``http://host:8000/hub/rpc/``."""
        return self.base_url + self.rpc_path.format(database=self.database)

    @property
    def server_url(self) -> str:
        """The server-level endpoint (``common.server.version``, ``common.db.list``)."""
        return f"{self.base_url}/rpc/"
