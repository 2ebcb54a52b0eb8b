import contextlib
import datetime as dt
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
import xlsxwriter
from python_calamine import CalamineWorkbook

from shopops.core import tabular
from shopops.core.tabular import Column, ImportRefused
from shopops.core.tests.xlsx_files import (
    CONTENT_TYPES,
    MAIN,
    ROOT_RELS,
    dense_bomb,
    row_xml,
    shared_strings_xml,
    sheet_xml,
    text_cell,
    workbook_bytes,
)

pytestmark = pytest.mark.django_db

HEADER = ["商家编码", "商品名称"]
GRID_CELLS = 16_384 * 1_048_576  # every cell of an Excel sheet, XFD1048576
DECLARED_TOO_LARGE = (
    f"工作表声明的范围过大（A1:XFD1048576，约 {GRID_CELLS:,} 个单元格；上限 500 列、10,000,000 个单元格），"
    "请删除多余的空行空列后另存为 CSV 或 XLSX 再导入"
)
MEASURED_TOO_LARGE = DECLARED_TOO_LARGE.replace("工作表声明的范围过大", "工作表的数据范围过大")


class RecordingImporter(tabular.RowImporter):
    columns = (Column("code", "商家编码", required=True), Column("name", "商品名称"))

    def __init__(self) -> None:
        self.rows: list[tuple[int, dict[str, Any]]] = []

    def process(self, rows: list[tabular.TableRow]) -> None:
        for row in rows:
            row.action = tabular.Action.CREATED
            self.rows.append((row.number, row.values))


def imported(data: bytes) -> list[tuple[int, dict[str, Any]]]:
    importer = RecordingImporter()
    tabular.run_import(source=io.BytesIO(data), filename="商品.xlsx", importer=importer, dry_run=True)
    return importer.rows


def refusal(data: bytes) -> tuple[str, dict[str, str]]:
    importer = RecordingImporter()
    with pytest.raises(ImportRefused) as refused:
        tabular.run_import(source=io.BytesIO(data), filename="商品.xlsx", importer=importer, dry_run=True)
    assert importer.rows == []
    return refused.value.message, refused.value.fields


def sheet_of(*rows: str, dimension: str | None = None, root: str = "") -> str:
    xml = sheet_xml("".join(rows), dimension=dimension)
    return xml.replace(f'<worksheet xmlns="{MAIN}">', f'<worksheet xmlns="{MAIN}"{root}>')


def test_a_sheet_declaring_the_whole_grid_is_refused_before_calamine_reads_it() -> None:
    # given 1.6 KB naming XFD1048576 (calamine would ask for 512 GiB and abort the process)
    data = dense_bomb(HEADER)

    # when
    message, fields = refusal(data)

    # then
    assert len(data) < 1800
    assert message == DECLARED_TOO_LARGE
    assert fields == {"file": "工作表范围过大"}


@pytest.mark.parametrize("dimension", ["A1:B2", "A1", None])
def test_a_far_cell_is_measured_whatever_the_dimension_says(dimension: str | None) -> None:
    # given a good header and one cell at XFD1048576 that the declared dimension hides (or no dimension)
    data = dense_bomb(HEADER, dimension=dimension)

    # when
    message, fields = refusal(data)

    # then
    assert message == MEASURED_TOO_LARGE
    assert fields == {"file": "工作表范围过大"}


PREFIXED_FAR_CELL = sheet_of(
    row_xml(1, HEADER),
    '<row r="1048576"><x:c r="XFD1048576"><x:v>1</x:v></x:c></row>',
    root=f' xmlns:x="{MAIN}"',
)
LOWERCASE_FAR_CELL = sheet_of(row_xml(1, HEADER), '<row r="1048576"><c r="xfd1048576"><v>1</v></c></row>')
# calamine places a cell without `r` after the previous one of its row: ten of them on the last row
UNREFERENCED_CELLS = sheet_of(row_xml(1, HEADER), '<row r="1048576">' + "<c><v>1</v></c>" * 10 + "</row>")
# calamine takes the last `r` of a tag; a quoted value may hold a `>`
TWO_REFERENCES = sheet_of(row_xml(1, HEADER), '<row r="2"><c r="A2" x=">" r="XFD1048576"><v>1</v></c></row>')


