"""Settings of one DingTalk (钉钉) app: credentials, callback keys and the knobs the contract leaves open."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

__all__ = ["DingTalkSettings"]


class DingTalkSettings(BaseModel):
    """How the hub talks to one DingTalk app (企业内部应用).

    Attributes:
        base_url: the v1.0 API host, ``https://api.dingtalk.com`` in production, a sandbox in tests.
        app_key: the app's appKey (also called clientId).
        app_secret: the app's appSecret.
        corp_id: the tenant's corpId.
        callback_token: the event subscription's token (签名 token).
        aes_key: the subscription's 43-character EncodingAESKey.
        receive_id: the id sealed into callbacks: appKey for 企业内部应用 event subscriptions (the
            default), corpId for legacy ``register_call_back``, suiteKey for ISV apps (contracts §1.4).
        timestamp_tolerance: callbacks whose ``timeStamp`` is further from now than this are stale.
        writeback_user_id: the DingTalk user who posts write-back comments; a comment is always posted
            as a user who can see the instance, so pick one with access to the processes the hub handles.
        comment_record_type: ``operationRecords[].type`` of a comment. Unconfirmed (no stored source names
            it): check what your tenant returns and set it here; exactly-once write-back depends on it.
        token_refresh_margin: refresh the access token this long before ``expireIn`` runs out (the stream
            SDK uses 300 s).
        poll_process_codes: the approval templates (processCode) catch-up polling lists; DingTalk lists
            per process code only.
        oapi_base_url: the legacy API host the directory (通讯录) is read from. The directory calls are
            not in ``shared/contracts`` (unconfirmed there; shapes from the public SDKs' request classes).
        dept_code_field: the department field holding the company's own department code (the ERP's
            number), if it keeps one in DingTalk; ``source_identifier`` by default (unconfirmed).
        reference_field: the name of a text field in the templates the hub submits to, which carries the
            hub's reference (DingTalk has no idempotency key for ``StartProcessInstance``, §1.6).
        lookup_window: how far back a retried create lists the originator's instances for the reference.
        ambiguous_wait: after a create that got no answer and is not found by listing at once, wait this
            many seconds before the retry looks again.
        delivery: ``http`` (DingTalk calls the hub's public ``/webhooks/dingtalk``) or ``stream`` (the hub
            opens a Stream connection from inside the firewall and needs no public URL).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = "https://api.dingtalk.com"
    app_key: str = Field(min_length=1)
    app_secret: SecretStr
    corp_id: str = Field(min_length=1)
    callback_token: SecretStr
    aes_key: SecretStr
    receive_id: str = ""
    timestamp_tolerance: timedelta = timedelta(seconds=300)
    writeback_user_id: str = Field(min_length=1)
    comment_record_type: str = "ADD_REMARK"
    token_refresh_margin: timedelta = timedelta(seconds=300)
    poll_process_codes: tuple[str, ...] = ()
    oapi_base_url: str = "https://oapi.dingtalk.com"
    dept_code_field: str = "source_identifier"
    reference_field: str = "汇流引用"
    delivery: Literal["http", "stream"] = "http"
    lookup_window: timedelta = timedelta(days=1)
    ambiguous_wait: float = Field(30.0, ge=0)

    @field_validator("aes_key")
    @classmethod
    def _aes_key_length(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) != 43:
            raise ValueError("aes_key must be the 43-character EncodingAESKey from the DingTalk console")
        return value

    @field_validator("base_url", "oapi_base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @model_validator(mode="before")
    @classmethod
    def _receive_id_defaults_to_app_key(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("receive_id") and data.get("app_key"):
            return {**data, "receive_id": data["app_key"]}
        return data
