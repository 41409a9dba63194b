"""check_result / check_login on hand-made replies: the shapes the sandbox does not produce."""

from __future__ import annotations

import json
from typing import Any

import pytest

from huiliu.connectors.http import HttpReply
from huiliu.connectors.kingdee import check_login, check_result
from huiliu.errors import AuthExpired, RateLimited, TransientError, VendorRejected


def reply(status: int = 200, body: Any = None, raw: bytes | None = None,
          headers: dict[str, str] | None = None) -> HttpReply:
    data = raw if raw is not None else json.dumps(body, ensure_ascii=False).encode()
    try:
        parsed = json.loads(data)
    except ValueError:
        parsed = None
    return HttpReply(status, headers or {}, data, parsed)


def failed(*errors: tuple[str | None, str], code: int = 0) -> dict[str, Any]:
    return {"Result": {"ResponseStatus": {
        "ErrorCode": 500, "IsSuccess": False, "MsgCode": code, "SuccessEntitys": [], "SuccessMessages": [],
        "Errors": [{"FieldName": f, "Message": m, "DIndex": i} for i, (f, m) in enumerate(errors)]}}}


def test_every_error_is_listed_verbatim() -> None:
    body = failed(("FACCOUNTID", "第1行分录：科目“9999”不存在"), (None, "凭证借贷不平衡"), code=9)
    with pytest.raises(VendorRejected) as info:
        check_result(reply(body=body), "Save")
    assert info.value.vendor_message == "FACCOUNTID：第1行分录：科目“9999”不存在；凭证借贷不平衡"
    assert info.value.vendor_code == "9"
    assert info.value.fix is not None
    assert "reference_field" in info.value.fix.en


def test_session_lost_in_the_query_error_shape_is_auth_expired() -> None:
    body = [[failed((None, "会话信息已丢失，请重新登录"), code=1)]]
    with pytest.raises(AuthExpired):
        check_result(reply(body=body), "ExecuteBillQuery")


def test_success_and_rows_pass_through() -> None:
    assert check_result(reply(body=[[1, "记-0001", "A"]]), "ExecuteBillQuery") == [[1, "记-0001", "A"]]
    ok = {"Result": {"ResponseStatus": {"IsSuccess": True, "Errors": []}, "Id": 5}}
    assert check_result(reply(body=ok), "Save") == ok


@pytest.mark.parametrize(
    "bad",
    [reply(raw=b"response_error:Object reference not set"), reply(raw=b"<html>gateway</html>"),
     reply(status=503, raw=b"down")],
)
def test_transient_shapes(bad: HttpReply) -> None:
    with pytest.raises(TransientError):
        check_result(bad, "Save")


def test_retry_after_as_http_date_is_left_to_the_policy() -> None:
    with pytest.raises(RateLimited) as info:
        check_result(reply(status=429, raw=b"", headers={"Retry-After": "Wed, 25 Nov 2026 09:00:00 GMT"}),
                     "Save")
    assert info.value.retry_after is None


def test_non_200_outside_login_points_at_base_url() -> None:
    with pytest.raises(VendorRejected) as info:
        check_result(reply(status=404, raw=b"not found"), "Save")
    assert info.value.fix is not None
    assert "base_url" in info.value.fix.en


def test_login_needs_result_type_1_and_a_session() -> None:
    assert check_login(reply(body={"LoginResultType": 1, "KDSVCSessionId": "abc"})) == "abc"
    with pytest.raises(VendorRejected) as info:
        check_login(reply(body={"LoginResultType": -5, "Message": "密码已过期", "KDSVCSessionId": None}))
    assert info.value.vendor_code == "-5"
    assert info.value.vendor_message == "密码已过期"
    with pytest.raises(TransientError):
        check_login(reply(status=502, raw=b"bad gateway"))
    with pytest.raises(AuthExpired):
        check_login(reply(body=failed((None, "会话信息已丢失，请重新登录"), code=1)))
