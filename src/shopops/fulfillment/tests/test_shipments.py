import datetime as dt
from decimal import Decimal

import pytest

from shopops.core.models import AuditEntry
from shopops.fulfillment import services
from shopops.fulfillment.models import Shipment, ShipmentStatus
from shopops.fulfillment.tests.factories import parcel_for
from shopops.inventory.models import MovementType, StockLevel, StockMovement
from shopops.inventory.tests.factories import create_sku, create_warehouse, stock
from shopops.orders import services as order_services
from shopops.orders.models import OrderEvent, OrderEventKind, OrderStatus
from shopops.orders.tests.factories import create_order, create_shop

pytestmark = pytest.mark.django_db


def on_hand_and_reserved(sku, warehouse):
    level = StockLevel.objects.get(sku=sku, warehouse=warehouse)
    return level.on_hand, level.reserved


def sale_movements(sku):
    return list(
        StockMovement.objects.filter(sku=sku, movement_type=MovementType.SALE_OUT)
        .order_by("pk")
        .values_list("warehouse_id", "on_hand_delta", "reserved_delta")
    )


@pytest.fixture
def warehouse():
    return create_warehouse(code="HZ")


@pytest.fixture
def shop():
    return create_shop(code="tmall-main")


def stocked(warehouse, on_hand):
    sku = create_sku()
    stock(sku=sku, warehouse=warehouse, on_hand=on_hand)
    return sku


def test_shipping_a_whole_order_deducts_exactly_the_shipped_units(admin_user, shop, warehouse):
    # given an order of 3 + 2 units, reserved in one warehouse holding 10 and 5
    shirt, socks = stocked(warehouse, 10), stocked(warehouse, 5)
    order = create_order(shop=shop, lines=[(shirt, 3, "99.00"), (socks, 2, "19.00")])
    assert on_hand_and_reserved(shirt, warehouse) == (10, 3)
    shipment = parcel_for(order, actor=admin_user)
    # when the parcel is picked, packed and shipped
    services.pick_shipment(actor=admin_user, shipment_id=shipment.pk)
    services.pack_shipment(actor=admin_user, shipment_id=shipment.pk)
    shipped = services.ship_shipment(
        actor=admin_user,
        shipment_id=shipment.pk,
        carrier="顺丰速运",
        tracking_number="SF1234567890123",
        shipping_cost="12.50",
    )
    # then stock left through exactly one sale row per SKU, and the order is shipped
    assert sale_movements(shirt) == [(warehouse.pk, -3, -3)]
    assert sale_movements(socks) == [(warehouse.pk, -2, -2)]
    assert on_hand_and_reserved(shirt, warehouse) == (7, 0)
    assert on_hand_and_reserved(socks, warehouse) == (3, 0)
    assert (shipped.status, shipped.carrier.code, shipped.shipping_cost, shipped.warnings) == (
        ShipmentStatus.SHIPPED,
        "SF",
        Decimal("12.50"),
        [],
    )
    order.refresh_from_db()
    assert order.status == OrderStatus.SHIPPED
    assert (order.carrier_name, order.tracking_number) == ("顺丰速运", "SF1234567890123")
    assert list(order.lines.order_by("line_no").values_list("shipped_quantity", flat=True)) == [3, 2]
    assert list(
        AuditEntry.objects.filter(object_id=str(shipment.pk), action__startswith="shipment.")
        .order_by("pk")
        .values_list("action", flat=True)
    ) == ["shipment.created", "shipment.picking", "shipment.packed", "shipment.shipped"]


