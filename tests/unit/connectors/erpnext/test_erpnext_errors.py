"""Every ERPNext reply the connector maps, against the sandbox over local HTTP and as raw replies."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from huiliu.connectors.erpnext import ErpnextClient, ErpnextSettings, check_reply, server_message
from huiliu.connectors.http import HttpClient, HttpReply
from huiliu.errors import AuthExpired, NoReply, RateLimited, TransientError, VendorRejected
from huiliu.sandbox import Fault, FaultKind, SandboxServer
from huiliu.sandbox.erpnext import ErpnextSandbox

Served = tuple[ErpnextSandbox, str, aiohttp.ClientSession]


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    sandbox = ErpnextSandbox()
    async with SandboxServer(sandbox.app) as server, aiohttp.ClientSession() as http:
        yield sandbox, server.url, http


def client(served: Served, timeout: float = 2, **extra: Any) -> ErpnextClient:
    _, url, http = served
    settings = ErpnextSettings.model_validate({"base_url": url, "api_key": "erp-key", "api_secret": "erp-secret",
                                               **extra})
    return ErpnextClient(settings, HttpClient("erpnext", http, timeout=timeout))


async def test_bad_keys_are_a_clear_chinese_error(served: Served) -> None:
    with pytest.raises(VendorRejected) as caught:
        await client(served, api_secret="wrong").get_list("UOM")
    assert "ERPNext 拒绝了 API 密钥" in str(caught.value)
    assert "wrong" not in str(caught.value)
    assert caught.value.retryable is False


async def test_regenerated_keys_are_read_again_and_the_call_retried_once(served: Served) -> None:
    sandbox, url, http = served
    settings = ErpnextSettings.model_validate({"base_url": url, "api_key": "erp-key", "api_secret": "erp-secret"})

    async def source() -> tuple[str, str]:
        return "k2", "s2"

    erp = ErpnextClient(settings, HttpClient("erpnext", http, timeout=2), credentials_source=source)
    sandbox.revoke_key("erp-key")
    sandbox.add_key("k2", "s2")
    assert len(await erp.get_list("UOM", limit=100)) == 8


async def test_a_401_once_is_renewed_and_succeeds(served: Served) -> None:
    served[0].faults.script("UOM.list", Fault(FaultKind.EXPIRED_TOKEN))
    assert len(await client(served).get_list("UOM", limit=3)) == 3


async def test_rate_limit_honours_retry_after(served: Served) -> None:
    served[0].faults.script("UOM.list", Fault(FaultKind.RATE_LIMIT, retry_after=9))
    with pytest.raises(RateLimited) as caught:
        await client(served).get_list("UOM")
    assert caught.value.retry_after == 9


async def test_server_error_drop_and_slow_reply_are_transient(served: Served) -> None:
    served[0].faults.script("Supplier.insert", Fault(FaultKind.SERVER_ERROR), Fault(FaultKind.DROP),
                           Fault(FaultKind.SLOW, delay=1.0))
    erp = client(served, timeout=0.3)
    with pytest.raises(TransientError) as bad_gateway:
        await erp.insert("Supplier", {"supplier_name": "甲"})
    assert bad_gateway.value.vendor_code == "502"
    with pytest.raises(NoReply):
        await erp.insert("Supplier", {"supplier_name": "甲"})
    with pytest.raises(NoReply, match="超时"):
        await erp.insert("Supplier", {"supplier_name": "甲"})


async def test_validation_errors_keep_erpnexts_message(served: Served) -> None:
    erp = client(served)
    with pytest.raises(VendorRejected) as missing:
        await erp.insert("Purchase Order", {"transaction_date": "2026-11-25", "currency": "CNY",
                                            "items": [{"item_code": "X", "qty": 1}]})
    assert missing.value.vendor_code == "MandatoryError"
    assert missing.value.vendor_message == "Error: Value missing for Purchase Order: Supplier"
    assert "业务校验未通过" in str(missing.value)
    with pytest.raises(VendorRejected, match="Could not find Supplier: 不存在"):
        await erp.insert("Purchase Order", {"supplier": "不存在", "transaction_date": "2026-11-25",
                                            "currency": "CNY", "items": []})
    await erp.insert("Supplier", {"supplier_name": "甲", "supplier_group": "All Supplier Groups"})
    await erp.insert("Item", {"item_code": "M3", "item_name": "螺丝", "item_group": "All Item Groups",
                              "stock_uom": "Nos"})
    with pytest.raises(VendorRejected) as zero:
        await erp.insert("Purchase Order", {"supplier": "甲", "transaction_date": "2026-11-25", "currency": "CNY",
                                            "schedule_date": "2026-12-01",
                                            "items": [{"item_code": "M3", "qty": 0, "rate": 1}]})
    assert zero.value.vendor_message == "Row #1: Quantity for Item M3 cannot be zero."
    assert served[0].orders() == []


async def test_duplicates_missing_documents_and_docstatus_moves(served: Served) -> None:
    erp = client(served)
    await erp.insert("Supplier", {"supplier_name": "甲", "supplier_group": "All Supplier Groups"})
    with pytest.raises(VendorRejected) as duplicate:
        await erp.insert("Supplier", {"supplier_name": "甲", "supplier_group": "All Supplier Groups"})
    assert duplicate.value.vendor_code == "DuplicateEntryError"
    with pytest.raises(VendorRejected) as missing:
        await erp.get_doc("Purchase Order", "PUR-ORD-2026-09999")
    assert missing.value.vendor_code == "DoesNotExistError"
    assert "单据不存在" in str(missing.value)
    with pytest.raises(VendorRejected, match="Cannot change docstatus from 0 to 2"):
        await erp.cancel("Supplier", "甲")


def reply(status: int, body: Any, headers: dict[str, str] | None = None) -> HttpReply:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return HttpReply(status, headers or {}, raw, None if isinstance(body, bytes) else body)


@pytest.mark.parametrize(("status", "exc_type", "kind"), [
    (417, "TimestampMismatchError", TransientError),
    (417, "QueryDeadlockError", TransientError),
    (417, "RateLimitExceededError", RateLimited),
    (503, "SessionStopped", TransientError),
    (401, "AuthenticationError", AuthExpired),
    (403, "PermissionError", VendorRejected),
    (417, "LinkExistsError", VendorRejected),
])
def test_exception_types_are_sorted_once(status: int, exc_type: str, kind: type[Exception]) -> None:
    messages = json.dumps([json.dumps({"message": "单据已被他人修改"})])
    with pytest.raises(kind) as caught:
        check_reply(reply(status, {"exc_type": exc_type, "_server_messages": messages}), "Purchase Order.update")
    assert type(caught.value) is kind
    assert caught.value.vendor_message == "单据已被他人修改"  # type: ignore[attr-defined]


def test_replies_that_are_not_frappe_json() -> None:
    with pytest.raises(TransientError):
        check_reply(reply(200, b"<html>login</html>"), "op")
    with pytest.raises(TransientError):
        check_reply(reply(200, {"message": "x"}), "op")  # a resource reply must carry data
    assert check_reply(reply(200, {"message": "ok"}), "op", "message") == "ok"
    assert server_message({"exception": "frappe.exceptions.ValidationError: 坏了"}) == \
        "frappe.exceptions.ValidationError: 坏了"
    assert server_message(None, b"Gateway Timeout") == "Gateway Timeout"
