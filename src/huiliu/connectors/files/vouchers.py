"""Vouchers (凭证) as rows of a file: one row per line, grouped by 凭证号, each voucher checked to balance.

One row carries the voucher's number, date, 凭证字, 账簿 and currency (repeated on each of its lines) and one
line: account, summary, and the amount in either 借方金额 or 贷方金额. Columns mapped to fields other than the
voucher's are the line's auxiliary dimensions (辅助核算, e.g. 部门 → ``department``), in column order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from huiliu.connectors.files.records import Loaded, Row, load_rows
from huiliu.connectors.files.report import ImportReport, RowError
from huiliu.connectors.files.settings import VOUCHER_FIELDS, FieldType, FilesSettings
from huiliu.connectors.files.table import write_table
from huiliu.i18n import t
from huiliu.model import Direction, Money, Voucher, VoucherLine

__all__ = ["VoucherImport", "export_vouchers", "read_vouchers"]


@dataclass(frozen=True, slots=True)
class VoucherImport:
    """The vouchers of a file, or why there are none.

    Attributes:
        vouchers: every voucher, in file order; empty unless ``report.ok``.
        report: every problem found.
        rows: data rows read.
        ignored_columns: titles skipped as unknown.
    """

    vouchers: tuple[Voucher, ...]
    report: ImportReport
    rows: int
    ignored_columns: tuple[str, ...]


def _line(row: Row, loaded: Loaded, currency: str, errors: list[RowError]) -> VoucherLine | None:
    v = row.values
    debit, credit = v.get("debit") or Decimal(0), v.get("credit") or Decimal(0)
    for name, amount in (("debit", debit), ("credit", credit)):
        if amount < 0:
            errors.append(RowError(row.number, loaded.title(name), str(amount), t("金额不能为负", "negative amount"),
                                   t("红字冲销请把金额填在另一方向", "enter a reversal on the other side instead")))
            return None
    if (debit > 0) == (credit > 0):
        both = debit > 0
        errors.append(RowError(
            row.number, loaded.title("debit"), f"{debit}/{credit}",
            t("借方与贷方同时有金额" if both else "借方与贷方金额都为空或为 0",
              "both debit and credit have an amount" if both else "neither debit nor credit has an amount"),
            t("每行只在借方金额或贷方金额中填写一个正数", "enter one positive amount, in debit or in credit")))
        return None
    aux = tuple((name, str(value)) for name, value in v.items() if name not in VOUCHER_FIELDS and value is not None)
    direction = Direction.DEBIT if debit > 0 else Direction.CREDIT
    return VoucherLine(v.get("summary") or "", v["account"], direction, Money(debit or credit, currency), aux)


def _voucher(number: str, rows: list[Row], loaded: Loaded, settings: FilesSettings,
             errors: list[RowError]) -> Voucher | None:
    first = rows[0].values
    currency = (first.get("currency") or settings.currency).upper()
    before = len(errors)
    for row in rows[1:]:
        for name in ("date", "currency", "group", "book"):
            mine, theirs = row.values.get(name), first.get(name)
            if mine is not None and theirs is not None and mine != theirs:
                errors.append(RowError(row.number, loaded.title(name), str(mine),
                                       t(f"与本凭证第 {rows[0].number} 行不一致（{theirs}）",
                                         f"differs from row {rows[0].number} of this voucher ({theirs})"),
                                       t("同一凭证号的各行应相同", "all rows of one voucher must agree")))
    try:
        Money.zero(currency)
    except ValueError:
        errors.append(RowError(rows[0].number, loaded.title("currency"), currency, t("不是币别代码", "not a currency"),
                               t("填写 ISO 4217 代码，如 CNY、USD", "use an ISO 4217 code such as CNY")))
        return None
    lines = [_line(row, loaded, currency, errors) for row in rows if row.number not in loaded.failed]
    if len(errors) > before or any(line is None for line in lines) or len(lines) < len(rows):
        return None  # a voucher with a bad line is not balance-checked: the line is the problem to report
    kept = [line for line in lines if line is not None]
    debit = sum((x.amount.amount for x in kept if x.direction is Direction.DEBIT), Decimal(0))
    credit = sum((x.amount.amount for x in kept if x.direction is Direction.CREDIT), Decimal(0))
    if debit != credit or len(kept) < 2:
        span = f"{rows[0].number}" if len(rows) == 1 else f"{rows[0].number}–{rows[-1].number}"
        why = (t(f"凭证 {number}（第 {span} 行）借贷不平衡：借方 {debit}，贷方 {credit}",
                 f"voucher {number} (rows {span}) does not balance: debit {debit}, credit {credit}")
               if len(kept) >= 2 else
               t(f"凭证 {number} 只有一行分录", f"voucher {number} has a single line"))
        errors.append(RowError(rows[0].number, loaded.title("number"), number, why,
                               t("补齐或修正该凭证的分录，使借方合计等于贷方合计",
                                 "complete or correct the voucher's lines so debit equals credit")))
        return None
    return Voucher(number, first.get("book") or settings.book, first["date"], first.get("group") or settings.group,
                   currency, tuple(kept))


def read_vouchers(path: Path, settings: FilesSettings, source: str) -> VoucherImport:
    """Every voucher of a file, or a report of every problem and no vouchers (all or nothing)."""
    loaded = load_rows(path, settings, source, settings.required, settings.required_values)
    errors = list(loaded.errors)
    vouchers: list[Voucher] = []
    if not any(e.row == 1 for e in errors):
        groups: dict[str, list[Row]] = {}
        for row in loaded.rows:
            if row.values.get("number") is not None:
                groups.setdefault(str(row.values["number"]), []).append(row)
        for number, rows in groups.items():
            voucher = _voucher(number, rows, loaded, settings, errors)
            if voucher is not None:
                vouchers.append(voucher)
    report = ImportReport(source, tuple(sorted(errors, key=lambda e: (e.row, e.column))))
    return VoucherImport(tuple(vouchers) if report.ok else (), report, len(loaded.rows),
                         tuple(loaded.ignored_columns))


def export_vouchers(path: Path, vouchers: Sequence[Voucher], settings: FilesSettings) -> int:
    """Write vouchers one line per row; returns the number of rows.

    Columns: every field of ``settings.columns`` a voucher has, in the settings' order; auxiliary dimensions
    only when one line has them (and ``settings.columns`` titles them). Re-importing the file with the same
    settings gives the same vouchers.
    """
    aux = {name for v in vouchers for line in v.lines for name, _ in line.aux}
    fields = [name for name in settings.columns.values() if name in VOUCHER_FIELDS or name in aux]
    columns = [(settings.title_of(name) or name, settings.type_of(name)) for name in fields]
    if settings.type_of("date") is not FieldType.DATE:
        raise ValueError("the date field must be typed date to export vouchers")

    def rows() -> Iterable[list[Any]]:
        for voucher in vouchers:
            for line in voucher.lines:
                debit = line.direction is Direction.DEBIT
                values: dict[str, Any] = {
                    "number": voucher.reference, "date": voucher.date, "group": voucher.group, "book": voucher.book,
                    "account": line.account, "summary": line.summary, "currency": voucher.currency,
                    "debit": line.amount.amount if debit else None,
                    "credit": None if debit else line.amount.amount, **dict(line.aux)}
                yield [values.get(name) for name in fields]

    return write_table(path, columns, rows(), settings)
