"""Reservations per second with N concurrent worker processes, beside a raw-SQL conditional-UPDATE floor.

    .venv/bin/python -m bench.bench_reservations [--workers 8] [--database postgres|sqlite] [--attempts 250]

Creates its own scratch database (PostgreSQL: `shopops_bench_<pid>` next to DATABASE_URL or
postgres://postgres@127.0.0.1:5432/postgres, dropped at the end; SQLite: a temporary file), migrates it,
then for one hot SKU and for many SKUs runs, in the same pool of worker processes:
  service   `inventory.services.reserve_stock` (validation, conditional UPDATE … RETURNING, ledger row,
            reservation row: 5 statements per single-SKU reservation)
  raw+rows  psycopg/sqlite3: the same three writes in hand-written SQL (UPDATE … RETURNING)
  raw       psycopg/sqlite3: the conditional UPDATE alone, one transaction per attempt (the floor)
Stock is 80% of the attempts, so every run also exhausts it; the oversell count (must be 0) compares
what the database holds reserved per SKU with the stock that was available.
Only the standard library is imported at module level: spawned workers import this module first.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/postgres"
STOCK_SHARE = 0.8
START_DELAY = 0.5


@dataclass(frozen=True)
class RunResult:
    scenario: str
    method: str
    attempts: int
    reserved: int
    oversell: int
    seconds: float
    ledger_consistent: bool | None

    @property
    def attempts_per_second(self) -> float:
        return self.attempts / self.seconds

    @property
    def reserved_per_second(self) -> float:
        return self.reserved / self.seconds


# Worker side.


def setup_worker() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shopops.settings")
    import django

    django.setup()


def _wait(start_at: float) -> None:
    while time.time() < start_at:
        time.sleep(0.001)


def service_worker(task: dict[str, Any]) -> tuple[int, int, float, float]:
    from shopops.inventory import services as inventory_services

    rng = random.Random(task["seed"])
    _wait(task["start_at"])
    began = time.time()
    reserved = 0
    for attempt in range(task["attempts"]):
        try:
            inventory_services.reserve_stock(
                sku_id=rng.choice(task["sku_ids"]),
                quantity=1,
                reference=f"{task['run']}-{task['worker']}-{attempt}",
                actor=None,
                warehouse_id=task["warehouse_id"],
            )
            reserved += 1
        except inventory_services.InsufficientStock:
            pass
    return reserved, task["attempts"], began, time.time()


RAW_UPDATE = (
    "UPDATE inventory_stocklevel SET reserved = reserved + 1 "
    "WHERE sku_id = {p} AND warehouse_id = {p} AND on_hand - reserved - safety_stock >= 1"
)
RAW_UPDATE_RETURNING = RAW_UPDATE + " RETURNING on_hand, reserved"
RAW_MOVEMENT = (
    "INSERT INTO inventory_stockmovement (sku_id, warehouse_id, movement_type, on_hand_delta, reserved_delta, "
    "on_hand_after, reserved_after, reference_type, reference_id, created_at, note) "
    "VALUES ({p}, {p}, 'reserve', 0, 1, {p}, {p}, 'order', {p}, {p}, '')"
)
RAW_RESERVATION = (
    "INSERT INTO inventory_reservation (reference_type, reference, requested_sku_id, sku_id, warehouse_id, "
    "quantity, status, created_at) VALUES ('order', {p}, {p}, {p}, {p}, 1, 'active', {p})"
)


def _raw_connection(database: dict[str, Any]) -> tuple[Any, str]:
    if database["vendor"] == "postgresql":
        import psycopg

        return psycopg.connect(database["conninfo"]), "%s"
    import sqlite3

    connection = sqlite3.connect(database["path"], timeout=30, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    return connection, "?"


def _raw_attempt(
    connection: Any, placeholder: str, task: dict[str, Any], sku_id: int, reference: str
) -> bool:
    warehouse_id = task["warehouse_id"]
    cursor = connection.cursor()
    if placeholder == "?":
        cursor.execute("BEGIN IMMEDIATE")
    if not task["with_rows"]:
        cursor.execute(RAW_UPDATE.format(p=placeholder), (sku_id, warehouse_id))
        connection.commit()
        return bool(cursor.rowcount)
    cursor.execute(RAW_UPDATE_RETURNING.format(p=placeholder), (sku_id, warehouse_id))
    row = cursor.fetchone()
    if row is None:
        connection.rollback()
        return False
    now = time.strftime("%Y-%m-%d %H:%M:%S+00:00", time.gmtime())
    cursor.execute(RAW_MOVEMENT.format(p=placeholder), (sku_id, warehouse_id, row[0], row[1], reference, now))
    cursor.execute(RAW_RESERVATION.format(p=placeholder), (reference, sku_id, sku_id, warehouse_id, now))
    connection.commit()
    return True


def raw_worker(task: dict[str, Any]) -> tuple[int, int, float, float]:
    connection, placeholder = _raw_connection(task["database"])
    rng = random.Random(task["seed"])
    _wait(task["start_at"])
    began = time.time()
    reserved = 0
    for attempt in range(task["attempts"]):
        reference = f"{task['run']}-{task['worker']}-{attempt}"
        reserved += _raw_attempt(connection, placeholder, task, rng.choice(task["sku_ids"]), reference)
    ended = time.time()
    connection.close()
    return reserved, task["attempts"], began, ended


# Parent side.


def scratch_postgres(base_url: str) -> tuple[str, str, str]:
    """(scratch DATABASE_URL, maintenance conninfo, scratch name)."""
    parts = urlsplit(base_url)
    name = f"shopops_bench_{os.getpid()}"
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    return urlunsplit(parts._replace(path=f"/{name}")), maintenance, name


def prepare_stock(*, sku_count: int, units: int, label: str) -> tuple[list[int], int, dict[int, int]]:
    from decimal import Decimal

    from shopops.catalog.models import Category, Product, Sku
    from shopops.inventory import services as inventory_services
    from shopops.inventory.models import MovementType, Warehouse

    category, _created = Category.objects.get_or_create(
        code="BENCH", defaults={"name": "bench", "path": "bench"}
    )
    warehouse = Warehouse.objects.create(code=f"B{label}"[:20], name=f"bench {label}")
    per_sku = max(1, units // sku_count)
    sku_ids = []
    for number in range(sku_count):
        product = Product.objects.create(
            name=f"{label}-{number}", merchant_code=f"{label}-{number}", category=category
        )
        sku = Sku.objects.create(
            product=product, merchant_code=f"{label}-{number}", cost_price=Decimal(1), sale_price=Decimal(2)
        )
        inventory_services.receive_stock(
            sku_id=sku.pk,
            warehouse_id=warehouse.pk,
            quantity=per_sku,
            actor=None,
            movement_type=MovementType.OPENING,
        )
        sku_ids.append(sku.pk)
    return sku_ids, warehouse.pk, dict.fromkeys(sku_ids, per_sku)


def measure(
    pool: Any,
    *,
    scenario: str,
    method: str,
    sku_count: int,
    options: argparse.Namespace,
    database: dict[str, Any],
) -> RunResult:
    from django.db.models import Sum

    from shopops.inventory import queries as inventory_queries
    from shopops.inventory.models import StockLevel

    attempts = options.workers * options.attempts
    label = f"{scenario}-{method}".replace("+", "")
    sku_ids, warehouse_id, initial = prepare_stock(
        sku_count=sku_count, units=int(attempts * STOCK_SHARE), label=label
    )
    start_at = time.time() + START_DELAY
    tasks = [
        {
            "run": label,
            "worker": worker,
            "seed": worker,
            "attempts": options.attempts,
            "sku_ids": sku_ids,
            "warehouse_id": warehouse_id,
            "start_at": start_at,
            "database": database,
            "with_rows": method == "raw+rows",
        }
        for worker in range(options.workers)
    ]
    results = pool.map(service_worker if method == "service" else raw_worker, tasks)
    seconds = max(ended for *_rest, ended in results) - min(began for _r, _a, began, _e in results)
    reported = sum(reserved for reserved, *_rest in results)
    held = dict(
        StockLevel.objects.filter(sku_id__in=sku_ids).values_list("sku_id").annotate(total=Sum("reserved"))
    )
    oversell = sum(max(0, held.get(sku_id, 0) - initial[sku_id]) for sku_id in sku_ids)
    oversell += abs(sum(held.values()) - reported)  # a success the database does not hold is an error too
    drifts = [drift for drift in inventory_queries.verify_stock() if drift.sku_id in initial]
    consistent = None if method == "raw" else not drifts  # the bare UPDATE floor writes no ledger
    return RunResult(scenario, method, attempts, reported, oversell, seconds, consistent)


def machine(vendor: str) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT version()" if vendor == "postgresql" else "SELECT 'SQLite ' || sqlite_version()"
        )
        database_version = cursor.fetchone()[0].split(",")[0]
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    return (
        f"{platform.platform()} · {os.cpu_count()} CPUs · Python {platform.python_version()} · "
        f"{database_version} · load average {load}"
    )


def report(results: list[RunResult], options: argparse.Namespace, machine_line: str) -> None:
    print(
        f"\nreservations with {options.workers} worker processes × {options.attempts} attempts ({options.database})"
    )
    print(machine_line)
    print(
        f"{'scenario':<10}{'method':<10}{'attempts':>9}{'reserved':>9}{'oversell':>9}{'ledger':>8}{'seconds':>9}{'attempts/s':>12}{'reserved/s':>12}{'vs raw':>8}"
    )
    floors = {r.scenario: r.attempts_per_second for r in results if r.method == "raw"}
    for r in results:
        ledger = "-" if r.ledger_consistent is None else ("ok" if r.ledger_consistent else "DRIFT")
        ratio = r.attempts_per_second / floors[r.scenario]
        print(
            f"{r.scenario:<10}{r.method:<10}{r.attempts:>9}{r.reserved:>9}{r.oversell:>9}{ledger:>8}"
            f"{r.seconds:>9.2f}{r.attempts_per_second:>12.0f}{r.reserved_per_second:>12.0f}{ratio:>8.2f}"
        )
    total = sum(r.oversell for r in results)
    print(f"oversell total: {total} (must be 0)")


def run(options: argparse.Namespace, database: dict[str, Any]) -> list[RunResult]:
    setup_worker()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    context = multiprocessing.get_context("spawn")
    pool = context.Pool(options.workers, initializer=setup_worker)
    try:
        results = []
        for scenario, sku_count in (("hot", 1), ("many", options.skus)):
            for method in ("service", "raw+rows", "raw"):
                results.append(
                    measure(
                        pool,
                        scenario=scenario,
                        method=method,
                        sku_count=sku_count,
                        options=options,
                        database=database,
                    )
                )
    finally:
        pool.close()
        pool.join()
    report(results, options, machine(database["vendor"]))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--attempts", type=int, default=250, help="reservation attempts per worker and run")
    parser.add_argument("--skus", type=int, default=200, help="SKUs in the many-SKU scenario")
    parser.add_argument("--database", choices=("postgres", "sqlite"), default="postgres")
    options = parser.parse_args(argv)
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src"))
    if options.database == "sqlite":
        with tempfile.TemporaryDirectory(prefix="shopops-bench-") as folder:
            path = os.path.join(folder, "bench.sqlite3")
            os.environ["DATABASE_URL"] = f"sqlite:///{path}"
            results = run(options, {"vendor": "sqlite", "path": path})
    else:
        results = run_postgres(options)
    return 1 if any(r.oversell or r.ledger_consistent is False for r in results) else 0


def run_postgres(options: argparse.Namespace) -> list[RunResult]:
    import psycopg

    base = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("DATABASE_URL") or DEFAULT_POSTGRES
    if not base.startswith("postgres"):
        base = DEFAULT_POSTGRES
    url, maintenance, name = scratch_postgres(base)
    with psycopg.connect(maintenance, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        os.environ["DATABASE_URL"] = url
        return run(
            options, {"vendor": "postgresql", "conninfo": url.replace("postgres://", "postgresql://", 1)}
        )
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(maintenance, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
