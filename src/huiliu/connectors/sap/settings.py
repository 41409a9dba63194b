"""Settings of the SAP S/4HANA connector (OData for purchasing and master data, SOAP for journal entries).

The contract (shared/contracts/README.md §8) is short: the CSRF flow and the purchase order deep insert are
[T], journal entry posting is the SOAP ``JournalEntryBulkCreateRequest`` [D]; error bodies, throttling and
idempotency are unconfirmed. Every service path, entity and field the code relies on is therefore a setting.
"""

from __future__ import annotations

import enum

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

__all__ = ["ODataVersion", "PartyMatch", "SapSettings"]


class ODataVersion(enum.StrEnum):
    """The OData protocol version of the services."""

    V2 = "v2"
    """``{"d": {…}}`` / ``{"d": {"results": […]}}``, dates ``/Date(ms)/``, ``datetimeoffset'…'`` literals."""
    V4 = "v4"
    """``{"value": […]}`` or the bare entity, ISO dates and literals."""


class PartyMatch(enum.StrEnum):
    """How a supplier from the OA is matched to an existing business partner."""

    CODE = "code"
    """``settings.supplier_code_field`` (``SearchTerm1``) equals the supplier's code."""
    TAX_IDENTIFIER = "tax_identifier"
    """``settings.supplier_tax_field`` equals the supplier's tax id (unconfirmed field)."""
    NAME = "name"
    """``settings.supplier_name_field`` equals the supplier's name exactly."""


