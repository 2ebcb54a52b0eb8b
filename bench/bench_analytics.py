"""Analytics warehouse benchmark: rollup rebuild, incremental refresh, dashboard overview from rollups.

    .venv/bin/python -m bench.bench_analytics [--events 10000000 --orders 500000]
    .venv/bin/python -m bench.bench_analytics --events 100000000 --orders 5000000

Data (bench/gen_analytics.py, cached under var/bench/ and reused): a year of own-shop events and order
facts as the warehouse's Parquet. Figures, each beside a peer measured in the same run:
- full rollup rebuild vs raw DuckDB SQL and raw Polars computing the same daily aggregates
  (per day × source: PV, UV, IP, sessions, bounce, duration; per day: orders, paid, buyers);
- refresh after one new day of events (~300k) — goal < 5 s;
- dashboard overview (every base measure) for 1/7/30/90/365 days from rollups (cold: fresh process
  cache; warm: files cached, result not; hot: repeated) vs raw DuckDB SQL over raw events and
  orders, checking both give the same numbers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import resource
import sys
import time
from pathlib import Path
from typing import Any

import duckdb

from bench.common import ROOT, machine
from bench.gen_analytics import append_day, generate

VIEWS = "('page_view', 'product_view')"


def checked_measures() -> tuple[str, ...]:
    """The 28 base measures both sides compute: the warehouse's measure families (not a copy) and spend."""
    from shopops.analytics.warehouse import query

    return (
        query.TRAFFIC_MEASURES
        + query.PLACED_MEASURES
        + query.PAID_MEASURES
        + query.BUYER_MEASURES
        + ("spend",)
    )


