"""Loading flow files: every error names file, line, column, the field, and how to fix it."""

from __future__ import annotations

from pathlib import Path

import pytest
from flow_fixtures import TEMPLATE, write_flow

from huiliu.errors import FlowFileError
from huiliu.flows import COMPENSATE_SUFFIX, CallStep, load_flow, load_flows, validate_path
from huiliu.i18n import Lang

ACTIONS = frozenset({"kingdee.voucher.create", "dingtalk.approval.comment"})

BASE = """\
id: demo
version: "1"
title: 演示
trigger:
  event: dingtalk.approval.approved
  when: "instance.process_code == 'PROC-EXPENSE'"
steps:
  - id: employee
    lookup: {entity: employee, system: dingtalk, key: "{{ instance.originator_user_id }}"}
  - id: voucher
    voucher:
      book: "001"
      date: "{{ instance.finished_at | local_date }}"
      lines:
        - direction: debit
          account: "6602.03"
          amount: "{{ form['金额'] }}"
        - direction: credit
          account: "2241.01"
          amount: "{{ form['金额'] }}"
  - id: post
    call: kingdee.voucher.create
    with: {voucher: "{{ steps.voucher }}"}
"""


def load_error(tmp_path: Path, text: str, **kwargs: object) -> FlowFileError:
    path = write_flow(tmp_path, text)
    with pytest.raises(FlowFileError) as info:
        load_flow(path, **kwargs)  # type: ignore[arg-type]
    assert info.value.where is not None
    assert info.value.where.startswith(str(path) + ":")
    assert info.value.fix is not None
    return info.value


def position(error: FlowFileError) -> str:
    assert error.where is not None
    return ":".join(error.where.rsplit(":", 2)[1:])


def test_template_and_base_load_with_known_actions(tmp_path: Path) -> None:
    flow = load_flow(TEMPLATE, known_actions=ACTIONS)
    assert (flow.id, flow.version, flow.trigger.events) == ("expense-claim-to-voucher", "1", (
        "dingtalk.approval.approved", "wecom.approval.approved", "feishu.approval.approved"))
    assert flow.source == TEMPLATE
    assert flow.actions == ACTIONS
    base = load_flow(write_flow(tmp_path, BASE), known_actions=ACTIONS)
    assert [s.kind for s in base.steps] == ["lookup", "voucher", "call"]


def test_typo_top_level_key(tmp_path: Path) -> None:
    error = load_error(tmp_path, BASE.replace("steps:", "stpes:"))
    assert position(error) == "7:1"
    assert "stpes" in error.render()
    assert "steps" in error.fix.render()  # type: ignore[union-attr]


def test_typo_key_inside_a_voucher_line(tmp_path: Path) -> None:
    text = BASE.replace('          account: "2241.01"', '          acount: "2241.01"')
    error = load_error(tmp_path, text)
    assert position(error) == "19:11"
    message = error.render()
    assert "acount" in message
    assert "steps[1].voucher.lines[1]" in message
    assert "`voucher`" in message
    assert "account" in error.fix.render()  # type: ignore[union-attr]


def test_missing_required_field_points_at_its_mapping(tmp_path: Path) -> None:
    error = load_error(tmp_path, BASE.replace('      book: "001"\n', ""))
    assert position(error) == "12:7"
    assert "steps[1].voucher.book" in error.render()


def test_unquoted_number_asks_for_quotes(tmp_path: Path) -> None:
    error = load_error(tmp_path, BASE.replace('account: "6602.03"', "account: 6602.03"))
    assert position(error) == "16:20"
    assert "account" in error.render()
    assert "引号" in error.fix.render()  # type: ignore[union-attr]


def test_wrong_direction_lists_allowed_values(tmp_path: Path) -> None:
    error = load_error(tmp_path, BASE.replace("direction: debit", "direction: 借"))
    assert position(error) == "15:22"
    assert "debit" in error.fix.render()
    assert "credit" in error.fix.render()


@pytest.mark.parametrize(("text", "where"), [
    ("id: demo\nversion: \"1\"\ntitle: x\ntrigger:\n\tevent: a.b\n", "5:1"),
    ("id: demo\nversion: \"1\nsteps: []\n", "4:1"),
    ("id: demo\ntitle: [a, b\n", "3:1"),
])
def test_bad_yaml_reports_line_and_column(tmp_path: Path, text: str, where: str) -> None:
    error = load_error(tmp_path, text)
    assert position(error) == where
    assert "YAML" in error.render()


def test_tab_gets_a_tab_specific_fix(tmp_path: Path) -> None:
    error = load_error(tmp_path, "id: demo\ntrigger:\n\tevent: a.b\n")
    assert "Tab" in error.fix.render()  # type: ignore[union-attr]


