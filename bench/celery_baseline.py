"""Celery + RabbitMQ baseline beside huiliu, doing the same work in one run: DingTalk callback → map →
Kingdee Save/Submit/Audit → DingTalk write-back, against the same sandboxes.

The baseline is what an integrator writes by hand with Celery: the webhook verifies and decrypts, then
enqueues one task per approved claim (``acks_late``, durable queue, persistent messages); a prefork
worker re-reads the instance, maps it with huiliu's own flow runtime and Kingdee mapping (so mapping
costs the same), and makes the calls with ``requests``. It has no inbox, outbox, crosswalk, event log,
lookup-before-retry or write-back marker: it does less than huiliu per approval.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/celery_baseline.py --claims 500 [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
from aiohttp import web
from celery import Celery

from huiliu.connectors.dingtalk import CallbackCodec, DingTalkSettings, to_instance
from huiliu.connectors.kingdee import KingdeeSettings
from huiliu.connectors.kingdee.mapping import voucher_model
from huiliu.flows import advance, load_flow
from huiliu.model import SystemClock
from huiliu.sandbox import SandboxServer
from huiliu.sandbox.company import make_company
from huiliu.sandbox.dingtalk import DingTalkSandbox
from huiliu.sandbox.kingdee import KingdeeSandbox
from huiliu.service import TEMPLATES
from huiliu.store.codec import to_jsonable

ENV = os.environ
app = Celery("hl_baseline", broker=ENV.get("HL_BROKER", "amqp://guest:guest@127.0.0.1:5672//"))
app.conf.update(task_acks_late=True, task_ignore_result=True, worker_prefetch_multiplier=4,
                task_default_queue=ENV.get("HL_QUEUE", "hl-baseline"), broker_connection_retry_on_startup=True,
                worker_hijack_root_logger=False)
_state: dict[str, Any] = {}
KD_STUB = "/k3cloud/Kingdee.BOS.WebApi.ServicesStub."


def _session() -> requests.Session:
    if "http" not in _state:
        _state["http"] = requests.Session()
        _state["flow"] = load_flow(TEMPLATES / "expense_claim_voucher.yaml")
        company = make_company(int(ENV["HL_SEED"]))
        _state["people"] = {e.oa_user_id: e for e in company.employees}
        _state["depts"] = {d.number: d for d in company.departments}
    session: requests.Session = _state["http"]
    return session


def _ding_token() -> str:
    if "token" not in _state:
        reply = _session().post(f"{ENV['HL_DING']}/v1.0/oauth2/accessToken",
                                json={"appKey": ENV["HL_APP_KEY"], "appSecret": ENV["HL_APP_SECRET"]}, timeout=10)
        _state["token"] = reply.json()["accessToken"]
    token: str = _state["token"]
    return token


def _kd(service: str, body: dict[str, Any]) -> Any:
    if "kd_login" not in _state:
        _session().post(f"{ENV['HL_KD']}{KD_STUB}AuthService.ValidateUser.common.kdsvc", timeout=10,
                        json={"format": 1, "useragent": "ApiClient", "rid": {}, "timestamp": "2026-11-25", "v": "1.0",
                              "parameters": ["HL001", "huiliu", ENV["HL_KD_PASSWORD"], 2052]})
        _state["kd_login"] = True
    return _session().post(f"{ENV['HL_KD']}{KD_STUB}DynamicFormService.{service}.common.kdsvc",
                           json=body, timeout=10).json()


def _lookup(entity: str, system: str, key: str) -> dict[str, Any] | None:
    person = _state["people"].get(key)
    if person is None:
        return None
    return {"number": person.number, "name": person.name, "department_number": person.department_number,
            "department_name": _state["depts"][person.department_number].name, "cost_center": None,
            "erp_user": person.erp_user}


@app.task(name="hl_baseline.process_claim", bind=True, max_retries=5, default_retry_delay=0.5)  # type: ignore[untyped-decorator]
def process_claim(self: Any, instance_id: str) -> None:
    """Re-read the instance, build the voucher, save/submit/audit it, write the number back."""
    try:
        session = _session()
        raw = session.get(f"{ENV['HL_DING']}/v1.0/workflow/processInstances",
                          params={"processInstanceId": instance_id},
                          headers={"x-acs-dingtalk-access-token": _ding_token()}, timeout=10).json()["result"]
        instance = to_jsonable(to_instance(raw, instance_id, process_code="PROC-EXPENSE"))
        context = {"event": {}, "instance": instance, "form": instance["form"],
                   "reference": instance["business_id"], "steps": {}, "cursor": 0}
        step = advance(_state["flow"], context, _lookup)
        assert step.effect is not None
        settings = KingdeeSettings(base_url=ENV["HL_KD"], acct_id="HL001", username="huiliu",
                                   password=ENV["HL_KD_PASSWORD"])
        model = voucher_model(step.effect.request["voucher"], f"CB{instance_id[:20]}", settings)
        saved = _kd("Save", {"formid": "GL_VOUCHER", "data": {"Model": model}})["Result"]
        for service in ("Submit", "Audit"):
            _kd(service, {"formid": "GL_VOUCHER", "data": {"Ids": str(saved["Id"])}})
        session.post(f"{ENV['HL_DING']}/v1.0/workflow/processInstances/comments",
                     headers={"x-acs-dingtalk-access-token": _ding_token()}, timeout=10,
                     json={"processInstanceId": instance_id, "commentUserId": "manager",
                           "text": f"已生成金蝶凭证 {saved['Number']}"})
    except requests.RequestException as exc:
        raise self.retry(exc=exc) from exc


async def run(claims: int, concurrency: int) -> float:
    """Play ``claims`` approved claims through the Celery pipeline; returns approvals/s."""
    seed, queue = 3, f"hl-baseline-{secrets.token_hex(4)}"
    company = make_company(seed)
    aes = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(43))
    ding = DingTalkSandbox(app_key="dingbase", app_secret="s3cret", corp_id="c", callback_token="tok", aes_key=aes,
                           company=company)
    kd = KingdeeSandbox(acct_id="HL001", username="huiliu", password="pw", company=company)
    codec = CallbackCodec(DingTalkSettings(base_url="http://unused", app_key="dingbase", app_secret="s3cret",
                                           corp_id="c", callback_token="tok", aes_key=aes,
                                           writeback_user_id="manager"), SystemClock())
    os.environ["HL_QUEUE"] = queue
    app.conf.task_default_queue = queue
    loop = asyncio.get_running_loop()

    async def webhook(request: web.Request) -> web.Response:
        event = codec.open(dict(request.query), await request.read())
        if event.get("EventType") == "bpms_instance_change" and event.get("type") == "finish" \
                and event.get("result") == "agree":
            await loop.run_in_executor(None, process_claim.delay, event["processInstanceId"])
        return web.json_response(codec.reply("success"))

    receiver = web.Application()
    receiver.router.add_post("/callback", webhook)
    async with SandboxServer(ding.app) as ding_srv, SandboxServer(kd.app) as kd_srv, \
            SandboxServer(receiver) as recv_srv:
        ding.subscribe(f"{recv_srv.url}/callback")
        await ding.start_delivery()
        env = {**os.environ, "HL_DING": ding_srv.url, "HL_KD": kd_srv.url, "HL_APP_KEY": "dingbase",
               "HL_APP_SECRET": "s3cret", "HL_KD_PASSWORD": "pw", "HL_SEED": str(seed), "HL_QUEUE": queue,
               "PYTHONPATH": str(Path(__file__).parent)}
        with open(os.environ.get("HL_WORKER_LOG", os.devnull), "wb") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "celery_baseline", "worker", "-Q", queue, "--pool", "prefork",
                 "--concurrency", str(concurrency), "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
                 "--without-heartbeat"], env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                await asyncio.sleep(3)  # let the worker connect
                started = time.perf_counter()
                for i in range(claims):
                    instance_id = ding.start_claim(company.claim(approve_rate=1.0))
                    ding.finish(instance_id, "approved")
                    if i % 100 == 99:
                        await asyncio.sleep(0)
                while ding.comments < claims and time.perf_counter() - started < 600:
                    await asyncio.sleep(0.05)
                elapsed = time.perf_counter() - started
                assert ding.comments == claims, f"only {ding.comments} of {claims} written back"
                assert kd.count() == claims
            finally:
                worker.terminate()
                worker.wait(30)
                await ding.stop_delivery()
                with app.connection_for_write() as conn:
                    conn.default_channel.queue_delete(queue)
    return claims / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--claims", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=8, help="Celery prefork processes")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    import e2e  # noqa: PLC0415 - the huiliu side of the same run

    rate = asyncio.run(run(args.claims, args.concurrency))
    with tempfile.TemporaryDirectory() as tmp:
        hub = asyncio.run(e2e.run(args.claims, "FULL", 32, f"sqlite:///{Path(tmp) / 'b.db'}", 0.0, "db"))
    print(f"celery+rabbitmq (prefork {args.concurrency}): {rate:.1f} approvals/s")
    print(f"huiliu embedded (SQLite FULL, one process): {hub.throughput:.1f} approvals/s")
    print(f"ratio huiliu / celery: {hub.throughput / rate:.2f}")


if __name__ == "__main__":
    main()
