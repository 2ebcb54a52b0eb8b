import datetime as dt
import io
from decimal import Decimal

import pytest
import xlsxwriter

from shopops.core import tabular
from shopops.core.tabular import Column, ImportRefused

COLUMNS = (
    Column("code", "商家编码", ("SKU编码",), required=True, parser=tabular.identifier_parser()),
    Column("price", "售价(元)", ("价格",), parser=tabular.parse_money),
)


class RecordingImporter(tabular.RowImporter):
    columns = COLUMNS

    def __init__(self) -> None:
        self.rows: list[tabular.TableRow] = []

    def process(self, rows: list[tabular.TableRow]) -> None:
        for row in rows:
            row.action = tabular.Action.CREATED
            self.rows.append(row)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('="2876543210987654321"', "2876543210987654321"),
        ("'13800138000", "13800138000"),
        ("  \ufeff无 ", None),
        ("", None),
        (123456789012.0, "123456789012"),
        (2.5, "2.5"),
        (1e-7, "0.0000001"),
        (dt.datetime(2026, 5, 23, 22, 2), "2026-05-23 22:02:00"),
        (True, "true"),
    ],
)
def test_clean_cell_removes_spreadsheet_noise(raw, expected):
    # given a raw cell / when cleaned / then
    assert tabular.clean_cell(raw) == expected


def test_parsers_strip_money_noise_and_refuse_bad_values():
    # given / when / then
    assert tabular.parse_money("¥1,299.50元") == Decimal("1299.50")
    assert tabular.parse_int("1,234") == 1234
    with pytest.raises(ValueError, match="不能为负数"):
        tabular.parse_money("-1")
    with pytest.raises(ValueError, match="科学计数法"):
        tabular.identifier_parser()("2.87654E+18")


def test_headers_match_aliases_after_normalising_and_report_unknown_columns():
    # given full-width parentheses, spaces and a BOM in the headers
    header = ["\ufeff SKU编码 ", "售价（元）", "备注"]
    # when
    mapped = tabular.match_header(header, COLUMNS)
    # then
    assert mapped.positions == {"code": 0, "price": 1}
    assert mapped.labels == {"code": "SKU编码", "price": "售价（元）"}
    assert mapped.unknown == ["备注"]


def test_missing_required_column_refuses_the_file():
    # given / when / then
    with pytest.raises(ImportRefused, match="缺少必需的列：商家编码"):
        tabular.match_header(["价格"], COLUMNS)


@pytest.mark.parametrize(
    ("encoding", "detected"), [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gb18030", "gb18030")]
)
def test_csv_encodings_are_detected(db, encoding, detected):
    # given
    data = "商家编码,售价(元)\nA1,¥10.00\n".encode(encoding)
    importer = RecordingImporter()
    # when
    result = tabular.run_import(source=io.BytesIO(data), filename="x.csv", importer=importer)
    # then
    assert result.encoding == detected
    assert [(row.number, row.values) for row in importer.rows] == [
        (2, {"code": "A1", "price": Decimal("10.00")})
    ]


def test_row_errors_name_the_row_as_seen_in_the_file_and_the_header_as_written(db):
    # given an empty line (row 3) that still counts
    data = "SKU编码,价格\nA1,abc\n\nA2,-5\n".encode()
    # when
    result = tabular.run_import(
        source=io.BytesIO(data), filename="x.csv", importer=RecordingImporter(), mode="skip_bad_rows"
    )
    # then
    assert result.errors == [
        tabular.RowError(2, "价格", "“abc”不是有效金额"),
        tabular.RowError(4, "价格", "不能为负数"),
    ]
    assert result.counts() == {"total": 2, "created": 0, "updated": 0, "unchanged": 0, "skipped": 2}
    assert result.is_refused is False


def test_xlsx_rows_are_numbered_like_excel_and_float_ids_stay_digits(db, tmp_path):
    # given a sheet whose header is on row 2 and an id typed as a number
    path = tmp_path / "x.xlsx"
    workbook = xlsxwriter.Workbook(path)
    sheet = workbook.add_worksheet("数据")
    sheet.write_row(1, 0, ["商家编码", "售价(元)"])
    sheet.write_row(2, 0, [6901234567890, 12.5])
    workbook.close()
    importer = RecordingImporter()
    # when
    result = tabular.run_import(source=path, filename="x.xlsx", importer=importer, sheet="数据")
    # then
    assert result.file_format == "xlsx"
    assert [(row.number, row.values) for row in importer.rows] == [
        (3, {"code": "6901234567890", "price": Decimal("12.50")})
    ]


def test_write_table_csv_escapes_formulas_and_reads_back_the_same(db):
    # given
    buffer = io.BytesIO()
    # when
    count = tabular.write_table(
        buffer, headers=["商家编码", "售价(元)"], rows=[["=1+1", Decimal("9.90")]], file_format="csv"
    )
    # then
    assert count == 1
    assert buffer.getvalue().decode("utf-8-sig").splitlines() == ["商家编码,售价(元)", "'=1+1,9.90"]
    importer = RecordingImporter()
    tabular.run_import(source=io.BytesIO(buffer.getvalue()), filename="x.csv", importer=importer)
    assert importer.rows[0].values == {"code": "=1+1", "price": Decimal("9.90")}
