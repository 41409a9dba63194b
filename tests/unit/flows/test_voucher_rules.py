"""Voucher rules as finance writes them: multi-attribute accounts, splits, advance offsets, the preparer.

Every rule kind is run on data; every error is checked for its message and its ``file:line:column``.
"""

from __future__ import annotations

import copy
import random
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flow_fixtures import write_flow

from huiliu.connectors.kingdee import voucher_from_json
from huiliu.errors import FlowFileError, MappingError
from huiliu.flows import Flow, load_flow, validate_path
from huiliu.flows.steps import allocate, covers, pattern_matches
from huiliu.service.flowtest import load_fixture, run_fixture

TEMPLATES = Path(__file__).resolve().parents[3] / "src" / "huiliu" / "flows" / "templates"
EXAMPLE = TEMPLATES / "expense_claim_voucher_rules.yaml"
EXAMPLE_FIXTURE = TEMPLATES / "fixtures" / "expense_claim_voucher_rules.yaml"
HUILIU = str(Path(sys.executable).with_name("huiliu"))
FEN = Decimal("0.01")

EMPLOYEE: dict[str, Any] = {"number": "E1001", "name": "李娜", "department_number": "BM02", "erp_user": "u1001"}

HEAD = """\
id: rules
version: "1"
title: 规则
trigger:
  event: dingtalk.approval.approved
steps:
  - id: employee
    lookup: {entity: employee, system: dingtalk, key: "{{ instance.originator_user_id }}"}
  - id: voucher
    voucher:
      book: "001"
      date: "2026-11-26"
"""

RULES = """\
- for_each: "{{ form['明细'] }}"
  as: line
  direction: debit
  account:
    by: {type: "{{ line['类型'] }}", dept: "{{ steps.employee.department_number }}", project: "{{ form.get('项目') }}"}
    rules:
      - {type: 差旅费, dept: BM03, account: "6601.03"}
      - {type: 差旅费, account: "6602.03"}
      - {type: "*", project: "P-*", account: "5301.01"}
      - {type: 办公费, account: "6602.01"}
  amount: "{{ line['金额'] }}"
- direction: credit
  account: "2241.01"
  amount: "{{ form['明细'] | sum_amount('金额') }}"
"""

SPLIT = """\
- direction: debit
  split: {by: "{{ form['分摊'] }}", as: part, share: "{{ part.ratio }}"}
  account:
    by: {dept: "{{ part.dept }}"}
    rules:
      - {dept: BM03, account: "6601.03"}
      - {account: "6602.03"}
  amount: "{{ form['金额'] }}"
  summary: "{{ part.dept }}"
  aux: {department: "{{ part.dept }}"}
- direction: credit
  account: "2241.01"
  amount: "{{ form['金额'] }}"
"""


def flow_text(lines: str, *, preparer: str | None = None) -> str:
    extra = f"      preparer: {preparer}\n" if preparer is not None else ""
    return HEAD + extra + "      lines:\n" + textwrap.indent(textwrap.dedent(lines), " " * 8)


def pos(text: str, needle: str, nth: int = 0) -> str:
    """``line:column`` (1-based) of the ``nth`` occurrence of ``needle`` in ``text``."""
    start = -1
    for _ in range(nth + 1):
        start = text.index(needle, start + 1)
    line = text.count("\n", 0, start) + 1
    column = start - (text.rfind("\n", 0, start) + 1) + 1
    return f"{line}:{column}"


def at(path: Path, text: str, needle: str) -> str:
    """``file:line:column`` of ``needle`` in the flow file ``path`` holding ``text``."""
    return f"{path}:{pos(text, needle)}"


def load(tmp_path: Path, lines: str, **kwargs: Any) -> tuple[Flow, str, Path]:
    text = flow_text(lines, **kwargs)
    path = write_flow(tmp_path, text)
    return load_flow(path), text, path


def load_error(tmp_path: Path, lines: str, **kwargs: Any) -> tuple[FlowFileError, str, Path]:
    text = flow_text(lines, **kwargs)
    path = write_flow(tmp_path, text)
    with pytest.raises(FlowFileError) as info:
        load_flow(path)
    assert info.value.fix is not None
    return info.value, text, path


