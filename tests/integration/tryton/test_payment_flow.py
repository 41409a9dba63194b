"""The payment scenario against a real Tryton: a payment request (付款申请) approved in DingTalk becomes one
posted and paid supplier invoice, the amount to the cent, its number and paid status written back."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import aiohttp
from sqlalchemy import select
from tryton_env import TrytonServer

from huiliu.bus import reference_for
from huiliu.cli.demo import DemoStack
from huiliu.connectors.base import ActionContext
from huiliu.connectors.http import HttpClient
from huiliu.connectors.tryton import PAYMENT_READ, SYSTEM, TrytonClient
from huiliu.service import TEMPLATES
from huiliu.store.schema import runs

FLOW = "payment-request-to-payment"


async def test_an_approved_payment_request_becomes_one_paid_tryton_payment(
        make_stack: Callable[..., DemoStack], tryton_server: TrytonServer, tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    text = (TEMPLATES / "payment_request_payment.yaml").read_text(encoding="utf-8")
    assert text.count("call: kingdee.") == 1
    (flows / "payment.yaml").write_text(text.replace("call: kingdee.", "call: tryton."), encoding="utf-8")
    tryton = tryton_server.settings(payment_method=tryton_server.info["payment_method"])
    async with make_stack(seed=59, oa="dingtalk", tryton=tryton, settings={"flows_dir": flows}) as stack:
        hub = stack.hub
        assert hub is not None and [f.id for f in hub.flows] == [FLOW]
        spec = stack.company.payment(approve_rate=1.0)
        instance_id = stack.submit_payment(spec)
        assert await stack.settle(expected_runs=1, timeout=120)
        with hub.db.read() as conn:
            assert [r.status for r in conn.execute(select(runs))] == ["succeeded"]

        reference = reference_for(f"{FLOW}:{instance_id}:pay")
        read = hub.actions.get(PAYMENT_READ)
        payment = await read({"reference": reference}, ActionContext(f"read-{instance_id}", 1, reference))
        assert payment["amount"] == spec.amount  # to the cent
        assert f"{payment['amount']:.2f}" == f"{spec.amount:.2f}"
        assert payment["paid"] is True and payment["state"] == "paid" and payment["currency"] == "CNY"
        assert await _invoices(stack, reference) == [payment["id"]]  # made once
        remarks = [r["remark"] for r in stack.ding.instances[instance_id].records if r["type"] == "ADD_REMARK"]
        assert len(remarks) == 1
        assert str(payment["number"]) in remarks[0] and "已付款" in remarks[0]
        assert f"{spec.amount:.2f} 元" in remarks[0]


async def _invoices(stack: DemoStack, reference: str) -> list[int]:
    """Supplier invoices in Tryton carrying ``reference``, read with a client of the stack's settings."""
    settings = stack.tryton
    assert settings is not None
    async with aiohttp.ClientSession() as http:
        client = TrytonClient(settings, HttpClient(SYSTEM, http, timeout=settings.timeout))
        return list(await client.search("account.invoice", [[settings.payment_reference_field, "=", reference],
                                                            ["type", "=", "in"]]))
