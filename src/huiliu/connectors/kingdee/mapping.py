"""Canonical vouchers ⇄ Kingdee ``GL_VOUCHER`` models, and the pure steps around them.

The input is the JSON form of :class:`huiliu.model.Voucher` (as :func:`huiliu.store.codec.to_jsonable`
writes it: amounts as strings, the date in ISO form, ``aux`` as ``[name, value]`` pairs). It is rebuilt
into a :class:`Voucher` first, so a voucher that does not balance never reaches Kingdee.

Also here, all without I/O: choosing the account book by rule (:func:`route_book`), merging many
approvals' vouchers into one per book, date and department (:func:`merge_vouchers`), reading a stored
voucher back from ExecuteBillQuery rows (:func:`stored_voucher`) and building the voucher that reverses
it (:func:`reversal_model`), and the references derived for merged, batched and reversing vouchers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from huiliu.connectors.kingdee.settings import KingdeeSettings, ReversalStyle
from huiliu.errors import MappingError
from huiliu.i18n import t
from huiliu.model import Direction, Money, Voucher, VoucherLine, parse_amount
from huiliu.model.purchasing import voucher_from_json

__all__ = [
    "VOUCHER_FIELDS",
    "StoredEntry",
    "StoredVoucher",
    "batch_reference",
    "by_department",
    "explicit_book",
    "merge_vouchers",
    "merged_reference",
    "reversal_model",
    "reversal_reference",
    "route_book",
    "stored_voucher",
    "stored_voucher_fields",
    "voucher_department",
    "voucher_from_json",
    "voucher_model",
]

_FEN = Decimal("0.01")

VOUCHER_FIELDS: Mapping[str, str] = {
    "FAccountBookID": "book",
    "FACCBOOKORGID": "org",
    "FDate": "voucher.date",
    "FVOUCHERGROUPID": "voucher.group",
    "FCURRENCYID": "voucher.currency",
    "FEntity": "voucher.lines",
    "FEXPLANATION": "voucher.lines[{line}].summary",
    "FACCOUNTID": "voucher.lines[{line}].account",
    "FDC": "voucher.lines[{line}].direction",
    "FDEBIT": "voucher.lines[{line}].amount.amount",
    "FCREDIT": "voucher.lines[{line}].amount.amount",
    "FDetailID": "voucher.lines[{line}].aux",
}
"""``GL_VOUCHER`` field → where :func:`voucher_model` takes it from in a ``kingdee.voucher.create`` request,
so a refusal naming a field points at the value a person can correct (``{line}``: the entry). Kingdee's
account book (``FAccountBookID``) comes from ``book`` when the flow set it, else from the routes."""


def _amount_text(money: Money) -> str:
    """Two decimals as text: Kingdee reads strings exactly, floats would not be."""
    return format(money.amount.quantize(_FEN), "f")


def voucher_model(voucher: Mapping[str, Any] | Voucher, reference: str, settings: KingdeeSettings, *,
                  book: str | None = None, org: str | None = None, preparer: str | None = None) -> dict[str, Any]:
    """Build the ``GL_VOUCHER`` ``Model`` for Save.

    Args:
        voucher: a :class:`Voucher` or its JSON form.
        reference: the hub-set reference stored in ``settings.reference_field``; the lookup before a
            retried Save searches for it.
        settings: books and routes, currency numbers, 凭证字 numbers and the flex fields of the
            auxiliary dimensions. The voucher's own ``book`` is the flow's name for it and is not sent.
        book: the account book number, when the flow chose it; with ``org``, wins over the routes.
        org: the accounting organisation sent with ``book``.
        preparer: the ERP user who prepared it (制单人), sent in ``settings.preparer_field`` when that is set.

    Returns:
        The model, with amounts as strings with two decimals (never floats).

    Raises:
        MappingError: malformed voucher, unknown currency or auxiliary dimension, or no route matches.
        UnbalancedVoucher: the voucher does not balance.
    """
    built = voucher if isinstance(voucher, Voucher) else voucher_from_json(voucher)
    if book is None:
        book, org = route_book(built, settings)
    currency = settings.currency_number.get(built.currency)
    if currency is None:
        raise MappingError(t(f"币别 {built.currency} 没有对应的金蝶币别编码",
                             f"no Kingdee currency number for {built.currency}"),
                           where="voucher.currency",
                           fix=t(f"在设置 currency_number 中加入 {built.currency}",
                                 f"add {built.currency} to the currency_number setting"))
    entries = []
    for index, line in enumerate(built.lines):
        detail: dict[str, Any] = {}
        for name, value in line.aux:
            flex = settings.aux_fields.get(name)
            if flex is None:
                known = ", ".join(sorted(settings.aux_fields)) or "(none)"
                raise MappingError(
                    t(f"未配置的辅助核算维度 {name}", f"auxiliary dimension {name} is not configured"),
                    where=f"voucher.lines.{index}.aux",
                    fix=t(f"在设置 aux_fields 中为 {name} 指定弹性域字段（已配置：{known}）",
                          f"map {name} to a flex field in aux_fields (configured: {known})"))
            detail[flex] = {"FNumber": value}
        debit = line.direction is Direction.DEBIT
        amount = _amount_text(line.amount)
        entries.append({
            "FEXPLANATION": line.summary,
            "FACCOUNTID": {"FNumber": line.account},
            "FDC": 1 if debit else -1,
            "FDEBIT": amount if debit else "0",
            "FCREDIT": "0" if debit else amount,
            "FDetailID": detail,
        })
    model: dict[str, Any] = {"FAccountBookID": {"FNumber": book}}
    if org is not None:
        model["FACCBOOKORGID"] = {"FNumber": org}
    model = {
        **model,
        "FDate": built.date.isoformat(),
        "FVOUCHERGROUPID": {"FNumber": settings.voucher_groups.get(built.group, built.group)},
        "FCURRENCYID": {"FNumber": currency},
        "FEXCHANGERATE": 1,
        settings.reference_field: reference,
        "FEntity": entries,
    }
    if preparer and settings.preparer_field:
        model[settings.preparer_field] = {"FUserAccount": preparer}
    return model


# --------------------------------------------------------------------------- routing (多组织 / 账套)


def explicit_book(request: Mapping[str, Any], action: str) -> tuple[str | None, str | None]:
    """The ``book`` and ``org`` a flow set in the request, or ``(None, None)``.

    Raises:
        MappingError: ``org`` without ``book``, or either is not a non-empty text.
    """
    book, org = request.get("book"), request.get("org")
    for name, value in (("book", book), ("org", org)):
        if value is not None and (not isinstance(value, str) or not value):
            raise MappingError(t(f"{name} 应为非空文本", f"{name} must be a non-empty text"),
                               where=f"{action}.{name}",
                               fix=t("填写金蝶的账簿编码 / 核算组织编码", "give the Kingdee book / org number"))
    if org is not None and book is None:
        raise MappingError(t("请求指定了 org 但没有 book", "the request sets org without book"),
                           where=f"{action}.org", fix=t("同时指定 book，或都不指定以按规则路由",
                                                        "set book as well, or neither to route by rule"))
    return book, org



def voucher_department(voucher: Voucher) -> str | None:
    """The one department the voucher's lines name (auxiliary dimension ``department``), or ``None``.

    Raises:
        MappingError: the lines name more than one department.
    """
    departments = sorted({value for line in voucher.lines for name, value in line.aux if name == "department"})
    if len(departments) > 1:
        raise MappingError(
            t(f"凭证 {voucher.reference} 涉及多个部门：{'、'.join(departments)}",
              f"voucher {voucher.reference} names several departments: {', '.join(departments)}"),
            where="voucher.lines.aux.department",
            fix=t("按部门拆分凭证，或在路由规则中改用 voucher_book 条件",
                  "split the voucher by department, or route by voucher_book instead"))
    return departments[0] if departments else None


def route_book(voucher: Voucher, settings: KingdeeSettings) -> tuple[str, str | None]:
    """The (account book, organisation) numbers for ``voucher``: the first matching rule of ``routes``.

    Without rules, ``settings.book`` and ``settings.org``.

    Raises:
        MappingError: rules are set and none matches; the message names the voucher's department and
            book, the attributes rules look at. Never falls back to a default book.
    """
    if not settings.routes:
        return settings.book, settings.org
    departments = sorted({value for line in voucher.lines for name, value in line.aux if name == "department"})
    for route in settings.routes:
        if route.voucher_book is not None and route.voucher_book != voucher.book:
            continue
        prefix = route.department_prefix
        if prefix is not None and not (departments and all(d.startswith(prefix) for d in departments)):
            continue
        return route.book, route.org
    shown = "、".join(departments) or "（无）"
    raise MappingError(
        t(f"凭证 {voucher.reference} 没有匹配的账簿路由规则：部门={shown}，账簿名={voucher.book}",
          f"no account-book route matches voucher {voucher.reference}: department={shown or '(none)'}, "
          f"book={voucher.book}"),
        where="kingdee.routes",
        fix=t("在设置 routes 中加入匹配该部门（department_prefix）或账簿名（voucher_book）的规则，"
              "或由流程在请求中指定 book",
              "add a route matching this department (department_prefix) or book name (voucher_book), "
              "or let the flow set book in the request"))


# --------------------------------------------------------------------------- derived references


def _digest(prefix: str, parts: Iterable[str]) -> str:
    """``prefix`` + 22 upper-case hex digits: the length of the hub's own references."""
    return prefix + hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:22].upper()


