"""Project budgets (项目预算) the hub holds, and the check of ERP actuals against them (预算预警), for flows.

``hub.budget.set``    ``{code, name, budget, currency, manager?, department?}``: set (upsert) a project's budget
``hub.budget.check``  ``{actuals: "kingdee.project.actuals", warn_at: "0.9", since?, until?}``: every budgeted
                      project's actual cost (from the ERP, through the actions registry) against its budget;
                      a project at or past ``warn_at`` raises a ``warning`` alert, one past its budget an
                      ``over`` alert, each through ``hub.alert.raise``

This module owns the ``project_budgets`` table and the classification (:func:`classify`). It does not read
the ERP itself (each ERP connector's ``<erp>.project.actuals`` does) nor decide what an alert leads to (a
flow on ``hub.alert.raised`` does, e.g. a DingTalk message to the project manager).

An alert's key is ``budget:<code>:<status>:<budget>``: each level alerts once per budget value, and a new
budget re-arms both levels. Money stays :class:`~decimal.Decimal` inside and decimal text in results.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_HALF_UP, ROUND_UP, Decimal
from typing import Any, Protocol

from sqlalchemy import Connection, select, update

from huiliu.connectors import ActionContext, ActionRegistry
from huiliu.errors import MappingError
from huiliu.i18n import Text, t
from huiliu.model import Money, parse_amount
from huiliu.model.money import MINOR_UNITS
from huiliu.service.handlers import Parts
from huiliu.service.hubactions import ALERT_RAISE, request_text
from huiliu.store.schema import project_budgets
from huiliu.store.statements import insert_if_absent

__all__ = ["BUDGET_ACTIONS", "BUDGET_CHECK", "BUDGET_SET", "Budget", "BudgetActions", "BudgetServices",
           "BudgetStatus", "alert_title", "classify", "read_budgets", "usage"]

BUDGET_SET = "hub.budget.set"
BUDGET_CHECK = "hub.budget.check"
BUDGET_ACTIONS = frozenset({BUDGET_SET, BUDGET_CHECK})
DEFAULT_ACTUALS = "kingdee.project.actuals"
DEFAULT_WARN_AT = Decimal("0.9")
ALERT_KIND = "project.budget"
_RATIO = Decimal("0.0001")
_PERCENT = Decimal("0.1")


class BudgetStatus(enum.StrEnum):
    """Where a project stands against its budget."""

    OK = "ok"
    """Below ``warn_at`` of the budget (or nothing spent on a zero budget)."""
    WARNING = "warning"
    """At or past ``warn_at`` of the budget, not past the budget itself (exactly 100 % is a warning)."""
    OVER = "over"
    """Past the budget (超支): actual > budget."""
    ERROR = "error"
    """Not comparable: the actuals are in another currency than the budget."""


ALERT_LEVELS: Mapping[BudgetStatus, str] = {BudgetStatus.WARNING: "warning", BudgetStatus.OVER: "critical"}
"""The ``hub.alert.raise`` level of each status that alerts."""


@dataclass(frozen=True, slots=True)
class Budget:
    """A project's budget as the hub holds it.

    Attributes:
        code: the project code (项目编码) OA, ERP and budget share.
        name: the project name.
        amount: the budget, at the currency's minor unit.
        manager: the project manager's OA user id, who alerts may go to.
        department: the project's department number.
        updated_at: when it was last set.
    """

    code: str
    name: str
    amount: Money
    manager: str | None = None
    department: str | None = None
    updated_at: datetime | None = None


def classify(budget: Decimal, actual: Decimal, warn_at: Decimal = DEFAULT_WARN_AT) -> BudgetStatus:
    """Classify ``actual`` against ``budget``, exactly (no rounded ratio decides).

    ``over`` when actual > budget; else ``warning`` when actual ≥ warn_at × budget and something was spent;
    else ``ok``. So exactly 90 % (``warn_at`` 0.9) and exactly 100 % are warnings, and a zero budget is
    ``ok`` until anything is spent on it, then ``over``.
    """
    if actual > budget:
        return BudgetStatus.OVER
    if actual > 0 and actual >= budget * warn_at:
        return BudgetStatus.WARNING
    return BudgetStatus.OK


def usage(budget: Decimal, actual: Decimal) -> Decimal | None:
    """``actual / budget`` rounded half-up to four places (``Decimal("0.9500")``); ``None`` for a zero budget."""
    if budget == 0:
        return None
    return (actual / budget).quantize(_RATIO, rounding=ROUND_HALF_UP)


def alert_title(code: str, status: BudgetStatus, budget: Money, actual: Money) -> str:
    """The alert's title, in Chinese as the people it goes to read it.

    An overrun's percentage is rounded up (a real overrun never reads 0.0 %), a warning's usage down (it
    never reads past what it is).
    """
    if status is BudgetStatus.OVER:
        if budget.amount == 0:
            return f"项目 {code} 预算为 0，已发生 {actual.amount} {actual.currency}"
        over = ((actual.amount - budget.amount) * 100 / budget.amount).quantize(_PERCENT, rounding=ROUND_UP)
        return f"项目 {code} 预算已超支 {over}%"
    used = (actual.amount * 100 / budget.amount).quantize(_PERCENT, rounding=ROUND_DOWN)
    return f"项目 {code} 预算已使用 {used}%"


def read_budgets(conn: Connection) -> list[Budget]:
    """Every budget the hub holds, by project code."""
    rows = conn.execute(select(project_budgets).order_by(project_budgets.c.code)).all()
    return [Budget(row.code, row.name, Money(Decimal(row.budget), row.currency), row.manager, row.department,
                   row.updated_at) for row in rows]


class BudgetServices(Protocol):
    """What the budget actions use of the hub."""

    actions: ActionRegistry

    def parts(self) -> Parts:
        """The handlers' parts."""