def run_voucher(flow: Flow, form: dict[str, Any], employee: dict[str, Any] | None = None) -> dict[str, Any]:
    instance = {"instance_id": "PI-1", "originator_user_id": "0123", "form": form}
    scope = {"event": {"source": "dingtalk"}, "instance": instance, "form": form, "reference": "BX-1",
             "steps": {"employee": EMPLOYEE if employee is None else employee}, "cursor": 1}
    step = flow.steps[flow.index("voucher")]
    output: dict[str, Any] = step.run(scope, lambda *_: None)
    return output


def debit(output: dict[str, Any]) -> list[tuple[str, str]]:
    return [(line["account"], line["amount"]["amount"]) for line in output["lines"] if line["direction"] == "debit"]


def credit(output: dict[str, Any]) -> list[tuple[str, str]]:
    return [(line["account"], line["amount"]["amount"]) for line in output["lines"]
            if line["direction"] == "credit"]


# ---------------------------------------------------------------- account rules


@pytest.mark.parametrize(("pattern", "value", "matched"), [
    ("*", "", True), ("*", "差旅费", True), ("差旅费", "差旅费", True), ("差旅费", "差旅", False),
    ("P-*", "P-7", True), ("P-*", "P-", True), ("P-*", "Q-7", False), ("P-*", "", False), ("", "", True),
])
def test_pattern_matches(pattern: str, value: str, matched: bool) -> None:
    assert pattern_matches(pattern, value) is matched


@pytest.mark.parametrize(("general", "specific", "covered"), [
    ("*", "差旅费", True), ("*", "P-*", True), ("P-*", "P-1*", True), ("P-*", "P-12", True),
    ("P-*", "P*", False), ("P-1*", "P-*", False), ("差旅费", "差旅费", True), ("差旅费", "*", False),
    ("差旅费", "交通费", False), ("P-1", "P-*", False),
])
def test_covers(general: str, specific: str, covered: bool) -> None:
    assert covers(general, specific) is covered


@pytest.mark.parametrize(("expense", "dept", "project", "account"), [
    ("差旅费", "BM03", None, "6601.03"),       # the specific rule
    ("差旅费", "BM02", None, "6602.03"),       # the type alone
    ("差旅费", "BM02", "P-7", "6602.03"),      # first match wins over the project rule below it
    ("业务招待费", "BM02", "P-7", "5301.01"),   # "*" type, prefix project
    ("办公费", "BM02", "P-7", "5301.01"),
    ("办公费", "BM03", None, "6602.01"),       # no project: the prefix does not match the empty value
])
def test_account_rules_first_match_wins(tmp_path: Path, expense: str, dept: str, project: str | None,
                                        account: str) -> None:
    flow, _, _ = load(tmp_path, RULES)
    form: dict[str, Any] = {"明细": [{"类型": expense, "金额": "12.30"}]}
    if project is not None:
        form["项目"] = project
    output = run_voucher(flow, form, {**EMPLOYEE, "department_number": dept})
    assert debit(output) == [(account, "12.30")]
    assert credit(output) == [("2241.01", "12.30")]


def test_no_matching_rule_names_every_attribute_and_lists_the_rules(tmp_path: Path) -> None:
    flow, text, path = load(tmp_path, RULES)
    form = {"明细": [{"类型": "差旅费", "金额": "1"}, {"类型": "业务招待费", "金额": "2"}], "项目": "Q-1"}
    with pytest.raises(MappingError) as info:
        run_voucher(flow, form)
    error = info.value
    assert error.where == at(path, text, 'by: {type:')
    for shown in ("type=“业务招待费”", "dept=“BM02”", "project=“Q-1”", "type=差旅费, dept=BM03 → 6601.03",
                  "type=差旅费 → 6602.03", "project=P-* → 5301.01", "4) type=办公费 → 6602.01", "line 第 2 项"):
        assert shown in error.what.zh
    assert "project='Q-1'" in error.what.en
    assert error.fix is not None and "account.rules" in error.fix.zh


def test_an_empty_attribute_is_shown_as_empty(tmp_path: Path) -> None:
    flow, _, _ = load(tmp_path, RULES)
    with pytest.raises(MappingError) as info:
        run_voucher(flow, {"明细": [{"类型": "培训费", "金额": "1"}]})
    assert "project=（空）" in info.value.what.zh


