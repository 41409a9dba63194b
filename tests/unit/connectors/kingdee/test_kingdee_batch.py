"""kingdee.voucher.create_batch against the sandbox: per-voucher results, and retries that send only what is missing."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from kingdee_rig import KdEnv, MakeEnv, claim_voucher, voucher_json

from huiliu.connectors.kingdee import VOUCHER_CREATE_BATCH, batch_reference
from huiliu.errors import MappingError, TransientError
from huiliu.sandbox import Fault, FaultKind

BAD_ACCOUNT, BAD_EMPLOYEE = 3, 15


def vouchers(n: int = 20) -> list[dict[str, Any]]:
    """``n`` claims; number 3 names an account Kingdee does not have, number 15 an unknown employee."""
    result = []
    for i in range(n):
        kwargs: dict[str, Any] = {}
        if i == BAD_ACCOUNT:
            kwargs["account"] = "9999.99"
        if i == BAD_EMPLOYEE:
            kwargs["employee"] = "E9999"
        result.append(voucher_json(claim_voucher(f"claim-{i:02d}", f"{100 + i}.50", **kwargs)))
    return result


async def batch(env: KdEnv, items: list[dict[str, Any]], *, attempt: int = 1, **extra: Any) -> Any:
    return await env.run(VOUCHER_CREATE_BATCH, {"vouchers": items, **extra}, attempt=attempt, ref="HL-BATCH")


def check_twenty(result: Any, env: KdEnv) -> None:
    assert (result["saved"], result["failed"]) == (18, 2)
    items = result["items"]
    assert [i["index"] for i in items] == list(range(20))
    bad = {i["index"]: i for i in items if i["error"] is not None}
    assert set(bad) == {BAD_ACCOUNT, BAD_EMPLOYEE}
    assert bad[BAD_ACCOUNT]["id"] is None
    assert "科目“9999.99”不存在" in bad[BAD_ACCOUNT]["error"]["vendor_message"]
    assert bad[BAD_ACCOUNT]["error"]["message"].startswith("金蝶拒绝了该凭证")
    assert bad[BAD_ACCOUNT]["error"]["field"] == "FACCOUNTID"
    assert "E9999" in bad[BAD_EMPLOYEE]["error"]["message"]
    good = [i for i in items if i["error"] is None]
    assert len({i["number"] for i in good}) == 18
    for item in good:
        assert item["reference"] == batch_reference("HL-BATCH", item["source"])
        [stored] = env.sandbox.find_by_reference(item["reference"])
        assert (stored.id, stored.number, stored.status, item["status"]) == (item["id"], item["number"], "C", "C")
    assert env.sandbox.count() == 18


async def test_batch_of_20_with_2_invalid_gives_18_numbers_and_2_clear_errors(kd: KdEnv) -> None:
    result = await batch(kd, vouchers())
    check_twenty(result, kd)
    assert kd.sandbox.batch_save_calls == 1
    assert kd.sandbox.save_calls == 0
    assert not any(i["adopted"] for i in result["items"])


async def test_retry_after_a_lost_reply_sends_only_the_missing_vouchers(make_kd_env: MakeEnv) -> None:
    env = await make_kd_env(batch_size=10)
    env.sandbox.faults.script("batch_save", Fault(FaultKind.APPLIED_REPLY_LOST))
    with pytest.raises(TransientError):
        await batch(env, vouchers())
    # The first BatchSave (vouchers 0-9) was applied, its reply lost; the second was never sent.
    assert env.sandbox.count() == 9
    assert env.sandbox.saved_models == 10
    result = await batch(env, vouchers(), attempt=2)
    check_twenty(result, env)
    # Only the missing ones went out: voucher 3 (refused again) and vouchers 10-19.
    assert env.sandbox.saved_models == 10 + 11
    assert sorted(i["index"] for i in result["items"] if i["adopted"]) == [i for i in range(10) if i != BAD_ACCOUNT]


async def test_a_voucher_that_cannot_be_mapped_fails_alone_without_reaching_kingdee(kd: KdEnv) -> None:
    items = vouchers(3)
    items[1]["lines"][0]["amount"]["amount"] = "1.00"  # no longer balances
    items[2]["lines"][0]["aux"] = [["project", "P1"]]  # a dimension the book does not know
    result = await batch(kd, items)
    assert (result["saved"], result["failed"]) == (1, 2)
    assert "借贷不平衡" in result["items"][1]["error"]["message"]
    assert result["items"][2]["error"]["field"] == "voucher.lines.0.aux"
    assert kd.sandbox.saved_models == 1


async def test_a_voucher_in_a_closed_period_names_the_period(kd: KdEnv) -> None:
    kd.sandbox.close_period("001", "2026-10")
    items = [voucher_json(claim_voucher("old", day=date(2026, 10, 31))), *vouchers(2)]
    result = await batch(kd, items)
    error = result["items"][0]["error"]
    assert "2026-10" in error["message"] and "已结账" in error["message"]
    assert "反结账" in error["fix"]
    assert result["saved"] == 2


async def test_same_source_reference_twice_is_refused_before_any_call(kd: KdEnv) -> None:
    items = vouchers(2)
    items[1]["reference"] = items[0]["reference"]
    with pytest.raises(MappingError) as info:
        await batch(kd, items)
    assert "claim-00" in info.value.what.zh
    assert kd.sandbox.login_calls == 0


@pytest.mark.parametrize("request_", [{}, {"vouchers": []}, {"vouchers": {"a": 1}}])
async def test_a_request_without_vouchers_is_a_mapping_error(kd: KdEnv, request_: dict[str, Any]) -> None:
    with pytest.raises(MappingError):
        await kd.run(VOUCHER_CREATE_BATCH, request_)


async def test_audit_off_leaves_them_created(make_kd_env: MakeEnv) -> None:
    env = await make_kd_env(audit_vouchers=False)
    result = await batch(env, vouchers(4))
    assert [i["status"] for i in result["items"]] == ["A", "A", "A", None]  # voucher 3 was refused
    assert {v.status for v in env.sandbox.vouchers.values()} == {"A"}
