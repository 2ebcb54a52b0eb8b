import datetime as dt
from pathlib import Path
from typing import Any

import ibis
import pytest

from shopops.analytics.metrics import definitions
from shopops.analytics.metrics.conventions import Conventions
from shopops.analytics.metrics.sample_data import random_dataset, write_dataset
from shopops.analytics.warehouse import tables as warehouse_tables

rollups = pytest.importorskip("shopops.analytics.warehouse.rollups")

START = dt.date(2026, 3, 2)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    data = random_dataset(seed=23, start=START, days=40, visitors=250, customers=200)
    root = tmp_path_factory.mktemp("world")
    write_dataset(root, data)
    rollups.rebuild(root=root)
    return root, warehouse_tables.ibis_tables(ibis.duckdb.connect(), root=root)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"by": ("day",)},
        {"by": ("week", "source")},
        {"by": ("month", "shop_id", "channel"), "conventions": Conventions(returning_lookback_days=None)},
        {"by": ("product",)},
        {"shop_ids": [1], "sources": ["baidu", "direct"], "conventions": Conventions(refund_window_days=31)},
        {"channels": ["taobao"], "products": ["P1", "P2"]},
    ],
    ids=["total", "day", "week-source", "month-shop-any-lookback", "product", "filters", "channel-products"],
)
def test_rollup_fast_path_equals_the_definitions_over_raw_tables(
    world: tuple[Path, dict[str, Any]], options: dict[str, Any]
) -> None:
    # given rollups built from the same Parquet the definitions read
    root, tables = world
    start, end = START + dt.timedelta(days=3), START + dt.timedelta(days=33)
    # when both compute the base measures
    from_raw = definitions.grouped_measures(tables, start, end, **options)
    from_rollups = rollups.measures(start, end, root=root, **options)
    # then every measure the definitions give for a group is the rollups' number for it
    by = options.get("by", ())
    fast = {tuple(row[name] for name in by): row for row in from_rollups}
    raw_keys = {tuple(row[name] for name in by) for row in from_raw}
    assert raw_keys == set(fast)
    for row in from_raw:
        key = tuple(row[name] for name in by)
        shared = [name for name in row if name not in by and name in fast[key]]
        assert {name: row[name] for name in shared} == {name: fast[key][name] for name in shared}, key
        assert len(shared) >= 15
