"""``huiliu demo``: a company's day of expense claims through a local OA sandbox and Kingdee's.

One process: the OA sandbox (DingTalk, WeCom or Feishu), the Kingdee sandbox, the hub's HTTP server
(the webhook the OA calls back), and a worker share one event loop and one SQLite file. The summary
counts what each side saw, so the demo is also a check: every approved claim must have exactly one
audited voucher and one finished run (with a write-back comment in DingTalk).

With ``mistakes`` the day also has claims finance must fix: their 培训费 line is booked to an account
Kingdee's chart does not have, Kingdee refuses the voucher naming ``FACCOUNTID``, and each becomes a dead
letter a person corrects (``huiliu deadletters show`` / ``correct``) and re-pushes.
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import uvicorn
from sqlalchemy import func, select

from huiliu.connectors.dingtalk import DingTalkSettings
from huiliu.connectors.feishu import FeishuSettings
from huiliu.connectors.kingdee import KingdeeSettings
from huiliu.connectors.tryton import TrytonSettings
from huiliu.connectors.wecom import WeComSettings
from huiliu.errors import ConfigError
from huiliu.i18n import Lang, t
from huiliu.identity.accounts import Accounts
from huiliu.sandbox import SandboxServer
from huiliu.sandbox.company import (
    ClaimSpec,
    ContractSpec,
    ExpenseItem,
    PaymentSpec,
    RequisitionSpec,
    make_company,
)
from huiliu.sandbox.dingtalk import CONTRACT_PROCESS_CODE, PAYMENT_PROCESS_CODE, DingTalkSandbox
from huiliu.sandbox.feishu import (
    CLAIM_APPROVAL_CODE,
    CONTRACT_APPROVAL_CODE,
    PAYMENT_APPROVAL_CODE,
    PURCHASE_APPROVAL_CODE,
    FeishuSandbox,
)
from huiliu.sandbox.kingdee import KingdeeSandbox
from huiliu.sandbox.wecom import WeComSandbox
from huiliu.service import Hub, Settings
from huiliu.store.schema import dead_letters, event_log, inbox, runs, users
from huiliu.web import create_app

__all__ = ["MISTAKE_TYPE", "OA_SYSTEMS", "DemoStack", "DemoSummary", "OaName", "collect", "print_summary",
           "run_demo"]

OaName = Literal["dingtalk", "wecom", "feishu"]
OA_SYSTEMS: tuple[OaName, ...] = ("dingtalk", "wecom", "feishu")

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

MISTAKE_TYPE = "培训费"
"""The expense type of the demo's mistakes: the flow books it to 6602.08, which the Kingdee sandbox's chart
then lacks (an account finance has not opened yet)."""


@dataclass
class DemoSummary:
    """What the demo saw, on both sides."""

    claims: int = 0
    approved: int = 0
    refused: int = 0
    revoked: int = 0
    callbacks_received: int = 0
    callback_retries: int = 0
    """Callback deliveries DingTalk had to repeat (no valid ``success`` within 1.5 s)."""
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


class DemoStack:
    """The sandboxes, the hub's HTTP server and a worker, in the running loop.

    Used by ``huiliu demo``, the end-to-end tests and ``bench/e2e.py``, so all three exercise the same
    wiring. ``settings`` supply the database, flows and tuning; the connector settings are filled in.
    """

    def __init__(self, settings: Settings, *, seed: int = 7, worker: bool = True,
                 ding_options: dict[str, Any] | None = None, kd_options: dict[str, Any] | None = None,
                 kingdee_settings: dict[str, Any] | None = None, oa: OaName = "dingtalk",
                 deliver: bool = True, tryton: TrytonSettings | None = None,
                 oa_options: dict[str, Any] | None = None, ding_stream: bool = False) -> None:
        self.oa: OaName = oa
        self.deliver = deliver
        self.tryton = tryton
        self.ding_stream = ding_stream
        """DingTalk delivers over a Stream connection the hub opens, instead of HTTP callbacks."""
        self._stream_task: asyncio.Task[Any] | None = None
        self._stream_stop = asyncio.Event()
        """A real Tryton ERP for the purchase flows, when the caller has one running."""
        """Whether the OA calls the hub back (``False``: an outage; only catch-up polling finds the work)."""
        self.company = make_company(seed)
        self.app_key, app_secret = "dingdemo" + secrets.token_hex(4), secrets.token_hex(16)
        token, aes_key = secrets.token_hex(8), _aes_key()
        # Instance ids differ from run to run (the company does not): an ERP that outlives one run, like a
        # real Tryton, must never see the same approval twice.
        oa_seed = secrets.randbits(31)
        self.ding = DingTalkSandbox(app_key=self.app_key, app_secret=app_secret, corp_id="dingcorpdemo",
                                    callback_token=token, aes_key=aes_key, company=self.company,
                                    **{"seed": oa_seed, **(ding_options or {})})
        kd_password = secrets.token_hex(8)
        self.kd = KingdeeSandbox(acct_id="HL001", username="huiliu", password=kd_password, company=self.company,
                                 **(kd_options or {}))
        self._ding_srv = SandboxServer(self.ding.app)
        self._kd_srv = SandboxServer(self.kd.app)
        # WeCom and Feishu, built when chosen (DingTalk always is: tests reach it by name).
        self._oa_secret = secrets.token_hex(16)
        self.wecom = WeComSandbox(corp_id="wwdemo" + secrets.token_hex(4), corp_secret=self._oa_secret,
                                  callback_token=token, encoding_aes_key=aes_key,
                                  company=self.company, **{"seed": oa_seed, **(oa_options or {})}
                                  ) if oa == "wecom" else None
        self.feishu = FeishuSandbox(app_id="cli_demo" + secrets.token_hex(4), app_secret=self._oa_secret,
                                    verification_token=token, encrypt_key=secrets.token_hex(16),
                                    company=self.company, **{"seed": oa_seed, **(oa_options or {})}
                                    ) if oa == "feishu" else None
        other = self.wecom or self.feishu
        self._oa_srv = SandboxServer(other.app) if other is not None else None
        self._secrets = (app_secret, token, aes_key, kd_password)
        self.settings = settings
        self.with_worker = worker
        self._kingdee_settings = kingdee_settings or {}
        self.hub: Hub | None = None
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._server_task: asyncio.Task[None] | None = None
        self._worker_task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    def hub_settings(self) -> Settings:
        """The hub's settings with the connectors pointed at the sandboxes."""
        app_secret, token, aes_key, kd_password = self._secrets
        extra: dict[str, Any] = {}
        if self.wecom is not None and self._oa_srv is not None:
            extra["wecom"] = WeComSettings(base_url=self._oa_srv.url, corp_id=self.wecom.corp_id,
                                           corp_secret=self._oa_secret, agent_id=self.wecom.agent_id,
                                           callback_token=token, encoding_aes_key=aes_key,
                                           employee_number_field="extattr:工号")
        if self.feishu is not None and self._oa_srv is not None:
            extra["feishu"] = FeishuSettings(base_url=self._oa_srv.url, app_id=self.feishu.app_id,
                                             app_secret=self._oa_secret, verification_token=token,
                                             encrypt_key=self.feishu.encrypt_key,
                                             approval_codes=(CLAIM_APPROVAL_CODE, PURCHASE_APPROVAL_CODE,
                                                             PAYMENT_APPROVAL_CODE, CONTRACT_APPROVAL_CODE))
        if self.tryton is not None:
            extra["tryton"] = self.tryton
        return self.settings.model_copy(update={**extra,
            "dingtalk": DingTalkSettings(base_url=self._ding_srv.url, app_key=self.app_key, app_secret=app_secret,
                                         corp_id="dingcorpdemo", callback_token=token, aes_key=aes_key,
                                         poll_process_codes=("PROC-EXPENSE", "PROC-PURCHASE", PAYMENT_PROCESS_CODE,
                                                             CONTRACT_PROCESS_CODE),
                                         delivery="stream" if self.ding_stream else "http",
                                         oapi_base_url=self._ding_srv.url,
                                         writeback_user_id=self.company.employees[0].oa_user_id or "manager"),
            "kingdee": KingdeeSettings(base_url=self._kd_srv.url, acct_id="HL001", username="huiliu",
                                       password=kd_password, **self._kingdee_settings),
        })

    async def __aenter__(self) -> DemoStack:
        await self._ding_srv.start()
        await self._kd_srv.start()
        if self._oa_srv is not None:
            await self._oa_srv.start()
        self.settings = self.hub_settings()
        hub = self.hub = Hub(self.settings)
        await hub.open()
        with hub.db.begin() as conn:
            hub.masterdata.load(conn, depts=self.company.departments, people=self.company.employees,
                                centers=self.company.cost_centers, oa_system=self.oa)
        server = self._server = uvicorn.Server(uvicorn.Config(
            create_app(hub), host=self.settings.host, port=self.settings.port, log_level="warning",
            access_log=False, lifespan="off"))
        self._server_task = asyncio.create_task(server.serve())
        while not server.started:
            if self._server_task.done():
                await self._server_task
                raise ConfigError(t(f"HTTP 端口 {self.settings.port} 无法监听",
                                    f"cannot listen on port {self.settings.port}"),
                                  where="--port", fix=t("换一个端口，或用 0 自动选择", "use another port, or 0"))
            await asyncio.sleep(0.01)
        self.port = server.servers[0].sockets[0].getsockname()[1]
        hook = f"http://{self.settings.host}:{self.port}/webhooks/{self.oa}"
        if self.feishu is not None:
            self.feishu.subscribe_approval(CLAIM_APPROVAL_CODE)
            self.feishu.subscribe_approval(PURCHASE_APPROVAL_CODE)
            self.feishu.subscribe_approval(PAYMENT_APPROVAL_CODE)
            self.feishu.subscribe_approval(CONTRACT_APPROVAL_CODE)
        if not self.deliver:
            pass
        elif self.wecom is not None:
            await self.wecom.subscribe(hook)  # the echostr handshake first, as WeCom does
            await self.wecom.start_delivery()
        elif self.feishu is not None:
            await self.feishu.subscribe(hook)  # the url_verification challenge first
            await self.feishu.start_delivery()
        elif self.ding_stream:
            self.ding.enable_stream()
            self._stream_task = asyncio.create_task(hub.receive_stream(self._stream_stop))
        else:
            self.ding.subscribe(hook)
        await self.ding.start_delivery()
        if self.with_worker:
            self.start_worker()
        return self

    def start_worker(self) -> None:
        """Start the in-process worker."""
        assert self.hub is not None
        self._stop = asyncio.Event()
        self._worker_task = asyncio.create_task(self.hub.worker().run(self._stop))

    async def stop_worker(self) -> None:
        """Stop the in-process worker after its work in flight."""
        self._stop.set()
        if self._worker_task is not None:
            await self._worker_task
            self._worker_task = None

    async def __aexit__(self, *exc: object) -> None:
        await self.stop_worker()
        if self._stream_task is not None:
            self._stream_stop.set()
            await self._stream_task
        await self.ding.stop_delivery()
        if self.wecom is not None:
            await self.wecom.stop_delivery()
        if self.feishu is not None:
            await self.feishu.stop_delivery()
        if self._server is not None and self._server_task is not None:
            self._server.should_exit = True
            await self._server_task
        if self.hub is not None:
            await self.hub.close()
        await self._kd_srv.stop()
        await self._ding_srv.stop()
        if self._oa_srv is not None:
            await self._oa_srv.stop()

    def plan_mistakes(self, n: int) -> list[ClaimSpec]:
        """``n`` approved claims Kingdee will refuse, and a chart of accounts without their account.

        Each claim has a valid 交通费 line, then a 培训费 line: the flow books 培训费 to an account taken out
        of the Kingdee sandbox's chart, so Kingdee refuses the voucher with 「第2行分录：科目“…”不存在」
        (``FACCOUNTID``, line 1). The company's other claims no longer draw 培训费 (call this before
        generating them); correcting ``voucher.lines[1].account`` to an open account lets it through.
        """
        if n <= 0:
            return []
        account = self.company.accounts.pop(MISTAKE_TYPE, "6602.08")
        self.kd.chart.pop(account, None)
        employees = self.company.employees
        return [ClaimSpec(employees[i % len(employees)], f"{employees[i % len(employees)].name}参加外部培训报销",
                          (ExpenseItem("交通费", Decimal("56.50"), "培训往返交通费"),
                           ExpenseItem(MISTAKE_TYPE, Decimal(1280 + 10 * i).quantize(Decimal("0.01")),
                                       "财务共享中心培训课程费")), "approved")
                for i in range(n)]

    def submit(self, spec: ClaimSpec) -> str:
        """Start a claim in the OA and end it as the spec says; returns the instance id."""
        instance_id = (self.wecom or self.feishu or self.ding).start_claim(spec)
        self.end(instance_id, spec.outcome)
        return instance_id

    def submit_requisition(self, spec: RequisitionSpec) -> str:
        """Start a purchase requisition in the OA and end it as the spec says; returns the instance id."""
        instance_id = (self.wecom or self.feishu or self.ding).start_requisition(spec)
        self.end(instance_id, spec.outcome)
        return instance_id

    def submit_payment(self, spec: PaymentSpec) -> str:
        """Start a payment request (付款申请) in the OA and end it as the spec says; returns the instance id."""
        instance_id = (self.wecom or self.feishu or self.ding).start_payment(spec)
        self.end(instance_id, spec.outcome)
        return instance_id

    def submit_contract(self, spec: ContractSpec) -> str:
        """Start a contract approval (合同审批) in the OA and end it as the spec says; returns the instance id."""
        instance_id = (self.wecom or self.feishu or self.ding).start_contract(spec)
        self.end(instance_id, spec.outcome)
        return instance_id

    def end(self, instance_id: str, outcome: str) -> None:
        """End a running approval in the OA: ``approved``, ``refused`` or ``revoked``."""
        if self.feishu is not None:
            {"approved": self.feishu.approve, "refused": self.feishu.reject,
             "revoked": self.feishu.cancel}[outcome](instance_id)
        else:
            (self.wecom or self.ding).finish(instance_id, outcome)

    def api_token(self, role: str = "admin") -> str:
        """An API token of a user with ``role`` (``demo-<role>``, made on first use)."""
        assert self.hub is not None
        accounts = Accounts(self.hub.clock)
        with self.hub.db.begin() as conn:
            name = f"demo-{role}"
            if conn.execute(select(users.c.id).where(users.c.name == name)).first() is None:
                accounts.add_user(conn, name, secrets.token_urlsafe(16), role)
            return accounts.create_token(conn, name, "demo")

    def console_user(self, name: str, role: str) -> str:
        """Create a console user ``name`` with ``role`` and a fresh random password, which is returned."""
        assert self.hub is not None
        password = secrets.token_urlsafe(12)
        with self.hub.db.begin() as conn:
            Accounts(self.hub.clock).add_user(conn, name, password, role)
        return password

    def api_headers(self, role: str = "admin") -> dict[str, str]:
        """``Authorization`` for the hub's API as a user with ``role``."""
        return {"Authorization": f"Bearer {self.api_token(role)}"}

    def oa_stats(self) -> tuple[int, int]:
        """The OA sandbox's callbacks (pending, failed attempts)."""
        side = self.wecom or self.feishu
        stats = side.stats if side is not None else self.ding.stats
        return stats.pending, stats.failed_attempts

    async def play(self, specs: Sequence[ClaimSpec], *, rate: float = 0.0) -> None:
        """Submit claims, ``rate`` per second (0: all at once, which measures throughput, not latency)."""
        started = time.perf_counter()
        for i, spec in enumerate(specs):
            self.submit(spec)
            if rate > 0:
                await asyncio.sleep(max(0.0, started + (i + 1) / rate - time.perf_counter()))
            elif i % 100 == 99:
                await asyncio.sleep(0)  # let the webhook answer DingTalk meanwhile

    async def settle(self, *, expected_runs: int, timeout: float = 60.0) -> bool:  # noqa: ASYNC109 - a deadline
        """Wait until ``expected_runs`` runs have ended and nothing is queued or undelivered.

        Returns ``False`` on timeout.
        """
        assert self.hub is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            await asyncio.sleep(0.02)
            with self.hub.db.read() as conn:
                ended = conn.execute(select(func.count()).select_from(runs)
                                     .where(runs.c.status.not_in(("running", "compensating")))).scalar_one()
            if ended >= expected_runs and self.hub.transport.pending() == 0 and self.oa_stats()[0] == 0:
                return True
        return False


