"""The standard scenario end to end: a purchase requisition approved in DingTalk, WeCom or Feishu becomes a
confirmed purchase order in a real Tryton, its number written back (DingTalk), supplier and items made once."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from sqlalchemy import select
from tryton_env import TrytonServer

from huiliu.bus import reference_for
from huiliu.cli.demo import DemoStack
from huiliu.connectors.base import ActionContext
from huiliu.connectors.tryton import PURCHASE_READ
from huiliu.errors import VendorRejected
from huiliu.store.schema import crosswalk

FLOW = "purchase-requisition-to-po"


@pytest.mark.parametrize("oa", ["dingtalk", "wecom", "feishu"])
async def test_an_approved_requisition_becomes_one_confirmed_tryton_purchase_order(
        make_stack: Callable[..., DemoStack], tryton_server: TrytonServer, oa: str) -> None:
    async with make_stack(seed=41, oa=oa, tryton=tryton_server.settings()) as stack:
        hub = stack.hub
        assert hub is not None
        approved = [stack.company.requisition(approve_rate=1.0) for _ in range(3)]
        refused = stack.company.requisition(approve_rate=0.0, refuse_rate=1.0)
        ids = [stack.submit_requisition(spec) for spec in approved]
        refused_id = stack.submit_requisition(refused)
        assert await stack.settle(expected_runs=len(approved), timeout=120)
        read = hub.actions.get(PURCHASE_READ)
        for instance_id, spec in zip(ids, approved, strict=True):
            reference = reference_for(f"{FLOW}:{instance_id}:purchase_order")
            po = await read({"reference": reference}, ActionContext(f"read-{instance_id}", 1, reference))
            assert po["state"] in {"confirmed", "processing"}
            assert po["untaxed_amount"] == spec.total.quantize(Decimal("0.01"))  # to the fen
            assert [line["quantity"] for line in po["lines"]] == [line.quantity for line in spec.lines]
            assert po["description"] == spec.reason  # Chinese text round-trips
            with hub.db.read() as conn:
                golden = conn.execute(select(crosswalk.c.golden_id).where(
                    crosswalk.c.system == oa, crosswalk.c.native_id == instance_id)).scalar_one()
                linked = {r.system: (r.native_id, r.native_number) for r in conn.execute(
                    select(crosswalk).where(crosswalk.c.golden_id == golden))}
            assert linked == {oa: (instance_id, linked[oa][1]), "tryton": (str(po["id"]), po["number"])}
            if oa == "dingtalk":  # the PO number written back as a comment, once
                remarks = [r["remark"] for r in stack.ding.instances[instance_id].records
                           if r["type"] == "ADD_REMARK"]
                assert len(remarks) == 1 and po["number"] in remarks[0]
        nothing = reference_for(f"{FLOW}:{refused_id}:purchase_order")
        with pytest.raises(VendorRejected, match="找不到采购订单"):
            await read({"reference": nothing}, ActionContext("read-refused", 1, nothing))
