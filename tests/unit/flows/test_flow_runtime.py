"""The shipped expense-claim template, run end to end through advance/complete on a realistic claim."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flow_fixtures import EMPLOYEES, TEMPLATE, crosswalk, write_flow

from huiliu.connectors.kingdee import voucher_from_json
from huiliu.errors import MappingError, ProcessingError, UnbalancedVoucher
from huiliu.flows import Flow, StepMismatch, advance, complete, load_flow, matches, validate_path
from huiliu.i18n import Lang
from huiliu.model import Direction
from huiliu.sandbox.company import EXPENSE_ACCOUNTS, PAYABLE_ACCOUNT
from huiliu.store.codec import dumps, loads


def test_template_matches_only_expense_approvals(template: Flow, claim_context: dict[str, Any]) -> None:
    assert matches(template, "dingtalk.approval.approved", claim_context)
    assert not matches(template, "dingtalk.approval.refused", claim_context)
    other = copy.deepcopy(claim_context)
    other["instance"]["process_code"] = "PROC-PURCHASE"
    assert not matches(template, "dingtalk.approval.approved", other)


def test_full_cycle_builds_balanced_voucher_then_two_effects(template: Flow,
                                                              claim_context: dict[str, Any]) -> None:
    lookup = crosswalk()
    original = copy.deepcopy(claim_context)

    first = advance(template, claim_context, lookup)
    assert claim_context == original, "advance must not change the caller's context"
    assert [s for s, _ in first.completed] == ["employee", "claim", "voucher"]
    assert not first.done
    assert first.context["cursor"] == 3
    assert lookup.calls == [("employee", "dingtalk", "manager4521")]  # type: ignore[attr-defined]

    claim = first.context["steps"]["claim"]
    assert claim["claim_no"] == "BX202405310017"
    assert [line["amount"] for line in claim["lines"]] == ["1280.50", "356.3", "42"]

    voucher = first.context["steps"]["voucher"]
    assert voucher["reference"] == "BX202405310017"
    assert voucher["book"] == "001"
    assert voucher["group"] == "记"
    assert voucher["date"] == "2024-06-01"  # 17:30 UTC on 31 May is 01:30 on 1 June in Beijing
    lines = voucher["lines"]
    assert [(x["direction"], x["account"], x["amount"]["amount"]) for x in lines] == [
        ("debit", EXPENSE_ACCOUNTS["差旅费"], "1280.50"),
        ("debit", EXPENSE_ACCOUNTS["业务招待费"], "356.30"),
        ("debit", EXPENSE_ACCOUNTS["交通费"], "42.00"),
        ("credit", PAYABLE_ACCOUNT, "1678.80"),
    ]
    assert lines[0]["summary"] == "王芳报销差旅费：上海往返高铁"
    assert lines[3]["summary"] == "应付王芳报销款 BX202405310017"
    assert lines[0]["aux"] == [["department", "BM0301"], ["employee", "E0007"]]
    assert lines[3]["aux"] == [["employee", "E0007"]]

    rebuilt = voucher_from_json(voucher)  # the Kingdee connector reads exactly this form
    assert rebuilt.total(Direction.DEBIT) == rebuilt.total(Direction.CREDIT)
    assert rebuilt.total(Direction.DEBIT).amount == Decimal("1678.80")

    effect = first.effect
    assert effect is not None
    assert (effect.step_id, effect.action) == ("post_voucher", "kingdee.voucher.create")
    assert effect.request == {"voucher": voucher}

    # The context goes through storage between steps, exactly as the service does.
    stored = loads(dumps(first.context))
    after_post = complete(template, stored, "post_voucher", {"id": "100234", "number": "记-0042"})
    assert after_post["cursor"] == 4
    assert after_post["steps"]["post_voucher"] == {"id": "100234", "number": "记-0042"}

    second = advance(template, loads(dumps(after_post)), lookup)
    assert second.completed == []
    assert second.effect is not None
    assert second.effect.action == "dingtalk.approval.comment"
    assert second.effect.request == {"instance_id": "PI-7f3a2c",
                                     "text": "已生成金蝶凭证 记-0042，金额 1678.80 元"}

    after_comment = complete(template, second.context, "write_back", {"ok": True})
    last = advance(template, after_comment, lookup)
    assert last.done
    assert last.effect is None
    assert last.completed == []
    assert last.context["cursor"] == len(template.steps)
    json.dumps(last.context)  # stays JSON-able end to end


def test_advance_is_deterministic(template: Flow, claim_context: dict[str, Any]) -> None:
    one = advance(template, claim_context, crosswalk())
    two = advance(template, claim_context, crosswalk())
    assert dumps(one.context) == dumps(two.context)
    assert one.effect == two.effect


def test_advance_at_a_pending_call_returns_the_same_effect(template: Flow,
                                                           claim_context: dict[str, Any]) -> None:
    first = advance(template, claim_context, crosswalk())
    again = advance(template, first.context, crosswalk())
    assert again.completed == []
    assert again.effect == first.effect
    assert again.context["cursor"] == first.context["cursor"]


def test_unknown_expense_type_lists_known_keys(template: Flow, claim_context: dict[str, Any]) -> None:
    claim_context["form"]["费用明细"][1]["费用类型"] = "团建费"
    with pytest.raises(MappingError) as info:
        advance(template, claim_context, crosswalk())
    message = info.value.render()
    assert "团建费" in message
    assert "voucher" in message
    for known in EXPENSE_ACCOUNTS:
        assert known in message
    assert "line 第 2 项" in message
    assert info.value.where is not None
    assert info.value.where.endswith("expense_claim_voucher.yaml:44:17")  # the account's `by:`


def test_missing_employee_names_entity_system_key(template: Flow, claim_context: dict[str, Any]) -> None:
    with pytest.raises(MappingError) as info:
        advance(template, claim_context, crosswalk({}))
    message = info.value.render()
    assert "员工 dingtalk:manager4521 在 crosswalk 中找不到" in message
    assert "employee" in message


def test_mapping_that_does_not_balance_raises_unbalanced(tmp_path: Path,
                                                         claim_context: dict[str, Any]) -> None:
    text = TEMPLATE.read_text(encoding="utf-8").replace(
        "amount: \"{{ steps.claim.lines | sum_amount('amount') }}\"",
        "amount: \"{{ steps.claim.lines[0].amount }}\"")
    flow = load_flow(write_flow(tmp_path, text))
    with pytest.raises(UnbalancedVoucher) as info:
        advance(flow, claim_context, crosswalk())
    assert "1678.80" in info.value.render()
    assert "1280.50" in info.value.render()
    assert info.value.where is not None
    assert info.value.where.endswith("flow.yaml:33:5")


def test_complete_refuses_a_step_that_is_not_waiting(template: Flow, claim_context: dict[str, Any]) -> None:
    first = advance(template, claim_context, crosswalk())
    with pytest.raises(StepMismatch):
        complete(template, first.context, "write_back", {"ok": True})
    with pytest.raises(StepMismatch):
        complete(template, first.context, "voucher", {})
    done = complete(template, first.context, "post_voucher", {"number": "记-1"})
    with pytest.raises(StepMismatch):  # a repeated result
        complete(template, done, "post_voucher", {"number": "记-1"})


def test_corrupt_cursor_is_refused(template: Flow, claim_context: dict[str, Any]) -> None:
    claim_context["cursor"] = 99
    with pytest.raises(ProcessingError, match="cursor"):
        advance(template, claim_context, crosswalk())


def test_runtime_typo_names_step_and_field(tmp_path: Path, claim_context: dict[str, Any]) -> None:
    flow = load_flow(write_flow(tmp_path, """\
