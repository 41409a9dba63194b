"""Vouchers (凭证) → posted Tryton journal entries (``account.move``): ``tryton.voucher.create``.

Request: ``{"voucher": <huiliu.model.Voucher JSON>}`` (parsed by :func:`huiliu.model.purchasing.voucher_from_json`,
which checks the balance). Result: ``{"id", "number", "state", "reference", "total", "currency", "adopted"}``;
``total`` is the debit total (``Decimal``).

Mapping: lines' accounts are matched by code in the company's chart (the template chart "Universal Chart of
Accounts" numbers them ``1.1.1`` … ``6.4.0``; only accounts with a type take lines); the move goes into the
journal ``settings.voucher_journal`` and the open period of the voucher's date; each line keeps its summary
as description. Tryton's ``account.move`` has no reference field, so the hub's reference is the move's
``description``. Auxiliary dimensions (辅助核算): the project (``settings.project_dimension``) becomes an
analytic line on the project's analytic account; a ``party`` or ``supplier`` dimension names the party
(by code) Tryton requires on payable and receivable lines; every other dimension is refused with a
:class:`MappingError` — or, with ``settings.voucher_aux_in_description``, carried in the line's description
as ``名称=值``. Tryton itself refuses an account that needs a party when none is named.

Idempotency: ``create`` is not idempotent in Tryton. Every attempt after the first looks the reference up
and adopts the move it finds; a create that got no answer is :class:`AmbiguousOutcome`. The move is then
posted unless it already is.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from huiliu.connectors.base import ActionContext
from huiliu.connectors.purchasing import request_part
from huiliu.connectors.tryton.accounting import Accounting
from huiliu.connectors.tryton.client import TrytonClient
from huiliu.connectors.tryton.errors import SYSTEM
from huiliu.connectors.tryton.settings import TrytonSettings
from huiliu.errors import AmbiguousOutcome, MappingError, NoReply
from huiliu.i18n import t
from huiliu.model import Direction, Voucher
from huiliu.model.purchasing import voucher_from_json

__all__ = ["VOUCHER_CREATE", "VoucherCreate"]

VOUCHER_CREATE = "tryton.voucher.create"

_MOVE = "account.move"
_OLDEST = (("id", "ASC"),)
_PARTY_DIMENSIONS = frozenset({"party", "supplier", "customer"})


class VoucherCreate:
    """The ``tryton.voucher.create`` action (see the module docstring).

    Args:
        client: the Tryton client.
        settings: the connector settings (journal, project dimension, how other dimensions are handled).
        accounting: accounts, journals, periods and projects.
    """

    def __init__(self, client: TrytonClient, settings: TrytonSettings, accounting: Accounting) -> None:
        self.client = client
        self.settings = settings
        self.accounting = accounting

    async def find(self, reference: str) -> int | None:
        """The move carrying ``reference`` (the oldest if several), or ``None``."""
        ids = await self.client.search(_MOVE, [["description", "=", reference]], limit=1, order=_OLDEST)
        return ids[0] if ids else None

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Create (or adopt) the move and post it."""
        voucher = voucher_from_json(request_part(request, "voucher", VOUCHER_CREATE))
        found = await self.find(ctx.reference) if ctx.attempt > 1 else None
        move_id = found if found is not None else await self._create(voucher, ctx.reference)
        [row] = await self.client.read(_MOVE, [move_id], ["state"])
        if row["state"] != "posted":
            await self.client.button(_MOVE, "post", [move_id])
        [row] = await self.client.read(_MOVE, [move_id], ["number", "state", "description"])
        return {"id": move_id, "number": row["number"], "state": row["state"], "reference": row["description"],
                "total": voucher.total(Direction.DEBIT).amount,
                "currency": voucher.currency, "adopted": found is not None}

    async def _create(self, voucher: Voucher, reference: str) -> int:
        values = await self.move_values(voucher, reference)
        try:
            [move_id] = await self.client.create(_MOVE, [values])
        except NoReply as exc:  # an HTTP error is an answer: Tryton rolled the transaction back
            raise AmbiguousOutcome(
                t("创建凭证未得到应答，可能已生成", "creating the journal entry got no answer; it may exist"),
                system=SYSTEM, operation=f"model.{_MOVE}.create", retry_after=self.settings.ambiguous_wait,
                fix=t("稍后按引用查找并沿用，不会重复生成", "it is looked up by reference later, never made twice"),
            ) from exc
        return move_id

    async def move_values(self, voucher: Voucher, reference: str) -> dict[str, Any]:
        """The ``account.move`` values, lines included; every id is looked up first, so nothing is created
        when a code is unknown.
        """  # noqa: D205
        company = await self.accounting.company()
        [company_row] = await self.client.read("company.company", [company], ["currency"])
        [currency_row] = await self.client.read("currency.currency", [int(company_row["currency"])], ["code"])
        if currency_row["code"] != voucher.currency:
            raise MappingError(
                t(f"凭证币别 {voucher.currency} 与 Tryton 公司本位币 {currency_row['code']} 不同",
                  f"the voucher's currency {voucher.currency} is not the company's {currency_row['code']}"),
                where="voucher.currency", fix=t("以本位币编制凭证（外币凭证暂不支持）",
                                                "book the voucher in the company currency (no foreign currency)"))
        lines = []
        for index, line in enumerate(voucher.lines):
            where = f"voucher.lines.{index}"
            amount = line.amount.amount
            debit = line.direction is Direction.DEBIT
            values: dict[str, Any] = {
                "account": await self.accounting.account(line.account, f"{where}.account"),
                "debit": amount if debit else Decimal(0), "credit": Decimal(0) if debit else amount}
            notes = []
            for name, value in line.aux:
                if name == self.settings.project_dimension:
                    project = await self.accounting.project(value, f"{where}.aux.{name}")
                    values["analytic_lines"] = [["create", [{"account": project, "debit": values["debit"],
                                                             "credit": values["credit"], "date": voucher.date}]]]
                elif name in _PARTY_DIMENSIONS:
                    values["party"] = await self._party(value, f"{where}.aux.{name}")
                elif self.settings.voucher_aux_in_description:
                    notes.append(f"{name}={value}")
                else:
                    raise MappingError(
                        t(f"Tryton 凭证无法记录辅助核算维度 {name}"
                          f"（只支持 {self.settings.project_dimension} 与往来单位）",
                          f"a Tryton journal entry cannot hold the auxiliary dimension {name} (only "
                          f"{self.settings.project_dimension} and the party)"),
                        where=f"{where}.aux",
                        fix=t("去掉该维度，或开启设置 voucher_aux_in_description 把它写入分录摘要",
                              "drop the dimension, or turn on voucher_aux_in_description to carry it in the "
                              "line's description"))
            values["description"] = line.summary + (f"（{'，'.join(notes)}）" if notes else "")
            lines.append(values)
        return {"journal": await self.accounting.journal(self.settings.voucher_journal, "voucher_journal"),
                "period": await self.accounting.period(voucher.date, "voucher.date"), "company": company,
                "date": voucher.date, "description": reference, "lines": [["create", lines]]}

    async def _party(self, code: str, where: str) -> int:
        ids = await self.client.search("party.party", [["code", "=", code]], limit=1, order=_OLDEST)
        if not ids:
            raise MappingError(t(f"Tryton 中没有编码为 {code} 的往来单位", f"Tryton has no party with code {code}"),
                               where=where, fix=t("先调用 tryton.party.ensure 建立该单位",
                                                  "ensure the party first (tryton.party.ensure)"))
        return ids[0]
