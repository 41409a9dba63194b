"""kingdee.voucher.reverse against the sandbox: delete while allowed, else a balancing 红冲 voucher, once."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from kingdee_rig import TODAY, KdEnv, MakeEnv, claim_voucher, voucher_json

from huiliu.connectors.kingdee import VOUCHER_CREATE, VOUCHER_REVERSE
from huiliu.errors import MappingError, TransientError, VendorRejected
from huiliu.sandbox import Fault, FaultKind
from huiliu.sandbox.kingdee import SandboxVoucher

ORIGINAL = "HL-ORIG-1"


async def create(env: KdEnv, amount: str = "880.00") -> Any:
    return await env.run(VOUCHER_CREATE, {"voucher": voucher_json(claim_voucher(amount=amount))}, ref=ORIGINAL)


async def reverse(env: KdEnv, *, attempt: int = 1, key: str = "rev-1", **extra: Any) -> Any:
    return await env.run(VOUCHER_REVERSE, {"reference": ORIGINAL, **extra}, attempt=attempt, ref="HL-REV-STEP",
                         key=key)


def amounts(voucher: SandboxVoucher) -> list[tuple[str, Decimal, Decimal, dict[str, Any]]]:
    return [(e["FACCOUNTID"]["FNumber"], Decimal(e["FDEBIT"]), Decimal(e["FCREDIT"]), e["FDetailID"])
            for e in voucher.model["FEntity"]]


async def test_reverse_while_allowed_unaudits_and_deletes(kd: KdEnv) -> None:
    created = await create(kd)
    assert kd.sandbox.vouchers[created["id"]].status == "C"
    result = await reverse(kd)
    assert result == {"method": "deleted", "reversal": None, "reason": None, "adopted": False,
                      "original": {"reference": ORIGINAL, "id": created["id"], "number": created["number"]}}
    assert kd.sandbox.count() == 0


async def test_reverse_after_the_period_closed_posts_a_balancing_red_voucher_linked_to_the_original(
        kd: KdEnv) -> None:
    created = await create(kd)
    kd.sandbox.close_period("001", "2026-11")
    result = await reverse(kd)
    assert result["method"] == "red_reversal"
    assert "已结账" in result["reason"]
    assert result["original"] == {"reference": ORIGINAL, "id": created["id"], "number": created["number"]}
    [red] = kd.sandbox.find_by_reference(ORIGINAL + "-R")
    assert result["reversal"] == {"reference": ORIGINAL + "-R", "id": red.id, "number": red.number,
                                  "status": "C", "date": TODAY.isoformat()}
    original = kd.sandbox.vouchers[created["id"]]
    assert original.status == "C"  # untouched: the closed period keeps it
    assert red.model["FISREDWRITEOFF"] is True
    assert red.model["F_HUILIU_REVERSES"] == created["number"]
    assert red.model["FDate"] == "2026-12-03"
    assert all(e["FEXPLANATION"].startswith(f"冲销 {created['number']}：") for e in red.model["FEntity"])
    rows = amounts(red)
    assert sum(d for _, d, _, _ in rows) == sum(c for _, _, c, _ in rows) == Decimal("-880.00")
    # Same accounts, dimensions and sides; original + reversal nets every account to zero.
    for (account, debit, credit, detail), (o_account, o_debit, o_credit, o_detail) in zip(
            rows, amounts(original), strict=True):
        assert (account, detail) == (o_account, o_detail)
        assert (debit + o_debit, credit + o_credit) == (Decimal(0), Decimal(0))


async def test_a_posted_voucher_in_an_open_period_is_reversed_too(kd: KdEnv) -> None:
    created = await create(kd)
    kd.sandbox.post(created["id"])
    result = await reverse(kd)
    assert result["method"] == "red_reversal"
    assert "已过账" in result["reason"]
    assert kd.sandbox.vouchers[created["id"]].status == "C"
    assert kd.sandbox.count() == 2


async def test_reverse_retried_after_a_lost_reply_makes_one_reversal(kd: KdEnv) -> None:
    await create(kd)
    kd.sandbox.close_period("001", "2026-11")
    kd.sandbox.faults.script("save", Fault(FaultKind.APPLIED_REPLY_LOST))
    with pytest.raises(TransientError):
        await reverse(kd)
    assert len(kd.sandbox.find_by_reference(ORIGINAL + "-R")) == 1  # Kingdee saved it; the hub does not know
    saves = kd.sandbox.save_calls
    result = await reverse(kd, attempt=2)
    assert result["method"] == "red_reversal"
    assert result["adopted"] is True
    assert kd.sandbox.save_calls == saves
    [red] = kd.sandbox.find_by_reference(ORIGINAL + "-R")
    assert (red.status, result["reversal"]["id"]) == ("C", red.id)
    # A second revocation of the same approval (another key, first attempt) adopts it as well.
    again = await reverse(kd, key="rev-2")
    assert (again["method"], again["adopted"], again["reversal"]["id"]) == ("red_reversal", True, red.id)
    assert kd.sandbox.count() == 2


async def test_delete_retried_after_a_lost_reply_reports_deleted(kd: KdEnv) -> None:
    created = await create(kd)
    kd.sandbox.faults.script("delete", Fault(FaultKind.APPLIED_REPLY_LOST))
    with pytest.raises(TransientError):
        await reverse(kd)
    assert kd.sandbox.count() == 0
    result = await reverse(kd, attempt=2)
    assert (result["method"], result["adopted"]) == ("deleted", True)
    assert result["original"]["reference"] == ORIGINAL
    assert created["id"] not in kd.sandbox.vouchers


async def test_unaudit_applied_but_reply_lost_then_retry_deletes(kd: KdEnv) -> None:
    await create(kd)
    kd.sandbox.faults.script("unaudit", Fault(FaultKind.APPLIED_REPLY_LOST))
    with pytest.raises(TransientError):
        await reverse(kd)
    [stored] = kd.sandbox.vouchers.values()
    assert stored.status == "D"
    result = await reverse(kd, attempt=2)
    assert (result["method"], result["adopted"]) == ("deleted", False)
    assert kd.sandbox.count() == 0


async def test_swap_style_reverses_with_positive_amounts_on_the_other_side(make_kd_env: MakeEnv) -> None:
    env = await make_kd_env(reversal_style="swap", reversal_link_field=None)
    created = await create(env, amount="12.34")
    env.sandbox.close_period("001", "2026-11")
    result = await reverse(env, date="2026-12-01")
    red = env.sandbox.vouchers[result["reversal"]["id"]]
    assert "FISREDWRITEOFF" not in red.model
    assert "F_HUILIU_REVERSES" not in red.model
    assert red.model["FDate"] == "2026-12-01"
    original = env.sandbox.vouchers[created["id"]]
    assert [(a, d, c) for a, d, c, _ in amounts(red)] == [(a, c, d) for a, d, c, _ in amounts(original)]
    assert [e["FDC"] for e in red.model["FEntity"]] == [-1, 1]


async def test_reversal_dated_in_a_closed_period_is_refused_with_the_period(kd: KdEnv) -> None:
    await create(kd)
    kd.sandbox.close_period("001", "2026-11")
    with pytest.raises(VendorRejected) as info:
        await reverse(kd, date="2026-11-30")
    assert "2026-11" in info.value.what.zh
    assert info.value.retryable is False


@pytest.mark.parametrize("request_", [{}, {"reference": ""}, {"reference": ORIGINAL, "date": "30/11/2026"}])
async def test_bad_requests_fail_before_any_call(kd: KdEnv, request_: dict[str, Any]) -> None:
    with pytest.raises(MappingError):
        await kd.run(VOUCHER_REVERSE, request_)
    assert kd.sandbox.login_calls == 0


async def test_unknown_reference_on_the_first_attempt_is_a_mapping_error(kd: KdEnv) -> None:
    with pytest.raises(MappingError) as info:
        await reverse(kd)
    assert ORIGINAL in info.value.what.zh
