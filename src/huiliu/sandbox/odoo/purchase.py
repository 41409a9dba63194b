"""Odoo sandbox business logic: method dispatch, ``create``/``write`` checks and the purchase workflow.

Owns: :class:`OdooBook`: which methods each model serves and their parameter names (so that positional
JSON-RPC arguments and named JSON-2 parameters reach the same code), the checks ``create`` makes (mandatory
fields, existing links, ``order_line`` commands), purchase order numbering (``P00001`` at create) and amounts,
and ``button_confirm`` / ``button_approve`` / ``button_cancel`` / ``button_draft`` with the refusals of
``addons/purchase`` and ``purchase_stock`` (contract §6.3). Does not own: sessions, keys and envelopes
(:mod:`.app`).

Simulated where the contract is unconfirmed:

* zero-quantity lines are refused by ``button_confirm`` with a ``UserError`` (the hub never sends them; the
  check exists so the error path can be exercised);
* ``button_cancel`` of a locked order is refused with a ``UserError`` whose wording is unconfirmed;
* receipts are not modelled as stock moves: :meth:`OdooBook.receive` records received quantities, and a
  received order refuses ``button_cancel`` as ``purchase_stock`` does for done moves.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from huiliu.sandbox.odoo.accounting import Accounting
from huiliu.sandbox.odoo.records import (
    MODELS,
    OdooError,
    RecordStore,
    mandatory_error,
    money,
    round_cents,
    user_error,
    value_error,
)

__all__ = ["RECORD_METHODS", "OdooBook"]

RECORD_METHODS = frozenset({"read", "write", "unlink", "button_confirm", "button_approve", "button_cancel",
                             "button_draft", "action_post", "action_cancel"})
"""Methods called on records: with JSON-RPC their first argument is the id list, with JSON-2 ``ids``."""

_PURCHASE_BUTTONS = frozenset({"button_confirm", "button_approve", "button_cancel", "button_draft"})
_CHILDREN = {("purchase.order", "order_line"): "purchase.order.line", ("account.move", "line_ids"): "account.move.line"}
"""One2many fields ``create`` takes ``[0, 0, values]`` commands for, and the model of their records."""
_INVERSE = frozenset({"order_id", "move_id", "currency_id"})
"""Required fields ``create`` fills itself: the parent link of a command's record, the company currency."""


