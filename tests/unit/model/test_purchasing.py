"""The payment request, contract and project every ERP connector takes, parsed once."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from huiliu.errors import MappingError
from huiliu.model import Money
from huiliu.model.purchasing import contract_from_json, payment_from_json, project_from_json

PAYMENT = {"number": "FK-2026-0007", "supplier": {"name": "上海晨光文具有限公司", "code": "GYS001"},
           "amount": "12800.01", "date": "2026-11-26", "description": "支付十一月货款", "invoice_number": "INV-88"}


def test_a_payment_request_keeps_its_amount_to_the_fen_and_its_chinese_text() -> None:
    payment = payment_from_json(PAYMENT)
    assert payment.amount == Money(Decimal("12800.01")) and payment.date == date(2026, 11, 26)
    assert payment.supplier.name == "上海晨光文具有限公司" and payment.description == "支付十一月货款"


@pytest.mark.parametrize(("change", "where"), [
    ({"amount": 12800.01}, "payment.amount"),          # a float has lost its cents already
    ({"amount": "0"}, "payment.amount"),
    ({"amount": "-5"}, "payment.amount"),
    ({"date": "26/11/2026"}, "payment.date"),
    ({"supplier": {}}, "payment.supplier.name"),
    ({"currency": "人民币"}, "payment.amount"),
    ({"bank": "x"}, "payment.bank"),
])
def test_a_bad_payment_request_names_the_field(change: dict[str, object], where: str) -> None:
    with pytest.raises(MappingError) as info:
        payment_from_json({**PAYMENT, **change})
    assert info.value.where is not None and info.value.where.startswith(where)


def test_a_project_and_its_errors() -> None:
    project = project_from_json({"code": " P-2026-01 ", "name": "华东仓储改造", "budget": "500000",
                                 "start": "2026-01-01"})
    assert project.code == "P-2026-01" and project.budget == Money(Decimal("500000.00"))
    with pytest.raises(MappingError, match="结束日期早于开始日期"):
        project_from_json({"code": "P", "name": "x", "start": "2026-02-01", "end": "2026-01-01"})
    with pytest.raises(MappingError) as info:
        project_from_json({"code": "P", "name": "x", "budget": "-1"})
    assert info.value.where == "project.budget"


CONTRACT = {"number": "HT-SP-0007", "name": " 2027年度办公家具采购合同 ",
            "supplier": {"name": "杭州绿源办公家具有限公司", "tax_id": "91330100MA2H3C7L5P"}, "amount": "286000.05",
            "signed_on": "2026-11-26", "start": "2027-01-01", "end": "2027-01-01",
            "payment_terms": "验收合格后 30 天内付清"}


def test_a_contract_keeps_its_amount_to_the_fen_its_dates_and_its_chinese_text() -> None:
    contract = contract_from_json(CONTRACT)
    assert contract.amount == Money(Decimal("286000.05")) and contract.name == "2027年度办公家具采购合同"
    assert (contract.signed_on, contract.start, contract.end) == (date(2026, 11, 26), date(2027, 1, 1),
                                                                  date(2027, 1, 1))  # a one-day contract is fine
    assert contract.supplier.tax_id == "91330100MA2H3C7L5P" and contract.contract_number is None


@pytest.mark.parametrize(("change", "where"), [
    ({"amount": 286000.05}, "contract.amount"),         # a float has lost its cents already
    ({"amount": "0"}, "contract.amount"),
    ({"amount": "1.005"}, "contract.amount"),           # never rounded silently
    ({"currency": "人民币"}, "contract.amount"),
    ({"end": "2026-12-31"}, "contract.end"),
    ({"start": None}, "contract.start"),
    ({"contract_number": ""}, "contract.contract_number"),
    ({"supplier": {"tax_id": "9133"}}, "contract.supplier.name"),
    ({"extra": 1}, "contract.extra"),
])
def test_a_bad_contract_names_its_field(change: dict[str, object], where: str) -> None:
    with pytest.raises(MappingError) as caught:
        contract_from_json({**CONTRACT, **change})
    assert caught.value.where is not None and caught.value.where.startswith(where)
