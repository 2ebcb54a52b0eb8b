"""The fourth round's fast paths of the order import, held to the general functions they stand for:
the non-empty row filter (`Table.rows`), the row parser's inlined cell cleaning and cache lookups
(`tabular.parse_row`), the line checks' one-pass path (`_check_lines_in_order`), and the SQLite page
cache set for the import and restored."""

import datetime as dt
import io
import itertools
import random
import zoneinfo
from decimal import Decimal

import pytest
from django.db import connection

from shopops.channels.queries import load_platform_format
from shopops.core import tabular
from shopops.core.errors import InvalidInput
from shopops.orders.imports import SQLITE_IMPORT_CACHE_KIB, _sqlite_page_cache, non_empty_rows, row_parser
from shopops.orders.imports.reading import columns_for
from shopops.orders.services.creation import _check_lines, _check_lines_in_order
from shopops.orders.services.inputs import LineInput, OrderInput

ZONE = zoneinfo.ZoneInfo("Asia/Shanghai")
CELLS = ["", "  ", "无", " 无 ", '="123456789012"', '=""', '="无"', '=" 7 "', '="', "=1+1", "'0012", "'",
         "\u200b42\u200b", "42\u200b", "\ufeff", "12.34", "12.34元", "¥1,234.50", "-3", "1e5", "abc", " 99 ",
         "2025/1/1 08:00", "2025-06-01 10:00:00", "无退款申请", "交易成功", "1", "0", "2.5", None, 12, 12.0,
         3.5, True, dt.datetime(2025, 1, 1, 8, 0), dt.date(2025, 1, 2)]  # fmt: skip


def _rows(header_length, count):
    generator = random.Random(7)
    for number in range(count):
        length = generator.choice([header_length, header_length, header_length - 3, 2])
        yield number + 2, [generator.choice(CELLS) for _position in range(length)]


def _outcome(row):
    return row.values, [(error.row, error.column, error.message) for error in row.errors]


@pytest.mark.parametrize("format_name", ["taobao_items", "taobao", "template", "shopify"])
def test_row_parser_is_parse_row(format_name):
    platform_format = load_platform_format(format_name)
    columns = columns_for(platform_format, ZONE)
    header_cells = [column.name for column in columns]
    header = tabular.match_header(header_cells, columns)
    reference_columns = columns_for(platform_format, ZONE)  # parsers with a cache of their own
    parse = row_parser(columns, header)
    rows = list(_rows(len(header_cells), 3000))
    for number, cells in itertools.chain(rows, rows):  # the second pass finds the texts in the caches
        assert _outcome(parse(number, list(cells))) == _outcome(
            tabular.parse_row(number, list(cells), reference_columns, header)
        )


def _order(lines):
    return OrderInput(
        external_id="T1",
        status="paid",
        placed_at=dt.datetime(2025, 1, 1, tzinfo=ZONE),
        lines=[LineInput(merchant_code="A", quantity=q, unit_price=p, discount=d) for q, p, d in lines],
    )


VALUES = [None, Decimal("0"), Decimal("-0"), Decimal("0.004"), Decimal("12.345"), Decimal("12.355"), Decimal("-1"),
          Decimal("1E+12"), Decimal("999999999999.994"), Decimal("NaN"), Decimal("Infinity"), 5, "3.50", 2.5]  # fmt: skip
QUANTITIES = [1, 3, 0, -1, True, 2.0, "2"]


def _check(function, data):
    try:
        grosses, discounts = function(data)
    except InvalidInput as error:
        return ("error", error.message, error.fields)
    return (
        [(str(value), value.as_tuple()) for value in grosses],
        [(str(value), value.as_tuple()) for value in discounts],
    )


def test_check_lines_fast_path_is_the_checks_in_order():
    generator = random.Random(3)
    for _case in range(4000):
        lines = [
            (generator.choice(QUANTITIES), generator.choice(VALUES), generator.choice(VALUES))
            for _line in range(generator.randint(1, 4))
        ]
        data = _order(lines)
        assert _check(_check_lines, data) == _check(_check_lines_in_order, data), lines


@pytest.mark.django_db
def test_sqlite_page_cache_is_set_for_the_import_and_restored():
    if connection.vendor != "sqlite":
        with _sqlite_page_cache():
            pass
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size = -2000")
        with _sqlite_page_cache():
            assert cursor.execute("PRAGMA cache_size").fetchone()[0] == -SQLITE_IMPORT_CACHE_KIB
        assert cursor.execute("PRAGMA cache_size").fetchone()[0] == -2000
        cursor.execute("PRAGMA cache_size = -200000")  # a larger setting is kept
        with _sqlite_page_cache():
            assert cursor.execute("PRAGMA cache_size").fetchone()[0] == -200000
        assert cursor.execute("PRAGMA cache_size").fetchone()[0] == -200000
        cursor.execute("PRAGMA cache_size = -2000")
        with pytest.raises(RuntimeError), _sqlite_page_cache():
            raise RuntimeError
        assert cursor.execute("PRAGMA cache_size").fetchone()[0] == -2000


def test_non_empty_rows_is_table_rows():
    generator = random.Random(5)
    blank = ["", " ", "无", '=""', '="无"', "\u200b", "'", "\ufeff "]
    lines = [",".join(f'"{cell}"' for cell in ["订单号", "订单状态", "下单时间"])]
    for _line in range(2000):
        pool = blank if generator.random() < 0.4 else blank + [c for c in CELLS if isinstance(c, str)]
        cells = [generator.choice(pool).replace('"', '""') for _cell in range(generator.randint(0, 4))]
        lines.append(",".join(f'"{cell}"' for cell in cells))
    data = ("\r\n".join(lines) + "\r\n").encode("utf-8")

    def read(rows_of):
        with tabular.open_source(io.BytesIO(data)) as opened:
            table = tabular.Table(opened, filename="t.csv", file_format=None, sheet=None)
            return list(rows_of(table))

    expected = read(lambda table: table.rows())
    assert read(non_empty_rows) == expected
    assert 500 < len(expected) < 2001
