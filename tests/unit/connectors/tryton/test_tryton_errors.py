"""Tryton replies sorted into retry / re-login / rate-limited / reject, from hand-built HTTP replies."""

from __future__ import annotations

import json
from typing import Any

import pytest

from huiliu.connectors.http import HttpReply
from huiliu.connectors.tryton import check_login, check_reply, error_from_payload
from huiliu.errors import AuthExpired, RateLimited, TransientError, VendorRejected

CALL = "model.purchase.purchase.confirm"


def reply(status: int = 200, body: Any = None, *, raw: bytes | None = None, **headers: str) -> HttpReply:
    data = raw if raw is not None else json.dumps(body, ensure_ascii=False).encode()
    try:
        parsed = json.loads(data)
    except ValueError:
        parsed = None
    return HttpReply(status, headers, data, parsed)


def test_result_is_returned() -> None:
    assert check_reply(reply(body={"id": 1, "result": [3, 4]}), CALL) == [3, 4]


def test_user_error_keeps_message_and_description_but_drops_the_domain() -> None:
    domain = [[["party", "=", None]], {"party": {"string": "Party" * 2000}}]
    with pytest.raises(VendorRejected) as info:
        check_reply(reply(body={"id": 1, "error": ["UserError", ["金额不能为负", "第 2 行", domain]]}), CALL)
    assert info.value.vendor_code == "UserError"
    assert info.value.vendor_message == "金额不能为负 - 第 2 行"
    assert str(info.value).startswith(f"Tryton 拒绝了 {CALL}：金额不能为负")
    assert "PartyParty" not in str(info.value)
    assert info.value.retryable is False


def test_access_error_is_a_user_error_and_rejected() -> None:
    message = 'You are not allowed to create records of "Purchase" because they fail on at least one of these rules'
    error = error_from_payload(["UserError", [message, "Within groups: ", None]], CALL)
    assert isinstance(error, VendorRejected)
    assert error.vendor_message == f"{message} - Within groups: "


def test_user_warning_needs_a_person() -> None:
    error = error_from_payload(["UserWarning", ["purchase_quotation.1", "报价已过期", ""]], CALL)
    assert isinstance(error, VendorRejected)
    assert error.vendor_code == "UserWarning:purchase_quotation.1"
    assert "需要人工确认" in str(error)


def test_concurrency_is_transient() -> None:
    error = error_from_payload(["ConcurrencyException", "Records were modified in the meanwhile"], CALL)
    assert isinstance(error, TransientError)
    assert error.vendor_message == "Records were modified in the meanwhile"


def test_login_exception_is_rejected() -> None:
    error = error_from_payload(["LoginException", ["totp_code", "Code", "char"]], "common.db.login")
    assert isinstance(error, VendorRejected)
    assert error.vendor_message == "Code"


def test_unexpected_server_exception_is_transient_with_its_first_line() -> None:
    error = error_from_payload(["database is locked\nmore", "Traceback (most recent call last): ..."], CALL)
    assert isinstance(error, TransientError)
    assert error.vendor_message == "database is locked"
    assert "Traceback" not in str(error)


def test_401_on_a_call_means_the_session_expired() -> None:
    with pytest.raises(AuthExpired) as info:
        check_reply(reply(401, raw=b"<h1>Unauthorized</h1>"), CALL)
    assert "会话已失效" in str(info.value)
    assert info.value.retryable is True


def test_401_at_login_is_a_wrong_password_not_a_retry() -> None:
    with pytest.raises(VendorRejected) as info:
        check_login(reply(401, raw=b"<h1>Unauthorized</h1>"))
    assert "用户名或密码错误" in str(info.value)
    assert not isinstance(info.value, AuthExpired)


def test_429_is_rate_limited_with_retry_after() -> None:
    with pytest.raises(RateLimited) as info:
        check_login(reply(429, raw=b"Too Many Requests", **{"Retry-After": "7"}))
    assert info.value.retry_after == 7.0


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_transient(status: int) -> None:
    with pytest.raises(TransientError) as info:
        check_reply(reply(status, raw=b"boom"), CALL)
    assert info.value.vendor_code == str(status)


@pytest.mark.parametrize(("status", "hint"), [(404, "rpc_path"), (403, "RPC"), (418, "base_url")])
def test_other_statuses_are_rejected_with_a_fix(status: int, hint: str) -> None:
    with pytest.raises(VendorRejected) as info:
        check_reply(reply(status, raw=b"no"), CALL)
    assert info.value.fix is not None
    assert hint in info.value.fix.zh


def test_a_body_that_is_not_json_rpc_is_transient() -> None:
    with pytest.raises(TransientError):
        check_reply(reply(200, raw=b"<html>proxy login</html>"), CALL)
    with pytest.raises(TransientError):
        check_reply(reply(200, body=[1, 2]), CALL)


def test_login_result_shape() -> None:
    assert check_login(reply(body={"id": 1, "result": [1, "abc", None]})) == (1, "abc")
    with pytest.raises(TransientError):
        check_login(reply(body={"id": 1, "result": [1, "", None]}))
