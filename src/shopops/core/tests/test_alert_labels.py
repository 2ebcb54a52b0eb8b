"""Alert kinds are shown by name: every kind the apps raise has a label, and the alert list shows it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from shopops.core import notifications

SOURCE = Path(__file__).resolve().parents[2]


def raised_kinds() -> set[str]:
    """Every `*_KIND = "app.kind"` constant in the apps' code."""
    kinds: set[str] = set()
    for path in SOURCE.rglob("*.py"):
        if "tests" in path.parts:
            continue
        kinds |= set(re.findall(r'^[A-Z_]*KIND\s*=\s*"([a-z_]+\.[a-z_]+)"', path.read_text(), re.MULTILINE))
    return kinds


def test_every_kind_the_apps_raise_has_a_label() -> None:
    kinds = raised_kinds()
    assert {"inventory.low_stock", "fulfillment.ship_overdue"} <= kinds
    assert kinds <= set(notifications.ALERT_KIND_LABELS)


@pytest.mark.django_db
def test_the_alert_list_shows_the_kind_by_name(admin_user: Any) -> None:
    notifications.raise_alert(kind="inventory.low_stock", key="low:1", title="SKU-1 库存低")
    client = Client()
    client.force_login(admin_user)
    body = client.get("/admin/core/alert/").content.decode()
    shown = re.sub(r"<[^>]+>", " ", body)  # the text a person sees (a filter option's value may be the code)
    assert "低库存" in shown
    assert "inventory.low_stock" not in shown
