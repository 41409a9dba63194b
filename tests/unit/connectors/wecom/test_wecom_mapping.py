"""WeCom ⇄ canonical: statuses, every control both ways, money to the fen, Chinese text, tables."""

import datetime as dt
import random
from decimal import Decimal
from typing import Any

import pytest

from huiliu.connectors.wecom import (
    Control,
    event_type,
    form_from_contents,
    template_controls,
    to_contents,
    to_instance,
    to_summary,
)
from huiliu.connectors.wecom.mapping import SHANGHAI
from huiliu.errors import MappingError
from huiliu.model import ApprovalStatus, Money

ITEMS = Control("Table-1", "Table", "费用明细", children=(
    Control("Text-1", "Text", "费用类型"), Control("Money-2", "Money", "金额"), Control("Number-3", "Number", "数量")))
CONTROLS = (
    Control("Text-0", "Text", "标题"), Control("Textarea-0", "Textarea", "事由"), Control("Money-0", "Money", "总额"),
    Control("Number-0", "Number", "天数"), Control("Date-0", "Date", "出发时间"), Control("Date-1", "Date", "日期"),
    Control("Selector-0", "Selector", "类别", options=(("opt-1", "差旅费"), ("opt-2", "交通费"))),
    Control("Selector-1", "Selector", "标签", options=(("t1", "急"), ("t2", "大额")), multi=True),
    Control("Contact-0", "Contact", "同行人"), Control("File-0", "File", "附件"),
    Control("RelatedApproval-0", "RelatedApproval", "关联审批"), Control("Location-0", "Location", "地点"), ITEMS,
)


def titled(contents: list[dict[str, Any]], controls: tuple[Control, ...]) -> list[dict[str, Any]]:
    """What getapprovaldetail shows for submitted contents: titles, option texts, nested tables."""
    by_id = {c.id: c for c in controls}
    out = []
    for item in contents:
        control = by_id[item["id"]]
        value = dict(item["value"])
        if control.control == "Table":
            value["children"] = [{"list": titled(row["list"], control.children)} for row in value["children"]]
        if control.control == "Selector":
            texts = dict(control.options)
            value["selector"] = {**value["selector"], "options": [
                {"key": o["key"], "value": [{"text": texts[o["key"]], "lang": "zh_CN"}]}
                for o in value["selector"]["options"]]}
        out.append({**item, "title": [{"text": control.title, "lang": "zh_CN"}], "value": value})
    return out


def info(sp_status: int = 2, contents: list[dict[str, Any]] | None = None, **over: Any) -> dict[str, Any]:
    return {"sp_no": "202611250001", "sp_name": "费用报销", "sp_status": sp_status, "template_id": "T1",
            "apply_time": 1795597200, "applyer": {"userid": "zhangsan", "partyid": "3"},
            "sp_record": [{"sp_status": 2, "approverattr": 2, "details": [
                {"approver": {"userid": "lisi"}, "speech": "同意", "sp_status": 2, "sptime": 1795600800},
                {"approver": {"userid": "wangwu"}, "speech": "", "sp_status": 1, "sptime": 0}]}],
            "apply_data": {"contents": contents or []}, **over}


def test_document_round_trips_through_contents() -> None:
    rng = random.Random(3)
    long_text = "".join(chr(rng.randint(0x4E00, 0x9FA5)) for _ in range(1000))
    document: dict[str, Any] = {
        "标题": "采购订单 PO-2024-0001", "事由": long_text, "总额": Decimal("12800.01"), "天数": Decimal("3.5"),
        "出发时间": dt.datetime(2026, 11, 25, 14, 30, tzinfo=SHANGHAI), "类别": "差旅费", "标签": ["急", "大额"],
        "同行人": {"members": ["lisi", "wangwu"], "departments": ["3"]}, "附件": ["file-1", "file-2"],
        "关联审批": ["202611240001"], "地点": {"location": {"latitude": "30.5", "title": "武汉"}},
        "费用明细": [{"费用类型": "住宿", "金额": Decimal("0.01"), "数量": Decimal(2)},
                     {"费用类型": "餐饮", "金额": Decimal("99999999.99"), "数量": Decimal(1)}],
    }
    contents = to_contents(document, CONTROLS)
    form = form_from_contents(titled(contents, CONTROLS))
    assert form == document
    assert isinstance(form["总额"], Decimal)
    assert all(isinstance(row["金额"], Decimal) for row in form["费用明细"])
    assert form["出发时间"].utcoffset() == dt.timedelta(hours=8)


