"""Settings, read once at the entry point (``HUILIU_`` environment variables) and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from huiliu.bus import RetryPolicy
from huiliu.connectors.dingtalk import DingTalkSettings
from huiliu.connectors.erpnext import ErpnextSettings
from huiliu.connectors.feishu import FeishuSettings
from huiliu.connectors.files import FilesSettings
from huiliu.connectors.kingdee import KingdeeSettings
from huiliu.connectors.odoo import OdooSettings
from huiliu.connectors.sap import SapSettings
from huiliu.connectors.soap import SoapSettings
from huiliu.connectors.sql import SqlSettings
from huiliu.connectors.tryton import TrytonSettings
from huiliu.connectors.wecom import WeComSettings
from huiliu.connectors.yonyou import YonyouSettings
from huiliu.i18n import Lang

__all__ = ["CatchUpSettings", "RetrySettings", "Settings"]


class RetrySettings(BaseModel):
    """The retry policy of the bus (see :class:`huiliu.bus.RetryPolicy`)."""

    model_config = ConfigDict(extra="forbid")

    initial_interval: float = Field(0.5, gt=0)
    multiplier: float = Field(2.0, ge=1)
    max_interval: float = Field(60.0, gt=0)
    max_attempts: int = Field(8, ge=1)
    jitter: float = Field(0.5, ge=0, le=1)

    def policy(self) -> RetryPolicy:
        """Build the policy."""
        return RetryPolicy(self.initial_interval, self.multiplier, self.max_interval, self.max_attempts,
                           self.jitter)


class CatchUpSettings(BaseModel):
    """Catch-up polling: finds approvals whose callback never came, by listing the OA's instances.

    Callbacks are lost in an outage, to a disabled URL, or never sent (WeCom without an event server).
    The OAs list by *submit* time, so each poll lists from ``lookback`` before the previous poll's end
    (kept as a high-water mark in the database) to now: an approval open longer than ``lookback`` that
    finishes during an outage is found only by its callback or a poll started by hand with a longer
    lookback. Instances the hub already holds in a final state are not read again.
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    interval: float = Field(300.0, gt=0)
    """Seconds between polls (mind the vendors' rate limits: each poll pages through the lookback)."""
    lookback: float = Field(7 * 86400.0, gt=0)
    """Seconds before the previous poll's end that each poll reaches back (approvals open that long)."""
    first_lookback: float = Field(86400.0, gt=0)
    """How far back the very first poll of an OA reaches."""
    lease: float = Field(600.0, gt=0)
    """One process polls each OA at a time; another takes over when this many seconds pass unrenewed."""


class Settings(BaseSettings):
    """Everything a hub process needs. ``HUILIU_DINGTALK__APP_KEY`` sets ``dingtalk.app_key``, etc."""

    model_config = SettingsConfigDict(env_prefix="HUILIU_", env_nested_delimiter="__", extra="forbid")

    database_url: str = "sqlite:///huiliu.db"
    transport: Literal["db", "rabbitmq", "nats"] = "db"
    """How work moves between processes: the database itself, or RabbitMQ / NATS JetStream in front of it."""
    broker_url: str | None = None
    """The broker's URL when ``transport`` is not ``db``: ``amqp://guest:guest@127.0.0.1:5672/``, ``nats://127.0.0.1:4222``."""
    broker_prefix: str = Field("huiliu", pattern=r"^[A-Za-z0-9_.-]{1,60}$")
    """Names of the broker's exchange and queues; one per hub installation sharing a broker."""
    sqlite_synchronous: str = "FULL"
    flows_dir: Path | None = None
    """Directory of flow files; the shipped templates when unset."""
    flows_reload_interval: float = Field(2.0, ge=0)
    """Seconds between looks at the flow directory (hot reload); 0 turns it off."""
    schedule_interval: float = Field(1.0, gt=0)
    """Seconds between looks at the scheduled flows: a fire starts at most this late."""
    schedules: bool = True
    """Whether this process's worker starts scheduled flows (any number of workers may: each fire starts once)."""
    lang: Lang = Lang.ZH
    timezone: str = "Asia/Shanghai"
    """The hub's business day (the console's "today", its daily and hourly figures): an IANA zone name."""
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    worker_concurrency: int = Field(32, ge=1, le=1024)
    lease_seconds: float = Field(30.0, gt=0)
    poll_interval: float = Field(0.2, gt=0)
    http_timeout: float = Field(10.0, gt=0)
    long_transaction_alarm: float = Field(60.0, gt=0)
    """Seconds after which an open transaction on the database is reported (``/api/health``, logs)."""
    retry: RetrySettings = Field(default_factory=RetrySettings)
    catch_up: CatchUpSettings = Field(default_factory=CatchUpSettings)
    dingtalk: DingTalkSettings | None = None
    wecom: WeComSettings | None = None
    feishu: FeishuSettings | None = None
    kingdee: KingdeeSettings | None = None
    tryton: TrytonSettings | None = None
    odoo: OdooSettings | None = None
    erpnext: ErpnextSettings | None = None
    yonyou: YonyouSettings | None = None
    sap: SapSettings | None = None
    sql: SqlSettings | None = None
    """An ERP reached through its database or intermediate tables: actions, and its changes as events."""
    sql_poll_interval: float = Field(10.0, gt=0)
    """Seconds between reads of the SQL sources' changes."""
    soap: SoapSettings | None = None
    files: FilesSettings | None = None
    crash_at: list[str] = Field(default_factory=list)
    """Fault points at which the process kills itself with SIGKILL (crash tests only)."""
    pause_at: list[str] = Field(default_factory=list)
    """Fault points at which the process stops itself with SIGSTOP (fencing tests only)."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (e.g. Asia/Shanghai)") from None
        return value
