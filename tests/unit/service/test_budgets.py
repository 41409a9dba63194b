"""Budget classification and parsing: the edges (exactly 90 %, exactly 100 %, a zero budget) and bad input."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from huiliu.errors import MappingError
from huiliu.i18n import Lang
from huiliu.model import Money
from huiliu.service.budgets import BudgetStatus, alert_title, classify, parse_budget, usage

D = Decimal


@pytest.mark.parametrize(("budget", "actual", "status"), [
    ("1000.00", "0.00", BudgetStatus.OK),
    ("1000.00", "899.99", BudgetStatus.OK),
    ("1000.00", "900.00", BudgetStatus.WARNING),   # exactly 90 %: a warning
    ("1000.00", "999.99", BudgetStatus.WARNING),
    ("1000.00", "1000.00", BudgetStatus.WARNING),  # exactly 100 %: spent, not overrun
    ("1000.00", "1000.01", BudgetStatus.OVER),     # one fen over
    ("1000.00", "-50.00", BudgetStatus.OK),        # credits (a refund) exceed costs
    ("0.00", "0.00", BudgetStatus.OK),             # a zero budget, nothing spent
    ("0.00", "0.01", BudgetStatus.OVER),           # a zero budget, anything spent is an overrun
    ("0.03", "0.03", BudgetStatus.WARNING),
    ("333.33", "299.997", BudgetStatus.WARNING),   # 90 % of 333.33 is 299.997: compared exactly
    ("333.33", "299.996", BudgetStatus.OK),
])
def test_classify_compares_exactly(budget: str, actual: str, status: BudgetStatus) -> None:
    assert classify(D(budget), D(actual), D("0.9")) is status


def test_warn_at_one_warns_only_at_the_full_budget() -> None:
    assert classify(D(100), D("99.99"), D(1)) is BudgetStatus.OK
    assert classify(D(100), D(100), D(1)) is BudgetStatus.WARNING


def test_usage_is_four_places_and_none_on_a_zero_budget() -> None:
    assert usage(D("1000.00"), D("900.00")) == D("0.9000")
    assert usage(D("1000.00"), D("1000.00")) == D("1.0000")
    assert usage(D("80000.00"), D("90000.00")) == D("1.1250")
    assert usage(D("3.00"), D("2.00")) == D("0.6667")  # half-up
    assert usage(D("0.00"), D("5.00")) is None
    assert usage(D("0.00"), D("0.00")) is None


def test_alert_titles_never_overstate_or_hide_an_overrun() -> None:
    cny = lambda amount: Money(D(amount), "CNY")  # noqa: E731
    assert alert_title("P-001", BudgetStatus.OVER, cny("80000.00"), cny("90000.00")) == "项目 P-001 预算已超支 12.5%"
    # a tiny overrun reads 0.1 %, not 0.0 %
    assert alert_title("P-001", BudgetStatus.OVER, cny("1000000.00"), cny("1000000.01")) == "项目 P-001 预算已超支 0.1%"
    assert alert_title("P-002", BudgetStatus.WARNING, cny("1000.00"), cny("999.99")) == "项目 P-002 预算已使用 99.9%"
    assert alert_title("P-002", BudgetStatus.WARNING, cny("1000.00"), cny("900.00")) == "项目 P-002 预算已使用 90.0%"
    assert alert_title("P-003", BudgetStatus.OVER, cny("0.00"), cny("12.30")) == "项目 P-003 预算为 0，已发生 12.30 CNY"


def test_a_budget_request_is_parsed_exactly() -> None:
    budget = parse_budget({"code": " P-1 ", "name": "华东仓储", "budget": "500,000.5", "currency": "cny",
                           "manager": "manager4521", "department": ""})
    assert (budget.code, budget.amount, budget.manager, budget.department) == (
        "P-1", Money(D("500000.50"), "CNY"), "manager4521", None)
    assert parse_budget({"code": "P-1", "name": "x", "budget": 0}).amount == Money(D(0), "CNY")  # CNY by default
    assert parse_budget({"code": "P-1", "name": "x", "budget": D("12"), "currency": "JPY"}).amount.amount == D(12)


@pytest.mark.parametrize(("request_", "where", "says"), [
    ({"name": "x", "budget": "1"}, "hub.budget.set.code", "`code`"),
    ({"code": "P-1", "budget": "1"}, "hub.budget.set.name", "`name`"),
    ({"code": "P-1", "name": "x"}, "hub.budget.set.budget", "needs `budget`"),
    ({"code": "P-1", "name": "x", "budget": "-0.01"}, "hub.budget.set.budget", "cannot be negative"),
    ({"code": "P-1", "name": "x", "budget": 1000.5}, "hub.budget.set.budget", "cannot be a float"),
    ({"code": "P-1", "name": "x", "budget": "一百万"}, "hub.budget.set.budget", "not a number"),
    ({"code": "P-1", "name": "x", "budget": "NaN"}, "hub.budget.set.budget", "not a number"),
    ({"code": "P-1", "name": "x", "budget": True}, "hub.budget.set.budget", "not a number"),
    ({"code": "P-1", "name": "x", "budget": "10.005"}, "hub.budget.set.budget", "more than the 2 decimals"),
    ({"code": "P-1", "name": "x", "budget": "10.5", "currency": "JPY"}, "hub.budget.set.budget", "0 decimals"),
    ({"code": "P-1", "name": "x", "budget": "1", "currency": "人民币"}, "hub.budget.set.currency", "not a currency"),
    ({"code": "P-1", "name": "x", "budget": "1", "currency": "CNYY"}, "hub.budget.set.currency", "not a currency"),
    ({"code": "P-1", "name": "x", "budget": "1", "currency": None}, "hub.budget.set.currency", "not a currency"),
    ({"code": "P-1", "name": "x", "budget": "1", "manager": 42}, "hub.budget.set.manager", "`manager`"),
])
def test_bad_budget_requests_are_clear_errors(request_: dict[str, Any], where: str, says: str) -> None:
    with pytest.raises(MappingError) as info:
        parse_budget(request_)
    assert info.value.where == where
    assert says in info.value.render(Lang.EN), info.value.render(Lang.EN)
    assert info.value.render(Lang.ZH) != info.value.render(Lang.EN)  # Chinese first, English on request
