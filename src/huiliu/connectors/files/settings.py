"""Settings of the file connector (CSV / Excel import and export), validated once at start-up."""

from __future__ import annotations

import enum
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "DEFAULT_COLUMNS", "DEFAULT_TYPES", "VOUCHER_FIELDS", "Encoding", "FieldType", "FilesSettings", "UnknownColumns",
]


class FieldType(enum.StrEnum):
    """How a column's cells are read and written."""

    TEXT = "text"
    """Text as it is, stripped; numbers typed into a text column (a code like ``6602``) are read as text."""
    AMOUNT = "amount"
    """``Decimal`` with at most two decimals; never a float on the hub's side."""
    DATE = "date"
    """A calendar date (``2026-11-20``, ``2026/11/20``, ``2026年11月20日`` or an Excel date)."""
    DATETIME = "datetime"
    """A time, tz-aware on the hub's side in :attr:`FilesSettings.timezone`; written to Excel in that zone."""
    INTEGER = "integer"
    """A whole number."""


class Encoding(enum.StrEnum):
    """The text encoding of CSV files."""

    AUTO = "auto"
    """Reading: UTF-8 with BOM if the file starts with one, else UTF-8 if it decodes, else GB18030 (a superset of
    GBK). Writing: UTF-8 with BOM, which Excel opens correctly."""
    UTF8_SIG = "utf-8-sig"
    """UTF-8 with a byte order mark, as Excel's "CSV UTF-8" saves it."""
    UTF8 = "utf-8"
    """UTF-8 without BOM (Excel shows Chinese as mojibake when opening it by double-click)."""
    GBK = "gbk"
    """GBK, as Chinese Excel saves "CSV (逗号分隔)"; characters outside GBK cannot be written."""
    GB18030 = "gb18030"
    """GB18030, a superset of GBK that encodes every character."""


class UnknownColumns(enum.StrEnum):
    """What happens to a column whose title is not in :attr:`FilesSettings.columns`."""

    IGNORE = "ignore"
    """Skipped, and listed in the import result's ``ignored_columns``."""
    ERROR = "error"
    """The file is refused, naming the column."""


DEFAULT_COLUMNS: dict[str, str] = {
    "凭证号": "number", "日期": "date", "凭证字": "group", "账簿": "book", "科目编码": "account", "摘要": "summary",
    "借方金额": "debit", "贷方金额": "credit", "币别": "currency", "部门": "department", "项目": "project",
}
"""Column title → canonical field, in the layout finance teams export from Kingdee / Yonyou (and type by hand)."""

DEFAULT_TYPES: dict[str, FieldType] = {"date": FieldType.DATE, "debit": FieldType.AMOUNT,
                                       "credit": FieldType.AMOUNT}
"""Canonical field → type; fields not named are text."""

VOUCHER_FIELDS = frozenset({"number", "date", "group", "book", "account", "summary", "debit", "credit", "currency"})
"""Fields of a voucher line; any other mapped field is an auxiliary dimension (辅助核算) of the line."""


class FilesSettings(BaseModel):
    """Where files live and how their columns read.

    Attributes:
        root: the only directory files are read from and written to; a path in a request is relative to it, and
            one that leads outside it (``..``, an absolute path elsewhere, a symlink out) is refused.
        encoding: CSV encoding, see :class:`Encoding`.
        delimiter: CSV field separator.
        columns: column title → canonical field. Titles are matched after stripping spaces (a full-width space
            included) and a trailing ``*`` (the "required" mark of many templates).
        types: canonical field → :class:`FieldType`; fields not named are text.
        required: fields every voucher file must have a column for.
        required_values: fields every voucher row must have a value in (借方 / 贷方 are required columns, but
            one of the two is blank on each row).
        unknown_columns: what to do with a column not in ``columns``.
        timezone: the IANA zone of times in files (Excel has no time zones).
        amounts_as_text: write amounts into Excel as text (``"1234.56"``) instead of numbers. Numbers are what
            accountants expect (sums work); text keeps every digit whatever Excel does, for amounts beyond 15
            significant digits. Reading accepts both.
        sheet: the worksheet to read; ``None`` reads the first.
        book / group / currency: defaults for vouchers whose file has no such column (账簿, 凭证字, 币别).
        max_rows: larger files are refused before anything is parsed.
        report: write the row-level error report as ``<name>.errors.xlsx`` next to a refused input.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    root: Path
    encoding: Encoding = Encoding.AUTO
    delimiter: str = Field(",", min_length=1, max_length=1)
    columns: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_COLUMNS))
    types: dict[str, FieldType] = Field(default_factory=lambda: dict(DEFAULT_TYPES))
    required: tuple[str, ...] = ("number", "date", "account", "debit", "credit")
    required_values: tuple[str, ...] = ("number", "date", "account")
    unknown_columns: UnknownColumns = UnknownColumns.IGNORE
    timezone: str = "Asia/Shanghai"
    amounts_as_text: bool = False
    sheet: str | None = None
    book: str = "default"
    group: str = "记"
    currency: str = Field("CNY", pattern=r"^[A-Z]{3}$")
    max_rows: int = Field(100_000, ge=1)
    report: bool = True

    @field_validator("root")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        if not value.is_absolute():
            raise ValueError(f"root must be an absolute directory, got {value}")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as Asia/Shanghai") from None
        return value

    @model_validator(mode="after")
    def _columns(self) -> FilesSettings:
        fields = list(self.columns.values())
        twice = sorted({f for f in fields if fields.count(f) > 1})
        if twice:
            raise ValueError(f"columns maps several titles to {', '.join(twice)}")
        return self

    @property
    def zone(self) -> ZoneInfo:
        """:attr:`timezone` as a ``ZoneInfo``."""
        return ZoneInfo(self.timezone)

    def type_of(self, field: str) -> FieldType:
        """The type of a canonical field."""
        return self.types.get(field, FieldType.TEXT)

    def title_of(self, field: str) -> str | None:
        """The column title of a canonical field, or ``None``."""
        return next((title for title, name in self.columns.items() if name == field), None)
