"""The file connector: round trips through CSV (UTF-8 with BOM, GBK) and .xlsx, row-level reports, confinement."""

from __future__ import annotations

import codecs
import os
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook

from huiliu.connectors.base import ActionContext, ActionRegistry
from huiliu.connectors.files import (
    FilesSettings,
    ImportRejected,
    PathRefused,
    register_actions,
    voucher_to_json,
)
from huiliu.errors import MappingError
from huiliu.model import Direction, Money, Voucher, VoucherLine
from huiliu.model.purchasing import voucher_from_json

HEADER = ["凭证号", "日期", "科目编码", "摘要", "借方金额", "贷方金额", "币别"]


def settings(root: Path, **extra: Any) -> FilesSettings:
    return FilesSettings.model_validate({"root": str(root), **extra})


def registry(root: Path, **extra: Any) -> ActionRegistry:
    reg = ActionRegistry()
    register_actions(reg, settings(root, **extra))
    return reg


async def run(reg: ActionRegistry, action: str, request: dict[str, Any], attempt: int = 1) -> Any:
    return await reg.get(action)(request, ActionContext("key", attempt, "ref"))


def vouchers(count: int = 500) -> list[Voucher]:
    """``count`` vouchers of two lines each, Chinese summaries, amounts to the cent, some with a department."""
    result = []
    for i in range(count):
        amount = Money(Decimal(i * 7919 % 100000) + Decimal(i % 100) / 100 + Decimal("0.01"))
        aux = (("department", f"BM{i % 7:03d}"),) if i % 3 == 0 else ()
        result.append(Voucher(
            f"记-{i + 1:04d}", "default", date(2026, 11, 1 + i % 28), "记", "CNY", (
                VoucherLine(f"报销差旅费，张三{i}（上海—北京）", "6602.01", Direction.DEBIT, amount, aux),
                VoucherLine("其他应付款—员工", "2241", Direction.CREDIT, amount, aux))))
    return result


# ----------------------------------------------------------------- round trips


@pytest.mark.parametrize(("name", "encoding"), [("out.csv", "utf-8-sig"), ("out.csv", "gbk"), ("out.csv", "auto"),
                                                ("out.xlsx", "auto")])
async def test_one_thousand_voucher_lines_round_trip(tmp_path: Path, name: str, encoding: str) -> None:
    reg = registry(tmp_path, encoding=encoding)
    original = vouchers()
    exported = await run(reg, "files.export", {"path": name, "vouchers": [voucher_to_json(v) for v in original]})
    assert exported["rows"] == 1000
    raw = (tmp_path / name).read_bytes()
    if name.endswith(".csv"):
        assert raw.startswith(codecs.BOM_UTF8) == (encoding != "gbk")
        if encoding == "gbk":
            assert "报销差旅费" in raw.decode("gbk")
            with pytest.raises(UnicodeDecodeError):
                raw.decode("utf-8")
    imported = await run(reg, "files.import", {"path": name})
    assert imported["rows"] == 1000 and imported["ignored_columns"] == []
    assert [voucher_from_json(v) for v in imported["vouchers"]] == original


async def test_xlsx_holds_numbers_with_two_decimals_and_real_dates(tmp_path: Path) -> None:
    reg = registry(tmp_path)
    await run(reg, "files.export", {"path": "v.xlsx", "vouchers": [voucher_to_json(v) for v in vouchers(3)]})
    sheet = load_workbook(tmp_path / "v.xlsx").active
    titles = [c.value for c in sheet[1]]
    assert titles[:2] == ["凭证号", "日期"]
    debit = sheet.cell(2, titles.index("借方金额") + 1)
    assert debit.data_type == "n" and debit.number_format == "#,##0.00"
    assert Decimal(repr(debit.value)) == Decimal("0.01")
    assert isinstance(sheet.cell(2, 2).value, datetime) and sheet.cell(2, 2).number_format == "yyyy-mm-dd"