def test_empty_file(tmp_path: Path) -> None:
    error = load_error(tmp_path, "# nothing yet\n")
    assert position(error) == "1:1"


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    text = BASE.replace('      book: "001"\n', '      book: "001"\n      book: "002"\n')
    error = load_error(tmp_path, text)
    assert position(error) == "13:7"
    assert "book" in error.render()


def test_unknown_action(tmp_path: Path) -> None:
    error = load_error(tmp_path, BASE.replace("call: kingdee.voucher.create", "call: kingdee.vouchr.create"),
                       known_actions=ACTIONS)
    assert position(error) == "22:11"
    assert "kingdee.vouchr.create" in error.render()
    assert "kingdee.voucher.create" in error.fix.render()  # type: ignore[union-attr]


def test_any_action_accepted_without_known_actions(tmp_path: Path) -> None:
    flow = load_flow(write_flow(tmp_path, BASE.replace("call: kingdee.voucher.create", "call: erp.thing.do")))
    assert flow.actions == {"erp.thing.do"}


def test_duplicate_step_id(tmp_path: Path) -> None:
    error = load_error(tmp_path, BASE.replace("  - id: post", "  - id: employee"))
    assert position(error) == "21:9"
    assert "employee" in error.render()


def test_forward_step_reference(tmp_path: Path) -> None:
    text = BASE.replace('key: "{{ instance.originator_user_id }}"', 'key: "{{ steps.post.number }}"')
    error = load_error(tmp_path, text)
    assert position(error) == "9:55"
    assert "steps.post" in error.render()
    assert "steps[0].lookup.key" in error.render()


def test_reference_to_unknown_step_suggests_a_name(tmp_path: Path) -> None:
    error = load_error(tmp_path, BASE.replace("{{ steps.voucher }}", "{{ steps.vocher }}"))
    assert position(error) == "23:21"
    assert "voucher" in error.fix.render()  # type: ignore[union-attr]


def test_step_referring_to_itself(tmp_path: Path) -> None:
    error = load_error(tmp_path, BASE.replace('book: "001"', 'book: "{{ steps.voucher.book }}"'))
    assert position(error) == "12:13"


def test_template_syntax_error(tmp_path: Path) -> None:
    error = load_error(tmp_path, BASE.replace("{{ form['金额'] }}", "{{ form['金额' }}", 1))
    assert position(error) == "17:19"
    assert "语法" in error.render()


def test_condition_syntax_error(tmp_path: Path) -> None:
    text = BASE.replace("instance.process_code == 'PROC-EXPENSE'", "instance.process_code = 'X'")
    error = load_error(tmp_path, text)
    assert position(error) == "6:9"
    assert "trigger.when" in error.render()


def test_condition_with_braces_is_explained(tmp_path: Path) -> None:
    text = BASE.replace('"instance.process_code', '"{{ instance.process_code }} or instance.process_code')
    error = load_error(tmp_path, text)
    assert position(error) == "6:9"
    assert "{{" in error.render()


def test_unknown_top_level_name_is_a_load_error(tmp_path: Path) -> None:
    text = BASE.replace("{{ instance.originator_user_id }}", "{{ instnace.originator_user_id }}")
    error = load_error(tmp_path, text)
    assert position(error) == "9:55"
    assert "instnace" in error.render()
    assert "instance" in error.fix.render()  # type: ignore[union-attr]


def test_statements_are_refused(tmp_path: Path) -> None:
    text = BASE.replace('book: "001"', 'book: "{% for i in range(9) %}{{ i }}{% endfor %}"')
    error = load_error(tmp_path, text)
    assert position(error) == "12:13"
    assert "For" in error.render()


def test_step_needs_exactly_one_kind(tmp_path: Path) -> None:
    text = BASE.replace("    call: kingdee.voucher.create\n",
                        "    call: kingdee.voucher.create\n    map: {a: 1}\n")
    error = load_error(tmp_path, text)
    assert position(error) == "21:5"
    assert "map, call" in error.render()


def test_loop_variable_may_not_hide_context(tmp_path: Path) -> None:
    text = BASE.replace("        - direction: debit\n",
                        "        - for_each: \"{{ form['明细'] }}\"\n"
                        "          as: form\n"
                        "          direction: debit\n")
    error = load_error(tmp_path, text)
    assert position(error) == "16:15"


def test_validate_path_collects_every_error(tmp_path: Path) -> None:
    text = BASE.replace("{{ instance.originator_user_id }}", "{{ instnace.x }}").replace(
        "{{ steps.voucher }}", "{{ steps.nope }}")
    write_flow(tmp_path, text, "a.yaml")
    write_flow(tmp_path, BASE.replace("steps:", "stpes:"), "b.yml")
    write_flow(tmp_path, "not a flow", "notes.txt")
    errors = validate_path(tmp_path, known_actions=ACTIONS)
    assert [position(e) for e in errors] == ["9:55", "23:21", "7:1"]
    assert [Path(e.where.rsplit(":", 2)[0]).name for e in errors] == ["a.yaml", "a.yaml", "b.yml"]  # type: ignore[union-attr]


