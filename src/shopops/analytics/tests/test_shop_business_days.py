"""A shop's business day is its own time zone (issue 11 §5): a Los Angeles shop's noon order is on its own day,
not the next Shanghai day; consolidated views add up each shop's own days. Expected days from plain zoneinfo."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import ibis
import pytest
import time_machine

from shopops.analytics.metrics import definitions
from shopops.analytics.warehouse import facts, rollups, tables
from shopops.channels.models import Platform
from shopops.orders.tests.factories import create_order, create_shop

pytestmark = pytest.mark.django_db

LA = ZoneInfo("America/Los_Angeles")
SH = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def analytics_dir(tmp_path: Path, settings: Any) -> Path:
    settings.ANALYTICS_DIR = tmp_path
    return tmp_path


def test_each_shop_buckets_its_orders_by_its_own_local_day(analytics_dir: Path) -> None:
    with time_machine.travel(NOW, tick=True):
        # given a US Shopify shop and a Shanghai Tmall shop, orders around both midnights
        us = create_shop(platform=Platform.SHOPIFY, code="us-shop", timezone="America/Los_Angeles")
        cn = create_shop(platform=Platform.TMALL, code="cn-shop")
        placed = [
            (
                us,
                dt.datetime(2026, 11, 24, 12, 0, tzinfo=LA),
                "100.00",
            ),  # noon in LA = 04:00 next day in Shanghai
            (us, dt.datetime(2026, 11, 24, 23, 55, tzinfo=LA), "30.00"),  # paid 00:05 the next LA day
            (us, dt.datetime(2026, 11, 25, 0, 30, tzinfo=LA), "7.00"),
            (cn, dt.datetime(2026, 11, 24, 23, 50, tzinfo=SH), "50.00"),
            (cn, dt.datetime(2026, 11, 25, 0, 10, tzinfo=SH), "20.00"),
        ]
        orders = [
            create_order(
                shop=shop,
                external_id=f"O{index}",
                lines=[("X", 1, amount)],
                placed_at=moment,
                paid_at=moment + dt.timedelta(minutes=10),
            )
            for index, (shop, moment, amount) in enumerate(placed)
        ]
        # when the facts and rollups are built
        facts.sync()
        rollups.rebuild()
    # then each order's days are its shop's dates, computed here with plain zoneinfo
    zone = {us.pk: LA, cn.pk: SH}
    expected_placed: Counter[tuple[dt.date, int]] = Counter()
    expected_paid: dict[tuple[dt.date, int], Decimal] = defaultdict(Decimal)
    for order in orders:
        expected_placed[(order.placed_at.astimezone(zone[order.shop_id]).date(), order.shop_id)] += 1
        expected_paid[(order.paid_at.astimezone(zone[order.shop_id]).date(), order.shop_id)] += (
            order.paid_amount
        )
    # the LA noon order is on the 24th (Shanghai would say the 25th)
    assert expected_placed[(dt.date(2026, 11, 24), us.pk)] == 2
    stored = tables.connect(root=analytics_dir).execute(
        "SELECT external_id, created_day, paid_day FROM orders"
    )
    days = {external: (created, paid) for external, created, paid in stored.fetchall()}
    assert days["O0"] == (dt.date(2026, 11, 24), dt.date(2026, 11, 24))
    assert days["O1"] == (dt.date(2026, 11, 24), dt.date(2026, 11, 25))
    start, end = dt.date(2026, 11, 23), dt.date(2026, 11, 26)
    for rows in (
        rollups.measures(start, end, by=("day", "shop_id"), root=analytics_dir),
        definitions.grouped_measures(
            tables.ibis_tables(ibis.duckdb.connect(), root=analytics_dir), start, end, by=("day", "shop_id")
        ),
    ):
        found_placed = {(row["day"], row["shop_id"]): row["orders"] for row in rows if row["orders"]}
        found_paid = {(row["day"], row["shop_id"]): row["paid_amount"] for row in rows if row["paid_orders"]}
        assert found_placed == dict(expected_placed)
        assert found_paid == dict(expected_paid)
    # consolidated: every shop's own days added up
    by_day = {row["day"]: row for row in rollups.measures(start, end, by=("day",), root=analytics_dir)}
    for day in (dt.date(2026, 11, 24), dt.date(2026, 11, 25)):
        assert by_day[day]["orders"] == sum(n for (d, _shop), n in expected_placed.items() if d == day)
        assert by_day[day]["paid_amount"] == sum(
            (amount for (d, _shop), amount in expected_paid.items() if d == day), Decimal("0.00")
        )
