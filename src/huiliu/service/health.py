"""The connectors as an operator sees them: configured or not, their settings without secrets, and a health check.

Owns: which ``Settings`` fields are connectors (:data:`CONNECTORS`), how a connector's settings are shown
(secrets masked, passwords in URLs too), the cheapest authenticated call of each (:data:`PROBES`) and the
last result of each check, kept in memory per hub (a restart forgets them). Does not own the connectors'
clients: a check builds a fresh one from the settings, so a cached token or session cannot hide wrong
credentials. The API, the console and the CLI all ask here.
"""

from __future__ import annotations

import asyncio
import re
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from pydantic import BaseModel, SecretStr
from pydantic_core import to_jsonable_python
from sqlalchemy.exc import SQLAlchemyError

from huiliu.connectors import HttpClient, erpnext, kingdee, odoo, sap, soap, tryton, yonyou
from huiliu.connectors import dingtalk as dingtalk_connector
from huiliu.connectors import feishu as feishu_connector
from huiliu.connectors import wecom as wecom_connector
from huiliu.errors import ConnectorError, HuiliuError, NotFound
from huiliu.i18n import t
from huiliu.service.hub import Hub

__all__ = ["CHECK_TIMEOUT", "CONNECTORS", "PROBES", "configured_names", "connector_check", "connector_list"]

CONNECTORS: dict[str, str] = {
    "dingtalk": "OA", "wecom": "OA", "feishu": "OA",
    "kingdee": "ERP", "tryton": "ERP", "odoo": "ERP", "erpnext": "ERP", "yonyou": "ERP", "sap": "ERP",
    "sql": "other", "soap": "other", "files": "other",
}
"""Every connector (its ``Settings`` field) → its kind."""

CHECK_TIMEOUT = 10.0
"""Seconds a health check may take, all calls included."""


_SECRET_ANYWHERE = frozenset({"secret", "password", "passwd", "pwd", "credential", "credentials"})
_SECRET_LAST = frozenset({"token", "key", "aes", "session", "secret"})
_MASK = "***"

_last_checks: weakref.WeakKeyDictionary[Hub, dict[str, dict[str, Any]]] = weakref.WeakKeyDictionary()
"""The last health check of each connector, per hub (kept in memory: a restart forgets them)."""


def _error(exc: HuiliuError) -> dict[str, Any]:
    """An error as data: what, where and fix in both languages, plus the vendor's own words."""
    body: dict[str, Any] = {"kind": exc.kind, "message": exc.what.zh, "message_en": exc.what.en, "where": exc.where,
                            "fix": exc.fix.zh if exc.fix else None, "fix_en": exc.fix.en if exc.fix else None}
    if isinstance(exc, ConnectorError):
        body.update(vendor_code=exc.vendor_code, vendor_message=exc.vendor_message)
    return body



def _secret_name(name: str) -> bool:
    """Whether a field's name says it holds a secret: ``app_secret``, ``password``, ``aes_key``, ``api_token``."""
    parts = re.split(r"[_\-.]", name.lower())
    return any(p in _SECRET_ANYWHERE for p in parts) or parts[-1] in _SECRET_LAST