def timed(function: Any, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    gc.collect()
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - started, result


def raw_connection(root: Path) -> duckdb.DuckDBPyConnection:
    from shopops.analytics.warehouse import tables

    con = tables.connect(root=root)
    con.execute("SET threads = 2")
    return con


SESSIONS_SQL = """
    WITH marked AS (
        SELECT *, CASE WHEN lag(ts) OVER w IS NULL OR ts - lag(ts) OVER w > INTERVAL 30 MINUTE THEN 1 ELSE 0 END AS s
        FROM events WHERE visitor_id <> '' {where}
        WINDOW w AS (PARTITION BY shop_id, visitor_id ORDER BY ts, event_id)
    ), numbered AS (
        SELECT *, sum(s) OVER (PARTITION BY shop_id, visitor_id ORDER BY ts, event_id ROWS UNBOUNDED PRECEDING) AS n
        FROM marked
    )
    SELECT shop_id, visitor_id, n, first(day ORDER BY ts, event_id) AS day,
           first(source ORDER BY ts, event_id) AS source,
           count(*) FILTER (WHERE type IN ('page_view', 'product_view')) AS views,
           epoch_ms(max(ts)) - epoch_ms(min(ts)) AS duration_ms
    FROM numbered GROUP BY ALL
"""


def raw_duckdb_daily(root: Path) -> int:
    """The same daily aggregates as the rollups, straight from the raw Parquet."""
    con = raw_connection(root)
    traffic = con.execute(
        f"""
        WITH v AS ({SESSIONS_SQL.format(where="")}),
        s AS (SELECT day, source, count(*) AS sessions, count(*) FILTER (WHERE views = 1) AS bounces,
                     count(*) FILTER (WHERE views >= 2) AS multi,
                     sum(duration_ms) FILTER (WHERE views >= 2) AS duration_ms FROM v GROUP BY ALL),
        e AS (SELECT day, source, count(*) FILTER (WHERE type IN {VIEWS}) AS pv,
                     count(DISTINCT visitor_id) AS visitors, count(DISTINCT ip_key) AS ips
              FROM events GROUP BY ALL)
        SELECT * FROM e LEFT JOIN s USING (day, source)
        """
    ).fetchall()
    orders = con.execute(
        """
        SELECT paid_day, count(*), sum(paid_amount), count(DISTINCT customer_id) FROM orders
        WHERE is_valid AND paid_day IS NOT NULL GROUP BY 1
        """
    ).fetchall()
    return len(traffic) + len(orders)


def raw_polars_daily(root: Path) -> int:
    import polars as pl

    events = pl.scan_parquet(str(root / "events" / "*" / "*.parquet"), hive_partitioning=False)
    known = events.filter(pl.col("visitor_id") != "").sort(["shop_id", "visitor_id", "ts", "event_id"])
    gap = pl.col("ts").diff().over(["shop_id", "visitor_id"])
    marked = known.with_columns(
        starts=(gap.is_null() | (gap > pl.duration(minutes=30))).cast(pl.Int64)
    ).with_columns(n=pl.col("starts").cum_sum().over(["shop_id", "visitor_id"]))
    sessions = marked.group_by(["shop_id", "visitor_id", "n"]).agg(
        day=pl.col("day").first(),
        source=pl.col("source").first(),
        views=pl.col("type").is_in(["page_view", "product_view"]).sum(),
        duration=(pl.col("ts").max() - pl.col("ts").min()),
    )
    per_day_sessions = sessions.group_by(["day", "source"]).agg(
        sessions=pl.len(),
        bounces=(pl.col("views") == 1).sum(),
        multi=(pl.col("views") >= 2).sum(),
        duration=pl.col("duration").filter(pl.col("views") >= 2).sum(),
    )
    per_day = events.group_by(["day", "source"]).agg(
        pv=pl.col("type").is_in(["page_view", "product_view"]).sum(),
        visitors=pl.col("visitor_id").n_unique(),
        ips=pl.col("ip_key").n_unique(),
    )
    traffic = per_day.join(per_day_sessions, on=["day", "source"], how="left").collect()
    orders = (
        pl.scan_parquet(str(root / "facts" / "orders" / "*" / "*.parquet"), hive_partitioning=False)
        .filter(pl.col("is_valid") & pl.col("paid_day").is_not_null())
        .group_by("paid_day")
        .agg(pl.len(), pl.col("paid_amount").sum(), pl.col("customer_id").n_unique())
        .collect()
    )
    return traffic.height + orders.height


def raw_overview(con: duckdb.DuckDBPyConnection, start: dt.date, end: dt.date) -> dict[str, Any]:
    """Every checked overview measure for [start, end] in plain SQL over the raw events and orders."""
    before, after = start - dt.timedelta(days=1), end + dt.timedelta(days=1)
    traffic = con.execute(
        f"""
        SELECT count(*) FILTER (WHERE type IN {VIEWS}),
               count(DISTINCT visitor_id) FILTER (WHERE visitor_id <> ''),
               count(DISTINCT ip_key) FILTER (WHERE ip_key <> ''),
               count(*) FILTER (WHERE type = 'product_view'),
               count(DISTINCT visitor_id) FILTER (WHERE type = 'product_view' AND visitor_id <> ''),
               count(DISTINCT visitor_id) FILTER (WHERE type = 'add_to_cart' AND visitor_id <> ''),
               count(DISTINCT visitor_id) FILTER (WHERE type = 'checkout_start' AND visitor_id <> '')
        FROM events WHERE day BETWEEN ? AND ?
        """,
        [start, end],
    ).fetchone()
    new_visitors = con.execute(
        """
        SELECT count(*) FROM (SELECT visitor_id, min(day) AS first FROM events
                              WHERE visitor_id <> '' AND day <= ? GROUP BY 1) WHERE first >= ?
        """,
        [end, start],
    ).fetchone()
    sessions = con.execute(
        f"""
        WITH v AS ({SESSIONS_SQL.format(where="AND day BETWEEN ? AND ?")})
        SELECT count(*), count(*) FILTER (WHERE views = 1), coalesce(sum(duration_ms) FILTER (WHERE views >= 2), 0),
               count(*) FILTER (WHERE views >= 2)
        FROM v WHERE day BETWEEN ? AND ?
        """,
        [before, after, start, end],
    ).fetchone()
    placed = con.execute(
        """
        SELECT count(*), sum(goods_amount + shipping_fee - discount_amount), count(*) FILTER (WHERE is_valid),
               count(DISTINCT customer_id)
        FROM orders WHERE created_day BETWEEN ? AND ?
        """,
        [start, end],
    ).fetchone()
    paid = con.execute(
        """
        WITH p AS (SELECT * FROM orders WHERE is_valid AND paid_day IS NOT NULL),
        r AS (SELECT * FROM p WHERE paid_day BETWEEN ? AND ?),
        refunded AS (SELECT * FROM r WHERE first_refund_at IS NOT NULL AND first_refund_at <= paid_at + INTERVAL 30 DAY),
        buyers AS (SELECT customer_id, count(*) AS n FROM r WHERE customer_id IS NOT NULL GROUP BY 1),
        earlier AS (SELECT customer_id, max(paid_day) AS last FROM p WHERE paid_day < ? AND customer_id IS NOT NULL
                    GROUP BY 1)
        SELECT (SELECT count(*) FROM r), (SELECT sum(paid_amount) FROM r), (SELECT count(*) FROM buyers),
               (SELECT sum(units) FROM r), (SELECT sum(net_sales) FROM r), (SELECT sum(cogs) FROM r),
               (SELECT count(*) FROM refunded), (SELECT coalesce(sum(refunded_amount), 0) FROM refunded),
               (SELECT count(*) FROM buyers b ANTI JOIN earlier e USING (customer_id)),
               (SELECT count(*) FROM buyers b JOIN earlier e USING (customer_id) WHERE e.last >= ? - INTERVAL 365 DAY),
               (SELECT count(*) FROM buyers WHERE n >= 2)
        """,
        [start, end, start, start],
    ).fetchone()
    spend = con.execute(
        "SELECT coalesce(sum(spend), 0) FROM ad_spend WHERE day BETWEEN ? AND ?", [start, end]
    ).fetchone()
    values = [*traffic, *new_visitors, *sessions, *placed, *paid, *spend]  # type: ignore[misc]
    names = [
        "pv", "visitors", "ips", "product_views", "product_visitors", "cart_visitors", "checkout_visitors",
        "new_visitors", "sessions", "bounce_sessions", "duration_ms", "multi_page_sessions",
        "orders", "order_amount", "valid_orders", "ordering_buyers",
        "paid_orders", "paid_amount", "paying_buyers", "units", "net_sales", "cogs", "refund_orders",
        "refund_amount", "new_buyers", "returning_buyers", "repeat_buyers", "spend",
    ]  # fmt: skip
    result = dict(zip(names, values, strict=True))
    result["duration_seconds"] = int(result.pop("duration_ms")) // 1000
    return result


def maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def full_rebuild(root: Path, *, skip_polars: bool) -> None:
    from shopops.analytics.warehouse import rollups

    print("\n## full rebuild (every day's rollups) vs the same daily aggregates computed raw")
    rebuild_s, days = timed(rollups.rebuild, root=root)
    rollup_bytes = sum(p.stat().st_size for p in (root / "rollups").rglob("*.parquet"))
    print(
        f"ours: rollups.rebuild            {rebuild_s:8.1f} s  ({len(days)} days, rollups {rollup_bytes / 2**20:.0f} MiB, "
        f"maxrss {maxrss_mib():.0f} MiB)"
    )
    duck_s, _ = timed(raw_duckdb_daily, root)
    print(f"peer: raw DuckDB daily SQL       {duck_s:8.1f} s  ours/this {rebuild_s / duck_s:.2f}")
    if not skip_polars:
        polars_s, _ = timed(raw_polars_daily, root)
        print(f"peer: raw Polars daily (lazy)    {polars_s:8.1f} s  ours/this {rebuild_s / polars_s:.2f}")


def main() -> None:  # noqa: C901 - a linear script
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--orders", type=int, default=500_000)
    parser.add_argument("--new-day-events", type=int, default=300_000)
    parser.add_argument("--skip-polars", action="store_true")
    parser.add_argument(
        "--skip-rebuild",
        action="store_true",
        help="keep the rollups of an earlier run (and skip the raw peers)",
    )
    args = parser.parse_args()
    root = ROOT / "var" / "bench" / f"analytics-{args.events}-{args.orders}"

    from shopops.analytics.warehouse import rollups, store

    print(f"machine: {machine()}")
    seconds, info = timed(generate, root, events=args.events, orders=args.orders)
    counts = info["counts"]
    print(
        f"data: {counts['events']:,} events, {counts['orders']:,} orders, {counts['order_lines']:,} lines, "
        f"{info['bytes'] / 2**30:.2f} GiB Parquet under {root.relative_to(ROOT)} "
        f"({'generated in ' + str(info['seconds']) + ' s' if seconds > 1 else 'cached'})"
    )
    new_day = dt.date.fromisoformat(info["start"]) + dt.timedelta(days=info["days"])
    import shutil

    shutil.rmtree(root / "events" / f"day={new_day.isoformat()}", ignore_errors=True)  # from an earlier run

    if not args.skip_rebuild:
        full_rebuild(root, skip_polars=args.skip_polars)

    print(f"\n## incremental refresh after one new day ({args.new_day_events:,} events on {new_day})")
    append_day(root, events=args.new_day_events, day=new_day)
    added = duckdb.execute(
        f"SELECT count(*) FROM read_parquet('{root}/events/day={new_day}/*.parquet')"
    ).fetchone()[0]  # type: ignore[index]
    refresh_s, refreshed = timed(rollups.refresh, {new_day}, root=root)
    print(
        f"ours: rollups.refresh({{day}})    {refresh_s:8.2f} s  ({added:,} events; re-rolls {len(refreshed)} days: "
        f"the day and its neighbours, for sessions across midnight)  goal < 5 s"
    )
    shutil.rmtree(root / "events" / f"day={new_day.isoformat()}")
    rollups.refresh({new_day}, root=root)

    print(
        "\n## dashboard overview (all base measures) from rollups vs raw DuckDB SQL over raw events + orders"
    )
    last = new_day - dt.timedelta(days=1)
    con = raw_connection(root)
    print(
        f"{'range':>6} | {'cold ms':>8} | {'warm ms':>8} | {'hot ms':>7} | {'raw SQL ms':>10} | {'raw/warm':>8} | same numbers"
    )
    mismatches = 0
    for length in (1, 7, 30, 90, 365):
        start = last - dt.timedelta(days=length - 1)
        store._readers.clear()
        cold, ours = timed(rollups.measures, start, last, root=root)
        store.reader(root).memo.clear()
        warm, _ = timed(rollups.measures, start, last, root=root)
        hot, _ = timed(rollups.measures, start, last, root=root)
        raw_s, raw = timed(raw_overview, con, start, last)
        row = ours[0]
        different = {name: (row[name], raw[name]) for name in checked_measures() if row[name] != raw[name]}
        mismatches += bool(different)
        print(
            f"{length:>5}d | {cold * 1000:8.1f} | {warm * 1000:8.1f} | {hot * 1000:7.2f} | {raw_s * 1000:10.1f} | "
            f"{raw_s / warm:8.1f} | {'yes' if not different else different}"
        )
    print(f"\nmaxrss {maxrss_mib():.0f} MiB")
    if mismatches:
        sys.exit(1)


if __name__ == "__main__":
    main()
