import datetime as dt
from decimal import Decimal

import pytest

from shopops.core.models import Alert, AlertStatus
from shopops.fulfillment import queries, services
from shopops.fulfillment.queries import DurationStats
from shopops.fulfillment.tests.factories import parcel_for, shipped_parcel, shop_with_promise
from shopops.inventory.tests.factories import create_sku, create_warehouse, stock
from shopops.orders.models import OrderStatus
from shopops.orders.tests.factories import create_order, create_shop

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 10, 12, 0, tzinfo=dt.UTC)


def hours_ago(hours: int) -> dt.datetime:
    return NOW - dt.timedelta(hours=hours)


@pytest.fixture
def sku():
    warehouse = create_warehouse(code="HZ")
    sku = create_sku()
    stock(sku=sku, warehouse=warehouse, on_hand=100)
    return sku


def test_orders_at_risk_with_a_frozen_now(sku):
    # given a 48-hour shop and a 24-hour shop
    slow = shop_with_promise(create_shop(code="slow"), 48)
    fast = shop_with_promise(create_shop(code="fast"), 24)
    overdue = create_order(
        shop=slow,
        lines=[(sku, 1, "1.00")],
        placed_at=hours_ago(50),
        receiver_name="甲",
        receiver_phone="13800000000",
    )
    soon = create_order(
        shop=slow,
        lines=[(sku, 2, "1.00")],
        placed_at=hours_ago(40),
        receiver_name="乙",
        receiver_phone="13800000001",
    )
    create_order(
        shop=slow,
        lines=[(sku, 1, "1.00")],
        placed_at=hours_ago(10),
        receiver_name="丙",
        receiver_phone="13800000002",
    )
    create_order(
        shop=slow,
        lines=[(sku, 1, "1.00")],
        placed_at=hours_ago(60),
        status=OrderStatus.SHIPPED,
        receiver_name="丁",
        receiver_phone="13800000003",
    )
    create_order(
        shop=slow,
        lines=[(sku, 1, "1.00")],
        placed_at=hours_ago(60),
        status=OrderStatus.PENDING_PAYMENT,
        receiver_name="戊",
        receiver_phone="13800000004",
    )
    fast_soon = create_order(
        shop=fast,
        lines=[(sku, 1, "1.00")],
        placed_at=hours_ago(20),
        receiver_name="己",
        receiver_phone="13800000005",
    )
    # when listing orders at risk within 12 hours
    rows = queries.orders_at_risk(now=NOW, within_hours=12)
    # then the overdue one first, then by deadline
    assert [(row.order_id, row.hours_left, row.is_overdue, row.unshipped_units) for row in rows] == [
        (overdue.pk, Decimal("-2.0"), True, 1),
        (fast_soon.pk, Decimal("4.0"), False, 1),
        (soon.pk, Decimal("8.0"), False, 2),
    ]
    assert rows[0].deadline == hours_ago(2)
    # and a narrower window keeps only what is due within it
    assert [row.order_id for row in queries.orders_at_risk(now=NOW, within_hours=0)] == [overdue.pk]


def test_overdue_alert_is_raised_once_per_shop_and_resolved_when_shipped(admin_user, sku):
    shop = shop_with_promise(create_shop(code="alerting", name="天猫旗舰店"), 48)
    late = create_order(shop=shop, lines=[(sku, 1, "1.00")], placed_at=hours_ago(50))
    first = services.check_ship_overdue(now=NOW)
    repeat = services.check_ship_overdue(now=NOW)
    assert (first.raised, first.open, repeat.raised, repeat.open) == (1, 1, 0, 1)
    alert = Alert.objects.get()
    assert (alert.dedup_key, alert.title, alert.status) == (
        f"fulfillment.ship_overdue:{shop.pk}",
        "发货超时：天猫旗舰店 1 单",
        AlertStatus.OPEN,
    )
    # when the order ships, the next run resolves the alert
    shipped_parcel(late, tracking_number="SF1234567890123", actor=admin_user)
    after = services.check_ship_overdue(now=NOW)
    assert (after.raised, after.resolved, after.open) == (0, 1, 0)
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED


def test_shipping_times_per_shop_and_carrier(admin_user, sku):
    # given three orders paid at T0, shipped after 10 h and 20 h (SF) and 5 h (ZTO); SF signed after 30 h / 50 h
    shop = create_shop(code="times")
    start = dt.datetime(2026, 6, 1, 0, 0, tzinfo=dt.UTC)
    plan = [
        ("SF", "SF1000000000001", 10, 30),
        ("SF", "SF1000000000002", 20, 50),
        ("ZTO", "75100000000003", 5, None),
    ]
    for number, (code, tracking, ship_after, sign_after) in enumerate(plan):
        order = create_order(
            shop=shop,
            lines=[(sku, 1, "1.00")],
            placed_at=start,
            receiver_name=f"收{number}",
            receiver_phone=f"1390000000{number}",
        )
        shipped_at = start + dt.timedelta(hours=ship_after)
        parcel = services.ship_shipment(
            actor=admin_user,
            shipment_id=parcel_for(order).pk,
            carrier=code,
            tracking_number=tracking,
            shipped_at=shipped_at,
        )
        if sign_after:
            services.add_tracking_events(
                actor=admin_user,
                shipment_id=parcel.pk,
                events=[
                    services.TrackingEventInput(
                        occurred_at=shipped_at + dt.timedelta(hours=sign_after), state="3"
                    )
                ],
                source="api",
            )
    # when the report runs over the period
    rows = queries.shipping_times(since=start - dt.timedelta(days=1), until=start + dt.timedelta(days=3))
    # then per carrier and in total (nearest-rank percentiles)
    by_carrier = {row.carrier_name: row for row in rows}
    sf, zto, total = by_carrier["顺丰速运"], by_carrier["中通快递"], rows[-1]
    d = Decimal
    assert (sf.parcels, sf.paid_to_shipped, sf.shipped_to_delivered) == (
        2,
        DurationStats(2, d("15.0"), d("10.0"), d("20.0"), d("20.0")),
        DurationStats(2, d("40.0"), d("30.0"), d("50.0"), d("50.0")),
    )
    assert (zto.parcels, zto.paid_to_shipped, zto.shipped_to_delivered) == (
        1,
        DurationStats(1, d("5.0"), d("5.0"), d("5.0"), d("5.0")),
        DurationStats(0, None, None, None, None),
    )
    assert (total.shop_name, total.parcels, total.paid_to_shipped) == (
        "合计",
        3,
        DurationStats(3, d("11.7"), d("10.0"), d("20.0"), d("20.0")),
    )
    assert len(rows) == 3
