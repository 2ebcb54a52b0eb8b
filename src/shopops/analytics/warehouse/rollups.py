"""Rollups: per day × shop × channel × source (× product) sums and exact-distinct bitmaps, and `measures`.

Build side (`refresh(days)`, `rebuild()`): DuckDB reads the events and facts Parquet of the days asked
(plus one day either side for sessions), maps visitor ids and IP keys to dense int32 ids through
persistent dictionaries (``warehouse.duckdb``), and writes one Parquet file per rollup table and day
(see `store`). Query side: `measures()` in `shopops.analytics.warehouse.query`, re-exported here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)
from pyroaring import BitMap, BitMap64

from shopops.analytics.warehouse import store, tables
from shopops.analytics.warehouse.query import measures

__all__ = ["measures", "rebuild", "refresh"]

VIEW_TYPES = "('page_view', 'product_view')"
SESSION_IDLE_SECONDS = 30 * 60
REFUND_WINDOW_DAYS = 30
# A buyer is the order's customer (orders without one count as orders, not as buyers). Bitmaps of
# buyers are 64-bit: customer ids are database ids, not dense dictionary ids.
BUYER = "customer_id"
# Days rolled in one DuckDB pass during a rebuild (bounds memory at 100M events).
CHUNK_DAYS = 31

TRAFFIC_SCHEMA = pa.schema(
    [
        ("day", pa.date32()),
        ("shop_id", pa.int64()),
        ("channel", pa.string()),
        ("source", pa.string()),
        ("product", pa.string()),
        ("pv", pa.int64()),
        ("product_views", pa.int64()),
        ("sessions", pa.int64()),
        ("bounce_sessions", pa.int64()),
        ("multi_page_sessions", pa.int64()),
        ("duration_ms", pa.int64()),
    ]
)
SETS_SCHEMA = pa.schema(
    [
        ("day", pa.date32()),
        ("shop_id", pa.int64()),
        ("channel", pa.string()),
        ("source", pa.string()),
        ("product", pa.string()),  # null: every product (the shop-level grain)
        ("kind", pa.string()),
        ("cardinality", pa.int64()),
        ("bitmap", pa.binary()),
    ]
)
ORDERS_SCHEMA = pa.schema(
    [
        ("day", pa.date32()),
        ("shop_id", pa.int64()),
        ("channel", pa.string()),
        ("source", pa.string()),
        ("orders", pa.int64()),
        ("order_amount", tables.MONEY),
        ("valid_orders", pa.int64()),
        ("paid_orders", pa.int64()),
        ("paid_amount", tables.MONEY),
        ("units", pa.int64()),
        ("net_sales", tables.MONEY),
        ("cogs", tables.MONEY),
        ("refund_orders", pa.int64()),
        ("refund_amount", tables.MONEY),
    ]
)
ORDER_SETS_SCHEMA = pa.schema(
    [
        ("day", pa.date32()),
        ("shop_id", pa.int64()),
        ("channel", pa.string()),
        ("source", pa.string()),
        ("kind", pa.string()),
        ("cardinality", pa.int64()),
        ("bitmap", pa.binary()),
    ]
)
MARKETING_SCHEMA = pa.schema(
    [
        ("day", pa.date32()),
        ("shop_id", pa.int64()),
        ("channel", pa.string()),
        ("spend", tables.MONEY),
        ("attributed_revenue", tables.MONEY),
    ]
)
PLATFORM_SCHEMA = pa.schema(
    [
        ("day", pa.date32()),
        ("shop_id", pa.int64()),
        ("channel", pa.string()),
        ("product", pa.string()),
        ("reported_visitors", pa.int64()),
        ("reported_page_views", pa.int64()),
        ("reported_paying_buyers", pa.int64()),
        ("reported_paid_amount", tables.MONEY),
    ]
)
SCHEMAS = {
    "traffic": TRAFFIC_SCHEMA,
    "traffic_sets": SETS_SCHEMA,
    "orders": ORDERS_SCHEMA,
    "order_sets": ORDER_SETS_SCHEMA,
    "marketing": MARKETING_SCHEMA,
    "platform": PLATFORM_SCHEMA,
}

_build_lock = threading.Lock()


@contextmanager
def _writer(root: Path | None) -> Any:
    """The writer's DuckDB connection on warehouse.duckdb (dictionaries), one at a time per process."""
    with _build_lock:
        path = tables.warehouse_path(root)
        path.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(path))
        try:
            tables.setup_connection(con)
            con.execute("CREATE TABLE IF NOT EXISTS visitor_dict (key VARCHAR, id INTEGER)")
            con.execute("CREATE TABLE IF NOT EXISTS ip_dict (key VARCHAR, id INTEGER)")
            yield con
        finally:
            con.close()


