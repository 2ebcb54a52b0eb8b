import datetime as dt
from decimal import Decimal

import pytest

from shopops.inventory.models import MovementType, Reservation, ReservationStatus, StockLevel, StockMovement
from shopops.inventory.services import InsufficientStock
from shopops.inventory.tests.factories import create_bundle, create_sku, create_warehouse, stock
from shopops.orders import services
from shopops.orders.models import OrderEventKind, OrderStatus, ReviewStatus, StockState
from shopops.orders.tests.factories import create_order, create_shop, stocked_sku

pytestmark = pytest.mark.django_db


def level(sku, warehouse=None):
    queryset = StockLevel.objects.filter(sku=sku)
    if warehouse is not None:
        queryset = queryset.filter(warehouse=warehouse)
    row = queryset.get()
    return row.on_hand, row.reserved


def movements(sku):
    return list(
        StockMovement.objects.filter(sku=sku)
        .exclude(movement_type=MovementType.OPENING)
        .order_by("pk")
        .values_list("movement_type", "on_hand_delta", "reserved_delta", "reference_type")
    )


def test_paid_order_reserves_each_line_in_the_ledger():
    # given
    shop = create_shop()
    sku = stocked_sku(on_hand=10)
    # when
    order = create_order(shop=shop, lines=[(sku, 3, "10.00")])
    # then
    line = order.lines.get()
    assert level(sku) == (10, 3)
    assert movements(sku) == [(MovementType.RESERVE, 0, 3, "order_line")]
    reservation = Reservation.objects.get()
    assert (reservation.reference, reservation.status, reservation.quantity) == (
        str(line.pk),
        ReservationStatus.ACTIVE,
        3,
    )
    assert services.line_warehouses(order_id=order.pk) == {line.pk: reservation.warehouse_id}


def test_pending_order_reserves_nothing_by_default_and_on_creation_when_the_shop_says_so():
    sku = stocked_sku(on_hand=10)
    pending = create_order(shop=create_shop(), lines=[(sku, 2, "1.00")], status=OrderStatus.PENDING_PAYMENT)
    assert pending.stock_state == StockState.NONE
    assert level(sku) == (10, 0)
    early = create_order(
        shop=create_shop(settings={"reserve_on": "created"}),
        lines=[(sku, 2, "1.00")],
        status=OrderStatus.PENDING_PAYMENT,
    )
    assert early.stock_state == StockState.RESERVED
    assert level(sku) == (10, 2)


def test_mark_paid_reserves_and_cancel_releases():
    # given
    shop = create_shop()
    sku = stocked_sku(on_hand=10)
    order = create_order(shop=shop, lines=[(sku, 4, "1.00")], status=OrderStatus.PENDING_PAYMENT)
    # when
    paid = services.mark_paid(actor=None, order_id=order.pk)
    # then
    assert (paid.status, paid.stock_state, paid.is_valid) == (OrderStatus.PAID, StockState.RESERVED, True)
    assert level(sku) == (10, 4)
    # when
    closed = services.cancel_order(actor=None, order_id=order.pk, reason="买家不要了")
    # then
    assert (closed.status, closed.stock_state, closed.close_reason) == (
        OrderStatus.CLOSED,
        StockState.RELEASED,
        "买家不要了",
    )
    assert level(sku) == (10, 0)
    assert movements(sku) == [
        (MovementType.RESERVE, 0, 4, "order_line"),
        (MovementType.RELEASE, 0, -4, "order_line"),
    ]