@pytest.mark.parametrize(
    ("sheet", "expected"),
    [
        (LOWERCASE_FAR_CELL, MEASURED_TOO_LARGE),
        (
            UNREFERENCED_CELLS,
            MEASURED_TOO_LARGE.replace("XFD1048576", "J1048576").replace(
                f"{GRID_CELLS:,}", f"{10 * 1_048_576:,}"
            ),
        ),
        (TWO_REFERENCES, "无法读取工作簿：XML 格式错误（duplicate attribute: line 2, column 228）"),
    ],
    ids=["lowercase reference", "cells without reference", "second reference"],
)
def test_far_cells_written_the_other_ways_calamine_reads_are_measured_too(sheet: str, expected: str) -> None:
    # given a far cell written the way no spreadsheet program writes it, which calamine still reads
    data = workbook_bytes(sheet)

    # when
    message, _fields = refusal(data)

    # then
    assert message == expected


def shared_string_sheet(copies: int) -> bytes:
    """A 64 KB shared string in `copies` cells below the header."""
    rows = [row_xml(1, HEADER)] + [
        f'<row r="{number}"><c r="A{number}" t="s"><v>0</v></c></row>' for number in range(2, copies + 2)
    ]
    return workbook_bytes(sheet_of(*rows), shared_strings=shared_strings_xml(["x" * 65_536]))


def test_a_shared_string_counts_once_for_each_cell_that_copies_it(settings: Any) -> None:
    # given 64 MB for the sheet; a 64 KB string in 400 cells (25 MB of copies) and in 1,200 (75 MB)
    settings.IMPORT_XLSX_MAX_MEMORY_MB = 64
    within, beyond = shared_string_sheet(400), shared_string_sheet(1200)

    # when
    rows = imported(within)
    message, fields = refusal(beyond)

    # then the 10 KB file that costs 75 MB is refused, the other read
    assert (400 * 65_536 < 64 * 2**20, 1200 * 65_536 > 64 * 2**20, len(beyond) < 12_000) == (True, True, True)
    assert [number for number, _values in rows] == list(range(2, 402))
    assert {values["code"] for _number, values in rows} == {"x" * 65_536}
    assert message.startswith("工作表过大：读取它约需 ")
    assert message.endswith(" MB 内存（上限 64 MB），请删除多余的空行空列、拆分文件，或另存为 CSV 再导入")
    assert fields == {"file": "工作表过大"}


def test_shared_strings_announced_up_front_are_counted() -> None:
    # given a table announcing 100 billion strings (calamine reserves room for them when it opens the file)
    strings = shared_strings_xml(["商家编码"], unique_count=100_000_000_000)
    data = workbook_bytes(sheet_of(row_xml(1, HEADER), row_xml(2, ["P-1"])), shared_strings=strings)

    # when
    message, fields = refusal(data)

    # then
    assert message.startswith(f"工作表过大：读取它约需 {100_000_000_000 * 24 // 2**20 + 1:,} MB 内存")
    assert fields == {"file": "工作表过大"}


def padded_workbook(blank_mib: int) -> bytes:
    """A good header and a row, then `blank_mib` MB of blanks inside the sheet's data (legal XML)."""
    head, tail = sheet_of(row_xml(1, HEADER), row_xml(2, ["P-1", "裙"]), "\0").split("\0")
    skeleton = zipfile.ZipFile(io.BytesIO(workbook_bytes(head + tail)))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in skeleton.namelist():
            if name != "xl/worksheets/sheet1.xml":
                archive.writestr(name, skeleton.read(name))
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(head.encode())
            for _ in range(blank_mib):
                sheet.write(b" " * 2**20)
            sheet.write(tail.encode())
    return buffer.getvalue()


