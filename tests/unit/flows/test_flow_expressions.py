"""The sandboxed expression language: the value rule, the filters, strictness, and hostile input."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flow_fixtures import crosswalk, write_flow

from huiliu.errors import FlowFileError, MappingError
from huiliu.flows import Expression, Origin, advance, load_flow
from huiliu.flows.expressions import MAX_SIZE, parse_value

ORIGIN = Origin("demo.yaml", 3, 9, "claim", "map.x")


def evaluate(source: str, scope: dict[str, Any] | None = None) -> Any:
    return Expression.compile(parse_value(source), ORIGIN).evaluate(scope or {})


def test_literal_native_and_text() -> None:
    scope = {"form": {"明细": [{"金额": "1.5"}, {"金额": "2"}], "n": 3}}
    assert evaluate("记") == "记"
    assert evaluate("{{ form['明细'] }}", scope) == [{"金额": "1.5"}, {"金额": "2"}]  # native list
    assert evaluate("  {{ form.n }} ", scope) == 3  # whitespace around one expression stays native
    assert evaluate("{{- form.n -}}", scope) == 3
    assert evaluate("共 {{ form.n }} 项", scope) == "共 3 项"
    assert evaluate("{{ form.n }}{{ form.n }}", scope) == "33"
    assert parse_value("{{ a }} and {{ b }}").kind == "text"


def test_amount_filters_accept_stored_strings() -> None:
    scope = {"rows": [{"amount": "1,280.50"}, {"amount": Decimal("356.3")}, {"amount": 42}]}
    assert evaluate("{{ rows | sum_amount('amount') }}", scope) == Decimal("1678.80")
    assert evaluate("{{ rows | sum_amount('amount') | fen }}", scope) == "1678.80"
    assert evaluate("{{ '¥12,800' | decimal }}", scope) == Decimal("12800")
    assert evaluate("{{ 2.005 | fen }}") == "2.01"  # half up, not banker's rounding
    assert evaluate("{{ '2024-05-31T16:00:00+00:00' | local_date }}") == "2024-06-01"
    assert evaluate("{{ '2024-05-31T15:59:59+00:00' | local_date }}") == "2024-05-31"
    assert evaluate("{{ '2024-05-31T15:00:00+00:00' | local_date('-05:00') }}") == "2024-05-31"


def test_dict_keys_win_over_dict_methods() -> None:
    assert evaluate("{{ row.items }}", {"row": {"items": ["a"]}}) == ["a"]


@pytest.mark.parametrize(("source", "fragment"), [
    ("{{ rows | sum_amount('amount') }}", "amount"),
    ("{{ 'abc' | decimal }}", "not an amount"),
    ("{{ 1 / 0 }}", "ZeroDivisionError"),
])
def test_filter_failures_are_mapping_errors(source: str, fragment: str) -> None:
    with pytest.raises(MappingError) as info:
        evaluate(source, {"rows": [{"x": 1}]})
    assert fragment in info.value.render()
    assert info.value.where == "demo.yaml:3:9"
    assert "`claim`" in info.value.render()
    assert "map.x" in info.value.render()
    assert source in info.value.render()


@pytest.mark.parametrize("source", [
    "{{ instance.missing }}",  # native
    "值：{{ instance.missing }}",  # text
    "{{ [instance.missing] }}",  # undefined inside a list
])
def test_strict_undefined(source: str) -> None:
    with pytest.raises(MappingError) as info:
        evaluate(source, {"instance": {"present": 1}})
    assert "missing" in info.value.render()


HOSTILE = [
    "{{ ().__class__.__bases__ }}",
    "{{ ().__class__.__bases__[0].__subclasses__() }}",
    "{{ ''.__class__.__mro__ }}",
    "{{ form.__init__.__globals__ }}",
    "{{ 'a' * 10**9 }}",
    "{{ [1] * 10**9 }}",
    "{{ 10**10**10 }}",
    "{{ 2 ** 100000 }}",
    "{{ range(10**9) | list }}",
    "{{ 'a' | center(10**9) }}",
    "{{ 'a'.ljust(10**9) }}",
    "{{ 'a' | indent(10**9) }}",
    "{{ ('a' * 100000).replace('a', 'a' * 100000) }}",
    "{{ ('a' * 100000) | replace('a', 'a' * 100000) }}",
    "{{ range(100000) | join('a' * 100000) }}",
    "{{ '%0999999999d' % 1 }}",
    "{{ '{:>999999999}'.format(1) }}",
    "{{ form.update({'x': 1}) }}",
    "{{ form.pop('a') }}",
]


@pytest.mark.parametrize("source", HOSTILE)
def test_hostile_expressions_fail_fast(source: str) -> None:
    scope = {"form": {"a": 1}}
    started = time.perf_counter()
    with pytest.raises(MappingError):
        evaluate(source, scope)
    assert time.perf_counter() - started < 1.0
    assert scope == {"form": {"a": 1}}


def test_hostile_expression_in_a_flow_names_the_step(tmp_path: Path, claim_context: dict[str, Any]) -> None:
    flow = load_flow(write_flow(tmp_path, """\
id: hostile
version: "1"
title: hostile
trigger: {event: dingtalk.approval.approved}
steps:
  - id: boom
    map:
      x: "{{ 'a' * 10**9 }}"
"""))
    started = time.perf_counter()
    with pytest.raises(MappingError) as info:
        advance(flow, claim_context, crosswalk())
    assert time.perf_counter() - started < 1.0
    assert "`boom`" in info.value.render()
    assert "沙箱" in info.value.render()
    assert info.value.where is not None
    assert info.value.where.endswith("flow.yaml:8:10")


def test_bounds_do_not_block_ordinary_use() -> None:
    assert evaluate("{{ '-' * 20 }}") == "-" * 20
    assert evaluate("{{ 2 ** 10 }}") == 1024
    assert evaluate("{{ 7 % 3 }}") == 1
    assert len(evaluate("{{ 'a' * " + str(MAX_SIZE) + " }}")) == MAX_SIZE
    assert evaluate("{{ range(3) | list }}") == [0, 1, 2]
    assert evaluate("{{ 'a-b'.replace('-', '/') }}") == "a/b"


def test_non_data_results_are_refused() -> None:
    with pytest.raises(MappingError, match="not data"):
        evaluate("{{ 'a'.upper }}")


@pytest.mark.parametrize(("source", "where", "fragment"), [
    ("{{ [1, 2] | random }}", "8:10", "random"),
    ("{{ lipsum(10**6) }}", "8:10", "lipsum"),
    ("{{ form | decimel }}", "8:10", "decimal"),
])
def test_nondeterministic_and_unknown_helpers_fail_at_load(tmp_path: Path, source: str, where: str,
                                                             fragment: str) -> None:
    path = write_flow(tmp_path, f"""\
id: helpers
version: "1"
title: helpers
trigger: {{event: dingtalk.approval.approved}}
steps:
  - id: pick
    map:
      x: "{source}"
""")
    with pytest.raises(FlowFileError) as info:
        load_flow(path)
    assert info.value.where == f"{path}:{where}"
    assert fragment in info.value.render()


def test_power_groups_left_to_right_and_is_bounded() -> None:
    with pytest.raises(MappingError, match="10\\*\\*10"):
        evaluate("{{ 10**10**10 }}")
    with pytest.raises(MappingError):
        evaluate("{{ 10**(10**10) }}")
