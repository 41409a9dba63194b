"""Odoo sandbox records: the ORM surface the hub uses, over plain dictionaries.

Owns: :class:`OdooError` (an exception as Odoo serialises it), the record store with Odoo's read formats
(many2one as ``[id, display_name]`` or ``false``, x2many as id lists, datetimes as ``"YYYY-MM-DD HH:MM:SS"``
in UTC), domain evaluation (prefix ``&``/``|``/``!`` and ``[field, operator, value]`` leaves), ``order``
strings, and the generic methods ``search``, ``search_read``, ``search_count``, ``read``, ``create``,
``write``. Does not own: the purchase workflow (:mod:`.purchase`) or the HTTP envelopes (:mod:`.app`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from huiliu.model import Clock

__all__ = ["MODELS", "OdooError", "RecordStore"]

_DT = "%Y-%m-%d %H:%M:%S"

_M2O = "many2one"
_O2M = "one2many"
_M2M = "many2many"


@dataclass(frozen=True, slots=True)
class _Field:
    kind: str
    relation: str = ""
    label: str = ""
    required: bool = False


def _f(kind: str = "char", relation: str = "", label: str = "", *, required: bool = False) -> _Field:
    return _Field(kind, relation, label, required)


MODELS: dict[str, tuple[str, dict[str, _Field]]] = {
    "res.partner": ("Contact", {
        "name": _f(label="Name", required=True), "ref": _f(label="Reference"), "vat": _f(label="Tax ID"),
        "is_company": _f("boolean"), "supplier_rank": _f("integer"), "street": _f(), "city": _f(),
        "zip": _f(), "email": _f(), "active": _f("boolean"), "comment": _f("html"),
    }),
    "uom.uom": ("Unit", {"name": _f(required=True), "active": _f("boolean")}),
    "res.currency": ("Currency", {"name": _f(required=True), "symbol": _f(), "active": _f("boolean")}),
    "product.product": ("Product Variant", {
        "name": _f(label="Name", required=True), "default_code": _f(label="Internal Reference"),
        "type": _f(), "purchase_ok": _f("boolean"), "active": _f("boolean"),
        "uom_id": _f(_M2O, "uom.uom", "Unit"), "uom_po_id": _f(_M2O, "uom.uom", "Purchase Unit"),
        "product_tmpl_id": _f("integer", label="Product Template"),
    }),
    "purchase.order": ("Purchase Order", {
        "name": _f(label="Order Reference"), "partner_id": _f(_M2O, "res.partner", "Vendor", required=True),
        "partner_ref": _f(label="Vendor Reference"), "origin": _f(label="Source Document"),
        "notes": _f("html", label="Terms and Conditions"), "date_order": _f("datetime"),
        "date_approve": _f("datetime"), "currency_id": _f(_M2O, "res.currency", "Currency", required=True),
        "state": _f("selection"), "order_line": _f(_O2M, "purchase.order.line", "Order Lines"),
        "amount_untaxed": _f("monetary"), "amount_tax": _f("monetary"), "amount_total": _f("monetary"),
        "invoice_status": _f("selection"), "receipt_status": _f("selection"), "locked": _f("boolean"),
        "invoice_ids": _f(_M2M, "account.move", "Bills"), "company_id": _f("integer"),
    }),
    "purchase.order.line": ("Purchase Order Line", {
        "order_id": _f(_M2O, "purchase.order", "Order Reference", required=True),
        "product_id": _f(_M2O, "product.product", "Product", required=True), "name": _f("text"),
        "product_qty": _f("float", label="Quantity"), "price_unit": _f("float", label="Unit Price"),
        "price_subtotal": _f("monetary"), "qty_received": _f("float"), "qty_invoiced": _f("float"),
        "product_uom": _f(_M2O, "uom.uom", "Unit of Measure"), "uom_id": _f(_M2O, "uom.uom", "Unit"),
        "date_planned": _f("datetime"),
    }),
    "account.move": ("Journal Entry", {
        "name": _f(), "move_type": _f("selection"), "state": _f("selection"),
        "partner_id": _f(_M2O, "res.partner", "Partner"), "invoice_date": _f("date"), "ref": _f(),
        "currency_id": _f(_M2O, "res.currency", "Currency"), "amount_untaxed": _f("monetary"),
        "amount_tax": _f("monetary"), "amount_total": _f("monetary"), "invoice_origin": _f(),
        "date": _f("date", label="Date"), "journal_id": _f(_M2O, "account.journal", "Journal"),
        "line_ids": _f(_O2M, "account.move.line", "Journal Items"), "narration": _f("html"),
    }),
    "account.move.line": ("Journal Item", {
        "move_id": _f(_M2O, "account.move", "Journal Entry", required=True),
        "account_id": _f(_M2O, "account.account", "Account", required=True), "name": _f(label="Label"),
        "debit": _f("monetary"), "credit": _f("monetary"), "balance": _f("monetary"),
        "partner_id": _f(_M2O, "res.partner", "Partner"), "analytic_distribution": _f("json"),
        "date": _f("date"), "parent_state": _f("selection"),
    }),
    "account.account": ("Account", {
        "code": _f(label="Code", required=True), "name": _f(label="Account Name", required=True),
        "account_type": _f("selection"), "deprecated": _f("boolean"),
    }),
    "account.journal": ("Journal", {
        "name": _f(required=True), "code": _f(label="Short Code", required=True), "type": _f("selection"),
        "default_account_id": _f(_M2O, "account.account", "Default Account"), "active": _f("boolean"),
    }),
    "account.payment": ("Payments", {
        "name": _f(label="Number"), "payment_type": _f("selection", required=True),
        "partner_type": _f("selection", required=True), "partner_id": _f(_M2O, "res.partner", "Customer/Vendor"),
        "amount": _f("monetary", label="Amount"), "currency_id": _f(_M2O, "res.currency", "Currency"),
        "date": _f("date", label="Date"), "journal_id": _f(_M2O, "account.journal", "Journal"),
        "ref": _f(label="Memo"), "memo": _f(label="Memo"), "state": _f("selection"),
        "is_matched": _f("boolean", label="Is Matched With a Bank Statement"),
        "is_reconciled": _f("boolean", label="Is Reconciled"),
        "move_id": _f(_M2O, "account.move", "Journal Entry"),
    }),
    "account.analytic.plan": ("Analytic Plans", {"name": _f(required=True)}),
    "account.analytic.account": ("Analytic Account", {
        "name": _f(label="Analytic Account", required=True), "code": _f(label="Reference"),
        "plan_id": _f(_M2O, "account.analytic.plan", "Plan", required=True), "active": _f("boolean"),
        "partner_id": _f(_M2O, "res.partner", "Customer"),
    }),
    "account.analytic.line": ("Analytic Line", {
        "name": _f(label="Description", required=True), "date": _f("date"),
        "account_id": _f(_M2O, "account.analytic.account", "Analytic Account"), "amount": _f("monetary"),
        "general_account_id": _f(_M2O, "account.account", "Financial Account"),
        "move_line_id": _f(_M2O, "account.move.line", "Journal Item"), "ref": _f(label="Ref."),
        "partner_id": _f(_M2O, "res.partner", "Partner"),
    }),
}
"""Model → (description, fields). Every model also has ``id``, ``display_name``, ``create_date`` and
``write_date``. Field lists are the subset the hub uses (contract §6.3; ``fields_get`` is not served)."""

_MAGIC = ("id", "display_name", "create_date", "write_date")


class OdooError(Exception):
    """An exception the server serialises as ``{name, message, arguments, context, debug}``.

    Args:
        name: the dotted class name, e.g. ``odoo.exceptions.UserError``.
        message: the text users see.
    """

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message

    def serialise(self) -> dict[str, Any]:
        """The ``data`` of a JSON-RPC error, and the body of a JSON-2 error."""
        return {"name": self.name, "message": self.message, "arguments": [self.message], "context": {},
                "debug": f"Traceback (most recent call last):\n{self.name}: {self.message}\n"}


def user_error(message: str) -> OdooError:
    """``odoo.exceptions.UserError``."""
    return OdooError("odoo.exceptions.UserError", message)


def value_error(message: str) -> OdooError:
    """``builtins.ValueError`` (a bad field name or domain)."""
    return OdooError("builtins.ValueError", message)


def mandatory_error(model: str, name: str) -> OdooError:
    """What Odoo answers when a NOT NULL column is missing (the psycopg error turned into a ValidationError)."""
    description, fields = MODELS[model]
    return OdooError(
        "odoo.exceptions.ValidationError",
        "The operation cannot be completed:\n- Create/update: a mandatory field is not set.\n"
        "- Delete: another model requires the record being deleted. If possible, archive it instead.\n\n"
        f"Model: {description} ({model})\nField: {fields[name].label or name} ({name})")


def money(value: Any) -> Decimal:
    """A float (or text) amount as Decimal, through its shortest repr as Odoo's float_round sees it."""
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))


