"""Bench: import 1,000,000 order lines (Taobao item report GB18030, our template) beside DuckDB / COPY.

Run: .venv/bin/python -m bench.bench_import_orders [--lines 1000000] [--database sqlite|postgres]
Each import runs in its own subprocess on a fresh, migrated database (SQLite temp file, or the
PostgreSQL database `shopops_bench_orders`, created and dropped here) through `orders.imports.import_orders`,
the function `shopops import orders` calls, so peak memory (maxrss) is the import's own.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import datetime as dt
import json
import os
import pstats
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb

from bench.common import Database, machine, measure

BENCH_DATABASE = "shopops_bench_orders"
WORKER = "bench.bench_import_orders"
SKUS = 2000
BUYERS = 50_000
SHOP = "bench-tmall"
ITEMS_HEADER = [
    "子订单编号",
    "主订单编号",
    "标题",
    "价格",
    "购买数量",
    "外部系统编号",
    "商品属性",
    "套餐信息",
    "备注",
    "订单状态",
    "商家编码",
    "支付单号",
    "买家应付货款",
    "买家实际支付金额",
    "退款状态",
    "退款金额",
    "订单创建时间",
    "订单付款时间",
]
TEMPLATE_HEADER = [
    "订单号",
    "子订单号",
    "订单状态",
    "下单时间",
    "付款时间",
    "买家ID",
    "收货人",
    "收货电话",
    "省",
    "市",
    "区县",
    "详细地址",
    "商品总额",
    "运费",
    "实付金额",
    "商家编码",
    "商品标题",
    "规格",
    "数量",
    "单价",
]
STATUSES = [
    ("交易成功", "completed", 70),
    ("卖家已发货，等待买家确认", "shipped", 10),
    ("买家已付款，等待卖家发货", "paid", 8),
    ("交易关闭", "closed", 7),
    ("等待买家付款", "pending_payment", 5),
]
PROVINCES = [("浙江省", "杭州市", "西湖区"), ("广东省", "深圳市", "南山区"), ("江苏省", "南京市", "鼓楼区")]
COLOURS = ["黑色", "白色", "藏青", "卡其", "酒红"]


def orders(lines: int, seed: int = 11) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """(order number, its lines) until `lines` lines: 1–4 lines per order (2.5 on average)."""
    randomiser = random.Random(seed)
    weights = [weight for _label, _status, weight in STATUSES]
    start = dt.datetime(2025, 1, 1, 8, 0)  # noqa: DTZ001 - wall-clock text in the file
    written = number = 0
    while written < lines:
        count = min(randomiser.randint(1, 4), lines - written)
        label, status, _weight = randomiser.choices(STATUSES, weights)[0]
        placed = start + dt.timedelta(minutes=number * 0.7)
        items = []
        for position in range(count):
            sku = randomiser.randrange(SKUS)
            items.append(
                {
                    "line": f"{3_100_000_000_000_000_000 + number * 4 + position}",
                    "sku": f"BS{sku:05d}",
                    "title": f"商品{sku // 5:04d} 新款连衣裙",
                    "spec": f"颜色:{COLOURS[sku % 5]}",
                    "quantity": randomiser.randint(1, 3),
                    "price": f"{randomiser.randint(1990, 39900) / 100:.2f}",
                    "label": label,
                    "status": status,
                    "placed": placed,
                    "buyer": randomiser.randrange(BUYERS),
                }
            )
        written += count
        yield number, items
        number += 1


def write_files(directory: Path, lines: int) -> dict[str, Path]:
    files = {"taobao_items": directory / "taobao-items-gb18030.csv", "template": directory / "template.csv"}
    with (
        open(files["taobao_items"], "w", encoding="gb18030", newline="") as items_handle,
        open(files["template"], "w", encoding="utf-8", newline="") as template_handle,
    ):
        items_writer, template_writer = csv.writer(items_handle), csv.writer(template_handle)
        items_writer.writerow(ITEMS_HEADER)
        template_writer.writerow(TEMPLATE_HEADER)
        for number, items in orders(lines):
            order_id = f"{2_876_000_000_000_000_000 + number}"
            goods = sum(float(item["price"]) * item["quantity"] for item in items)
            for item in items:
                paid = item["status"] != "pending_payment"
                placed = item["placed"]
                amount = f"{float(item['price']) * item['quantity']:.2f}"
                closed = item["status"] == "closed"
                items_writer.writerow(
                    [
                        f'="{item["line"]}"',
                        f'="{order_id}"',
                        item["title"],
                        item["price"],
                        item["quantity"],
                        item["sku"],
                        item["spec"],
                        "",
                        "",
                        item["label"],
                        item["sku"],
                        f"P{order_id}" if paid else "",
                        amount,
                        f"{amount}元" if paid else "0",
                        "退款成功" if closed else "没有申请退款",
                        amount if closed else "无退款申请",
                        placed.strftime("%Y/%m/%d %H:%M"),
                        (placed + dt.timedelta(minutes=3)).strftime("%Y/%m/%d %H:%M") if paid else "",
                    ]
                )
                province, city, district = PROVINCES[item["buyer"] % 3]
                template_writer.writerow(
                    [
                        order_id,
                        item["line"],
                        item["status"],
                        placed.strftime("%Y-%m-%d %H:%M:%S"),
                        (placed + dt.timedelta(minutes=3)).strftime("%Y-%m-%d %H:%M:%S") if paid else "",
                        f"buyer{item['buyer']}",
                        f"顾客{item['buyer']}",
                        f"139{item['buyer']:08d}",
                        province,
                        city,
                        district,
                        f"文三路 {item['buyer'] % 500} 号",
                        f"{goods:.2f}",
                        "0.00",
                        f"{goods:.2f}" if paid else "0.00",
                        item["sku"],
                        item["title"],
                        item["spec"],
                        item["quantity"],
                        item["price"],
                    ]
                )
    return files


def setup_database() -> None:
    """The shop (created now: every order of the file is history, no stock effects) and its SKUs."""
    from decimal import Decimal

    from shopops.catalog.models import Category, Product, Sku
    from shopops.channels.models import Shop

    Shop.objects.create(code=SHOP, name="Bench 天猫旗舰店", platform="tmall")
    category = Category.objects.create(name="连衣裙", code="C001", path="连衣裙", depth=0)
    products = Product.objects.bulk_create(
        Product(name=f"商品{number:04d}", merchant_code=f"BP{number:04d}", category=category)
        for number in range(SKUS // 5)
    )
    Sku.objects.bulk_create(
        Sku(
            product=products[number // 5],
            merchant_code=f"BS{number:05d}",
            spec=f"颜色:{COLOURS[number % 5]}",
            sale_price=Decimal("199.00"),
            cost_price=Decimal("80.00"),
        )
        for number in range(SKUS)
    )


def worker(argv: list[str]) -> dict[str, Any]:
    """Run inside a subprocess: one measured action on the database in $DATABASE_URL."""
    import resource

    import django

    django.setup()
    action, path = argv[0], argv[1]
    if action == "setup":
        setup_database()
        return {}
    from shopops.orders.imports import import_orders
    from shopops.orders.models import Order, OrderEvent, OrderLine

    profile = cProfile.Profile() if "--profile" in argv else None
    cpu_started = time.process_time()
    started = time.perf_counter()
    if profile is not None:
        profile.enable()
    mode = next((arg.split("=", 1)[1] for arg in argv if arg.startswith("--mode=")), "all_or_nothing")
    result = import_orders(source=Path(path), actor="bench", shop=SHOP, format=action, mode=mode)
    if profile is not None:
        profile.disable()
        pstats.Stats(profile, stream=sys.stderr).sort_stats("cumulative").print_stats(45)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    assert not result.errors, result.errors[:5]
    maxrss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    counts = {"orders": Order.objects.count(), "lines": OrderLine.objects.count()}
    counts["events"] = OrderEvent.objects.count()
    return {
        **result.counts(),
        **counts,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "maxrss_mib": maxrss_mib,
        "load": os.getloadavg()[0],
    }


def duckdb_peer(path: Path, encoding: str) -> float:
    started = time.perf_counter()
    connection = duckdb.connect()
    source = path
    if encoding != "utf-8":
        # DuckDB reads UTF-8 only (GB18030 needs an extension): the transcoding counts as its work
        source = path.with_suffix(".utf8.csv")
        with open(path, encoding=encoding) as original, open(source, "w", encoding="utf-8") as copy:
            shutil.copyfileobj(original, copy, 1024 * 1024)
    connection.execute(
        f"CREATE TABLE lines AS SELECT * FROM read_csv('{source}', header=true, all_varchar=true)"
    )
    assert connection.execute("SELECT count(*) FROM lines").fetchone() is not None
    return time.perf_counter() - started


def copy_peer(url: str, path: Path, encoding: str, columns: int) -> float:
    import psycopg

    names = ", ".join(f"c{number} text" for number in range(columns))
    started = time.perf_counter()
    with psycopg.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE bench_copy ({names})")
        options = "FORMAT csv, HEADER true" + (", ENCODING 'GB18030'" if encoding == "gb18030" else "")
        with open(path, "rb") as handle, cursor.copy(f"COPY bench_copy FROM STDIN WITH ({options})") as copy:
            while block := handle.read(1024 * 1024):
                copy.write(block)
    return time.perf_counter() - started


def run(options: argparse.Namespace) -> None:
    directory = Path(tempfile.mkdtemp(prefix="shopops-bench-orders-"))
    database = Database(
        options.database, directory, options.postgres_url, name=BENCH_DATABASE, worker=WORKER, setup=True
    )
    profile = ["--profile"] if options.profile else []
    mode = [f"--mode={options.mode}"]
    try:
        print(
            f"machine: {machine()} · database: {options.database} · lines: {options.lines:,}"
            f" · mode: {options.mode}"
        )
        files = write_files(directory, options.lines)
        for name, path in files.items():
            print(f"file {name}: {path.stat().st_size / 1024 / 1024:.0f} MiB")
        database.template()
        kinds = options.formats.split(",")
        for name in kinds:
            path = files[name]
            encoding = "gb18030" if name == "taobao_items" else "utf-8"
            columns = len(ITEMS_HEADER if name == "taobao_items" else TEMPLATE_HEADER)
            url = database.fresh()
            first = measure(database, url, name, str(path), *mode, *profile, show_stderr=bool(profile))
            again = measure(database, url, name, str(path), *mode)
            peers = {"DuckDB read_csv": duckdb_peer(path, encoding)}
            if options.database == "postgres":
                peers["PostgreSQL COPY"] = copy_peer(database.fresh(), path, encoding, columns)
            report(name, options.lines, first, again, peers)
    finally:
        database.drop()
        shutil.rmtree(directory, ignore_errors=True)


def report(
    name: str, count: int, first: dict[str, Any], again: dict[str, Any], peers: dict[str, float]
) -> None:
    print(
        f"\n{name}: {first['orders']:,} orders · {first['lines']:,} lines · {first['events']:,} events"
        f" (re-import: {again['orders']:,} / {again['lines']:,} / {again['events']:,},"
        f" unchanged rows {again['unchanged']:,})"
    )
    # CPU seconds (the worker's own) and the 1-minute load average at its end: the machine is shared,
    # and wall seconds move with what else runs on it.
    print(
        f"{'what':34} {'seconds':>9} {'lines/s':>10} {'maxrss MiB':>11} {'ours/this':>10}"
        f" {'cpu s':>8} {'load':>6}"
    )
    ours = first["seconds"]
    for label, figures in (("ours: import", first), ("ours: re-import (unchanged)", again)):
        print(
            f"{label:34} {figures['seconds']:9.1f} {count / figures['seconds']:10,.0f}"
            f" {figures['maxrss_mib']:11.0f} {ours / figures['seconds']:10.2f}"
            f" {figures['cpu_seconds']:8.1f} {figures['load']:6.1f}"
        )
    for label, seconds in peers.items():
        print(
            f"{'peer: ' + label:34} {seconds:9.2f} {count / seconds:10,.0f} {'':>11} {ours / seconds:10.1f}"
        )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        print(json.dumps(worker(sys.argv[2:])))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--formats", default="taobao_items,template", help="comma-separated")
    parser.add_argument("--profile", action="store_true", help="print cProfile of the first import")
    # all_or_nothing on SQLite checks the whole file before writing it chunk by chunk (two passes, so other
    # writers are not locked out for the whole import); skip_bad_rows writes in one pass
    parser.add_argument("--mode", choices=("all_or_nothing", "skip_bad_rows"), default="all_or_nothing")
    parser.add_argument(
        "--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")
    )
    run(parser.parse_args())


if __name__ == "__main__":
    main()
