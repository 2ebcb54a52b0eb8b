"""数据中心 pages as XLSX workbooks: one sheet per table of the page, numbers as numbers.

The cells are the values `reports.datacenter` computed for the page (money and ratios as exact
decimals, counts as integers), so an export read back equals the page and the API."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

import xlsxwriter

from shopops.analytics.reports import datacenter
from shopops.analytics.reports.params import ReportParams

NUMBER_FORMATS = {
    "money": "#,##0.00",
    "ratio": "0.00%",
    "seconds": "0.0",
    "count": "#,##0",
    "per_visitor": "0.00",
    "per_session": "0.00",
}
MAX_SHEET_NAME = 31


def describe(report: ReportParams) -> dict[str, Any]:
    """The parameters, for the audit entry of an export."""
    return {
        "start": report.start.isoformat(),
        "end": report.end.isoformat(),
        "shop_ids": list(report.shop_ids) if report.shop_ids is not None else None,
        "channels": list(report.channels) if report.channels is not None else None,
        "grain": report.grain,
    }


def filename(page: str, report: ReportParams) -> str:
    return f"数据中心-{datacenter.PAGES[page]}-{report.start:%Y%m%d}-{report.end:%Y%m%d}.xlsx"


def _cell(sheet: Any, row: int, column: int, value: Any, unit: str, formats: dict[str, Any]) -> None:
    if value is None:
        return
    if isinstance(value, bool):
        sheet.write_boolean(row, column, value)
    elif isinstance(value, int | Decimal | float):
        # xlsxwriter stores numbers as doubles: money keeps its two places exactly at these sizes
        sheet.write_number(row, column, float(value), formats.get(unit))
    else:
        sheet.write_string(row, column, str(value))


def export_page(page: str, report: ReportParams, *, show_cost: bool = True) -> bytes:
    """The page's tables as an XLSX workbook (bytes); cost-derived columns only when `show_cost`."""
    tables = datacenter.export_tables(page, report, show_cost=show_cost)
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_numbers": False})
    try:
        formats = {
            unit: workbook.add_format({"num_format": pattern}) for unit, pattern in NUMBER_FORMATS.items()
        }
        bold = workbook.add_format({"bold": True})
        used: set[str] = set()
        for table in tables:
            name = _sheet_name(str(table["title"]), used)
            sheet = workbook.add_worksheet(name)
            columns = table["columns"]
            sheet.write_row(0, 0, [str(column["label"]) for column in columns], bold)
            for number, row in enumerate(table["rows"], start=1):
                for position, column in enumerate(columns):
                    unit = datacenter.cell_unit(column, row)
                    _cell(sheet, number, position, row.get(column["code"]), unit, formats)
            sheet.set_column(0, max(len(columns) - 1, 0), 14)
            for position, column in enumerate(columns):
                if column["code"] == "name":
                    sheet.set_column(position, position, 36)  # 商品名称 beside 商家编码
            sheet.freeze_panes(1, 0)
    finally:
        workbook.close()
    return buffer.getvalue()


def _sheet_name(title: str, used: set[str]) -> str:
    cleaned = "".join(" " if char in "[]:*?/\\" else char for char in title)[:MAX_SHEET_NAME] or "Sheet"
    name, counter = cleaned, 2
    while name in used:
        suffix = f" ({counter})"
        name = cleaned[: MAX_SHEET_NAME - len(suffix)] + suffix
        counter += 1
    used.add(name)
    return name