async def run_demo(settings: Settings, *, claims: int, seed: int, timeout: float, serve_after: bool,  # noqa: ASYNC109
                   lang: Lang, rate: float = 0.0, oa: OaName = "dingtalk", mistakes: int = 0) -> DemoSummary:
    """Run the demo and return its summary; ``mistakes`` more claims end as dead letters to correct."""
    summary = DemoSummary(claims=claims + mistakes)
    async with DemoStack(settings, seed=seed, oa=oa) as stack:
        assert stack.hub is not None
        mistaken = stack.plan_mistakes(mistakes)
        specs = [stack.company.claim() for _ in range(claims)] + mistaken
        for spec in specs:
            setattr(summary, spec.outcome, getattr(summary, spec.outcome) + 1)
        started = time.perf_counter()
        await stack.play(specs, rate=rate)
        await stack.settle(expected_runs=summary.approved, timeout=timeout)
        summary.seconds = time.perf_counter() - started
        collect(stack, summary)
        if serve_after:
            print_summary(summary, lang)
            token = stack.api_token("viewer")  # the API refuses anonymous calls: a read-only token to try it
            password = stack.console_user("demo", "admin")
            site = f"http://{settings.host}:{stack.port}"
            print(t(f"控制台：{site}/console/ （用户 demo，密码 {password}，仅本次有效）；Ctrl+C 停止\n"
                    f"API（只读令牌）：curl -H 'Authorization: Bearer {token}' {site}/api/overview",
                    f"the console: {site}/console/ (user demo, password {password}, this run only); Ctrl+C "
                    f"stops it\nthe API (a read-only token): curl -H 'Authorization: Bearer {token}' "
                    f"{site}/api/overview").render(lang), flush=True)
            await asyncio.Event().wait()
    return summary


