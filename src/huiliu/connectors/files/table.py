"""Tables in CSV and .xlsx files: a header row of titles, then rows of typed cells; read and written without floats.

Excel keeps numbers as IEEE doubles, and openpyxl hands a numeric cell back as ``float``. Amounts therefore go
in as ``Decimal`` (openpyxl writes its exact digits into the XML, so ``1234.56`` is stored as ``1234.56``) with
the number format ``#,##0.00``, and come back through ``Decimal(repr(value))``: the shortest text that gives the
same double, which is the amount typed when it has at most 15 significant digits. A value with more digits
after the cents is refused unless it is within 1e-6 of a cent (``0.1 + 0.2`` from a formula: rounded to the
cent); amounts of 1e13 or more are refused, since a double cannot hold them to the cent — the setting
``amounts_as_text`` writes amounts as text, which keeps every digit. CSV holds text, parsed by
:func:`huiliu.model.parse_amount` (``1,234.56`` and ``¥1234.56`` accepted).

Dates are real Excel dates (``yyyy-mm-dd``); times are written in the configured zone, and naive times read
from a file are taken to be in it.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from huiliu.connectors.files.report import PathRefused, RowError
from huiliu.connectors.files.settings import Encoding, FieldType, FilesSettings
from huiliu.i18n import Text, t
from huiliu.model import parse_amount

__all__ = ["CellError", "Table", "header_map", "parse_cell", "read_table", "row_error", "write_table"]

_FEN = Decimal("0.01")
_TOO_LARGE = Decimal("1e13")
_DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")
_FORMATS = {FieldType.AMOUNT: "#,##0.00", FieldType.DATE: "yyyy-mm-dd", FieldType.DATETIME: "yyyy-mm-dd hh:mm:ss",
            FieldType.INTEGER: "0", FieldType.TEXT: "@"}


@dataclass(frozen=True, slots=True)
class Table:
    """What a file holds: the header titles, and each data row with its Excel row number.

    Attributes:
        titles: the header cells, stripped (``None`` for an empty header cell).
        rows: ``(row number, cells)``; blank rows are left out.
        merged_header: merged ranges touching the header row, e.g. ``["A1:B1"]`` (Excel only).
    """

    titles: list[str | None]
    rows: list[tuple[int, list[Any]]]
    merged_header: list[str]


class CellError(ValueError):
    """A cell that cannot be read as its type: why, and how to fix it."""

    def __init__(self, why: Text, fix: Text) -> None:
        super().__init__(why.en)
        self.why, self.fix = why, fix


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _decode(raw: bytes, encoding: Encoding, source: str) -> str:
    if raw.startswith(codecs.BOM_UTF8):
        return raw[len(codecs.BOM_UTF8):].decode("utf-8")  # a BOM decides, whatever the setting says
    names = {Encoding.AUTO: ("utf-8", "gb18030"), Encoding.UTF8_SIG: ("utf-8",), Encoding.UTF8: ("utf-8",),
             Encoding.GBK: ("gbk",), Encoding.GB18030: ("gb18030",)}[encoding]
    for name in names:
        try:
            return raw.decode(name)
        except UnicodeDecodeError as exc:
            last = exc
    raise PathRefused(
        t(f"文件 {source} 不是 {encoding.value} 编码（第 {last.start} 字节）",
          f"{source} is not {encoding.value} (byte {last.start})"),
        where=source, fix=t("在 Excel 中另存为“CSV UTF-8（逗号分隔）”，或把设置 encoding 改为文件实际的编码",
                            "save as \"CSV UTF-8\" in Excel, or set encoding to the file's real encoding"))


def _read_csv(path: Path, settings: FilesSettings, source: str) -> Table:
    text = _decode(path.read_bytes(), settings.encoding, source)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=settings.delimiter)
    titles: list[str | None] = []
    rows: list[tuple[int, list[Any]]] = []
    for number, cells in enumerate(reader, start=1):
        if number == 1:
            titles = [c.strip() or None for c in cells]
        elif any(not _blank(c) for c in cells):
            rows.append((number, list(cells)))
        if number > settings.max_rows + 1:
            raise _too_many(source, settings.max_rows)
    return Table(titles, rows, [])


def _too_many(source: str, limit: int) -> PathRefused:
    return PathRefused(t(f"文件 {source} 超过 {limit} 行", f"{source} has more than {limit} rows"), where=source,
                       fix=t("拆分为多个文件，或调大设置 max_rows", "split the file, or raise the max_rows setting"))


def _read_xlsx(path: Path, settings: FilesSettings, source: str) -> Table:
    try:
        book = load_workbook(path, data_only=True)  # cached values of formulas, not the formulas
    except (InvalidFileException, KeyError, OSError, ValueError) as exc:
        raise PathRefused(t(f"无法打开 Excel 文件 {source}：{type(exc).__name__}", f"cannot open {source} as .xlsx"),
                          where=source, fix=t("确认文件是 .xlsx 工作簿（不是改了扩展名的 .xls 或 CSV）",
                                              "check it is an .xlsx workbook, not a renamed .xls or CSV")) from exc
    try:
        if settings.sheet is not None and settings.sheet not in book.sheetnames:
            raise PathRefused(t(f"工作簿中没有工作表 {settings.sheet}", f"no sheet {settings.sheet} in {source}"),
                              where=source, fix=t(f"可用的工作表：{'、'.join(book.sheetnames)}",
                                                  f"sheets: {', '.join(book.sheetnames)}"))
        sheet = book[settings.sheet] if settings.sheet is not None else book.worksheets[0]
        if sheet.max_row > settings.max_rows + 1:
            raise _too_many(source, settings.max_rows)
        merged = [str(r) for r in sheet.merged_cells.ranges if r.min_row <= 1]
        titles: list[str | None] = []
        rows: list[tuple[int, list[Any]]] = []
        for number, cells in enumerate(sheet.iter_rows(values_only=True), start=1):
            if number == 1:
                titles = [None if _blank(c) else str(c).strip() for c in cells]
            elif any(not _blank(c) for c in cells):
                rows.append((number, list(cells)))
        return Table(titles, rows, merged)
    finally:
        book.close()


def read_table(path: Path, settings: FilesSettings, source: str) -> Table:
    """Read a .csv or .xlsx file's header and rows (untyped).

    Raises:
        PathRefused: the file cannot be decoded or opened, or is too large.
    """
    if path.suffix.lower() == ".xlsx":
        return _read_xlsx(path, settings, source)
    return _read_csv(path, settings, source)


def _amount(value: Any) -> Decimal:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CellError(t("不是有效数字", "not a finite number"), t("改为金额，如 1234.56", "type an amount"))
        exact = Decimal(repr(value))
        if abs(exact) >= _TOO_LARGE:
            raise CellError(t("金额过大，Excel 数字无法精确到分", "too large for an Excel number to hold to the cent"),
                            t("将该列设为文本格式后输入，或启用设置 amounts_as_text",
                              "format the column as text, or turn on amounts_as_text"))
        cents = exact.quantize(_FEN, rounding=ROUND_HALF_UP)
        if abs(exact - cents) > Decimal("1e-6"):
            raise CellError(t("金额超过两位小数", "more than two decimals"),
                            t("金额保留到分，如 1234.56", "round the amount to the cent, e.g. 1234.56"))
        return cents
    try:
        amount = parse_amount(value.strip() if isinstance(value, str) else value)
    except ValueError:
        raise CellError(t("不是金额", "not an amount"),
                        t("填写数字，如 1234.56（可带千分位逗号）",
                          "type a number such as 1234.56 (thousands commas allowed)")) from None
    if amount != amount.quantize(_FEN):
        raise CellError(t("金额超过两位小数", "more than two decimals"),
                        t("金额保留到分，如 1234.56", "round the amount to the cent, e.g. 1234.56"))
    return amount.quantize(_FEN)


def _date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    found = _DATE.match(text)
    try:
        if found:
            return date(int(found[1]), int(found[2]), int(found[3]))
        if len(text) == 8 and text.isdigit():
            return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        raise CellError(t("日期不存在", "no such date"), t("检查年月日，如 2026-11-20", "check the date")) from None
    raise CellError(t("不是日期", "not a date"),
                    t("填写如 2026-11-20 或 2026/11/20 的日期，或设置单元格为日期格式",
                      "type a date such as 2026-11-20, or format the cell as a date"))


def _datetime(value: Any, settings: FilesSettings) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip().replace("/", "-"))
        except ValueError:
            raise CellError(t("不是时间", "not a time"), t("填写如 2026-11-20 09:30:00 的时间",
                                                          "type a time such as 2026-11-20 09:30:00")) from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=settings.zone)
    return moment.astimezone(settings.zone)


def parse_cell(value: Any, kind: FieldType, settings: FilesSettings) -> Any:
    """A cell's value as its type; ``None`` for a blank cell.

    Raises:
        CellError: the value is not of the type.
    """
    if _blank(value):
        return None
    if kind is FieldType.AMOUNT:
        return _amount(value)
    if kind is FieldType.DATE:
        return _date(value)
    if kind is FieldType.DATETIME:
        return _datetime(value, settings)
    if kind is FieldType.INTEGER:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, int) or (isinstance(value, str) and value.strip().lstrip("-").isdigit()):
            return int(value)
        raise CellError(t("不是整数", "not a whole number"), t("填写整数，如 12", "type a whole number, e.g. 12"))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a code typed into a number cell: 6602.0 is "6602"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value).strip()


def row_error(row: int, column: str, value: Any, exc: CellError) -> RowError:
    """The :class:`RowError` for a cell that failed to parse."""
    return RowError(row, column, "" if value is None else str(value), exc.why, exc.fix)


def _text(value: Any, kind: FieldType, settings: FilesSettings) -> str:
    if value is None:
        return ""
    if kind is FieldType.AMOUNT:
        return format(Decimal(value).quantize(_FEN), "f")
    if kind is FieldType.DATETIME and isinstance(value, datetime):
        return value.astimezone(settings.zone).replace(tzinfo=None).isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _excel(value: Any, kind: FieldType, settings: FilesSettings) -> Any:
    if value is None:
        return None
    if kind is FieldType.AMOUNT:
        amount = Decimal(value).quantize(_FEN)
        return format(amount, "f") if settings.amounts_as_text else amount
    if kind is FieldType.DATETIME and isinstance(value, datetime):
        return value.astimezone(settings.zone).replace(tzinfo=None)
    if kind is FieldType.TEXT:
        return str(value)
    return value


def write_table(path: Path, columns: Sequence[tuple[str, FieldType]], rows: Iterable[Sequence[Any]],
                settings: FilesSettings) -> int:
    """Write a header of titles and typed rows to a .csv or .xlsx file; returns the number of rows.

    Raises:
        PathRefused: a character cannot be written in the CSV encoding (GBK has no emoji, for instance).
    """
    count = 0
    if path.suffix.lower() == ".xlsx":
        book = Workbook()
        sheet = book.active
        sheet.title = "Sheet1"
        sheet.append([title for title, _ in columns])
        for count, row in enumerate(rows, start=1):  # noqa: B007 — count is read after the loop
            sheet.append([_excel(v, kind, settings) for v, (_, kind) in zip(row, columns, strict=True)])
        for index, (_, kind) in enumerate(columns, start=1):
            fmt = "@" if kind is FieldType.AMOUNT and settings.amounts_as_text else _FORMATS[kind]
            for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                cell.number_format = fmt
        book.save(path)
        return count
    encoding = "utf-8-sig" if settings.encoding is Encoding.AUTO else settings.encoding.value
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=settings.delimiter, lineterminator="\r\n")
    writer.writerow([title for title, _ in columns])
    for count, row in enumerate(rows, start=1):  # noqa: B007
        writer.writerow([_text(v, kind, settings) for v, (_, kind) in zip(row, columns, strict=True)])
    try:
        data = buffer.getvalue().encode(encoding)
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start:exc.end]
        raise PathRefused(t(f"字符 “{bad}” 无法用 {encoding} 编码写入", f"{bad!r} cannot be written in {encoding}"),
                          where=str(path.name), fix=t("改用 utf-8-sig 或 gb18030 编码，或去掉该字符",
                                                      "use utf-8-sig or gb18030, or remove the character")) from exc
    path.write_bytes(data)
    return count


def header_map(titles: Sequence[str | None], settings: FilesSettings) -> tuple[dict[int, str], list[str],
                                                                              list[RowError]]:
    """``(column index → field, ignored titles, header errors)`` for a header row."""
    wanted = {_norm(title): field for title, field in settings.columns.items()}
    fields: dict[int, str] = {}
    ignored: list[str] = []
    errors: list[RowError] = []
    seen: dict[str, str] = {}
    for index, title in enumerate(titles):
        if title is None:
            continue
        field = wanted.get(_norm(title))
        if field is None:
            if settings.unknown_columns.value == "error":
                errors.append(RowError(1, title, title, t("未知的列", "unknown column"),
                                       t(f"删除该列，或在设置 columns 中为它指定字段"
                                         f"（已知：{'、'.join(settings.columns)}）",
                                         "remove the column, or map it in the columns setting")))
            else:
                ignored.append(title)
            continue
        if field in seen:
            errors.append(RowError(1, title, title, t(f"与列「{seen[field]}」重复", f"duplicates column {seen[field]}"),
                                   t("删除重复的列", "remove the duplicate column")))
            continue
        seen[field] = title
        fields[index] = field
    return fields, ignored, errors


def _norm(title: str) -> str:
    return title.replace("\u3000", "").replace(" ", "").rstrip("*＊")

