"""Settings of the Kingdee 金蝶云星空 (K3Cloud) connector, validated once at start-up."""

from __future__ import annotations

import enum

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

__all__ = ["BookRoute", "KingdeeSettings", "OrgSyncSettings", "ReversalStyle"]


class ReversalStyle(enum.StrEnum):
    """How a reversing voucher (冲销凭证) undoes the original when it cannot be deleted."""

    RED = "red"
    """红字冲销: the same accounts and directions with negative amounts, ``FISREDWRITEOFF`` true. The usual
    practice in Chinese bookkeeping, and what Kingdee's 红冲 flag names; account totals net to zero."""
    SWAP = "swap"
    """蓝字冲销: positive amounts with debit and credit swapped. For books that forbid negative amounts;
    it inflates both sides of each account's turnover."""


class BookRoute(BaseModel):
    """One routing rule: vouchers it matches go to ``book`` (账簿) of organisation ``org`` (多组织).

    A rule matches when every condition it sets holds; at least one must be set. Rules are tried in
    order and the first match wins.

    Attributes:
        book: the account book number sent as ``FAccountBookID``.
        org: the accounting organisation number sent as ``FACCBOOKORGID``; left out when ``None``.
        department_prefix: matches a voucher whose lines name at least one department (the
            ``department`` auxiliary dimension) and only departments starting with this prefix.
        voucher_book: matches the canonical voucher's ``book`` (the flow's name for the book).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    book: str = Field(min_length=1)
    org: str | None = None
    department_prefix: str | None = Field(None, min_length=1)
    voucher_book: str | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _has_condition(self) -> BookRoute:
        if self.department_prefix is None and self.voucher_book is None:
            raise ValueError(f"route to book {self.book!r} has no condition: set department_prefix or "
                             "voucher_book")
        return self


_FIELD = r"^[A-Za-z_]\w*$"


class OrgSyncSettings(BaseModel):
    """Where ``kingdee.org.sync`` keeps departments (部门) and employees (员工) in K3Cloud.

    Unconfirmed, all of it: shared/contracts §4 names ``BD_Empinfo`` only as a contact-unit type and says
    nothing of departments, employees, their keys or the 禁用 operation. The defaults follow integrators'
    code (a BOS DTO library: ``FDEPTID``, ``FParentID``, ``FCreateOrgId`` / ``FUseOrgId``; the employee's
    ``FPostEntity`` entry with ``FPostDept``); a tenant whose keys differ sets them here.

    Attributes:
        department_form: the department base data form.
        department_id_field: the department's internal id (内码), sent back on Save to update it.
        department_parent_field: the parent department (上级部门), a reference ``{"FNumber": …}``.
        employee_form: the employee base data form.
        employee_id_field: the employee's internal id (内码).
        employee_number_field: the employee number (员工编号) the hub's 工号 goes into and is matched on.
            Some versions show 员工编号 as ``FStaffNumber``; unconfirmed which one a tenant keys on.
        employee_post_entry: the entry holding the employee's post (任岗信息), whose first row gets the
            department; ``None`` puts ``employee_department_field`` in the header instead.
        employee_department_field: the employee's department, a reference ``{"FNumber": …}``.
        use_org: the organisation number sent as ``FCreateOrgId`` and ``FUseOrgId`` (and as the post's
            ``FWorkOrgId``); records are looked up in this organisation only (多组织: base data belongs to
            a use organisation). ``None`` sends no organisation and matches across all of them.
        forbid_status_field: the 禁用状态 field; ``B`` is forbidden, ``A`` in use.
        forbid_operation: the ``ExcuteOperation`` ``opNumber`` of 禁用.
        enable_operation: the ``opNumber`` of 反禁用, for a rehire or a department back in use.
        audit: bring saved records to 已审核 (Submit, then Audit): K3Cloud only lets bills and employees
            refer to audited base data. An audited record is un-audited before an update and audited again.
        page_size: rows per ExecuteBillQuery page when reading what Kingdee holds.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    department_form: str = Field("BD_Department", min_length=1)
    department_id_field: str = Field("FDEPTID", pattern=_FIELD)
    department_parent_field: str = Field("FParentID", pattern=_FIELD)
    employee_form: str = Field("BD_Empinfo", min_length=1)
    employee_id_field: str = Field("FID", pattern=_FIELD)
    employee_number_field: str = Field("FNumber", pattern=_FIELD)
    employee_post_entry: str | None = Field("FPostEntity", pattern=_FIELD)
    employee_department_field: str = Field("FPostDept", pattern=_FIELD)
    use_org: str | None = Field("100", min_length=1)
    forbid_status_field: str = Field("FForbidStatus", pattern=_FIELD)
    forbid_operation: str = Field("Forbid", pattern=_FIELD)
    enable_operation: str = Field("Enable", pattern=_FIELD)
    audit: bool = True
    page_size: int = Field(2000, ge=1, le=10000)