class SapSettings(BaseModel):
    """How to reach one S/4HANA system and how its documents are laid out.

    Attributes:
        base_url: the host, e.g. ``https://my123456-api.s4hana.ondemand.com``.
        username: basic-auth user (a communication user); with ``password``.
        password: its password; never shown.
        bearer_token: an OAuth access token used instead of basic auth.
        sap_client: the ``sap-client`` query parameter (on-premise), or ``None``.
        odata_version: ``v2`` (``API_PURCHASEORDER_PROCESS_SRV``) or ``v4`` (``api_purchaseorder_2``).
        language: the ``Language`` of new texts (``ZH``).
        purchase_service / purchase_entity / purchase_items: the purchase order service, entity set and
            item navigation (V4: ``…/purchaseorder/0001``, ``PurchaseOrder``, ``_PurchaseOrderItem``).
        partner_service / partner_entity: business partners (``API_BUSINESS_PARTNER`` / ``A_BusinessPartner``).
        product_service / product_entity: materials (``API_PRODUCT_SRV`` / ``A_Product``).
        journal_service / journal_entity: where journal entries are posted as JSON. The contract names SOAP
            ``JournalEntryBulkCreateRequest`` (SAP_COM_0002) as the posting API; an OData V4 journal entry
            service is only reported. The hub's HTTP client sends JSON bodies only, so posting goes to this
            OData entity (unconfirmed) with the SOAP message's field names.
        journal_read_service / journal_read_entity: where posted entries are read
            (``API_JOURNALENTRYITEMBASIC_SRV`` / ``A_JournalEntryItemBasic``, [T]).
        reference_field: the purchase order header field holding the hub's reference, searched before a
            retried create. ``CorrespncExternalReference`` ("Your Reference", 12 characters).
        reference_length: that field's length; a longer reference is stored as a 12-character hash.
        journal_reference_field: the journal entry field holding the reference (``DocumentReferenceID``,
            16 characters, BKPF-XBLNR).
        journal_reference_length: that field's length.
        release_function: the function import that releases (审批) a created order, or ``None`` to leave it
            as created. Unconfirmed: the standard V2 service publishes none; tenants expose one.
        company_code, purchasing_org, purchasing_group, plant, order_type: the order's organisation.
        tax_code: the items' tax code (``J1`` … per country; unconfirmed default).
        supplier_code_field / supplier_name_field / supplier_tax_field: business partner fields matched.
        partner_grouping: ``BusinessPartnerGrouping`` of new suppliers.
        product_type: ``ProductType`` of new materials (``HAWA`` trading goods).
        party_match: the ways a supplier is matched, tried in order.
        units: OA unit name → SAP unit (``PC`` …).
        default_unit: the unit of items that name none.
        document_type: ``AccountingDocumentType`` of journal entries (``SA``).
        page_size: rows per page for ``changes.since``.
        ambiguous_wait: seconds to wait after a create that got no answer before looking it up.
        timeout: seconds for one request.
        payment_service / payment_entity: where supplier payments are posted, as journal entries of type
            ``payment_document_type`` (default: the journal entry entity above; unconfirmed, as there).
        payment_document_type: ``AccountingDocumentType`` of payments (``KZ`` 付款凭证, vendor payment).
        payable_account: the G/L account of the supplier line (the supplier's reconciliation account
            统驭科目; SAP derives it from the supplier master, so unconfirmed whether it must be sent).
        bank_gl_account: the bank G/L account credited (the house bank's 银行存款 account).
        bank_accounts: the company's bank account number as the OA names it → its bank G/L account; others
            use ``bank_gl_account``.
        project_service / project_entity: enterprise projects (``API_ENTERPRISE_PROJECT_SRV`` /
            ``A_EnterpriseProject``, keyed by ``ProjectUUID``; unconfirmed, no stored source names them).
        project_profile: ``ProjectProfileCode`` of new projects (unconfirmed default).
        journal_project_field: the journal entry item field of the WBS element costs are booked against
            (``WBSElement``; unconfirmed). A project's costs are those on its top WBS element, whose ID is the
            project's code (as S/4HANA Cloud enterprise projects name it; unconfirmed).
        cost_account_prefixes: G/L account prefixes whose items count as project costs in ``project.actuals``.
        company_currency: the company code's currency (``CompanyCodeCurrency``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = Field(min_length=1)
    username: str | None = None
    password: SecretStr | None = None
    bearer_token: SecretStr | None = None
    sap_client: str | None = None
    odata_version: ODataVersion = ODataVersion.V2
    language: str = "ZH"
    purchase_service: str = "/sap/opu/odata/sap/API_PURCHASEORDER_PROCESS_SRV"
    purchase_entity: str = "A_PurchaseOrder"
    purchase_items: str = "to_PurchaseOrderItem"
    partner_service: str = "/sap/opu/odata/sap/API_BUSINESS_PARTNER"
    partner_entity: str = "A_BusinessPartner"
    product_service: str = "/sap/opu/odata/sap/API_PRODUCT_SRV"
    product_entity: str = "A_Product"
    journal_service: str = "/sap/opu/odata/sap/API_JOURNALENTRY_SRV"  # unconfirmed
    journal_entity: str = "A_JournalEntry"  # unconfirmed
    journal_read_service: str = "/sap/opu/odata/sap/API_JOURNALENTRYITEMBASIC_SRV"
    journal_read_entity: str = "A_JournalEntryItemBasic"
    reference_field: str = Field("CorrespncExternalReference", pattern=r"^[A-Za-z_]\w*$")
    reference_length: int = Field(12, ge=8)
    journal_reference_field: str = Field("DocumentReferenceID", pattern=r"^[A-Za-z_]\w*$")
    journal_reference_length: int = Field(16, ge=8)
    release_function: str | None = "Release"  # unconfirmed
    company_code: str = "1010"
    purchasing_org: str = "1010"
    purchasing_group: str = "001"
    plant: str = "1010"
    order_type: str = "NB"
    tax_code: str = "J1"  # unconfirmed
    supplier_code_field: str = "SearchTerm1"
    supplier_name_field: str = "OrganizationBPName1"
    supplier_tax_field: str = "TaxNumber1"  # unconfirmed on A_BusinessPartner (it lives in to_BusinessPartnerTax)
    partner_grouping: str = "BP02"  # unconfirmed, per tenant
    product_type: str = "HAWA"
    party_match: tuple[PartyMatch, ...] = (PartyMatch.CODE, PartyMatch.NAME)
    units: dict[str, str] = Field(default_factory=lambda: {
        "个": "PC", "件": "PC", "pcs": "PC", "台": "PC", "套": "SET", "把": "PC", "支": "PC", "包": "PAK",
        "箱": "CS", "千克": "KG", "kg": "KG",
        "公斤": "KG", "米": "M", "m": "M"})
    default_unit: str = "PC"
    document_type: str = "SA"
    page_size: int = Field(50, ge=1, le=1000)
    ambiguous_wait: float = Field(30.0, ge=0)
    timeout: float = Field(30.0, gt=0)
    payment_service: str = "/sap/opu/odata/sap/API_JOURNALENTRY_SRV"  # unconfirmed
    payment_entity: str = "A_JournalEntry"  # unconfirmed
    payment_document_type: str = "KZ"
    payable_account: str = "2202.01"
    bank_gl_account: str = "1002.01"
    bank_accounts: dict[str, str] = Field(default_factory=dict)
    project_service: str = "/sap/opu/odata/sap/API_ENTERPRISE_PROJECT_SRV"  # unconfirmed
    project_entity: str = "A_EnterpriseProject"  # unconfirmed
    project_profile: str = "YP02"  # unconfirmed
    journal_project_field: str = Field("WBSElement", pattern=r"^[A-Za-z_]\w*$")  # unconfirmed
    cost_account_prefixes: tuple[str, ...] = Field(("1604", "5001", "5101", "5301", "6401", "6601", "6602"),
                                                   min_length=1)
    company_currency: str = "CNY"

    @field_validator("base_url")
    @classmethod
    def _normalise_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {value!r}")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _credentials(self) -> SapSettings:
        if self.bearer_token is None and (self.username is None or self.password is None):
            raise ValueError("give username and password (basic auth) or bearer_token")
        if not self.party_match:
            raise ValueError("party_match needs at least one way to match suppliers")
        return self
