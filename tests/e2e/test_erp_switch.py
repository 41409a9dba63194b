"""One flow, five ERPs: the purchase-requisition template with its action prefix changed runs end to end
against the Odoo, ERPNext, Yonyou and SAP sandboxes (Tryton, for real, in tests/integration/tryton)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from huiliu.cli.demo import DemoStack
from huiliu.connectors.erpnext import ErpnextSettings
from huiliu.connectors.odoo import OdooSettings
from huiliu.connectors.sap import SapSettings
from huiliu.connectors.yonyou import YonyouSettings
from huiliu.sandbox import SandboxServer
from huiliu.sandbox.erpnext import ErpnextSandbox
from huiliu.sandbox.odoo import OdooSandbox
from huiliu.sandbox.sap import SapSandbox
from huiliu.sandbox.yonyou import YonyouSandbox
from huiliu.service import TEMPLATES
from huiliu.store import loads
from huiliu.store.schema import crosswalk, dead_letters, runs


def erp(name: str) -> tuple[Any, Callable[[str], Any], Callable[[Any], int]]:
    """(sandbox, settings for its URL, how many purchase orders it holds)."""
    if name == "odoo":
        odoo = OdooSandbox()
        return odoo, lambda url: OdooSettings(base_url=url, database="hub", login="api", api_key="odoo-key",
                                              ambiguous_wait=0), lambda s: len(s.orders())
    if name == "erpnext":
        nxt = ErpnextSandbox()
        return nxt, lambda url: ErpnextSettings(base_url=url, api_key="erp-key", api_secret="erp-secret",
                                                ambiguous_wait=0), lambda s: len(s.orders())
    if name == "yonyou":
        yy = YonyouSandbox(app_key="yykey", app_secret="yysecret")
        return yy, lambda url: YonyouSettings(base_url=url, app_key="yykey", app_secret="yysecret",
                                              ambiguous_wait=0), lambda s: len(s.ledger.orders)
    sap = SapSandbox(username="COMM_USER", password="pw")
    return sap, lambda url: SapSettings(base_url=url, username="COMM_USER", password="pw",
                                        ambiguous_wait=0), lambda s: len(s.orders)


@pytest.mark.parametrize("name", ["odoo", "erpnext", "yonyou", "sap"])
async def test_the_requisition_flow_switches_erps_by_its_action_prefix(
        make_stack: Callable[..., DemoStack], tmp_path: Path, name: str) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    text = (TEMPLATES / "purchase_requisition_po.yaml").read_text(encoding="utf-8")
    (flows / "pr.yaml").write_text(text.replace("call: tryton.", f"call: {name}."), encoding="utf-8")
    sandbox, settings_for, count = erp(name)
    server = SandboxServer(sandbox.app)
    await server.start()
    try:
        async with make_stack(seed=43, settings={name: settings_for(server.url), "flows_dir": flows}) as stack:
            hub = stack.hub
            assert hub is not None and [f.id for f in hub.flows] == ["purchase-requisition-to-po"]
            specs = [stack.company.requisition(approve_rate=1.0) for _ in range(3)]
            ids = [stack.submit_requisition(spec) for spec in specs]
            assert await stack.settle(expected_runs=3, timeout=60)
            assert count(sandbox) == 3  # one order per approval, not one more
            with hub.db.read() as conn:
                results = {r.business_key: loads(r.context)["steps"]["purchase_order"]
                           for r in conn.execute(select(runs))}
                erp_links = conn.execute(select(crosswalk.c.native_number).where(
                    crosswalk.c.system == name)).scalars().all()
            for instance_id, spec in zip(ids, specs, strict=True):
                po = results[instance_id]
                assert po["adopted"] is False and po["number"]
                assert str(po["untaxed_amount"]) == f"{spec.total:.2f}"  # to the fen
                remarks = [r["remark"] for r in stack.ding.instances[instance_id].records
                           if r["type"] == "ADD_REMARK"]
                assert len(remarks) == 1 and str(po["number"]) in remarks[0]
            assert sorted(erp_links) == sorted(str(r["number"]) for r in results.values())
    finally:
        await server.stop()


async def test_erp_refusals_and_bad_data_become_clear_dead_letters_not_endless_retries(
        make_stack: Callable[..., DemoStack], tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    text = (TEMPLATES / "purchase_requisition_po.yaml").read_text(encoding="utf-8")
    (flows / "pr.yaml").write_text(text.replace("call: tryton.", "call: sap."), encoding="utf-8")
    sandbox = SapSandbox(username="COMM_USER", password="pw")
    server = SandboxServer(sandbox.app)
    await server.start()
    try:
        sap_settings = SapSettings(base_url=server.url, username="COMM_USER", password="pw", ambiguous_wait=0,
                                   plant="9999")  # a plant this company does not have: SAP refuses the order
        async with make_stack(seed=47, settings={"sap": sap_settings, "flows_dir": flows}) as stack:
            instance_id = stack.submit_requisition(stack.company.requisition(approve_rate=1.0))
            assert await stack.settle(expected_runs=1, timeout=60)
            assert stack.hub is not None
            with stack.hub.db.read() as conn:
                [dead] = conn.execute(select(dead_letters)).all()
                [run] = conn.execute(select(runs)).all()
            assert dead.key == instance_id and dead.reason == "vendor_rejected"
            assert dead.attempts == 1  # a business refusal is not retried
            assert "9999" in dead.last_error and "SAP" in dead.last_error  # SAP's own message, named
            assert run.status == "failed"
            assert len(sandbox.orders) == 0
    finally:
        await server.stop()
