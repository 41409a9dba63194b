"""Every Odoo reply the connector maps, against the sandbox over local HTTP and as raw replies."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from huiliu.connectors.http import HttpClient, HttpReply
from huiliu.connectors.odoo import OdooClient, OdooSettings, check_json2, check_jsonrpc
from huiliu.errors import AuthExpired, NoReply, RateLimited, TransientError, VendorRejected
from huiliu.i18n import Lang
from huiliu.sandbox import Fault, FaultKind, SandboxServer
from huiliu.sandbox.odoo import OdooSandbox
from huiliu.testing import FakeClock

APIS = ["jsonrpc", "json2"]


@pytest.fixture
async def served() -> AsyncIterator[tuple[OdooSandbox, str, aiohttp.ClientSession]]:
    sandbox = OdooSandbox(clock=FakeClock(), key_ttl=90 * 86400)
    async with SandboxServer(sandbox.app) as server, aiohttp.ClientSession() as http:
        yield sandbox, server.url, http


def client(served: tuple[OdooSandbox, str, aiohttp.ClientSession], api: str, timeout: float = 2,
           **extra: Any) -> OdooClient:
    _, url, http = served
    settings = OdooSettings.model_validate({"base_url": url, "database": "hub", "login": "api",
                                            "api_key": "odoo-key", "api": api, **extra})
    return OdooClient(settings, HttpClient("odoo", http, timeout=timeout))


@pytest.mark.parametrize("api", APIS)
async def test_bad_key_is_a_clear_chinese_error_and_not_retried(served: Any, api: str) -> None:
    odoo = client(served, api, api_key="wrong")
    with pytest.raises(VendorRejected) as caught:
        await odoo.search("res.partner", [])
    assert "Odoo 拒绝了 API 密钥" in str(caught.value)
    assert "API 密钥" in caught.value.fix.render(Lang.ZH)  # type: ignore[union-attr]
    assert "wrong" not in str(caught.value)  # the key never appears in messages
    assert caught.value.retryable is False


@pytest.mark.parametrize("api", APIS)
async def test_a_rotated_key_is_read_again_and_the_call_retried_once(served: Any, api: str) -> None:
    sandbox: OdooSandbox = served[0]
    _, url, http = served
    settings = OdooSettings.model_validate({"base_url": url, "database": "hub", "login": "api",
                                            "api_key": "odoo-key", "api": api})
    reads: list[str] = []

    async def source() -> str:
        reads.append("new")
        return "new-key"

    odoo = OdooClient(settings, HttpClient("odoo", http, timeout=2), key_source=source)
    assert await odoo.search_count("uom.uom", []) == 7
    sandbox.revoke_key("odoo-key")
    sandbox.add_key("new-key")
    assert await odoo.search_count("res.currency", []) == 3
    assert reads == ["new"]
    assert odoo.authentications == (2 if api == "jsonrpc" else 0)


@pytest.mark.parametrize("api", APIS)
async def test_an_expired_auth_reply_renews_once_and_succeeds(served: Any, api: str) -> None:
    sandbox: OdooSandbox = served[0]
    odoo = client(served, api)
    sandbox.faults.script("res.currency.search", Fault(FaultKind.EXPIRED_TOKEN))
    assert len(await odoo.search("res.currency", [["name", "=", "CNY"]])) == 1
    assert sandbox.calls["res.currency.search"] == 1  # the refused try never reached the models


@pytest.mark.parametrize("api", APIS)
async def test_a_key_past_its_lifetime_is_refused(served: Any, api: str) -> None:
    sandbox: OdooSandbox = served[0]
    odoo = client(served, api)
    await odoo.search("uom.uom", [])
    clock = sandbox.clock
    assert isinstance(clock, FakeClock)
    clock.advance(91 * 86400)
    with pytest.raises(VendorRejected, match="过期"):
        await odoo.search("uom.uom", [])


@pytest.mark.parametrize("api", APIS)
async def test_rate_limit_honours_retry_after(served: Any, api: str) -> None:
    served[0].faults.script("uom.uom.search", Fault(FaultKind.RATE_LIMIT, retry_after=7))
    with pytest.raises(RateLimited) as caught:
        await client(served, api).search("uom.uom", [])
    assert caught.value.retry_after == 7


@pytest.mark.parametrize("api", APIS)
async def test_server_error_drop_and_slow_reply_are_transient(served: Any, api: str) -> None:
    sandbox: OdooSandbox = served[0]
    sandbox.faults.script("uom.uom.search", Fault(FaultKind.SERVER_ERROR), Fault(FaultKind.DROP),
                          Fault(FaultKind.SLOW, delay=1.0))
    odoo = client(served, api, timeout=0.3)
    with pytest.raises(TransientError) as server_error:
        await odoo.search("uom.uom", [])
    assert server_error.value.vendor_code == "502"
    with pytest.raises(NoReply):
        await odoo.search("uom.uom", [])
    with pytest.raises(NoReply, match="超时"):
        await odoo.search("uom.uom", [])


@pytest.mark.parametrize("api", APIS)
async def test_missing_supplier_is_odoos_validation_error_verbatim(served: Any, api: str) -> None:
    odoo = client(served, api)
    with pytest.raises(VendorRejected) as caught:
        await odoo.create("purchase.order", {"order_line": []})
    assert caught.value.vendor_code == "ValidationError"
    assert "Field: Vendor (partner_id)" in (caught.value.vendor_message or "")
    assert "数据校验未通过" in str(caught.value)
    with pytest.raises(VendorRejected, match="partner_id"):
        await odoo.create("purchase.order", {"partner_id": 999})
    assert served[0].orders() == []


@pytest.mark.parametrize("api", APIS)
async def test_confirming_a_zero_quantity_line_is_a_user_error(served: Any, api: str) -> None:
    sandbox: OdooSandbox = served[0]
    odoo = client(served, api)
    partner = await odoo.create("res.partner", {"name": "供应商甲"})
    product = await odoo.create("product.product", {"name": "螺丝"})
    order = await odoo.create("purchase.order", {"partner_id": partner, "order_line": [
        [0, 0, {"product_id": product, "product_qty": 0, "price_unit": 1.5}]]})
    with pytest.raises(VendorRejected) as caught:
        await odoo.button("purchase.order", "button_confirm", [order])
    assert caught.value.vendor_code == "UserError"
    assert "zero quantity" in (caught.value.vendor_message or "")
    assert sandbox.orders()[0]["state"] == "draft"


@pytest.mark.parametrize("api", APIS)
async def test_bad_calls_are_rejected_with_odoos_message(served: Any, api: str) -> None:
    odoo = client(served, api)
    with pytest.raises(VendorRejected, match="Invalid field 'colour'"):
        await odoo.read("res.partner", [1], ["colour"])
    with pytest.raises(VendorRejected, match="unexpected keyword argument 'colour'"):
        await odoo.call("res.partner", "search", domain=[], colour="red")
    with pytest.raises(VendorRejected, match="does not exist"):
        await odoo.button("purchase.order", "button_confirm", [42])


async def test_wrong_database_is_rejected(served: Any) -> None:
    with pytest.raises(VendorRejected, match="数据库"):
        await client(served, "jsonrpc", database="other").search("uom.uom", [])
    with pytest.raises(VendorRejected, match="database other not found"):
        await client(served, "json2", database="other").search("uom.uom", [])


async def test_a_missing_endpoint_points_at_the_api_setting(served: Any) -> None:
    with pytest.raises(VendorRejected) as caught:
        await client(served, "jsonrpc", jsonrpc_path="/xmlrpc/2/object").search("uom.uom", [])
    assert "jsonrpc" in caught.value.fix.render(Lang.ZH)  # type: ignore[union-attr]


def reply(status: int, body: Any, headers: dict[str, str] | None = None) -> HttpReply:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    parsed = None if isinstance(body, bytes) else body
    return HttpReply(status, headers or {}, raw, parsed)


def rpc_error(name: str, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "error": {"code": 200, "message": "Odoo Server Error",
                                                  "data": {"name": name, "message": message}}}


@pytest.mark.parametrize(("name", "kind"), [
    ("psycopg2.errors.SerializationFailure", TransientError),
    ("odoo.exceptions.ConcurrencyError", TransientError),
    ("builtins.RuntimeError", TransientError),
    ("odoo.exceptions.AccessDenied", AuthExpired),
    ("odoo.http.SessionExpiredException", AuthExpired),
    ("odoo.exceptions.AccessError", VendorRejected),
    ("odoo.exceptions.MissingError", VendorRejected),
    ("odoo.exceptions.RedirectWarning", VendorRejected),
])
def test_exception_names_are_sorted_once(name: str, kind: type[Exception]) -> None:
    with pytest.raises(kind) as caught:
        check_jsonrpc(reply(200, rpc_error(name, "原因：记录被锁定")), "purchase.order.write")
    assert type(caught.value) is kind
    assert caught.value.vendor_message == "原因：记录被锁定"  # type: ignore[attr-defined]
    with pytest.raises(kind):
        check_json2(reply(422 if kind is VendorRejected else 500, {"name": name, "message": "x"}), "op")


def test_replies_that_are_not_odoo_json_are_transient() -> None:
    with pytest.raises(TransientError):
        check_jsonrpc(reply(200, b"<html>proxy</html>"), "op")
    with pytest.raises(TransientError):
        check_json2(reply(200, b"<html>proxy</html>"), "op")
    with pytest.raises(RateLimited) as caught:
        check_json2(reply(429, b"slow down", {"Retry-After": "12"}), "op")
    assert caught.value.retry_after == 12
    assert check_json2(reply(200, [1, 2]), "op") == [1, 2]
    assert check_json2(reply(200, b"null"), "op") is None
