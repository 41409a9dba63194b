"""to_instance / event_type on hand-written vendor payloads, including bad ones."""

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from huiliu.connectors.dingtalk import announced_type, event_type, to_instance
from huiliu.errors import MappingError
from huiliu.model import ApprovalStatus


def raw(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "title": "李娜提交的报销申请", "status": "COMPLETED", "result": "agree", "businessId": "202611250001",
        "createTime": "2026-11-25T09:00Z", "finishTime": "2026-11-25T10:30Z",
        "originatorUserId": "0123", "originatorDeptId": 45,
        "formComponentValues": [
            {"name": "报销事由", "value": "上海出差", "componentType": "TextareaField"},
            {"name": "报销总额", "value": "1234.56", "componentType": "MoneyField"},
            {"name": "费用明细", "value": "[…]", "componentType": "TableField",
             "details": [
                 {"details": [{"name": "费用类型", "value": "差旅费"}, {"name": "金额", "value": "1000.00"}]},
                 {"details": [{"name": "费用类型", "value": "交通费"},
                              {"name": "金额", "value": "234.56"}]}]},
        ],
        "tasks": [{"taskId": 61234567890, "userId": "9", "status": "COMPLETED", "result": "AGREE"}],
    }
    base.update(over)
    return base


def test_a_completed_claim_maps_to_an_approved_instance() -> None:
    instance = to_instance(raw(), "inst-1")
    assert instance.status is ApprovalStatus.APPROVED
    assert instance.system == "dingtalk"
    assert instance.instance_id == "inst-1"
    assert instance.originator_dept_id == "45"  # numbers are read as strings
    assert instance.created_at == datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    assert instance.finished_at == datetime(2026, 11, 25, 10, 30, tzinfo=UTC)
    assert instance.form == {"报销事由": "上海出差", "报销总额": "1234.56",
                             "费用明细": [{"费用类型": "差旅费", "金额": "1000.00"},
                                      {"费用类型": "交通费", "金额": "234.56"}]}
    assert instance.tasks[0].task_id == "61234567890"
    assert event_type(instance) == "dingtalk.approval.approved"


@pytest.mark.parametrize(("status", "result", "expected"), [
    ("RUNNING", "", ApprovalStatus.RUNNING), ("NEW", None, ApprovalStatus.RUNNING),
    ("COMPLETED", "agree", ApprovalStatus.APPROVED), ("completed", "AGREE", ApprovalStatus.APPROVED),
    ("COMPLETED", "refuse", ApprovalStatus.REFUSED), ("COMPLETED", "Refuse", ApprovalStatus.REFUSED),
    ("TERMINATED", None, ApprovalStatus.REVOKED), ("CANCELED", "", ApprovalStatus.REVOKED),
])
def test_status_table(status: str, result: str | None, expected: ApprovalStatus) -> None:
    instance = to_instance(raw(status=status, result=result), "i")
    assert instance.status is expected
    assert event_type(instance) == {"running": "dingtalk.approval.started"}.get(
        expected.value, f"dingtalk.approval.{expected.value}")


@pytest.mark.parametrize(("payload", "where"), [
    (raw(status="PAUSED"), "result.status"),
    (raw(result="redirect"), "result.result"),
    ({k: v for k, v in raw().items() if k != "title"}, "result.title"),
    (raw(formComponentValues={"name": "x"}), "result.formComponentValues"),
    (raw(formComponentValues=[{"value": "no name"}]), "result.formComponentValues.0.name"),
    (raw(tasks=[{"taskId": 1, "status": "RUNNING"}]), "result.tasks.0.userId"),
    (raw(createTime="25/11/2026 09:00"), "result.createTime"),
    (raw(createTime=""), "result.createTime"),
    (raw(formComponentValues=[{"name": "明细", "componentType": "TableField", "value": '[{"rowValue":[]}]'}]),
     "result.formComponentValues.0.details"),
])
def test_bad_payloads_name_the_field(payload: dict[str, Any], where: str) -> None:
    with pytest.raises(MappingError) as info:
        to_instance(payload, "inst-9")
    assert info.value.where == where
    assert info.value.fix is not None


def test_times_with_seconds_offsets_or_epoch_ms_are_utc() -> None:
    instance = to_instance(raw(createTime="2026-11-25T17:00:05+08:00", finishTime=1764064800000), "i")
    assert instance.created_at == datetime(2026, 11, 25, 9, 0, 5, tzinfo=UTC)
    assert instance.finished_at == datetime(2025, 11, 25, 10, 0, tzinfo=UTC)


def test_empty_table_and_repeated_labels_are_kept() -> None:
    instance = to_instance(raw(formComponentValues=[
        {"name": "备注", "value": "一"}, {"name": "备注", "value": "二"},
        {"name": "明细", "componentType": "TableField", "value": ""}]), "i")
    assert instance.form == {"备注": "一", "备注#2": "二", "明细": []}


def test_process_code_comes_from_the_argument_or_the_payload() -> None:
    assert to_instance(raw(processCode="PROC-A"), "i").process_code == "PROC-A"
    assert to_instance(raw(processCode="PROC-A"), "i", process_code="PROC-B").process_code == "PROC-B"
    assert to_instance(raw(), "i").process_code == ""


@pytest.mark.parametrize(("event", "expected"), [
    ({"type": "start"}, "dingtalk.approval.started"),
    ({"type": "finish", "result": "agree"}, "dingtalk.approval.approved"),
    ({"type": "finish", "result": "refuse"}, "dingtalk.approval.refused"),
    ({"type": "terminate"}, "dingtalk.approval.revoked"),
    ({"type": "finish", "result": "redirect"}, None),  # not an instance result: re-read, do not guess
    ({"type": "finish"}, None),
    ({"type": "something-new", "result": "agree"}, None),
    ({}, None),
])
def test_the_type_a_callback_announces_before_any_re_read(event: dict[str, str], expected: str | None) -> None:
    assert announced_type(event) == expected


def test_attachment_and_photo_fields_are_kept_as_links_and_a_strange_value_is_no_error() -> None:
    files = [{"spaceId": "163", "fileName": "发票.pdf", "fileId": "8821", "fileType": "pdf"}]
    result = raw(formComponentValues=[
        {"name": "附件", "value": json.dumps(files, ensure_ascii=False), "componentType": "DDAttachment"},
        {"name": "图片", "value": '["https://static.dingtalk.com/media/a.jpg"]', "componentType": "DDPhotoField"},
        {"name": "旧附件", "value": "不是 JSON", "componentType": "DDAttachment"}])
    instance = to_instance(result, "inst-1")
    assert [(a.field, a.name, a.ref) for a in instance.attachments] == [
        ("附件", "发票.pdf", "dingtalk:space/163/file/8821"),
        ("图片", "a.jpg", "https://static.dingtalk.com/media/a.jpg")]
    assert instance.form["旧附件"] == "不是 JSON"  # kept as it came
