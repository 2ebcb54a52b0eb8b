"""Worker processes for the concurrency tests: each sets Django up against the test database itself.

Only the standard library is imported at module level: a spawned child imports this module before
Django is configured.
"""

from __future__ import annotations

import os
import time
from typing import Any


def setup_worker(database_name: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shopops.settings")
    from django.conf import settings

    settings.DATABASES["default"]["NAME"] = database_name
    import django

    django.setup()


def reserve_attempts(task: dict[str, Any]) -> list[tuple[str, bool, int]]:
    """Try each reservation of `task`; returns (reference, reserved?, lowest available seen after it)."""
    from shopops.inventory import services as inventory_services
    from shopops.inventory.models import StockLevel

    while time.time() < task["start_at"]:
        time.sleep(0.001)
    results = []
    for reference in task["references"]:
        try:
            inventory_services.reserve_stock(
                sku_id=task["sku_id"],
                quantity=1,
                reference=reference,
                actor=None,
                warehouse_id=task.get("warehouse_id"),
            )
            reserved = True
        except inventory_services.InsufficientStock:
            reserved = False
        lowest = min(level.available for level in StockLevel.objects.filter(sku_id__in=task["watch_sku_ids"]))
        results.append((reference, reserved, lowest))
    return results