def test_validate_path_is_empty_for_valid_flows(tmp_path: Path) -> None:
    write_flow(tmp_path, BASE)
    assert validate_path(tmp_path, known_actions=ACTIONS) == []
    assert validate_path(TEMPLATE, known_actions=ACTIONS) == []
    assert len(validate_path(tmp_path / "missing")) == 1


def test_load_flows_sorted_and_duplicate_ids_refused(tmp_path: Path) -> None:
    write_flow(tmp_path, BASE.replace("id: demo", "id: second"), "b.yaml")
    write_flow(tmp_path, BASE, "a.yml")
    assert [f.id for f in load_flows(tmp_path)] == ["demo", "second"]
    write_flow(tmp_path, BASE, "c.yaml")
    with pytest.raises(FlowFileError) as info:
        load_flows(tmp_path)
    assert info.value.where == f"{tmp_path / 'c.yaml'}:1:5"
    assert "a.yml" in info.value.render()
    assert len(validate_path(tmp_path)) == 1


def test_first_error_mentions_how_many_more(tmp_path: Path) -> None:
    text = BASE.replace("{{ instance.originator_user_id }}", "{{ instnace.x }}").replace(
        "{{ steps.voucher }}", "{{ steps.nope }}")
    error = load_error(tmp_path, text)
    assert position(error) == "9:55"
    assert "另有 1 处错误" in error.render()


def test_a_wait_needs_a_timeout_and_known_outcomes(tmp_path: Path) -> None:
    base = """\
id: waiter
version: "1"
title: w
trigger: {event: sql.orders.changed}
steps:
  - id: approval
    call: dingtalk.approval.create
    with: {process_code: P, originator_user_id: u, document: {}}
  - id: verdict
    wait: {event: dingtalk.approval.approved, key: "{{ steps.approval.instance_id }}"WAIT}
"""
    no_timeout = tmp_path / "a.yaml"
    no_timeout.write_text(base.replace("WAIT", ""), encoding="utf-8")
    with pytest.raises(FlowFileError) as missing:
        load_flow(no_timeout)
    assert "timeout" in missing.value.render() and missing.value.where is not None
    assert missing.value.where.endswith("a.yaml:10:11")
    bad = tmp_path / "b.yaml"
    bad.write_text(base.replace("WAIT", ", timeout: 60, on_timeout: retry"), encoding="utf-8")
    with pytest.raises(FlowFileError) as outcome:
        load_flow(bad)
    assert "'fail' or 'continue'" in outcome.value.render()
    good = tmp_path / "c.yaml"
    good.write_text(base.replace("WAIT", ", timeout: 86400"), encoding="utf-8")
    flow = load_flow(good)
    assert flow.awaited == {"dingtalk.approval.approved"} and flow.steps[1].kind == "wait"


SAGA = BASE + """\
    compensate: {call: kingdee.voucher.reverse, with: {reference: "{{ undo.reference }}", n: "{{ steps.post.number }}"}}
  - id: tell
    call: dingtalk.approval.comment
    with: {instance_id: "{{ instance.instance_id }}", text: "{{ steps.post.number }}"}
    on_error: ON_ERROR
  - id: after
    map: {ok: "yes"}
"""
SAGA_ACTIONS = ACTIONS | {"kingdee.voucher.reverse"}


@pytest.mark.parametrize("on_error", ["fail", "continue", "compensate", "after"])
def test_on_error_takes_a_keyword_or_a_later_step(tmp_path: Path, on_error: str) -> None:
    flow = load_flow(write_flow(tmp_path, SAGA.replace("ON_ERROR", on_error)), known_actions=SAGA_ACTIONS)
    post, tell = flow.steps[2], flow.steps[3]
    assert isinstance(post, CallStep) and isinstance(tell, CallStep)
    assert tell.on_error == on_error and flow.on_error == "fail"
    assert post.compensation is not None and post.compensation.id == "post" + COMPENSATE_SUFFIX
    assert post.compensation.action == "kingdee.voucher.reverse"


@pytest.mark.parametrize(("on_error", "says", "fix"), [
    ("employee", "jumps back to `employee`", "after"),  # a backward jump would make a cycle
    ("tell", "jumps back to `tell`", "after"),
    ("aftr", "unknown on_error `aftr`", "did you mean `after`?"),
    ("retry", "unknown on_error `retry`", "fail, continue, compensate"),
])
def test_on_error_refuses_a_cycle_or_an_unknown_target(tmp_path: Path, on_error: str, says: str, fix: str) -> None:
    error = load_error(tmp_path, SAGA.replace("ON_ERROR", on_error), known_actions=SAGA_ACTIONS)
    assert says in error.render(Lang.EN) and fix in error.render(Lang.EN)
    assert position(error) == "28:15"