async def test_amounts_as_text_keep_every_digit(tmp_path: Path) -> None:
    reg = registry(tmp_path, amounts_as_text=True)
    big = Money(Decimal("98765432109876.54"))
    voucher = Voucher("V1", "default", date(2026, 11, 2), "记", "CNY", (
        VoucherLine("大额", "1002", Direction.DEBIT, big), VoucherLine("大额", "2001", Direction.CREDIT, big)))
    await run(reg, "files.export", {"path": "big.xlsx", "vouchers": [voucher_to_json(voucher)]})
    imported = await run(reg, "files.import", {"path": "big.xlsx"})
    assert voucher_from_json(imported["vouchers"][0]) == voucher


async def test_records_round_trip_with_tz_aware_times(tmp_path: Path) -> None:
    reg = registry(tmp_path, columns={"单号": "number", "金额": "amount", "审批时间": "approved_at", "数量": "qty"},
                   types={"amount": "amount", "approved_at": "datetime", "qty": "integer"})
    records = [{"number": "BX-1", "amount": "1,234.50", "approved_at": "2026-11-20T01:30:00+00:00", "qty": 3},
               {"number": "BX-2", "amount": Decimal("0.07"), "approved_at": "2026-11-21 09:00:00", "qty": "12"}]
    for name in ("r.csv", "r.xlsx"):
        await run(reg, "files.export", {"path": name, "kind": "records",
                                        "fields": ["number", "amount", "approved_at", "qty"], "records": records})
        back = (await run(reg, "files.import", {"path": name, "kind": "records", "required": ["number"]}))["records"]
        assert [r["amount"] for r in back] == [Decimal("1234.50"), Decimal("0.07")]
        assert back[0]["approved_at"] == datetime(2026, 11, 20, 1, 30, tzinfo=UTC)
        assert str(back[1]["approved_at"].tzinfo) == "Asia/Shanghai" and back[1]["approved_at"].hour == 9
        assert [r["qty"] for r in back] == [3, 12]


# ----------------------------------------------------------------- bad rows


def write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8-sig") -> None:
    path.write_bytes("\r\n".join(",".join(r) for r in [HEADER, *rows]).encode(encoding))


def write_xlsx(path: Path, rows: list[list[Any]], header: list[str] | None = None) -> Workbook:
    book = Workbook()
    sheet = book.active
    sheet.append(header or HEADER)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return book