def _sql_days(days: Iterable[date]) -> str:
    return "[" + ", ".join(f"DATE '{d.isoformat()}'" for d in sorted(days)) + "]"


def _event_files(days: Iterable[date], root: Path | None) -> list[Path]:
    folder = tables.dataset_dir("events", root)
    files: list[Path] = []
    for day in sorted(days):
        files.extend(
            p
            for p in sorted((folder / f"day={day.isoformat()}").glob("*.parquet"))
            if not p.name.startswith(".")
        )
    return files


def _load_events(con: duckdb.DuckDBPyConnection, days: set[date], root: Path | None) -> None:
    """Temp table `ev`: the events of `days`, with dense visitor and IP ids (dictionaries extended first)."""
    files = _event_files(days, root)
    columns = "event_id, type, ts, day, shop_id, channel, visitor_id, source, product, ip_key"
    if files:
        paths = ", ".join("'" + str(p).replace("'", "''") + "'" for p in files)
        source = f"SELECT {columns} FROM read_parquet([{paths}], hive_partitioning = false)"
    else:
        source = f"SELECT {columns} FROM ({tables.empty_select(tables.EVENTS_SCHEMA)})"
    con.execute(f"CREATE OR REPLACE TEMP TABLE ev_raw AS {source}")
    for table, column, mapping in (("visitor_dict", "visitor_id", "vmap"), ("ip_dict", "ip_key", "imap")):
        # the chunk's keys with their ids: known ones found by a semi join that probes the (large)
        # dictionary against the (small) chunk, new ones appended with the next ids in order of
        # first appearance
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE chunk_keys AS SELECT {column} AS key, min(ts) AS first "
            f"FROM ev_raw WHERE {column} <> '' GROUP BY 1"
        )
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {mapping} AS SELECT d.key, d.id FROM {table} d "
            "SEMI JOIN chunk_keys c ON d.key = c.key"
        )
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE new_keys AS
            SELECT c.key, (SELECT coalesce(max(id), -1) FROM {table})
                          + row_number() OVER (ORDER BY c.first, c.key) AS id
            FROM chunk_keys c ANTI JOIN {mapping} m ON m.key = c.key
            """
        )
        con.execute(f"INSERT INTO {table} SELECT key, id FROM new_keys")
        con.execute(f"INSERT INTO {mapping} SELECT key, id FROM new_keys")
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE ev AS
        SELECT e.*, v.id AS visitor, i.id AS ip FROM ev_raw e
        LEFT JOIN vmap v ON v.key = e.visitor_id
        LEFT JOIN imap i ON i.key = e.ip_key
        """
    )
    con.execute("DROP TABLE ev_raw")


def _bitmap_rows(
    rows: pa.Table, schema: pa.Schema, key_columns: list[str], *, wide: bool = False
) -> pa.Table:
    """(key…, ids: list<int>) rows → (key…, cardinality, bitmap) with serialised roaring bitmaps."""
    if rows.num_rows == 0:
        return schema.empty_table()
    ids = rows.column("ids").combine_chunks()
    offsets = ids.offsets.to_numpy()
    values = ids.values.to_numpy(zero_copy_only=False).astype(np.uint64 if wide else np.uint32, copy=False)
    kind = BitMap64 if wide else BitMap
    blobs: list[bytes] = []
    cards: list[int] = []
    for index in range(rows.num_rows):
        bitmap = kind(values[offsets[index] : offsets[index + 1]])
        bitmap.run_optimize()
        blobs.append(bitmap.serialize())
        cards.append(len(bitmap))
    columns = {name: rows.column(name) for name in key_columns}
    columns["cardinality"] = pa.array(cards, pa.int64())
    columns["bitmap"] = pa.array(blobs, pa.binary())
    return pa.table(columns).cast(schema)


