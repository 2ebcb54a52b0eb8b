import datetime as dt
from collections import Counter, defaultdict
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db.models import Sum

from shopops.aftersales.models import AfterSaleCase, Inspection
from shopops.catalog.demo_data import SHOPS
from shopops.fulfillment.models import Shipment
from shopops.inventory.models import MovementType, Reservation, ReservationStatus, StockMovement
from shopops.inventory.queries import verify_stock
from shopops.orders.models import Order, OrderIssue, OrderLine, OrderStatus, StockState

pytestmark = pytest.mark.django_db
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture
def demo(settings: Any, tmp_path: Any) -> str:
    settings.VAR_DIR = tmp_path
    out = StringIO()
    call_command("demo", "--seed", "42", "--days", "30", stdout=out)
    return out.getvalue()


def test_demo_orders_cover_every_shop_every_day_and_the_lifecycle(demo: str) -> None:
    # given the demo
    # when its orders are counted by shop, business day and status
    by_shop = Counter(Order.objects.values_list("shop__code", flat=True))
    days = {
        placed.astimezone(SHANGHAI).date() for placed in Order.objects.values_list("placed_at", flat=True)
    }
    statuses = set(Order.objects.values_list("status", flat=True))
    # then every demo shop has orders, the 30 days are covered and the lifecycle shows
    assert set(by_shop) == {code for code, _name, _platform in SHOPS}
    assert len(days) >= 28
    assert {OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.COMPLETED, OrderStatus.CANCELLED} <= statuses
    assert f"orders {Order.objects.count()}" in demo


def test_demo_orders_move_stock_only_through_the_ledger(demo: str) -> None:
    # given the demo
    # when the stock of tracked orders is compared with the ledger, line by line
    assert verify_stock() == []
    shipped_out: dict[str, int] = defaultdict(int)
    for reference, delta in StockMovement.objects.filter(
        movement_type=MovementType.SALE_OUT, reference_type="order_line"
    ).values_list("reference_id", "on_hand_delta"):
        shipped_out[reference] -= delta
    held: dict[str, int] = defaultdict(int)
    for reference, quantity in Reservation.objects.filter(
        reference_type="order_line", status=ReservationStatus.ACTIVE
    ).values_list("reference", "quantity"):
        held[reference] += quantity
    tracked = OrderLine.objects.exclude(order__stock_state=StockState.UNTRACKED).exclude(sku=None)
    untracked = OrderLine.objects.filter(order__stock_state=StockState.UNTRACKED)
    # then every unit a tracked line shipped left the warehouse in a sale_out row, open paid lines hold
    # their units, and history orders never touched stock
    assert tracked.filter(shipped_quantity__gt=0).exists()
    for line in tracked.select_related("order"):
        assert shipped_out.get(str(line.pk), 0) == line.shipped_quantity, line.pk
        if line.order.status == OrderStatus.PAID and line.order.stock_state == StockState.RESERVED:
            assert held.get(str(line.pk), 0) == line.quantity - line.shipped_quantity, line.pk
    assert not any(str(pk) in shipped_out or str(pk) in held for pk in untracked.values_list("pk", flat=True))


def test_demo_fills_the_exception_queue_parcels_and_after_sales(demo: str) -> None:
    # given the demo
    # when the review findings, parcels and cases are read
    rules = set(OrderIssue.objects.filter(status="open").values_list("rule", flat=True))
    platform_shipped = Order.objects.exclude(tracking_number="").filter(
        status__in=[OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.COMPLETED]
    )
    with_parcel = platform_shipped.filter(lines__shipment_lines__isnull=False).distinct()
    case_statuses = set(AfterSaleCase.objects.values_list("status", flat=True))
    returned = Inspection.objects.aggregate(units=Sum("quantity"))["units"] or 0
    return_rows = StockMovement.objects.filter(
        movement_type=MovementType.RETURN_IN, reference_type="aftersale"
    ).aggregate(units=Sum("on_hand_delta"))["units"]
    # then test orders and incomplete addresses wait for an operator, every platform-shipped order has
    # its parcel, cases stand in several steps, and every inspected unit came back through the ledger
    assert {"test_order", "incomplete_address"} <= rules
    assert with_parcel.count() == platform_shipped.count() > 0
    assert Shipment.objects.filter(tracking_events__isnull=False).exists()
    assert len(case_statuses) >= 4
    assert returned > 0
    assert return_rows == returned