def round_cents(value: Decimal) -> Decimal:
    """Half-up to the currency's 2 decimals, as ``res.currency.round`` does for CNY."""
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@dataclass
class RecordStore:
    """Every record of every model, by model and id; each record a plain dictionary of stored values."""

    clock: Clock
    tables: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)
    _next: dict[str, int] = field(default_factory=dict)

    def now(self) -> str:
        """The current UTC time in Odoo's datetime format."""
        return self.clock.now().astimezone(UTC).strftime(_DT)

    def table(self, model: str) -> dict[int, dict[str, Any]]:
        """The records of ``model``; an unknown model is Odoo's ``KeyError``-based refusal."""
        if model not in MODELS:
            raise OdooError("builtins.KeyError", repr(model))
        return self.tables.setdefault(model, {})

    def insert(self, model: str, values: Mapping[str, Any]) -> int:
        """Store a record as is (no checks), stamping id and dates; for seeding and business methods."""
        table = self.table(model)
        record_id = self._next.get(model, 1)
        self._next[model] = record_id + 1
        now = self.now()
        table[record_id] = {"id": record_id, "create_date": now, "write_date": now, **values}
        return record_id

    def touch(self, model: str, record_id: int, values: Mapping[str, Any]) -> None:
        """Update stored values and ``write_date``."""
        self.table(model)[record_id].update(values, write_date=self.now())

    def get(self, model: str, record_id: int) -> dict[str, Any]:
        """One record, or ``MissingError`` as Odoo raises it for a deleted id."""
        record = self.table(model).get(record_id)
        if record is None:
            raise OdooError("odoo.exceptions.MissingError",
                            "Record does not exist or has been deleted.\n"
                            f"(Record: {model}({record_id},), User: 2)")
        return record

    # ----------------------------------------------------------------- reading

    def display_name(self, model: str, record_id: int) -> str:
        """``display_name``: the order's or partner's name; a product as ``[code] name``."""
        record = self.table(model).get(record_id, {})
        name = str(record.get("name") or "")
        if model == "product.product" and record.get("default_code"):
            return f"[{record['default_code']}] {name}"
        return name

    def check_fields(self, model: str, names: Sequence[str]) -> None:
        """Refuse a field the model does not have, as ``read`` does."""
        fields = MODELS[model][1]
        for name in names:
            if name not in fields and name not in _MAGIC:
                raise value_error(f"Invalid field {name!r} on model {model!r}")

    def read(self, model: str, ids: Sequence[int], fields: Sequence[str] | None) -> list[dict[str, Any]]:
        """``read``: rows in the order of ``ids``, with Odoo's value formats."""
        names = list(fields) if fields else list(MODELS[model][1])
        self.check_fields(model, names)
        rows = []
        for record_id in ids:
            record = self.get(model, int(record_id))
            row: dict[str, Any] = {"id": record_id}
            for name in names:
                if name == "id":
                    continue
                row[name] = self._format(model, record, name)
            rows.append(row)
        return rows

    def _format(self, model: str, record: Mapping[str, Any], name: str) -> Any:
        if name == "display_name":
            return self.display_name(model, record["id"])
        spec = MODELS[model][1].get(name)
        value = record.get(name)
        if spec is None:
            return value if value is not None else False
        if spec.kind == _M2O:
            return [value, self.display_name(spec.relation, value)] if value else False
        if spec.kind in (_O2M, _M2M):
            return list(value or [])
        if spec.kind in ("float", "monetary"):
            return float(value or 0)
        if spec.kind == "integer":
            return int(value or 0)
        if spec.kind == "boolean":
            return bool(value)
        return value if value not in (None, "") else False

    # ----------------------------------------------------------------- searching

    def search(self, model: str, domain: Any, offset: int = 0, limit: int | None = None,
               order: str | None = None) -> list[int]:
        """``search``: ids matching ``domain``; archived records (``active`` false) are left out."""
        table = self.table(model)
        test = self._compile(model, domain if domain is not None else [])
        has_active = "active" in MODELS[model][1]
        ids = [i for i, r in table.items() if (not has_active or r.get("active", True) is not False) and test(r)]
        for key, descending in reversed(self._order(model, order)):
            ids.sort(key=lambda i: _sort_key(table[i].get(key)), reverse=descending)
        ids = ids[offset:]
        return ids if limit is None else ids[:limit]

    def _order(self, model: str, order: str | None) -> list[tuple[str, bool]]:
        spec: list[tuple[str, bool]] = []
        for part in (order or "id").split(","):
            words = part.split()
            if not words:
                continue
            if len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
                raise value_error(f"Invalid \"order\" specified ({order}).")
            self.check_fields(model, [words[0]])
            spec.append((words[0], len(words) == 2 and words[1].lower() == "desc"))
        return spec or [("id", False)]

    def _compile(self, model: str, domain: Any) -> Callable[[Mapping[str, Any]], bool]:
        if not isinstance(domain, list):
            raise value_error(f"Invalid domain: {domain!r}")
        stack: list[Callable[[Mapping[str, Any]], bool]] = []
        for item in reversed(domain):  # prefix (Polish) notation, evaluated from the right
            if item == "!":
                inner = stack.pop()
                stack.append(_not(inner))
            elif item in ("&", "|"):
                if len(stack) < 2:
                    raise value_error(f"Invalid domain: {domain!r}")
                left, right = stack.pop(), stack.pop()
                stack.append(_join(left, right, any_of=item == "|"))
            elif isinstance(item, list) and len(item) == 3:
                stack.append(self._leaf(model, item))
            else:
                raise value_error(f"Invalid leaf {item!r}")
        terms = list(stack)  # what remains is joined by an implicit '&'
        return lambda r: all(term(r) for term in terms)

    def _leaf(self, model: str, leaf: list[Any]) -> Callable[[Mapping[str, Any]], bool]:
        name, operator, value = leaf
        self.check_fields(model, [name])
        if operator not in _OPERATORS:
            raise value_error(f"Invalid leaf {leaf!r}: unknown operator {operator!r}")
        compare = _OPERATORS[operator]
        spec = MODELS[model][1].get(name)
        many = spec is not None and spec.kind in (_O2M, _M2M)

        def test(record: Mapping[str, Any]) -> bool:
            stored = record.get(name)
            if many:
                return any(compare(v, value) for v in (stored or []))
            return compare(stored, value)

        return test