def _bad(what: Text, where: str, fix: Text) -> MappingError:
    return MappingError(what, where=where, fix=fix)


def _optional(request: Mapping[str, Any], name: str, action: str) -> str | None:
    """An optional text field: absent, ``None`` or empty is ``None``."""
    value = request.get(name)
    return None if value is None or value == "" else request_text(request, name, action)


def _currency(value: object, where: str) -> str:
    code = value.strip().upper() if isinstance(value, str) else ""
    if len(code) != 3 or not (code.isascii() and code.isalpha()):
        raise _bad(t(f"币别无效：{value!r}", f"not a currency: {value!r}"), where,
                   t("写 ISO 4217 三位代码，例如 CNY", "write an ISO 4217 code, e.g. CNY"))
    return code


def _exact(value: object, where: str, what: str) -> Decimal:
    """A decimal given as text, an integer or a Decimal; a float (which already lost cents) is refused."""
    if isinstance(value, float):
        raise _bad(t(f"{what}不能是浮点数 {value!r}：浮点数会丢失分", f"{where} cannot be a float ({value!r}): "
                     "floats lose cents"), where, t(f"写成带引号的文本，例如 \"{value}\"",
                                                   f"quote it as text, e.g. \"{value}\""))
    try:
        return parse_amount(value, where)
    except ValueError:
        raise _bad(t(f"{what}不是数字：{value!r}", f"{where} is not a number: {value!r}"), where,
                   t("写数字文本，例如 \"500000.00\"", "write a number as text, e.g. \"500000.00\"")) from None


def parse_budget(request: Mapping[str, Any], action: str = BUDGET_SET) -> Budget:
    """The :class:`Budget` a ``hub.budget.set`` request gives.

    Raises:
        MappingError: a missing code or name, a missing, float, negative or non-numeric budget, more decimals
            than the currency has, or a currency that is not an ISO 4217 code; ``where`` names the field.
    """
    code, name = request_text(request, "code", action), request_text(request, "name", action)
    currency = _currency(request.get("currency", "CNY"), f"{action}.currency")
    if request.get("budget") is None:
        raise _bad(t("请求缺少预算 `budget`", "the request needs `budget`"), f"{action}.budget",
                   t("例如 budget: \"500000.00\"", "e.g. budget: \"500000.00\""))
    amount = _exact(request["budget"], f"{action}.budget", "预算")
    if amount < 0:
        raise _bad(t(f"项目预算不能为负数：{amount}", f"a project budget cannot be negative: {amount}"),
                   f"{action}.budget", t("检查立项审批中的预算金额", "check the budget in the project approval"))
    digits = MINOR_UNITS.get(currency, 2)
    if amount != amount.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP):
        raise _bad(t(f"预算 {amount} 超过 {currency} 的 {digits} 位小数", f"budget {amount} has more than the "
                     f"{digits} decimals of {currency}"), f"{action}.budget",
                   t("预算精确到分（或该币别的最小单位）", "give the budget to the currency's minor unit"))
    return Budget(code, name, Money(amount, currency), _optional(request, "manager", action),
                  _optional(request, "department", action))


