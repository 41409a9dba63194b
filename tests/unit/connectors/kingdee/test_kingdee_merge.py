"""merge_vouchers over random claims: totals kept, every merged voucher balances, order does not matter."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

import pytest
from kingdee_rig import KdEnv, voucher_json

from huiliu.connectors.kingdee import VOUCHER_CREATE_BATCH, merge_vouchers, merged_reference, voucher_department
from huiliu.errors import MappingError
from huiliu.model import Direction, Money, Voucher, VoucherLine

DEPARTMENTS = ("BM01", "BM02", "BM03", "BM0301", "BM04")
EMPLOYEES = ("E1001", "E1002", "E1003")
ACCOUNTS = {"差旅费": "6602.03", "交通费": "6602.04", "业务招待费": "6602.05", "办公费": "6602.01"}

LineKey = tuple[str, str, Direction, str, tuple[tuple[str, str], ...]]


def random_claims(rng: random.Random, n: int) -> list[Voucher]:
    claims = []
    for i in range(n):
        department, employee = rng.choice(DEPARTMENTS), rng.choice(EMPLOYEES)
        day = date(2026, 11, 23) + timedelta(days=rng.randrange(3))
        book = rng.choice(("main", "main", "hk"))
        lines, total = [], Money.zero()
        for _ in range(rng.randint(1, 3)):
            kind = rng.choice(list(ACCOUNTS))
            amount = Money(Decimal(rng.randint(1, 500_000)) / 100)
            total = total + amount
            lines.append(VoucherLine(f"{kind} {i}", ACCOUNTS[kind], Direction.DEBIT, amount,
                                     (("department", department), ("employee", employee))))
        lines.append(VoucherLine("应付员工报销款", "2241.01", Direction.CREDIT, total, (("employee", employee),)))
        claims.append(Voucher(f"claim-{i:04d}", book, day, "记", "CNY", tuple(lines)))
    return claims


def group_of(voucher: Voucher) -> tuple[str, str, str]:
    return (voucher.book, voucher.date.isoformat(), voucher_department(voucher) or "")


def line_totals(vouchers: list[Voucher]) -> dict[LineKey, Decimal]:
    totals: defaultdict[LineKey, Decimal] = defaultdict(Decimal)
    for v in vouchers:
        book, day, department = group_of(v)
        for line in v.lines:
            totals[(book, day + department, line.direction, line.account, tuple(sorted(line.aux)))] += (
                line.amount.amount)
    return dict(totals)


@pytest.mark.parametrize("seed", range(8))
def test_merged_totals_equal_the_sum_and_every_merged_voucher_balances(seed: int) -> None:
    rng = random.Random(seed)
    claims = random_claims(rng, rng.randint(1, 120))
    merged = merge_vouchers(claims)
    # one voucher per (book, date, department), each balancing
    assert len(merged) == len({group_of(c) for c in claims})
    assert len({group_of(m) for m in merged}) == len(merged)
    for voucher in merged:
        assert voucher.total(Direction.DEBIT) == voucher.total(Direction.CREDIT)
        keys = [(line.direction, line.account, line.aux) for line in voucher.lines]
        assert len(keys) == len(set(keys))  # same account, side and dimensions: one line
    # every (account, side, dimensions) of every group sums to the same amount
    for m in merged:
        sources = [c for c in claims if group_of(c) == group_of(m)]
        assert m.reference == merged_reference(c.reference for c in sources)
        assert m.total(Direction.DEBIT).amount == sum(c.total(Direction.DEBIT).amount for c in sources)
    assert line_totals(merged) == line_totals(claims)


@pytest.mark.parametrize("seed", range(5))
def test_merging_does_not_depend_on_the_order(seed: int) -> None:
    rng = random.Random(100 + seed)
    claims = random_claims(rng, 60)
    shuffled = claims[:]
    rng.shuffle(shuffled)
    assert merge_vouchers(shuffled) == merge_vouchers(claims)
    assert merge_vouchers(reversed(claims)) == merge_vouchers(claims)


def test_summaries_are_joined_or_summarised() -> None:
    def claim(ref: str, who: str, amount: str) -> Voucher:
        money = Money.of(amount)
        return Voucher(ref, "main", date(2026, 11, 25), "记", "CNY", (
            VoucherLine(f"差旅费 {who}", "6602.03", Direction.DEBIT, money, (("department", "BM03"),)),
            VoucherLine("应付报销款", "2241.01", Direction.CREDIT, money)))

    claims = [claim("c3", "王五", "3.00"), claim("c1", "张三", "1.00"), claim("c2", "李四", "2.00")]
    [merged] = merge_vouchers(claims)
    assert [(line.summary, line.amount.amount) for line in merged.lines] == [
        ("差旅费 张三；差旅费 李四；差旅费 王五", Decimal("6.00")), ("应付报销款", Decimal("6.00"))]
    [short] = merge_vouchers(claims, summary_limit=10)
    assert short.lines[0].summary == "差旅费 张三等3项"
    assert short.lines[1].summary == "应付报销款"


def test_the_same_approval_twice_is_refused() -> None:
    claims = random_claims(random.Random(1), 3)
    with pytest.raises(MappingError, match="claim-0001"):
        merge_vouchers([*claims, claims[1]])


def test_a_custom_grouping_adds_to_book_and_date() -> None:
    claims = random_claims(random.Random(3), 50)
    by_book_and_date = merge_vouchers(claims, group_by=lambda v: ())
    assert len(by_book_and_date) == len({(c.book, c.date) for c in claims})


async def test_merged_vouchers_are_accepted_by_kingdee(kd: KdEnv) -> None:
    claims = [c for c in random_claims(random.Random(11), 80) if c.book == "main"]
    merged = merge_vouchers(claims)
    result = await kd.run(VOUCHER_CREATE_BATCH, {"vouchers": [voucher_json(m) for m in merged]})
    assert (result["saved"], result["failed"]) == (len(merged), 0)
    stored_debit = sum(Decimal(e["FDEBIT"]) for v in kd.sandbox.vouchers.values() for e in v.model["FEntity"])
    assert stored_debit == sum(c.total(Direction.DEBIT).amount for c in claims)
