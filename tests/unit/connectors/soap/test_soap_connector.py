"""The SOAP connector against the local journal entry service: calls, idempotency, faults, transport, auth."""

from __future__ import annotations

import socket
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from soap_rig import LOOKUP, SoapEnv, make, run

from huiliu.connectors.base import ActionRegistry
from huiliu.connectors.soap import SoapClient, SoapFault, SoapSettings, register_actions
from huiliu.errors import (
    AmbiguousOutcome,
    ConfigError,
    MappingError,
    NoReply,
    TransientError,
    UnbalancedVoucher,
    VendorRejected,
)
from huiliu.sandbox.faults import Fault, FaultKind
from huiliu.sandbox.soap import CREATE_OPERATION, READ_OPERATION, wsdl_text

CREATE = "soap.journal_entry.create"
CALL = "soap.call"


def voucher(amount: str = "1234.56", day: str = "2026-11-20") -> dict[str, Any]:
    return {"reference": "BX-2026-0042", "book": "1010", "date": day, "group": "记", "currency": "CNY",
            "lines": [
                {"summary": "张三 报销差旅费 上海—北京", "account": "6602010000", "direction": "debit",
                 "amount": {"amount": amount}, "aux": [["department", "CC-研发"]]},
                {"summary": "应付职工 张三", "account": "2241000000", "direction": "credit",
                 "amount": {"amount": amount}}]}


def raw_entry(reference: str, amounts: list[str], day: str = "2026-11-20") -> dict[str, Any]:
    items = [{"GLAccount": f"66020{i}", "DebitCreditCode": "S" if Decimal(a) > 0 else "H",
              "AmountInTransactionCurrency": {"_value_1": Decimal(a), "currencyCode": "CNY"}}
             for i, a in enumerate(amounts)]
    header = {"CreationDateTime": "2026-11-20T09:00:00Z"}
    return {"MessageHeader": header, "JournalEntryCreateRequest": [{"MessageHeader": header, "JournalEntry": {
        "OriginalReferenceDocumentType": "BKPFF", "BusinessTransactionType": "RFBU",
        "AccountingDocumentType": "SA", "DocumentReferenceID": reference, "CreatedByUser": "HUILIU",
        "CompanyCode": "1010", "DocumentDate": day, "PostingDate": day, "Item": items}}]}


# ----------------------------------------------------------------- create and read back


async def test_journal_entry_posted_and_read_back_with_decimal_amounts(soap: SoapEnv) -> None:
    registry = await soap.registry()
    result = await run(registry, CREATE, {"voucher": voucher()})
    assert result["adopted"] is False and result["status"] == "posted"
    assert result["id"] == f"1010/{result['number']}/2026" and result["reference"] == "HL-EXP-0042"
    [entry] = soap.sandbox.entries
    assert entry.reference == "HL-EXP-0042" and entry.document_type == "SA"
    assert [i["Amount"] for i in entry.items] == [Decimal("1234.56"), Decimal("-1234.56")]
    assert entry.items[0]["CostCenter"] == "CC-研发"

    read = await run(registry, CALL, {"operation": READ_OPERATION,
                                      "payload": {"CompanyCode": "1010", "DocumentReferenceID": "HL-EXP-0042"}})
    [found] = read["result"]
    assert found["AccountingDocument"] == result["number"]
    amount = found["Item"][0]["AmountInTransactionCurrency"]
    assert amount == {"_value_1": Decimal("1234.56"), "currencyCode": "CNY"}
    assert isinstance(amount["_value_1"], Decimal)
    assert found["Item"][0]["DocumentItemText"] == "张三 报销差旅费 上海—北京"
    assert str(found["PostingDate"]) == "2026-11-20"


async def test_long_reference_stored_as_a_stable_16_character_hash(soap: SoapEnv) -> None:
    registry = await soap.registry()
    long_ref = "flow:expense-claim/BX-2026-0042/post-voucher"
    first = await run(registry, CREATE, {"voucher": voucher()}, ref=long_ref)
    again = await run(registry, CREATE, {"voucher": voucher()}, attempt=2, ref=long_ref)
    assert len(first["reference"]) == 16 and first["reference"].startswith("H")
    assert again["adopted"] is True and again["number"] == first["number"]
    assert len(soap.sandbox.entries) == 1


# ----------------------------------------------------------------- idempotency