_Test = Callable[[Mapping[str, Any]], bool]


def _not(inner: _Test) -> _Test:
    return lambda r: not inner(r)


def _join(left: _Test, right: _Test, *, any_of: bool) -> _Test:
    if any_of:
        return lambda r: left(r) or right(r)
    return lambda r: left(r) and right(r)


def _sort_key(value: Any) -> tuple[int, Any]:
    return (0, "") if value in (None, False) else (1, value)


def _like(stored: Any, value: Any, *, case: bool) -> bool:
    if stored in (None, False):
        return False
    text, pattern = str(stored), str(value).replace("%", "")
    return pattern in text if case else pattern.lower() in text.lower()


def _eq(stored: Any, value: Any) -> bool:
    if value is False:
        return stored in (None, False, "")
    return bool(stored == value)


def _cmp(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(stored: Any, value: Any) -> bool:
        if stored in (None, False) or value in (None, False):
            return False
        try:
            return op(stored, value)
        except TypeError:
            return False

    return compare


_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": _eq,
    "!=": lambda s, v: not _eq(s, v),
    "<": _cmp(lambda s, v: s < v), "<=": _cmp(lambda s, v: s <= v),
    ">": _cmp(lambda s, v: s > v), ">=": _cmp(lambda s, v: s >= v),
    "in": lambda s, v: s in (v or []), "not in": lambda s, v: s not in (v or []),
    "like": lambda s, v: _like(s, v, case=True), "ilike": lambda s, v: _like(s, v, case=False),
    "=ilike": lambda s, v: s not in (None, False) and str(s).lower() == str(v).lower(),
}
