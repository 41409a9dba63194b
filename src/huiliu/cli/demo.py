"""``huiliu demo``: a company's day of expense claims through local DingTalk and Kingdee sandboxes.

One process: the two sandboxes, the hub's HTTP server (the webhook DingTalk calls back), and a worker
share one event loop and one SQLite file. The summary counts what each side saw, so the demo is also
a check: every approved claim must have exactly one audited voucher and one write-back.
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import time
from dataclasses import dataclass, field

import uvicorn
from sqlalchemy import func, select

from huiliu.connectors.dingtalk import DingTalkSettings
from huiliu.connectors.kingdee import KingdeeSettings
from huiliu.errors import ConfigError
from huiliu.i18n import Lang, t
from huiliu.sandbox import SandboxServer
from huiliu.sandbox.company import make_company
from huiliu.sandbox.dingtalk import DingTalkSandbox
from huiliu.sandbox.kingdee import KingdeeSandbox
from huiliu.service import Hub, Settings
from huiliu.store.schema import dead_letters, event_log, inbox, runs
from huiliu.web import create_app

__all__ = ["DemoSummary", "print_summary", "run_demo"]

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


@dataclass
class DemoSummary:
    """What the demo saw, on both sides."""

    claims: int = 0
    approved: int = 0
    refused: int = 0
    revoked: int = 0
    callbacks_received: int = 0
    vouchers_created: int = 0
    vouchers_audited: int = 0
    written_back: int = 0
    failed: int = 0
    dead_lettered: int = 0
    missing: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        """Approved claims turned into written-back vouchers per second."""
        return self.written_back / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        """Hub-added latency percentile (callback received → write-back done), in ms."""
        if not self.latencies_ms:
            return 0.0
        if len(self.latencies_ms) == 1:
            return self.latencies_ms[0]
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[int(q) - 1]


def _aes_key() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(43))


async def run_demo(settings: Settings, *, claims: int, seed: int, timeout: float, serve_after: bool,
                   lang: Lang) -> DemoSummary:
    """Run the demo and return its summary."""
    company = make_company(seed)
    app_key, app_secret, token, aes_key = "dingdemo" + secrets.token_hex(4), secrets.token_hex(16), \
        secrets.token_hex(8), _aes_key()
    ding = DingTalkSandbox(app_key=app_key, app_secret=app_secret, corp_id="dingcorpdemo", callback_token=token,
                           aes_key=aes_key, company=company)
    kd = KingdeeSandbox(acct_id="HL001", username="huiliu", password=secrets.token_hex(8), company=company)
    async with SandboxServer(ding.app) as ding_srv, SandboxServer(kd.app) as kd_srv:
        settings = settings.model_copy(update={
            "dingtalk": DingTalkSettings(base_url=ding_srv.url, app_key=app_key, app_secret=app_secret,
                                         corp_id="dingcorpdemo", callback_token=token, aes_key=aes_key,
                                         writeback_user_id=company.employees[0].oa_user_id or "manager"),
            "kingdee": KingdeeSettings(base_url=kd_srv.url, acct_id="HL001", username="huiliu",
                                       password=kd.password),
        })
        hub = Hub(settings)
        await hub.open()
        with hub.db.begin() as conn:
            hub.masterdata.load(conn, depts=company.departments, people=company.employees,
                                centers=company.cost_centers, oa_system="dingtalk")
        server = uvicorn.Server(uvicorn.Config(create_app(hub), host=settings.host, port=settings.port,
                                               log_level="warning", access_log=False, lifespan="off"))
        server_task = asyncio.create_task(server.serve())
        while not server.started:
            if server_task.done():
                await server_task
                raise ConfigError(t(f"HTTP 端口 {settings.port} 无法监听", f"cannot listen on {settings.port}"),
                                  where="--port", fix=t("换一个端口，或用 0 自动选择", "use another port, or 0"))
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        ding.subscribe(f"http://{settings.host}:{port}/webhooks/dingtalk")
        await ding.start_delivery()
        stop = asyncio.Event()
        worker_task = asyncio.create_task(hub.worker().run(stop))
        summary = DemoSummary(claims=claims)
        started = time.perf_counter()
        try:
            outcomes: dict[str, int] = {"approved": 0, "refused": 0, "revoked": 0}
            for i in range(claims):
                spec = company.claim()
                instance_id = ding.start_claim(spec)
                ding.finish(instance_id, spec.outcome)
                outcomes[spec.outcome] += 1
                if i % 50 == 49:
                    await asyncio.sleep(0)
            summary.approved, summary.refused, summary.revoked = (
                outcomes["approved"], outcomes["refused"], outcomes["revoked"])
            await _wait(hub, ding, expected=summary.approved, timeout=timeout)
            summary.seconds = time.perf_counter() - started
            _collect(hub, kd, summary)
            if serve_after:
                say = t(f"HTTP API 仍在运行：http://{settings.host}:{port}/api/runs（Ctrl+C 停止）",
                        f"the HTTP API keeps running on http://{settings.host}:{port}/api/runs (Ctrl+C)")
                print_summary(summary, lang)
                print(say.render(lang), flush=True)  # noqa: T201
                await server_task
        finally:
            stop.set()
            await worker_task
            await ding.stop_delivery()
            server.should_exit = True
            await server_task
            await hub.close()
    return summary


async def _wait(hub: Hub, ding: DingTalkSandbox, *, expected: int, timeout: float) -> None:
    """Until every approved claim's run has ended and the queue is empty, or the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        with hub.db.read() as conn:
            ended = conn.execute(select(func.count()).select_from(runs)
                                 .where(runs.c.status != "running")).scalar_one()
        if ended >= expected and hub.transport.pending() == 0 and ding.pending_callbacks() == 0:
            return


