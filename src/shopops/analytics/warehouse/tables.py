"""The warehouse's Parquet datasets: their exact schemas, where they live, and views over them.

Layout under ``settings.ANALYTICS_DIR``::

    events/day=YYYY-MM-DD/*.parquet              compacted events (collect writes them)
    facts/orders/day=YYYY-MM-DD/part.parquet     one partition per created_day
    facts/order_lines/day=YYYY-MM-DD/part.parquet  one partition per created_day of the order
    facts/ad_spend/day=YYYY-MM-DD/part.parquet
    facts/traffic_reports/day=YYYY-MM-DD/part.parquet
    facts/shipments/day=YYYY-MM-DD/part.parquet  one partition per created day of the parcel
    warehouse.duckdb                             rollups, dictionaries, sync state

The ``day`` column is stored inside every file too; readers ignore the folder names (no hive
partitioning), so the file schema is the single source of truth.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from django.conf import settings

from shopops.analytics.collect import schema as collect_schema

MONEY = pa.decimal128(18, 2)
TS = pa.timestamp("us", tz="UTC")

# The compacted events' schema is declared once, where the collector writes them.
EVENTS_SCHEMA = collect_schema.EVENTS_SCHEMA

ORDERS_SCHEMA = pa.schema(
    [
        ("order_id", pa.int64()),
        ("shop_id", pa.int64()),
        ("channel", pa.string()),
        ("external_id", pa.string()),
        ("customer_id", pa.int64()),
        ("status", pa.string()),
        ("is_valid", pa.bool_()),
        ("created_at", TS),
        ("created_day", pa.date32()),
        ("paid_at", TS),
        ("paid_day", pa.date32()),
        ("goods_amount", MONEY),
        ("shipping_fee", MONEY),
        ("discount_amount", MONEY),
        ("paid_amount", MONEY),
        ("net_sales", MONEY),
        ("cogs", MONEY),
        ("refunded_amount", MONEY),
        ("first_refund_at", TS),
        ("units", pa.int64()),
        ("visitor_id", pa.string()),
        ("source", pa.string()),
        ("updated_at", TS),
    ]
)

ORDER_LINES_SCHEMA = pa.schema(
    [
        ("line_id", pa.int64()),
        ("order_id", pa.int64()),
        ("shop_id", pa.int64()),
        ("channel", pa.string()),
        ("created_day", pa.date32()),
        ("paid_day", pa.date32()),
        ("is_valid", pa.bool_()),
        ("product_code", pa.string()),
        ("sku_code", pa.string()),
        ("quantity", pa.int64()),
        ("amount", MONEY),
        ("cogs", MONEY),
        ("refunded_quantity", pa.int64()),
        ("refunded_amount", MONEY),
    ]
)

AD_SPEND_SCHEMA = pa.schema(
    [
        ("day", pa.date32()),
        ("shop_id", pa.int64()),
        ("channel", pa.string()),
        ("ad_channel", pa.string()),
        ("campaign", pa.string()),
        ("spend", MONEY),
        ("impressions", pa.int64()),
        ("clicks", pa.int64()),
        ("attributed_orders", pa.int64()),
        ("attributed_revenue", MONEY),
    ]
)

TRAFFIC_REPORTS_SCHEMA = pa.schema(
    [
        ("day", pa.date32()),
        ("shop_id", pa.int64()),
        ("channel", pa.string()),
        ("product_code", pa.string()),
        ("visitors", pa.int64()),
        ("page_views", pa.int64()),
        ("paying_buyers", pa.int64()),
        ("paid_orders", pa.int64()),
        ("paid_amount", MONEY),
        ("add_to_cart_buyers", pa.int64()),
    ]
)

SHIPMENTS_SCHEMA = pa.schema(
    [
        ("shipment_id", pa.int64()),
        ("shop_id", pa.int64()),
        ("channel", pa.string()),
        ("order_id", pa.int64()),  # the parcel's first order (lowest id); null for a parcel without lines
        ("order_ids", pa.string()),  # every order of its lines, comma-joined ascending (合并发货)
        ("warehouse_id", pa.int64()),
        ("carrier", pa.string()),
        ("status", pa.string()),
        ("source", pa.string()),
        ("created_at", TS),
        ("shipped_at", TS),
        ("delivered_at", TS),
        ("day", pa.date32()),
        ("ship_hours", pa.float64()),
        ("delivery_hours", pa.float64()),
        ("updated_at", TS),
    ]
)

SCHEMAS: dict[str, pa.Schema] = {
    "events": EVENTS_SCHEMA,
    "orders": ORDERS_SCHEMA,
    "order_lines": ORDER_LINES_SCHEMA,
    "ad_spend": AD_SPEND_SCHEMA,
    "traffic_reports": TRAFFIC_REPORTS_SCHEMA,
    "shipments": SHIPMENTS_SCHEMA,
}

# Which column of each dataset names its day partition folder.
PARTITION_COLUMN = {
    "events": "day",
    "orders": "created_day",
    "order_lines": "created_day",
    "ad_spend": "day",
    "traffic_reports": "day",
    "shipments": "day",
}


def analytics_dir() -> Path:
    return Path(settings.ANALYTICS_DIR)


def dataset_dir(name: str, root: Path | None = None) -> Path:
    """Folder of one dataset: events/ directly under the root, the facts under facts/."""
    base = root if root is not None else analytics_dir()
    return base / "events" if name == "events" else base / "facts" / name


def parquet_files(name: str, root: Path | None = None) -> list[Path]:
    folder = dataset_dir(name, root)
    if not folder.exists():
        return []
    return sorted(p for p in folder.glob("day=*/*.parquet") if not p.name.startswith("."))


def warehouse_path(root: Path | None = None) -> Path:
    return (root if root is not None else analytics_dir()) / "warehouse.duckdb"


_DUCKDB_TYPES = {
    pa.string(): "VARCHAR",
    pa.int64(): "BIGINT",
    pa.bool_(): "BOOLEAN",
    pa.date32(): "DATE",
    TS: "TIMESTAMPTZ",
    MONEY: "DECIMAL(18,2)",
    pa.float64(): "DOUBLE",
}


def duckdb_type(data_type: pa.DataType) -> str:
    return _DUCKDB_TYPES[data_type]


def empty_select(schema: pa.Schema) -> str:
    """A typed SELECT with no rows, for a view over a dataset that has no file yet."""
    columns = ", ".join(f"CAST(NULL AS {duckdb_type(f.type)}) AS {f.name}" for f in schema)
    return f"SELECT {columns} WHERE false"


def _sql_list(paths: Iterable[Path]) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def source_select(name: str, root: Path | None = None) -> str:
    """SELECT over a dataset's Parquet with the exact schema (columns in contract order, cast)."""
    schema = SCHEMAS[name]
    files = parquet_files(name, root)
    if not files:
        return empty_select(schema)
    folder = dataset_dir(name, root)
    pattern = str(folder / "day=*" / "*.parquet").replace("'", "''")
    columns = ", ".join(f"CAST({f.name} AS {duckdb_type(f.type)}) AS {f.name}" for f in schema)
    return f"SELECT {columns} FROM read_parquet('{pattern}', hive_partitioning = false)"