id: typo
version: "1"
title: typo
trigger: {event: dingtalk.approval.approved}
steps:
  - id: claim
    map:
      who: "{{ form['报销人姓名'] }}"
"""))
    with pytest.raises(MappingError) as info:  # a form field: only the approval itself can tell
        advance(flow, claim_context, crosswalk())
    message = info.value.render()
    assert "`claim`" in message
    assert "map.who" in message
    assert "报销人姓名" in message
    assert info.value.where is not None
    assert info.value.where.endswith("flow.yaml:8:12")


def test_a_field_the_data_never_has_is_a_load_error(tmp_path: Path) -> None:
    path = write_flow(tmp_path, """\
id: typo
version: "1"
title: typo
trigger: {event: dingtalk.approval.approved}
steps:
  - id: employee
    lookup: {entity: employee, system: dingtalk, key: "{{ instance.originator_user_id }}"}
  - id: claim
    map:
      who: "{{ instance.originator_usr_id }}"
      dept: "{{ steps.employee.departmnet_number }}"
      when: "{{ event.recieved_at }}"
  - id: next
    map: {a: "{{ steps.claim.who }}", b: "{{ steps.claim.whom }}", c: "{{ steps.claim.get('who') }}"}
""")
    errors = validate_path(path)
    texts = [e.render(Lang.EN) for e in errors]
    assert len(errors) == 4, texts
    assert "`instance.originator_usr_id`, which does not exist" in texts[0] and "`originator_user_id`?" in texts[0]
    assert "`steps.employee.departmnet_number`" in texts[1] and "`department_number`?" in texts[1]
    assert "`event.recieved_at`" in texts[2] and "`received_at`?" in texts[2]
    assert "`steps.claim.whom`" in texts[3] and "`who`?" in texts[3]
    assert [e.where.rsplit(":", 2)[1] for e in errors if e.where] == ["10", "11", "12", "14"]


def test_when_false_skips_step_with_none_output(tmp_path: Path, claim_context: dict[str, Any]) -> None:
    flow = load_flow(write_flow(tmp_path, """\