def merged_reference(references: Iterable[str]) -> str:
    """The reference of a merged voucher: a digest of the set of source references (any order)."""
    return _digest("HM", sorted(set(references)))


def batch_reference(batch: str, voucher_reference: str) -> str:
    """The hub reference of one voucher of a batch: derived from the batch's and the voucher's own."""
    return _digest("HB", (batch, voucher_reference))


def reversal_reference(original: str, settings: KingdeeSettings) -> str:
    """The reference of the voucher reversing the one that carries ``original``."""
    return original + settings.reversal_suffix


# --------------------------------------------------------------------------- merging approvals


def by_department(voucher: Voucher) -> tuple[str, ...]:
    """The default grouping of :func:`merge_vouchers`: the voucher's department (empty when none)."""
    return (voucher_department(voucher) or "",)


def merge_vouchers(vouchers: Iterable[Voucher], *,
                   group_by: Callable[[Voucher], tuple[str, ...]] = by_department,
                   summary_limit: int = 80) -> list[Voucher]:
    """Merge many approvals' vouchers into one voucher per account book, date and group (汇总凭证).

    Book, date, 凭证字 and currency always separate vouchers (a voucher has one of each); ``group_by``
    adds the rest of the key (by default the department). Within a merged voucher, lines with the same
    account, direction and auxiliary dimensions are summed. A merged line's summary is its distinct
    source summaries joined by ``；`` when they fit in ``summary_limit`` characters, else
    ``<first>等N项``. The merged reference is :func:`merged_reference` of the sources.

    The result does not depend on the order of ``vouchers``: groups, lines and summaries are sorted.
    Every merged voucher balances, since every source does (and :class:`Voucher` checks again).

    Raises:
        MappingError: a reference appears twice (the same approval would be counted twice), or a
            voucher names several departments (default ``group_by``).
    """
    groups: dict[tuple[str, ...], list[Voucher]] = {}
    seen: set[str] = set()
    for voucher in vouchers:
        if voucher.reference in seen:
            raise MappingError(
                t(f"凭证 {voucher.reference} 重复出现，合并会重复记账",
                  f"voucher {voucher.reference} appears twice; merging would count it twice"),
                where="merge_vouchers", fix=t("每张审批单只传入一次", "pass each approval once"))
        seen.add(voucher.reference)
        key = (voucher.book, voucher.date.isoformat(), voucher.group, voucher.currency, *group_by(voucher))
        groups.setdefault(key, []).append(voucher)
    return [_merge_group(groups[key], summary_limit) for key in sorted(groups)]


