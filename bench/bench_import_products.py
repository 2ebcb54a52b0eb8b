"""Bench: import 100,000 SKUs (CSV UTF-8 / GB18030, XLSX) against a naive ORM loop and the DuckDB/COPY floor.

Run: .venv/bin/python -m bench.bench_import_products [--rows 100000] [--database sqlite|postgres]
Each import runs in its own subprocess on a fresh, migrated database (SQLite temp file, or the
PostgreSQL database `shopops_bench`, created and dropped here) so peak memory (maxrss) is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import xlsxwriter

from bench.common import Database, machine, measure

HEADER = [
    "商品名称",
    "商品编码",
    "商家编码",
    "类目",
    "品牌",
    "规格",
    "售价",
    "成本价",
    "划线价",
    "条码",
    "重量(克)",
    "描述",
    "状态",
    "启用",
]
TOP = ["女装", "男装", "童装", "鞋靴", "箱包", "家居", "美妆", "数码"]
LEAVES = ["上衣", "裤装", "连衣裙", "外套", "配件", "T恤/卫衣"]
COLOURS = ["黑色", "白色", "藏青", "卡其", "酒红"]
SIZES = ["S", "M", "L", "XL", "XXL"]
BENCH_DATABASE = "shopops_bench"
WORKER = "bench.bench_import_products"


def rows(count: int, seed: int = 7) -> list[list[str]]:
    randomiser = random.Random(seed)
    generated: list[list[str]] = []
    for number in range(count):
        product = number // 5
        category = f"{TOP[product % len(TOP)]}/{LEAVES[product % len(LEAVES)]}"
        sale = randomiser.randint(2000, 99900)
        generated.append(
            [
                f"商品{product:05d} 新款{LEAVES[product % len(LEAVES)]}",
                f"P{product:06d}",
                f"P{product:06d}-{number % 5:02d}",
                category,
                f"品牌{product % 50:02d}",
                f"颜色:{COLOURS[product % 5]};尺码:{SIZES[number % 5]}",
                f"{sale / 100:.2f}",
                f"{sale * 0.4 / 100:.2f}",
                f"{sale * 1.5 / 100:.2f}" if number % 3 == 0 else "",
                f"69{number:011d}",
                str(200 + number % 800),
                f"商品{product:05d}的描述，面料舒适",
                "在售",
                "是",
            ]
        )
    return generated


def write_files(directory: Path, data: list[list[str]]) -> dict[str, Path]:
    import csv

    files = {"csv-utf8": directory / "skus-utf8.csv", "csv-gb18030": directory / "skus-gb18030.csv"}
    for name, encoding in (("csv-utf8", "utf-8"), ("csv-gb18030", "gb18030")):
        with open(files[name], "w", encoding=encoding, newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(HEADER)
            writer.writerows(data)
    files["xlsx"] = directory / "skus.xlsx"
    workbook = xlsxwriter.Workbook(files["xlsx"], {"constant_memory": True})
    sheet = workbook.add_worksheet()
    sheet.write_row(0, 0, HEADER)
    for number, row in enumerate(data, start=1):
        sheet.write_row(number, 0, row)
    workbook.close()
    return files


def worker(argv: list[str]) -> dict[str, Any]:
    """Run inside a subprocess: one measured action on the database in $DATABASE_URL."""
    import resource

    import django

    django.setup()
    action, path = argv[0], Path(argv[1])
    started = time.perf_counter()
    figures: dict[str, Any] = {}
    if action == "import":
        from shopops.catalog.imports import import_products

        result = import_products(source=path, actor="bench")
        assert not result.errors, result.errors[:5]
        figures = result.counts()
    elif action == "orm":
        figures = {"total": orm_loop(path, int(argv[2]))}
    seconds = time.perf_counter() - started
    maxrss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {**figures, "seconds": seconds, "maxrss_mib": maxrss_mib}


def orm_loop(path: Path, sample: int) -> int:
    """The naive way: Model.objects.create per category/brand/product/SKU, in one transaction."""
    import csv
    from decimal import Decimal

    from django.db import transaction

    from shopops.catalog.models import Brand, Category, Product, Sku

    with open(path, encoding="utf-8", newline="") as handle, transaction.atomic():
        reader = csv.reader(handle)
        next(reader)
        for count, row in enumerate(reader):
            if count >= sample:
                return count
            parent = None
            for depth, name in enumerate(row[3].split("/")):
                parent, _ = Category.objects.get_or_create(
                    parent=parent,
                    name=name,
                    defaults={"code": f"C{Category.objects.count() + 1}", "path": name, "depth": depth},
                )
            brand, _ = Brand.objects.get_or_create(name=row[4], defaults={"code": row[4]})
            product, _ = Product.objects.get_or_create(
                merchant_code=row[1], defaults={"name": row[0], "category": parent, "brand": brand}
            )
            Sku.objects.create(
                product=product,
                merchant_code=row[2],
                spec=row[5],
                sale_price=Decimal(row[6]),
                cost_price=Decimal(row[7]),
                list_price=Decimal(row[8]) if row[8] else None,
                barcode=row[9],
                weight_grams=int(row[10]),
            )
    return sample


def duckdb_floor(path: Path) -> float:
    started = time.perf_counter()
    connection = duckdb.connect()
    connection.execute(
        f"CREATE TABLE skus AS SELECT * FROM read_csv('{path}', header=true, all_varchar=true)"
    )
    assert connection.execute("SELECT count(*) FROM skus").fetchone() is not None
    return time.perf_counter() - started


def copy_floor(url: str, path: Path) -> float:
    import psycopg

    columns = ", ".join(f"c{number} text" for number in range(len(HEADER)))
    started = time.perf_counter()
    with psycopg.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE bench_copy ({columns})")
        with (
            open(path, "rb") as handle,
            cursor.copy("COPY bench_copy FROM STDIN WITH (FORMAT csv, HEADER true)") as copy,
        ):
            while block := handle.read(1024 * 1024):
                copy.write(block)
    return time.perf_counter() - started


def run(options: argparse.Namespace) -> None:
    directory = Path(tempfile.mkdtemp(prefix="shopops-bench-"))
    database = Database(options.database, directory, options.postgres_url, name=BENCH_DATABASE, worker=WORKER)
    try:
        print(f"machine: {machine()} · database: {options.database} · rows: {options.rows:,}")
        files = write_files(directory, rows(options.rows))
        database.template()
        results: list[tuple[str, dict[str, Any]]] = []
        for name, path in files.items():
            url = database.fresh()
            results.append((f"ours: import {name}", measure(database, url, "import", str(path))))
            if name == "xlsx":
                results.append(
                    ("ours: re-import xlsx (unchanged)", measure(database, url, "import", str(path)))
                )
        url = database.fresh()
        orm = measure(database, url, "orm", str(files["csv-utf8"]), str(options.sample))
        orm_rate = orm["total"] / orm["seconds"]
        floors = {"DuckDB read_csv": duckdb_floor(files["csv-utf8"])}
        if options.database == "postgres":
            floors["PostgreSQL COPY"] = copy_floor(database.fresh(), files["csv-utf8"])
        report(options.rows, results, orm, orm_rate, floors)
    finally:
        database.drop()
        shutil.rmtree(directory, ignore_errors=True)


def report(
    count: int,
    results: list[tuple[str, dict[str, Any]]],
    orm: dict[str, Any],
    orm_rate: float,
    floors: dict[str, float],
) -> None:
    ours = results[0][1]["seconds"]
    print(f"{'what':38} {'seconds':>9} {'rows/s':>10} {'maxrss MiB':>11} {'ours/this':>10}")
    for name, figures in results:
        rate = count / figures["seconds"]
        print(
            f"{name:38} {figures['seconds']:9.1f} {rate:10,.0f} {figures['maxrss_mib']:11.0f} {ours / figures['seconds']:10.2f}"
        )
    extrapolated = count / orm_rate
    label = f"ORM create loop ({orm['total']:,} rows, extrapolated)"
    print(
        f"{label:38} {extrapolated:9.1f} {orm_rate:10,.0f} {orm['maxrss_mib']:11.0f} {ours / extrapolated:10.2f}"
    )
    for name, seconds in floors.items():
        print(
            f"{'floor: ' + name:38} {seconds:9.2f} {count / seconds:10,.0f} {'':>11} {ours / seconds:10.1f}"
        )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        print(json.dumps(worker(sys.argv[2:])))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=2_000, help="rows for the ORM create loop")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")
    )
    run(parser.parse_args())


if __name__ == "__main__":
    main()
