"""Stock from CSV/XLSX, built on core's import engine: stocktake counts (盘点录入) and opening stock (期初库存).

Both go through the inventory services row by row (each row in its own savepoint, so a refused row
is a row error and the other rows stand).

Count import: 商家编码 or 条码 plus 数量. The file's quantity replaces the line's count; rows of the
same SKU in one file are added together (a SKU counted on two shelves).

Opening stock: 商家编码, 仓库编码, 数量 and optionally 成本价. Idempotent per file and row: each row
posts one `opening` ledger row with reference `opening_import` / `<first 16 hex of the file's SHA-256>:<row>`,
so importing the same file again changes nothing, while a different file adds its quantities.
成本价, when given and different, updates the SKU's cost price through `catalog.services.change_price`.
"""

from __future__ import annotations

import os
from decimal import Decimal
from typing import IO, Any

from django.db import transaction

from shopops.catalog import services as catalog_services
from shopops.catalog.models import Sku
from shopops.core import audit, tabular
from shopops.core.errors import DomainError
from shopops.core.tabular import Action, Column, ImportRefused, ImportResult, TableRow
from shopops.inventory import services as inventory_services
from shopops.inventory.models import MovementType, StockMovement, StocktakeLine, Warehouse

OPENING_REFERENCE_TYPE = "opening_import"


def parse_count(text: str) -> int:
    number = tabular.parse_int(text)
    if number < 0:
        raise ValueError("不能为负数")
    return number


CODE_ALIASES = ("SKU编码", "SKU商家编码", "商家编码-规格维度", "sku", "merchant code", "merchant_code")
QUANTITY_ALIASES = ("实盘数", "实盘数量", "盘点数量", "数量(件)", "qty", "quantity")

COUNT_COLUMNS: tuple[Column, ...] = (
    Column("merchant_code", "商家编码", CODE_ALIASES, parser=tabular.identifier_parser(64)),
    Column(
        "barcode",
        "条码",
        ("条形码", "商品条码", "69码", "barcode", "ean"),
        parser=tabular.identifier_parser(64),
    ),
    Column("quantity", "数量", QUANTITY_ALIASES, required=True, parser=parse_count),
)

OPENING_COLUMNS: tuple[Column, ...] = (
    Column("merchant_code", "商家编码", CODE_ALIASES, required=True, parser=tabular.identifier_parser(64)),
    Column("warehouse_code", "仓库编码", ("仓库", "仓库代码", "warehouse", "warehouse_code"), required=True),
    Column(
        "quantity",
        "数量",
        ("期初数量", "库存数量", "在库数量", "qty", "quantity"),
        required=True,
        parser=parse_count,
    ),
    Column(
        "cost_price",
        "成本价",
        ("成本价(元)", "成本", "进价", "cost price", "cost"),
        parser=tabular.parse_money,
    ),
)


class StocktakeCountImporter(tabular.RowImporter):
    """Counts of one stocktake, entered through `services.record_count`."""

    columns = COUNT_COLUMNS

    def __init__(self, *, stocktake_id: int, actor: Any) -> None:
        self.stocktake_id = stocktake_id
        self.actor = actor
        self.seen: set[str] = set()

    def check_header(self, present: set[str]) -> None:
        if not present & {"merchant_code", "barcode"}:
            raise ImportRefused("缺少必需的列：商家编码 或 条码", fields={"file": "缺少列：商家编码/条码"})

    def process(self, rows: list[TableRow]) -> None:
        for row in rows:
            code = row.get("merchant_code") or row.get("barcode")
            if not code:
                row.add_error("merchant_code", "商家编码和条码不能都为空")
            if row.has("quantity") and row.get("quantity") is None:
                row.add_error("quantity", "必填")
            if row.is_valid:
                self._record(row, str(code))

    def _record(self, row: TableRow, code: str) -> None:
        try:
            sku = inventory_services.find_sku_by_code(code)
            before = (
                StocktakeLine.objects.filter(stocktake_id=self.stocktake_id, sku=sku)
                .values_list("counted_quantity", flat=True)
                .first()
            )
            mode = (
                inventory_services.CountMode.ADD
                if sku.merchant_code in self.seen
                else inventory_services.CountMode.SET
            )
            with transaction.atomic():
                line = inventory_services.record_count(
                    stocktake_id=self.stocktake_id,
                    barcode_or_code=code,
                    quantity=row.get("quantity"),
                    actor=self.actor,
                    mode=mode,
                )
        except DomainError as error:
            row.add_error("merchant_code", error.message)
            return
        self.seen.add(sku.merchant_code)
        row.key = sku.merchant_code
        row.changes = {"counted_quantity": [before, line.counted_quantity]}
        if before is None:
            row.action = Action.CREATED
        else:
            row.action = Action.UPDATED if before != line.counted_quantity else Action.UNCHANGED

    def discard_state(self) -> None:
        self.seen.clear()


