"""The Tryton accounting look-ups the payment, project and voucher actions share.

Owns: :class:`Accounting`, which finds accounts by code (the template chart's codes, e.g. ``5.1.3``), journals
by code, the open period of a date, and projects: Tryton 8.2 has no project model in the installed set, so a
project is a normal ``analytic_account.account`` with the project's code under one root analytic account
(``settings.project_root``), matched by code and created once (:class:`~huiliu.connectors.base.FindOrCreate`).
Without the ``analytic_account`` module every project operation is refused with :class:`ConfigError`.
Does not own: the actions' request and result shapes (:mod:`.payment`, :mod:`.project`, :mod:`.voucher`).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from huiliu.connectors.base import FindOrCreate
from huiliu.connectors.tryton.client import TrytonClient
from huiliu.connectors.tryton.settings import TrytonSettings
from huiliu.errors import ConfigError, MappingError
from huiliu.i18n import Text, t
from huiliu.model.purchasing import Project

__all__ = ["ANALYTIC_ACCOUNT", "ANALYTIC_LINE", "ANALYTIC_MODULE", "Accounting"]

ANALYTIC_MODULE = "analytic_account"
ANALYTIC_ACCOUNT = "analytic_account.account"
ANALYTIC_LINE = "analytic_account.line"
_OLDEST = (("id", "ASC"),)


class Accounting:
    """Accounts, journals, periods and projects of one Tryton company, cached where they are configuration.

    Args:
        client: the Tryton client.
        settings: the connector settings (project root, journal code).
    """

    def __init__(self, client: TrytonClient, settings: TrytonSettings) -> None:
        self.client = client
        self.settings = settings
        self._accounts: dict[str, int] = {}
        self._journals: dict[str, int] = {}
        self._analytic: bool | None = None
        self._root: int | None = None
        self._once = FindOrCreate()

    async def company(self) -> int:
        """The company of the calls (the user's, or ``settings.company``)."""
        if self.settings.company is not None:
            return self.settings.company
        if not self.client.context:
            await self.client.login()
        return int(self.client.context["company"])

    async def account(self, code: str, where: str) -> int:
        """The ``account.account`` id with ``code`` in the company; :class:`MappingError` naming ``where``."""
        if code not in self._accounts:
            ids = await self.client.search("account.account", [["code", "=", code],
                                                                ["company", "=", await self.company()]],
                                           limit=1, order=_OLDEST)
            if not ids:
                raise MappingError(t(f"Tryton 科目表中没有科目 {code}", f"Tryton's chart has no account {code}"),
                                   where=where, fix=t("使用 Tryton 科目表中的科目编码（如 5.1.3、2.1.1）",
                                                      "use an account code of Tryton's chart (e.g. 5.1.3, 2.1.1)"))
            self._accounts[code] = ids[0]
        return self._accounts[code]

    async def journal(self, code: str, setting: str) -> int:
        """The ``account.journal`` id with ``code``; ``setting`` names where the code comes from."""
        if code not in self._journals:
            ids = await self.client.search("account.journal", [["code", "=", code]], limit=1, order=_OLDEST)
            if not ids:
                raise ConfigError(t(f"Tryton 中没有代码为 {code} 的日记账", f"Tryton has no journal with code {code}"),
                                  where=f"tryton.{setting}",
                                  fix=t(f"在设置 {setting} 中填写 Tryton 日记账的代码（默认数据中有 EXP、MISC）",
                                        f"set {setting} to a Tryton journal code (EXP, MISC in the default data)"))
            self._journals[code] = ids[0]
        return self._journals[code]

    async def period(self, day: date, where: str) -> int:
        """The open standard ``account.period`` containing ``day``."""
        ids = await self.client.search("account.period", [
            ["company", "=", await self.company()], ["start_date", "<=", day], ["end_date", ">=", day],
            ["type", "=", "standard"], ["state", "=", "open"]], limit=1, order=_OLDEST)
        if not ids:
            raise MappingError(
                t(f"Tryton 中没有包含 {day.isoformat()} 的未关闭会计期间",
                  f"Tryton has no open period on {day.isoformat()}"),
                where=where, fix=t("在 Tryton 中创建该会计年度及期间，或重新打开已关闭的期间",
                                   "create that fiscal year and its periods in Tryton, or reopen the period"))
        return ids[0]

    # ------------------------------------------------------------------ projects (analytic accounts)

    async def require_analytic(self, operation: Text) -> None:
        """Refuse with :class:`ConfigError` when the ``analytic_account`` module is not activated."""
        if self._analytic is None:
            rows = await self.client.search_read("ir.module", [["name", "=", ANALYTIC_MODULE]], ["state"], limit=1)
            self._analytic = bool(rows) and rows[0]["state"] == "activated"
        if not self._analytic:
            raise ConfigError(
                t(f"Tryton 未启用 {ANALYTIC_MODULE} 模块，无法{operation.zh}"
                  "（Tryton 没有项目模型，项目以分析科目表示）",
                  f"Tryton has no {ANALYTIC_MODULE} module activated, so it cannot {operation.en} (Tryton has no "
                  "project model; projects are analytic accounts)"),
                where=f"tryton.{ANALYTIC_MODULE}",
                fix=t(f"安装 trytond_{ANALYTIC_MODULE} 并启用模块 {ANALYTIC_MODULE}",
                      f"install trytond_{ANALYTIC_MODULE} and activate the {ANALYTIC_MODULE} module"))

    async def project_root(self) -> int:
        """The root analytic account of projects (code ``settings.project_root``), created once."""
        if self._root is not None:
            return self._root
        code = self.settings.project_root

        async def find() -> int | None:
            ids = await self.client.search(ANALYTIC_ACCOUNT, [["code", "=", code], ["type", "=", "root"]],
                                           limit=1, order=_OLDEST)
            return ids[0] if ids else None

        async def create() -> int:
            [made] = await self.client.create(ANALYTIC_ACCOUNT, [{
                "name": self.settings.project_root_name, "code": code, "type": "root",
                "company": await self.company()}])
            return made

        root, _ = await self._once.ensure(f"root:{code}", find, create)
        self._root = root
        return root

    async def find_project(self, code: str) -> dict[str, Any] | None:
        """The project (analytic account) with ``code`` under the root, or ``None``."""
        rows = await self.client.search_read(ANALYTIC_ACCOUNT, [
            ["code", "=", code], ["root", "=", await self.project_root()], ["type", "=", "normal"]],
            ["code", "name"], limit=1, order=_OLDEST)
        return dict(rows[0]) if rows else None

    async def project(self, code: str, where: str) -> int:
        """The analytic account id of an existing project; :class:`MappingError` when there is none."""
        await self.require_analytic(t("按项目记账", "book against a project"))
        found = await self.find_project(code)
        if found is None:
            raise MappingError(t(f"Tryton 中没有项目 {code}", f"Tryton has no project {code}"), where=where,
                               fix=t("先调用 tryton.project.ensure 建立该项目", "ensure the project first "
                                     "(tryton.project.ensure)"))
        return int(found["id"])

    async def ensure_project(self, project: Project) -> tuple[dict[str, Any], bool]:
        """Match the project by code or create it; ``(row with id, code, name, created)``."""
        await self.require_analytic(t("建立项目", "ensure a project"))
        root = await self.project_root()

        async def create() -> dict[str, Any]:
            [made] = await self.client.create(ANALYTIC_ACCOUNT, [{
                "name": project.name, "code": project.code, "type": "normal", "root": root, "parent": root,
                "company": await self.company()}])
            return {"id": made, "code": project.code, "name": project.name}

        return await self._once.ensure(f"project:{project.code}", lambda: self.find_project(project.code), create)
