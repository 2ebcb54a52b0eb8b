"""The 工作台's 昨日经营 comparison (issue 11 §3): yesterday against the day before and the same day last week,
each shop's day in its own time zone, currencies never added — checked against a plain-Python count."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.urls import reverse

from shopops.orders.models import Order
from shopops.orders.tests.factories import create_order, create_shop

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
# 09:30 on a Monday in Shanghai: yesterday is Sunday 2027-03-07, the day before 03-06, last week 02-28
CLOCKS = [dt.datetime(2027, 3, 8, 9, 30, tzinfo=SHANGHAI)]


def paid(shop, at: dt.datetime, amount: str, currency: str = "CNY") -> Order:
    order = create_order(shop=shop, lines=[("X-1", 1, amount)], placed_at=at, paid_at=at)
    Order.objects.filter(pk=order.pk).update(paid_amount=Decimal(amount), currency=currency, paid_at=at)
    return order


def test_yesterday_is_compared_in_each_shops_own_day(clock: dt.datetime, make_user) -> None:
    # given a Shanghai shop and a New York shop (USD)
    cn = create_shop(code="tmall-cn")
    us = create_shop(code="web-us", timezone="America/New_York")
    rows = [
        (cn, dt.datetime(2027, 3, 7, 0, 10, tzinfo=SHANGHAI), "100.00", "CNY"),  # yesterday in Shanghai
        (cn, dt.datetime(2027, 3, 7, 23, 50, tzinfo=SHANGHAI), "50.00", "CNY"),  # yesterday
        (cn, dt.datetime(2027, 3, 6, 23, 59, tzinfo=SHANGHAI), "80.00", "CNY"),  # the day before
        (cn, dt.datetime(2027, 2, 28, 12, 0, tzinfo=SHANGHAI), "30.00", "CNY"),  # same day last week
        # noon of 03-07 in New York is 01:00 on 03-08 in Shanghai: still yesterday for that shop
        (us, dt.datetime(2027, 3, 7, 12, 0, tzinfo=NEW_YORK), "35.00", "USD"),
        # 23:00 of 03-05 in New York is 03-06 in Shanghai: the shop's own day is 03-05 (counted nowhere)
        (us, dt.datetime(2027, 3, 5, 23, 0, tzinfo=NEW_YORK), "9.00", "USD"),
    ]
    for shop, at, amount, currency in rows:
        paid(shop, at, amount, currency)
    # and the expectation in plain Python: each row's date in its shop's zone
    zones = {cn.pk: SHANGHAI, us.pk: NEW_YORK}

    def expected(day: dt.date) -> tuple[int, dict[str, Decimal]]:
        hits = [r for r in rows if r[1].astimezone(zones[r[0].pk]).date() == day]
        totals: dict[str, Decimal] = {}
        for _shop, _at, amount, currency in hits:
            totals[currency] = totals.get(currency, Decimal(0)) + Decimal(amount)
        return len(hits), totals

    # when the operator opens the 工作台
    client = Client()
    client.force_login(make_user("operations"))
    response = client.get(reverse("admin:index"))
    # then
    panel = next(p for p in response.context["panels"] if p.key == "yesterday_compare")
    amount_row, count_row, average_row = panel.rows
    yesterday, before, week = dt.date(2027, 3, 7), dt.date(2027, 3, 6), dt.date(2027, 2, 28)
    assert expected(yesterday) == (3, {"CNY": Decimal("150.00"), "USD": Decimal("35.00")})
    assert count_row[1:] == [
        str(expected(yesterday)[0]),
        str(expected(before)[0]),
        "+200.0%",
        str(expected(week)[0]),
        "+200.0%",
    ]
    # amounts per currency, never added; no percentage across mixed currencies
    assert amount_row[1] == "¥150.00 + US$35.00"
    assert amount_row[2] == "¥80.00"
    assert amount_row[3] == "—"
    assert amount_row[4] == "¥30.00"
    assert average_row[1] == "¥75.00 + US$35.00"  # ¥150 over 2 orders, US$35 over 1
    assert average_row[2] == "¥80.00"
    assert "¥185" not in response.content.decode()  # 150 + 35 would be adding dollars as yuan