def _warn_at(request: Mapping[str, Any]) -> Decimal:
    raw = request.get("warn_at")
    if raw is None:
        return DEFAULT_WARN_AT
    where = f"{BUDGET_CHECK}.warn_at"
    value = _exact(raw, where, "预警比例")
    if not Decimal(0) < value <= Decimal(1):
        raise _bad(t(f"预警比例应大于 0 且不超过 1：{raw}", f"warn_at must be above 0 and at most 1: {raw}"),
                   where, t("例如 \"0.9\"：用到预算的 90% 时预警", "e.g. \"0.9\": warn at 90 % of the budget"))
    return value


def _window(request: Mapping[str, Any]) -> dict[str, str]:
    """``since`` / ``until`` as given, once checked to be tz-aware ISO times (the actuals action gets them)."""
    window = {}
    for name in ("since", "until"):
        raw = request.get(name)
        if raw is None or raw == "":
            continue
        try:
            moment = datetime.fromisoformat(raw) if isinstance(raw, str) else None
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            raise _bad(t(f"`{name}` 应为带时区的 ISO 时间：{raw}", f"`{name}` must be a tz-aware ISO time: {raw}"),
                       f"{BUDGET_CHECK}.{name}", t("例如 2026-01-01T00:00:00+08:00",
                                                   "e.g. 2026-01-01T00:00:00+08:00"))
        window[name] = moment.isoformat()
    return window


