"""Bench: how long a writer waits while a large order import runs (SQLite: one write lock per database).

Run: .venv/bin/python -m bench.bench_import_writer_wait [--lines 200000] [--mode all_or_nothing|dry_run|skip_bad_rows]
On a fresh, migrated SQLite file: one subprocess imports the template file of `--lines` lines (all or
nothing by default) through `orders.imports.import_orders`; another changes an order's seller memo through
the API (`PATCH /api/v1/orders/{id}/memo`, Django's test client, its own connection) every 0.5 s until the
import ends. Printed: the writer's requests by status and its longest and median wait.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.bench_import_orders import SHOP, setup_database, write_files
from bench.common import ROOT, machine

INTERVAL_SECONDS = 0.5


def env(url: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "shopops.settings"}


def prepare() -> None:
    """The bench shop and SKUs, an order to write to, and a superuser's API token (printed)."""
    from django.utils import timezone

    from shopops.accounts import services as account_services
    from shopops.accounts.models import User
    from shopops.channels.models import Shop
    from shopops.orders import services
    from shopops.orders.services.inputs import OrderInput

    setup_database()
    user = User.objects.create_superuser(username="bench", password="Bench-Passw0rd-42")
    order = services.create_order(
        actor=user,
        shop_id=Shop.objects.get(code=SHOP).pk,
        data=OrderInput(
            external_id="WRITER-1", placed_at=timezone.now(), status="paid", paid_at=timezone.now()
        ),
        via="manual",
    )
    token = account_services.create_token(user=user, name="bench", expires_in_days=1, actor=user)
    print(json.dumps({"order": order.pk, "token": token.secret}))


def write_until(stop: Path, order: int, token: str) -> None:
    """Change the memo every INTERVAL_SECONDS until `stop` exists; print each request's wait and status."""
    from django.test import Client

    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    client.get(f"/api/v1/orders/{order}")  # warm up (imports, URL map) before the import starts
    stop.with_suffix(".ready").touch()
    waits: list[tuple[float, int | str]] = []
    number = 0
    while not stop.exists():
        number += 1
        started = time.perf_counter()
        try:
            response = client.patch(
                f"/api/v1/orders/{order}/memo",
                json.dumps({"seller_memo": f"备注 {number}"}),
                content_type="application/json",
            )
            outcome: int | str = response.status_code
        except Exception as error:  # a 500 in the test client is an exception
            outcome = type(error).__name__
        waits.append((time.perf_counter() - started, outcome))
        time.sleep(INTERVAL_SECONDS)
    print(json.dumps(waits))


def import_file(path: str, mode: str) -> None:
    from shopops.orders.imports import import_orders

    started = time.perf_counter()
    result = import_orders(
        source=Path(path),
        actor="bench",
        shop=SHOP,
        format="template",
        mode="all_or_nothing" if mode == "dry_run" else mode,
        dry_run=mode == "dry_run",
    )
    print(
        json.dumps(
            {"seconds": time.perf_counter() - started, **result.counts(), "errors": len(result.errors)}
        )
    )


def worker(argv: list[str]) -> None:
    import django

    django.setup()
    if argv[0] == "prepare":
        prepare()
    elif argv[0] == "write":
        write_until(Path(argv[1]), int(argv[2]), argv[3])
    else:
        import_file(argv[1], argv[2])


def run(options: argparse.Namespace) -> None:
    directory = Path(tempfile.mkdtemp(prefix="shopops-bench-writer-"))
    module = [sys.executable, "-m", "bench.bench_import_writer_wait", "--worker"]
    try:
        url = f"sqlite:///{directory / 'bench.sqlite3'}"
        path = write_files(directory, options.lines)["template"]
        subprocess.run(
            [sys.executable, "-m", "django", "migrate", "--verbosity", "0"],
            env=env(url),
            check=True,
            cwd=ROOT,
        )
        prepared = subprocess.run(
            [*module, "prepare"], env=env(url), check=True, cwd=ROOT, capture_output=True, text=True
        )
        setup = json.loads(prepared.stdout.strip().splitlines()[-1])
        stop = directory / "stop"
        writer = subprocess.Popen(
            [*module, "write", str(stop), str(setup["order"]), setup["token"]],
            env=env(url),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        while not stop.with_suffix(".ready").exists() and writer.poll() is None:
            time.sleep(0.1)
        imported = subprocess.run(
            [*module, "import", str(path), options.mode],
            env=env(url),
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        stop.touch()
        waits = json.loads((writer.communicate(timeout=600)[0]).strip().splitlines()[-1])
        report(options, imported, waits)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def report(options: argparse.Namespace, imported: subprocess.CompletedProcess[str], waits: list[Any]) -> None:
    print(f"machine: {machine()} · SQLite · lines: {options.lines:,} · mode: {options.mode}")
    lines = imported.stdout.strip().splitlines()
    print(f"import: {lines[-1] if lines else imported.stderr.strip().splitlines()[-1]}")
    statuses: dict[str, int] = {}
    for _seconds, outcome in waits:
        statuses[str(outcome)] = statuses.get(str(outcome), 0) + 1
    seconds = [wait for wait, _outcome in waits]
    print(f"writer: {len(waits)} requests, by status {statuses}")
    if seconds:
        print(f"writer wait: max {max(seconds):.2f} s, median {statistics.median(seconds):.3f} s")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument(
        "--mode", choices=["all_or_nothing", "dry_run", "skip_bad_rows"], default="all_or_nothing"
    )
    run(parser.parse_args())


if __name__ == "__main__":
    main()