def _url_without_password(value: str) -> str:
    try:
        parts = urlsplit(value)
    except ValueError:
        return value
    if parts.password is None:
        return value
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:{_MASK}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _redact(value: Any, name: str = "") -> Any:
    """A connector's configuration for display: secrets masked, passwords in URLs too."""
    if isinstance(value, SecretStr):
        return _MASK if value.get_secret_value() else ""
    if isinstance(value, BaseModel):
        return {k: _redact(getattr(value, k), k) for k in type(value).model_fields}
    if isinstance(value, Mapping):
        return {str(k): _redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact(v) for v in value]
    if isinstance(value, str) and _secret_name(name):
        return _MASK if value else ""
    if isinstance(value, str) and "@" in value and "://" in value:
        return _url_without_password(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    return to_jsonable_python(value)


def _action_prefix(name: str, settings: Any) -> str:
    """The first part of the actions a connector registers (the SQL and SOAP ones name their system)."""
    return str(getattr(settings, "system", name)) if name in ("sql", "soap") else name


def connector_list(hub: Hub) -> list[dict[str, Any]]:
    """Each configured connector: kind, configuration without secrets, its actions, its last health check."""
    last = _last_checks.get(hub, {})
    answer = []
    for name, kind in CONNECTORS.items():
        settings = getattr(hub.settings, name)
        if settings is None:
            continue
        prefix = _action_prefix(name, settings) + "."
        answer.append({"name": name, "kind": kind, "config": _redact(settings),
                       "actions": sorted(a for a in hub.actions.names() if a.startswith(prefix)),
                       "last_check": last.get(name)})
    return answer


def _configured(hub: Hub, name: str) -> Any:
    settings = getattr(hub.settings, name, None) if name in CONNECTORS else None
    if settings is None:
        configured = ", ".join(n for n in CONNECTORS if getattr(hub.settings, n) is not None) or "（无）"
        raise NotFound(t(f"连接器 {name} 未配置", f"connector {name} is not configured"), where="name",
                       fix=t(f"已配置的连接器：{configured}", f"configured connectors: {configured}"))
    return settings


Probe = Callable[[Any, HttpClient, Hub], Awaitable[str]]


async def _dingtalk(s: Any, http: HttpClient, hub: Hub) -> str:
    await dingtalk_connector.DingTalkClient(s, http, hub.clock).access_token()
    return "accessToken"


async def _wecom(s: Any, http: HttpClient, hub: Hub) -> str:
    await wecom_connector.WeComClient(s, http, hub.clock).access_token()
    return "gettoken"


async def _feishu(s: Any, http: HttpClient, hub: Hub) -> str:
    await feishu_connector.FeishuClient(s, http, hub.clock).tenant_access_token()
    return "tenant_access_token"


async def _kingdee(s: Any, http: HttpClient, hub: Hub) -> str:
    await kingdee.KingdeeClient(s, http).login()
    return "ValidateUser"


async def _tryton(s: Any, http: HttpClient, hub: Hub) -> str:
    client = tryton.TrytonClient(s, http)
    if s.password is not None:
        await client.login()
        return "common.db.login"
    await client.execute("res.user", "get_preferences", True)
    return "res.user.get_preferences"


async def _odoo(s: Any, http: HttpClient, hub: Hub) -> str:
    await odoo.OdooClient(s, http).search("res.company", [], limit=1)
    return "res.company.search"


async def _erpnext(s: Any, http: HttpClient, hub: Hub) -> str:
    await erpnext.ErpnextClient(s, http).get_list("Company", limit=1)
    return "Company.list"


async def _yonyou(s: Any, http: HttpClient, hub: Hub) -> str:
    await yonyou.YonyouClient(s, http).token()
    return "getAccessToken"


async def _sap(s: Any, http: HttpClient, hub: Hub) -> str:
    await sap.SapClient(s, http).get(s.partner_service, s.partner_entity, "check", {"$top": "1"})
    return f"{s.partner_entity}?$top=1"


async def _sql(s: Any, http: HttpClient, hub: Hub) -> str:
    if hub.sql is None:
        raise HuiliuError(t("SQL 连接器未打开", "the SQL connector is not open"), where="sql",
                          fix=t("在运行 Hub.open() 的进程里检查", "check in a process that ran Hub.open()"))
    await hub.sql.check()
    return "reflect tables"


async def _soap(s: Any, http: HttpClient, hub: Hub) -> str:
    client = await soap.SoapClient.open(s)
    await client.aclose()
    return "WSDL"


async def _files(s: Any, http: HttpClient, hub: Hub) -> str:
    return await asyncio.to_thread(_files_writable, Path(s.root))


def _files_writable(root: Path) -> str:
    if not root.is_dir():
        raise HuiliuError(t(f"文件目录不存在：{root}", f"the files directory does not exist: {root}"),
                          where="files.root", fix=t("创建该目录或修改 root", "create it or change root"))
    probe = root / f".huiliu-check-{time.monotonic_ns()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise HuiliuError(t(f"文件目录不可写：{exc.strerror}", f"the files directory is not writable: {exc.strerror}"),
                          where="files.root", fix=t("检查目录权限", "check the directory's permissions")) from exc
    return "write root"


PROBES: dict[str, Probe] = {"dingtalk": _dingtalk, "wecom": _wecom, "feishu": _feishu, "kingdee": _kingdee,
                            "tryton": _tryton, "odoo": _odoo, "erpnext": _erpnext, "yonyou": _yonyou, "sap": _sap,
                            "sql": _sql, "soap": _soap, "files": _files}
"""The cheapest authenticated call of each connector, made with fresh credentials (no cached token)."""


async def connector_check(hub: Hub, name: str, *, timeout: float = CHECK_TIMEOUT) -> dict[str, Any]:  # noqa: ASYNC109
    """Check a connector now with its cheapest authenticated call; remember the result.

    A fresh client is built from the settings, so a cached token or session cannot hide wrong credentials.

    Returns:
        ``{"system", "ok", "latency_ms", "operation", "error", "checked_at"}``; ``error`` is bilingual.

    Raises:
        NotFound: ``name`` is not a configured connector.
    """
    settings = _configured(hub, name)
    checked_at = hub.clock.now()
    started = time.perf_counter()
    operation: str | None = None
    error: dict[str, Any] | None = None
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        http = HttpClient(name, session, timeout=timeout, clock=hub.clock)
        try:
            async with asyncio.timeout(timeout):
                operation = await PROBES[name](settings, http, hub)
        except HuiliuError as exc:
            error = _error(exc)
        except TimeoutError:
            error = _error(HuiliuError(t(f"{timeout:g} 秒内无应答", f"no answer within {timeout:g} s"),
                                       where=f"{name}.check", fix=t("检查地址与网络", "check the address and network")))
        except (OSError, aiohttp.ClientError, SQLAlchemyError, ValueError) as exc:  # a library's own failure
            error = _error(HuiliuError(t(f"检查失败：{type(exc).__name__}", f"check failed: {type(exc).__name__}"),
                                       where=f"{name}.check",
                                       fix=t("检查配置与网络", "check the settings and network")))
    result = {"system": name, "ok": error is None, "latency_ms": round((time.perf_counter() - started) * 1000, 1),
              "operation": operation, "error": error, "checked_at": checked_at.isoformat()}
    _last_checks.setdefault(hub, {})[name] = result
    return result


def configured_names(hub: Hub) -> list[str]:
    """The connectors this hub has settings for."""
    return [n for n in CONNECTORS if getattr(hub.settings, n) is not None]