class KingdeeSettings(BaseModel):
    """How to reach one K3Cloud account set (数据中心) and how its vouchers are laid out.

    Several values differ per tenant and are not confirmed by any public source; they are settings so
    that a deployment can match its own BOS configuration without code changes.

    Attributes:
        base_url: the server, e.g. ``http://erp.example.com`` (a trailing ``/k3cloud/`` as in the
            official SDK's ``server_url`` is accepted and removed).
        acct_id: the account-set id (数据中心 ID, ``acctID``) given at login.
        username: the WebAPI user.
        password: that user's password; never shown in messages or ``repr``.
        lcid: the login locale; 2052 is zh-CN.
        reference_field: the custom header field that stores the hub's reference, looked up before any
            retried create. Unconfirmed: customers add it in BOS, so its key is tenant-specific.
        aux_fields: canonical auxiliary dimension (辅助核算) → flex field inside ``FDetailID``. Which
            ``FFLEXn`` means department or employee is configured per account book.
        book: the account book (账簿) number sent as ``FAccountBookID`` when ``routes`` is empty.
        org: the accounting organisation (核算组织) sent as ``FACCBOOKORGID`` with ``book``; left out
            when ``None`` (Kingdee then takes the book's own organisation).
        routes: rules choosing the book and organisation per voucher (多组织 / 账套). Precedence, in
            ``kingdee.voucher.create`` and ``create_batch``: a ``book`` the flow puts in the request wins;
            else, when rules are set, the first matching rule, and a voucher matching none is refused
            with a :class:`MappingError` (never sent to a guessed book); else ``book`` / ``org``.
        currency_number: ISO currency → Kingdee currency number (``PRE001`` is CNY in a fresh tenant).
        voucher_form: the form id of vouchers.
        voucher_groups: canonical voucher group (凭证字, e.g. ``记``) → the number of that base-data
            record. Unconfirmed: tenants number them ``记`` or ``PRE001``; groups not listed are sent as
            they are.
        audit_vouchers: bring created vouchers to 已审核 (Submit, then Audit). Off leaves them 创建 for an
            accountant to review.
        data_as_string: send ``data`` as a JSON string, as some SDK versions do, instead of an object.
            Unconfirmed which one every server version accepts; both are seen in public clients.
        ambiguous_wait: seconds to wait, after a Save that got no answer (timeout, dropped
            connection), before looking the voucher up by its reference. K3Cloud finishes a Save
            after the client stopped waiting; a lookup before that finds nothing and a second Save makes
            a second voucher. Set it above the slowest Save the server takes under load — or, better,
            mark the reference field unique in BOS, which makes a second Save fail and be adopted.
        reversal_style: how ``kingdee.voucher.reverse`` writes a reversing voucher when the original
            cannot be unaudited and deleted (closed period, posted voucher): see :class:`ReversalStyle`.
        reversal_suffix: appended to the original's reference to make the reversing voucher's
            reference, so a retried reversal finds the first one.
        reversal_link_field: a header field holding the original's bill number on the reversing
            voucher; ``None`` sends no link besides the reference and the summaries. Unconfirmed: a
            custom field, like ``reference_field``.
        batch_size: vouchers per BatchSave call in ``kingdee.voucher.create_batch``.
        payment_form: the form of payments (付款单). Unconfirmed: ``AP_PAYBILL`` in integrators' code, not in
            the contract; its keys (``FDATE``, ``FCONTACTUNITTYPE``, ``FCONTACTUNIT``, ``FCURRENCYID``,
            ``FREMARK``, entry ``FPAYBILLENTRY`` with ``FPAYTOTALAMOUNTFOR`` and ``FCOMMENT``) are unconfirmed too.
        payment_bill_type: the 付款单 bill type number (``FBillTypeID``). Unconfirmed.
        supplier_form: the supplier base data form (``BD_Supplier``), matched by ``FNumber`` (the OA's
            supplier code, else its name) and saved, submitted and audited once when missing.
        project_form: the project base data form. Unconfirmed: K3Cloud keeps projects as configurable base
            data (辅助资料) whose form id differs per tenant.
        project_dimension: the auxiliary dimension (a key of ``aux_fields``) vouchers book projects in;
            ``kingdee.project.actuals`` reads it. Must be mapped in ``aux_fields``.
        supplier_tax_field: the supplier's 统一社会信用代码 field, ``<sub-entity>.<field>`` (saved inside the
            sub-entity, queried by the field alone); ``kingdee.party.ensure`` matches on it first. ``None``
            matches by number and name only. Unconfirmed: ``FBaseInfo.FSOCIALCRECODE`` in integrators' code.
        contract_form: the form of purchase contracts (采购合同). Unconfirmed: ``PUR_Contract`` in integrators'
            code, not in the contract (shared/contracts §4 is silent on contracts).
        contract_bill_type: the 采购合同 bill type number (``FBillTypeID``). Unconfirmed.
        contract_org: the purchasing organisation number sent as ``FPurchaseOrgId``; ``None`` leaves it out
            (the ERP then refuses the contract: it is required).
        contract_amount_field: the contract header field holding the amount (价税合计). Unconfirmed.
        contract_note_field: the header field receiving 付款条件 and the OA's notes as text. Unconfirmed.
        org_sync: forms, keys and operations of ``kingdee.org.sync`` (departments and employees), all
            unconfirmed: see :class:`OrgSyncSettings`. Its saves go in BatchSave calls of ``batch_size``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = Field(min_length=1)
    acct_id: str = Field(min_length=1)
    username: str = Field(min_length=1)
    password: SecretStr
    lcid: int = 2052
    reference_field: str = Field(default="F_HUILIU_REF", pattern=r"^[A-Za-z_]\w*$")
    preparer_field: str | None = Field(default=None, pattern=r"^[A-Za-z_]\w*$")
    """The voucher header field of the preparer (制单人), sent as ``{"FUserAccount": <ERP user>}`` when the flow
    names one. Unconfirmed (not in shared/contracts; ``FCreatorId`` in most tenants): off unless set."""
    aux_fields: dict[str, str] = Field(default_factory=lambda: {"department": "FFLEX5", "employee": "FFLEX7"})
    book: str = "001"
    org: str | None = None
    routes: tuple[BookRoute, ...] = ()
    currency_number: dict[str, str] = Field(default_factory=lambda: {"CNY": "PRE001"})
    voucher_form: str = "GL_VOUCHER"
    voucher_groups: dict[str, str] = Field(default_factory=dict)
    audit_vouchers: bool = True
    data_as_string: bool = False
    ambiguous_wait: float = Field(60.0, ge=0)
    reversal_style: ReversalStyle = ReversalStyle.RED
    reversal_suffix: str = Field("-R", min_length=1, pattern=r"^[\w-]+$")
    reversal_link_field: str | None = Field("F_HUILIU_REVERSES", pattern=r"^[A-Za-z_]\w*$")
    batch_size: int = Field(50, ge=1, le=1000)
    payment_form: str = "AP_PAYBILL"
    payment_bill_type: str = "FKDLX01_SYS"
    supplier_form: str = "BD_Supplier"
    project_form: str = "BD_Project"
    project_dimension: str = "project"
    # Contract and supplier-tax keys: not in shared/contracts §4; taken from integrators' code, so configurable.
    supplier_tax_field: str | None = Field("FBaseInfo.FSOCIALCRECODE", pattern=r"^([A-Za-z_]\w*\.)?[A-Za-z_]\w*$")
    contract_form: str = Field("PUR_Contract", min_length=1)
    contract_bill_type: str = Field("CGHT01_SYS", min_length=1)
    contract_org: str | None = Field("100", min_length=1)
    contract_amount_field: str = Field("FTotalAmount", pattern=r"^[A-Za-z_]\w*$")
    contract_note_field: str = Field("FDescription", pattern=r"^[A-Za-z_]\w*$")
    org_sync: OrgSyncSettings = Field(default_factory=OrgSyncSettings)

    @field_validator("base_url")
    @classmethod
    def _normalise_base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {value!r}")
        value = value.rstrip("/")
        return value.removesuffix("/k3cloud").rstrip("/")

    @property
    def service_root(self) -> str:
        """``{base_url}/k3cloud/``: service names are appended with ``.common.kdsvc``."""
        return f"{self.base_url}/k3cloud/"