def _traffic(con: duckdb.DuckDBPyConnection, target: set[date]) -> dict[str, pa.Table]:
    days = _sql_days(target)
    sessions = con.sql(
        f"""
        WITH marked AS (
            SELECT *, CASE WHEN lag(ts) OVER w IS NULL
                           OR epoch_us(ts) - epoch_us(lag(ts) OVER w) > {SESSION_IDLE_SECONDS} * 1000000
                      THEN 1 ELSE 0 END AS is_start
            FROM ev WHERE visitor IS NOT NULL WINDOW w AS (PARTITION BY shop_id, visitor ORDER BY ts, event_id)
        ), numbered AS (
            SELECT *, sum(is_start) OVER (PARTITION BY shop_id, visitor ORDER BY ts, event_id
                                          ROWS UNBOUNDED PRECEDING) AS session_number
            FROM marked
        ), sessions AS (
            SELECT shop_id, visitor, session_number,
                   max(day) FILTER (WHERE is_start = 1) AS day,
                   max(channel) FILTER (WHERE is_start = 1) AS channel,
                   max(source) FILTER (WHERE is_start = 1) AS source,
                   max(product) FILTER (WHERE is_start = 1) AS product,
                   count(*) FILTER (WHERE type IN {VIEW_TYPES}) AS views,
                   (epoch_us(max(ts)) // 1000) - (epoch_us(min(ts)) // 1000) AS duration_ms
            FROM numbered GROUP BY shop_id, visitor, session_number
        ), parts AS (
            SELECT day, shop_id, channel, source, product, 0 AS pv, 0 AS product_views, 1 AS sessions,
                   CASE WHEN views = 1 THEN 1 ELSE 0 END AS bounce_sessions,
                   CASE WHEN views >= 2 THEN 1 ELSE 0 END AS multi_page_sessions,
                   CASE WHEN views >= 2 THEN duration_ms ELSE 0 END AS duration_ms
            FROM sessions WHERE list_contains({days}, day)
            UNION ALL
            SELECT day, shop_id, channel, source, product,
                   CASE WHEN type IN {VIEW_TYPES} THEN 1 ELSE 0 END,
                   CASE WHEN type = 'product_view' THEN 1 ELSE 0 END, 0, 0, 0, 0
            FROM ev WHERE list_contains({days}, day)
        )
        SELECT day, shop_id, channel, source, product, sum(pv) AS pv, sum(product_views) AS product_views,
               sum(sessions) AS sessions, sum(bounce_sessions) AS bounce_sessions,
               sum(multi_page_sessions) AS multi_page_sessions, sum(duration_ms) AS duration_ms
        FROM parts GROUP BY ALL ORDER BY 1, 2, 3, 4, 5
        """
    ).to_arrow_table()
    sets = con.sql(
        f"""
        WITH e AS (
            SELECT day, shop_id, channel, source, product, type, visitor, ip
            FROM ev WHERE list_contains({days}, day)
        ), tagged AS (
            SELECT day, shop_id, channel, source, product, 'visitors' AS kind, visitor AS id FROM e
                WHERE visitor IS NOT NULL
            UNION ALL SELECT day, shop_id, channel, source, product, 'ips', ip FROM e WHERE ip IS NOT NULL
            UNION ALL SELECT day, shop_id, channel, source, product, 'product_visitors', visitor FROM e
                WHERE type = 'product_view' AND visitor IS NOT NULL
            UNION ALL SELECT day, shop_id, channel, source, product, 'cart_visitors', visitor FROM e
                WHERE type = 'add_to_cart' AND visitor IS NOT NULL
            UNION ALL SELECT day, shop_id, channel, source, product, 'checkout_visitors', visitor FROM e
                WHERE type = 'checkout_start' AND visitor IS NOT NULL
        )
        SELECT day, shop_id, channel, source, (CASE WHEN grouping(product) = 1 THEN NULL ELSE product END)
               AS product, kind, list(DISTINCT id) AS ids
        FROM tagged GROUP BY GROUPING SETS ((day, shop_id, channel, source, kind),
                                            (day, shop_id, channel, source, product, kind))
        ORDER BY 1, 2, 3, 4, 5 NULLS FIRST, 6
        """
    ).to_arrow_table()
    sets_table = _bitmap_rows(sets, SETS_SCHEMA, ["day", "shop_id", "channel", "source", "product", "kind"])
    is_shop = pa.compute.is_null(sets_table.column("product"))
    traffic = sessions.cast(TRAFFIC_SCHEMA)
    coarse = (
        traffic.group_by(["day", "shop_id", "channel", "source"], use_threads=False)
        .aggregate([(name, "sum") for name in TRAFFIC_SCHEMA.names[5:]])
        .rename_columns(["day", "shop_id", "channel", "source", *TRAFFIC_SCHEMA.names[5:]])
        if traffic.num_rows
        else traffic.drop_columns(["product"])
    )
    coarse = coarse.sort_by(
        [("day", "ascending"), ("shop_id", "ascending"), ("channel", "ascending"), ("source", "ascending")]
    )
    return {
        "traffic": coarse.cast(TRAFFIC_SCHEMA.remove(4)),
        "traffic_product": traffic,
        "traffic_sets": sets_table.filter(is_shop),
        "traffic_product_sets": sets_table.filter(pa.compute.invert(is_shop)),
    }


