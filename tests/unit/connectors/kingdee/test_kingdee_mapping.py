"""Voucher JSON ⇄ GL_VOUCHER model, and the connector settings."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pydantic
import pytest

from huiliu.connectors.kingdee import KingdeeSettings, voucher_from_json, voucher_model
from huiliu.errors import MappingError, UnbalancedVoucher
from huiliu.model import Direction, Money, Voucher, VoucherLine
from huiliu.store.codec import to_jsonable


def settings(**extra: Any) -> KingdeeSettings:
    return KingdeeSettings.model_validate({"base_url": "http://erp.example.com", "acct_id": "AC1",
                                           "username": "api", "password": "pw", **extra})


def make_voucher(currency: str = "CNY") -> Voucher:
    return Voucher("claim-1", "001", date(2026, 11, 25), "记", currency, (
        VoucherLine("差旅费 北京", "6602.03", Direction.DEBIT, Money(Decimal("0.10"), currency),
                    (("department", "BM01"), ("employee", "E1001"))),
        VoucherLine("交通费", "6602.04", Direction.DEBIT, Money(Decimal("99999.9"), currency),
                    (("department", "BM01"), ("employee", "E1001"))),
        VoucherLine("应付", "2241.01", Direction.CREDIT, Money(Decimal("100000"), currency),
                    (("employee", "E1001"),)),
    ))


def as_json(v: Voucher) -> dict[str, Any]:
    data = to_jsonable(v)
    assert isinstance(data, dict)
    return data


def test_model_shape_amounts_as_two_decimal_strings() -> None:
    model = voucher_model(as_json(make_voucher()), "HL-1", settings())
    assert model["FAccountBookID"] == {"FNumber": "001"}
    assert model["FDate"] == "2026-11-25"
    assert model["FVOUCHERGROUPID"] == {"FNumber": "记"}
    assert model["FCURRENCYID"] == {"FNumber": "PRE001"}
    assert model["F_HUILIU_REF"] == "HL-1"
    entries = model["FEntity"]
    assert [(e["FDEBIT"], e["FCREDIT"], e["FDC"]) for e in entries] == [
        ("0.10", "0", 1), ("99999.90", "0", 1), ("0", "100000.00", -1)]
    assert all(isinstance(e["FDEBIT"], str) and isinstance(e["FCREDIT"], str) for e in entries)
    assert entries[0]["FDetailID"] == {"FFLEX5": {"FNumber": "BM01"}, "FFLEX7": {"FNumber": "E1001"}}
    assert entries[2]["FDetailID"] == {"FFLEX7": {"FNumber": "E1001"}}
    assert entries[0]["FACCOUNTID"] == {"FNumber": "6602.03"}
    assert entries[0]["FEXPLANATION"] == "差旅费 北京"


def test_configured_fields_book_and_groups() -> None:
    cfg = settings(aux_fields={"department": "FFLEX4", "employee": "FF100003"}, reference_field="F_XY_REF",
                   book="002", voucher_groups={"记": "PRE001"})
    model = voucher_model(as_json(make_voucher()), "HL-1", cfg)
    assert model["F_XY_REF"] == "HL-1"
    assert "F_HUILIU_REF" not in model
    assert model["FAccountBookID"] == {"FNumber": "002"}
    assert model["FVOUCHERGROUPID"] == {"FNumber": "PRE001"}
    assert model["FEntity"][0]["FDetailID"] == {"FFLEX4": {"FNumber": "BM01"},
                                                "FF100003": {"FNumber": "E1001"}}


def test_round_trip_rebuilds_the_same_voucher() -> None:
    v = make_voucher()
    assert voucher_from_json(as_json(v)) == v


def test_unknown_currency_and_dimension_are_mapping_errors() -> None:
    with pytest.raises(MappingError) as info:
        voucher_model(as_json(make_voucher("USD")), "HL-1", settings())
    assert info.value.where == "voucher.currency"
    assert info.value.fix is not None
    assert "currency_number" in info.value.fix.en
    data = as_json(make_voucher())
    data["lines"][0]["aux"].append(["project", "P01"])
    with pytest.raises(MappingError) as info:
        voucher_model(data, "HL-1", settings())
    assert info.value.where == "voucher.lines.0.aux"
    assert "project" in str(info.value)


@pytest.mark.parametrize(
    ("tamper", "where"),
    [
        (lambda d: d.pop("lines"), "voucher.lines"),
        (lambda d: d.update(date="25/11/2026"), "voucher.date"),
        (lambda d: d["lines"][1].update(direction="sideways"), "voucher.lines.1.direction"),
        (lambda d: d["lines"][1]["amount"].update(amount="abc"), "voucher.lines.1"),
        (lambda d: d["lines"][1]["amount"].update(amount="-5"), "voucher.lines.1"),
    ],
)
def test_malformed_input_names_the_field(tamper: Any, where: str) -> None:
    data = as_json(make_voucher())
    tamper(data)
    with pytest.raises(MappingError) as info:
        voucher_from_json(data)
    assert info.value.where == where


def test_unbalanced_input_is_refused_before_kingdee() -> None:
    data = as_json(make_voucher())
    data["lines"][2]["amount"]["amount"] = "100000.01"
    with pytest.raises(UnbalancedVoucher, match="借贷不平衡"):
        voucher_model(data, "HL-1", settings())


def test_settings_normalise_and_hide_the_password() -> None:
    cfg = settings(base_url="https://erp.example.com/k3cloud/")
    assert cfg.base_url == "https://erp.example.com"
    assert cfg.service_root == "https://erp.example.com/k3cloud/"
    assert "pw" not in repr(cfg)
    with pytest.raises(pydantic.ValidationError):
        settings(unknown_key=1)
    with pytest.raises(pydantic.ValidationError):
        settings(base_url="erp.example.com")
    with pytest.raises(pydantic.ValidationError):
        settings(reference_field="F_REF' or '1'='1")


def test_the_preparer_goes_into_the_configured_header_field_only() -> None:
    from huiliu.connectors.kingdee import KingdeeSettings, voucher_model
    from huiliu.model import Direction, Money, Voucher, VoucherLine

    lines = (VoucherLine("差旅费", "6602.03", Direction.DEBIT, Money(Decimal("10.00")), ()),
             VoucherLine("应付", "2241.01", Direction.CREDIT, Money(Decimal("10.00")), ()))
    voucher = Voucher("r", "001", date(2026, 11, 26), "记", "CNY", lines)
    base = {"base_url": "http://x", "acct_id": "A", "username": "u", "password": "p"}
    plain = voucher_model(voucher, "HL1", KingdeeSettings.model_validate(base), preparer="u1001")
    assert "FCreatorId" not in plain  # unconfirmed field: nothing is sent unless the tenant names it
    named = voucher_model(voucher, "HL1", KingdeeSettings.model_validate({**base, "preparer_field": "FCreatorId"}),
                          preparer="u1001")
    assert named["FCreatorId"] == {"FUserAccount": "u1001"}