def collect(stack: DemoStack, summary: DemoSummary) -> None:
    """Fill ``summary`` from the hub's database and the Kingdee sandbox."""
    assert stack.hub is not None
    with stack.hub.db.read() as conn:
        summary.callbacks_received = conn.execute(select(func.count()).select_from(event_log).where(
            event_log.c.activity == "callback.received")).scalar_one()
        approved_envelopes = conn.execute(select(func.count()).select_from(inbox).where(
            inbox.c.type == f"{stack.oa}.approval.approved")).scalar_one()
        summary.written_back = conn.execute(select(func.count()).select_from(runs).where(
            runs.c.status == "succeeded")).scalar_one()
        summary.failed = conn.execute(select(func.count()).select_from(runs).where(
            runs.c.status == "failed")).scalar_one()
        summary.dead_lettered = conn.execute(select(func.count()).select_from(dead_letters)).scalar_one()
        summary.latencies_ms = [float(v) for (v,) in conn.execute(select(event_log.c.duration_ms).where(
            event_log.c.activity == "run.succeeded", event_log.c.duration_ms.is_not(None))).all()]
    summary.callback_retries = stack.oa_stats()[1]
    summary.vouchers_created = stack.kd.count()
    summary.vouchers_audited = sum(1 for v in stack.kd.vouchers.values() if v.status == "C")
    summary.missing = max(0, summary.approved - approved_envelopes) + max(
        0, summary.approved - summary.written_back - summary.failed)


