"""Settings of the Yonyou 用友 connector (YonBIP / YonSuite OpenAPI, or U8 OpenAPI), validated once at start-up.

The contract (shared/contracts/README.md §5) is mostly third-party copies of Yonyou's pages, so nearly every
path, code and field name below is a setting. Those marked *unconfirmed* were found in no stored source.
"""

from __future__ import annotations

import enum

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

__all__ = ["Flavour", "PartyMatch", "ProductMatch", "YonyouSettings"]


class Flavour(enum.StrEnum):
    """Which Yonyou OpenAPI the tenant exposes."""

    YONBIP = "yonbip"
    """YonBIP / YonSuite: HmacSHA256-signed ``getAccessToken``, ``access_token`` query parameter,
    ``resubmitCheckKey`` for idempotent saves (contract §5.1)."""
    U8 = "u8"
    """U8 OpenAPI (api.yonyouup.com): ``system/token`` with app key and secret, a ``tradeid`` from
    ``system/tradeid`` on every ``add`` (contract §5.2)."""


class PartyMatch(enum.StrEnum):
    """How a supplier from the OA is matched to an existing Yonyou vendor (供应商档案)."""

    CODE = "code"
    """The vendor's ``code`` equals the supplier's code."""
    TAX_IDENTIFIER = "tax_identifier"
    """The vendor's tax number field (``settings.tax_id_field``) equals the supplier's tax id."""
    NAME = "name"
    """The vendor's ``name`` equals the supplier's name exactly."""


class ProductMatch(enum.StrEnum):
    """How an item from the OA is matched to an existing Yonyou material (物料档案)."""

    CODE = "code"
    """The material's ``code`` equals the item's code."""
    NAME = "name"
    """The material's ``name`` equals the item's name exactly."""


def _default_paths() -> dict[str, str]:
    # YonBIP paths. "[T]" in the contract: singleSave_v1, batchsubmit, addVoucher, queryVouchers. All the
    # others are unconfirmed guesses following the same naming and must be checked against the tenant's
    # API list (开放平台 → API 授权).
    return {
        "vendor.list": "/yonbip/digitalModel/vendor/list",  # unconfirmed
        "vendor.save": "/yonbip/digitalModel/vendor/save",  # unconfirmed
        "product.list": "/yonbip/digitalModel/product/list",  # unconfirmed
        "product.save": "/yonbip/digitalModel/product/save",  # unconfirmed
        "purchase.save": "/yonbip/scm/purchaseorder/singleSave_v1",
        "purchase.submit": "/yonbip/scm/purchaseorder/batchsubmit",
        "purchase.audit": "/yonbip/scm/purchaseorder/batchaudit",  # unconfirmed
        "purchase.unaudit": "/yonbip/scm/purchaseorder/batchunaudit",  # unconfirmed
        "purchase.delete": "/yonbip/scm/purchaseorder/batchdelete",  # unconfirmed
        "purchase.detail": "/yonbip/scm/purchaseorder/detail",  # unconfirmed
        "purchase.list": "/yonbip/scm/purchaseorder/list",  # unconfirmed
        "voucher.add": "/yonbip/fi/ficloud/openapi/voucher/addVoucher",
        "voucher.query": "/yonbip/fi/ficloud/openapi/voucher/queryVouchers",
        "payment.save": "/yonbip/fi/paybill/save",  # unconfirmed
        "payment.audit": "/yonbip/fi/paybill/batchaudit",  # unconfirmed
        "payment.detail": "/yonbip/fi/paybill/detail",  # unconfirmed
        "payment.list": "/yonbip/fi/paybill/list",  # unconfirmed
        "project.save": "/yonbip/digitalModel/project/save",  # unconfirmed
        "project.list": "/yonbip/digitalModel/project/list",  # unconfirmed
    }


def _default_u8_paths() -> dict[str, str]:
    # U8 OpenAPI: /api/<entity>/<get|batch_get|add> is [T]; the entity names for vendors, inventory and
    # purchase orders, and every verb beyond get/batch_get/add, are unconfirmed.
    return {
        "vendor.list": "/api/vendor/batch_get",
        "vendor.save": "/api/vendor/add",
        "product.list": "/api/inventory/batch_get",
        "product.save": "/api/inventory/add",
        "purchase.save": "/api/purchaseorder/add",
        "purchase.submit": "/api/purchaseorder/submit",  # unconfirmed
        "purchase.audit": "/api/purchaseorder/audit",  # unconfirmed
        "purchase.unaudit": "/api/purchaseorder/unaudit",  # unconfirmed
        "purchase.delete": "/api/purchaseorder/delete",  # unconfirmed
        "purchase.detail": "/api/purchaseorder/get",
        "purchase.list": "/api/purchaseorder/batch_get",
        "voucher.add": "/api/voucher/add",  # unconfirmed payload
        "voucher.query": "/api/voucher/batch_get",  # unconfirmed
        "payment.save": "/api/paybill/add",  # unconfirmed entity
        "payment.audit": "/api/paybill/audit",  # unconfirmed
        "payment.detail": "/api/paybill/get",  # unconfirmed entity
        "payment.list": "/api/paybill/batch_get",  # unconfirmed entity
        "project.save": "/api/project/add",  # unconfirmed entity
        "project.list": "/api/project/batch_get",  # unconfirmed entity
    }