async def test_same_reference_twice_makes_one_entry(soap: SoapEnv) -> None:
    registry = await soap.registry()
    first = await run(registry, CREATE, {"voucher": voucher()})
    second = await run(registry, CREATE, {"voucher": voucher()}, attempt=2)
    assert second["adopted"] is True and second["number"] == first["number"]
    assert len(soap.sandbox.find("HL-EXP-0042")) == 1


async def test_lost_reply_is_ambiguous_and_the_retry_adopts(soap: SoapEnv) -> None:
    registry = await soap.registry()
    soap.sandbox.faults.script("journal.create", Fault(FaultKind.APPLIED_REPLY_LOST))
    with pytest.raises(AmbiguousOutcome) as caught:
        await run(registry, CREATE, {"voucher": voucher()})
    assert caught.value.retryable and caught.value.retry_after == 30.0
    retried = await run(registry, CREATE, {"voucher": voucher()}, attempt=2)
    assert retried["adopted"] is True
    assert len(soap.sandbox.entries) == 1


async def test_soap_call_with_a_configured_lookup_adopts_on_retry(soap: SoapEnv) -> None:
    lookup = LOOKUP | {"result_path": "", "reference_length": 16,
                       "payload_path": "JournalEntryCreateRequest.0.JournalEntry.DocumentReferenceID"}
    registry = await soap.registry(lookups={CREATE_OPERATION: lookup})
    payload = raw_entry("unused", ["10.00", "-10.00"])
    del payload["JournalEntryCreateRequest"][0]["JournalEntry"]["DocumentReferenceID"]
    soap.sandbox.faults.script("journal.create", Fault(FaultKind.APPLIED_REPLY_LOST))
    with pytest.raises(AmbiguousOutcome):
        await run(registry, CALL, {"operation": CREATE_OPERATION, "payload": payload, "reference": "PAY-7"})
    retried = await run(registry, CALL, {"operation": CREATE_OPERATION, "payload": payload, "reference": "PAY-7"},
                        attempt=2)
    assert retried["adopted"] is True and retried["reference"] == "PAY-7"
    assert retried["result"]["DocumentReferenceID"] == "PAY-7"
    assert len(soap.sandbox.find("PAY-7")) == 1


async def test_journal_action_without_any_lookup_refuses_before_posting(soap: SoapEnv) -> None:
    registry = await soap.registry(journal={})
    with pytest.raises(ConfigError) as caught:
        await run(registry, CREATE, {"voucher": voucher()})
    assert "journal.lookup" in str(caught.value)
    assert soap.sandbox.entries == []


async def test_journal_action_uses_an_injected_finder(soap: SoapEnv) -> None:
    client = await soap.client(journal={})
    registry = ActionRegistry()
    asked: list[str] = []

    async def find(reference: str) -> dict[str, str] | None:
        asked.append(reference)
        return {"AccountingDocument": "0100000999", "CompanyCode": "1010", "FiscalYear": "2026"}

    register_actions(registry, client, client.settings, find_entry=find)
    result = await run(registry, CREATE, {"voucher": voucher()}, attempt=3)
    assert asked == ["HL-EXP-0042"] and result["adopted"] is True and result["number"] == "0100000999"
    assert soap.sandbox.entries == []


# ----------------------------------------------------------------- faults


async def test_unbalanced_entry_is_a_fault_with_code_string_and_detail(soap: SoapEnv) -> None:
    registry = await soap.registry()
    with pytest.raises(SoapFault) as caught:
        await run(registry, CALL, {"operation": CREATE_OPERATION, "payload": raw_entry("R1", ["10.00", "-9.99"])})
    fault = caught.value
    assert isinstance(fault, VendorRejected) and not fault.retryable
    assert fault.fault_code == "soap-env:Client"
    assert fault.fault_string == "凭证借贷不平衡：借方合计 10.00，贷方合计 9.99，差额 0.01"
    assert fault.detail_values == {"Code": "F5/702", "Text": fault.fault_string}
    assert fault.fault_detail is not None and "JournalEntryFault" in fault.fault_detail
    assert fault.vendor_message == fault.fault_string and "F5/702" in str(fault)
    assert soap.sandbox.entries == []


async def test_unbalanced_voucher_never_reaches_the_service(soap: SoapEnv) -> None:
    registry = await soap.registry()
    bad = voucher()
    bad["lines"][1]["amount"]["amount"] = "1234.55"
    with pytest.raises(UnbalancedVoucher):
        await run(registry, CREATE, {"voucher": bad})
    assert soap.sandbox.seen_auth == []


