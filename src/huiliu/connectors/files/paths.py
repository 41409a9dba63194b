"""Paths from requests confined to the configured directory."""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath

from huiliu.connectors.files.report import PathRefused
from huiliu.i18n import t

__all__ = ["SUFFIXES", "confine"]

SUFFIXES = frozenset({".csv", ".xlsx"})


def confine(root: Path, given: str, *, where: str, must_exist: bool) -> Path:
    """``given`` resolved inside ``root``.

    A relative path is taken from ``root``; an absolute one must already lie inside it. Symlinks are resolved
    before the check, so a link pointing out of ``root`` is refused too. Only ``.csv`` and ``.xlsx`` files.

    Raises:
        PathRefused: the path leads outside ``root``, has another suffix, or (``must_exist``) is no file.
    """
    fix = t(f"使用 {root} 之内的相对路径，如 凭证/2026-11.xlsx",
            f"use a path relative to {root}, e.g. vouchers/2026-11.xlsx")
    if not isinstance(given, str) or not given.strip() or "\x00" in given:
        raise PathRefused(t("文件路径为空或不合法", "the file path is empty or invalid"), where=where, fix=fix)
    if PureWindowsPath(given).drive or given.startswith("\\"):
        raise PathRefused(t(f"不接受 Windows 路径 {given}", f"Windows path {given} not accepted"), where=where, fix=fix)
    base = root.resolve()
    candidate = Path(given) if PurePosixPath(given).is_absolute() else base / given
    resolved = candidate.resolve()
    if resolved != base and base not in resolved.parents:
        raise PathRefused(t(f"路径 {given} 超出允许的目录 {root}", f"path {given} leads outside the directory {root}"),
                          where=where, fix=fix)
    if resolved.suffix.lower() not in SUFFIXES:
        raise PathRefused(t(f"只支持 .csv 与 .xlsx 文件，实际为 {given}", f"only .csv and .xlsx files, got {given}"),
                          where=where, fix=t("另存为 CSV 或 Excel 工作簿（.xlsx）；.xls 请先在 Excel 中另存为 .xlsx",
                                             "save as CSV or an Excel workbook (.xlsx); convert .xls in Excel first"))
    if must_exist and not resolved.is_file():
        raise PathRefused(t(f"文件不存在：{given}", f"no such file: {given}"), where=where, fix=fix)
    return resolved
