"""Requisition JSON → canonical values → Tryton values, Tryton's value encoding, and the settings."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from huiliu.connectors.tryton import (
    TrytonSettings,
    decode,
    encode,
    item_from_json,
    party_values,
    product_values,
    purchase_values,
    requisition_from_json,
    supplier_from_json,
)
from huiliu.errors import MappingError
from huiliu.model import Money


def settings(**extra: Any) -> TrytonSettings:
    return TrytonSettings.model_validate({"base_url": "http://erp:8000/", "database": "hub", "username": "api",
                                          "password": "pw", "account_category": 4, **extra})


def requisition(**extra: Any) -> dict[str, Any]:
    return {"number": "PR-1", "supplier": {"name": "上海某某公司", "code": "S1"},
            "lines": [{"item": {"code": "I1", "name": "椅子", "unit": "把"}, "quantity": "3",
                       "unit_price": "1299.99", "description": "黑色"},
                      {"item": {"name": "笔"}, "quantity": 7, "unit_price": "0.335"}], **extra}


def test_requisition_is_rebuilt_with_decimals_and_a_total_to_the_cent() -> None:
    built = requisition_from_json(requisition())
    assert built.currency == "CNY"
    assert built.lines[0].unit_price == Decimal("1299.99")
    assert built.lines[1].amount == Money(Decimal("2.35"))  # 7 × 0.335 = 2.345, half-up
    assert built.total == Money(Decimal("3902.32"))
    assert built.lines[1].item.code is None


def test_float_amounts_are_refused() -> None:
    data = requisition()
    data["lines"][0]["unit_price"] = 1299.99
    with pytest.raises(MappingError) as info:
        requisition_from_json(data)
    assert info.value.where is not None
    assert info.value.where.startswith("requisition.lines.0.unit_price")


@pytest.mark.parametrize(("field", "value", "where"), [
    ("quantity", "0", "requisition.lines.0.quantity"),
    ("unit_price", "-1", "requisition.lines.0.unit_price"),
    ("quantity", "三", "requisition.lines.0"),
])
def test_bad_line_values_name_their_field(field: str, value: str, where: str) -> None:
    data = requisition()
    data["lines"][0][field] = value
    with pytest.raises(MappingError) as info:
        requisition_from_json(data)
    assert info.value.where == where


def test_missing_pieces_are_mapping_errors_with_paths() -> None:
    with pytest.raises(MappingError) as no_lines:
        requisition_from_json(requisition(lines=[]))
    assert no_lines.value.where == "requisition.lines"
    with pytest.raises(MappingError) as no_name:
        supplier_from_json({"code": "S1"})
    assert no_name.value.where == "supplier.name"
    with pytest.raises(MappingError):
        item_from_json({"name": "x", "colour": "red"})
    with pytest.raises(MappingError) as bad_currency:
        requisition_from_json(requisition(currency="yuan"))
    assert bad_currency.value.where == "requisition.lines.0"


def test_party_values_carry_address_tax_id_and_payment_term() -> None:
    supplier = supplier_from_json({"name": "某公司", "code": "S9", "tax_id": "91310000X"})
    values = party_values(supplier, settings(tax_identifier_type="cn_uscc", payment_term=10))
    assert values["code"] == "S9"
    assert values["identifiers"] == [["create", [{"code": "91310000X", "type": "cn_uscc"}]]]
    assert values["addresses"] == [["create", [{"street": "", "city": "", "postal_code": ""}]]]
    assert values["supplier_payment_term"] == 10
    untyped = party_values(supplier_from_json({"name": "某公司", "tax_id": "X"}), settings())
    assert untyped["identifiers"] == [["create", [{"code": "X"}]]]
    assert "code" not in untyped


def test_product_values_need_an_account_category() -> None:
    item = item_from_json({"name": "椅子", "code": "I1"})
    values = product_values(item, 1, settings())
    assert (values["code"], values["default_uom"], values["purchase_uom"], values["account_category"]) == (
        "I1", 1, 1, 4)
    assert values["list_price"] == Decimal(0)
    with pytest.raises(MappingError) as info:
        product_values(item, 1, settings(account_category=None))
    assert info.value.where == "tryton.account_category"


def test_purchase_values_store_the_reference_and_keep_prices_exact() -> None:
    built = requisition_from_json(requisition(description="采购说明"))
    values = purchase_values(built, "HL-1", party=3, invoice_address=5, products={0: 7, 1: 8}, units={0: 1, 1: 1},
                             currency=2, settings=settings())
    assert (values["reference"], values["description"], values["invoice_method"]) == ("HL-1", "采购说明", "order")
    [[command, lines]] = values["lines"]
    assert command == "create"
    assert [(line["product"], line["quantity"], line["unit_price"], line["description"]) for line in lines] == [
        (7, 3.0, Decimal("1299.99"), "黑色"), (8, 7.0, Decimal("0.335"), "笔")]
    in_description = purchase_values(built, "HL-1", party=3, invoice_address=5, products={0: 7, 1: 8},
                                     units={0: 1, 1: 1}, currency=2, settings=settings(reference_field="description"))
    assert in_description["description"] == "HL-1"


def test_encode_and_decode_tryton_values() -> None:
    moment = datetime(2026, 11, 25, 16, 30, tzinfo=timezone(timedelta(hours=8)))
    sent = encode({"a": Decimal("37.50"), "d": date(2026, 11, 25), "t": moment, "b": b"\x00", "l": (1, None)})
    assert sent["a"] == {"__class__": "Decimal", "decimal": "37.50"}
    assert sent["d"] == {"__class__": "date", "year": 2026, "month": 11, "day": 25}
    assert sent["t"]["hour"] == 8  # sent as UTC
    assert sent["l"] == [1, None]
    back = decode(sent)
    assert back["a"] == Decimal("37.50")
    assert back["d"] == date(2026, 11, 25)
    assert back["t"] == moment
    assert back["t"].tzinfo is UTC
    assert back["b"] == b"\x00"
    assert decode([3.0, {"x": 0.1}]) == [Decimal("3.0"), {"x": Decimal("0.1")}]
    with pytest.raises(ValueError, match="naive"):
        encode(datetime(2026, 1, 1))


def test_settings_validate_credentials_and_build_urls() -> None:
    s = settings()
    assert s.rpc_url == "http://erp:8000/hub/rpc/"
    assert s.server_url == "http://erp:8000/rpc/"
    assert settings(rpc_path="/{database}/").rpc_url == "http://erp:8000/hub/"
    assert "pw" not in repr(s)
    with pytest.raises(ValidationError):
        settings(password=None)
    with pytest.raises(ValidationError):
        settings(session="token-without-user")
    with pytest.raises(ValidationError):
        settings(base_url="erp:8000")
    with pytest.raises(ValidationError):
        settings(party_match=[])
    assert settings(password=None, session="1:abc").session is not None