async def test_closed_period_fault_keeps_the_chinese_text() -> None:
    async for env in make(closed_periods={"2026-10"}):
        registry = await env.registry()
        with pytest.raises(SoapFault) as caught:
            await run(registry, CREATE, {"voucher": voucher(day="2026-10-31")})
        assert caught.value.fault_string == "过账期间 10 2026 未打开（公司代码 1010）"
        assert caught.value.detail_values["Code"] == "F5/201"
        assert "过账期间 10 2026 未打开" in str(caught.value)
        assert env.sandbox.entries == []


async def test_refusal_in_the_confirmation_log_is_rejected_as_sap_answers() -> None:
    async for env in make(closed_periods={"2026-10"}, business_errors="log"):
        registry = await env.registry()
        with pytest.raises(VendorRejected) as caught:
            await run(registry, CREATE, {"voucher": voucher(day="2026-10-31")})
        assert not isinstance(caught.value, SoapFault)
        assert caught.value.vendor_message == "过账期间 10 2026 未打开（公司代码 1010）"
        assert caught.value.vendor_code == "3"


# ----------------------------------------------------------------- transport


async def test_http_500_without_a_fault_is_transient(soap: SoapEnv) -> None:
    registry = await soap.registry()
    soap.sandbox.faults.script("journal.create", Fault(FaultKind.SERVER_ERROR))
    with pytest.raises(TransientError) as caught:
        await run(registry, CREATE, {"voucher": voucher()})
    assert caught.value.retryable and not isinstance(caught.value, SoapFault | NoReply)
    assert caught.value.vendor_code == "500"
    retried = await run(registry, CREATE, {"voucher": voucher()}, attempt=2)
    assert retried["adopted"] is False and len(soap.sandbox.entries) == 1


async def test_dropped_connection_is_no_reply_and_retryable(soap: SoapEnv) -> None:
    client = await soap.client()
    soap.sandbox.faults.script("journal.read", Fault(FaultKind.DROP))
    with pytest.raises(NoReply) as caught:
        await client.call(READ_OPERATION, {"CompanyCode": "1010", "DocumentReferenceID": "X"})
    assert caught.value.retryable


async def test_dropped_create_is_ambiguous(soap: SoapEnv) -> None:
    registry = await soap.registry()
    soap.sandbox.faults.script("journal.create", Fault(FaultKind.DROP))
    with pytest.raises(AmbiguousOutcome):
        await run(registry, CREATE, {"voucher": voucher()})
    assert soap.sandbox.entries == []
    assert (await run(registry, CREATE, {"voucher": voucher()}, attempt=2))["adopted"] is False


async def test_timeout_is_no_reply(soap: SoapEnv) -> None:
    client = await soap.client(timeout=0.2)
    soap.sandbox.faults.script("journal.read", Fault(FaultKind.SLOW, delay=1.0))
    with pytest.raises(NoReply):
        await client.call(READ_OPERATION, {"CompanyCode": "1010", "DocumentReferenceID": "X"})