def _orders(con: duckdb.DuckDBPyConnection, target: set[date]) -> tuple[pa.Table, pa.Table]:
    days = _sql_days(target)
    totals = con.sql(
        f"""
        WITH refunded AS (
            SELECT *, (first_refund_at IS NOT NULL
                       AND first_refund_at <= paid_at + INTERVAL {REFUND_WINDOW_DAYS} DAY) AS is_refunded
            FROM f_orders
        ), parts AS (
            SELECT created_day AS day, shop_id, channel, source, 1 AS orders,
                   goods_amount + shipping_fee - discount_amount AS order_amount,
                   CASE WHEN is_valid THEN 1 ELSE 0 END AS valid_orders,
                   0 AS paid_orders, 0::DECIMAL(18,2) AS paid_amount, 0 AS units, 0::DECIMAL(18,2) AS net_sales,
                   0::DECIMAL(18,2) AS cogs, 0 AS refund_orders, 0::DECIMAL(18,2) AS refund_amount
            FROM f_orders WHERE list_contains({days}, created_day)
            UNION ALL
            SELECT paid_day, shop_id, channel, source, 0, 0, 0, 1, paid_amount, units, net_sales, cogs,
                   CASE WHEN is_refunded THEN 1 ELSE 0 END,
                   CASE WHEN is_refunded THEN refunded_amount ELSE 0 END
            FROM refunded WHERE is_valid AND paid_day IS NOT NULL AND list_contains({days}, paid_day)
        )
        SELECT day, shop_id, channel, source, sum(orders) AS orders, sum(order_amount) AS order_amount,
               sum(valid_orders) AS valid_orders, sum(paid_orders) AS paid_orders,
               sum(paid_amount) AS paid_amount, sum(units) AS units, sum(net_sales) AS net_sales,
               sum(cogs) AS cogs, sum(refund_orders) AS refund_orders, sum(refund_amount) AS refund_amount
        FROM parts GROUP BY ALL ORDER BY 1, 2, 3, 4
        """
    ).to_arrow_table()
    sets = con.sql(
        f"""
        WITH paid AS (
            SELECT paid_day AS day, shop_id, channel, source, {BUYER} AS buyer, count(*) AS n
            FROM f_orders WHERE is_valid AND paid_day IS NOT NULL AND customer_id IS NOT NULL
                AND list_contains({days}, paid_day)
            GROUP BY ALL
        )
        SELECT created_day AS day, shop_id, channel, source, 'ordering_buyers' AS kind,
               list(DISTINCT {BUYER}) AS ids
        FROM f_orders WHERE customer_id IS NOT NULL AND list_contains({days}, created_day) GROUP BY ALL
        UNION ALL
        SELECT day, shop_id, channel, source, 'paying_buyers', list(buyer) FROM paid GROUP BY ALL
        UNION ALL
        SELECT day, shop_id, channel, source, 'multi_buyers', list(buyer) FROM paid WHERE n >= 2
        GROUP BY ALL
        ORDER BY 1, 2, 3, 4, 5
        """
    ).to_arrow_table()
    return (
        totals.cast(ORDERS_SCHEMA),
        _bitmap_rows(sets, ORDER_SETS_SCHEMA, ["day", "shop_id", "channel", "source", "kind"], wide=True),
    )


def _marketing(con: duckdb.DuckDBPyConnection, target: set[date]) -> tuple[pa.Table, pa.Table]:
    days = _sql_days(target)
    marketing = con.sql(
        f"""
        SELECT day, shop_id, channel, sum(spend) AS spend,
               coalesce(sum(attributed_revenue), 0) AS attributed_revenue
        FROM f_ad_spend WHERE list_contains({days}, day) GROUP BY ALL ORDER BY 1, 2, 3
        """
    ).to_arrow_table()
    platform = con.sql(
        f"""
        SELECT day, shop_id, channel, product_code AS product, sum(visitors) AS reported_visitors,
               sum(page_views) AS reported_page_views, sum(paying_buyers) AS reported_paying_buyers,
               sum(paid_amount) AS reported_paid_amount
        FROM f_traffic_reports WHERE list_contains({days}, day) GROUP BY ALL ORDER BY 1, 2, 3, 4
        """
    ).to_arrow_table()
    return marketing.cast(MARKETING_SCHEMA), platform.cast(PLATFORM_SCHEMA)