def test_partial_shipment_deducts_shipped_units_and_keeps_the_rest_reserved():
    # given
    shop = create_shop()
    warehouse = create_warehouse()
    sku = stocked_sku(on_hand=10, warehouse=warehouse)
    order = create_order(shop=shop, lines=[(sku, 5, "2.00")])
    line = order.lines.get()
    # when
    [shipped] = services.record_shipment(
        actor=None,
        warehouse_id=warehouse.pk,
        lines={line.pk: 2},
        reference="P1",
        tracking_number="SF1234567890123",
    )
    # then
    line.refresh_from_db()
    assert (shipped.status, shipped.stock_state, line.shipped_quantity) == (
        OrderStatus.PARTIALLY_SHIPPED,
        StockState.PARTIAL,
        2,
    )
    assert level(sku) == (8, 3)
    assert shipped.tracking_number == "SF1234567890123"
    # when
    [done] = services.record_shipment(
        actor=None, warehouse_id=warehouse.pk, lines={line.pk: 3}, reference="P2"
    )
    # then
    assert (done.status, done.stock_state) == (OrderStatus.SHIPPED, StockState.DEDUCTED)
    assert level(sku) == (5, 0)
    assert movements(sku) == [
        (MovementType.RESERVE, 0, 5, "order_line"),
        (MovementType.SALE_OUT, -2, -2, "order_line"),
        (MovementType.SALE_OUT, -3, -3, "order_line"),
    ]
    assert Reservation.objects.get().status == ReservationStatus.COMMITTED
    assert done.events.filter(kind=OrderEventKind.SHIPMENT).count() == 2


def test_shipping_more_than_open_units_is_refused_and_nothing_changes():
    shop = create_shop()
    warehouse = create_warehouse()
    sku = stocked_sku(on_hand=10, warehouse=warehouse)
    order = create_order(shop=shop, lines=[(sku, 2, "2.00")])
    line = order.lines.get()
    with pytest.raises(services.common.Conflict):
        services.record_shipment(actor=None, warehouse_id=warehouse.pk, lines={line.pk: 3}, reference="P1")
    line.refresh_from_db()
    assert line.shipped_quantity == 0
    assert level(sku) == (10, 2)


def test_shipping_from_another_warehouse_moves_the_reservation_there():
    # given
    sku = create_sku()
    first, second = create_warehouse(), create_warehouse()
    stock(sku=sku, warehouse=first, on_hand=9)
    stock(sku=sku, warehouse=second, on_hand=3)
    order = create_order(shop=create_shop(), lines=[(sku, 2, "1.00")])
    line = order.lines.get()
    assert services.line_warehouses(order_id=order.pk) == {line.pk: first.pk}
    # when
    services.record_shipment(actor=None, warehouse_id=second.pk, lines={line.pk: 2}, reference="P1")
    # then
    assert level(sku, first) == (9, 0)
    assert level(sku, second) == (1, 0)


def test_bundle_line_reserves_and_ships_its_components():
    # given
    warehouse = create_warehouse()
    cup, lid = create_sku(), create_sku()
    stock(sku=cup, warehouse=warehouse, on_hand=10)
    stock(sku=lid, warehouse=warehouse, on_hand=10)
    bundle = create_bundle(components={cup: 2, lid: 1})
    order = create_order(shop=create_shop(), lines=[(bundle, 3, "9.90")])
    line = order.lines.get()
    assert (level(cup), level(lid)) == ((10, 6), (10, 3))
    # when
    services.record_shipment(actor=None, warehouse_id=warehouse.pk, lines={line.pk: 1}, reference="P1")
    # then
    assert (level(cup), level(lid)) == ((8, 4), (9, 2))


def test_history_orders_before_stock_effects_since_never_touch_the_ledger():
    # given
    shop = create_shop(settings={"stock_effects_since": "2026-01-01T00:00:00+08:00"})
    warehouse = create_warehouse()
    sku = stocked_sku(on_hand=5, warehouse=warehouse)
    placed = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
    ledger_before = StockMovement.objects.count()
    # when
    order = create_order(shop=shop, lines=[(sku, 2, "1.00")], placed_at=placed)
    services.record_shipment(
        actor=None, warehouse_id=warehouse.pk, lines={order.lines.get().pk: 2}, reference="P1"
    )
    services.record_delivery(actor=None, order_ids=[order.pk], delivered_at=placed + dt.timedelta(days=2))
    # then
    order.refresh_from_db()
    assert (order.stock_state, order.status) == (StockState.UNTRACKED, OrderStatus.DELIVERED)
    assert StockMovement.objects.count() == ledger_before
    assert level(sku) == (5, 0)