def print_summary(s: DemoSummary, lang: Lang) -> None:
    """Print the summary table."""
    rows = [
        (t("报销审批", "expense claims"), f"{s.claims}（通过 {s.approved} / 驳回 {s.refused} / 撤销 {s.revoked}）"
         if lang is Lang.ZH else f"{s.claims} (approved {s.approved} / refused {s.refused} / revoked {s.revoked})"),
        (t("收到回调（OA 重发）", "callbacks received (redelivered)"),
         f"{s.callbacks_received}（{s.callback_retries}）" if lang is Lang.ZH
         else f"{s.callbacks_received} ({s.callback_retries})"),
        (t("生成凭证（金蝶）", "vouchers created (Kingdee)"), f"{s.vouchers_created}"),
        (t("已审核凭证", "vouchers audited"), f"{s.vouchers_audited}"),
        (t("流程完成（钉钉含评论回写）", "runs done (written back in DingTalk)"), str(s.written_back)),
        (t("失败", "failed"), str(s.failed)),
        (t("死信", "dead letters"), str(s.dead_lettered)),
        (t("耗时", "elapsed"), f"{s.seconds:.2f} s"),
        (t("吞吐", "throughput"), f"{s.throughput:.1f} /s"),
        (t("中枢附加延迟 p50 / p99", "hub-added latency p50 / p99"),
         f"{s.percentile(50):.0f} ms / {s.percentile(99):.0f} ms"),
    ]
    width = max(_display_width(label.render(lang)) for label, _ in rows) + 2
    print(t("── 汇流演示结果 ──", "── huiliu demo summary ──").render(lang))
    for label, value in rows:
        text = label.render(lang)
        print(f"  {text}{' ' * (width - _display_width(text))}{value}")


def _display_width(text: str) -> int:
    """Columns a terminal uses for ``text``: Chinese characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
