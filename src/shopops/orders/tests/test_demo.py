import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterator
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Sum
from django.test import override_settings
from django.utils import timezone

from shopops.aftersales.models import AfterSaleCase, Inspection
from shopops.catalog.demo_data import SHOPS
from shopops.channels.models import Platform
from shopops.fulfillment.models import Shipment, TrackingEvent
from shopops.inventory.models import (
    BundleComponent,
    MovementType,
    Reservation,
    ReservationStatus,
    StockMovement,
)
from shopops.inventory.queries import verify_stock
from shopops.orders.models import Order, OrderIssue, OrderLine, OrderStatus, StockState

# one xdist worker loads the demo once per clock for every test of the module
pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("demo_orders")]
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
# The demo is made relative to now, so it is loaded at fixed instants that hit edges: the day a bundle
# line shipped (issue 10; a Monday), a year end in Shanghai while UTC is still in the old year, a leap
# day before UTC reaches it, and the Sunday US clocks jump forward (the Shopify shop keeps Los Angeles time).
CLOCKS = [
    dt.datetime(2026, 12, 7, 20, 0, tzinfo=SHANGHAI),
    dt.datetime(2026, 12, 31, 23, 30, tzinfo=SHANGHAI),
    dt.datetime(2028, 2, 29, 7, 30, tzinfo=SHANGHAI),
    dt.datetime(2027, 3, 14, 18, 30, tzinfo=SHANGHAI),
]


@pytest.fixture(scope="module")
def demo(
    module_clock: dt.datetime, module_db: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    out = StringIO()
    var = tmp_path_factory.mktemp("var")
    with override_settings(VAR_DIR=var, ANALYTICS_DIR=var / "analytics", ANALYTICS_DEMO=False):
        call_command("demo", "--seed", "42", "--days", "30", stdout=out)
        yield out.getvalue()


def consumed_units(per_bundle: dict[int, dict[int, int]], sku_id: int | None, units: int) -> dict[int, int]:
    """Units per stocked SKU that `units` of `sku_id` take: a bundle takes each component × its count."""
    if sku_id is None or units == 0:
        return {}
    return {component: units * count for component, count in per_bundle.get(sku_id, {sku_id: 1}).items()}


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


def test_demo_order_and_parcel_times_follow_each_other_and_none_lies_ahead(demo: str) -> None:
    # given the demo, made at the module's clock (the Shopify shop's export in Los Angeles time)
    now = timezone.now()
    # when every order's lifecycle, every parcel and every scan is read
    lifecycles = Order.objects.values_list(
        "external_id", "placed_at", "paid_at", "shipped_at", "delivered_at", "completed_at"
    )
    out_of_order = [
        external_id
        for external_id, *times in lifecycles
        if [time for time in times if time is not None] != sorted(time for time in times if time is not None)
    ]
    ahead = [
        external_id
        for external_id, *times in lifecycles
        if any(time is not None and time > now for time in times)
    ]
    parcels_ahead = Shipment.objects.filter(shipped_at__gt=now).count()
    scans_ahead = TrackingEvent.objects.filter(occurred_at__gt=now).count()
    # then placed ≤ paid ≤ shipped ≤ delivered ≤ completed, and nothing happened after now
    assert Order.objects.filter(shop__platform=Platform.SHOPIFY, shipped_at__isnull=False).exists()
    assert out_of_order == []
    assert ahead == []
    assert parcels_ahead == scans_ahead == 0


def test_demo_orders_move_stock_only_through_the_ledger(demo: str) -> None:
    # given the demo and what one unit of each bundle takes of its components
    per_bundle: dict[int, dict[int, int]] = defaultdict(dict)
    for bundle_id, component_id, count in BundleComponent.objects.values_list(
        "bundle_sku_id", "component_sku_id", "quantity"
    ):
        per_bundle[bundle_id][component_id] = count
    # when the ledger's sale rows and the active reservations are summed per order line and SKU
    shipped_out: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for reference, sku_id, delta in StockMovement.objects.filter(
        movement_type=MovementType.SALE_OUT, reference_type="order_line"
    ).values_list("reference_id", "sku_id", "on_hand_delta"):
        shipped_out[reference][sku_id] -= delta
    held: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for reference, sku_id, quantity in Reservation.objects.filter(
        reference_type="order_line", status=ReservationStatus.ACTIVE
    ).values_list("reference", "sku_id", "quantity"):
        held[reference][sku_id] += quantity
    tracked = list(OrderLine.objects.exclude(order__stock_state=StockState.UNTRACKED).select_related("order"))
    short = {str(line.pk) for line in tracked if line.order.stock_state == StockState.SHORT}
    holding = [
        line for line in tracked if line.order.stock_state in (StockState.RESERVED, StockState.PARTIAL)
    ]
    # then every unit a tracked line shipped left the warehouse in sale_out rows (a bundle's as its
    # components), lines of open orders hold their open units the same way, no other line holds stock,
    # and history orders never touched it
    assert verify_stock() == []
    assert any(line.shipped_quantity for line in tracked)
    assert {reference: dict(units) for reference, units in shipped_out.items()} == {
        str(line.pk): consumed_units(per_bundle, line.sku_id, line.shipped_quantity)
        for line in tracked
        if line.shipped_quantity
    }
    assert {reference: dict(units) for reference, units in held.items() if reference not in short} == {
        str(line.pk): consumed_units(
            per_bundle, line.sku_id, line.quantity - line.shipped_quantity - line.refunded_quantity
        )
        for line in holding
        if line.sku_id is not None and line.quantity > line.shipped_quantity + line.refunded_quantity
    }


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
