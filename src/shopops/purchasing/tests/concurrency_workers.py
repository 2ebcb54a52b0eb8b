"""Worker processes for the receiving concurrency test; only the standard library at module level."""

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


def receive_once(task: dict[str, Any]) -> str:
    """Receive `accepted` units of one line at `start_at`; returns "ok" or the refusal code."""
    from shopops.core.errors import DomainError
    from shopops.purchasing import services as purchasing_services

    while time.time() < task["start_at"]:
        time.sleep(0.001)
    try:
        purchasing_services.receive_purchase_order(
            po_id=task["po_id"],
            lines=[{"line_id": task["line_id"], "received": task["accepted"], "accepted": task["accepted"]}],
            actor=None,
        )
    except DomainError as error:
        return error.code
    return "ok"