def test_an_attribute_that_is_not_one_value_is_an_error(tmp_path: Path) -> None:
    flow, text, path = load(tmp_path, RULES)
    with pytest.raises(MappingError) as info:
        run_voucher(flow, {"明细": [{"类型": ["差旅费"], "金额": "1"}]})
    assert info.value.where == at(path, text, '"{{ line[')
    assert "应为文本" in info.value.what.zh


def test_catch_all_rule_numbers_and_explicit_star(tmp_path: Path) -> None:
    lines = RULES.replace('      - {type: 办公费, account: "6602.01"}\n',
                          '      - {type: 办公费, dept: "*", account: "6602.01"}\n'
                          '      - {account: "6602.99"}\n')
    flow, _, _ = load(tmp_path, lines)
    assert debit(run_voucher(flow, {"明细": [{"类型": "办公费", "金额": "1"}]})) == [("6602.01", "1.00")]
    assert debit(run_voucher(flow, {"明细": [{"类型": "培训费", "金额": "1"}]})) == [("6602.99", "1.00")]


def test_whole_numbers_in_rules_match_numbers(tmp_path: Path) -> None:
    lines = RULES.replace('{type: 差旅费, dept: BM03, account: "6601.03"}', '{type: 差旅费, dept: 3, account: 6601}')
    flow, _, _ = load(tmp_path, lines)
    assert debit(run_voucher(flow, {"明细": [{"类型": "差旅费", "金额": "1"}]},
                             {**EMPLOYEE, "department_number": 3})) == [("6601", "1.00")]


def test_unknown_attribute_in_a_rule(tmp_path: Path) -> None:
    lines = RULES.replace("{type: 办公费, account", "{typ: 办公费, account")
    error, text, path = load_error(tmp_path, lines)
    assert error.where == at(path, text, 'typ: 办公费')
    assert "科目规则 4 用了未知的属性 `typ`" in error.what.zh
    assert error.fix is not None and "`type`" in error.fix.zh and "type, dept, project" in error.fix.zh


def test_a_rule_with_a_bad_attribute_is_not_also_reported_as_hiding_others(tmp_path: Path) -> None:
    errors = validate_path(write_flow(tmp_path, flow_text(two_rules('{typ: 差旅费, account: "1"}',
                                                                    '{type: 差旅费, account: "2"}'))))
    assert len(errors) == 1 and "未知的属性 `typ`" in errors[0].what.zh


def test_hidden_rules_are_numbered_as_written(tmp_path: Path) -> None:
    lines = two_rules('{type: 差旅费}', '{type: "*", account: "1"}\n      - {type: 差旅费, account: "2"}')
    errors = validate_path(write_flow(tmp_path, flow_text(lines)))
    assert len(errors) == 2
    assert "科目规则 3" in errors[1].what.zh and "前面的规则 2" in errors[1].what.zh


def test_rule_without_account(tmp_path: Path) -> None:
    lines = RULES.replace('{type: 办公费, account: "6602.01"}', "{type: 办公费}")
    error, text, path = load_error(tmp_path, lines)
    assert error.where == at(path, text, '{type: 办公费}')
    assert "科目规则 4 缺少 `account`" in error.what.zh and "has no `account`" in error.what.en


def two_rules(first: str, second: str) -> str:
    """Debit lines whose account has exactly these two rules."""
    head = RULES[:RULES.index("    rules:\n") + len("    rules:\n")]
    return head + f"      - {first}\n      - {second}\n" + RULES[RULES.index("  amount:"):]


@pytest.mark.parametrize(("first", "second"), [
    ("{type: 差旅费, account: \"1\"}", "{type: 差旅费, dept: BM03, account: \"2\"}"),
    ("{type: \"*\", account: \"1\"}", "{type: 办公费, account: \"2\"}"),
    ("{project: \"P-*\", account: \"1\"}", "{project: \"P-1*\", account: \"2\"}"),
    ("{project: \"P-*\", account: \"1\"}", "{type: 差旅费, project: P-12, account: \"2\"}"),
    ("{account: \"1\"}", "{type: 差旅费, account: \"2\"}"),
    ("{type: 差旅费, account: \"1\"}", "{type: 差旅费, account: \"2\"}"),
])
def test_a_rule_hidden_by_an_earlier_one_is_an_error(tmp_path: Path, first: str, second: str) -> None:
    error, text, path = load_error(tmp_path, two_rules(first, second))
    assert error.where == at(path, text, second)
    assert "科目规则 2" in error.what.zh and "永远不会生效" in error.what.zh and "规则 1" in error.what.zh
    assert "can never apply" in error.what.en


