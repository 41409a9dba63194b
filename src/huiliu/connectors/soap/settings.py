"""Settings of the generic SOAP (WebService) connector, validated once at start-up."""

from __future__ import annotations

import enum

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

__all__ = ["JournalEntrySettings", "SoapAuth", "SoapLookup", "SoapSettings"]


class SoapAuth(enum.StrEnum):
    """How the connector proves who it is."""

    NONE = "none"
    """No credentials (a service behind a trusted network only)."""
    BASIC = "basic"
    """HTTP basic auth on every request, WSDL download included (SAP communication users)."""
    WSSE = "wsse"
    """WS-Security UsernameToken with the password in clear text (``PasswordText``); use over HTTPS only."""
    WSSE_DIGEST = "wsse_digest"
    """WS-Security UsernameToken with ``PasswordDigest`` (SHA-1 over nonce, created time and password)."""


class SoapLookup(BaseModel):
    """How a create operation's reference is looked up before a retry (DESIGN.md, invariant 3).

    Attributes:
        operation: the lookup operation, e.g. ``JournalEntryByReferenceQuery_In``.
        reference_element: the element of the lookup request that carries the reference.
        fixed: other elements the lookup request needs, e.g. ``{"CompanyCode": "1010"}``.
        result_path: dotted path in the lookup reply to what was found (``JournalEntry``); found when it is
            neither missing, ``None`` nor an empty list. Empty: the whole reply.
        payload_path: dotted path in the create payload where the reference is written when absent
            (``JournalEntryCreateRequest.0.JournalEntry.DocumentReferenceID``). Empty: the flow puts it there.
        reference_length: the vendor field's length; a longer or non-ASCII reference is stored as ``H`` plus
            the upper-case hex of its SHA-256, cut to this length (stable, so the lookup finds it).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    operation: str = Field(min_length=1)
    reference_element: str = Field(min_length=1)
    fixed: dict[str, str] = Field(default_factory=dict)
    result_path: str = ""
    payload_path: str = ""
    reference_length: int | None = Field(None, ge=8)


class JournalEntrySettings(BaseModel):
    """How the hub's vouchers become SAP ``JournalEntryBulkCreateRequest`` messages (contract §8).

    Attributes:
        operation: the WSDL operation, ``JournalEntryCreateRequestConfirmation_In`` in SAP's WSDL.
        company_code: ``JournalEntry/CompanyCode``.
        document_type: ``AccountingDocumentType`` (``SA`` G/L account document).
        created_by_user: ``CreatedByUser``, the communication user's business user.
        business_transaction_type: ``RFBU`` (FI postings).
        original_reference_document_type: ``BKPFF`` (accounting document posted from outside).
        logical_system: ``OriginalReferenceDocumentLogicalSystem``; empty leaves it out.
        reference_length: ``DocumentReferenceID`` is CHAR 16 in SAP.
        aux_fields: the voucher line's auxiliary dimensions (辅助核算) mapped to ``Item/AccountAssignment``
            elements; other dimensions are not sent.
        lookup: how a retried post is looked up; ``None`` needs a finder passed to ``register_actions`` (for
            SAP, the OData connector's journal entry read), since SAP's SOAP service has no read.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    operation: str = "JournalEntryCreateRequestConfirmation_In"
    company_code: str = Field("1010", min_length=1, max_length=4)
    document_type: str = Field("SA", min_length=2, max_length=2)
    created_by_user: str = Field("HUILIU", min_length=1, max_length=12)
    business_transaction_type: str = "RFBU"
    original_reference_document_type: str = "BKPFF"
    logical_system: str = ""
    reference_length: int = Field(16, ge=8)
    aux_fields: dict[str, str] = Field(default_factory=lambda: {
        "department": "CostCenter", "cost_center": "CostCenter", "profit_center": "ProfitCenter"})
    lookup: SoapLookup | None = None


class SoapSettings(BaseModel):
    """How to reach one SOAP service.

    Attributes:
        system: the vendor's name in errors and call records, e.g. ``sap``.
        wsdl: where the WSDL is: a local file path (air-gapped installs keep a copy) or an ``http(s)://`` URL.
        service / port: the WSDL service and port; ``None`` takes the first of each.
        endpoint: the address to post to, overriding the WSDL's ``soap:address`` (a WSDL downloaded from
            a development system names that system).
        auth: how to authenticate, see :class:`SoapAuth`.
        username / password: the credentials; the password never appears in messages or ``repr``.
        timeout: seconds for one operation, and for loading the WSDL.
        lookups: per create operation, how its reference is looked up before a retry (``soap.call``).
        ambiguous_wait: seconds after a create that got no answer before it may be looked up (the service
            may still be working on it; an earlier lookup would miss it and create a second one).
        journal: the ``soap.journal_entry.create`` mapping.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    system: str = Field("soap", pattern=r"^[a-z][a-z0-9_]*$")
    wsdl: str = Field(min_length=1)
    service: str | None = None
    port: str | None = None
    endpoint: str | None = None
    auth: SoapAuth = SoapAuth.NONE
    username: str | None = None
    password: SecretStr | None = None
    timeout: float = Field(30.0, gt=0)
    lookups: dict[str, SoapLookup] = Field(default_factory=dict)
    ambiguous_wait: float = Field(30.0, ge=0)
    journal: JournalEntrySettings = Field(default_factory=JournalEntrySettings)

    @field_validator("endpoint")
    @classmethod
    def _endpoint_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"endpoint must start with http:// or https://, got {value!r}")
        return value

    @model_validator(mode="after")
    def _credentials(self) -> SoapSettings:
        if self.auth is not SoapAuth.NONE and (not self.username or self.password is None):
            raise ValueError(f"auth {self.auth.value} needs username and password")
        return self

    @property
    def is_url(self) -> bool:
        """Whether :attr:`wsdl` is a URL rather than a file path."""
        return self.wsdl.startswith(("http://", "https://"))
