"""Orders in another currency are converted at the day's rate, never added as they are; a missing rate is said
in words (issue 11 §5). Expected numbers from plain Python over the orders and the rate table."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine

from shopops.analytics.metrics import compute
from shopops.analytics.models import ExchangeRate
from shopops.analytics.warehouse import facts, rollups
from shopops.channels.models import Platform
from shopops.orders.models import Order
from shopops.orders.tests.factories import create_order, create_shop

pytestmark = pytest.mark.django_db

LA = ZoneInfo("America/Los_Angeles")
NOW = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)
MON, TUE, SAT = dt.date(2026, 11, 23), dt.date(2026, 11, 24), dt.date(2026, 11, 28)


@pytest.fixture
def analytics_dir(tmp_path: Path, settings: Any) -> Path:
    settings.ANALYTICS_DIR = tmp_path
    return tmp_path


def _usd_order(shop: Any, day: dt.date, amount: str, external: str) -> Order:
    moment = dt.datetime(day.year, day.month, day.day, 12, 0, tzinfo=LA)
    order = create_order(
        shop=shop, external_id=external, lines=[("X", 1, amount)], placed_at=moment, paid_at=moment
    )
    Order.objects.filter(pk=order.pk).update(currency="USD")
    order.refresh_from_db()
    return order


def test_usd_orders_are_converted_at_the_days_rate_and_a_missing_rate_is_said(analytics_dir: Path) -> None:
    with time_machine.travel(NOW, tick=True):
        # given a US shop selling in USD, a CNY shop, and rates for Monday and Friday only
        us = create_shop(platform=Platform.SHOPIFY, code="us-usd", timezone="America/Los_Angeles")
        cn = create_shop(platform=Platform.TMALL, code="cn-cny")
        ExchangeRate.objects.create(day=MON, currency="USD", rate=Decimal("7.1000"))
        ExchangeRate.objects.create(day=dt.date(2026, 11, 27), currency="USD", rate=Decimal("7.2500"))
        usd = [
            _usd_order(us, MON, "100.00", "U1"),
            _usd_order(us, TUE, "10.00", "U2"),  # no Tuesday rate: Monday's (the latest of the 7 days before)
            _usd_order(us, SAT, "20.00", "U3"),  # Saturday: Friday's
        ]
        cny = create_order(
            shop=cn, external_id="C1", lines=[("X", 1, "300.00")], placed_at=NOW - dt.timedelta(days=8)
        )
        Order.objects.filter(pk=cny.pk).update(paid_at=cny.placed_at)
        facts.sync()
        rollups.rebuild()
        # then each USD order counts at its day's rate (plain Python), the CNY one as it is
        rate_of = {MON: Decimal("7.1000"), TUE: Decimal("7.1000"), SAT: Decimal("7.2500")}
        expected = sum(
            (
                (o.paid_amount * rate_of[o.paid_at.astimezone(LA).date()]).quantize(Decimal("0.01"))
                for o in usd
            ),
            Decimal("0.00"),
        ) + Decimal("300.00")
        result = compute.overview(MON, SAT)
        assert result.metrics["paid_amount"] == expected == Decimal("1226.00")
        assert result.warnings == []
        # when a USD order falls on a day with no rate within the week before
        early = _usd_order(us, dt.date(2026, 11, 10), "50.00", "U4")
        facts.sync()
        rollups.refresh({dt.date(2026, 11, 10)})
        found = compute.overview(dt.date(2026, 11, 10), dt.date(2026, 11, 10), shop_ids=[us.pk])
        # then its amount is not added as CNY (nor as 50), and the overview says why
        assert found.metrics["paid_amount"] == Decimal("0.00")
        assert found.metrics["paid_orders"] == 1
        assert found.warnings == [
            "缺少 USD 在 2026-11-10 的汇率：1 笔订单的金额未计入（请在 数据中心 → 汇率 中录入）"
        ]
        # and once the rate is entered, the next sync converts it and the message goes
        ExchangeRate.objects.create(day=dt.date(2026, 11, 10), currency="USD", rate=Decimal("7.0000"))
        days = facts.sync()
        rollups.refresh(days)
        fixed = compute.overview(dt.date(2026, 11, 10), dt.date(2026, 11, 10), shop_ids=[us.pk])
        assert fixed.metrics["paid_amount"] == early.paid_amount * 7 == Decimal("350.00")
        assert fixed.warnings == []
