"""Generate a year of analytics data as the warehouse's Parquet: events (own web shop) and order facts.

DuckDB SQL makes the rows (hash-based, so the same arguments give the same data) and writes them
partitioned by day, in the exact schemas of `shopops.analytics.warehouse.tables`. Sessions of 1–9
events a few minutes apart (some cross midnight, some pause > 30 minutes), returning visitors, eight
traffic sources, 400 products; orders on four shops (the web shop's with a source), 3 lines each on
average, 85 % paid, refunds, unknown customers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import time
from pathlib import Path

import duckdb

START = dt.date(2025, 1, 1)
DAYS = 365
PRODUCTS = 400
SOURCES = "['direct', 'baidu', 'wechat', 'douyin', 'xiaohongshu', 'google', 'weibo', 'newsletter']"
MARKER = "generated.json"


def _copy(con: duckdb.DuckDBPyConnection, select: str, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    con.execute(
        f"COPY ({select}) TO '{folder}' (FORMAT parquet, PARTITION_BY (day), WRITE_PARTITION_COLUMNS true, "
        "COMPRESSION zstd, ROW_GROUP_SIZE 500000, OVERWRITE_OR_IGNORE true, FILENAME_PATTERN 'part-{uuid}')"
    )


def events_select(*, sessions: int, first_day: dt.date, days: int, offset: int = 0) -> str:
    """Sessions → events. Visitors: sessions / 3 distinct ids, skewed so some come back often."""
    visitors = max(1, sessions // 3)
    seconds = days * 86400
    start = dt.datetime(first_day.year, first_day.month, first_day.day, tzinfo=dt.UTC) - dt.timedelta(hours=8)
    return f"""
    WITH s AS (
        SELECT sid,
               (hash(sid, 'v') % {visitors})::BIGINT AS visitor,
               TIMESTAMPTZ '{start.isoformat()}' + to_seconds((hash(sid, 't') % {seconds})::BIGINT) AS began,
               (1 + hash(sid, 'n') % 9)::INTEGER AS n,
               {SOURCES}[1 + (hash(sid, 's') % 8)::INTEGER] AS source,
               (hash(sid, 'p') % 20 = 0) AS pauses
        FROM range({offset}, {offset + sessions}) r(sid)
    ), e AS (
        SELECT s.*, k, hash(sid, k) AS h FROM s, LATERAL (SELECT unnest(range(n)) AS k)
    ), typed AS (
        SELECT *,
               began + to_seconds((k * 180 + h % 120 + CASE WHEN pauses AND k >= 2 THEN 2400 ELSE 0 END)::BIGINT)
                   + to_microseconds((h % 1000)::BIGINT * 1000) AS ts,
               CASE WHEN k = 0 THEN 'page_view'
                    WHEN h % 100 < 45 THEN 'page_view'
                    WHEN h % 100 < 80 THEN 'product_view'
                    WHEN h % 100 < 92 THEN 'add_to_cart'
                    WHEN h % 100 < 97 THEN 'checkout_start'
                    ELSE 'order_placed' END AS type
        FROM e
    )
    SELECT md5(sid::VARCHAR || '-' || k::VARCHAR) AS event_id, type, ts,
           (ts AT TIME ZONE 'Asia/Shanghai')::DATE AS day, 1::BIGINT AS shop_id, 'own' AS channel,
           'v' || visitor::VARCHAR AS visitor_id, '' AS session_id,
           CASE WHEN type IN ('product_view', 'add_to_cart') THEN '/p/P' || (h % {PRODUCTS})::VARCHAR ELSE '/' END
               AS path,
           '' AS url, '' AS referrer, source,
           CASE WHEN source = 'direct' THEN 'direct' ELSE 'organic' END AS medium, '' AS campaign,
           CASE WHEN type IN ('product_view', 'add_to_cart') THEN 'P' || (h % {PRODUCTS})::VARCHAR ELSE '' END
               AS product,
           '' AS sku,
           CASE WHEN type = 'order_placed' THEN 'E' || (h % 1000000)::VARCHAR ELSE '' END AS order_id,
           CASE WHEN type = 'order_placed' THEN (50 + h % 500)::DECIMAL(18,2) END AS amount,
           CASE WHEN visitor % 3 = 0 THEN 'desktop' ELSE 'mobile' END AS device,
           'ip' || (visitor % {max(1, visitors * 4 // 5)})::VARCHAR AS ip_key,
           ts AS received_at
    FROM typed
    """


def orders_select(*, orders: int, first_day: dt.date, days: int) -> str:
    customers = max(1, orders * 3 // 10)
    seconds = days * 86400
    start = dt.datetime(first_day.year, first_day.month, first_day.day, tzinfo=dt.UTC) - dt.timedelta(hours=8)
    return f"""
    WITH o AS (
        SELECT oid,
               1 + (hash(oid, 'shop') % 4)::BIGINT AS shop_id,
               CASE WHEN hash(oid, 'c') % 20 = 0 THEN NULL ELSE 1 + (hash(oid, 'c') % {customers})::BIGINT END
                   AS customer_id,
               TIMESTAMPTZ '{start.isoformat()}' + to_seconds((hash(oid, 't') % {seconds})::BIGINT) AS created_at,
               hash(oid, 'p') % 100 < 85 AS paid,
               (1 + hash(oid, 'n') % 5)::INTEGER AS lines,
               (hash(oid, 'g') % 40000 + 1000)::DECIMAL(18,2) / 100 AS goods,
               CASE WHEN hash(oid, 'f') % 3 = 0 THEN 8.00 ELSE 0.00 END::DECIMAL(18,2) AS shipping,
               (hash(oid, 'd') % 1000)::DECIMAL(18,2) / 100 AS discount,
               hash(oid, 'r') % 100 AS refund_roll
        FROM range({orders}) r(oid)
    ), shaped AS (
        SELECT *, CASE WHEN paid THEN created_at + to_seconds((60 + hash(oid, 'pt') % 3600)::BIGINT) END AS paid_at,
               (paid AND hash(oid, 'v') % 100 < 95) AS is_valid,
               CASE WHEN paid AND refund_roll < 6 THEN (goods / 2)::DECIMAL(18,2) ELSE 0.00 END AS refunded
        FROM o
    )
    SELECT oid AS order_id, shop_id, ['own', 'tmall', 'jd', 'pdd'][shop_id] AS channel, 'E' || oid::VARCHAR AS external_id,
           customer_id, CASE WHEN paid THEN 'completed' ELSE 'cancelled' END AS status, is_valid,
           created_at, (created_at AT TIME ZONE 'Asia/Shanghai')::DATE AS created_day,
           paid_at, (paid_at AT TIME ZONE 'Asia/Shanghai')::DATE AS paid_day,
           goods AS goods_amount, shipping AS shipping_fee, discount AS discount_amount,
           CASE WHEN paid THEN goods + shipping - discount ELSE 0.00 END::DECIMAL(18,2) AS paid_amount,
           CASE WHEN paid THEN goods - discount - refunded ELSE 0.00 END::DECIMAL(18,2) AS net_sales,
           (goods * 0.45)::DECIMAL(18,2) AS cogs, refunded::DECIMAL(18,2) AS refunded_amount,
           CASE WHEN refunded > 0 THEN paid_at + to_days((1 + refund_roll * 7)::INTEGER) END AS first_refund_at,
           lines::BIGINT AS units, '' AS visitor_id,
           CASE WHEN shop_id = 1 THEN {SOURCES}[1 + (hash(oid, 's') % 8)::INTEGER] ELSE '' END AS source,
           coalesce(paid_at, created_at) AS updated_at, lines AS n_lines
    FROM shaped
    """


def generate(
    folder: Path, *, events: int, orders: int, days: int = DAYS, threads: int = 2
) -> dict[str, object]:
    """Write events and facts under `folder` (an ANALYTICS_DIR); skip when already there."""
    marker = folder / MARKER
    if marker.exists():
        return dict(json.loads(marker.read_text()))
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET preserve_insertion_order = false")
    started = time.perf_counter()
    sessions = max(1, events // 5)
    batch = 4_000_000  # sessions per COPY: bounds memory
    for offset in range(0, sessions, batch):
        _copy(
            con,
            events_select(sessions=min(batch, sessions - offset), first_day=START, days=days, offset=offset),
            folder / "events",
        )
    # orders as a temp table, then lines from it (1–5 per order, 3 on average)
    con.execute(f"CREATE TEMP TABLE g_orders AS {orders_select(orders=orders, first_day=START, days=days)}")
    _copy(con, "SELECT * EXCLUDE (n_lines), created_day AS day FROM g_orders", folder / "facts" / "orders")
    _strip_day(con, folder / "facts" / "orders")
    _copy(
        con,
        f"""
        SELECT order_id * 8 + k AS line_id, order_id, shop_id, channel, created_day AS day, created_day,
               paid_day, is_valid, 'P' || (hash(order_id, k) % {PRODUCTS})::VARCHAR AS product_code,
               'P' || (hash(order_id, k) % {PRODUCTS})::VARCHAR || '-1' AS sku_code,
               1::BIGINT AS quantity, (goods_amount - discount_amount) / n_lines AS amount,
               cogs / n_lines AS cogs,
               CASE WHEN refunded_amount > 0 AND k = 0 THEN 1 ELSE 0 END::BIGINT AS refunded_quantity,
               CASE WHEN k = 0 THEN refunded_amount ELSE 0.00 END::DECIMAL(18,2) AS refunded_amount
        FROM g_orders, LATERAL (SELECT unnest(range(n_lines)) AS k)
        """,
        folder / "facts" / "order_lines",
    )
    _strip_day(con, folder / "facts" / "order_lines")
    _copy(
        con,
        f"""
        SELECT d AS day, 1 + (c % 4)::BIGINT AS shop_id, ['own', 'tmall', 'jd', 'pdd'][1 + c % 4] AS channel,
               ['直通车', '万相台', '京东快车', '多多搜索'][1 + c % 4] AS ad_channel, 'c' || c::VARCHAR AS campaign,
               (hash(d, c) % 500000)::DECIMAL(18,2) / 100 AS spend, (hash(d, c, 'i') % 100000)::BIGINT AS impressions,
               (hash(d, c, 'k') % 3000)::BIGINT AS clicks, (hash(d, c, 'o') % 50)::BIGINT AS attributed_orders,
               (hash(d, c, 'r') % 2000000)::DECIMAL(18,2) / 100 AS attributed_revenue
        FROM (SELECT (DATE '{START}' + INTERVAL (i) DAY)::DATE AS d FROM range({days}) t(i)), range(8) c(c)
        """,
        folder / "facts" / "ad_spend",
    )
    seconds = time.perf_counter() - started
    size = sum(p.stat().st_size for p in folder.rglob("*.parquet"))
    counts = {
        "events": con.execute(f"SELECT count(*) FROM read_parquet('{folder}/events/*/*.parquet')").fetchone()[
            0
        ],  # type: ignore[index]
        "orders": con.execute(
            f"SELECT count(*) FROM read_parquet('{folder}/facts/orders/*/*.parquet')"
        ).fetchone()[0],  # type: ignore[index]
        "order_lines": con.execute(
            f"SELECT count(*) FROM read_parquet('{folder}/facts/order_lines/*/*.parquet')"
        ).fetchone()[0],  # type: ignore[index]
    }
    info = {
        "counts": counts,
        "bytes": size,
        "seconds": round(seconds, 1),
        "start": START.isoformat(),
        "days": days,
    }
    marker.write_text(json.dumps(info))
    return info


def _strip_day(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    """The lines' partition column `day` is a copy of created_day: rewrite the files without it."""
    for path in sorted(folder.glob("day=*/*.parquet")):
        temporary = path.with_suffix(".tmp")
        con.execute(
            f"COPY (SELECT * EXCLUDE (day) FROM read_parquet('{path}')) TO '{temporary}' (FORMAT parquet, COMPRESSION zstd)"
        )
        temporary.replace(path)


def append_day(folder: Path, *, events: int, day: dt.date) -> Path:
    """One more day of events (a new partition), as the compactor would land it."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    target = folder / "events" / f"day={day.isoformat()}"
    shutil.rmtree(target, ignore_errors=True)
    sessions = max(1, events // 5)
    select = events_select(sessions=sessions, first_day=day, days=1, offset=10**12)
    staging = folder / "staging-day"
    shutil.rmtree(staging, ignore_errors=True)
    _copy(con, select, staging)
    target.mkdir(parents=True)
    for index, path in enumerate(sorted(staging.glob("day=*/*.parquet"))):
        # sessions that began late spill into the next day: keep only this day's events
        con.execute(
            f"COPY (SELECT * FROM read_parquet('{path}') WHERE day = DATE '{day}') TO "
            f"'{target}/late-{index}.parquet' (FORMAT parquet)"
        )
    shutil.rmtree(staging, ignore_errors=True)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--orders", type=int, default=500_000)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path("var/bench") / f"analytics-{args.events}-{args.orders}"
    print(json.dumps(generate(out, events=args.events, orders=args.orders)))  # noqa: T201


if __name__ == "__main__":
    main()
