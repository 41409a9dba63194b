"""Form JSON strings both ways, the status table, instance mapping errors, and every mapped reply code."""

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from huiliu.connectors.feishu import (
    DuplicateUuid,
    FormFieldSpec,
    map_reply,
    parse_form,
    status_of,
    to_form,
    to_instance,
)
from huiliu.connectors.http import HttpReply
from huiliu.errors import AuthExpired, MappingError, RateLimited, TransientError, VendorRejected
from huiliu.model import ApprovalStatus, Money

LAYOUT = {
    "单号": FormFieldSpec(id="w_no", type="input"),
    "说明": FormFieldSpec(id="w_text", type="textarea"),
    "金额": FormFieldSpec(id="w_amount", type="amount"),
    "美元": FormFieldSpec(id="w_usd", type="amount", currency="USD"),
    "数量": FormFieldSpec(id="w_qty", type="number"),
    "日期": FormFieldSpec(id="w_date", type="date"),
    "类型": FormFieldSpec(id="w_kind", type="radioV2"),
    "审批人": FormFieldSpec(id="w_who", type="contact"),
    "附件": FormFieldSpec(id="w_files", type="attachmentV2"),
    "明细": FormFieldSpec(id="w_rows", type="fieldList", columns={
        "物料": FormFieldSpec(id="w_item", type="input"), "单价": FormFieldSpec(id="w_price", type="amount")}),
}


def named(form: str) -> str:
    """What Feishu's get returns: the same widgets with their names (here: the layout labels).

    Names are spliced into the text so that the numbers are never parsed (no float on the way).
    """
    names = {spec.id: label for label, spec in LAYOUT.items()}
    names.update({"w_item": "物料", "w_price": "单价"})
    for widget_id, name in names.items():
        form = form.replace(f'{{"id":"{widget_id}",', f'{{"id":"{widget_id}","name":"{name}",')
    return form


def test_form_round_trips_amounts_to_the_fen_text_dates_and_rows() -> None:
    text = ("采购办公用品，含打印纸、墨盒与文件夹；金额已含税。" * 50)[:1000]
    assert len(text) == 1000
    when = datetime(2026, 11, 25, 17, 30, tzinfo=timezone(timedelta(hours=8)))
    values = {"单号": "PO-2026-0001", "说明": text, "金额": Money(Decimal("1234567.89")),
              "美元": Money(Decimal("0.01"), "USD"), "数量": Decimal("3.125"), "日期": when, "类型": "办公",
              "审批人": ["ou_1", "ou_2"], "附件": ["file_code_1"],
              "明细": [{"物料": "打印纸", "单价": Decimal("0.10")}, {"物料": "墨盒", "单价": Decimal("99999999.99")}]}
    form = to_form(values, LAYOUT)
    assert isinstance(form, str)
    assert '"value":1234567.89' in form  # a JSON number with every digit, never via float
    assert '"value":0.10' in form
    back = parse_form(named(form))
    assert back["金额"] == Money(Decimal("1234567.89"))
    assert isinstance(back["金额"].amount, Decimal)
    assert back["美元"] == Money(Decimal("0.01"), "CNY")  # the widget names no currency; the default applies
    assert back["数量"] == Decimal("3.125")
    assert back["说明"] == text
    assert back["日期"] == when
    assert back["日期"].utcoffset() == timedelta(hours=8)
    assert back["审批人"] == ["ou_1", "ou_2"]
    assert back["明细"] == [{"物料": "打印纸", "单价": Money(Decimal("0.10"))},
                          {"物料": "墨盒", "单价": Money(Decimal("99999999.99"))}]


def test_amounts_that_would_lose_precision_through_float_survive() -> None:
    amount = Decimal("90071992547409.93")  # beyond a float's 15-16 significant digits
    back = parse_form(named(to_form({"金额": amount}, LAYOUT)))
    assert back["金额"].amount == amount


@pytest.mark.parametrize(("values", "where"), [
    ({"金额": 12.5}, "form.金额"),  # a float
    ({"金额": Decimal("1.005")}, "form.金额"),  # finer than the fen
    ({"美元": Money(Decimal(1), "CNY")}, "form.美元"),  # another currency
    ({"日期": datetime(2026, 1, 1)}, "form.日期"),  # naive
    ({"审批人": [1, 2]}, "form.审批人"),
    ({"明细": "not rows"}, "form.明细"),
    ({"明细": [{"不存在": "x"}]}, "form.明细[0].不存在"),
    ({"单号": ["a"]}, "form.单号"),
    ({"多余": "x"}, "form.多余"),
])
def test_to_form_refuses_bad_values(values: dict[str, Any], where: str) -> None:
    with pytest.raises(MappingError) as info:
        to_form(values, LAYOUT)
    assert info.value.where == where


