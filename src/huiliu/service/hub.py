"""The hub: everything one process needs, wired from the settings.

``Hub.open()`` migrates the database, opens the HTTP session, builds the connectors and their actions,
and loads the flows (validated against those actions). ``Hub.worker()`` gives a worker over the three
topics, ``Hub.catch_up()`` the poller of the OAs; ``Hub.accept()`` is what the webhooks call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import aiohttp
import aiormq
import nats.errors

from huiliu.bus import DbTransport, DeadLetters, EventLog, Inbox, Outbox
from huiliu.bus.transports import BrokerLink, NatsLink, RabbitLink, RelayedTransport
from huiliu.connectors import ActionRegistry, HttpClient, erpnext, kingdee, odoo, sap, tryton, yonyou
from huiliu.connectors import dingtalk as dingtalk_connector
from huiliu.connectors import feishu as feishu_connector
from huiliu.connectors import files as files_connector
from huiliu.connectors import soap as soap_connector
from huiliu.connectors import sql as sql_connector
from huiliu.connectors import wecom as wecom_connector
from huiliu.crosswalk import Crosswalk, MasterData
from huiliu.errors import ConfigError, NotFound
from huiliu.flows import Flow, load_flows
from huiliu.i18n import t
from huiliu.identity import DirectorySync, SyncReport
from huiliu.model import Clock, SystemClock
from huiliu.service.budgets import BUDGET_ACTIONS, BudgetActions
from huiliu.service.calls import observe
from huiliu.service.catchup import CatchUp
from huiliu.service.changefeed import ChangeFeed
from huiliu.service.faultpoints import FaultPoints
from huiliu.service.flowcatalog import FlowCatalog
from huiliu.service.handlers import CALLBACK_TOPIC, CallbackHandler, EffectHandler, Handler, Parts, RunHandler
from huiliu.service.hubactions import HUB_ACTIONS, HubActions
from huiliu.service.runs import EFFECT_TOPIC, RUN_TOPIC, Redrive, RunStore
from huiliu.service.scheduler import Scheduler, start_manually
from huiliu.service.settings import Settings
from huiliu.service.sources import DingTalkSource, FeishuSource, OaSource, Trigger, WeComSource
from huiliu.service.vouchermerge import MERGE_ACTIONS, VoucherMerge
from huiliu.service.worker import Worker
from huiliu.store import Database

__all__ = ["SHIPPED_ACTIONS", "TEMPLATES", "CallbackOutcome", "Hub"]

log = logging.getLogger("huiliu.hub")

TEMPLATES = Path(__file__).resolve().parent.parent / "flows" / "templates"
"""The shipped flow templates."""

ERP_CONNECTORS: dict[str, tuple[Callable[[Any, HttpClient], Any], Callable[[ActionRegistry, Any, Any], None]]] = {
    "kingdee": (kingdee.KingdeeClient, kingdee.register_actions),
    "tryton": (tryton.TrytonClient, tryton.register_actions),
    "odoo": (odoo.OdooClient, odoo.register_actions),
    "erpnext": (erpnext.ErpnextClient, erpnext.register_actions),
    "yonyou": (yonyou.YonyouClient, yonyou.register_actions),
    "sap": (sap.SapClient, sap.register_actions),
}
"""ERP name (also its settings field) → (client class, action registration). Each is built the same way."""


def _action_names(system: str, module: ModuleType) -> set[str]:
    """A connector's action names: its exported constants whose value is ``<system>.<entity>.<verb>``."""
    values = (getattr(module, name) for name in module.__all__ if name.isupper())
    return {v for v in values if isinstance(v, str) and v.startswith(f"{system}.") and " " not in v}


SHIPPED_ACTIONS = frozenset().union(*(_action_names(name, module) for name, module in (
    ("dingtalk", dingtalk_connector), ("wecom", wecom_connector), ("feishu", feishu_connector),
    ("kingdee", kingdee), ("tryton", tryton), ("odoo", odoo), ("erpnext", erpnext), ("yonyou", yonyou),
    ("sap", sap), ("sql", sql_connector), ("soap", soap_connector), ("files", files_connector))), HUB_ACTIONS,
    BUDGET_ACTIONS, MERGE_ACTIONS)
