"""map_reply / expect_object: DingTalk replies sorted into the error tree."""

import json
from typing import Any

import pytest

from huiliu.connectors.dingtalk import expect_object, map_reply
from huiliu.connectors.http import HttpReply
from huiliu.errors import AuthExpired, ConnectorError, RateLimited, TransientError, VendorRejected


def reply(status: int, body: Any = None, headers: dict[str, str] | None = None) -> HttpReply:
    raw = json.dumps(body, ensure_ascii=False).encode() if body is not None else b""
    return HttpReply(status, headers or {}, raw, body)


def test_success_passes() -> None:
    map_reply(reply(200, {"success": True, "result": {}}), "GetProcessInstance")
    map_reply(reply(200, {"errcode": 0, "errmsg": "ok"}), "legacy")


@pytest.mark.parametrize(("r", "kind", "code"), [
    (reply(400, {"code": "InvalidAuthentication", "requestid": "r", "message": "不合法的access_token"}),
     AuthExpired, "InvalidAuthentication"),
    (reply(401, {"code": "InvalidAuthentication", "message": "x"}), AuthExpired, "InvalidAuthentication"),
    (reply(200, {"errcode": 42001, "errmsg": "access_token expired"}), AuthExpired, "42001"),
    (reply(200, {"errcode": 40014, "errmsg": "invalid access_token"}), AuthExpired, "40014"),
    (reply(200, {"errcode": 33001}), AuthExpired, "33001"),
    (reply(200, {"errcode": "40001"}), AuthExpired, "40001"),
    (reply(429, {"code": "Throttling", "message": "慢一点"}, {"Retry-After": "3"}),
     RateLimited, "Throttling"),
    (reply(400, {"code": "Throttling.User", "message": "x"}), RateLimited, "Throttling.User"),
    (reply(200, {"errcode": 90018, "errmsg": "qps"}), RateLimited, "90018"),
    (reply(200, {"errcode": 88, "errmsg": "forbidden temporarily"}), RateLimited, "88"),
    (reply(200, {"errcode": 90006}), RateLimited, "90006"),
    (reply(503, {"code": "ServiceUnavailable", "message": "忙"}), TransientError, "ServiceUnavailable"),
    (reply(502), TransientError, None),
    (reply(200, {"errcode": 90020, "errmsg": "quota"}), VendorRejected, "90020"),
    (reply(403, {"code": "Forbidden.AccessDenied.ApiCountLimitForOrg", "message": "本月额度已用完"}),
     VendorRejected, "Forbidden.AccessDenied.ApiCountLimitForOrg"),
    (reply(400, {"code": "InvalidParameter", "message": "流程实例不存在"}),
     VendorRejected, "InvalidParameter"),
    (reply(200, {"errcode": 22, "errmsg": "参数错误"}), VendorRejected, "22"),
])
def test_replies_map_to_the_right_error(r: HttpReply, kind: type[ConnectorError], code: str | None) -> None:
    with pytest.raises(ConnectorError) as info:
        map_reply(r, "GetProcessInstance")
    assert type(info.value) is kind
    assert info.value.vendor_code == code
    assert info.value.where == "dingtalk.GetProcessInstance"
    assert info.value.retryable is (kind is not VendorRejected)


def test_retry_after_is_read_and_vendor_message_kept_verbatim() -> None:
    with pytest.raises(RateLimited) as info:
        map_reply(reply(429, {"code": "Throttling", "message": "请求太频繁"}, {"Retry-After": "2.5"}), "op")
    assert info.value.retry_after == 2.5
    assert info.value.vendor_message == "请求太频繁"
    with pytest.raises(RateLimited) as dated:
        map_reply(reply(429, None, {"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}), "op")
    assert dated.value.retry_after is None


def test_quota_exhaustion_says_how_to_fix_it() -> None:
    with pytest.raises(VendorRejected) as info:
        map_reply(reply(200, {"errcode": 90020, "errmsg": "quota"}), "op")
    assert info.value.fix is not None
    assert "下月" in info.value.fix.zh


def test_token_refusal_is_not_auth_expired() -> None:
    with pytest.raises(VendorRejected) as info:
        map_reply(reply(400, {"code": "invalidClientIdOrSecret", "message": "无效"}), "token")
    assert "app_secret" in str(info.value.fix)


def test_expect_object_refuses_non_objects_and_success_false() -> None:
    assert expect_object(reply(200, {"a": 1}), "op") == {"a": 1}
    with pytest.raises(VendorRejected) as info:
        expect_object(HttpReply(200, {}, b"<html>proxy</html>", None), "op")
    assert info.value.vendor_message == "<html>proxy</html>"
    with pytest.raises(VendorRejected) as failed:
        expect_object(reply(200, {"success": False, "code": "X", "message": "不行"}), "op")
    assert failed.value.vendor_code == "X"
