"""Shared setup for the backup tests: a small shop with stock, orders and files, and tools to damage archives."""

from __future__ import annotations

import datetime as dt
import io
import json
import tarfile
from pathlib import Path
from typing import Any

from django.apps import apps
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from shopops.inventory.models import StockLevel, StockMovement
from shopops.inventory.tests.factories import create_sku, create_warehouse, stock
from shopops.orders.queries import day_summary
from shopops.orders.tests.factories import create_order, create_shop


def make_shop_data() -> None:
    warehouse = create_warehouse()
    skus = [create_sku() for _ in range(3)]
    for number, sku in enumerate(skus, start=1):
        stock(sku=sku, warehouse=warehouse, on_hand=10 * number)
    shop = create_shop()
    yesterday = timezone.now() - dt.timedelta(days=1)
    create_order(shop=shop, lines=[(skus[0], 2, "19.90"), (skus[1], 1, "35.00")], placed_at=yesterday)
    create_order(shop=shop, lines=[(skus[2], 3, "8.80")], placed_at=yesterday)


def make_files(settings: Any, root: Path) -> dict[str, bytes]:
    """A few files in media, private and analytics; their relative paths (prefixed) and contents."""
    settings.MEDIA_ROOT = root / "media"
    settings.PRIVATE_FILES_ROOT = root / "private"
    settings.BACKUP_DIR = root / "backups"
    contents = {
        "media/products/一号.jpg": b"\xff\xd8 jpeg bytes",
        "private/imports/orders.csv": "订单号,金额\nE1,19.90\n".encode(),
        "analytics/events/day=2026-12-01/part-0.parquet": b"PAR1 not really",
    }
    roots = {
        "media": settings.MEDIA_ROOT,
        "private": settings.PRIVATE_FILES_ROOT,
        "analytics": settings.ANALYTICS_DIR,
    }
    for name, data in contents.items():
        prefix, relative = name.split("/", 1)
        path = Path(roots[prefix]) / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return contents


def read_files(settings: Any) -> dict[str, bytes]:
    roots = {
        "media": settings.MEDIA_ROOT,
        "private": settings.PRIVATE_FILES_ROOT,
        "analytics": settings.ANALYTICS_DIR,
    }
    found = {}
    for prefix, root in roots.items():
        for path in sorted(Path(root).rglob("*")):
            if path.is_file():
                found[f"{prefix}/{path.relative_to(root).as_posix()}"] = path.read_bytes()
    return found


def model_counts(*, skip: tuple[str, ...] = ()) -> dict[str, int]:
    """Rows per model through the ORM (independent of the archive's own digests)."""
    return {
        model._meta.label: model._default_manager.count()
        for model in apps.get_models(include_auto_created=True)
        if model._meta.managed and not model._meta.proxy and model._meta.label not in skip
    }


def table_counts() -> dict[str, int]:
    """Rows per table by plain COUNT(*), for every table Django sees."""
    with connection.cursor() as cursor:
        counts = {}
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f'SELECT COUNT(*) FROM "{table}"')  # noqa: S608 - names from the schema
            counts[table] = cursor.fetchone()[0]
        return counts


def ledger_and_dashboard(user: Any) -> dict[str, Any]:
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    return {
        "ledger": sorted(
            StockMovement.objects.values_list("sku_id", "warehouse_id")
            .annotate(on_hand=Sum("on_hand_delta"), reserved=Sum("reserved_delta"))
            .order_by("sku_id", "warehouse_id")
        ),
        "levels": sorted(StockLevel.objects.values_list("sku_id", "warehouse_id", "on_hand", "reserved")),
        "dashboard": day_summary(user, yesterday),
    }


def rewrite_archive(source: Path, target: Path, *, manifest_change: Any = None, drop: str = "") -> None:
    """Copy an unencrypted archive, changing its manifest or leaving a member out."""
    with tarfile.open(source) as reading, tarfile.open(target, "w") as writing:
        for member in reading.getmembers():
            if member.name == drop:
                continue
            data = reading.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == "manifest.json" and manifest_change is not None:
                manifest = json.loads(data)
                manifest_change(manifest)
                data = json.dumps(manifest).encode()
                member.size = len(data)
            writing.addfile(member, io.BytesIO(data))


def database_url() -> str:
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
    return f"postgres://{settings['USER']}{password}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}"