@pytest.mark.parametrize(("first", "second"), [
    ("{type: 差旅费, dept: BM03, account: \"1\"}", "{type: 差旅费, account: \"2\"}"),
    ("{project: \"P-1*\", account: \"1\"}", "{project: \"P-*\", account: \"2\"}"),
    ("{type: 差旅费, account: \"1\"}", "{dept: BM03, account: \"2\"}"),
])
def test_more_specific_rules_first_are_fine(tmp_path: Path, first: str, second: str) -> None:
    flow, _, _ = load(tmp_path, two_rules(first, second))
    assert debit(run_voucher(flow, {"明细": [{"类型": "差旅费", "金额": "1"}], "项目": "P-12"},
                             {**EMPLOYEE, "department_number": "BM03"})) == [("1", "1.00")]


def test_star_only_alone_or_at_the_end(tmp_path: Path) -> None:
    lines = RULES.replace('project: "P-*", account: "5301.01"', 'project: "*-01", account: "5301.01"')
    error, text, path = load_error(tmp_path, lines)
    assert error.where == at(path, text, '"*-01"')
    assert "只能单独使用或放在末尾" in error.what.zh


def test_account_is_not_an_attribute_name(tmp_path: Path) -> None:
    lines = RULES.replace('by: {type:', 'by: {account: "{{ line.x }}", type:')
    error, text, path = load_error(tmp_path, lines)
    assert error.where == at(path, text, 'account: \"{{ line.x')
    assert "`account` 不能作为科目规则的属性名" in error.what.zh


def test_unknown_name_in_an_attribute_expression(tmp_path: Path) -> None:
    lines = RULES.replace("{{ steps.employee.department_number }}", "{{ lines.dept }}")
    error, text, path = load_error(tmp_path, lines)
    assert error.where == at(path, text, '"{{ lines.dept }}')
    assert "未知的名称 `lines`" in error.what.zh


def test_misspelt_rules_key_suggests_rules(tmp_path: Path) -> None:
    lines = RULES.replace("    rules:\n", "    rule:\n")
    error, text, path = load_error(tmp_path, lines)
    assert error.where == at(path, text, 'rule:')
    assert error.fix is not None and "`rules`" in error.fix.zh


def test_bad_attribute_name_and_rule_shape_are_schema_errors(tmp_path: Path) -> None:
    errors = validate_path(write_flow(tmp_path, flow_text(
        RULES.replace("by: {type:", "by: {1type:").replace('{type: 办公费, account: "6602.01"}', "办公费"))))
    assert len(errors) == 2
    assert any("格式不对" in e.what.zh for e in errors)
    assert any("应为映射" in e.what.zh for e in errors)


def test_every_problem_of_the_rules_is_listed(tmp_path: Path) -> None:
    lines = RULES.replace("{type: 办公费, account", "{typ: 办公费, account").replace(
        '{type: 差旅费, account: "6602.03"}', "{type: 差旅费}")
    errors = validate_path(write_flow(tmp_path, flow_text(lines)))
    assert ["缺少" in e.what.zh or "未知的属性" in e.what.zh for e in errors] == [True, True]


# ---------------------------------------------------------------- split


def split_form(amount: str, *shares: tuple[str, Any]) -> dict[str, Any]:
    return {"金额": amount, "分摊": [{"dept": dept, "ratio": ratio} for dept, ratio in shares]}


