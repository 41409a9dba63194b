"""Vendors misbehave at 10 % of requests — expired tokens and sessions, rate limits, 5xx, slow replies,
dropped connections, replies lost after the change was applied, failed callback deliveries — and every
approval is still processed exactly once."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from huiliu.bus import reference_for
from huiliu.cli.demo import DemoStack
from huiliu.sandbox import FaultKind, FaultPlan
from huiliu.store.schema import dead_letters, event_log

RATES = {FaultKind.EXPIRED_TOKEN: 0.02, FaultKind.RATE_LIMIT: 0.02, FaultKind.SERVER_ERROR: 0.02,
         FaultKind.SLOW: 0.01, FaultKind.DROP: 0.015, FaultKind.APPLIED_REPLY_LOST: 0.015}


def plan(seed: int) -> FaultPlan:
    faults = FaultPlan(seed=seed, slow_delay=0.3)
    faults.rates["*"] = dict(RATES)
    return faults


async def test_ten_percent_vendor_faults_every_approval_done_once(make_stack: Callable[..., DemoStack]) -> None:
    ding_faults, kd_faults = plan(1), plan(2)
    async with make_stack(
            settings={"http_timeout": 2.0},
            ding_options={"faults": ding_faults, "retry_schedule": (0.2, 0.4, 0.8, 1.6, 3.2, 6.4)},
            kd_options={"faults": kd_faults}) as stack:
        specs = {stack.submit(spec): spec for spec in (stack.company.claim() for _ in range(60))}
        approved = [i for i, s in specs.items() if s.outcome == "approved"]
        assert await stack.settle(expected_runs=len(approved), timeout=120)
        assert stack.hub is not None
        with stack.hub.db.read() as conn:
            dead = conn.execute(select(dead_letters.c.topic, dead_letters.c.reason, dead_letters.c.attempts,
                                       dead_letters.c.last_error, dead_letters.c.attempt_log)).all()
            retried = conn.execute(select(func.count()).select_from(event_log).where(
                event_log.c.activity.like("attempt.%"))).scalar_one()
    injected = sum(ding_faults.injected.values()) + sum(kd_faults.injected.values())
    assert injected >= 30, f"only {injected} faults were injected"
    assert retried > 0
    assert dead == [], [tuple(d) for d in dead]  # which message gave up, why, and its attempts
    assert stack.kd.count() == len(approved)
    for instance_id, spec in specs.items():
        remarks = [r for r in stack.ding.instances[instance_id].records if r["type"] == "ADD_REMARK"]
        if spec.outcome != "approved":
            assert remarks == []
            continue
        [voucher] = stack.kd.find_by_reference(reference_for(f"expense-claim-to-voucher:{instance_id}:post_voucher"))
        assert voucher.status == "C"
        assert len(remarks) == 1


@pytest.mark.parametrize("oa", ["wecom", "feishu"])
async def test_wecom_and_feishu_faults_every_approval_done_once(make_stack: Callable[..., DemoStack],
                                                                 oa: str) -> None:
    oa_faults, kd_faults = plan(3), plan(4)
    async with make_stack(
            oa=oa, settings={"http_timeout": 2.0},
            oa_options={"faults": oa_faults, "retry_schedule": (0.2, 0.4, 0.8, 1.6, 3.2, 6.4)},
            kd_options={"faults": kd_faults}) as stack:
        specs = {stack.submit(spec): spec for spec in (stack.company.claim() for _ in range(24))}
        approved = [i for i, s in specs.items() if s.outcome == "approved"]
        assert await stack.settle(expected_runs=len(approved), timeout=120)
        assert stack.hub is not None
        with stack.hub.db.read() as conn:
            dead = conn.execute(select(func.count()).select_from(dead_letters)).scalar_one()
    assert sum(oa_faults.injected.values()) >= 5, oa_faults.injected
    assert dead == 0
    assert stack.kd.count() == len(approved)
    for instance_id in approved:
        [voucher] = stack.kd.find_by_reference(reference_for(f"expense-claim-to-voucher:{instance_id}:post_voucher"))
        assert voucher.status == "C"
