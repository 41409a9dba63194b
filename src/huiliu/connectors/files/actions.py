"""File actions flows may call: ``files.import`` and ``files.export``.

Paths are relative to ``settings.root`` (one outside it is refused with :class:`PathRefused`).

* ``files.import``: ``{"path", "kind"?: "vouchers" | "records", "required"?: [field, …]}`` →
  ``{"path", "kind", "rows", "vouchers" | "records", "ignored_columns"}``. Vouchers come in the JSON shape of
  :func:`huiliu.model.purchasing.voucher_from_json` (amounts and dates as text); records as dicts of canonical
  field → value (``Decimal`` amounts, ``date`` / tz-aware ``datetime``). Every row is validated first; when any is
  bad nothing is returned, the report is written as ``<name>.errors.xlsx`` next to the file (``settings.report``)
  and :class:`ImportRejected` is raised (a processing error: never retried).
* ``files.export``: ``{"path", "kind"?: "vouchers", "vouchers": [voucher JSON]}`` or ``{"path", "kind": "records",
  "fields": [field, …], "records": [{…}]}`` → ``{"path", "kind", "rows"}``. The file is written to a temporary
  name and renamed, so a reader never sees half a file; an existing file is refused unless ``"overwrite": true``
  or the step is a retry (attempt ≥ 2, which may be replacing its own first try).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from huiliu.connectors.base import ActionContext, ActionRegistry
from huiliu.connectors.files.paths import confine
from huiliu.connectors.files.records import export_records, read_records
from huiliu.connectors.files.report import ImportRejected, ImportReport, PathRefused
from huiliu.connectors.files.settings import FilesSettings
from huiliu.connectors.files.table import CellError, parse_cell
from huiliu.connectors.files.vouchers import export_vouchers, read_vouchers
from huiliu.errors import MappingError
from huiliu.i18n import t
from huiliu.model import Voucher
from huiliu.model.purchasing import voucher_from_json

__all__ = ["EXPORT", "IMPORT", "FileActions", "register_actions", "voucher_to_json"]

IMPORT = "files.import"
EXPORT = "files.export"
_KINDS = ("vouchers", "records")


def voucher_to_json(voucher: Voucher) -> dict[str, Any]:
    """A voucher in the JSON shape :func:`huiliu.model.purchasing.voucher_from_json` reads (amounts as text)."""
    return {"reference": voucher.reference, "book": voucher.book, "date": voucher.date.isoformat(),
            "group": voucher.group, "currency": voucher.currency,
            "lines": [{"summary": line.summary, "account": line.account, "direction": line.direction.value,
                       "amount": {"amount": format(line.amount.amount, "f"), "currency": line.amount.currency},
                       "aux": [list(pair) for pair in line.aux]} for line in voucher.lines]}


def _kind(request: Mapping[str, Any], action: str) -> str:
    kind = request.get("kind", "vouchers")
    if kind not in _KINDS:
        raise MappingError(t(f"kind 应为 vouchers 或 records，实际为 {kind!r}", f"kind must be vouchers or records, "
                                                                          f"got {kind!r}"),
                           where=f"{action}.kind", fix=t("省略 kind 即为 vouchers", "leave kind out for vouchers"))
    return str(kind)


def _fields(request: Mapping[str, Any], key: str, action: str) -> list[str]:
    value = request.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise MappingError(t(f"{key} 应为字段名列表", f"{key} must be a list of field names"), where=f"{action}.{key}",
                           fix=t("如 [\"number\", \"date\", \"amount\"]", "e.g. [\"number\", \"date\", \"amount\"]"))
    return list(value)


class FileActions:
    """The file actions over one directory.

    Args:
        settings: the connector settings.
    """

    def __init__(self, settings: FilesSettings) -> None:
        self.settings = settings

    def _reject(self, path: Path, report: ImportReport) -> ImportRejected:
        written = None
        if self.settings.report:
            written = report.write_xlsx(path.with_name(path.stem + ".errors.xlsx"))
        return ImportRejected(report, written)

    async def import_file(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """``files.import``; see the module docstring. Runs in a worker thread: parsing a large file is slow."""
        return await asyncio.to_thread(self.import_now, request)

    def import_now(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """``files.import`` in the calling thread."""
        given = request.get("path")
        kind = _kind(request, IMPORT)
        path = confine(self.settings.root, given if isinstance(given, str) else "", where=f"{IMPORT}.path",
                       must_exist=True)
        if kind == "vouchers":
            result = read_vouchers(path, self.settings, str(given))
            if not result.report.ok:
                raise self._reject(path, result.report)
            return {"path": given, "kind": kind, "rows": result.rows,
                    "vouchers": [voucher_to_json(v) for v in result.vouchers],
                    "ignored_columns": list(result.ignored_columns)}
        records, report, ignored = read_records(path, self.settings, str(given), _fields(request, "required", IMPORT))
        if not report.ok:
            raise self._reject(path, report)
        return {"path": given, "kind": kind, "rows": len(records), "records": records, "ignored_columns": ignored}

    def _records(self, request: Mapping[str, Any], fields: list[str]) -> list[dict[str, Any]]:
        raw = request.get("records")
        if not isinstance(raw, list) or not all(isinstance(r, Mapping) for r in raw):
            raise MappingError(t("records 应为对象列表", "records must be a list of objects"),
                               where=f"{EXPORT}.records", fix=t("传入 [{字段: 值}, …]", "pass [{field: value}, …]"))
        typed = []
        for index, record in enumerate(raw):
            row = {}
            for name in fields:
                try:
                    row[name] = parse_cell(record.get(name), self.settings.type_of(name), self.settings)
                except CellError as exc:
                    raise MappingError(exc.why, where=f"{EXPORT}.records.{index}.{name}", fix=exc.fix) from exc
            typed.append(row)
        return typed

    async def export_file(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """``files.export``; see the module docstring. Runs in a worker thread."""
        return await asyncio.to_thread(self.export_now, request, ctx.attempt)

    def export_now(self, request: Mapping[str, Any], attempt: int = 1) -> dict[str, Any]:
        """``files.export`` in the calling thread; ``attempt`` ≥ 2 may replace the file a first try wrote."""
        given = request.get("path")
        kind = _kind(request, EXPORT)
        path = confine(self.settings.root, given if isinstance(given, str) else "", where=f"{EXPORT}.path",
                       must_exist=False)
        if path.exists() and not request.get("overwrite") and attempt == 1:
            raise PathRefused(t(f"文件已存在：{given}", f"file exists: {given}"), where=f"{EXPORT}.path",
                              fix=t("换一个文件名，或传入 \"overwrite\": true",
                                    "use another name, or pass \"overwrite\": true"))
        if not path.parent.is_dir():
            raise PathRefused(t(f"目录不存在：{path.parent.name}", f"no such directory: {path.parent.name}"),
                              where=f"{EXPORT}.path", fix=t("先创建该目录", "create the directory first"))
        if kind == "vouchers":
            raw = request.get("vouchers")
            if not isinstance(raw, list):
                raise MappingError(t("vouchers 应为凭证列表", "vouchers must be a list"), where=f"{EXPORT}.vouchers",
                                   fix=t("传入 [凭证, …]", "pass [voucher, …]"))
            vouchers = [voucher_from_json(v) for v in raw]
        else:
            fields = _fields(request, "fields", EXPORT)
            if not fields:
                raise MappingError(t("records 导出需要 fields", "exporting records needs fields"),
                                   where=f"{EXPORT}.fields", fix=t("列出要导出的字段", "list the fields to export"))
            records = self._records(request, fields)
        handle, temporary = tempfile.mkstemp(suffix=path.suffix, prefix=".huiliu-", dir=path.parent)
        os.close(handle)
        try:
            rows = (export_vouchers(Path(temporary), vouchers, self.settings) if kind == "vouchers"
                    else export_records(Path(temporary), records, fields, self.settings))
            Path(temporary).replace(path)
        finally:
            Path(temporary).unlink(missing_ok=True)
        return {"path": given, "kind": kind, "rows": rows}


def register_actions(registry: ActionRegistry, settings: FilesSettings) -> FileActions:
    """Register ``files.import`` and ``files.export``."""
    actions = FileActions(settings)
    registry.register(IMPORT, actions.import_file)
    registry.register(EXPORT, actions.export_file)
    return actions