@pytest.mark.parametrize(("amount", "shares", "lines"), [
    ("100.00", [("BM01", "33.34%"), ("BM02", "33.33%"), ("BM03", "33.33%")],
     [("6602.03", "33.34"), ("6602.03", "33.33"), ("6601.03", "33.33")]),
    # 30.003 → 30.00, 20.002 → 20.00; the largest share takes the fen left over: 50.01
    ("100.01", [("BM02", "0.3"), ("BM03", 0.5), ("BM05", "20%")],
     [("6602.03", "30.00"), ("6601.03", "50.01"), ("6602.03", "20.00")]),
    # 0.333 → 0.33 twice, the remainder 0.34 on the first of the equal largest shares
    ("1.00", [("BM01", "0.334"), ("BM02", "0.333"), ("BM03", "0.333")],
     [("6602.03", "0.34"), ("6602.03", "0.33"), ("6601.03", "0.33")]),
    ("50", [("BM03", "100%")], [("6601.03", "50.00")]),
    ("50", [("BM01", "0"), ("BM03", "1")], [("6601.03", "50.00")]),   # a zero share makes no line
])
def test_split_lines_to_the_fen_remainder_on_the_largest_share(tmp_path: Path, amount: str,
                                                               shares: list[tuple[str, Any]],
                                                               lines: list[tuple[str, str]]) -> None:
    flow, _, _ = load(tmp_path, SPLIT)
    output = run_voucher(flow, split_form(amount, *shares))
    assert debit(output) == lines
    assert credit(output) == [("2241.01", f"{Decimal(amount):.2f}")]
    departments = [dict(line["aux"])["department"] for line in output["lines"] if line["direction"] == "debit"]
    assert departments == [line["summary"] for line in output["lines"] if line["direction"] == "debit"]


def test_split_per_item_of_a_for_each_and_by_the_item(tmp_path: Path) -> None:
    lines = """\
    - for_each: "{{ form['明细'] }}"
      as: line
      direction: debit
      split: {by: "{{ line['分摊'] }}", as: part, share: "{{ part.ratio }}"}
      account: "6602.03"
      amount: "{{ line['金额'] }}"
      aux: {department: "{{ part.dept }}"}
    - direction: credit
      account: "2241.01"
      amount: "{{ form['明细'] | sum_amount('金额') }}"
    """
    flow, _, _ = load(tmp_path, lines)
    form = {"明细": [{"金额": "10", "分摊": [{"dept": "A", "ratio": "0.5"}, {"dept": "B", "ratio": "0.5"}]},
                     {"金额": "0.03", "分摊": [{"dept": "C", "ratio": "60%"}, {"dept": "D", "ratio": "40%"}]}]}
    output = run_voucher(flow, form)
    assert debit(output) == [("6602.03", "5.00"), ("6602.03", "5.00"), ("6602.03", "0.02"), ("6602.03", "0.01")]


def split_error(tmp_path: Path, form: dict[str, Any], lines: str = SPLIT) -> tuple[MappingError, str, Path]:
    flow, text, path = load(tmp_path, lines)
    with pytest.raises(MappingError) as info:
        run_voucher(flow, form)
    assert info.value.fix is not None
    return info.value, text, path


@pytest.mark.parametrize(("shares", "total"), [
    ([("BM01", "0.6"), ("BM02", "0.3")], "0.9"),
    ([("BM01", "60%"), ("BM02", "50%")], "110%"),
    ([("BM01", "33.33%"), ("BM02", "33.33%"), ("BM03", "33.33%")], "99.99%"),
])
def test_shares_not_adding_up_to_one(tmp_path: Path, shares: list[tuple[str, str]], total: str) -> None:
    error, text, path = split_error(tmp_path, split_form("100", *shares))
    assert error.where == at(path, text, '"{{ part.ratio }}')
    assert f"分摊比例合计为 {total}，应为 1（100%）" in error.what.zh
    assert "1) dept=BM01, ratio=" in error.what.zh
    assert f"add up to {total}" in error.what.en


def test_shares_written_as_whole_percent_numbers_get_a_specific_fix(tmp_path: Path) -> None:
    error, _, _ = split_error(tmp_path, split_form("100", ("BM01", 60), ("BM02", 40)))
    assert "合计为 100，" in error.what.zh
    assert error.fix is not None and "不要写成 60" in error.fix.zh