def test_short_stock_keeps_the_order_with_an_out_of_stock_issue_and_the_retry_reserves_later():
    # given
    shop = create_shop()
    warehouse = create_warehouse()
    sku = stocked_sku(on_hand=1, warehouse=warehouse)
    # when
    order = create_order(shop=shop, lines=[(sku, 3, "1.00")])
    # then
    assert (order.stock_state, order.review_status) == (StockState.SHORT, ReviewStatus.EXCEPTION)
    assert list(order.issues.values_list("rule", "status")) == [("out_of_stock", "open")]
    assert level(sku) == (1, 0)
    # when stock arrives and the retry runs
    stock(sku=sku, warehouse=warehouse, on_hand=5)
    assert services.retry_short_orders(actor=None) == 1
    # then
    order.refresh_from_db()
    assert (order.stock_state, order.review_status) == (StockState.RESERVED, ReviewStatus.PASSED)
    assert level(sku) == (6, 3)
    assert list(order.issues.values_list("rule", "status")) == [("out_of_stock", "resolved")]


def test_shipping_without_enough_stock_is_refused():
    warehouse = create_warehouse()
    sku = stocked_sku(on_hand=1, warehouse=warehouse)
    order = create_order(shop=create_shop(), lines=[(sku, 2, "1.00")])
    with pytest.raises(InsufficientStock):
        services.record_shipment(
            actor=None, warehouse_id=warehouse.pk, lines={order.lines.get().pk: 2}, reference="P1"
        )
    assert level(sku) == (1, 0)


def test_full_refund_of_a_partially_shipped_order_releases_the_unshipped_units():
    # given
    warehouse = create_warehouse()
    sku = stocked_sku(on_hand=10, warehouse=warehouse)
    order = create_order(shop=create_shop(), lines=[(sku, 4, "5.00")])
    line = order.lines.get()
    services.record_shipment(actor=None, warehouse_id=warehouse.pk, lines={line.pk: 1}, reference="P1")
    # when
    refunded = services.record_refund(
        actor=None,
        order_id=order.pk,
        amount=Decimal("20.00"),
        lines={line.pk: (3, Decimal("15.00"))},
        reference="R1",
    )
    # then
    assert refunded.status == OrderStatus.CLOSED
    assert level(sku) == (9, 0)


def test_partial_refund_of_unshipped_units_shrinks_the_reservation():
    warehouse = create_warehouse()
    sku = stocked_sku(on_hand=10, warehouse=warehouse)
    order = create_order(shop=create_shop(), lines=[(sku, 4, "5.00")])
    line = order.lines.get()
    services.record_refund(
        actor=None,
        order_id=order.pk,
        amount=Decimal("5.00"),
        lines={line.pk: (1, Decimal("5.00"))},
        reference="R1",
    )
    assert level(sku) == (10, 3)
    assert Reservation.objects.get(status=ReservationStatus.ACTIVE).quantity == 3


def test_shipping_an_unpaid_order_is_refused():
    warehouse = create_warehouse()
    sku = stocked_sku(on_hand=5, warehouse=warehouse)
    order = create_order(shop=create_shop(), lines=[(sku, 1, "1.00")], status=OrderStatus.PENDING_PAYMENT)
    with pytest.raises(services.OrderNotShippable):
        services.record_shipment(
            actor=None, warehouse_id=warehouse.pk, lines={order.lines.get().pk: 1}, reference="P1"
        )
    assert order.lines.get().shipped_quantity == 0
    assert services.line_warehouses(order_id=order.pk) == {order.lines.get().pk: None}


def test_retry_task_reserves_short_orders_once_stock_arrives():
    from shopops.orders import tasks

    warehouse = create_warehouse()
    sku = stocked_sku(on_hand=0, warehouse=warehouse)
    order = create_order(shop=create_shop(), lines=[(sku, 2, "1.00")])
    assert order.stock_state == StockState.SHORT
    stock(sku=sku, warehouse=warehouse, on_hand=2)
    tasks.retry_out_of_stock_orders.call_local()
    tasks.retry_out_of_stock_orders.call_local()
    order.refresh_from_db()
    assert order.stock_state == StockState.RESERVED
    assert level(sku) == (2, 2)
    assert movements(sku) == [(MovementType.RESERVE, 0, 2, "order_line")]
