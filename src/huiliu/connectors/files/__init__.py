"""File connector: vouchers and records imported from and exported to CSV (UTF-8 with BOM, GBK) and Excel .xlsx.

Owns: the layouts finance teams use (a header row of Chinese titles mapped to canonical fields by settings),
typed cells without floats (amounts ``Decimal`` to the cent, real Excel dates, tz-aware times), validation of
every row before anything is imported with a row-level report (also written as .xlsx), paths confined to one
directory, and the actions ``files.import`` / ``files.export``. Does not own: watching a directory for new files,
the legacy .xls format (save as .xlsx first), formulas (their cached values are read), or several sheets at once.
"""

from huiliu.connectors.files.actions import EXPORT, IMPORT, FileActions, register_actions, voucher_to_json
from huiliu.connectors.files.paths import confine
from huiliu.connectors.files.records import Loaded, Row, export_records, load_rows, read_records
from huiliu.connectors.files.report import ImportRejected, ImportReport, PathRefused, RowError
from huiliu.connectors.files.settings import (
    DEFAULT_COLUMNS,
    DEFAULT_TYPES,
    VOUCHER_FIELDS,
    Encoding,
    FieldType,
    FilesSettings,
    UnknownColumns,
)
from huiliu.connectors.files.table import CellError, Table, parse_cell, read_table, write_table
from huiliu.connectors.files.vouchers import VoucherImport, export_vouchers, read_vouchers

__all__ = [
    "DEFAULT_COLUMNS",
    "DEFAULT_TYPES",
    "EXPORT",
    "IMPORT",
    "VOUCHER_FIELDS",
    "CellError",
    "Encoding",
    "FieldType",
    "FileActions",
    "FilesSettings",
    "ImportRejected",
    "ImportReport",
    "Loaded",
    "PathRefused",
    "Row",
    "RowError",
    "Table",
    "UnknownColumns",
    "VoucherImport",
    "confine",
    "export_records",
    "export_vouchers",
    "load_rows",
    "parse_cell",
    "read_records",
    "read_table",
    "read_vouchers",
    "register_actions",
    "voucher_to_json",
    "write_table",
]