class OdooBook:
    """The database behind the sandbox: records plus the methods the external API may call.

    Args:
        store: the record store.
        approval_threshold: when set, orders whose total reaches it stop in ``to approve`` at confirmation
            (the company's double validation setting).
    """

    def __init__(self, store: RecordStore, approval_threshold: Decimal | None = None,
                 accounting: Accounting | None = None) -> None:
        self.store = store
        self.approval_threshold = approval_threshold
        self.accounting = accounting or Accounting(store)
        self.create_calls: dict[str, int] = {}
        """Successful ``create`` calls per model."""

    # ----------------------------------------------------------------- dispatch

    def call(self, model: str, method: str, ids: Sequence[int] | None, args: Sequence[Any],
             kwargs: Mapping[str, Any]) -> Any:
        """Run ``model.method`` as ``call_kw`` would; positional ``args`` come after the ids.

        Raises:
            OdooError: what the server answers (unknown method ``AttributeError``, unexpected keyword
                ``TypeError``, a business refusal ``UserError`` …).
        """
        self.store.table(model)
        handler = self._handler(model, method)
        params = [p for p in inspect.signature(handler).parameters if p != "ids"]
        if len(args) > len(params):
            raise OdooError("builtins.TypeError",
                            f"{model}.{method}() takes {len(params)} positional arguments but {len(args)} were given")
        named = dict(zip(params, args, strict=False))
        for key, value in kwargs.items():
            if key not in params:
                raise OdooError("builtins.TypeError", f"{model}.{method}() got an unexpected keyword argument '{key}'")
            if key in named:
                raise OdooError("builtins.TypeError", f"{model}.{method}() got multiple values for argument '{key}'")
            named[key] = value
        if method in RECORD_METHODS:
            if ids is None or not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
                raise value_error(f"{model}.{method} needs a list of record ids")
            return handler(list(ids), **named)
        return handler(**named)

    def _handler(self, model: str, method: str) -> Callable[..., Any]:
        generic: dict[str, Callable[..., Any]] = {
            "search": lambda domain=None, offset=0, limit=None, order=None: self.store.search(
                model, domain, offset, limit, order),
            "search_read": lambda domain=None, fields=None, offset=0, limit=None, order=None: self.store.read(
                model, self.store.search(model, domain, offset, limit, order), fields),
            "search_count": lambda domain=None, limit=None: len(self.store.search(model, domain, 0, limit)),
            "read": lambda ids, fields=None, load="_classic_read": self.store.read(model, ids, fields),
            "create": lambda vals_list: self.create(model, vals_list),
            "write": lambda ids, vals: self.write(model, ids, vals),
        }
        if method in generic:
            return generic[method]
        if model == "purchase.order" and method in _PURCHASE_BUTTONS:
            button: Callable[..., Any] = getattr(self, method)
            return button
        accounting: dict[tuple[str, str], Callable[..., Any]] = {
            ("account.move", "action_post"): self.accounting.post_moves,
            ("account.move", "button_draft"): self.accounting.draft_moves,
            ("account.payment", "action_post"): self.accounting.post_payments,
            ("account.payment", "action_cancel"): self.accounting.cancel_payments,
        }
        if (model, method) in accounting:
            return accounting[(model, method)]
        raise OdooError("builtins.AttributeError", f"The method '{method}' does not exist on the model '{model}'")

    # ----------------------------------------------------------------- create / write

    def create(self, model: str, vals_list: Any) -> Any:
        """``create``: one dictionary gives one id, a list gives a list (``@api.model_create_multi``)."""
        single = isinstance(vals_list, dict)
        items = [vals_list] if single else vals_list
        if not isinstance(items, list) or not all(isinstance(v, dict) for v in items):
            raise value_error("create expects a dictionary of values or a list of them")
        for values in items:  # checked first: a refused create leaves nothing behind (one transaction)
            self._check_values(model, values, creating=True)
        ids = [self._create_one(model, values) for values in items]
        self.create_calls[model] = self.create_calls.get(model, 0) + 1
        return ids[0] if single else ids

    def _check_values(self, model: str, values: Mapping[str, Any], *, creating: bool) -> None:
        fields = MODELS[model][1]
        self.store.check_fields(model, [k for k in values if k not in ("id",)])
        for name, spec in fields.items():
            # order_id is set by the order_line command; the order's currency defaults to the company's
            if creating and spec.required and name not in _INVERSE and not values.get(name):
                raise mandatory_error(model, name)
            value = values.get(name)
            if spec.kind == "many2one" and value and (
                    not isinstance(value, int) or value not in self.store.table(spec.relation)):
                    raise OdooError("odoo.exceptions.ValidationError",
                                    "The operation cannot be completed: another model requires the record being "
                                    f"deleted. If possible, archive it instead.\n\nModel: {MODELS[model][0]} "
                                    f"({model})\nField: {spec.label or name} ({name})\nValue: {value!r}")
        for (parent, name), child in _CHILDREN.items():
            if model != parent or name not in values:
                continue
            for command in values[name] or []:
                if not (isinstance(command, list) and len(command) == 3 and command[0] == 0
                        and isinstance(command[2], dict)):
                    raise value_error(f"{name}: only [0, 0, values] commands are served here, got {command!r}")
                self._check_values(child, command[2], creating=True)

    def _create_one(self, model: str, values: Mapping[str, Any]) -> int:
        if model == "purchase.order":
            return self._create_order(values)
        if model == "account.move":
            return self.accounting.create_move(values)
        if model == "account.payment":
            return self.accounting.create_payment(values)
        stored = dict(values)
        if model == "product.product":
            stored.setdefault("active", True)
            stored.setdefault("purchase_ok", True)
            stored.setdefault("uom_id", self.default_unit())
            stored.setdefault("uom_po_id", stored["uom_id"])
            stored["product_tmpl_id"] = len(self.store.table("product.product")) + 1  # one variant a template
        if model in ("res.partner", "account.analytic.account"):
            stored.setdefault("active", True)
        return self.store.insert(model, stored)

    def default_unit(self) -> int:
        """The ``uom.uom`` named Units (the product default)."""
        return self.store.search("uom.uom", [["name", "=", "Units"]], limit=1)[0]

    def _create_order(self, values: Mapping[str, Any]) -> int:
        stored = {k: v for k, v in values.items() if k != "order_line"}
        if not stored.get("name") or stored["name"] == "New":
            stored["name"] = f"P{len(self.store.table('purchase.order')) + 1:05d}"
        stored.setdefault("currency_id", self.store.search("res.currency", [["name", "=", "CNY"]], limit=1)[0])
        stored.setdefault("date_order", self.store.now())
        stored.update(state="draft", invoice_status="no", receipt_status=False, locked=False, invoice_ids=[],
                      order_line=[])
        order_id = self.store.insert("purchase.order", stored)
        lines = []
        for command in values.get("order_line") or []:
            line = dict(command[2])
            line["order_id"] = order_id
            line.setdefault("product_qty", 1.0)
            line.setdefault("price_unit", 0.0)
            line.setdefault("name", self.store.display_name("product.product", line["product_id"]))
            line.setdefault("qty_received", 0.0)
            line["price_subtotal"] = round_cents(money(line["product_qty"]) * money(line["price_unit"]))
            lines.append(self.store.insert("purchase.order.line", line))
        self.store.table("purchase.order")[order_id]["order_line"] = lines
        self._amounts(order_id)
        return order_id

    def _amounts(self, order_id: int) -> None:
        order = self.store.get("purchase.order", order_id)
        untaxed = sum((self.store.get("purchase.order.line", i)["price_subtotal"] for i in order["order_line"]),
                      Decimal(0))
        order.update(amount_untaxed=untaxed, amount_tax=Decimal(0), amount_total=untaxed)

    def write(self, model: str, ids: list[int], vals: Any) -> bool:
        """``write``: the same values on every record; a confirmed order's lines cannot be replaced here."""
        if not isinstance(vals, dict):
            raise value_error("write expects a dictionary of values")
        self._check_values(model, vals, creating=False)
        for record_id in ids:
            self.store.get(model, record_id)
        if model in ("purchase.order", "account.move", "account.payment") and (
                "order_line" in vals or "line_ids" in vals or "state" in vals):
            raise user_error("The sandbox does not change lines or states through write; use the buttons.")
        for record_id in ids:
            self.store.touch(model, record_id, vals)
        return True

    # ----------------------------------------------------------------- purchase workflow

    def _orders(self, ids: list[int]) -> list[dict[str, Any]]:
        return [self.store.get("purchase.order", i) for i in ids]

    def button_confirm(self, ids: list[int]) -> bool:
        """Draft or sent orders → ``purchase`` (or ``to approve`` above the approval threshold)."""
        for order in self._orders(ids):
            if order["state"] not in ("draft", "sent"):
                continue  # as in addons/purchase: other states are skipped silently
            for line_id in order["order_line"]:
                line = self.store.get("purchase.order.line", line_id)
                if money(line["product_qty"]) <= 0:  # simulated check, see the module docstring
                    raise user_error(f"You cannot confirm a purchase order with a zero quantity line: "
                                     f"{line['name']}.")
            if not order["order_line"]:
                raise user_error("There is no line to confirm on this purchase order.")
            if self.approval_threshold is not None and order["amount_total"] >= self.approval_threshold:
                self.store.touch("purchase.order", order["id"], {"state": "to approve"})
            else:
                self.button_approve([order["id"]])
        return True

    def button_approve(self, ids: list[int]) -> bool:
        """``to approve`` (or draft/sent, from confirm) → ``purchase``, stamping ``date_approve``."""
        for order in self._orders(ids):
            if order["state"] in ("draft", "sent", "to approve"):
                self.store.touch("purchase.order", order["id"], {
                    "state": "purchase", "date_approve": self.store.now(), "invoice_status": "no",
                    "receipt_status": "pending"})
        return True

    def button_cancel(self, ids: list[int]) -> bool:
        """Any order → ``cancel``, unless locked, received, or billed with a non-draft bill."""
        orders = self._orders(ids)
        for order in orders:
            if order.get("locked"):
                raise user_error("Unable to cancel this purchase order. You must first unlock it.")
            for bill_id in order["invoice_ids"]:
                if self.store.get("account.move", bill_id)["state"] not in ("cancel", "draft"):
                    raise user_error("Unable to cancel this purchase order. You must first cancel the related "
                                     "vendor bills.")
            for line_id in order["order_line"]:
                if money(self.store.get("purchase.order.line", line_id).get("qty_received") or 0) > 0:
                    raise user_error(f"Unable to cancel purchase order {order['name']} as some receptions have "
                                     "already been done.")
        for order in orders:
            self.store.touch("purchase.order", order["id"], {"state": "cancel"})
        return True

    def button_draft(self, ids: list[int]) -> bool:
        """Cancelled orders → ``draft``."""
        for order in self._orders(ids):
            if order["state"] == "cancel":
                self.store.touch("purchase.order", order["id"], {"state": "draft"})
        return True

    # ----------------------------------------------------------------- test helpers

    def receive(self, order_id: int) -> None:
        """Receive every line in full (a validated receipt)."""
        order = self.store.get("purchase.order", order_id)
        if order["state"] != "purchase":
            raise ValueError(f"order {order['name']} is {order['state']}, not confirmed")
        for line_id in order["order_line"]:
            line = self.store.get("purchase.order.line", line_id)
            self.store.touch("purchase.order.line", line_id, {"qty_received": line["product_qty"]})
        self.store.touch("purchase.order", order_id, {"receipt_status": "full", "invoice_status": "to invoice"})

    def bill(self, order_id: int, *, post: bool = True) -> int:
        """Create the vendor bill of an order (``action_create_invoice``), posted unless ``post`` is false."""
        order = self.store.get("purchase.order", order_id)
        year = self.store.clock.now().year
        bill_id = self.store.insert("account.move", {
            "name": f"BILL/{year}/{len(self.store.table('account.move')) + 1:05d}" if post else "/",
            "move_type": "in_invoice", "state": "posted" if post else "draft", "partner_id": order["partner_id"],
            "invoice_date": self.store.clock.now().date().isoformat(), "currency_id": order["currency_id"],
            "amount_untaxed": order["amount_untaxed"], "amount_tax": order["amount_tax"],
            "amount_total": order["amount_total"], "invoice_origin": order["name"], "ref": order.get("partner_ref"),
        })
        self.store.touch("purchase.order", order_id, {"invoice_ids": [*order["invoice_ids"], bill_id],
                                                      "invoice_status": "invoiced"})
        return bill_id

    def lock(self, order_id: int) -> None:
        """Lock a confirmed order (``button_lock``)."""
        self.store.touch("purchase.order", order_id, {"locked": True})
