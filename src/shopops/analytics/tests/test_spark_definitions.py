import datetime as dt
import logging
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import ibis
import pytest

from shopops.analytics.metrics import definitions
from shopops.analytics.metrics.conventions import Conventions
from shopops.analytics.metrics.sample_data import random_dataset, write_dataset
from shopops.analytics.tests.test_metrics_definitions import orders_data, visits_data
from shopops.analytics.warehouse import tables as warehouse_tables

pyspark = pytest.importorskip("pyspark")

pytestmark = [pytest.mark.xdist_group("spark"), pytest.mark.slow, pytest.mark.database_free]

START = dt.date(2026, 3, 2)


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from pyspark.sql import SparkSession

    # py4j logs at interpreter exit, after pytest closed the streams
    logging.getLogger("py4j").setLevel(logging.WARNING)

    warehouse = tmp_path_factory.mktemp("spark-warehouse")
    session = (
        SparkSession.builder.master("local[1]")
        .appName("shopops-metrics-test")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.warehouse.dir", str(warehouse))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.default.parallelism", "1")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, spark: Any) -> dict[str, Any]:
    data = random_dataset(seed=11, start=START, days=30, visitors=150, customers=120)
    root = tmp_path_factory.mktemp("world")
    write_dataset(root, data)
    return {
        "data": data,
        "duckdb": warehouse_tables.ibis_tables(ibis.duckdb.connect(), root=root),
        "spark": warehouse_tables.ibis_tables(ibis.pyspark.connect(spark), root=root),
    }


def _both(world: dict[str, Any], start: dt.date, end: dt.date, **options: Any) -> tuple[Any, Any]:
    on_duckdb = definitions.grouped_measures(world["duckdb"], start, end, **options)
    on_spark = definitions.grouped_measures(world["spark"], start, end, **options)
    return on_duckdb, on_spark


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"by": ("week", "source")},
        {"by": ("month", "shop_id", "channel"), "conventions": Conventions(returning_lookback_days=None)},
        {"by": ("product",)},
        {"shop_ids": [1], "sources": ["baidu", "direct"], "conventions": Conventions(refund_window_days=31)},
    ],
    ids=["total", "week-source", "month-shop-channel-any-lookback", "product", "filters"],
)
def test_definitions_give_identical_results_on_duckdb_and_spark(
    world: dict[str, Any], options: dict[str, Any]
) -> None:
    # given the same Parquet read by DuckDB and by Spark
    start, end = START + dt.timedelta(days=4), START + dt.timedelta(days=25)
    # when the same definitions run on both
    on_duckdb, on_spark = _both(world, start, end, **options)
    # then every row and value is identical (money as Decimal, counts as int)
    assert on_duckdb == on_spark
    assert len(on_duckdb) >= 1
    for row in on_spark:
        assert all(isinstance(row[name], Decimal) for name in definitions.MONEY_MEASURES if name in row)


def test_known_answers_on_spark(tmp_path: Path, spark: Any) -> None:
    # given the hand-made visits and orders
    write_dataset(tmp_path, {**visits_data(), **orders_data()})
    tables = warehouse_tables.ibis_tables(ibis.pyspark.connect(spark), root=tmp_path)
    day = dt.date(2026, 3, 10)
    # when Spark measures the day
    measures = definitions.base_measures(tables, day, day)
    # then the hand-written answers hold (see test_metrics_definitions)
    assert (measures["sessions"], measures["bounce_sessions"], measures["duration_seconds"]) == (6, 2, 5099)
    assert (measures["paid_amount"], measures["refund_orders"], measures["returning_buyers"]) == (
        Decimal("485.00"),
        2,
        1,
    )