def test_wire_shapes_follow_the_contract() -> None:
    contents = to_contents({"总额": Decimal("12800"), "类别": "opt-2", "日期": dt.date(2026, 11, 25),
                            "费用明细": [{"费用类型": "螺丝", "数量": 100}]}, CONTROLS)
    assert contents[0] == {"control": "Money", "id": "Money-0", "value": {"new_money": "12800.00"}}
    assert contents[1]["value"] == {"selector": {"type": "single", "options": [{"key": "opt-2"}]}}
    # a date is a local day: midnight in Asia/Shanghai is 16:00 UTC the day before
    assert contents[2]["value"] == {"date": {"type": "day", "s_timestamp": "1795536000"}}
    assert contents[3]["value"] == {"children": [{"list": [
        {"control": "Text", "id": "Text-1", "value": {"text": "螺丝"}},
        {"control": "Number", "id": "Number-3", "value": {"new_number": "100"}}]}]}


def test_money_accepts_money_and_strings_to_the_fen() -> None:
    contents = to_contents({"总额": Money(Decimal("1.5"))}, CONTROLS)
    assert contents[0]["value"]["new_money"] == "1.50"
    assert to_contents({"总额": "¥12,800.10"}, CONTROLS)[0]["value"]["new_money"] == "12800.10"
    assert to_contents({"出发时间": "2026-11-25T14:30:00+08:00"}, CONTROLS)[0]["value"]["date"]["type"] == "hour"


@pytest.mark.parametrize(("field", "value", "words"), [
    ("总额", 12.5, "浮点"), ("总额", Decimal("0.001"), "分"), ("总额", "abc", "数字"), ("天数", True, "浮点"),
    ("出发时间", dt.datetime(2026, 1, 1), "时区"), ("出发时间", "yesterday", "ISO"), ("标题", 5, "字符串"),
    ("类别", "不存在", "选项"), ("附件", "file-1", "列表"), ("费用明细", {"费用类型": "x"}, "明细"),
    ("地点", "武汉", "value"), ("不存在的字段", "x", "模板"),
])
def test_bad_document_values_are_refused_with_the_field(field: str, value: Any, words: str) -> None:
    with pytest.raises(MappingError) as info:
        to_contents({field: value}, CONTROLS)
    assert words in str(info.value)
    assert info.value.where == f"document.{field}"


def test_a_bad_table_cell_names_its_row() -> None:
    with pytest.raises(MappingError) as info:
        to_contents({"费用明细": [{"金额": "1"}, {"金额": 1.5}]}, CONTROLS)
    assert info.value.where == "document.费用明细.1.金额"


@pytest.mark.parametrize(("sp_status", "status"), [
    (1, ApprovalStatus.RUNNING), (2, ApprovalStatus.APPROVED), (3, ApprovalStatus.REFUSED),
    (4, ApprovalStatus.REVOKED), (6, ApprovalStatus.REVERTED), (7, ApprovalStatus.REVOKED),
    (10, ApprovalStatus.APPROVED),
])
def test_every_sp_status_maps(sp_status: int, status: ApprovalStatus) -> None:
    instance = to_instance(info(sp_status))
    assert instance.status is status
    verb = "started" if status is ApprovalStatus.RUNNING else status.value
    assert event_type(instance) == f"wecom.approval.{verb}"
    assert (instance.finished_at is None) == (sp_status == 1)


