"""FindOrCreate: master data made at most once under concurrency, and adopted after a lost race."""

from __future__ import annotations

import asyncio

import pytest

from huiliu.connectors import FindOrCreate
from huiliu.errors import VendorRejected
from huiliu.i18n import t


async def test_twenty_concurrent_ensures_of_one_key_create_once() -> None:
    store: dict[str, int] = {}
    creates = 0

    async def find() -> int | None:
        await asyncio.sleep(0)
        return store.get("GYS001")

    async def create() -> int:
        nonlocal creates
        creates += 1
        await asyncio.sleep(0.01)  # the ERP takes its time: others arrive meanwhile
        store["GYS001"] = 7
        return 7

    once = FindOrCreate()
    results = await asyncio.gather(*(once.ensure("party:GYS001", find, create) for _ in range(20)))
    assert creates == 1
    assert results.count((7, True)) == 1 and results.count((7, False)) == 19


async def test_a_refused_create_adopts_what_another_process_made() -> None:
    made_elsewhere: dict[str, int] = {}

    async def find() -> int | None:
        return made_elsewhere.get("k")

    async def create() -> int:
        made_elsewhere["k"] = 42  # the other process won the race; this one is refused
        raise VendorRejected(t("编码已存在", "code exists"), system="erp", operation="create")

    assert await FindOrCreate().ensure("k", find, create) == (42, False)


async def test_a_refusal_with_nothing_to_adopt_is_raised() -> None:
    async def find() -> int | None:
        return None

    async def create() -> int:
        raise VendorRejected(t("名称不能为空", "name is empty"), system="erp", operation="create")

    with pytest.raises(VendorRejected, match="名称不能为空"):
        await FindOrCreate().ensure("k", find, create)


async def test_once_runs_a_find_or_create_again_after_a_refusal() -> None:
    calls: list[str] = []

    async def find_or_create() -> str:
        calls.append("run")
        if len(calls) == 1:
            raise VendorRejected(t("供应商编码已存在", "supplier code exists"), system="erp", operation="save")
        return "found"

    assert await FindOrCreate().once("k", find_or_create) == "found"
    assert calls == ["run", "run"]
