"""Segment membership and RFM for 1,000,000 customers: ours beside a plain SQL and a DuckDB query of the rule.

    python -m bench.bench_segments [--customers 1000000] [--orders-per-customer 2.5] [--keep DIR]

Generates customers and orders with SQL into a fresh, migrated SQLite database (a temporary file), then
times `segments.services.refresh_metrics` (metrics + RFM + RFM history for every customer) and
`create_segment` (rule evaluation + membership + history rows) for the rule
“RFM 分类 属于 重要价值客户 或 (净消费 ≥ 1000 且 距最近付款天数 ≥ 30)”. Beside it: one plain SQLite query
that counts the same customers from the orders (no writes), and the same query in DuckDB over the orders
loaded into memory (load time shown apart). The three counts must agree.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import machine

RULE = {
    "op": "or",
    "items": [
        {"field": "rfm_class", "operator": "eq", "value": "important_value"},
        {
            "op": "and",
            "items": [
                {"field": "net_spend", "operator": "gte", "value": "1000"},
                {"field": "last_order_days", "operator": "gte", "value": "30"},
            ],
        },
    ],
}


def _setup(directory: Path) -> None:
    os.environ["DATABASE_URL"] = f"sqlite:///{directory / 'bench.sqlite3'}"
    os.environ.setdefault("SHOPOPS_VAR_DIR", str(directory / "var"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shopops.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _literal(field: Any, now_text: str) -> str:
    from django.db import models

    if field.null:
        return "NULL"
    if isinstance(field, models.BooleanField):
        return "1" if field.default is True else "0"
    if isinstance(field, models.DateTimeField | models.DateField):
        return f"'{now_text}'"
    if isinstance(field, models.JSONField):
        return "'{}'"
    default = field.default if field.has_default() and not callable(field.default) else None
    if isinstance(field, models.DecimalField | models.IntegerField | models.FloatField):
        return str(default or 0)
    return "'" + str(default or "").replace("'", "''") + "'"


def _insert(model: Any, count_sql: str, overrides: dict[str, str], now_text: str) -> None:
    """INSERT … SELECT over a counter CTE `n(i)`: override expressions, every other column its default."""
    from django.db import connection

    columns, values = [], []
    for field in model._meta.concrete_fields:
        if field.primary_key and field.attname not in overrides:
            continue
        columns.append(connection.ops.quote_name(field.column))
        values.append(overrides.get(field.attname, _literal(field, now_text)))
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count_sql}) "
            f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} ({', '.join(columns)}) "
            f"SELECT {', '.join(values)} FROM n"
        )


def generate(customers: int, orders: int, now: dt.datetime) -> None:
    from django.db import connection, transaction

    from shopops.channels.models import Shop
    from shopops.customers.models import Customer
    from shopops.orders.models import Order

    now_text = now.strftime("%Y-%m-%d %H:%M:%S")
    with connection.cursor() as cursor:
        # indexes are built once after the rows are in (far faster than row by row); the same indexes result
        cursor.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'orders_order' AND sql IS NOT NULL"
        )
        order_indexes = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'orders_order' AND sql IS NOT NULL"
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f'DROP INDEX "{name}"')
    with transaction.atomic():
        shops = [
            Shop.objects.create(code=f"bench-{index}", name=f"店铺{index}", platform="tmall")
            for index in range(3)
        ]
        _insert(Customer, str(customers), {"id": "i", "name": "'客户' || i"}, now_text)
        # paid up to 400 days ago, 8 % unpaid, 6 % with a ¥9.90 refund; customers drawn at random
        paid_at = (
            f"CASE WHEN abs(random()) % 100 < 8 THEN NULL ELSE "
            f"datetime('{now_text}', '-' || (abs(random()) % 34560000) || ' seconds') END"
        )
        _insert(
            Order,
            str(orders),
            {
                "shop_id": f"{shops[0].pk} + (i % 3)",
                "external_id": "'B' || i",
                "customer_id": f"1 + (abs(random()) % {customers})",
                "placed_at": f"datetime('{now_text}', '-400 days')",
                "paid_at": paid_at,
                "paid_amount": "round((abs(random()) % 200000) / 100.0 + 9.9, 2)",
                "refunded_amount": "CASE WHEN abs(random()) % 100 < 6 THEN 9.9 ELSE 0 END",
            },
            now_text,
        )
        with connection.cursor() as cursor:
            cursor.execute("UPDATE orders_order SET placed_at = paid_at WHERE paid_at IS NOT NULL")
            for statement in order_indexes:
                cursor.execute(statement)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def plain_sql(cutoff: dt.datetime) -> tuple[int, float]:
    """The same rule written by hand over orders: aggregates, quintiles by RANK, the OR/AND filter."""
    from django.db import connection

    sql = """
    WITH agg AS (
        SELECT customer_id, SUM(CASE WHEN paid_at IS NOT NULL THEN 1 ELSE 0 END) AS f,
               SUM(CASE WHEN paid_at IS NOT NULL THEN paid_amount - refunded_amount ELSE 0 END) AS m,
               MAX(paid_at) AS last_paid
        FROM orders_order WHERE customer_id IS NOT NULL AND is_test = 0 GROUP BY customer_id
    ), buyers AS (SELECT customer_id, f, ROUND(m, 2) AS m, last_paid FROM agg WHERE f > 0),
    scored AS (
        SELECT customer_id, m, last_paid,
               (RANK() OVER (ORDER BY last_paid) - 1) * 5 / COUNT(*) OVER () + 1 AS r,
               (RANK() OVER (ORDER BY f) - 1) * 5 / COUNT(*) OVER () + 1 AS fs,
               (RANK() OVER (ORDER BY m) - 1) * 5 / COUNT(*) OVER () + 1 AS ms
        FROM buyers
    )
    SELECT COUNT(*) FROM scored WHERE (r >= 3 AND fs >= 3 AND ms >= 3) OR (m >= 1000 AND last_paid < %s)
    """
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(sql, [connection.ops.adapt_datetimefield_value(cutoff)])
        count = int(cursor.fetchone()[0])
    return count, time.perf_counter() - started


def duckdb_query(cutoff: dt.datetime) -> tuple[int, float, float]:
    import duckdb
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT customer_id, paid_at, CAST(paid_amount AS REAL), CAST(refunded_amount AS REAL), is_test "
            "FROM orders_order"
        )
        rows = cursor.fetchall()
    import pandas as pd

    frame = pd.DataFrame(
        rows, columns=["customer_id", "paid_at", "paid_amount", "refunded_amount", "is_test"]
    )
    frame["paid_at"] = pd.to_datetime(frame["paid_at"], format="ISO8601")
    database = duckdb.connect()
    database.register("orders_frame", frame)
    # amounts as exact decimals (what the database columns hold), so sums round like ours
    database.execute(
        "CREATE TABLE orders AS SELECT customer_id, paid_at, CAST(paid_amount AS DECIMAL(14, 2)) AS paid_amount, "
        "CAST(refunded_amount AS DECIMAL(14, 2)) AS refunded_amount, is_test FROM orders_frame"
    )
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    count = database.execute(
        """
        WITH agg AS (
            SELECT customer_id, count(paid_at) AS f,
                   round(sum(CASE WHEN paid_at IS NOT NULL THEN paid_amount - refunded_amount ELSE 0 END), 2) AS m,
                   max(paid_at) AS last_paid
            FROM orders WHERE customer_id IS NOT NULL AND is_test = 0 GROUP BY customer_id HAVING count(paid_at) > 0
        ), scored AS (
            SELECT *, (rank() OVER (ORDER BY last_paid) - 1) * 5 // count(*) OVER () + 1 AS r,
                      (rank() OVER (ORDER BY f) - 1) * 5 // count(*) OVER () + 1 AS fs,
                      (rank() OVER (ORDER BY m) - 1) * 5 // count(*) OVER () + 1 AS ms
            FROM agg
        )
        SELECT count(*) FROM scored WHERE (r >= 3 AND fs >= 3 AND ms >= 3) OR (m >= 1000 AND last_paid < ?)
        """,
        [cutoff.astimezone(dt.UTC).replace(tzinfo=None)],  # paid_at is stored as UTC
    ).fetchone()[0]
    return int(count), time.perf_counter() - started, loaded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--orders-per-customer", type=float, default=2.5)
    parser.add_argument("--keep", type=Path, default=None, help="keep the database in this folder")
    options = parser.parse_args()
    directory = options.keep or Path(tempfile.mkdtemp(prefix="bench-segments-"))
    directory.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}")
    started = time.perf_counter()
    _setup(directory)
    print(f"migrated in {time.perf_counter() - started:.1f} s ({directory})")

    from django.utils import timezone

    from shopops.segments import queries, services
    from shopops.segments.segment_conditions import _day_start

    now = timezone.now()
    orders = int(options.customers * options.orders_per_customer)
    started = time.perf_counter()
    generate(options.customers, orders, now)
    size = os.path.getsize(directory / "bench.sqlite3") / 2**20
    print(
        f"generated {options.customers:,} customers, {orders:,} orders in {time.perf_counter() - started:.1f} s "
        f"(database {size:,.0f} MiB)"
    )

    started = time.perf_counter()
    services.refresh_metrics(actor="bench")
    metrics_seconds = time.perf_counter() - started
    started = time.perf_counter()
    segment = services.create_segment(name="bench 高价值", rule=RULE, actor="bench")
    segment_seconds = time.perf_counter() - started
    ours = metrics_seconds + segment_seconds
    print(
        f"ours: metrics {metrics_seconds:.1f} s + segment {segment_seconds:.1f} s = {ours:.1f} s", flush=True
    )
    started = time.perf_counter()
    services.refresh_metrics(actor="bench")
    again = services.refresh_segment(segment_id=segment.pk, actor="bench")
    second_seconds = time.perf_counter() - started

    cutoff = _day_start(timezone.localdate() - dt.timedelta(days=29))
    plain_count, plain_seconds = plain_sql(cutoff)
    duck_count, duck_seconds, duck_load = duckdb_query(cutoff)
    assert queries.describe_rule(segment.rule)
    print()
    print("| what | seconds | members | ours/this |")
    print("|---|---:|---:|---:|")
    print(f"| ours: metrics + RFM + RFM history ({options.customers:,} rows) | {metrics_seconds:.1f} | | |")
    print(f"| ours: segment membership + history | {segment_seconds:.1f} | {segment.member_count:,} | |")
    print(f"| **ours: total (first run)** | **{ours:.1f}** | {segment.member_count:,} | 1.00 |")
    print(
        f"| ours: refresh again (metrics + segment, {again.entered:,} in, {again.left:,} out) | {second_seconds:.1f} | {again.members:,} | {ours / second_seconds:.2f} |"
    )
    print(
        f"| plain SQLite query of the rule (count only, no writes) | {plain_seconds:.1f} | {plain_count:,} | {ours / plain_seconds:.2f} |"
    )
    print(
        f"| DuckDB query of the rule (in memory; load {duck_load:.1f} s apart) | {duck_seconds:.2f} | {duck_count:,} | {ours / duck_seconds:.1f} |"
    )
    if not (segment.member_count == plain_count == duck_count):
        print("MISMATCH: the counts differ", file=sys.stderr)
        sys.exit(1)
    print(f"\ncounts agree; ours under 60 s: {'yes' if ours < 60 else 'NO'}")


if __name__ == "__main__":
    main()