"""The actions the shipped connectors provide; ``flow validate`` checks against them without connecting."""

CallbackOutcome = Literal["stored", "duplicate", "logged", "ignored", "check_url"]


class Hub:
    """One hub process's parts."""

    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.db = Database(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
        self.transport = self._transport(settings)
        self.inbox = Inbox(self.clock)
        self.outbox = Outbox(self.clock)
        self.eventlog = EventLog(self.clock)
        self.crosswalk = Crosswalk(self.clock)
        self.masterdata = MasterData(self.crosswalk)
        self.deadletters = DeadLetters(self.db, self.transport, self.eventlog, self.clock,
                                       vendor_fields={kingdee.VOUCHER_CREATE: kingdee.VOUCHER_FIELDS})
        self.faults = FaultPoints(settings.crash_at, settings.pause_at)
        self.actions = ActionRegistry()
        HubActions(self).register(self.actions)  # alerts, directory sync, re-drives, reconciliation
        BudgetActions(self).register(self.actions)  # project budgets and their check against ERP actuals
        VoucherMerge(self).register(self.actions)  # many approvals → one voucher per day and department
        self.catalog = FlowCatalog(self.db, self.clock, self._load_flows, self._flows_signature)
        self.flows: list[Flow] = self.catalog.current
        """The flows in force (the catalog's own list: a reload is seen by every holder)."""
        self._session: aiohttp.ClientSession | None = None
        self.dingtalk: dingtalk_connector.DingTalkClient | None = None
        self.callback_codec: dingtalk_connector.CallbackCodec | None = None
        self.wecom: wecom_connector.WeComClient | None = None
        self.wecom_codec: wecom_connector.CallbackCodec | None = None
        self.feishu: feishu_connector.FeishuClient | None = None
        self.feishu_codec: feishu_connector.EventCodec | None = None
        self._dingtalk_http: HttpClient | None = None
        self.sql: sql_connector.SqlClient | None = None
        self.soap: soap_connector.SoapClient | None = None
        self.sources: dict[str, OaSource] = {}
        """The OAs approvals come from, by system name."""

    def _transport(self, settings: Settings) -> DbTransport:
        if settings.transport == "db":
            return DbTransport(self.db, self.clock)
        if not settings.broker_url:
            raise ConfigError(t(f"传输方式 {settings.transport} 需要消息代理地址", f"transport {settings.transport} "
                                "needs a broker URL"), where="HUILIU_BROKER_URL",
                              fix=t("例如 amqp://guest:guest@127.0.0.1:5672/", "e.g. amqp://guest:guest@127.0.0.1:5672/"))
        link: BrokerLink = (RabbitLink(settings.broker_url, prefix=settings.broker_prefix)
                            if settings.transport == "rabbitmq"
                            else NatsLink(settings.broker_url, prefix=settings.broker_prefix,
                                          ack_wait=settings.lease_seconds))
        return RelayedTransport(self.db, link, clock=self.clock, redeliver_after=settings.lease_seconds * 2)

    async def open(self, *, consume: bool = True) -> None:
        """Migrate, connect, load flows. Raises :class:`ConfigError` on bad configuration.

        Args:
            consume: whether this process takes work from the broker (a worker) or only publishes
                (``serve --no-worker``). Irrelevant for the database transport.
        """
        self.db.migrate()
        if isinstance(self.transport, RelayedTransport):
            self.transport.topics = [EFFECT_TOPIC, RUN_TOPIC, CALLBACK_TOPIC] if consume else []
            try:
                await asyncio.wait_for(self.transport.start(), timeout=15)
            except (OSError, TimeoutError, aiormq.exceptions.AMQPError, nats.errors.Error) as exc:
                raise ConfigError(
                    t(f"无法连接消息代理：{type(exc).__name__}", f"cannot reach the broker: {type(exc).__name__}"),
                    where="HUILIU_BROKER_URL",
                    fix=t("检查消息代理是否已启动、地址、端口与账号", "check that the broker runs, and its address, "
                          "port and credentials")) from exc
        connector = aiohttp.TCPConnector(limit=256, limit_per_host=128)
        self._session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())
        timeout = self.settings.http_timeout
        if self.settings.dingtalk is not None:
            http = HttpClient("dingtalk", self._session, timeout=timeout, observer=observe, clock=self.clock)
            self.dingtalk = dingtalk_connector.DingTalkClient(self.settings.dingtalk, http, self.clock)
            self._dingtalk_http = http
            self.callback_codec = dingtalk_connector.CallbackCodec(self.settings.dingtalk, self.clock)
            dingtalk_connector.register_actions(self.actions, self.dingtalk, self.settings.dingtalk, self.clock)
            self.sources["dingtalk"] = DingTalkSource(self.dingtalk, self.settings.dingtalk)
        if self.settings.wecom is not None:
            http = HttpClient("wecom", self._session, timeout=timeout, observer=observe, clock=self.clock)
            self.wecom = wecom_connector.WeComClient(self.settings.wecom, http, self.clock)
            self.wecom_codec = wecom_connector.CallbackCodec(self.settings.wecom, self.clock)
            wecom_connector.register_actions(self.actions, self.wecom, self.settings.wecom)
            self.sources["wecom"] = WeComSource(self.wecom, self.settings.wecom)
        if self.settings.feishu is not None:
            http = HttpClient("feishu", self._session, timeout=timeout, observer=observe, clock=self.clock)
            self.feishu = feishu_connector.FeishuClient(self.settings.feishu, http, self.clock)
            self.feishu_codec = feishu_connector.EventCodec(self.settings.feishu, self.clock)
            feishu_connector.register_actions(self.actions, self.feishu, self.settings.feishu, self.clock)
            self.sources["feishu"] = FeishuSource(self.feishu, self.settings.feishu)
        if self.settings.sql is not None:
            self.sql = sql_connector.SqlClient(self.settings.sql)
            await self.sql.check()  # a renamed column or table is a clear error at start, not silence later
            sql_connector.register_actions(self.actions, self.sql)
        if self.settings.soap is not None:
            self.soap = await soap_connector.SoapClient.open(self.settings.soap, observer=observe, clock=self.clock)
            soap_connector.register_actions(self.actions, self.soap, self.settings.soap)
        if self.settings.files is not None:
            files_connector.register_actions(self.actions, self.settings.files)
        for name, (client_class, register) in ERP_CONNECTORS.items():
            erp = getattr(self.settings, name)
            if erp is not None:
                http = HttpClient(name, self._session, timeout=getattr(erp, "timeout", timeout), observer=observe,
                                  clock=self.clock)
                register(self.actions, client_class(erp, http), erp)
        self.catalog.load()

    def _flows_signature(self) -> object:
        directory = self.settings.flows_dir or TEMPLATES
        try:
            return tuple(sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in directory.iterdir()
                                if p.suffix in (".yaml", ".yml")))
        except OSError:
            return None

    async def watch_flows(self, stop: asyncio.Event) -> None:
        """Reload the flow files when they change, until ``stop`` (new versions apply to new runs)."""
        interval = self.settings.flows_reload_interval
        while interval > 0 and not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
            if not stop.is_set():
                self.catalog.reload_if_changed()

    def _load_flows(self) -> list[Flow]:
        """The flow directory's flows, every action checked against the configured connectors.

        Without ``flows_dir`` the shipped templates are used, and those whose connectors are not configured
        (a Tryton template on a Kingdee installation) are left out and logged: not an error.
        """
        directory = self.settings.flows_dir
        if directory is None:
            shipped = load_flows(TEMPLATES, known_actions=SHIPPED_ACTIONS)
            usable = [f for f in shipped if f.actions <= self.actions.names()]
            for flow in shipped:
                if flow not in usable:
                    log.info("template %s not loaded: needs %s", flow.id,
                             ", ".join(sorted(flow.actions - self.actions.names())))
            return usable
        if not directory.is_dir():
            raise ConfigError(t(f"流程目录不存在：{directory}", f"flow directory not found: {directory}"),
                              where="HUILIU_FLOWS_DIR", fix=t("指向含 .yaml 流程文件的目录",
                                                             "point it at a directory of .yaml flow files"))
        return load_flows(directory, known_actions=self.actions.names())

    async def close(self) -> None:
        """Close connections."""
        await self.transport.close()
        if self.soap is not None:
            await self.soap.aclose()
            self.soap = None
        if self.sql is not None:
            self.sql.dispose()
            self.sql = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        self.db.dispose()

    def runs(self) -> RunStore:
        """Runs of the flows loaded now."""
        return RunStore(flows=self.catalog, transport=self.transport, outbox=self.outbox,
                        eventlog=self.eventlog, masterdata=self.masterdata, clock=self.clock, inbox=self.inbox)

    def redrive(self, flow_id: str, *, since: datetime, until: datetime) -> Redrive:
        """Re-drive a flow over the envelopes received in ``[since, until)`` (after a fix); idempotent."""
        flow = next((f for f in self.flows if f.id == flow_id), None)
        if flow is None:
            known = ", ".join(f.id for f in self.flows) or "（无）"
            raise NotFound(t(f"流程 {flow_id} 未加载", f"flow {flow_id} is not loaded"), where="flow",
                           fix=t(f"已加载的流程：{known}", f"loaded flows: {known}"))
        if until <= since:
            raise ConfigError(t("时间段无效：截止时间须晚于起始时间", "empty time range: until must be after since"),
                              where="since/until", fix=t("例如 --since 2026-11-01 --until 2026-11-02",
                                                         "e.g. --since 2026-11-01 --until 2026-11-02"))
        with self.db.begin() as conn:
            return self.runs().redrive(conn, flow, since=since, until=until)

    def parts(self) -> Parts:
        """What handlers and feeds write with: the database, the bus pieces, the runs."""
        return Parts(db=self.db, transport=self.transport, inbox=self.inbox, outbox=self.outbox,
                     eventlog=self.eventlog, crosswalk=self.crosswalk, runs=self.runs(), clock=self.clock)

    def change_feed(self) -> ChangeFeed | None:
        """The SQL sources' changes as events, when a SQL connector with sources is configured."""
        if self.sql is None or not self.sql.settings.sources:
            return None
        return ChangeFeed(self.parts(), self.flows, self.sql, sql_connector.WatermarkStore(self.db, self.clock),
                          self.settings.sql_poll_interval)

    def worker(self, owner: str | None = None) -> Worker:
        """A worker over the callback, run and effect topics."""
        parts = self.parts()
        handlers: dict[str, Handler] = {
            RUN_TOPIC: RunHandler(parts),
            EFFECT_TOPIC: EffectHandler(parts, actions=self.actions, faults=self.faults),
        }
        if self.sources:
            handlers[CALLBACK_TOPIC] = CallbackHandler(parts, flows=self.flows, sources=self.sources)
        s = self.settings
        return Worker(db=self.db, transport=self.transport, handlers=handlers, policy=s.retry.policy(),
                      eventlog=self.eventlog, concurrency=s.worker_concurrency, lease=s.lease_seconds,
                      poll_interval=s.poll_interval, owner=owner, long_transaction_alarm=s.long_transaction_alarm)

    async def work(self, stop: asyncio.Event) -> None:
        """Run a worker, the scheduler, and the catch-up poller when enabled, until ``stop`` is set."""
        worker = self.worker()
        tasks = [asyncio.create_task(worker.run(stop)), asyncio.create_task(self.watch_flows(stop))]
        if self.settings.catch_up.enabled and self.sources:
            tasks.append(asyncio.create_task(self.catch_up(worker.owner).run(stop)))
        feed = self.change_feed()
        if feed is not None:
            tasks.append(asyncio.create_task(feed.run(stop)))
        if self.settings.schedules:
            tasks.append(asyncio.create_task(self.scheduler().run(stop)))
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()

    def scheduler(self) -> Scheduler:
        """Starts the flows whose trigger is a ``schedule`` (every worker runs one; each fire starts once)."""
        return Scheduler(self.parts(), lambda: self.flows, interval=self.settings.schedule_interval)

    def start_flow(self, flow_id: str, *, key: str | None = None, inputs: Mapping[str, Any] | None = None,
                   actor: str = "cli") -> tuple[str, bool]:
        """Start a ``manual: true`` flow; see :func:`start_manually`."""
        return start_manually(self.parts(), self.flows, flow_id, key=key, inputs=inputs, actor=actor)

    async def sync_directory(self, system: str) -> SyncReport:
        """Read ``system``'s whole directory and apply it to the golden data and crosswalk (one transaction).

        Raises:
            ConfigError: the OA is not configured, or its directory cannot be read by this version.
        """
        if system == "dingtalk" and self.dingtalk is not None:
            units, users = await dingtalk_connector.read_directory(self.dingtalk)
        elif system == "wecom" and self.wecom is not None:
            units, users = await wecom_connector.read_directory(self.wecom)
        elif system == "feishu" and self.feishu is not None:
            units, users = await feishu_connector.read_directory(self.feishu)
        else:
            configured = ", ".join(self.sources) or "（无）"
            raise ConfigError(t(f"无法同步 {system} 的通讯录：该 OA 未配置",
                                f"cannot sync the {system} directory: that OA is not configured"), where="--oa",
                              fix=t(f"已配置的 OA：{configured}", f"configured OAs: {configured}"))
        sync = DirectorySync(self.crosswalk, self.eventlog, self.clock)
        with self.db.begin() as conn:
            return sync.apply(conn, system, units, users, complete=True)

    def wants_stream(self) -> bool:
        """Whether DingTalk events come over a Stream connection this process must open."""
        return self.settings.dingtalk is not None and self.settings.dingtalk.delivery == "stream"

    async def receive_stream(self, stop: asyncio.Event) -> dingtalk_connector.StreamReceiver:
        """Receive DingTalk events over Stream until ``stop`` (the ``serve`` process does this)."""
        if self.settings.dingtalk is None or self._dingtalk_http is None or self._session is None:
            raise ConfigError(t("钉钉 Stream 需要已配置并已打开的钉钉连接器", "DingTalk Stream needs the DingTalk "
                                "connector configured and the hub opened"), where="HUILIU_DINGTALK__*",
                              fix=t("先设置钉钉连接器，再调用 Hub.open()", "configure DingTalk, then call Hub.open()"))

        async def store(event: dict[str, Any]) -> None:
            self.accept_callback(event, self.clock.now())

        receiver = dingtalk_connector.StreamReceiver(self.settings.dingtalk, self._dingtalk_http, self._session,
                                                     store)
        await receiver.run(stop)
        return receiver

    def catch_up(self, owner: str) -> CatchUp:
        """The catch-up poller of every configured OA."""
        return CatchUp(db=self.db, transport=self.transport, eventlog=self.eventlog, clock=self.clock,
                       sources=self.sources, settings=self.settings.catch_up, owner=owner)

    def accept_callback(self, event: dict[str, Any], received_at: datetime) -> CallbackOutcome:
        """Make a decrypted DingTalk event durable; see :meth:`accept`."""
        trigger = DingTalkSource.trigger(event)
        return "check_url" if trigger is None else self.accept(trigger, received_at)

    def accept(self, trigger: Trigger, received_at: datetime) -> CallbackOutcome:
        """Make an OA event durable (invariant 1: before the vendor is acknowledged).

        Instance changes are queued for the worker (deduplicated while queued on the event's full key)
        when a loaded flow starts on the type they announce; the others, and task changes, go to the
        event log only, for process mining (a later event of the same instance, or catch-up polling,
        brings its final state).
        """
        detail = dict(trigger.detail)
        with self.db.begin() as conn:
            if trigger.task:
                self.eventlog.record(conn, case_id=trigger.instance_id, activity=trigger.activity,
                                     system=trigger.system, actor=trigger.actor, detail=detail, at=received_at)
                return "logged"
            announced = trigger.announced
            wanted = any(announced in f.trigger.events or announced in f.awaited for f in self.flows)
            if announced is not None and not wanted:
                self.eventlog.record(conn, case_id=trigger.instance_id, activity="callback.received",
                                     system=trigger.system, actor=trigger.actor, outcome="ignored", detail=detail,
                                     at=received_at)
                return "ignored"
            stored = self.transport.publish(conn, CALLBACK_TOPIC, trigger.instance_id, {
                "system": trigger.system, "instance_id": trigger.instance_id, "hint": dict(trigger.hint),
                "received_at": received_at.isoformat()}, dedupe_key=trigger.dedupe_key)
            self.eventlog.record(conn, case_id=trigger.instance_id, activity="callback.received",
                                 system=trigger.system, actor=trigger.actor,
                                 outcome="ok" if stored else "duplicate", detail=detail, at=received_at)
        return "stored" if stored else "duplicate"
