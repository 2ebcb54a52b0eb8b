from __future__ import annotations

import datetime as dt
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.utils import timezone

from shopops.analytics.models import AdSpend, TrafficReport
from shopops.analytics.warehouse import rollups, tables
from shopops.channels.models import Platform
from shopops.orders.models import Order

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clock")]
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
# The demo and its 28-day window follow today: loaded just after midnight on 1 March (still February in
# UTC), so the window crosses the month end and a short February.
CLOCKS = [dt.datetime(2027, 3, 1, 0, 20, tzinfo=SHANGHAI)]


@pytest.fixture
def demo(settings: Any, tmp_path: Path) -> Path:
    settings.VAR_DIR = tmp_path
    settings.ANALYTICS_DIR = tmp_path / "analytics"
    settings.ANALYTICS_DEMO = True  # conftest switches the analytics demo off for the other apps' demo tests
    call_command("demo", "--seed", "42", "--days", "14", stdout=StringIO())
    return settings.ANALYTICS_DIR


def test_demo_traffic_matches_the_orders_and_the_dashboard_numbers_are_ready(demo: Path) -> None:
    # given the demo (14 days of orders, 28 days of analytics history)
    con = tables.connect(root=demo)
    events = con.execute("SELECT * FROM events").to_arrow_table().to_pandas()
    today = timezone.localdate()
    start = today - dt.timedelta(days=28)
    # when
    totals = rollups.measures(start, today)[0]
    # then: every own-shop order came from a visit that named it, and the facts carry that visit
    own_orders = set(Order.objects.filter(shop__platform=Platform.OWN).values_list("external_id", flat=True))
    placed = events[events.type == "order_placed"]
    assert set(placed.order_id) == own_orders
    linked = con.execute(
        "SELECT external_id, visitor_id, source FROM orders WHERE channel = 'own'"
    ).fetchall()
    first_visit = placed.sort_values("ts").groupby("order_id").first()
    assert {(e, v, s) for e, v, s in linked} == {
        (order_id, row.visitor_id, row.source) for order_id, row in first_visit.iterrows()
    }
    # and the rollups give what plain pandas reads from the same events and the database
    in_range = events[(events.day >= start) & (events.day <= today)]
    assert totals["pv"] == int(in_range.type.isin(["page_view", "product_view"]).sum())
    assert totals["visitors"] == in_range.visitor_id.nunique()
    assert totals["ips"] == in_range.ip_key.nunique()
    paid = Order.objects.filter(is_valid=True, paid_at__isnull=False)
    # each order on its shop's own day (the demo's Shopify shop is in Los Angeles)
    paid_in_range = [
        o
        for o in paid.select_related("shop")
        if start <= o.paid_at.astimezone(ZoneInfo(o.shop.timezone)).date() <= today
    ]
    assert totals["paid_orders"] == len(paid_in_range)
    assert totals["paid_amount"] == sum((o.paid_amount for o in paid_in_range), Decimal("0.00"))
    own_visitors = in_range.visitor_id.nunique()
    own_paid = sum(1 for o in paid_in_range if o.shop.platform == Platform.OWN)
    assert 0.01 <= own_paid / own_visitors <= 0.06  # the web shop converts a few percent of its visitors
    assert TrafficReport.objects.filter(shop__platform=Platform.JD).exists()
    assert totals["spend"] == sum(
        (a.spend for a in AdSpend.objects.all() if start <= a.day <= today), Decimal("0.00")
    )
    assert totals["reported_visitors"] > 0


def test_customer_figures_count_the_orders_the_analytics_demo_added(demo: Path) -> None:
    # given the whole demo, whose web-shop history orders are added after customers' figures were first made
    from collections import Counter

    from shopops.loyalty.models import EntryKind, PointsEntry, PointsProgram
    from shopops.loyalty.services import EARNING_STATUSES
    from shopops.segments.models import CustomerMetrics

    paid = Counter(
        Order.objects.filter(customer__isnull=False, is_test=False, paid_at__isnull=False).values_list(
            "customer_id", flat=True
        )
    )
    # then each customer's metrics count every paid order (plain count over the order rows)
    metrics = dict(CustomerMetrics.objects.values_list("customer_id", "paid_order_count"))
    assert paid
    assert {customer: metrics.get(customer, 0) for customer in paid} == dict(paid)
    # and every order the program's rule rewards (by its status, for a customer, paid more than 0) earned
    program = PointsProgram.objects.get()
    rewarded = set(
        Order.objects.filter(
            customer__isnull=False,
            paid_amount__gt=0,
            status__in=EARNING_STATUSES[program.earn_on],
        ).values_list("pk", flat=True)
    )
    earned = set(PointsEntry.objects.filter(kind=EntryKind.EARN).values_list("order_id", flat=True))
    assert rewarded
    assert rewarded <= earned