GOOD_AND_BAD = [
    ["V1", "2026-11-20", "6602", "差旅费", "100.00", "", "CNY"],
    ["V1", "2026-11-20", "2241", "应付", "", "100.00", "CNY"],
    ["V2", "2026-11-20", "6602", "招待费", "一百元", "", "CNY"],      # row 4: not an amount
    ["V2", "2026-11-20", "2241", "应付", "", "100.00", "CNY"],
    ["V3", "2026/11/21", "", "办公用品", "50.00", "", "CNY"],          # row 6: no account
    ["V3", "2026/11/21", "2241", "应付", "", "50.00", "CNY"],
    ["V4", "2026年11月22日", "6602", "交通费", "80.00", "", "CNY"],   # row 8: V4 does not balance
    ["V4", "2026年11月22日", "2241", "应付", "", "79.99", "CNY"],
]


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
async def test_three_bad_rows_are_reported_exactly_and_nothing_imported(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"凭证{suffix}"
    if suffix == ".csv":
        write_csv(path, GOOD_AND_BAD, "gbk")
    else:
        write_xlsx(path, GOOD_AND_BAD)
    with pytest.raises(ImportRejected) as caught:
        await run(registry(tmp_path), "files.import", {"path": path.name})
    report = caught.value.report
    assert report.cells() == {(4, "借方金额"), (6, "科目编码"), (8, "凭证号")}
    by_row = {e.row: e for e in report.errors}
    assert by_row[4].value == "一百元" and by_row[4].why.zh == "不是金额" and "1234.56" in by_row[4].fix.zh
    assert by_row[6].why.zh == "必填项为空"
    assert "借贷不平衡" in by_row[8].why.zh and "第 8–9 行" in by_row[8].why.zh
    assert "第 4 行「借方金额」" in str(caught.value)
    written = caught.value.report_path
    assert written == tmp_path / "凭证.errors.xlsx"
    sheet = load_workbook(written).active
    assert [c.value for c in sheet[1]][:5] == ["行号", "列", "值", "问题", "修正方法"]
    assert sorted((r[0], r[1]) for r in sheet.iter_rows(min_row=2, values_only=True)) == [
        (4, "借方金额"), (6, "科目编码"), (8, "凭证号")]


async def test_row_with_both_or_neither_amount_and_negative_amounts(tmp_path: Path) -> None:
    write_csv(tmp_path / "x.csv", [["V1", "2026-11-20", "6602", "a", "10", "10", "CNY"],
                                   ["V1", "2026-11-20", "2241", "b", "", "", "CNY"],
                                   ["V2", "2026-11-20", "6602", "c", "-5", "", "CNY"],
                                   ["V2", "2026-11-20", "2241", "d", "", "12.345", "CNY"]])
    with pytest.raises(ImportRejected) as caught:
        await run(registry(tmp_path), "files.import", {"path": "x.csv"})
    assert caught.value.report.cells() == {(2, "借方金额"), (3, "借方金额"), (5, "贷方金额"), (4, "借方金额")}


async def test_excel_float_noise_is_rounded_but_extra_decimals_refused(tmp_path: Path) -> None:
    write_xlsx(tmp_path / "f.xlsx", [["V1", date(2026, 11, 20), 6602, "a", 0.1 + 0.2, None, "CNY"],
                                     ["V1", date(2026, 11, 20), "2241", "b", None, "0.30", "CNY"]])
    imported = await run(registry(tmp_path), "files.import", {"path": "f.xlsx"})
    voucher = voucher_from_json(imported["vouchers"][0])
    assert voucher.lines[0].amount.amount == Decimal("0.30") and voucher.lines[0].account == "6602"
    write_xlsx(tmp_path / "g.xlsx", [["V1", date(2026, 11, 20), "6602", "a", 12.345, None, "CNY"],
                                     ["V1", date(2026, 11, 20), "2241", "b", None, 12.345, "CNY"]])
    with pytest.raises(ImportRejected) as caught:
        await run(registry(tmp_path, report=False), "files.import", {"path": "g.xlsx"})
    assert {e.why.zh for e in caught.value.report.errors} == {"金额超过两位小数"}
    assert caught.value.report_path is None and not (tmp_path / "g.errors.xlsx").exists()


# ----------------------------------------------------------------- header layouts


async def test_merged_header_cells_are_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "m.xlsx"
    book = write_xlsx(path, [["V1", date(2026, 11, 20), "6602", "a", 1, None, "CNY"]])
    book.active.merge_cells("E1:F1")
    book.save(path)
    with pytest.raises(ImportRejected) as caught:
        await run(registry(tmp_path), "files.import", {"path": "m.xlsx"})
    assert (1, "E1:F1") in caught.value.report.cells()
    assert any("合并单元格" in e.why.zh for e in caught.value.report.errors)


async def test_unknown_column_is_ignored_and_listed_or_refused(tmp_path: Path) -> None:
    rows = [["V1", date(2026, 11, 20), "6602", "a", 1, None, "CNY", "张三"],
            ["V1", date(2026, 11, 20), "2241", "b", None, 1, "CNY", "李四"]]
    write_xlsx(tmp_path / "u.xlsx", rows, [*HEADER, "制单人"])
    imported = await run(registry(tmp_path), "files.import", {"path": "u.xlsx"})
    assert imported["ignored_columns"] == ["制单人"] and len(imported["vouchers"]) == 1
    with pytest.raises(ImportRejected) as caught:
        await run(registry(tmp_path, unknown_columns="error"), "files.import", {"path": "u.xlsx"})
    assert caught.value.report.cells() == {(1, "制单人")}


async def test_missing_required_column_and_titles_with_marks(tmp_path: Path) -> None:
    write_xlsx(tmp_path / "h.xlsx", [["V1", date(2026, 11, 20), "a", 1, None]],
               ["凭证号*", " 日 期 ", "摘要", "借方金额", "贷方金额"])
    with pytest.raises(ImportRejected) as caught:
        await run(registry(tmp_path), "files.import", {"path": "h.xlsx"})
    assert caught.value.report.cells() == {(1, "科目编码")}


# ----------------------------------------------------------------- paths


@pytest.mark.parametrize("given", ["../outside.csv", "a/../../outside.csv", "/etc/passwd.csv", "C:\\x.csv",
                                   "link/secret.csv", "notes.txt", ""])
async def test_paths_outside_the_directory_are_refused(tmp_path: Path, given: str) -> None:
    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "secret.csv").write_text("凭证号\n1\n", encoding="utf-8")
    os.symlink(outside, root / "link")
    with pytest.raises(PathRefused):
        await run(registry(root), "files.import", {"path": given})
    with pytest.raises(PathRefused):
        await run(registry(root), "files.export", {"path": given, "vouchers": []})
    assert sorted(os.listdir(outside)) == ["secret.csv"]


