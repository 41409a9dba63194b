"""Row-level import errors, the report that lists them (also as an .xlsx), and the errors the connector raises.

Row numbers are the ones users see in Excel: the header is row 1, the first data row is row 2 (also for CSV,
where it is the line number). A file is imported only when the report is empty (all or nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font

from huiliu.errors import ProcessingError
from huiliu.i18n import Text, t

__all__ = ["ImportRejected", "ImportReport", "PathRefused", "RowError"]


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem in one cell (or one row, or the header).

    Attributes:
        row: the row number as Excel shows it (header = 1).
        column: the column title as in the file (``借方金额``); empty for a whole row.
        value: the bad value as text, ``""`` when missing.
        why: what is wrong.
        fix: how to fix it.
    """

    row: int
    column: str
    value: str
    why: Text
    fix: Text

    def render(self) -> str:
        """One line in Chinese: ``第 5 行「借方金额」：值 "abc" 不是金额（改为数字，如 1234.56）``."""
        where = f"第 {self.row} 行" + (f"「{self.column}」" if self.column else "")
        shown = f"值 “{self.value}” " if self.value else ""
        return f"{where}：{shown}{self.why.zh}（{self.fix.zh}）"


@dataclass(frozen=True, slots=True)
class ImportReport:
    """Every problem found in a file, in row order."""

    source: str
    errors: tuple[RowError, ...]

    @property
    def ok(self) -> bool:
        """Whether the file can be imported."""
        return not self.errors

    def cells(self) -> set[tuple[int, str]]:
        """``(row, column)`` of every error, for tests and summaries."""
        return {(e.row, e.column) for e in self.errors}

    def summary(self, limit: int = 5) -> str:
        """The first ``limit`` errors, one per line, and how many more."""
        lines = [e.render() for e in self.errors[:limit]]
        if len(self.errors) > limit:
            lines.append(f"……另有 {len(self.errors) - limit} 处")
        return "\n".join(lines)

    def as_json(self) -> list[dict[str, Any]]:
        """The errors as JSON-shaped dicts (both languages)."""
        return [{"row": e.row, "column": e.column, "value": e.value, "why": e.why.zh, "why_en": e.why.en,
                 "fix": e.fix.zh, "fix_en": e.fix.en} for e in self.errors]

    def write_xlsx(self, path: Path) -> Path:
        """Write the report as a one-sheet workbook: 行号, 列, 值, 问题, 修正方法 (English columns after)."""
        book = Workbook()
        sheet = book.active
        sheet.title = "错误报告"
        titles = ["行号", "列", "值", "问题", "修正方法", "Problem", "How to fix"]
        sheet.append(titles)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for e in self.errors:
            sheet.append([e.row, e.column, e.value, e.why.zh, e.fix.zh, e.why.en, e.fix.en])
        for letter, width in zip("ABCDEFG", (8, 14, 20, 48, 40, 48, 40), strict=True):
            sheet.column_dimensions[letter].width = width
        sheet.freeze_panes = "A2"
        book.save(path)
        return path


class ImportRejected(ProcessingError):
    """A file was not imported because of the problems in :attr:`report`; nothing was imported.

    Attributes:
        report: every problem found.
        report_path: where the .xlsx report was written, if it was.
    """

    kind = "import_rejected"

    def __init__(self, report: ImportReport, report_path: Path | None = None) -> None:
        self.report = report
        self.report_path = report_path
        count = len(report.errors)
        hint_zh = f"；错误报告：{report_path}" if report_path else ""
        hint_en = f"; error report: {report_path}" if report_path else ""
        super().__init__(
            t(f"文件 {report.source} 有 {count} 处错误，未导入任何数据：\n{report.summary()}",
              f"{report.source} has {count} problem(s); nothing was imported"),
            where=report.source,
            fix=t(f"按报告逐行修正后重新导入{hint_zh}", f"fix each row named in the report and import again{hint_en}"))


class PathRefused(ProcessingError):
    """A path in a request leads outside the configured directory, or names no usable file."""

    kind = "path_refused"
