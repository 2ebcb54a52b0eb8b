"""数据中心 pages: each page's warm time for a one-year range on the demo, beside the raw DuckDB query for
the same numbers.

    .venv/bin/python -m bench.bench_datacenter_pages [--var-dir var/bench-datacenter] [--repeat 7]

Loads the demo (`shopops setup`: SQLite, a year of analytics) into its own var dir the first time, then,
in this process, logs in as the demo 运营 (operations) through the Django test client and for each page
of 数据中心 (range: the 365 days ending yesterday, all shops) measures:
- first: the first request after the cache is cleared (the page's numbers computed from the rollups and
  facts);
- warm: the median of --repeat further requests (the page's numbers cached per rollup version, so this
  is what every user meets until the next warehouse refresh);
- raw DuckDB: the median of --repeat runs of one hand-written SQL query over the warehouse's raw Parquet
  that computes the page's main numbers (a fresh connection each run, as a page has);
- warm/raw and the HTML size.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, machine

PAGES = ("changelist", "trends", "sources", "products", "customers", "campaigns")
NAMES = {
    "changelist": "概览",
    "trends": "趋势",
    "sources": "流量来源",
    "products": "商品",
    "customers": "客户",
    "campaigns": "推广",
}
PAID = "is_valid AND paid_day IS NOT NULL AND paid_day BETWEEN $start AND $end"
RAW_SQL = {
    # the overview's cards: paid amount/orders/buyers and visitors of the range, and the daily series
    "changelist": f"""
        SELECT (SELECT sum(paid_amount) FROM orders WHERE {PAID}), (SELECT count(*) FROM orders WHERE {PAID}),
               (SELECT count(DISTINCT customer_id) FROM orders WHERE {PAID}),
               (SELECT count(DISTINCT visitor_id) FROM events WHERE day BETWEEN $start AND $end),
               (SELECT count(*) FROM (SELECT paid_day, sum(paid_amount) FROM orders WHERE {PAID} GROUP BY 1))
    """,
    # per day: visitors, PV, paid amount, orders, buyers
    "trends": f"""
        WITH e AS (SELECT day, count(DISTINCT visitor_id) v, count(*) FILTER (WHERE type IN
                   ('page_view', 'product_view')) pv FROM events WHERE day BETWEEN $start AND $end GROUP BY 1),
             o AS (SELECT paid_day AS day, sum(paid_amount) a, count(*) n, count(DISTINCT customer_id) b
                   FROM orders WHERE {PAID} GROUP BY 1)
        SELECT * FROM e FULL JOIN o USING (day)
    """,
    # per source: visitors and PV
    "sources": """
        SELECT source, count(DISTINCT visitor_id), count(*) FILTER (WHERE type IN ('page_view', 'product_view'))
        FROM events WHERE day BETWEEN $start AND $end GROUP BY 1
    """,
    # per product: views, visitors, units, amount
    "products": f"""
        WITH v AS (SELECT product, count(*) views, count(DISTINCT visitor_id) visitors FROM events
                   WHERE type = 'product_view' AND day BETWEEN $start AND $end GROUP BY 1),
             s AS (SELECT product_code AS product, sum(quantity) units, sum(amount) amount FROM order_lines
                   WHERE {PAID} GROUP BY 1)
        SELECT * FROM v FULL JOIN s USING (product)
    """,
    # RFM per buyer and the cohort matrix
    "customers": f"""
        WITH b AS (SELECT customer_id, max(paid_day) last_day, count(*) n, sum(paid_amount) amount
                   FROM orders WHERE {PAID} AND customer_id IS NOT NULL GROUP BY 1),
             f AS (SELECT customer_id, min(paid_day) first_day FROM orders
                   WHERE is_valid AND paid_day <= $end AND customer_id IS NOT NULL GROUP BY 1),
             c AS (SELECT date_trunc('month', f.first_day) AS cohort, date_trunc('month', o.paid_day) AS paid_month,
                          count(DISTINCT o.customer_id) FROM orders o JOIN f USING (customer_id)
                   WHERE o.is_valid AND o.paid_day <= $end AND f.first_day >= $start GROUP BY 1, 2)
        SELECT (SELECT count(*) FROM b), (SELECT avg(amount) FROM b), (SELECT count(*) FROM c)
    """,
    # per campaign: spend, clicks, attributed revenue
    "campaigns": """
        SELECT ad_channel, campaign, sum(spend), sum(impressions), sum(clicks), sum(attributed_revenue)
        FROM ad_spend WHERE day BETWEEN $start AND $end GROUP BY 1, 2
    """,
}


def ensure_demo(var_dir: Path) -> None:
    if (var_dir / "shopops.sqlite3").exists() and (var_dir / "analytics").exists():
        return
    print(f"loading the demo into {var_dir} (shopops setup) …", flush=True)
    environment = {**os.environ, "SHOPOPS_VAR_DIR": str(var_dir), "PYTHONPATH": str(ROOT / "src")}
    environment.pop("DATABASE_URL", None)
    subprocess.run(
        [sys.executable, "-m", "shopops.cli", "setup"],
        env=environment,
        cwd=ROOT,
        check=True,
        capture_output=True,
    )


def median_ms(function: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--var-dir", type=Path, default=ROOT / "var" / "bench-datacenter")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--pages", default=",".join(PAGES), help="comma-separated, e.g. products,customers")
    options = parser.parse_args()
    var_dir = options.var_dir.resolve()
    ensure_demo(var_dir)
    os.environ["SHOPOPS_VAR_DIR"] = str(var_dir)
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shopops.settings")
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()
    from django.core.cache import cache
    from django.test import Client
    from django.urls import reverse

    from shopops.accounts.models import User
    from shopops.analytics.reports import params
    from shopops.analytics.warehouse import tables

    cache.clear()  # the bench's own var dir: "first" computes every page's numbers
    end = params.today() - dt.timedelta(days=1)
    start = end - dt.timedelta(days=364)
    client = Client()
    client.force_login(User.objects.get(username="operations"))
    query = f"?preset=custom&start={start}&end={end}"
    counts = tables.connect()
    sizes = {
        name: counts.execute(f"SELECT count(*) FROM {name}").fetchone()[0]  # type: ignore[index]
        for name in ("events", "orders", "order_lines", "ad_spend")
    }
    print(f"machine: {machine()} · load average {os.getloadavg()[0]:.1f}")
    print(
        f"data: demo, {start} to {end} (365 days): "
        + ", ".join(f"{name} {count:,} rows" for name, count in sizes.items())
    )
    print()
    print("| page | first ms | warm ms | raw DuckDB ms | warm/raw | HTML KiB |")
    print("|---|---:|---:|---:|---:|---:|")
    for page in options.pages.split(","):
        url = reverse(f"admin:analytics_datacenter_{page}") + query
        started = time.perf_counter()
        response = client.get(url)
        first = (time.perf_counter() - started) * 1000
        assert response.status_code == 200, (page, response.status_code)
        warm = median_ms(lambda url=url: client.get(url), options.repeat)

        def raw(page: str = page) -> None:
            con = tables.connect()
            con.execute(RAW_SQL[page], {"start": start, "end": end}).fetchall()
            con.close()

        raw_ms = median_ms(raw, options.repeat)
        size = len(client.get(url).content) / 1024
        print(
            f"| {NAMES[page]} | {first:,.0f} | {warm:,.0f} | {raw_ms:,.0f} | {warm / raw_ms:,.1f} | {size:,.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