@pytest.mark.parametrize(("form", "message", "needle"), [
    (split_form("100", ("BM01", "-0.5"), ("BM02", "1.5")), "不能为负数", "\"{{ part.ratio }}"),
    (split_form("100", ("BM01", "六成"), ("BM02", "0.4")), "不是比例", "\"{{ part.ratio }}"),
    (split_form("100", ("BM01", None)), "不是比例", "\"{{ part.ratio }}"),
    ({"金额": "100", "分摊": []}, "分摊列表为空", "\"{{ form['分摊'] }}"),
    ({"金额": "100", "分摊": "BM01"}, "应得到列表", "\"{{ form['分摊'] }}"),
    (split_form("0", ("BM01", "1")), "必须为正数，实际是 0.00（分摊前）", "\"{{ form['金额'] }}"),
])
def test_bad_splits(tmp_path: Path, form: dict[str, Any], message: str, needle: str) -> None:
    error, text, path = split_error(tmp_path, form)
    assert message in error.what.zh
    assert error.where == at(path, text, needle)


def test_an_unmatched_account_of_a_split_part_names_the_part(tmp_path: Path) -> None:
    lines = SPLIT.replace('      - {account: "6602.03"}\n', "")
    error, _, _ = split_error(tmp_path, split_form("100", ("BM03", "0.5"), ("BM04", "0.5")), lines)
    assert "dept=“BM04”" in error.what.zh and "part 第 2 项" in error.what.zh


def test_the_amount_is_split_so_it_cannot_read_the_part(tmp_path: Path) -> None:
    error, text, path = load_error(tmp_path, SPLIT.replace("{{ form['金额'] }}\"\n  summary",
                                                           "{{ part.amount }}\"\n  summary"))
    assert error.where == at(path, text, '"{{ part.amount }}')
    assert "未知的名称 `part`" in error.what.zh


def test_split_name_may_not_repeat_the_loop_name_or_hide_context(tmp_path: Path) -> None:
    lines = """\
    - for_each: "{{ form['明细'] }}"
      as: line
      direction: debit
      split: {by: "{{ line.x }}", as: line, share: "1"}
      account: "6602.03"
      amount: "1"
    """
    error, text, path = load_error(tmp_path, lines)
    assert error.where == at(path, text, 'line, share')
    assert "与 for_each 的 as 重名" in error.what.zh
    error, text, path = load_error(tmp_path, lines.replace("as: line, share", "as: form, share"))
    assert "遮住" in error.what.zh


def test_unknown_key_in_split(tmp_path: Path) -> None:
    error, text, path = load_error(tmp_path, SPLIT.replace("share: \"{{ part.ratio }}\"", "ratio: \"1\""))
    assert error.where == at(path, text, 'ratio: \"1\"')
    assert error.fix is not None and "by, as, share" in error.fix.zh


def _random_shares(rng: random.Random, n: int) -> list[Decimal]:
    cuts = sorted(rng.sample(range(1, 10_000), n - 1))
    points = [b - a for a, b in zip([0, *cuts], [*cuts, 10_000], strict=True)]
    return [Decimal(p) / 10_000 for p in points]


def test_allocate_property_parts_add_up_exactly_each_to_the_fen() -> None:
    rng = random.Random(20261126)
    for _ in range(5_000):
        n = rng.randint(1, 12)
        shares = _random_shares(rng, n)
        total = Decimal(rng.choice([rng.randint(1, 20), rng.randint(1, 10**9)])) * FEN
        parts = allocate(total, shares, FEN)
        assert sum(parts, Decimal(0)) == total
        assert all(part >= 0 and part == part.quantize(FEN) for part in parts)
        largest = shares.index(max(shares))
        if total >= Decimal("0.005") * n * n:  # away from the few-fen fallback: half up, to the half fen
            for i, (part, share) in enumerate(zip(parts, shares, strict=True)):
                if i != largest:
                    assert abs(part - total * share) <= Decimal("0.005")


def test_allocate_few_fen_over_many_shares_never_goes_negative() -> None:
    assert allocate(Decimal("0.02"), [Decimal("0.25")] * 4, FEN) == [Decimal("0.02"), 0, 0, 0]
    with pytest.raises(ValueError, match="no shares"):
        allocate(Decimal(1), [], FEN)


