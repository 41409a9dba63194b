"""Rows of a file as typed records, every row validated before anything is returned; records written back.

:func:`load_rows` is shared by generic records and vouchers: it maps the header to canonical fields, parses
every cell of every row, and collects every problem (header, cell, missing value) instead of stopping at the
first one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from huiliu.connectors.files.report import ImportReport, RowError
from huiliu.connectors.files.settings import FilesSettings
from huiliu.connectors.files.table import CellError, header_map, parse_cell, read_table, row_error, write_table
from huiliu.i18n import t

__all__ = ["Loaded", "Row", "export_records", "load_rows", "read_records"]


@dataclass(frozen=True, slots=True)
class Row:
    """One data row: its Excel row number and its values by canonical field (``None`` when blank)."""

    number: int
    values: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Loaded:
    """What :func:`load_rows` found.

    Attributes:
        rows: every data row; a cell that failed to parse is ``None`` and its row is in ``failed``.
        titles: canonical field → the title it has in this file.
        ignored_columns: titles not mapped to a field (when unknown columns are ignored).
        errors: every problem found.
    """

    rows: list[Row]
    titles: dict[str, str]
    ignored_columns: list[str]
    errors: list[RowError] = field(default_factory=list)
    failed: set[int] = field(default_factory=set)

    def title(self, name: str) -> str:
        """The title of ``name`` in this file (or in the settings, or the field name)."""
        return self.titles.get(name, name)


def load_rows(path: Path, settings: FilesSettings, source: str, required: Sequence[str],
              required_values: Sequence[str] | None = None) -> Loaded:
    """Read and type every row of a file.

    Args:
        path: the file, already confined to the root.
        settings: columns, types, encoding, zone.
        source: the name shown in messages (the path as the request gave it).
        required: fields that need a column.
        required_values: fields that need a value in every row; ``None``: the same as ``required``.

    Raises:
        PathRefused: the file cannot be opened or decoded, or is too large.
    """
    table = read_table(path, settings, source)
    errors: list[RowError] = [
        RowError(1, cells, "", t(f"表头存在合并单元格 {cells}", f"merged header cells {cells}"),
                 t("取消合并，每列只保留一个标题（第 1 行）", "unmerge them: one title per column in row 1"))
        for cells in table.merged_header]
    fields, ignored, header_errors = header_map(table.titles, settings)
    errors += header_errors
    titles = {name: table.titles[index] or name for index, name in fields.items()}
    for name in required:
        if name not in titles:
            title = settings.title_of(name) or name
            errors.append(RowError(1, title, "", t(f"缺少必需的列「{title}」", f"required column {title} is missing"),
                                   t(f"在第 1 行加入标题为「{title}」的列", f"add a column titled {title} in row 1")))
    if errors:
        return Loaded([], titles, ignored, errors)
    needed = set(required if required_values is None else required_values)
    rows: list[Row] = []
    failed: set[int] = set()
    for number, cells in table.rows:
        values: dict[str, Any] = {}
        bad = False
        for index, name in fields.items():
            raw = cells[index] if index < len(cells) else None
            try:
                values[name] = parse_cell(raw, settings.type_of(name), settings)
            except CellError as exc:
                errors.append(row_error(number, titles[name], raw, exc))
                values[name] = None
                bad = True
                continue
            if values[name] is None and name in needed:
                errors.append(RowError(number, titles[name], "", t("必填项为空", "required value is missing"),
                                       t(f"填写「{titles[name]}」", f"fill in {titles[name]}")))
                bad = True
        rows.append(Row(number, values))
        if bad:
            failed.add(number)
    return Loaded(rows, titles, ignored, errors, failed)


def read_records(path: Path, settings: FilesSettings, source: str,
                 required: Sequence[str] = ()) -> tuple[list[dict[str, Any]], ImportReport, list[str]]:
    """``(records, report, ignored columns)``; ``records`` is empty unless the report is (all or nothing)."""
    loaded = load_rows(path, settings, source, required)
    report = ImportReport(source, tuple(sorted(loaded.errors, key=lambda e: e.row)))
    records = [dict(row.values) for row in loaded.rows] if report.ok else []
    return records, report, loaded.ignored_columns


def export_records(path: Path, records: Iterable[Mapping[str, Any]], fields: Sequence[str],
                   settings: FilesSettings) -> int:
    """Write records with one column per field (titled from ``settings.columns``, else the field name).

    Values are written as their field's type; the number of rows is returned.
    """
    columns = [(settings.title_of(name) or name, settings.type_of(name)) for name in fields]
    return write_table(path, columns, ([record.get(name) for name in fields] for record in records), settings)