def _merge_group(vouchers: Sequence[Voucher], summary_limit: int) -> Voucher:
    first = vouchers[0]
    sums: dict[tuple[int, str, tuple[tuple[str, str], ...]], tuple[Decimal, set[str]]] = {}
    for voucher in vouchers:
        for line in voucher.lines:
            # Debit lines first, as accountants lay vouchers out.
            key = (0 if line.direction is Direction.DEBIT else 1, line.account, tuple(sorted(line.aux)))
            total, summaries = sums.get(key, (Decimal(0), set()))
            summaries.add(line.summary)
            sums[key] = (total + line.amount.amount, summaries)
    lines = tuple(
        VoucherLine(_summarise(summaries, summary_limit), account,
                    Direction.DEBIT if side == 0 else Direction.CREDIT, Money(total, first.currency), aux)
        for (side, account, aux), (total, summaries) in sorted(sums.items()))
    return Voucher(merged_reference(v.reference for v in vouchers), first.book, first.date, first.group,
                   first.currency, lines)


def _summarise(summaries: set[str], limit: int) -> str:
    ordered = sorted(summaries)
    joined = "；".join(ordered)
    if len(joined) <= limit:
        return joined
    suffix = f"等{len(ordered)}项"
    return ordered[0][: max(limit - len(suffix), 1)] + suffix


# --------------------------------------------------------------------------- reading back and reversing


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """One entry row of a voucher as Kingdee holds it; amounts signed as stored."""

    explanation: str
    account: str
    debit: Decimal
    credit: Decimal
    detail: tuple[tuple[str, str], ...]
    """(flex field, number) of the auxiliary dimensions that are set."""


@dataclass(frozen=True, slots=True)
class StoredVoucher:
    """A voucher read back with ExecuteBillQuery: what a reversing voucher copies."""

    id: int
    number: str
    status: str
    date: date
    book: str
    org: str | None
    group: str
    currency: str
    exchange_rate: Decimal
    entries: tuple[StoredEntry, ...]


