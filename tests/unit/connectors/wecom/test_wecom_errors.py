"""Every WeCom errcode the connector knows, mapped once into the error tree."""

import json
from typing import Any

import pytest

from huiliu.connectors.http import HttpReply
from huiliu.connectors.wecom import expect_object, map_reply
from huiliu.connectors.wecom.errors import AUTH_ERRCODES, RATE_LIMIT_ERRCODES, TRANSIENT_ERRCODES
from huiliu.errors import AuthExpired, ConnectorError, RateLimited, TransientError, VendorRejected


def reply(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> HttpReply:
    raw = json.dumps(body).encode() if body is not None else b"<html>bad gateway</html>"
    return HttpReply(status, headers or {}, raw, body)


def test_the_documented_codes() -> None:
    assert {40001, 40014, 42001} == AUTH_ERRCODES
    assert {45009} == RATE_LIMIT_ERRCODES
    assert {-1} == TRANSIENT_ERRCODES


def test_errcode_zero_and_a_plain_object_pass() -> None:
    map_reply(reply({"errcode": 0, "errmsg": "ok"}), "getapprovaldetail")
    map_reply(reply({"access_token": "x"}), "gettoken")


@pytest.mark.parametrize("code", sorted(AUTH_ERRCODES))
def test_token_codes_are_auth_expired(code: int) -> None:
    with pytest.raises(AuthExpired) as info:
        map_reply(reply({"errcode": code, "errmsg": "invalid access_token"}), "getapprovaldetail")
    assert info.value.vendor_code == str(code)
    assert info.value.vendor_message == "invalid access_token"
    assert info.value.where == "wecom.getapprovaldetail"
    assert info.value.retryable


@pytest.mark.parametrize("code", sorted(AUTH_ERRCODES))
def test_token_codes_on_gettoken_are_credentials_refused(code: int) -> None:
    with pytest.raises(VendorRejected) as info:
        map_reply(reply({"errcode": code, "errmsg": "invalid credential"}), "gettoken")
    assert not isinstance(info.value, AuthExpired)
    assert "corp_secret" in str(info.value)


def test_freq_limit_is_rate_limited_with_the_given_backoff() -> None:
    with pytest.raises(RateLimited) as info:
        map_reply(reply({"errcode": 45009, "errmsg": "api freq out of limit"}), "applyevent", retry_after=90)
    assert info.value.retry_after == 90
    assert info.value.vendor_code == "45009"


def test_extra_rate_limit_codes_and_http_429() -> None:
    with pytest.raises(RateLimited):
        map_reply(reply({"errcode": 45033, "errmsg": "x"}), "applyevent", rate_limit_errcodes={45009, 45033})
    with pytest.raises(VendorRejected):
        map_reply(reply({"errcode": 45033, "errmsg": "x"}), "applyevent")
    with pytest.raises(RateLimited) as info:
        map_reply(reply(None, 429, {"Retry-After": "3"}), "applyevent")
    assert info.value.retry_after == 3.0


def test_busy_and_5xx_are_transient() -> None:
    with pytest.raises(TransientError) as busy:
        map_reply(reply({"errcode": -1, "errmsg": "system busy"}), "getapprovalinfo")
    assert busy.value.vendor_code == "-1"
    with pytest.raises(TransientError) as gateway:
        map_reply(reply(None, 502), "getapprovalinfo")
    assert gateway.value.vendor_code is None
    with pytest.raises(VendorRejected):
        map_reply(reply({"errcode": -1, "errmsg": "busy"}), "x", transient_errcodes=frozenset())


@pytest.mark.parametrize("code", [40058, 301025, 40013, "40058"])
def test_other_codes_are_vendor_rejected_verbatim(code: int | str) -> None:
    with pytest.raises(VendorRejected) as info:
        map_reply(reply({"errcode": code, "errmsg": "invalid parameter"}), "applyevent")
    assert info.value.vendor_code == str(code)
    assert "invalid parameter" in str(info.value)
    assert not info.value.retryable


def test_http_4xx_without_errcode_is_vendor_rejected() -> None:
    with pytest.raises(VendorRejected) as info:
        map_reply(reply(None, 404), "applyevent")
    assert "HTTP 404" in str(info.value)


def test_each_class_is_a_connector_error_once() -> None:
    kinds = set()
    for body, status in (({"errcode": 42001}, 200), ({"errcode": 45009}, 200), ({"errcode": -1}, 200),
                         ({"errcode": 40058}, 200)):
        with pytest.raises(ConnectorError) as info:
            map_reply(reply(body, status), "getapprovaldetail")
        kinds.add(type(info.value))
    assert kinds == {AuthExpired, RateLimited, TransientError, VendorRejected}


def test_expect_object_refuses_a_non_object() -> None:
    with pytest.raises(VendorRejected) as info:
        expect_object(reply(None, 200), "getapprovaldetail")
    assert "bad gateway" in (info.value.vendor_message or "")
    assert expect_object(reply({"errcode": 0}), "x") == {"errcode": 0}