def test_parse_form_reads_vendor_variants() -> None:
    form = json.dumps([
        {"id": "a", "name": "金额", "type": "amount", "value": "12,800.5", "currency": "USD"},
        {"id": "b", "name": "日期", "type": "date", "value": "2026-11-25T08:00:00"},
        {"id": "c", "name": "日期", "type": "date", "value": 1764057600000},
        {"id": "d", "type": "input", "value": "无 name 时用 id"},
        {"id": "e", "name": "区间", "type": "dateInterval",
         "value": {"start": "2026-11-01T00:00:00+08:00", "end": "2026-11-02T00:00:00+08:00", "interval": 1}},
        {"id": "f", "name": "空", "type": "amount", "value": None},
    ], ensure_ascii=False)
    back = parse_form(form)
    assert back["金额"] == Money(Decimal("12800.50"), "USD")
    assert back["日期"] == datetime(2026, 11, 25, 0, 0, tzinfo=UTC)  # 08:00 Shanghai
    assert back["日期#2"] == datetime(2025, 11, 25, 8, 0, tzinfo=UTC)
    assert back["d"] == "无 name 时用 id"
    assert back["区间"]["end"] - back["区间"]["start"] == timedelta(days=1)
    assert back["空"] is None


@pytest.mark.parametrize(("form", "where"), [
    ("not json", "data.form"),
    ('{"id": "a"}', "data.form"),
    ('[{"id": "a", "value": 1}]', "data.form[0]"),
    ('[{"type": "input", "value": 1}]', "data.form[0]"),
    ('[{"id": "a", "type": "amount", "value": "十元"}]', "data.form[0].value"),
    ('[{"id": "a", "type": "date", "value": "昨天"}]', "data.form[0].value"),
    ('[{"id": "a", "type": "fieldList", "value": [{"x": 1}]}]', "data.form[0].value[0]"),
    ('[{"id": "a", "type": "contact", "value": {"x": 1}}]', "data.form[0].value"),
])
def test_parse_form_refuses_bad_forms(form: str, where: str) -> None:
    with pytest.raises(MappingError) as info:
        parse_form(form)
    assert info.value.where == where


@pytest.mark.parametrize(("status", "reverted", "expected"), [
    ("PENDING", False, ApprovalStatus.RUNNING), ("APPROVED", False, ApprovalStatus.APPROVED),
    ("APPROVED", True, ApprovalStatus.REVERTED), ("REJECTED", False, ApprovalStatus.REFUSED),
    ("CANCELED", False, ApprovalStatus.REVOKED), ("DELETED", False, ApprovalStatus.REVOKED),
    ("REVERTED", False, ApprovalStatus.REVERTED), ("pending", False, ApprovalStatus.RUNNING),
])
def test_status_table(status: str, reverted: bool, expected: ApprovalStatus) -> None:
    assert status_of(status, reverted=reverted) is expected


def test_unknown_status_and_missing_fields_are_mapping_errors() -> None:
    data = {"approval_code": "A", "instance_code": "I", "start_time": "1764057600000", "status": "PENDING",
            "open_id": "ou_1", "form": "[]"}
    assert to_instance(data).originator_user_id == "ou_1"
    with pytest.raises(MappingError) as info:
        to_instance({**data, "status": "WEIRD"})
    assert info.value.where == "data.status"
    with pytest.raises(MappingError) as info:
        to_instance({k: v for k, v in data.items() if k != "instance_code"})
    assert info.value.where == "data.instance_code"
    with pytest.raises(MappingError) as info:
        to_instance({**data, "start_time": "2026-11-25"})
    assert info.value.where == "data.start_time"
    with pytest.raises(MappingError) as info:
        to_instance({**data, "open_id": None})
    assert info.value.where == "data.user_id"