_HEADER_KEYS = ("FVOUCHERID", "FBillNo", "FDocumentStatus", "FDate", "FAccountBookID.FNumber",
                "FACCBOOKORGID.FNumber", "FVOUCHERGROUPID.FNumber", "FCURRENCYID.FNumber", "FEXCHANGERATE")
_ENTRY_KEYS = ("FEXPLANATION", "FACCOUNTID.FNumber", "FDEBIT", "FCREDIT")


def stored_voucher_fields(settings: KingdeeSettings) -> list[str]:
    """The ``FieldKeys`` that :func:`stored_voucher` reads: header, entry and one per flex field."""
    flexes = sorted(set(settings.aux_fields.values()))
    return [*_HEADER_KEYS, *_ENTRY_KEYS, *(f"FDetailID.{flex}.FNumber" for flex in flexes)]


def stored_voucher(rows: Sequence[Sequence[Any]], settings: KingdeeSettings) -> StoredVoucher | None:
    """Rebuild one voucher from ExecuteBillQuery rows (one per entry) of :func:`stored_voucher_fields`.

    Rows of several vouchers are allowed; the oldest (lowest id) is read. ``None`` without rows.

    Raises:
        MappingError: a row does not have the shape asked for.
    """
    width = len(stored_voucher_fields(settings))
    flexes = sorted(set(settings.aux_fields.values()))
    good = [r for r in rows if len(r) == width and r[0] is not None]
    if len(good) != len(rows):
        raise MappingError(t("金蝶查询返回的凭证行格式不正确", "Kingdee's voucher rows have another shape"),
                           where="ExecuteBillQuery", fix=t("检查金蝶版本与字段 FieldKeys", "check FieldKeys"))
    if not good:
        return None
    oldest = min(int(r[0]) for r in good)
    mine = [r for r in good if int(r[0]) == oldest]
    head = mine[0]
    try:
        entries = tuple(
            StoredEntry(str(r[9] or ""), str(r[10]), parse_amount(r[11] or 0, "FDEBIT"),
                        parse_amount(r[12] or 0, "FCREDIT"),
                        tuple((flex, str(v)) for flex, v in zip(flexes, r[13:], strict=True) if v))
            for r in mine)
        return StoredVoucher(oldest, str(head[1]), str(head[2]), date.fromisoformat(str(head[3])[:10]),
                             str(head[4]), None if head[5] in (None, "") else str(head[5]), str(head[6]),
                             str(head[7]), parse_amount(head[8] or 1, "FEXCHANGERATE"), entries)
    except ValueError as exc:
        raise MappingError(t(f"金蝶凭证 {head[1]} 无法读取：{exc}", f"cannot read Kingdee voucher {head[1]}: {exc}"),
                           where="ExecuteBillQuery", fix=t("检查该凭证在金蝶中的数据", "check the voucher")) from exc


def _signed_text(amount: Decimal) -> str:
    return "0" if amount == 0 else format(amount.quantize(_FEN), "f")


def reversal_model(original: StoredVoucher, reference: str, settings: KingdeeSettings, *,
                   on: date) -> dict[str, Any]:
    """The ``Model`` of the voucher reversing ``original`` (冲销凭证), dated ``on``.

    Same book, organisation, 凭证字, currency, accounts and auxiliary dimensions. With
    :attr:`ReversalStyle.RED` the amounts are negated in place and ``FISREDWRITEOFF`` is set (红字冲销);
    with :attr:`ReversalStyle.SWAP` debit and credit swap sides. Each summary names the original
    (``冲销 记-0001：…``), and ``settings.reversal_link_field`` carries its number. It balances when the
    original does.
    """
    red = settings.reversal_style is ReversalStyle.RED
    entries = []
    for entry in original.entries:
        debit, credit = (-entry.debit, -entry.credit) if red else (entry.credit, entry.debit)
        entries.append({
            "FEXPLANATION": f"冲销 {original.number}：{entry.explanation}",
            "FACCOUNTID": {"FNumber": entry.account},
            "FDC": 1 if (debit != 0) else -1,
            "FDEBIT": _signed_text(debit),
            "FCREDIT": _signed_text(credit),
            "FDetailID": {flex: {"FNumber": value} for flex, value in entry.detail},
        })
    model: dict[str, Any] = {"FAccountBookID": {"FNumber": original.book}}
    if original.org is not None:
        model["FACCBOOKORGID"] = {"FNumber": original.org}
    model.update({
        "FDate": on.isoformat(),
        "FVOUCHERGROUPID": {"FNumber": original.group},
        "FCURRENCYID": {"FNumber": original.currency},
        "FEXCHANGERATE": format(original.exchange_rate, "f"),
        settings.reference_field: reference,
        "FEntity": entries,
    })
    if red:
        model["FISREDWRITEOFF"] = True
    if settings.reversal_link_field is not None:
        model[settings.reversal_link_field] = original.number
    return model
