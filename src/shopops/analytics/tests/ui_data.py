"""Test data for the 数据中心 pages, API, exports and emails: a random warehouse dataset (metrics'
sample generator) written under a temporary ANALYTICS_DIR, its shops mapped to real Shop rows."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from shopops.analytics.metrics import sample_data
from shopops.channels.models import Platform, Shop
from shopops.orders.tests.factories import create_shop

START = dt.date(2026, 10, 1)
DAYS = 40
RANGE = (dt.date(2026, 10, 10), dt.date(2026, 10, 23))


@dataclass
class Warehouse:
    own: Shop
    tmall: Shop
    data: dict[str, list[dict[str, Any]]]


def build_warehouse(root: Path, *, seed: int = 11) -> Warehouse:
    own = create_shop(platform=Platform.OWN, name="官网")
    tmall = create_shop(platform=Platform.TAOBAO, name="淘宝店")
    ids = {1: own.pk, 2: tmall.pk}
    data = sample_data.random_dataset(seed=seed, start=START, days=DAYS, visitors=300, customers=80, shops=2)
    for rows in data.values():
        for row in rows:
            row["shop_id"] = ids[row["shop_id"]]
    sample_data.write_dataset(root, data)
    return Warehouse(own=own, tmall=tmall, data=data)


def paid_totals(
    data: dict[str, list[dict[str, Any]]], start: dt.date, end: dt.date, shop_ids: set[int] | None = None
) -> tuple[Decimal, int]:
    """支付金额 and 支付订单数 by plain Python: valid orders paid on a day of the range."""
    paid = [
        row
        for row in data["orders"]
        if row["is_valid"]
        and row["paid_day"] is not None
        and start <= row["paid_day"] <= end
        and (shop_ids is None or row["shop_id"] in shop_ids)
    ]
    return sum((row["paid_amount"] for row in paid), Decimal("0.00")), len(paid)


def visitors(
    data: dict[str, list[dict[str, Any]]], start: dt.date, end: dt.date, shop_ids: set[int] | None = None
) -> int:
    """访客数 by plain Python: distinct visitor ids with any event on a day of the range."""
    return len(
        {
            row["visitor_id"]
            for row in data["events"]
            if start <= row["day"] <= end and (shop_ids is None or row["shop_id"] in shop_ids)
        }
    )