def _split_by_day(table: pa.Table) -> dict[date, pa.Table]:
    """Rows sorted by day → one slice per day."""
    if table.num_rows == 0:
        return {}
    days = table.column("day").combine_chunks()
    runs = pa.compute.run_end_encode(days)
    ends = runs.run_ends.to_pylist()
    values = runs.values.to_pylist()
    result: dict[date, pa.Table] = {}
    start = 0
    for day, end in zip(values, ends, strict=True):
        result[day] = table.slice(start, end - start)
        start = end
    return result


def _roll(con: duckdb.DuckDBPyConnection, target: set[date], root: Path | None) -> None:
    """Recompute and write every rollup table for the `target` days (empty days get empty files)."""
    read_days = {d + timedelta(days=delta) for d in target for delta in (-1, 0, 1)}
    _load_events(con, read_days, root)
    orders, order_sets = _orders(con, target)
    marketing, platform = _marketing(con, target)
    produced = {
        **_traffic(con, target),
        "orders": orders,
        "order_sets": order_sets,
        "marketing": marketing,
        "platform": platform,
    }
    for name, table in produced.items():
        by_day = _split_by_day(table)
        for day in target:
            path = store.day_file(name, day, root)
            part = by_day.get(day)
            if part is None:
                if path.exists():
                    path.unlink()
                continue
            store.write_atomic(part, path)


def _load_facts(con: duckdb.DuckDBPyConnection, target: set[date]) -> None:
    """Read the facts of the target days once (one scan of the day files) for every chunk to use."""
    days = _sql_days(target)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE f_orders AS SELECT * FROM orders "
        f"WHERE list_contains({days}, created_day) OR list_contains({days}, paid_day)"
    )
    for name in ("ad_spend", "traffic_reports"):
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE f_{name} AS SELECT * FROM {name} WHERE list_contains({days}, day)"
        )


def _all_days(con: duckdb.DuckDBPyConnection, root: Path | None) -> set[date]:
    days: set[date] = set()
    folder = tables.dataset_dir("events", root)
    if folder.exists():
        days.update(date.fromisoformat(p.name[4:]) for p in folder.glob("day=*") if p.is_dir())
    for query in (
        "SELECT DISTINCT created_day FROM orders",
        "SELECT DISTINCT paid_day FROM orders WHERE paid_day IS NOT NULL",
        "SELECT DISTINCT day FROM ad_spend",
        "SELECT DISTINCT day FROM traffic_reports",
    ):
        days.update(row[0] for row in con.execute(query).fetchall())
    return days


def refresh(days: Iterable[date], *, root: Path | None = None, expand: bool = True) -> set[date]:
    """Re-roll the given days (with `expand`, also the day before and after: sessions cross midnight).

    Returns the days rewritten. Safe to call for days with no data (their files are removed).
    """
    target = set(days)
    if not target:
        return set()
    if expand:
        target = {d + timedelta(days=delta) for d in target for delta in (-1, 0, 1)}
    with _writer(root) as con:
        tables.create_views(con, root)
        _load_facts(con, target)
        ordered = sorted(target)
        for start in range(0, len(ordered), CHUNK_DAYS):
            _roll(con, set(ordered[start : start + CHUNK_DAYS]), root)
    store.bump_version(root)
    return target


def rebuild(*, root: Path | None = None) -> set[date]:
    """Drop every rollup and the dictionaries, then roll every day that has events or facts."""
    import shutil

    shutil.rmtree(store.rollups_dir(root), ignore_errors=True)
    with _writer(root) as con:
        con.execute("DELETE FROM visitor_dict")
        con.execute("DELETE FROM ip_dict")
        tables.create_views(con, root)
        days = _all_days(con, root)
    if days:
        refresh(days, root=root, expand=False)
    else:
        store.bump_version(root)  # readers drop what they cached of the removed rollups
    return days


def status(*, root: Path | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"version": store.read_version(root)}
    for name in store.ROLLUP_TABLES:
        days = store.stored_days(name, root)
        result[name] = {
            "days": len(days),
            "first": days[0] if days else None,
            "last": days[-1] if days else None,
        }
    return result
