import io
from decimal import Decimal

import pytest

from shopops.core import tabular
from shopops.core.models import AuditEntry
from shopops.core.tabular import RowError
from shopops.inventory import imports as inventory_imports
from shopops.inventory import queries as inventory_queries
from shopops.inventory import services as inventory_services
from shopops.inventory.models import MovementType, StockLevel, StockMovement, StocktakeScope
from shopops.inventory.tests.factories import create_sku, create_warehouse, stock

pytestmark = pytest.mark.django_db


def csv_bytes(text: str, encoding: str = "utf-8") -> io.BytesIO:
    return io.BytesIO(text.encode(encoding))


def xlsx_bytes(headers: list[str], rows: list[list[object]]) -> io.BytesIO:
    buffer = io.BytesIO()
    tabular.write_table(buffer, headers=headers, rows=rows, file_format="xlsx")
    buffer.seek(0)
    return buffer


def test_count_sheet_sets_counts_sums_repeated_skus_and_reports_unknown_codes_per_row(make_user) -> None:
    # given a count of two SKUs, one with a barcode
    counter = make_user("warehouse")
    warehouse = create_warehouse()
    first, second = create_sku(merchant_code="CUP-1"), create_sku(merchant_code="CUP-2")
    second.barcode = "6900000000017"
    second.save()
    stock(sku=first, warehouse=warehouse, on_hand=5)
    stock(sku=second, warehouse=warehouse, on_hand=5)
    stocktake = inventory_services.start_stocktake(
        warehouse_id=warehouse.pk, scope=StocktakeScope.FULL, actor=counter
    )
    sheet = "商家编码,条码,实盘数\nCUP-1,,3\n,6900000000017,4\nCUP-1,,2\nNOPE,,1\n"
    # when the GB18030 sheet is imported
    result = inventory_imports.import_stocktake_counts(
        stocktake_id=stocktake.pk, source=csv_bytes(sheet, "gb18030"), filename="盘点.csv", actor=counter
    )
    # then
    counts = dict(stocktake.lines.values_list("sku__merchant_code", "counted_quantity"))
    assert counts == {"CUP-1": 3 + 2, "CUP-2": 4}
    assert (result.total_rows, result.created, result.updated, result.skipped) == (4, 2, 1, 1)
    assert result.errors == [RowError(5, "商家编码", "找不到条码或商家编码为 NOPE 的SKU")]


def test_opening_stock_from_xlsx_posts_opening_rows_updates_cost_and_is_idempotent(admin_user) -> None:
    # given two warehouses and two SKUs costing 10.00
    create_warehouse(code="MAIN")
    create_warehouse(code="STORE")
    cup, plate = create_sku(merchant_code="CUP"), create_sku(merchant_code="PLATE")
    content = xlsx_bytes(
        ["商家编码", "仓库编码", "数量", "成本价"],
        [["CUP", "MAIN", 12, "8.50"], ["CUP", "STORE", 3, None], ["PLATE", "MAIN", 7, None]],
    ).getvalue()
    # when it is imported twice
    first = inventory_imports.import_opening_stock(
        source=io.BytesIO(content), filename="期初.xlsx", actor=admin_user
    )
    second = inventory_imports.import_opening_stock(
        source=io.BytesIO(content), filename="期初.xlsx", actor=admin_user
    )
    # then the stock is there once, the cost changed, the ledger holds it
    levels = {
        (level.sku.merchant_code, level.warehouse.code): level.on_hand
        for level in StockLevel.objects.select_related("sku", "warehouse")
    }
    assert levels == {("CUP", "MAIN"): 12, ("CUP", "STORE"): 3, ("PLATE", "MAIN"): 7}
    assert (first.created, first.unchanged, second.created, second.unchanged) == (3, 0, 0, 3)
    cup.refresh_from_db()
    plate.refresh_from_db()
    assert (cup.cost_price, plate.cost_price) == (Decimal("8.50"), Decimal("10.00"))
    rows = StockMovement.objects.filter(reference_type=inventory_imports.OPENING_REFERENCE_TYPE)
    assert sorted(rows.values_list("movement_type", "on_hand_delta")) == sorted(
        [(MovementType.OPENING, 12), (MovementType.OPENING, 3), (MovementType.OPENING, 7)]
    )
    assert AuditEntry.objects.filter(action="stock.opening_imported").count() == 1
    assert inventory_queries.verify_stock() == []


def test_opening_stock_with_a_bad_row_writes_nothing_when_all_or_nothing(admin_user) -> None:
    # given a file with an unknown warehouse and a negative quantity
    create_warehouse(code="MAIN")
    create_sku(merchant_code="CUP")
    sheet = "商家编码,仓库编码,数量\nCUP,MAIN,5\nCUP,NOWHERE,1\nCUP,MAIN,-2\n"
    # when
    result = inventory_imports.import_opening_stock(
        source=csv_bytes(sheet), filename="期初.csv", actor=admin_user
    )
    # then
    assert result.is_refused
    assert result.errors == [
        RowError(3, "仓库编码", "仓库编码 NOWHERE 不存在"),
        RowError(4, "数量", "不能为负数"),
    ]
    assert StockMovement.objects.count() == 0
