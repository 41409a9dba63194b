"""The structured detail of a dead letter, a request flattened into labelled fields, and corrections to
it: every refused change names its path in both languages and leaves the request as it was."""

from __future__ import annotations

import copy
import json
from datetime import date
from typing import Any

import pytest

from huiliu.bus import diagnose
from huiliu.bus.correction import MAX_CHANGES, apply_changes
from huiliu.bus.deadletterview import field_label, leaves, named_field, parse_path, path_text, request_fields
from huiliu.connectors.http import HttpReply
from huiliu.connectors.kingdee import VOUCHER_CREATE, VOUCHER_FIELDS, check_result, closed_period_error
from huiliu.errors import HuiliuError, MappingError, UnbalancedVoucher, VendorRejected
from huiliu.i18n import t

REQUEST: dict[str, Any] = {"voucher": {
    "reference": "202611260001", "book": "001", "date": "2026-11-26", "group": "记", "currency": "CNY",
    "lines": [
        {"summary": "交通费", "account": "6602.04", "direction": "debit",
         "amount": {"amount": "56.50", "currency": "CNY"}, "aux": [["department", "BM01"], ["employee", "E1001"]]},
        {"summary": "培训费", "account": "6602.08", "direction": "debit",
         "amount": {"amount": "1280.00", "currency": "CNY"}, "aux": [["department", "BM01"]]},
        {"summary": "应付", "account": "2241.01", "direction": "credit",
         "amount": {"amount": "1336.50", "currency": "CNY"}, "aux": [["employee", "E1001"]]},
    ]}, "copies": 1}


def _kingdee_refusal(*errors: tuple[str | None, str, int]) -> VendorRejected:
    body = {"Result": {"ResponseStatus": {"ErrorCode": 500, "IsSuccess": False, "MsgCode": 0, "Errors": [
        {"FieldName": f, "Message": m, "DIndex": i} for f, m, i in errors]}}}
    data = json.dumps(body, ensure_ascii=False).encode()
    with pytest.raises(VendorRejected) as info:
        check_result(HttpReply(200, {}, data, body), "Save")
    return info.value


def test_kingdee_names_the_first_field_and_its_entry_line() -> None:
    error = _kingdee_refusal((None, "单据校验失败", 0), ("FACCOUNTID", "第2行分录：科目“6602.08”不存在", 0),
                             ("FDEBIT", "第3行分录：金额格式不正确", 0))
    assert (error.field, error.line) == ("FACCOUNTID", 1)  # the entry row of the message, not the bill's DIndex
    header = _kingdee_refusal(("FCURRENCYID", "币别“XXX”不存在", 0))
    assert (header.field, header.line) == ("FCURRENCYID", 0)
    assert (_kingdee_refusal((None, "凭证借贷不平衡", 0)).field, None) == (None, None)
    closed = closed_period_error("凭证日期“2026-10-31”所在的会计期间已结账", date(2026, 10, 31), "Save")
    assert closed is not None and closed.field == "FDate"


def test_diagnose_keeps_the_vendors_words_and_says_what_and_how_to_fix() -> None:
    error = _kingdee_refusal(("FACCOUNTID", "第2行分录：科目“6602.08”不存在", 0))
    detail = diagnose(error)
    assert detail["kind"] == "vendor_rejected" and detail["where"] == "kingdee.Save"
    assert detail["vendor_message"] == "FACCOUNTID：第2行分录：科目“6602.08”不存在"
    assert (detail["system"], detail["operation"], detail["field"], detail["line"]) == ("kingdee", "Save",
                                                                                       "FACCOUNTID", 1)
    assert detail["what"]["zh"].startswith("金蝶拒绝了 Save") and detail["fix"]["en"]
    mapping = diagnose(MappingError(t("未知费用类型", "unknown expense type"), where="f.yaml:3:5"))
    assert mapping["kind"] == "mapping" and "vendor_message" not in mapping and mapping["where"] == "f.yaml:3:5"
    crash = diagnose(KeyError("outbox_id"))
    assert crash["kind"] == "internal_error" and "KeyError" in crash["what"]["en"]
    assert json.loads(json.dumps(detail, ensure_ascii=False)) == detail