async def test_connection_refused_is_transient(soap: SoapEnv, tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/soap"
    client = await soap.client(endpoint=closed)
    with pytest.raises(TransientError) as caught:
        await client.call(READ_OPERATION, {"CompanyCode": "1010", "DocumentReferenceID": "X"})
    assert caught.value.retryable and not isinstance(caught.value, NoReply)


# ----------------------------------------------------------------- WSDL and payloads


async def test_missing_wsdl_file_is_a_config_error_naming_it(soap: SoapEnv, tmp_path: Path) -> None:
    missing = str(tmp_path / "没有这个.wsdl")
    with pytest.raises(ConfigError) as caught:
        await soap.client(wsdl=missing)
    assert missing in str(caught.value) and caught.value.where == "soap.wsdl"


async def test_wsdl_that_is_not_xml_or_not_found_is_a_config_error(soap: SoapEnv, tmp_path: Path) -> None:
    junk = tmp_path / "junk.wsdl"
    junk.write_text("<html>登录</html", encoding="utf-8")
    with pytest.raises(ConfigError):
        await soap.client(wsdl=str(junk))
    with pytest.raises(ConfigError) as caught:
        await soap.client(wsdl=soap.url + "/no/such/wsdl")
    assert "/no/such/wsdl" in str(caught.value)


async def test_wsdl_from_a_file_with_an_endpoint_override(soap: SoapEnv, tmp_path: Path) -> None:
    path = tmp_path / "journal.wsdl"
    path.write_text(wsdl_text(), encoding="utf-8")  # names http://localhost, which nobody serves here
    registry = await soap.registry(wsdl=str(path), endpoint=soap.url + "/sap/bc/srt/scs_ext/sap/"
                                   "journalentrycreaterequestconfi")
    assert (await run(registry, CREATE, {"voucher": voucher()}))["adopted"] is False


async def test_unknown_service_port_and_operation_are_clear(soap: SoapEnv) -> None:
    with pytest.raises(ConfigError) as caught:
        await soap.client(service="NoSuchService")
    assert "JournalEntryService" in str(caught.value)
    client = await soap.client()
    with pytest.raises(MappingError) as missing:
        await client.call("Post", {})
    assert CREATE_OPERATION in str(missing.value)
    with pytest.raises(MappingError):
        await client.call(READ_OPERATION, {"CompanyCode": "1010", "NoSuchElement": "x"})
    registry = await soap.registry()
    with pytest.raises(MappingError):
        await run(registry, CALL, {"payload": {}})


# ----------------------------------------------------------------- auth


async def test_basic_auth_is_sent_and_a_wrong_password_refused(soap: SoapEnv, tmp_path: Path) -> None:
    client = await soap.client()
    await client.call(READ_OPERATION, {"CompanyCode": "1010", "DocumentReferenceID": "X"})
    assert soap.sandbox.seen_auth == ["basic:COMM_USER"]
    wsdl = tmp_path / "journal.wsdl"
    wsdl.write_text(wsdl_text(soap.url), encoding="utf-8")
    wrong = await soap.client(wsdl=str(wsdl), password="wrong")
    with pytest.raises(VendorRejected) as caught:
        await wrong.call(READ_OPERATION, {"CompanyCode": "1010", "DocumentReferenceID": "X"})
    assert caught.value.vendor_code == "401" and not caught.value.retryable
    assert "password" in caught.value.render() and "wrong" not in caught.value.render()
    with pytest.raises(ConfigError):  # the WSDL behind basic auth cannot be loaded with a wrong password
        await soap.client(password="wrong")


@pytest.mark.parametrize("auth", ["wsse", "wsse_digest"])
async def test_ws_security_token_is_sent_and_a_wrong_password_refused(soap_wsse: SoapEnv, auth: str) -> None:
    client = await soap_wsse.client(auth=auth)
    await client.call(READ_OPERATION, {"CompanyCode": "1010", "DocumentReferenceID": "X"})
    kind = "PasswordDigest" if auth == "wsse_digest" else "PasswordText"
    assert soap_wsse.sandbox.seen_auth == [f"wsse:{kind}:COMM_USER"]
    wrong = await soap_wsse.client(auth=auth, password="wrong")
    with pytest.raises(SoapFault) as caught:
        await wrong.call(READ_OPERATION, {"CompanyCode": "1010", "DocumentReferenceID": "X"})
    assert caught.value.fault_code == "wsse:FailedAuthentication"
    assert "username" in caught.value.render() and "password" in caught.value.render()


async def test_ws_security_missing_token_refused(soap_wsse: SoapEnv) -> None:
    client = await soap_wsse.client(auth="none", username=None, password=None)
    with pytest.raises(SoapFault):
        await client.call(READ_OPERATION, {"CompanyCode": "1010", "DocumentReferenceID": "X"})
    assert soap_wsse.sandbox.seen_auth == ["wsse:none"]


def test_settings_need_credentials_for_auth() -> None:
    with pytest.raises(ValueError, match="username and password"):
        SoapSettings(wsdl="x.wsdl", auth="basic")  # type: ignore[arg-type]
    assert "secret" not in repr(SoapSettings(wsdl="x.wsdl", auth="wsse", username="u", password="secret"))  # type: ignore[arg-type]


async def test_observer_sees_each_call(soap: SoapEnv) -> None:
    records = []
    client = await SoapClient.open(soap.settings(), observer=records.append, clock=soap.clock)
    soap.clients.append(client)
    await client.call(READ_OPERATION, {"CompanyCode": "1010", "DocumentReferenceID": "X"})
    soap.sandbox.faults.script("journal.read", Fault(FaultKind.SERVER_ERROR))
    with pytest.raises(TransientError):
        await client.call(READ_OPERATION, {"CompanyCode": "1010", "DocumentReferenceID": "X"})
    assert [(r.system, r.operation, r.outcome) for r in records] == [
        ("sap", READ_OPERATION, "ok"), ("sap", READ_OPERATION, "transient")]