def test_partial_shipment_makes_the_order_partially_shipped(admin_user, shop, warehouse):
    # given an order of 4 units
    sku = stocked(warehouse, 10)
    order = create_order(shop=shop, lines=[(sku, 4, "10.00")])
    line = order.lines.get()
    # when 1 unit is shipped
    first = services.create_shipment(actor=admin_user, lines={line.pk: 1})
    services.ship_shipment(
        actor=admin_user, shipment_id=first.pk, carrier="ZTO", tracking_number="75123456789012"
    )
    # then the order is partially shipped, 1 unit left the warehouse and 3 stay reserved
    order.refresh_from_db()
    line.refresh_from_db()
    assert (order.status, line.shipped_quantity) == (OrderStatus.PARTIALLY_SHIPPED, 1)
    assert on_hand_and_reserved(sku, warehouse) == (9, 3)
    assert sale_movements(sku) == [(warehouse.pk, -1, -1)]
    # and the remaining 3 units ship later, closing the order
    rest = services.create_shipment(actor=admin_user, lines={line.pk: 3})
    services.ship_shipment(
        actor=admin_user, shipment_id=rest.pk, carrier="ZTO", tracking_number="75123456789013"
    )
    order.refresh_from_db()
    assert order.status == OrderStatus.SHIPPED
    assert on_hand_and_reserved(sku, warehouse) == (6, 0)


def test_more_units_than_open_are_refused_counting_open_parcels(admin_user, shop, warehouse):
    # given an order of 3 units, 2 of them already packed into a parcel
    sku = stocked(warehouse, 10)
    order = create_order(shop=shop, lines=[(sku, 3, "10.00")])
    line = order.lines.get()
    services.create_shipment(actor=admin_user, lines={line.pk: 2})
    # when packing 2 more
    with pytest.raises(services.QuantityExceedsOpen) as refused:
        services.create_shipment(actor=admin_user, lines={line.pk: 2})
    # then only 1 is allowed, and no second parcel exists
    assert refused.value.fields == {f"lines.{line.pk}": "最多 1 件"}
    assert Shipment.objects.count() == 1


def test_cancelled_parcel_frees_its_units_without_touching_stock(admin_user, shop, warehouse):
    sku = stocked(warehouse, 10)
    order = create_order(shop=shop, lines=[(sku, 3, "10.00")])
    line = order.lines.get()
    shipment = services.create_shipment(actor=admin_user, lines={line.pk: 3})
    movements_before = StockMovement.objects.count()
    # when cancelled
    services.cancel_shipment(actor=admin_user, shipment_id=shipment.pk, reason="地址有误")
    # then the 3 units can be packed again, and no stock moved
    again = services.create_shipment(actor=admin_user, lines={line.pk: 3})
    assert again.lines.get().quantity == 3
    assert StockMovement.objects.count() == movements_before
    with pytest.raises(services.ShipmentStateError):
        services.ship_shipment(actor=admin_user, shipment_id=shipment.pk, carrier="SF", tracking_number="SF1")


def test_lines_of_a_cancelled_order_are_refused(admin_user, shop, warehouse):
    sku = stocked(warehouse, 10)
    order = create_order(shop=shop, lines=[(sku, 1, "10.00")], status=OrderStatus.PENDING_PAYMENT)
    order_services.cancel_order(actor=admin_user, order_id=order.pk, reason="买家不要了")
    with pytest.raises(services.OrderNotShippable):
        services.create_shipment(actor=admin_user, lines={order.lines.get().pk: 1}, warehouse_id=warehouse.pk)
    assert Shipment.objects.count() == 0


def test_bad_sf_number_warns_but_the_parcel_ships(admin_user, shop, warehouse):
    # given a parcel
    sku = stocked(warehouse, 5)
    order = create_order(shop=shop, lines=[(sku, 1, "10.00")])
    shipment = parcel_for(order, actor=admin_user)
    # when shipped with a number that is not SF + 13 digits
    shipped = services.ship_shipment(
        actor=admin_user, shipment_id=shipment.pk, carrier="shunfeng", tracking_number="SF12345"
    )
    # then it is shipped, stock deducted, and the warnings are recorded on the parcel and the timeline
    shipped.refresh_from_db()
    assert shipped.status == ShipmentStatus.SHIPPED
    assert shipped.warnings == [
        "运单号 SF12345 长度为 7 位，不像常见的运单号",
        "运单号 SF12345 不符合顺丰速运的常见格式（^SF\\d{13}$）",
    ]
    assert on_hand_and_reserved(sku, warehouse) == (4, 0)
    assert OrderEvent.objects.filter(order=order, message__contains="运单号提醒").count() == 1


