"""Kingdee sandbox purchase contracts (采购合同, ``PUR_Contract``): what Save checks before it keeps one.

Owns: :func:`check_contract`, the refusals a contract Save gets — each required field missing, the supplier
unknown or not audited, the purchasing organisation unknown, the dates out of order, the amount not positive
or finer than the fen — in Kingdee's manner (one error per field, Chinese messages naming the field's
caption). Does not own: storing, numbering or moving the contract (:class:`~.bills.BillBook`).

Unconfirmed (shared/contracts §4 is silent on contracts; keys follow integrators' code and may differ per
version), mirrored by the connector's settings: the form id, the header keys ``FBillTypeID``, ``FDate``,
``FBeginDate``, ``FEndDate``, ``FCONTRACTNAME``, ``FSupplierId``, ``FPurchaseOrgId``, the finance sub-entity
``FContractFin.FSettleCurrId``, the amount field ``FTotalAmount`` and the wording of every refusal.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from huiliu.sandbox.kingdee.vouchers import _amount, _key, _number_of, _Outcome

__all__ = ["AMOUNT_FIELD", "CONTRACT_FORM", "check_contract"]

CONTRACT_FORM = "PUR_CONTRACT"
"""The upper-case form id (``PUR_Contract``)."""

AMOUNT_FIELD = "FTotalAmount"
"""The header field of the contract's amount (价税合计) in this sandbox."""

_FEN = Decimal("0.01")


def _day(model: Mapping[str, Any], key: str, caption: str, outcome: _Outcome) -> date | None:
    raw = _key(model, key)
    if raw in (None, ""):
        outcome.fail(key, f"字段“{caption}”是必填项")
        return None
    try:
        return date.fromisoformat(str(raw)[:10])
    except ValueError:
        outcome.fail(key, f"{caption}“{raw}”格式不正确")
        return None


def check_contract(model: dict[str, Any], outcome: _Outcome, *, suppliers: Mapping[str, str],
                   orgs: Collection[str]) -> None:
    """Record in ``outcome`` every reason Save refuses ``model``; nothing when it may be saved.

    Args:
        model: the contract's ``Model``.
        outcome: where the refusals go.
        suppliers: supplier number → its ``FDocumentStatus``; only 已审核 (C) suppliers may be used.
        orgs: the purchasing organisations' numbers.
    """
    if _number_of(_key(model, "FBillTypeID")) is None:
        outcome.fail("FBillTypeID", "字段“单据类型”是必填项")
    if not str(_key(model, "FCONTRACTNAME") or "").strip():
        outcome.fail("FCONTRACTNAME", "字段“合同名称”是必填项")
    _day(model, "FDate", "签订日期", outcome)
    begin = _day(model, "FBeginDate", "生效日期", outcome)
    end = _day(model, "FEndDate", "失效日期", outcome)
    if begin is not None and end is not None and end < begin:
        outcome.fail("FEndDate", f"失效日期“{end.isoformat()}”不能早于生效日期“{begin.isoformat()}”")
    supplier = _number_of(_key(model, "FSupplierId"))
    if supplier is None:
        outcome.fail("FSupplierId", "字段“供应商”是必填项")
    elif suppliers.get(supplier) != "C":
        outcome.fail("FSupplierId", f"供应商“{supplier}”不存在或未审核")
    org = _number_of(_key(model, "FPurchaseOrgId"))
    if org is None:
        outcome.fail("FPurchaseOrgId", "字段“采购组织”是必填项")
    elif org not in orgs:
        outcome.fail("FPurchaseOrgId", f"采购组织“{org}”不存在")
    finance = _key(model, "FContractFin")
    if not isinstance(finance, dict) or _number_of(_key(finance, "FSettleCurrId")) is None:
        outcome.fail("FSettleCurrId", "字段“结算币别”是必填项")
    try:
        amount = _amount(_key(model, AMOUNT_FIELD))
    except (InvalidOperation, ValueError):
        outcome.fail(AMOUNT_FIELD, "价税合计格式不正确")
        return
    if amount <= 0:
        outcome.fail(AMOUNT_FIELD, "价税合计必须大于0")
    elif amount != amount.quantize(_FEN):
        outcome.fail(AMOUNT_FIELD, "价税合计精度不能超过2位小数")
    else:
        model[AMOUNT_FIELD] = format(amount, "f")