def test_attachment_and_image_widgets_are_kept_as_links() -> None:
    form = json.dumps([
        {"id": "w1", "name": "发票", "type": "attachmentV2",
         "value": ["https://open.feishu.cn/files/abc/增值税发票.pdf?token=t"], "ext": "增值税发票.pdf"},
        {"id": "w2", "name": "现场照片", "type": "image", "value": ["https://cdn.example/p/1.jpg"]},
        {"id": "w3", "name": "说明", "type": "input", "value": "https://not-an-attachment.example"}],
        ensure_ascii=False)
    data = {"approval_code": "A", "instance_code": "I", "start_time": "1764057600000", "status": "APPROVED",
            "open_id": "ou_1", "form": form}
    attachments = to_instance(data).attachments
    assert [(a.field, a.name) for a in attachments] == [("发票", "增值税发票.pdf"), ("现场照片", "1.jpg")]
    assert attachments[0].ref == "https://open.feishu.cn/files/abc/增值税发票.pdf?token=t"

# ---------------------------------------------------------------- every mapped reply code


def reply(status: int, body: Any, headers: dict[str, str] | None = None) -> HttpReply:
    raw = json.dumps(body).encode() if body is not None else b"<html>"
    return HttpReply(status, headers or {}, raw, body)


def test_success_returns() -> None:
    map_reply(reply(200, {"code": 0, "msg": "success", "data": {}}), "get_instance")


@pytest.mark.parametrize(("status", "body", "headers", "error", "code", "retry_after"), [
    (429, {"code": 99991400, "msg": "request trigger frequency limit"}, {"x-ogw-ratelimit-reset": "3"},
     RateLimited, "99991400", 3.0),
    (400, {"code": 99991400, "msg": "request trigger frequency limit"}, {}, RateLimited, "99991400", None),
    (429, None, {"Retry-After": "9"}, RateLimited, None, 9.0),
    (400, {"code": 99991663, "msg": "Invalid access token"}, {}, AuthExpired, "99991663", None),
    (200, {"code": 99991663, "msg": "Invalid access token"}, {}, AuthExpired, "99991663", None),
    (400, {"code": 99991661, "msg": "Missing access token"}, {}, AuthExpired, "99991661", None),
    (401, {"code": 12345, "msg": "?"}, {}, AuthExpired, "12345", None),
    (400, {"code": 60012, "msg": "uuid conflict"}, {}, DuplicateUuid, "60012", None),
    (503, {"code": 1, "msg": "internal"}, {}, TransientError, "1", None),
    (502, None, {}, TransientError, None, None),
    (400, {"code": 99992402, "msg": "field validation failed"}, {}, VendorRejected, "99992402", None),
    (200, {"code": 60001, "msg": "not found"}, {}, VendorRejected, "60001", None),
])
def test_every_code_maps_once(status: int, body: Any, headers: dict[str, str], error: type[Exception],
                              code: str | None, retry_after: float | None) -> None:
    with pytest.raises(error) as info:
        map_reply(reply(status, body, headers), "get_instance")
    assert type(info.value) is error
    assert getattr(info.value, "vendor_code", None) == code
    if error is RateLimited:
        assert getattr(info.value, "retry_after", None) == retry_after


def test_configured_codes_extend_the_table() -> None:
    with pytest.raises(AuthExpired):
        map_reply(reply(400, {"code": 99991668, "msg": "x"}), "get_instance", auth_codes={99991663, 99991668})
    with pytest.raises(TransientError):
        map_reply(reply(400, {"code": 1069302, "msg": "busy"}), "get_instance", transient_codes={1069302})
    with pytest.raises(VendorRejected):
        map_reply(reply(400, {"code": 99991668, "msg": "x"}), "get_instance")


def test_duplicate_uuid_keeps_an_instance_code_if_feishu_names_one() -> None:
    with pytest.raises(DuplicateUuid) as info:
        map_reply(reply(400, {"code": 60012, "msg": "dup", "data": {"instance_code": "I-1"}}), "create_instance")
    assert info.value.instance_code == "I-1"


def test_token_refusal_points_at_the_credentials() -> None:
    with pytest.raises(VendorRejected) as info:
        map_reply(reply(400, {"code": 10014, "msg": "app secret invalid"}), "tenant_access_token")
    assert "app_secret" in str(info.value.fix)
    with pytest.raises(VendorRejected):  # a 401 on the token call itself is no reason to refresh
        map_reply(reply(401, {"code": 10014, "msg": "x"}), "tenant_access_token")
