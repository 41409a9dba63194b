"""Odoo sandbox accounting: journal entries, vendor payments and analytic (project) costs.

Owns: :class:`Accounting`: the seeded chart of accounts (a Chinese small-enterprise subset), journals and the
analytic plan; ``account.move`` entries created with ``line_ids`` commands and posted with ``action_post``
(draft → posted, numbered ``<journal code>/<year>/<seq>``), the analytic lines a posted item with an
``analytic_distribution`` produces; ``account.payment`` created in draft, posted with ``action_post`` and
settled (matched with a bank statement) by :meth:`Accounting.settle`; ``action_draft`` / ``action_cancel``; and
the refusals: an unbalanced entry, an entry without lines, posting twice, a date inside the lock date, a
payment amount that is not positive. Does not own: dispatch and generic ``create`` checks (:mod:`.purchase`).

Simulated where the contract is unconfirmed (§6.3 names no posting method or states for ``account.move``):

* the wording of every refusal (after Odoo 17's ``account`` module as remembered, not a live server);
* a payment's number ``P<journal code>/<year>/<seq>`` given at posting, and ``is_matched`` as the mark of a
  payment matched with the bank statement; with ``paid_state`` set (Odoo 18) settling also moves the state;
* the analytic amount of an item is ``-(debit - credit) × percentage / 100``, rounded to the cent (costs
  negative, as Odoo's analytic lines show them);
* the lock date is one company-wide date (Odoo 17 has several: fiscal year, tax, sales, purchases).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from huiliu.sandbox.odoo.records import OdooError, RecordStore, money, round_cents, user_error

__all__ = ["ACCOUNTS", "Accounting"]

ACCOUNTS = (("1002", "银行存款", "asset_cash"), ("1122", "应收账款", "asset_receivable"),
            ("2202", "应付账款", "liability_payable"), ("2241", "其他应付款", "liability_current"),
            ("5001", "生产成本", "expense_direct_cost"), ("6601", "销售费用", "expense"),
            ("6602", "管理费用", "expense"), ("6603", "财务费用", "expense"))
"""The seeded chart of accounts: code, name, ``account_type``."""


class Accounting:
    """The accounting half of the sandbox database.

    Args:
        store: the record store shared with the purchase workflow.
        lock_date: entries dated on or before it cannot be posted (``fiscalyear_lock_date``).
        paid_state: the state a settled payment moves to (``paid`` in Odoo 18); ``None`` keeps ``posted``
            (Odoo ≤ 17, where ``is_matched`` says it was paid).
    """

    def __init__(self, store: RecordStore, *, lock_date: date | None = None, paid_state: str | None = None) -> None:
        self.store = store
        self.lock_date = lock_date
        self.paid_state = paid_state
        self._sequences: dict[str, int] = {}

    def seed(self) -> None:
        """Insert the chart of accounts, the bank and miscellaneous journals and the ``Projects`` plan."""
        accounts = {code: self.store.insert("account.account", {"code": code, "name": name, "account_type": kind,
                                                                 "deprecated": False})
                    for code, name, kind in ACCOUNTS}
        self.store.insert("account.journal", {"name": "银行", "code": "BNK1", "type": "bank", "active": True,
                                              "default_account_id": accounts["1002"]})
        self.store.insert("account.journal", {"name": "杂项", "code": "MISC", "type": "general", "active": True})
        self.store.insert("account.analytic.plan", {"name": "Projects"})

    def _journal(self, code: str) -> int:
        return self.store.search("account.journal", [["code", "=", code]], limit=1)[0]

    def _currency(self) -> int:
        return self.store.search("res.currency", [["name", "=", "CNY"]], limit=1)[0]

    def _number(self, prefix: str, journal_id: int, day: str) -> str:
        code = self.store.get("account.journal", journal_id)["code"]
        key = f"{prefix}{code}/{day[:4]}/"
        self._sequences[key] = self._sequences.get(key, 0) + 1
        return f"{key}{self._sequences[key]:05d}"

    # ----------------------------------------------------------------- create

    def create_move(self, values: Mapping[str, Any]) -> int:
        """An entry in draft with its items; checks each item's debit and credit."""
        stored = {k: v for k, v in values.items() if k != "line_ids"}
        stored.setdefault("move_type", "entry")
        stored.setdefault("date", self.store.clock.now().date().isoformat())
        stored.setdefault("journal_id", self._journal("MISC"))
        stored.setdefault("currency_id", self._currency())
        stored.update(state="draft", name="/", line_ids=[])
        items = []
        for command in values.get("line_ids") or []:  # checked first: a refused create leaves nothing behind
            line = dict(command[2])
            debit, credit = money(line.get("debit") or 0), money(line.get("credit") or 0)
            if debit < 0 or credit < 0 or (debit and credit):
                raise OdooError("odoo.exceptions.ValidationError",
                                "Wrong credit or debit value in accounting entry!")
            distribution = line.get("analytic_distribution")
            if distribution is not None and not isinstance(distribution, dict):
                raise OdooError("odoo.exceptions.ValidationError", "Invalid analytic distribution.")
            for key in distribution or {}:
                if not str(key).isdigit() or int(key) not in self.store.table("account.analytic.account"):
                    raise OdooError("odoo.exceptions.ValidationError",
                                    f"Invalid analytic distribution: no analytic account {key}.")
            line.update(debit=debit, credit=credit, balance=debit - credit, date=stored["date"],
                        parent_state="draft")
            items.append(line)
        move_id = self.store.insert("account.move", stored)
        lines = [self.store.insert("account.move.line", {**line, "move_id": move_id}) for line in items]
        total = sum((line["debit"] for line in items), Decimal(0))
        self.store.table("account.move")[move_id].update(line_ids=lines, amount_total=total)
        return move_id

    def create_payment(self, values: Mapping[str, Any]) -> int:
        """A vendor or customer payment in draft; a non-positive amount is refused."""
        amount = money(values.get("amount") or 0)
        if amount <= 0:
            raise OdooError("odoo.exceptions.ValidationError", "The payment amount must be strictly positive.")
        stored = dict(values)
        stored.setdefault("date", self.store.clock.now().date().isoformat())
        stored.setdefault("journal_id", self._journal("BNK1"))
        stored.setdefault("currency_id", self._currency())
        stored.update(amount=amount, state="draft", name=False, is_matched=False, is_reconciled=False)
        return self.store.insert("account.payment", stored)

    # ----------------------------------------------------------------- buttons

    def _check_lock(self, day: str, name: str) -> None:
        if self.lock_date is not None and date.fromisoformat(day) <= self.lock_date:
            raise user_error(f"You cannot add/modify entries prior to and inclusive of the lock date "
                             f"{self.lock_date.isoformat()}. Check the company settings or ask someone with the "
                             f"'Adviser' role ({name}).")

    def post_moves(self, ids: list[int]) -> bool:
        """``account.move.action_post``: check and post each entry, then write its analytic lines."""
        moves = [self.store.get("account.move", i) for i in ids]
        for move in moves:
            if move["state"] == "posted":
                raise user_error(f"The entry {move['name']} (id {move['id']}) is already posted.")
            if move["state"] == "cancel":
                raise user_error("You cannot post a cancelled entry.")
            lines = [self.store.get("account.move.line", i) for i in move.get("line_ids") or []]
            if not lines:
                raise user_error("You need to add a line before posting.")
            debit = round_cents(sum((line["debit"] for line in lines), Decimal(0)))
            credit = round_cents(sum((line["credit"] for line in lines), Decimal(0)))
            if debit != credit:
                journal = self.store.get("account.journal", move["journal_id"])["name"]
                raise user_error(f"The move ({move['name']}) is not balanced.\nThe total of debits equals "
                                 f"¥ {debit} and the total of credits equals ¥ {credit}.\nYou might want to "
                                 f"specify a default account on journal \"{journal}\" to automatically balance "
                                 "each move.")
            self._check_lock(move["date"], move["name"])
        for move in moves:
            name = self._number("", move["journal_id"], move["date"])
            self.store.touch("account.move", move["id"], {"state": "posted", "name": name})
            for line_id in move["line_ids"]:
                line = self.store.get("account.move.line", line_id)
                self.store.touch("account.move.line", line_id, {"parent_state": "posted"})
                for key, percentage in (line.get("analytic_distribution") or {}).items():
                    amount = round_cents(-(line["debit"] - line["credit"]) * money(percentage) / 100)
                    self.store.insert("account.analytic.line", {
                        "name": line.get("name") or name, "date": move["date"], "account_id": int(key),
                        "amount": amount, "general_account_id": line["account_id"], "move_line_id": line_id,
                        "ref": move.get("ref"), "partner_id": line.get("partner_id")})
        return True

    def draft_moves(self, ids: list[int]) -> bool:
        """``account.move.button_draft``: back to draft; its analytic lines go."""
        for move_id in ids:
            move = self.store.get("account.move", move_id)
            self._check_lock(move["date"], move["name"])
            analytic = self.store.table("account.analytic.line")
            for line_id in move["line_ids"]:
                for key in [k for k, v in analytic.items() if v.get("move_line_id") == line_id]:
                    del analytic[key]
                self.store.touch("account.move.line", line_id, {"parent_state": "draft"})
            self.store.touch("account.move", move_id, {"state": "draft"})
        return True

    def post_payments(self, ids: list[int]) -> bool:
        """``account.payment.action_post``: draft → posted, numbered; refused twice or inside the lock date."""
        payments = [self.store.get("account.payment", i) for i in ids]
        for payment in payments:
            if payment["state"] != "draft":
                raise user_error(f"The entry {payment['name']} (id {payment['id']}) is already posted.")
            self._check_lock(payment["date"], payment["name"] or "/")
        for payment in payments:
            name = self._number("P", payment["journal_id"], payment["date"])
            self.store.touch("account.payment", payment["id"], {"state": "posted", "name": name})
        return True

    def cancel_payments(self, ids: list[int]) -> bool:
        """``account.payment.action_cancel``: any unmatched payment → ``cancel``."""
        for payment_id in ids:
            payment = self.store.get("account.payment", payment_id)
            if payment["is_matched"]:
                raise user_error("You cannot cancel a payment matched with a bank statement.")
            self.store.touch("account.payment", payment_id, {"state": "cancel"})
        return True

    # ----------------------------------------------------------------- test helpers

    def settle(self, payment_id: int) -> None:
        """Match a posted payment with the bank statement line that paid it."""
        payment = self.store.get("account.payment", payment_id)
        if payment["state"] != "posted":
            raise ValueError(f"payment {payment_id} is {payment['state']}, not posted")
        values: dict[str, Any] = {"is_matched": True}
        if self.paid_state is not None:
            values["state"] = self.paid_state
        self.store.touch("account.payment", payment_id, values)