class YonyouSettings(BaseModel):
    """How to reach one Yonyou tenant and how its documents are laid out.

    Attributes:
        flavour: ``yonbip`` (default) or ``u8``.
        base_url: YonBIP: the data centre's ``gatewayUrl`` (from ``open-auth/dataCenter/getGatewayAddress``);
            U8: ``https://api.yonyouup.com``.
        token_url: YonBIP: the data centre's ``tokenUrl``; defaults to ``base_url``.
        token_path: YonBIP token path. Older hosts prefix ``/iuap-api-auth``; a newer
            ``/open-auth/selfAppAuth/base/v1/getAccessToken`` is reported (contract §5.1).
        app_key: the self-built app's ``appKey`` (U8: ``app_key``).
        app_secret: the ``appSecret`` (U8: ``app_secret``); signs the token request. Never shown.
        from_account: U8 only: the ``from_account`` of the app.
        to_account: U8 only: the ``to_account`` (the enterprise account) business calls address.
        refresh_margin: seconds before the token's ``expire`` at which it is refreshed.
        success_codes: ``code`` values of a successful YonBIP reply (``"00000"`` for the token, ``"200"``
            for business calls; ``code`` may be a string or a number, contract §5.1).
        expired_token_codes: reply codes that mean the token is invalid or expired. Unconfirmed (the
            contract lists none); HTTP 401 is treated the same way.
        rate_limit_codes: reply codes that mean "slow down". Unconfirmed; HTTP 429 is treated the same way.
        duplicate_codes: codes of the refusal of a repeated ``resubmitCheckKey`` (or of a duplicate voucher
            code: 310504 / 310074 are reported, contract §5.1). The duplicate is then adopted.
        duplicate_markers: words in a refusal's message that also mean "already saved" (unconfirmed wording).
        paths: operation → path on ``base_url``. Defaults per flavour; most are unconfirmed.
        reference_field: the purchase order and payment header field that stores the hub's reference, searched
            before a retried save (unconfirmed: a 表头自定义项 or ``memo``).
        resubmit_key_field: the body field carrying the idempotency key (``resubmitCheckKey``, ≤ 32 chars).
        modified_field: the timestamp field filtered by ``changes.since`` (``pubts``; unconfirmed).
        timezone: the tenant's zone: Yonyou times are ``YYYY-MM-DD HH:MM:SS`` without an offset.
        org_code: the purchasing organisation (``org_code`` / ``inOrg_code`` / ``inInvoiceOrg_code``).
        bustype_code: the purchase order's transaction type (交易类型), e.g. ``A20001`` (unconfirmed).
        exchange_rate_type: ``exchRateType`` (unconfirmed default ``01``, 基准汇率).
        local_currency: the organisation's currency (``natCurrency_code``).
        tax_rate: VAT rate in percent put on purchase order lines (``taxRate``; unconfirmed key).
        tax_id_field: the vendor field holding the 统一社会信用代码 (unconfirmed).
        party_match: the ways a supplier is matched, tried in order.
        product_match: the ways an item is matched, tried in order.
        units: OA unit name → Yonyou unit code.
        default_unit: the unit code of items that name none.
        product_class: the material class (物料分类) code new materials get (unconfirmed key ``manageClass``).
        vendor_class: the vendor class (供应商分类) code new vendors get (unconfirmed key ``vendorclass``).
        audit_purchases: submit and audit created orders (开立 → 审核中 → 已审核).
        accbook_code: the account book (账簿) code of vouchers.
        voucher_types: canonical 凭证字 (``记``) → Yonyou ``voucherTypeCode``; unlisted ones are sent as is.
        voucher_description_reference: put the hub's reference at the front of the first entry's
            ``description`` so ``queryVouchers`` can find a voucher made by a lost attempt (vouchers have no
            documented free header field).
        page_size: rows per page for lists.
        payment_bustype_code: the payment's transaction type (付款单交易类型; unconfirmed code).
        payment_quick_type: the 款项类型 code of payment lines (unconfirmed; ``1`` 应付款 is assumed).
        audit_payments: audit created payments (开立 → 已审核), so the cashier can settle them.
        payment_paid_field: the payment header field that says whether it was settled (``settleStatus``,
            unconfirmed).
        payment_paid_values: the values of that field that mean paid (已结算; unconfirmed ``1``).
        project_class: the project class (项目分类) code new projects get (unconfirmed key ``classifyid_code``).
        project_aux_key: the voucher entry auxiliary (辅助核算) key that names the project, as
            ``voucher_values`` writes a voucher line's ``aux`` (unconfirmed: tenants name it per 辅助核算项).
        cost_account_prefixes: account code prefixes whose entries count as project costs in
            ``project.actuals`` (生产成本 5001, 制造费用 5101, 研发支出 5301, 主营业务成本 6401, 销售费用 6601,
            管理费用 6602, 在建工程 1604 in the 2006 Chinese chart).
        ambiguous_wait: seconds to wait after a save that got no answer before looking it up.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    flavour: Flavour = Flavour.YONBIP
    base_url: str = Field(min_length=1)
    token_url: str | None = None
    token_path: str = "/open-auth/selfAppAuth/getAccessToken"  # noqa: S105 - a path
    app_key: str = Field(min_length=1)
    app_secret: SecretStr
    from_account: str | None = None
    to_account: str | None = None
    refresh_margin: float = Field(300.0, ge=0)
    success_codes: tuple[str, ...] = ("200", "00000", "0")
    # Unconfirmed: the contract lists no expired-token or throttling code; add the tenant's own.
    expired_token_codes: tuple[str, ...] = ("401",)
    rate_limit_codes: tuple[str, ...] = ("429",)
    duplicate_codes: tuple[str, ...] = ("310504", "310074")
    duplicate_markers: tuple[str, ...] = ("重复提交", "已存在")  # unconfirmed wording
    paths: dict[str, str] = Field(default_factory=dict)
    reference_field: str = Field("memo", pattern=r"^[A-Za-z_][\w.]*$")
    resubmit_key_field: str = "resubmitCheckKey"
    modified_field: str = "pubts"
    timezone: str = "Asia/Shanghai"
    org_code: str = Field("ORG01", min_length=1)
    bustype_code: str = "A20001"
    exchange_rate_type: str = "01"
    local_currency: str = "CNY"
    tax_rate: int = Field(13, ge=0, le=100)
    tax_id_field: str = "taxNumber"
    party_match: tuple[PartyMatch, ...] = (PartyMatch.CODE, PartyMatch.TAX_IDENTIFIER, PartyMatch.NAME)
    product_match: tuple[ProductMatch, ...] = (ProductMatch.CODE,)
    units: dict[str, str] = Field(default_factory=lambda: {
        "个": "PCS", "件": "PCS", "pcs": "PCS", "台": "TAI", "套": "TAO", "把": "BA", "支": "ZHI", "包": "BAO",
        "箱": "XIANG", "千克": "KG", "kg": "KG",
        "公斤": "KG", "米": "M", "m": "M"})
    default_unit: str = "PCS"
    product_class: str = "01"
    vendor_class: str = "01"
    audit_purchases: bool = True
    accbook_code: str = "001"
    voucher_types: dict[str, str] = Field(default_factory=lambda: {"记": "1"})
    voucher_description_reference: bool = True
    page_size: int = Field(50, ge=1, le=500)
    ambiguous_wait: float = Field(30.0, ge=0)
    timeout: float = Field(30.0, gt=0)
    payment_bustype_code: str = "FK01"  # unconfirmed
    payment_quick_type: str = "1"  # unconfirmed
    audit_payments: bool = True
    payment_paid_field: str = "settleStatus"  # unconfirmed
    payment_paid_values: tuple[str, ...] = ("1",)  # unconfirmed
    project_class: str = "01"  # unconfirmed
    project_aux_key: str = "project"  # unconfirmed
    cost_account_prefixes: tuple[str, ...] = Field(("1604", "5001", "5101", "5301", "6401", "6601", "6602"),
                                                   min_length=1)

    @field_validator("base_url", "token_url")
    @classmethod
    def _normalise_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"URLs must start with http:// or https://, got {value!r}")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _complete(self) -> YonyouSettings:
        if self.flavour is Flavour.U8 and (not self.from_account or not self.to_account):
            raise ValueError("the u8 flavour needs from_account and to_account")
        if not self.party_match or not self.product_match:
            raise ValueError("party_match and product_match need at least one way each")
        defaults = _default_u8_paths() if self.flavour is Flavour.U8 else _default_paths()
        unknown = set(self.paths) - set(defaults)
        if unknown:
            raise ValueError(f"unknown path keys: {', '.join(sorted(unknown))}; known: {', '.join(sorted(defaults))}")
        object.__setattr__(self, "paths", {**defaults, **self.paths})
        return self

    def path(self, operation: str) -> str:
        """The path of ``operation`` (e.g. ``purchase.save``)."""
        return self.paths[operation]

    @property
    def token_endpoint(self) -> str:
        """The YonBIP ``getAccessToken`` URL, or the U8 ``system/token`` URL."""
        if self.flavour is Flavour.U8:
            return f"{self.base_url}/system/token"
        return (self.token_url or self.base_url) + self.token_path
