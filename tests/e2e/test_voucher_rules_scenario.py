"""The voucher-rules template end to end through DingTalk and Kingdee: accounts from several attributes,
a claim split across departments to the fen, an employee's advance offset first, the rest payable."""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from huiliu.bus import reference_for
from huiliu.cli.demo import DemoStack
from huiliu.sandbox.company import EXPENSE_ACCOUNTS
from huiliu.sandbox.dingtalk.state import _cell, _table_value

FLOW = "expense-claim-to-voucher-rules"
CODE = "PROC-EXPENSE-ALLOC"


def add_fields(stack: DemoStack, instance_id: str, *, allocation: list[tuple[str, str]] | None,
               advance: str | None) -> None:
    """The claim's 分摊明细 (department, share) and 借款余额, as DingTalk sends them."""
    form = stack.ding.instances[instance_id].form
    if advance is not None:
        form.append(_cell("MoneyField_advance", "借款余额", advance, "MoneyField"))
    if allocation:
        rows = [[_cell("TextField_dept", "部门", dept, "TextField"), _cell("TextField_ratio", "比例", ratio,
                                                                          "TextField")] for dept, ratio in allocation]
        table = _cell("TableField_alloc", "分摊明细", _table_value(rows), "TableField")
        table["details"] = [{"details": row} for row in rows]
        form.append(table)


def lines(stack: DemoStack, instance_id: str) -> list[tuple[str, str, str | None, Decimal]]:
    """(account, debit|credit, department, amount) of the voucher the claim made, as Kingdee holds it."""
    [voucher] = stack.kd.find_by_reference(reference_for(f"{FLOW}:{instance_id}:post_voucher"))
    out = []
    for entry in voucher.model["FEntity"]:
        detail: dict[str, Any] = entry.get("FDetailID") or {}
        dept = (detail.get("FFLEX5") or {}).get("FNumber")
        debit, credit = Decimal(str(entry.get("FDEBIT") or 0)), Decimal(str(entry.get("FCREDIT") or 0))
        out.append((entry["FACCOUNTID"]["FNumber"], "debit" if debit else "credit", dept, debit or credit))
    return sorted(out)


async def test_rules_split_and_advance_offset_reach_kingdee_to_the_fen(make_stack: Callable[..., DemoStack]) -> None:
    async with make_stack(seed=91) as stack:
        for account in ("6601.03", "6601.05", "5301.01"):  # the rules' other accounts, as the chart has them
            stack.kd.chart.setdefault(account, ("department", "employee"))
        sales = next(e for e in stack.company.employees if e.department_number == "BM03")
        spec = stack.company.claim(approve_rate=1.0)
        while spec.employee != sales or not any(i.expense_type == "差旅费" for i in spec.items):
            spec = stack.company.claim(approve_rate=1.0)
        total = spec.total
        advance = (total / 3).quantize(Decimal("0.01"))
        split = stack.ding.start_claim(spec, process_code=CODE)
        add_fields(stack, split, allocation=[("BM03", "60%"), ("BM01", "40%")], advance=f"{advance:.2f}")
        stack.end(split, "approved")

        plain_spec = stack.company.claim(approve_rate=1.0)
        plain = stack.ding.start_claim(plain_spec, process_code=CODE)
        add_fields(stack, plain, allocation=None, advance=f"{plain_spec.total + 100:.2f}")  # more than claimed
        stack.end(plain, "approved")
        assert await stack.settle(expected_runs=2, timeout=60)

        got = lines(stack, split)
        expected = []
        for item in spec.items:  # 40 % to BM01 rounded half up, the rest (the largest share) to BM03
            bm01 = (item.amount * Decimal("0.4")).quantize(Decimal("0.01"), ROUND_HALF_UP)
            for dept, part in (("BM03", item.amount - bm01), ("BM01", bm01)):
                if part:
                    special = {("差旅费", "BM03"): "6601.03", ("业务招待费", "BM03"): "6601.05"}
                    account = special.get((item.expense_type, dept), EXPENSE_ACCOUNTS[item.expense_type])
                    expected.append((account, "debit", dept, part))
        assert [line for line in got if line[1] == "debit"] == sorted(expected)  # accounts by type and dept
        assert sum(a for _, side, _, a in got if side == "debit") == total  # to the fen
        credits = {acc: a for acc, side, _, a in got if side == "credit"}
        assert credits == {"1221.01": advance, "2241.01": total - advance}  # the advance first, the rest payable

        offset_only = lines(stack, plain)
        assert [(acc, a) for acc, side, _, a in offset_only if side == "credit"] == [("1221.01", plain_spec.total)]