def test_a_sheet_inflating_past_two_hundred_times_is_refused_before_it_is_streamed() -> None:
    # given a good header, then 128 MB of blanks: about 130 KB
    data = padded_workbook(128)

    # when
    message, fields = refusal(data)

    # then
    assert len(data) < 200_000
    assert message.startswith("无法读取工作簿：xl/worksheets/sheet1.xml 解压后 128 MB，是压缩大小的 ")
    assert message.endswith(" 倍，不像正常的表格文件（疑似压缩炸弹）")
    assert fields == {"file": "文件异常"}


def test_two_entries_calamine_would_take_for_one_another_are_refused() -> None:
    # given a second sheet part whose name differs only in case (calamine looks names up ignoring case)
    far = sheet_of(row_xml(1, HEADER), f'<row r="1048576">{text_cell("XFD1048576", "x")}</row>')
    data = workbook_bytes(sheet_of(row_xml(1, HEADER)), extra={"XL/Worksheets/Sheet1.xml": far.encode()})

    # when
    message, fields = refusal(data)

    # then
    assert message == "无法读取工作簿：zip 包内有重名的文件 XL/Worksheets/Sheet1.xml"
    assert fields == {"file": "文件已损坏或不是有效的 XLSX"}


def zipped(entries: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in entries.items():
            archive.writestr(name, text)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(4088),
            "这是旧版 Excel（.xls）或加密的工作簿，请在 Excel/WPS 中另存为 XLSX（不加密）或 CSV 后导入",
        ),
        (
            zipped({"mimetype": "application/vnd.oasis.opendocument.spreadsheet", "content.xml": "<x/>"}),
            "无法读取工作簿：不是 XLSX 文件（.ods 等格式请在 Excel/WPS 中另存为 XLSX 或 CSV 后导入）",
        ),
        (
            zipped({"[Content_Types].xml": CONTENT_TYPES, "_rels/.rels": ROOT_RELS, "xl/workbook.bin": ""}),
            "不支持 .xlsb 工作簿，请在 Excel/WPS 中另存为 XLSX 或 CSV 后导入",
        ),
    ],
    ids=["xls", "ods", "xlsb"],
)
def test_other_spreadsheet_formats_are_refused_with_a_way_out(data: bytes, expected: str) -> None:
    # when
    message, fields = refusal(data)

    # then
    assert message == expected
    assert fields == {"file": "不是 XLSX 文件"}


def test_only_xlsx_and_xlsm_are_offered_as_workbooks() -> None:
    assert tabular.EXCEL_EXTENSIONS == {".xlsx", ".xlsm"}


def test_the_header_is_checked_before_the_rest_of_the_sheet_is_read() -> None:
    # given a header without 商家编码, 300 KB of rows, then a cell at XFD1048576
    filler = "".join(row_xml(number, [f"P-{number}", "连衣裙" * 20]) for number in range(2, 2002))
    far = f'<row r="1048576">{text_cell("XFD1048576", "x")}</row>'
    data = workbook_bytes(sheet_of(row_xml(1, ["名称", "价格"]), filler, far))

    # when
    message, fields = refusal(data)

    # then the header's refusal: neither the measuring nor calamine got to the far cell
    assert message == "缺少必需的列：商家编码"
    assert fields == {"file": "缺少列：商家编码"}


def two_column_sheet(rows: int) -> bytes:
    lines = [row_xml(1, HEADER)] + [row_xml(number, [f"P-{number}", "裙"]) for number in range(2, rows + 1)]
    return workbook_bytes(sheet_of(*lines))


def test_the_cell_limit_is_a_setting(settings: Any) -> None:
    # given at most 1,000 cells, and sheets two columns wide
    settings.IMPORT_XLSX_MAX_CELLS = 1000

    # when
    rows = imported(two_column_sheet(500))
    message, _fields = refusal(two_column_sheet(501))

    # then 500 × 2 cells are read, 501 × 2 refused
    assert len(rows) == 499
    assert message == (
        "工作表的数据范围过大（A1:B501，约 1,002 个单元格；上限 500 列、1,000 个单元格），"
        "请删除多余的空行空列后另存为 CSV 或 XLSX 再导入"
    )