def setup_connection(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("SET TimeZone = 'UTC'")


def create_views(con: duckdb.DuckDBPyConnection, root: Path | None = None) -> None:
    """(Re)create the views (one per dataset); call again after new partitions appear in an empty dataset."""
    for name in SCHEMAS:
        con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {source_select(name, root)}")


def connect(path: Path | None = None, *, root: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with views events/orders/order_lines/ad_spend/traffic_reports/shipments.

    `path` is a DuckDB database file to open (default: an in-memory database); `root` the analytics
    folder (default settings.ANALYTICS_DIR). Views are temporary, so opening the warehouse file
    read-only works too.
    """
    con = duckdb.connect(str(path) if path is not None else ":memory:")
    setup_connection(con)
    create_views(con, root)
    return con


def empty_table(name: str) -> pa.Table:
    return SCHEMAS[name].empty_table()


def ibis_tables(backend: Any, *, root: Path | None = None) -> dict[str, Any]:
    """Ibis tables (any backend: DuckDB, PySpark) over the same Parquet, with the contract schemas.

    Files are passed one by one so no backend infers partition columns from the folder names.
    A dataset with no file yet is an empty in-memory table of the right schema.
    """
    import ibis

    tables: dict[str, Any] = {}
    for name, schema in SCHEMAS.items():
        files = parquet_files(name, root)
        if not files:
            tables[name] = ibis.memtable(schema.empty_table())
            continue
        table = _read_parquet(backend, name, files)
        tables[name] = table.select([table[f.name].cast(_ibis_type(f.type)).name(f.name) for f in schema])
    return tables


def _read_parquet(backend: Any, name: str, files: list[Path]) -> Any:
    paths = [str(p) for p in files]
    if backend.name == "duckdb":
        return backend.read_parquet(paths, table_name=f"wh_{name}", hive_partitioning=False)
    if backend.name == "pyspark":
        # ibis' pyspark read_parquet takes one path; give Spark the file list itself.
        frame = backend._session.read.parquet(*paths)
        frame.createOrReplaceTempView(f"wh_{name}")
        return backend.table(f"wh_{name}")
    return backend.read_parquet(paths, table_name=f"wh_{name}")


def _ibis_type(data_type: pa.DataType) -> Any:
    from ibis.formats.pyarrow import PyArrowType

    return PyArrowType.to_ibis(data_type)