def test_split_property_through_the_flow(tmp_path: Path) -> None:
    flow, _, _ = load(tmp_path, SPLIT)
    rng = random.Random(7)
    for _ in range(300):
        n = rng.randint(1, 8)
        shares = _random_shares(rng, n)
        amount = Decimal(rng.randint(1, 10**8)) * FEN
        written = [f"{share * 100:f}%" if rng.random() < 0.5 else f"{share:f}" for share in shares]
        output = run_voucher(flow, split_form(f"{amount:f}", *((f"D{i}", w) for i, w in enumerate(written))))
        amounts = [Decimal(value) for _, value in debit(output)]
        assert sum(amounts, Decimal(0)) == amount
        assert all(value > 0 and value == value.quantize(FEN) for value in amounts)
        assert len(amounts) <= n


# ---------------------------------------------------------------- when, and the advance offset


def test_line_when_skips_a_line_or_an_item(tmp_path: Path) -> None:
    lines = """\
    - for_each: "{{ form['明细'] }}"
      as: line
      when: "line['金额'] | decimal > 0"
      direction: debit
      account: "6602.03"
      amount: "{{ line['金额'] }}"
    - direction: credit
      when: "form.get('借款') is none"
      account: "2241.01"
      amount: "{{ form['明细'] | sum_amount('金额') }}"
    - direction: credit
      when: "form.get('借款') is not none"
      account: "1221.01"
      amount: "{{ form['明细'] | sum_amount('金额') }}"
    """
    flow, _, _ = load(tmp_path, lines)
    form: dict[str, Any] = {"明细": [{"金额": "0.00"}, {"金额": "5"}]}
    output = run_voucher(flow, form)
    assert debit(output) == [("6602.03", "5.00")] and credit(output) == [("2241.01", "5.00")]
    output = run_voucher(flow, {**form, "借款": "9"})
    assert credit(output) == [("1221.01", "5.00")]


def test_line_when_is_checked_at_load_time(tmp_path: Path) -> None:
    lines = """\
    - direction: debit
      when: "{{ form.x }}"
      account: "6602.03"
      amount: "1"
    - direction: credit
      when: "frm.x"
      account: "2241.01"
      amount: "1"
    """
    errors = validate_path(write_flow(tmp_path, text := flow_text(lines)))
    path = tmp_path / "flow.yaml"
    assert [e.where for e in errors] == [at(path, text, '\"{{ form.x'), at(path, text, '\"frm.x')]
    assert "不要写 {{ }}" in errors[0].what.zh and "未知的名称 `frm`" in errors[1].what.zh


def example_fixture(advance: str | None) -> dict[str, Any]:
    fixture = copy.deepcopy(load_fixture(EXAMPLE_FIXTURE))
    fixture.pop("expected")
    form = fixture["instance"]["form"]
    if advance is None:
        form.pop("借款余额")
    else:
        form["借款余额"] = advance
    return fixture


@pytest.mark.parametrize(("advance", "credits"), [
    ("800.00", [("1221.01", "800.00"), ("2241.01", "500.01")]),     # smaller than the claim
    ("1,300.01", [("1221.01", "1300.01")]),                          # equal: nothing left to pay
    ("5000", [("1221.01", "1300.01")]),                              # larger: offset up to the claim
    ("0", [("2241.01", "1300.01")]),                                 # none outstanding
    (None, [("2241.01", "1300.01")]),                                # the claim names no advance
])
def test_advance_offset_in_the_example(advance: str | None, credits: list[tuple[str, str]]) -> None:
    report = run_fixture(load_flow(EXAMPLE), example_fixture(advance))
    assert report.error is None and report.passed
    voucher = next(s.output for s in report.steps if s.step_id == "voucher")
    assert credit(voucher) == credits
    total = sum((Decimal(a) for _, a in debit(voucher)), Decimal(0))
    assert total == Decimal("1300.01") == sum((Decimal(a) for _, a in credits), Decimal(0))


def test_example_without_allocation_books_everything_on_the_employees_department() -> None:
    fixture = example_fixture("800.00")
    fixture["instance"]["form"].pop("分摊明细")
    fixture["instance"]["form"]["项目"] = "P-2026-01"
    report = run_fixture(load_flow(EXAMPLE), fixture)
    voucher = next(s.output for s in report.steps if s.step_id == "voucher")
    assert debit(voucher) == [("5301.01", "1000.00"), ("5301.01", "300.01")]
    assert {dict(line["aux"]).get("department") for line in voucher["lines"]} == {"BM03", None}