class BudgetActions:
    """``hub.budget.set`` and ``hub.budget.check``; :meth:`register` puts them in the hub's registry."""

    def __init__(self, hub: BudgetServices) -> None:
        self.hub = hub

    def register(self, registry: ActionRegistry) -> None:
        """Register both actions."""
        registry.register(BUDGET_SET, self.set)
        registry.register(BUDGET_CHECK, self.check)

    async def set(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Set a project's budget (upsert): ``{code, name, budget, currency, manager?, department?}``.

        Result: ``{code, name, budget, currency, manager, department, previous, changed}``; ``previous`` is
        the budget it had (``None`` for a new project), in its currency.
        """
        budget = parse_budget(request)
        parts = self.hub.parts()
        now = parts.clock.now()
        row = {"code": budget.code, "name": budget.name, "budget": str(budget.amount.amount),
               "currency": budget.amount.currency, "manager": budget.manager, "department": budget.department,
               "updated_at": now}
        with parts.db.begin() as conn:
            before = conn.execute(select(project_budgets.c.budget, project_budgets.c.currency).where(
                project_budgets.c.code == budget.code)).first()
            if not insert_if_absent(conn, project_budgets, row):
                conn.execute(update(project_budgets).where(project_budgets.c.code == budget.code).values(row))
            previous = None if before is None else f"{before.budget} {before.currency}"
            changed = previous != f"{row['budget']} {row['currency']}"
            parts.eventlog.record(conn, case_id=f"project:{budget.code}", activity="budget.set", system="hub",
                                  outcome="changed" if changed else "unchanged",
                                  detail={"budget": row["budget"], "currency": row["currency"],
                                          "previous": previous, "name": budget.name})
        return {"code": budget.code, "name": budget.name, "budget": row["budget"], "currency": row["currency"],
                "manager": budget.manager, "department": budget.department, "previous": previous,
                "changed": changed}

    async def check(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Every budgeted project's actual cost against its budget, alerting on warnings and overruns.

        Request: ``{actuals: "kingdee.project.actuals", warn_at: "0.9", since?, until?}``; ``since`` /
        ``until`` (tz-aware ISO times) go to the actuals action as its window.

        Result: ``{projects: [{code, name, currency, budget, actual, remaining, ratio, status, alert?,
        error?}], counts: {ok, warning, over, error}, checked, alerts_new, warn_at}``, amounts as decimal
        text; ``ratio`` is actual / budget to four places (``None`` on a zero budget); ``alert`` is
        ``{key, level, new}`` for a warning or an overrun. A project whose actuals come in another currency
        than its budget is ``error`` with a message, and the check goes on.

        Raises:
            MappingError: the actuals action is not configured, ``warn_at`` or the window is malformed.
        """
        actuals = _optional(request, "actuals", BUDGET_CHECK) or DEFAULT_ACTUALS
        warn_at = _warn_at(request)
        window = _window(request)
        if actuals not in self.hub.actions.names():
            readers = ", ".join(sorted(a for a in self.hub.actions.names() if a.endswith(".project.actuals"))) or "—"
            raise _bad(t(f"读取项目实际成本的动作 {actuals} 未配置",
                         f"the project-actuals action {actuals} is not configured"), f"{BUDGET_CHECK}.actuals",
                       t(f"可用：{readers}", f"available: {readers}"))
        parts = self.hub.parts()
        with parts.db.read() as conn:
            budgets = read_budgets(conn)
        read, alert = self.hub.actions.get(actuals), self.hub.actions.get(ALERT_RAISE)
        table: list[dict[str, Any]] = []
        for budget in budgets:
            reply = await read({"code": budget.code, **window},
                               ActionContext(f"{ctx.idempotency_key}:actuals:{budget.code}", ctx.attempt,
                                             ctx.reference))
            row = self._row(budget, reply, warn_at)
            status = BudgetStatus(row["status"])
            if status in ALERT_LEVELS:
                actual = Money(Decimal(row["actual"]), budget.amount.currency)
                key = f"budget:{budget.code}:{status}:{budget.amount.amount}"
                raised = await alert({"key": key, "kind": ALERT_KIND, "level": ALERT_LEVELS[status],
                                      "title": alert_title(budget.code, status, budget.amount, actual),
                                      "detail": {"code": budget.code, "name": budget.name,
                                                 "budget": row["budget"], "actual": row["actual"],
                                                 "ratio": row["ratio"], "currency": row["currency"],
                                                 "status": row["status"], "manager": budget.manager}},
                                     ActionContext(key, 1, ""))
                row["alert"] = {"key": key, "level": ALERT_LEVELS[status], "new": bool(raised.get("new"))}
            table.append(row)
        counts = {status.value: sum(1 for row in table if row["status"] == status) for status in BudgetStatus}
        report = {"projects": table, "counts": counts, "checked": len(table), "warn_at": str(warn_at),
                  "alerts_new": sum(1 for row in table if row.get("alert", {}).get("new")), **window}
        worst = next((s for s in (BudgetStatus.OVER, BudgetStatus.WARNING, BudgetStatus.ERROR) if counts[s]),
                     BudgetStatus.OK)
        with parts.db.begin() as conn:
            parts.eventlog.record(conn, case_id=f"budget-check:{ctx.idempotency_key}", activity="budget.checked",
                                  system="hub", outcome=worst.value,
                                  detail={"counts": counts, "alerts_new": report["alerts_new"], "actuals": actuals,
                                          "statuses": {row["code"]: row["status"] for row in table}})
        return report

    @staticmethod
    def _row(budget: Budget, reply: Mapping[str, Any], warn_at: Decimal) -> dict[str, Any]:
        """One project's line of the table, from the actuals action's reply."""
        amount = budget.amount
        row: dict[str, Any] = {"code": budget.code, "name": budget.name, "currency": amount.currency,
                               "budget": str(amount.amount), "actual": None, "remaining": None, "ratio": None}
        currency = str(reply.get("currency") or amount.currency).upper()
        try:
            actual = Money(parse_amount(reply.get("actual", 0), "actual"), currency)
        except (ValueError, TypeError) as exc:
            raise _bad(t(f"项目 {budget.code} 的实际成本无法读取：{exc}", f"project {budget.code}'s actual cost "
                         f"cannot be read: {exc}"), f"{BUDGET_CHECK}.actuals",
                       t("检查实际成本动作的返回", "check the actuals action's reply")) from exc
        if currency != amount.currency:
            message = t(f"币别不一致：预算为 {amount.currency}，实际成本为 {currency} {actual.amount}",
                        f"currency mismatch: the budget is in {amount.currency}, the actuals in {currency} "
                        f"{actual.amount}")
            return {**row, "actual": str(actual.amount), "status": BudgetStatus.ERROR.value,
                    "error": {"kind": "currency_mismatch", "zh": message.zh, "en": message.en}}
        ratio = usage(amount.amount, actual.amount)
        return {**row, "actual": str(actual.amount), "remaining": str((amount - actual).amount),
                "ratio": None if ratio is None else str(ratio),
                "status": classify(amount.amount, actual.amount, warn_at).value}