async def test_absolute_path_inside_the_directory_is_accepted(tmp_path: Path) -> None:
    reg = registry(tmp_path)
    result = await run(reg, "files.export", {"path": str(tmp_path / "in.csv"),
                                             "vouchers": [voucher_to_json(v) for v in vouchers(1)]})
    assert result["rows"] == 2


async def test_existing_file_is_kept_unless_overwrite_or_retry(tmp_path: Path) -> None:
    reg = registry(tmp_path)
    body = {"path": "v.csv", "vouchers": [voucher_to_json(v) for v in vouchers(2)]}
    await run(reg, "files.export", body)
    with pytest.raises(PathRefused):
        await run(reg, "files.export", body)
    assert (await run(reg, "files.export", body, attempt=2))["rows"] == 4
    assert (await run(reg, "files.export", {**body, "overwrite": True}))["rows"] == 4
    assert sorted(os.listdir(tmp_path)) == ["v.csv"]  # no temporary file left behind


async def test_gbk_cannot_hold_every_character(tmp_path: Path) -> None:
    reg = registry(tmp_path, encoding="gbk")
    voucher = vouchers(1)[0]
    line = voucher.lines[0]
    odd = Voucher(voucher.reference, voucher.book, voucher.date, voucher.group, voucher.currency,
                  (VoucherLine("团建🎉", line.account, line.direction, line.amount), voucher.lines[1]))
    with pytest.raises(PathRefused) as caught:
        await run(reg, "files.export", {"path": "e.csv", "vouchers": [voucher_to_json(odd)]})
    assert "gb18030" in str(caught.value)
    assert not (tmp_path / "e.csv").exists()


async def test_bad_requests_are_mapping_errors(tmp_path: Path) -> None:
    reg = registry(tmp_path)
    with pytest.raises(MappingError):
        await run(reg, "files.import", {"path": "x.csv", "kind": "orders"})
    with pytest.raises(MappingError):
        await run(reg, "files.export", {"path": "x.csv", "kind": "records", "fields": ["number"],
                                        "records": [{"number": "1"}], "types": {}} | {"fields": []})
    reg2 = registry(tmp_path, types={"amount": "amount"})
    with pytest.raises(MappingError) as caught:
        await run(reg2, "files.export", {"path": "y.csv", "kind": "records", "fields": ["amount"],
                                         "records": [{"amount": "abc"}]})
    assert caught.value.where == "files.export.records.0.amount"
