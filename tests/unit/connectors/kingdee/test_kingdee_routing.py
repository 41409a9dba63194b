"""Routing vouchers to account books by rule (多组织 / 账套), and Save refused in a closed period."""

from __future__ import annotations

from datetime import date
from typing import Any

import pydantic
import pytest
from kingdee_rig import KdEnv, MakeEnv, claim_voucher, voucher_json

from huiliu.connectors.kingdee import VOUCHER_CREATE, KingdeeSettings, route_book
from huiliu.errors import MappingError, VendorRejected
from huiliu.model import Direction, Money, Voucher, VoucherLine
from huiliu.sandbox.kingdee import KingdeeSandbox

ROUTES = [{"department_prefix": "BM03", "book": "002", "org": "200"},
          {"department_prefix": "BM0", "book": "001", "org": "100"}]


async def two_books(make_kd_env: MakeEnv, routes: list[dict[str, Any]] = ROUTES) -> KdEnv:
    sandbox = KingdeeSandbox(acct_id="AC1", username="api", password="pw", books={"001": "100", "002": "200"})
    return await make_kd_env(sandbox, routes=routes)


def settings(**extra: Any) -> KingdeeSettings:
    return KingdeeSettings.model_validate({"base_url": "http://kd", "acct_id": "A", "username": "u",
                                           "password": "p", **extra})


async def test_vouchers_go_to_the_book_of_their_department(make_kd_env: MakeEnv) -> None:
    env = await two_books(make_kd_env)
    sales = await env.run(VOUCHER_CREATE, {"voucher": voucher_json(claim_voucher("c1", department="BM0301"))},
                          ref="HL-1")
    admin = await env.run(VOUCHER_CREATE, {"voucher": voucher_json(claim_voucher("c2", department="BM01"))},
                          ref="HL-2")
    stored = {r: env.sandbox.vouchers[x["id"]].model for r, x in (("sales", sales), ("admin", admin))}
    assert (stored["sales"]["FAccountBookID"], stored["sales"]["FACCBOOKORGID"]) == (
        {"FNumber": "002"}, {"FNumber": "200"})
    assert (stored["admin"]["FAccountBookID"], stored["admin"]["FACCBOOKORGID"]) == (
        {"FNumber": "001"}, {"FNumber": "100"})
    assert sales["number"] == admin["number"] == "记-0001"  # numbered per book
    assert {sales["status"], admin["status"]} == {"C"}


async def test_a_voucher_matching_no_rule_is_a_mapping_error_and_nothing_is_sent(make_kd_env: MakeEnv) -> None:
    env = await two_books(make_kd_env, routes=ROUTES[:1])
    with pytest.raises(MappingError) as info:
        await env.run(VOUCHER_CREATE, {"voucher": voucher_json(claim_voucher(department="BM04"))})
    assert "BM04" in info.value.what.zh
    assert info.value.where == "kingdee.routes"
    assert info.value.fix is not None and "routes" in info.value.fix.zh
    assert env.sandbox.login_calls == 0


async def test_a_book_set_by_the_flow_wins_over_the_rules(make_kd_env: MakeEnv) -> None:
    env = await two_books(make_kd_env)
    result = await env.run(VOUCHER_CREATE, {"voucher": voucher_json(claim_voucher(department="BM0301")),
                                            "book": "001"})
    assert env.sandbox.vouchers[result["id"]].model["FAccountBookID"] == {"FNumber": "001"}
    assert "FACCBOOKORGID" not in env.sandbox.vouchers[result["id"]].model


@pytest.mark.parametrize("request_", [{"org": "100"}, {"book": ""}, {"book": 1}])
async def test_bad_explicit_books_are_refused(kd: KdEnv, request_: dict[str, Any]) -> None:
    with pytest.raises(MappingError):
        await kd.run(VOUCHER_CREATE, {"voucher": voucher_json(claim_voucher()), **request_})


def test_route_by_the_flows_book_name_and_the_order_of_rules() -> None:
    rules = settings(routes=[{"voucher_book": "hk", "book": "HK1"},
                             {"voucher_book": "main", "department_prefix": "BM03", "book": "002"},
                             {"voucher_book": "main", "book": "001", "org": "100"}])
    assert route_book(claim_voucher(book="hk"), rules) == ("HK1", None)
    assert route_book(claim_voucher(book="main", department="BM0302"), rules) == ("002", None)
    assert route_book(claim_voucher(book="main", department="BM05"), rules) == ("001", "100")
    assert route_book(claim_voucher(book="other"), settings(book="009", org="900")) == ("009", "900")
    with pytest.raises(MappingError) as info:
        route_book(claim_voucher(book="other"), rules)
    assert "other" in info.value.what.zh


def test_a_voucher_naming_two_departments_is_never_routed_by_a_guess() -> None:
    money = Money.of("10")
    split = Voucher("two", "main", date(2026, 11, 25), "记", "CNY", (
        VoucherLine("a", "6602.01", Direction.DEBIT, money, (("department", "BM03"),)),
        VoucherLine("b", "6602.01", Direction.DEBIT, money, (("department", "BM04"),)),
        VoucherLine("c", "2241.01", Direction.CREDIT, money + money)))
    per_department = [{"department_prefix": "BM03", "book": "002"}, {"department_prefix": "BM04", "book": "001"}]
    with pytest.raises(MappingError) as info:
        route_book(split, settings(routes=per_department))
    assert "BM03" in info.value.what.zh and "BM04" in info.value.what.zh
    assert route_book(split, settings(routes=ROUTES)) == ("001", "100")  # a rule covering both departments
    # No department at all matches no department rule either.
    bare = Voucher("bare", "main", date(2026, 11, 25), "记", "CNY", (
        VoucherLine("a", "1001.01", Direction.DEBIT, money), VoucherLine("b", "1002.01", Direction.CREDIT, money)))
    with pytest.raises(MappingError):
        route_book(bare, settings(routes=ROUTES))


def test_a_rule_without_a_condition_is_refused_at_start_up() -> None:
    with pytest.raises(pydantic.ValidationError, match="no condition"):
        settings(routes=[{"book": "001"}])


async def test_save_in_a_closed_period_is_vendor_rejected_with_kingdees_text_and_not_retried(kd: KdEnv) -> None:
    kd.sandbox.close_period("001", "2026-11")
    with pytest.raises(VendorRejected) as info:
        await kd.run(VOUCHER_CREATE, {"voucher": voucher_json(claim_voucher(day=date(2026, 11, 25)))})
    error = info.value
    assert error.retryable is False
    assert error.vendor_message is not None and "2026年第11期已结账" in error.vendor_message
    assert "2026-11" in error.what.zh and error.vendor_message in error.what.zh
    assert error.fix is not None and "反结账" in error.fix.zh and "reopen" in error.fix.en
    assert (error.system, error.operation) == ("kingdee", "Save")
    assert kd.sandbox.save_calls == 1  # one Save, no second try
    assert kd.sandbox.count() == 0
    # The next period is open.
    ok = await kd.run(VOUCHER_CREATE, {"voucher": voucher_json(claim_voucher(day=date(2026, 12, 1)))},
                      ref="HL-2")
    assert ok["status"] == "C"