def test_the_column_limit_is_a_setting(settings: Any) -> None:
    # given at most 3 columns, and a value in column D
    settings.IMPORT_XLSX_MAX_COLUMNS = 3
    data = workbook_bytes(sheet_of(row_xml(1, HEADER), row_xml(2, ["P-1", "裙", "", "备注"])))

    # when
    message, _fields = refusal(data)

    # then
    assert message.startswith("工作表的数据范围过大（A1:D2，约 8 个单元格；上限 3 列、")


def calamine_rows(data: bytes) -> list[tuple[int, list[Any]]]:
    """The independent reading: calamine itself, its columns counted from A like ours."""
    sheet = CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0)
    padding = [""] * (sheet.start[1] if sheet.start else 0)
    return [
        (number, padding + cells)
        for number, cells in enumerate(sheet.iter_rows(), start=1)
        if not tabular.is_empty_row(cells)
    ]


def table_rows(data: bytes) -> tuple[list[tuple[int, list[Any]]], int | None]:
    """The rows as the import engine reads them, and the row total it ends up knowing."""
    with tabular.open_source(io.BytesIO(data)) as opened:
        table = tabular.Table(opened, filename="x.xlsx", file_format=None, sheet=None)
        with contextlib.closing(table):
            return list(table.rows()), table.total_estimate


def xlsxwriter_bytes(tmp_path: Path, *, constant_memory: bool) -> bytes:
    path = tmp_path / f"written-{constant_memory}.xlsx"
    workbook = xlsxwriter.Workbook(path, {"constant_memory": constant_memory})
    sheet = workbook.add_worksheet("数据")
    dates = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    sheet.write_row(2, 2, ["商家编码", "商品名称", "售价", "上架时间"])
    for number in range(3, 303):
        sheet.write_row(number, 2, [f"P-{number}", "真丝连衣裙 &<黑>", number * 1.25])
        sheet.write_datetime(number, 5, dt.datetime(2026, 5, 1, 10, 0) + dt.timedelta(days=number), dates)
    workbook.close()
    return path.read_bytes()


@pytest.mark.parametrize("constant_memory", [False, True], ids=["shared strings", "inline strings"])
def test_ordinary_workbooks_read_as_calamine_reads_them(tmp_path: Path, constant_memory: bool) -> None:
    # given a sheet whose table starts at C3, as xlsxwriter writes it
    data = xlsxwriter_bytes(tmp_path, constant_memory=constant_memory)

    # when
    rows, total = table_rows(data)

    # then every row and cell as calamine gives them, columns counted from A; 300 rows below the header
    assert rows == calamine_rows(data)
    assert rows[0] == (3, ["", "", "商家编码", "商品名称", "售价", "上架时间"])
    assert (len(rows), total) == (301, 300)


def test_a_prefixed_sheet_is_measured_cell_by_cell() -> None:
    # given sheets written with a namespace prefix (as some .NET libraries write them): an ordinary one
    # with shared strings, and one with a cell at XFD1048576
    strings = shared_strings_xml(["商家编码", "商品名称", "P-1"])
    rows = (
        '<x:row r="1"><x:c r="A1" t="s"><x:v>0</x:v></x:c><x:c r="B1" t="s"><x:v>1</x:v></x:c></x:row>'
        '<x:row r="2"><x:c r="A2" t="s"><x:v>2</x:v></x:c><x:c r="B2"><x:v>12.5</x:v></x:c></x:row>'
    )
    sheet = (
        f'<?xml version="1.0" encoding="UTF-8"?><x:worksheet xmlns:x="{MAIN}"><x:sheetData>{rows}'
        "</x:sheetData></x:worksheet>"
    )
    ordinary = workbook_bytes(sheet, shared_strings=strings)

    # when
    rows_read, _total = table_rows(ordinary)
    message, _fields = refusal(workbook_bytes(PREFIXED_FAR_CELL))

    # then the ordinary one reads as calamine reads it, the other is refused
    assert rows_read == calamine_rows(ordinary) == [(1, ["商家编码", "商品名称"]), (2, ["P-1", 12.5])]
    assert message == MEASURED_TOO_LARGE
