from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from shopops.inventory.models import StockLevel, StockMovement
from shopops.inventory.tests.factories import create_sku, create_warehouse

pytestmark = pytest.mark.django_db


def write_opening_file(path: Path, rows: list[tuple[str, str, int]]) -> Path:
    lines = ["商家编码,仓库编码,数量"] + [
        f"{code},{warehouse},{quantity}" for code, warehouse, quantity in rows
    ]
    path.write_text("\n".join(lines) + "\n", encoding="gb18030")
    return path


def test_cli_imports_opening_stock_once_even_when_run_twice(tmp_path: Path) -> None:
    # given
    warehouse = create_warehouse(code="HZ")
    shirt = create_sku(merchant_code="TS-01")
    socks = create_sku(merchant_code="SK-02")
    path = write_opening_file(tmp_path / "期初.csv", [("TS-01", "HZ", 12), ("SK-02", "HZ", 5)])

    # when
    call_command("import_data", "opening-stock", str(path))
    call_command("import_data", "opening-stock", str(path))

    # then
    levels = dict(StockLevel.objects.filter(warehouse=warehouse).values_list("sku_id", "on_hand"))
    assert levels == {shirt.pk: 12, socks.pk: 5}
    assert StockMovement.objects.filter(warehouse=warehouse).count() == 2


def test_cli_refuses_an_opening_file_with_an_unknown_warehouse_and_writes_nothing(tmp_path: Path) -> None:
    # given
    create_warehouse(code="HZ")
    create_sku(merchant_code="TS-01")
    path = write_opening_file(tmp_path / "期初.csv", [("TS-01", "HZ", 3), ("TS-01", "XX", 4)])

    # when
    with pytest.raises(CommandError) as refused:
        call_command("import_data", "opening-stock", str(path))

    # then
    assert refused.value.returncode == 1
    assert StockMovement.objects.count() == 0
    assert (tmp_path / "期初.csv.errors.csv").read_text(encoding="utf-8-sig").count("\n") == 2


def test_cli_stock_counts_need_a_stocktake(tmp_path: Path) -> None:
    # given
    path = tmp_path / "盘点.csv"
    path.write_text("商家编码,数量\nTS-01,3\n", encoding="utf-8")

    # when / then
    with pytest.raises(CommandError, match="--stocktake"):
        call_command("import_data", "stock-counts", str(path))