class OpeningStockImporter(tabular.RowImporter):
    """Opening stock per SKU × warehouse, posted through `services.receive_stock` (type `opening`)."""

    columns = OPENING_COLUMNS

    def __init__(self, *, actor: Any, file_key: str, filename: str) -> None:
        self.actor = actor
        self.file_key = file_key
        self.filename = filename
        self.warehouses: dict[str, int] = {}

    def process(self, rows: list[TableRow]) -> None:
        codes = {row.get("merchant_code") for row in rows if row.get("merchant_code")}
        skus = {sku.merchant_code: sku for sku in Sku.objects.filter(merchant_code__in=codes)}
        if not self.warehouses:
            self.warehouses = dict(Warehouse.objects.values_list("code", "pk"))
        for row in rows:
            self._check(row, skus)
            if row.is_valid:
                self._post(row, skus[row.get("merchant_code")])

    def _check(self, row: TableRow, skus: dict[str, Sku]) -> None:
        for key in ("merchant_code", "warehouse_code", "quantity"):
            if row.has(key) and row.get(key) is None:
                row.add_error(key, "必填")
        if row.get("merchant_code") and row.get("merchant_code") not in skus:
            row.add_error("merchant_code", f"商家编码 {row.get('merchant_code')} 不存在")
        if row.get("warehouse_code") and row.get("warehouse_code") not in self.warehouses:
            row.add_error("warehouse_code", f"仓库编码 {row.get('warehouse_code')} 不存在")

    def _post(self, row: TableRow, sku: Sku) -> None:
        warehouse_id = self.warehouses[row.get("warehouse_code")]
        reference_id = f"{self.file_key}:{row.number}"
        row.key = f"{sku.merchant_code}@{row.get('warehouse_code')}"
        already = StockMovement.objects.filter(
            reference_type=OPENING_REFERENCE_TYPE, reference_id=reference_id, sku_id=sku.pk
        ).exists()
        quantity, cost = row.get("quantity"), row.get("cost_price")
        if already or (quantity == 0 and (cost is None or cost == sku.cost_price)):
            row.action = Action.UNCHANGED
            return
        try:
            with transaction.atomic():
                if quantity:
                    inventory_services.receive_stock(
                        sku_id=sku.pk,
                        warehouse_id=warehouse_id,
                        quantity=quantity,
                        actor=self.actor,
                        movement_type=MovementType.OPENING,
                        reference_type=OPENING_REFERENCE_TYPE,
                        reference_id=reference_id,
                        note=self.filename[:300],
                    )
                changes: dict[str, Any] = {"on_hand": ["+", quantity]}
                if cost is not None and cost != sku.cost_price:
                    self._change_cost(sku, cost)
                    changes["cost_price"] = [str(sku.cost_price), str(cost)]
                    sku.cost_price = cost
        except DomainError as error:
            row.add_error("quantity", error.message)
            return
        row.action = Action.CREATED
        row.changes = changes

    def _change_cost(self, sku: Sku, cost: Decimal) -> None:
        catalog_services.change_price(
            sku_id=sku.pk,
            actor=self.actor,
            new_value=cost,
            field="cost_price",
            reason="期初库存导入",
            source="import",
            acknowledge_warnings=True,
        )

    def finish(self, result: ImportResult) -> None:
        audit.record(
            actor=self.actor,
            action="stock.opening_imported",
            changes={"file": result.filename, "sha256": result.sha256, **result.counts()},
            object_repr=result.filename,
        )

    def discard_state(self) -> None:
        self.warehouses = {}


def import_stocktake_counts(
    *,
    stocktake_id: int,
    source: str | os.PathLike[str] | IO[bytes],
    filename: str,
    actor: Any,
    mode: str = tabular.Mode.SKIP_BAD_ROWS,
    dry_run: bool = False,
) -> ImportResult:
    """Enter the counts of a stocktake from a CSV/XLSX count sheet; bad rows are reported per row."""
    importer = StocktakeCountImporter(stocktake_id=stocktake_id, actor=actor)
    return tabular.run_import(source=source, filename=filename, importer=importer, mode=mode, dry_run=dry_run)


def import_opening_stock(
    *,
    source: str | os.PathLike[str] | IO[bytes],
    filename: str,
    actor: Any,
    mode: str = tabular.Mode.ALL_OR_NOTHING,
    dry_run: bool = False,
) -> ImportResult:
    """Post opening stock (期初) from CSV/XLSX; re-importing the same file changes nothing."""
    with tabular.open_source(source) as opened:
        importer = OpeningStockImporter(actor=actor, file_key=opened.sha256[:16], filename=filename)
        return tabular.run_import(
            source=opened.handle, filename=filename, importer=importer, mode=mode, dry_run=dry_run
        )


IMPORT_KINDS = {"opening-stock": import_opening_stock, "stock-counts": import_stocktake_counts}