id: skip
version: "1"
title: skip
trigger: {event: dingtalk.approval.approved}
steps:
  - id: big
    when: "steps_total > 10000"
    map: {x: 1}
""".replace("steps_total", "form['费用明细'] | sum_amount('金额')")))
    result = advance(flow, claim_context, crosswalk())
    assert result.done
    assert result.completed == [("big", None)]
    assert result.context["steps"] == {"big": None}


def test_employee_record_is_stored_as_returned(template: Flow, claim_context: dict[str, Any]) -> None:
    result = advance(template, claim_context, crosswalk())
    assert result.context["steps"]["employee"] == EMPLOYEES["manager4521"]


def test_optional_lookup_gives_none_and_later_steps_see_it(tmp_path: Path,
                                                           claim_context: dict[str, Any]) -> None:
    flow = load_flow(write_flow(tmp_path, """\
id: optional
version: "1"
title: optional
trigger: {event: dingtalk.approval.approved}
steps:
  - id: manager
    lookup: {entity: employee, system: dingtalk, key: "nobody", required: false}
  - id: note
    map:
      who: "{{ steps.manager.name if steps.manager else '（无）' }}"
"""))
    result = advance(flow, claim_context, crosswalk())
    assert result.completed == [("manager", None), ("note", {"who": "（无）"})]


def test_caller_decimals_are_normalised_like_storage(template: Flow, claim_context: dict[str, Any]) -> None:
    claim_context["form"]["费用明细"][0]["金额"] = Decimal("1280.50")
    direct = advance(template, claim_context, crosswalk())
    stored = advance(template, loads(dumps(claim_context)), crosswalk())
    assert dumps(direct.context) == dumps(stored.context)
    assert direct.context["form"]["费用明细"][0]["金额"] == "1280.50"


def test_a_filter_on_data_of_the_wrong_type_is_a_load_error(tmp_path: Path) -> None:
    path = write_flow(tmp_path, """\
id: types
version: "1"
title: types
trigger: {event: dingtalk.approval.approved}
steps:
  - id: claim
    map:
      amount: "{{ instance.finished_at | decimal }}"
      day: "{{ instance.title | local_date }}"
      total: "{{ instance.form | fen }}"
      fine: "{{ instance.finished_at | local_date }}"
      also_fine: "{{ form['金额'] | decimal }}"
""")
    texts = [e.render(Lang.EN) for e in validate_path(path)]
    assert len(texts) == 3, texts
    assert "applies decimal to `instance.finished_at` (a time)" in texts[0]
    assert "applies local_date to `instance.title` (text)" in texts[1]
    assert "applies fen to `instance.form` (a list or mapping)" in texts[2]
