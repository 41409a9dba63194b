"""Settings of one Feishu (飞书 / Lark) app: credentials, event keys, forms, and the knobs the contract leaves open."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

__all__ = ["FeishuSettings", "FormFieldSpec", "WidgetType"]

WidgetType = Literal["input", "textarea", "number", "amount", "date", "radioV2", "radio", "checkboxV2",
                     "contact", "fieldList", "attachmentV2", "attachment", "image", "imageV2"]
"""Form widget types the mapping knows (contracts §3.2, ``form`` items ``{id, type, value}``)."""


class FormFieldSpec(BaseModel):
    """Where one canonical form field goes in an approval definition's form.

    Attributes:
        id: the widget id (``widget16256287451710001``) or its custom id.
        type: the widget type.
        columns: for a ``fieldList`` (明细) widget, its columns by canonical label.
        currency: for an ``amount`` widget, the ISO 4217 code it is kept in.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    type: WidgetType
    columns: dict[str, FormFieldSpec] | None = None
    currency: str | None = None


class FeishuSettings(BaseModel):
    """How the hub talks to one Feishu app (企业自建应用).

    Attributes:
        base_url: the open platform host: ``https://open.feishu.cn`` (Lark: ``https://open.larksuite.com``),
            a sandbox in tests.
        app_id: the app's App ID (``cli_…``).
        app_secret: the app's App Secret.
        verification_token: the event subscription's Verification Token, compared with every event's
            ``token`` (v1) or ``header.token`` (v2).
        encrypt_key: the subscription's Encrypt Key; when set, events arrive as ``{"encrypt": …}`` and the
            ``X-Lark-Signature`` header is checked (contracts §3.4). Empty means plain events.
        verify_signature: check ``X-Lark-Signature`` when ``encrypt_key`` is set (the SDK does).
        timestamp_tolerance: events whose timestamp is further from now than this are stale. The unit of
            ``X-Lark-Request-Timestamp`` (seconds) is unconfirmed by the contract.
        token_refresh_margin: refresh the tenant token this long before ``expire`` runs out; 600 s is what
            ``lark-oapi`` uses (contracts §3.1).
        extra_auth_codes: codes that mean "tenant token invalid" besides the contract's 99991663 and
            99991661 (e.g. 99991668 if your tenant returns it). The full generic list is unconfirmed.
        transient_codes: codes to retry as transient. None is confirmed (the generic error list was not
            fully read); add what your tenant shows for internal errors.
        approval_codes: the approval definitions the hub subscribes to and polls.
        form_layouts: per approval code, where each canonical form field goes (label → widget).
        form_timezone: the zone naive form dates are read in and dates are written in.
        default_currency: the currency of an ``amount`` widget that names none. Whether Feishu puts a
            currency on amount values is unconfirmed.
        list_page_size: ``page_size`` for listing instance codes. The maximum is unconfirmed.
        list_max_span: split listing ranges into windows of at most this span; ``None`` sends the range
            whole. The contract states no maximum span (unconfirmed).
        poll_interval: how often the poller lists recent instances.
        poll_overlap: each poll reaches back this far before the previous one ended.
        adopt_lookback: how far back to search for the instance that holds a uuid after a 60012 refusal.
        ambiguous_wait: seconds a retry waits after a create that got no answer.
        user_id_type: ``user_id_type`` sent with get and create (``open_id``, ``user_id``, ``union_id``).
        directory_root_id: the department the directory is read from (``0`` is the tenant's root).
        department_children_path: the endpoint listing a department's children, with ``{department_id}``
            in it (contact v3 ``departments/:department_id/children``). Unconfirmed (not in shared/contracts):
            the shape follows Feishu's public documentation.
        users_by_department_path: the endpoint listing the people directly in a department (contact v3
            ``users/find_by_department``). Unconfirmed (not in shared/contracts).
        directory_department_id_type: the ``department_id_type`` of directory calls, so the id type of
            ``OrgUnit.native_id`` and ``OrgUser.department_ids``: ``department_id`` (the custom id, which
            approvals carry as ``department_id``) or ``open_department_id``.
        directory_page_size: ``page_size`` of directory calls; Feishu documents at most 50.
        dept_code_field: the department field kept as ``OrgUnit.code`` (a code the company keeps in Feishu,
            e.g. the ERP's number set as the custom ``department_id``); ``None`` for none.
        employee_number_field: the user field holding the employee number (工号), ``employee_no``; never
            the mobile or e-mail.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = "https://open.feishu.cn"
    app_id: str = Field(min_length=1)
    app_secret: SecretStr
    verification_token: SecretStr
    encrypt_key: SecretStr = SecretStr("")
    verify_signature: bool = True
    timestamp_tolerance: timedelta = timedelta(seconds=300)
    token_refresh_margin: timedelta = timedelta(seconds=600)
    extra_auth_codes: frozenset[int] = frozenset()
    transient_codes: frozenset[int] = frozenset()
    approval_codes: tuple[str, ...] = ()
    form_layouts: dict[str, dict[str, FormFieldSpec]] = Field(default_factory=dict)
    form_timezone: str = "Asia/Shanghai"
    default_currency: str = "CNY"
    list_page_size: int = Field(default=100, ge=1)
    list_max_span: timedelta | None = None
    poll_interval: timedelta = timedelta(seconds=60)
    poll_overlap: timedelta = timedelta(minutes=10)
    adopt_lookback: timedelta = timedelta(days=7)
    ambiguous_wait: float = Field(default=5.0, ge=0)
    user_id_type: Literal["open_id", "user_id", "union_id"] = "open_id"
    directory_root_id: str = Field(default="0", min_length=1)
    department_children_path: str = "/open-apis/contact/v3/departments/{department_id}/children"
    users_by_department_path: str = "/open-apis/contact/v3/users/find_by_department"
    directory_department_id_type: Literal["department_id", "open_department_id"] = "department_id"
    directory_page_size: int = Field(default=50, ge=1, le=50)
    dept_code_field: str | None = "department_id"
    employee_number_field: str = Field(default="employee_no", min_length=1)

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("department_children_path")
    @classmethod
    def _names_the_department(cls, value: str) -> str:
        if "{department_id}" not in value:
            raise ValueError("department_children_path must contain {department_id}")
        return value

    @field_validator("list_max_span")
    @classmethod
    def _positive_span(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise ValueError("list_max_span must be positive")
        return value