# ---------------------------------------------------------------- the preparer

SIMPLE = """\
- direction: debit
  account: "6602.03"
  amount: "1"
- direction: credit
  account: "2241.01"
  amount: "1"
"""


def test_preparer_is_carried_next_to_the_voucher(tmp_path: Path) -> None:
    flow, _, _ = load(tmp_path, SIMPLE, preparer='"{{ steps.employee.erp_user }}"')
    output = run_voucher(flow, {})
    assert output["preparer"] == "u1001"
    rest = {k: v for k, v in output.items() if k != "preparer"}
    assert voucher_from_json(rest).reference == "BX-1"


def test_without_preparer_the_output_is_the_voucher_alone(tmp_path: Path) -> None:
    flow, _, _ = load(tmp_path, SIMPLE)
    assert "preparer" not in run_voucher(flow, {})


@pytest.mark.parametrize("record", [
    {k: v for k, v in EMPLOYEE.items() if k != "erp_user"},
    {**EMPLOYEE, "erp_user": ""},
    {**EMPLOYEE, "erp_user": None},
    {**EMPLOYEE, "erp_user": "  "},
])
def test_missing_preparer_names_the_employee(tmp_path: Path, record: dict[str, Any]) -> None:
    flow, text, path = load(tmp_path, SIMPLE, preparer='"{{ steps.employee.erp_user }}"')
    with pytest.raises(MappingError) as info:
        run_voucher(flow, {}, record)
    error = info.value
    assert error.where == at(path, text, '\"{{ steps.employee.erp_user')
    assert "凭证要求制单人（preparer），但员工 李娜（E1001）没有取到制单人" in error.what.zh
    assert "employee 李娜（E1001）" in error.what.en
    assert error.fix is not None and "李娜（E1001）" in error.fix.zh


def test_missing_preparer_not_read_from_a_step_names_the_originator(tmp_path: Path) -> None:
    flow, _, _ = load(tmp_path, SIMPLE, preparer="\"{{ form.get('制单人') }}\"")
    assert run_voucher(flow, {"制单人": "caiwu01"})["preparer"] == "caiwu01"
    with pytest.raises(MappingError) as info:
        run_voucher(flow, {})
    assert "发起人 0123" in info.value.what.zh


@pytest.mark.parametrize(("preparer", "message"), [
    ('"{{ steps.employe.erp_user }}"', "不存在的步骤 `steps.employe`"),
    ('""', "不能为空"),
])
def test_preparer_is_checked_at_load_time(tmp_path: Path, preparer: str, message: str) -> None:
    error, text, path = load_error(tmp_path, SIMPLE, preparer=preparer)
    assert message in error.what.zh
    assert error.where == at(path, text, preparer)


# ---------------------------------------------------------------- the example, end to end


def test_example_template_passes_flow_validate_and_flow_test(tmp_path: Path) -> None:
    run = [HUILIU, "flow", "test", str(EXAMPLE), "--fixture", str(EXAMPLE_FIXTURE)]
    result = subprocess.run(run, cwd=tmp_path, capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "通过：6 个步骤" in result.stdout
    validate = subprocess.run([HUILIU, "flow", "validate", str(EXAMPLE)], cwd=tmp_path, capture_output=True,
                              text=True, timeout=180, check=False)
    assert validate.returncode == 0, validate.stdout + validate.stderr


def test_example_request_is_a_voucher_kingdee_accepts() -> None:
    report = run_fixture(load_flow(EXAMPLE), load_fixture(EXAMPLE_FIXTURE))
    assert report.passed, [d.zh for d in report.differences]
    request = next(s.request for s in report.steps if s.step_id == "post_voucher")
    assert request["preparer"] == "u1003"
    voucher = voucher_from_json(request["voucher"])
    assert [line.account for line in voucher.lines][:3] == ["6601.03", "6602.03", "6602.03"]


def test_example_does_not_start_on_the_shipped_expense_approvals() -> None:
    fixture = example_fixture("800.00")
    fixture["instance"]["process_code"] = "PROC-EXPENSE"
    assert not run_fixture(load_flow(EXAMPLE), fixture).matched