def _collect(hub: Hub, kd: KingdeeSandbox, summary: DemoSummary) -> None:
    with hub.db.read() as conn:
        summary.callbacks_received = conn.execute(select(func.count()).select_from(event_log).where(
            event_log.c.activity == "callback.received")).scalar_one()
        approved_envelopes = conn.execute(select(func.count()).select_from(inbox).where(
            inbox.c.type == "dingtalk.approval.approved")).scalar_one()
        summary.written_back = conn.execute(select(func.count()).select_from(runs).where(
            runs.c.status == "succeeded")).scalar_one()
        summary.failed = conn.execute(select(func.count()).select_from(runs).where(
            runs.c.status == "failed")).scalar_one()
        summary.dead_lettered = conn.execute(select(func.count()).select_from(dead_letters)).scalar_one()
        summary.latencies_ms = [float(v) for (v,) in conn.execute(select(event_log.c.duration_ms).where(
            event_log.c.activity == "run.succeeded", event_log.c.duration_ms.is_not(None))).all()]
    summary.vouchers_created = kd.count()
    summary.vouchers_audited = kd.count(status="C")
    summary.missing = max(0, summary.approved - approved_envelopes) + max(
        0, summary.approved - summary.written_back - summary.failed)


def print_summary(s: DemoSummary, lang: Lang) -> None:
    """Print the summary table."""
    rows = [
        (t("报销审批", "expense claims"), f"{s.claims}（通过 {s.approved} / 驳回 {s.refused} / 撤销 {s.revoked}）"
         if lang is Lang.ZH else f"{s.claims} (approved {s.approved} / refused {s.refused} / revoked {s.revoked})"),
        (t("收到回调", "callbacks received"), str(s.callbacks_received)),
        (t("生成凭证（金蝶）", "vouchers created (Kingdee)"), f"{s.vouchers_created}"),
        (t("已审核凭证", "vouchers audited"), f"{s.vouchers_audited}"),
        (t("已回写钉钉", "written back to DingTalk"), str(s.written_back)),
        (t("失败", "failed"), str(s.failed)),
        (t("死信", "dead letters"), str(s.dead_lettered)),
        (t("耗时", "elapsed"), f"{s.seconds:.2f} s"),
        (t("吞吐", "throughput"), f"{s.throughput:.1f} /s"),
        (t("中枢附加延迟 p50 / p99", "hub-added latency p50 / p99"),
         f"{s.percentile(50):.0f} ms / {s.percentile(99):.0f} ms"),
    ]
    width = max(len(label.render(lang)) for label, _ in rows) + 2
    print(t("── 汇流演示结果 ──", "── huiliu demo summary ──").render(lang))  # noqa: T201
    for label, value in rows:
        print(f"  {label.render(lang):<{width}}{value}")  # noqa: T201