def test_compensate_is_checked_like_a_call(tmp_path: Path) -> None:
    unknown = load_error(tmp_path, SAGA.replace("ON_ERROR", "fail"), known_actions=ACTIONS)
    assert "unknown action `kingdee.voucher.reverse`" in unknown.render(Lang.EN)
    assert position(unknown) == "24:24"
    later = load_error(tmp_path, SAGA.replace("ON_ERROR", "fail").replace("steps.post.number }}\"}}",
                                                                          "steps.tell.number }}\"}}"),
                       known_actions=SAGA_ACTIONS)
    assert "`steps.tell`" in later.render(Lang.EN)


def test_error_handling_belongs_to_call_steps_and_compensate_needs_something_to_undo(tmp_path: Path) -> None:
    on_map = load_error(tmp_path, SAGA.replace("ON_ERROR", "fail").replace(
        'map: {ok: "yes"}', 'map: {ok: "yes"}\n    on_error: continue'), known_actions=SAGA_ACTIONS)
    assert "on_error and compensate belong to a call step" in on_map.render(Lang.EN)
    nothing = load_error(tmp_path, BASE + "    on_error: compensate\n", known_actions=ACTIONS)
    assert "neither it nor an earlier step says how" in nothing.render(Lang.EN)
    flow_level = load_flow(write_flow(tmp_path, SAGA.replace("ON_ERROR", "fail").replace(
        "steps:\n", "on_error: compensate\nsteps:\n", 1)), known_actions=SAGA_ACTIONS)
    assert flow_level.on_error == "compensate"
    bad_level = load_error(tmp_path, BASE.replace("steps:\n", "on_error: continue\nsteps:\n", 1))
    assert "'fail' or 'compensate'" in bad_level.render(Lang.EN)


SCHEDULED = """\
id: nightly
version: "1"
title: 每晚对账
trigger: TRIGGER
steps:
  - id: day
    map: {day: "{{ form.fire_at | local_date }}"}
"""


def test_schedule_and_manual_triggers_load(tmp_path: Path) -> None:
    nightly = load_flow(write_flow(tmp_path, SCHEDULED.replace("TRIGGER", '{schedule: "0 2 * * *"}')))
    assert nightly.trigger.events == ("schedule.nightly",) and nightly.trigger.timezone == "Asia/Shanghai"
    utc = load_flow(write_flow(tmp_path, SCHEDULED.replace("TRIGGER", '{schedule: "30 8 * * 1-5", timezone: UTC}')))
    assert (utc.trigger.schedule, utc.trigger.timezone) == ("30 8 * * 1-5", "UTC")
    manual = load_flow(write_flow(tmp_path, SCHEDULED.replace("TRIGGER", "{manual: true}")))
    assert manual.trigger.events == ("manual.nightly",) and manual.trigger.manual


@pytest.mark.parametrize(("trigger", "says", "where"), [
    ('{schedule: "0 2 * *"}', "not a valid cron expression: 0 2 * *", "4:21"),
    ('{schedule: "0 25 * * *"}', "not a valid cron expression", "4:21"),
    ('{schedule: "0 0 2 * * *"}', "five fields", "4:21"),  # six fields (seconds) would surprise
    ('{schedule: "0 2 * * *", timezone: Asia/Beijing}', "unknown time zone `Asia/Beijing`", "4:44"),
    ('{schedule: "0 2 * * *", timezone: Asia}', "unknown time zone `Asia`", "4:44"),  # a directory of zones
    ('{schedule: "0 2 * * *", timezone: ../etc}', "unknown time zone `../etc`", "4:44"),
    ('{schedule: "0 2 * * *", timezone: ' + "z" * 300 + "}", "unknown time zone", "4:44"),  # too long a file name
    ('{schedule: "0 2 * * *", event: dingtalk.approval.approved}', "exactly one of event, schedule or manual", "4:10"),
    ("{manual: false}", "exactly one of event, schedule or manual: true, found none", "4:10"),
    ('{manual: true, timezone: UTC}', "timezone belongs to a schedule", "4:10"),
    ('{schedule: "0 2 * * *", when: "true"}', "when filters events", "4:10"),
])
def test_bad_triggers_are_refused_where_they_are(tmp_path: Path, trigger: str, says: str, where: str) -> None:
    error = load_error(tmp_path, SCHEDULED.replace("TRIGGER", trigger))
    assert says in error.render(Lang.EN)
    assert position(error) == where