def test_same_tracking_number_twice_for_one_carrier_is_refused(admin_user, shop, warehouse):
    sku = stocked(warehouse, 5)
    first = parcel_for(create_order(shop=shop, lines=[(sku, 1, "10.00")]), actor=admin_user)
    second = parcel_for(
        create_order(shop=shop, lines=[(sku, 1, "10.00")], receiver_name="李四"), actor=admin_user
    )
    services.ship_shipment(
        actor=admin_user, shipment_id=first.pk, carrier="SF", tracking_number="SF1234567890123"
    )
    with pytest.raises(services.TrackingNumberTaken):
        services.ship_shipment(
            actor=admin_user, shipment_id=second.pk, carrier="SF", tracking_number="SF1234567890123"
        )
    assert on_hand_and_reserved(sku, warehouse) == (4, 1)


def test_merge_refuses_orders_of_different_receivers(admin_user, shop, warehouse):
    # given two orders to different receivers
    sku = stocked(warehouse, 10)
    first = create_order(shop=shop, lines=[(sku, 1, "10.00")], receiver_name="张三")
    second = create_order(shop=shop, lines=[(sku, 2, "10.00")], receiver_name="李四")
    # when merging them, or packing their lines together
    with pytest.raises(services.ReceiverMismatch):
        services.merge_orders(actor=admin_user, order_ids=[first.pk, second.pk])
    with pytest.raises(services.ReceiverMismatch):
        services.create_shipment(actor=admin_user, lines={first.lines.get().pk: 1, second.lines.get().pk: 2})
    # then no parcel exists
    assert Shipment.objects.count() == 0


def test_merge_refuses_orders_of_different_shops(admin_user, shop, warehouse):
    sku = stocked(warehouse, 10)
    first = create_order(shop=shop, lines=[(sku, 1, "10.00")])
    second = create_order(shop=create_shop(), lines=[(sku, 2, "10.00")])
    with pytest.raises(services.ReceiverMismatch):
        services.merge_orders(actor=admin_user, order_ids=[first.pk, second.pk])


def test_merge_of_one_receiver_packs_every_open_unit_and_ships_both_orders(admin_user, shop, warehouse):
    # given two orders of the same receiver (and a third of someone else)
    shirt, socks = stocked(warehouse, 10), stocked(warehouse, 10)
    first = create_order(shop=shop, lines=[(shirt, 1, "99.00")])
    second = create_order(shop=shop, lines=[(socks, 2, "19.00")])
    create_order(shop=shop, lines=[(socks, 1, "19.00")], receiver_name="王五")
    # when the candidates are listed and merged
    (group,) = services.merge_candidates()
    assert group.order_ids == [first.pk, second.pk]
    shipment = services.merge_orders(actor=admin_user, order_ids=group.order_ids)
    # then one parcel holds both orders' units; shipping it ships both
    assert sorted(shipment.lines.values_list("order_line__order_id", "quantity")) == [
        (first.pk, 1),
        (second.pk, 2),
    ]
    services.ship_shipment(
        actor=admin_user, shipment_id=shipment.pk, carrier="YTO", tracking_number="YT1234567890123"
    )
    assert set(type(first).objects.filter(pk__in=[first.pk, second.pk]).values_list("status", flat=True)) == {
        OrderStatus.SHIPPED
    }
    assert on_hand_and_reserved(shirt, warehouse) == (9, 0)
    assert on_hand_and_reserved(socks, warehouse) == (8, 1)
    assert OrderEvent.objects.filter(order=first, kind=OrderEventKind.MERGED).count() == 1
    assert services.merge_candidates() == []


