"""Fixtures for the flow tests: the shipped template, loaded once, and a realistic approved claim."""

from __future__ import annotations

from typing import Any

import pytest
from flow_fixtures import TEMPLATE

from huiliu.flows import Flow, load_flow


@pytest.fixture(scope="session")
def template() -> Flow:
    return load_flow(TEMPLATE)


@pytest.fixture
def claim_context() -> dict[str, Any]:
    form = {
        "报销事由": "上海客户拜访",
        "费用明细": [
            {"费用类型": "差旅费", "金额": "1,280.50", "费用说明": "上海往返高铁"},
            {"费用类型": "业务招待费", "金额": "356.3", "费用说明": "客户午餐"},
            {"费用类型": "交通费", "金额": "¥42", "费用说明": "市内打车"},
        ],
    }
    instance = {
        "system": "dingtalk", "instance_id": "PI-7f3a2c", "process_code": "PROC-EXPENSE",
        "title": "王芳提交的报销", "status": "approved", "originator_user_id": "manager4521",
        "originator_dept_id": "31001", "business_id": "BX202405310017",
        "created_at": "2024-05-30T02:11:00+00:00", "finished_at": "2024-05-31T17:30:00+00:00",
        "form": form,
    }
    return {"event": {"id": "ev-1", "type": "dingtalk.approval.approved", "source": "dingtalk",
                      "business_key": "PI-7f3a2c", "received_at": None},
            "instance": instance, "form": form, "reference": "BX202405310017", "steps": {}, "cursor": 0}