def test_requests_flatten_to_labelled_paths_and_back() -> None:
    paths = {path_text(p): v for p, v in leaves(REQUEST)}
    assert paths["voucher.lines[1].account"] == "6602.08" and paths["copies"] == 1
    assert parse_path("voucher.lines[1].amount.amount") == ("voucher", "lines", 1, "amount", "amount")
    for bad in ("", "voucher..date", "lines[x]", "voucher.lines[1]x"):
        assert parse_path(bad) is None, bad
    fields = {f.path: f for f in request_fields(REQUEST, "voucher.lines[1].account")}
    assert [p for p, f in fields.items() if f.named] == ["voucher.lines[1].account"]
    assert fields["voucher.lines[1].amount.amount"].type == "decimal"
    assert fields["voucher.lines[2].amount.amount"].label == t("第3行分录 贷方金额", "line 3 credit amount")
    assert fields["voucher.lines[0].aux[0][1]"].label == t("第1行分录 辅助核算：部门", "line 1 dimension department")
    assert not fields["voucher.lines[0].aux[0][0]"].editable and not fields["voucher.reference"].editable
    assert (fields["voucher.date"].type, fields["copies"].type, fields["voucher.lines[1].account"].type) == (
        "date", "number", "text")  # an account code that looks like a number stays text
    assert field_label(("voucher", "unknown_key"), REQUEST) is None


def test_the_field_kingdee_names_maps_onto_the_request() -> None:
    tables = {VOUCHER_CREATE: VOUCHER_FIELDS}
    named = named_field(tables, VOUCHER_CREATE, {"field": "FACCOUNTID", "line": 1}, REQUEST)
    assert named is not None and named.path == "voucher.lines[1].account"
    assert named.label == t("第2行分录 科目", "line 2 account")
    assert named_field(tables, VOUCHER_CREATE, {"field": "FDate", "line": 0}, REQUEST).path == "voucher.date"  # type: ignore[union-attr]
    unknown = named_field(tables, VOUCHER_CREATE, {"field": "F_CUSTOM", "line": 0}, REQUEST)
    assert unknown is not None and unknown.vendor_field == "F_CUSTOM" and unknown.path is None
    no_line = named_field(tables, VOUCHER_CREATE, {"field": "FACCOUNTID", "line": None}, REQUEST)
    assert no_line is not None and no_line.path is None
    assert named_field(tables, VOUCHER_CREATE, {"field": None}, REQUEST) is None


def test_a_correction_keeps_types_and_balance() -> None:
    original = copy.deepcopy(REQUEST)
    corrected, changes = apply_changes(REQUEST, {"voucher.lines[1].account": "6602.01", "voucher.date": "2026-11-30",
                                                 "copies": "2"})
    assert original == REQUEST  # the given request is left alone
    assert corrected["voucher"]["lines"][1]["account"] == "6602.01" and corrected["copies"] == 2
    assert [(c.path, c.old, c.new) for c in changes] == [("voucher.lines[1].account", "6602.08", "6602.01"),
                                                         ("voucher.date", "2026-11-26", "2026-11-30"),
                                                         ("copies", 1, 2)]
    moved, _ = apply_changes(REQUEST, {"voucher.lines[1].amount.amount": "1000.00",
                                       "voucher.lines[2].amount.amount": "1056.50"})
    assert moved["voucher"]["lines"][2]["amount"]["amount"] == "1056.50"


@pytest.mark.parametrize(("changes", "error", "words"), [
    ({}, HuiliuError, "没有要修改"),
    ({f"x{i}": "1" for i in range(MAX_CHANGES + 1)}, HuiliuError, "最多"),
    ({"voucher.lines[7].account": "6602.01"}, HuiliuError, "没有字段"),
    ({"voucher.reference": "X"}, HuiliuError, "不能修改"),
    ({"voucher.lines[0].aux[0][0]": "project"}, HuiliuError, "不能修改"),
    ({"voucher.lines[1].amount.amount": "12.345"}, HuiliuError, "两位小数"),
    ({"voucher.lines[1].amount.amount": "1e3"}, HuiliuError, "类型不对"),
    ({"voucher.date": "2026-11-31"}, HuiliuError, "YYYY-MM-DD"),
    ({"voucher.date": "26-11-30"}, HuiliuError, "YYYY-MM-DD"),
    ({"copies": "two"}, HuiliuError, "整数"),
    ({"copies": "1.5"}, HuiliuError, "整数"),
    ({"voucher.lines[1].account": "x" * 501}, HuiliuError, "不超过"),
    ({"voucher.lines[1].amount.amount": "1.00"}, UnbalancedVoucher, "借贷不平衡"),
    ({"voucher.lines[0].direction": "sideways"}, MappingError, "格式不正确"),
])
def test_every_bad_correction_is_refused_in_both_languages(changes: dict[str, str], error: type[Exception],
                                                           words: str) -> None:
    with pytest.raises(error) as info:
        apply_changes(REQUEST, changes)
    assert isinstance(info.value, HuiliuError)
    assert words in info.value.render() and info.value.what.en and info.value.what.en != info.value.what.zh