def test_instance_fields() -> None:
    contents = [{"control": "Text", "id": "Text-ref", "title": [{"text": "汇流引用", "lang": "zh_CN"}],
                 "value": {"text": "HL-1"}}]
    instance = to_instance(info(2, contents), reference_control_id="Text-ref")
    assert instance.instance_id == "202611250001"
    assert instance.system == "wecom"
    assert instance.process_code == "T1"
    assert instance.business_id == "HL-1"
    assert instance.originator_user_id == "zhangsan"
    assert instance.originator_dept_id == "3"
    assert instance.created_at == dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)
    assert instance.finished_at == dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)
    assert [(t.user_id, t.status, t.result) for t in instance.tasks] == [("lisi", "agreed", "agree"),
                                                                         ("wangwu", "running", None)]
    assert to_instance(info(2, contents)).business_id is None


@pytest.mark.parametrize(("raw", "where"), [
    (info(5), "info.sp_status"), ({**info(), "sp_no": None}, "info.sp_no"),
    ({k: v for k, v in info().items() if k != "apply_time"}, "info.apply_time"),
    (info(2, [{"control": "Money", "id": "m", "value": {"new_money": "x"}}]),
     "info.apply_data.contents.0.value.new_money"),
    (info(2, [{"control": "Text", "id": "t"}]), "info.apply_data.contents.0.value"),
    (info(2, [{"control": "Date", "id": "d", "value": {"date": {"s_timestamp": "soon"}}}]),
     "info.apply_data.contents.0.value.date.s_timestamp"),
])
def test_bad_details_are_mapping_errors_with_a_path(raw: dict[str, Any], where: str) -> None:
    with pytest.raises(MappingError) as info_:
        to_instance(raw)
    assert info_.value.where == where


def test_repeated_titles_keep_every_field() -> None:
    item = {"control": "Text", "title": [{"text": "备注", "lang": "zh_CN"}], "value": {"text": "a"}}
    form = form_from_contents([{**item, "id": "1"}, {**item, "id": "2", "value": {"text": "b"}}])
    assert form == {"备注": "a", "备注#2": "b"}


def test_template_controls_read_gettemplatedetail() -> None:
    template = {"template_content": {"controls": [
        {"property": {"control": "Money", "id": "Money-1", "title": [{"text": "Amount", "lang": "en"},
                                                                      {"text": "金额", "lang": "zh_CN"}]}},
        {"property": {"control": "Selector", "id": "Selector-1", "title": [{"text": "类别", "lang": "zh_CN"}]},
         "config": {"selector": {"type": "multi",
                                 "options": [{"key": "k1", "value": [{"text": "甲", "lang": "zh_CN"}]}]}}},
        {"property": {"control": "Table", "id": "Table-1", "title": [{"text": "明细", "lang": "zh_CN"}]},
         "config": {"table": {"children": [{"property": {"control": "Text", "id": "Text-9",
                                                         "title": [{"text": "名称", "lang": "zh_CN"}]}}]}}}]}}
    controls = template_controls(template)
    assert controls == (Control("Money-1", "Money", "金额"),
                        Control("Selector-1", "Selector", "类别", options=(("k1", "甲"),), multi=True),
                        Control("Table-1", "Table", "明细", children=(Control("Text-9", "Text", "名称"),)))
    with pytest.raises(MappingError):
        template_controls({"template_content": {}})


def test_summary_rows() -> None:
    assert to_summary(["采购 12800.00"]) == [{"summary_info": [{"text": "采购 12800.00", "lang": "zh_CN"}]}]
    with pytest.raises(MappingError):
        to_summary(["1", "2", "3", "4"])


def test_file_controls_are_kept_as_media_links() -> None:
    contents = [{"control": "File", "id": "File-1", "title": [{"text": "发票附件", "lang": "zh_CN"}],
                 "value": {"files": [{"file_id": "WWCISP_abc"}, {"file_id": "WWCISP_def"}]}},
                {"control": "Text", "id": "Text-1", "title": [{"text": "事由", "lang": "zh_CN"}],
                 "value": {"text": "出差"}}]
    attachments = to_instance(info(contents=contents)).attachments
    assert [(a.field, a.name, a.ref) for a in attachments] == [
        ("发票附件", "WWCISP_abc", "wecom:media/WWCISP_abc"), ("发票附件", "WWCISP_def", "wecom:media/WWCISP_def")]