def test_split_by_warehouse_gives_one_parcel_per_reserving_warehouse(admin_user, shop):
    # given an order whose lines are reserved in two warehouses
    hangzhou, guangzhou = create_warehouse(code="HZ2"), create_warehouse(code="GZ")
    coat, hat, scarf = stocked(hangzhou, 5), stocked(guangzhou, 5), stocked(hangzhou, 5)
    order = create_order(shop=shop, lines=[(coat, 2, "300.00"), (hat, 1, "50.00"), (scarf, 3, "80.00")])
    lines = {line.sku_id: line.pk for line in order.lines.all()}
    # when split by warehouse
    parcels = services.split_order(actor=admin_user, order_id=order.pk, by="warehouse")
    # then one parcel per warehouse with exactly its lines
    contents = {
        parcel.warehouse_id: sorted(parcel.lines.values_list("order_line_id", "quantity"))
        for parcel in parcels
    }
    assert contents == {
        hangzhou.pk: sorted([(lines[coat.pk], 2), (lines[scarf.pk], 3)]),
        guangzhou.pk: [(lines[hat.pk], 1)],
    }
    # and shipping the Guangzhou parcel deducts there only, leaving the order partially shipped
    guangzhou_parcel = next(parcel for parcel in parcels if parcel.warehouse_id == guangzhou.pk)
    services.ship_shipment(
        actor=admin_user, shipment_id=guangzhou_parcel.pk, carrier="JD", tracking_number="JDVA12345678901"
    )
    assert on_hand_and_reserved(hat, guangzhou) == (4, 0)
    assert on_hand_and_reserved(coat, hangzhou) == (5, 2)
    order.refresh_from_db()
    assert order.status == OrderStatus.PARTIALLY_SHIPPED


def test_split_by_availability_separates_what_can_go_now(admin_user, shop, warehouse):
    # given an order where one SKU is reserved and the other is out of stock
    ready = stocked(warehouse, 5)
    missing = create_sku()
    stock(sku=missing, warehouse=warehouse, on_hand=0)
    order = create_order(shop=shop, lines=[(ready, 2, "10.00"), (missing, 1, "10.00")])
    lines = {line.sku_id: line.pk for line in order.lines.all()}
    # when split by availability
    now, rest = services.split_order(actor=admin_user, order_id=order.pk, by="availability")
    # then the reserved line goes now, the missing one waits
    assert list(now.lines.values_list("order_line_id", "quantity")) == [(lines[ready.pk], 2)]
    assert list(rest.lines.values_list("order_line_id", "quantity")) == [(lines[missing.pk], 1)]
    assert rest.note == "拆分发货：待补货"
    assert OrderEvent.objects.filter(order=order, kind=OrderEventKind.SPLIT).count() == 2


def test_bulk_ship_reports_each_item_and_keeps_the_good_ones(admin_user, shop, warehouse):
    sku = stocked(warehouse, 5)
    good = parcel_for(create_order(shop=shop, lines=[(sku, 1, "10.00")]), actor=admin_user)
    bad = parcel_for(
        create_order(shop=shop, lines=[(sku, 1, "10.00")], receiver_name="赵六"), actor=admin_user
    )
    services.cancel_shipment(actor=admin_user, shipment_id=bad.pk)
    results = services.bulk_ship(
        actor=admin_user,
        items=[
            services.BulkShipItem(shipment_id=good.pk, carrier="SF", tracking_number="SF1234567890123"),
            services.BulkShipItem(shipment_id=bad.pk, carrier="SF", tracking_number="SF1234567890124"),
        ],
    )
    assert [(result.shipment_id, result.is_shipped, result.code) for result in results] == [
        (good.pk, True, ""),
        (bad.pk, False, "illegal_shipment_transition"),
    ]
    assert on_hand_and_reserved(sku, warehouse) == (4, 1)


def test_shipped_at_is_kept(admin_user, shop, warehouse):
    sku = stocked(warehouse, 5)
    order = create_order(shop=shop, lines=[(sku, 1, "10.00")])
    when = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC)
    shipped = services.ship_shipment(
        actor=admin_user,
        shipment_id=parcel_for(order).pk,
        carrier="SF",
        tracking_number="SF1234567890123",
        shipped_at=when,
    )
    order.refresh_from_db()
    assert (shipped.shipped_at, order.shipped_at) == (when, when)
