import datetime as dt
import io

import pytest

from shopops.core import tabular
from shopops.core.errors import InvalidInput
from shopops.fulfillment import services
from shopops.fulfillment.imports import import_tracking_events
from shopops.fulfillment.models import Shipment, ShipmentSource, ShipmentStatus, TrackingEvent
from shopops.fulfillment.tests.factories import shipped_parcel
from shopops.inventory.models import StockMovement
from shopops.inventory.tests.factories import create_sku, create_warehouse, stock
from shopops.orders.models import OrderStatus
from shopops.orders.tests.factories import create_order, create_shop

pytestmark = pytest.mark.django_db

BEIJING = dt.timezone(dt.timedelta(hours=8))


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 6, day, hour, minute, tzinfo=BEIJING)


def scans(*items: tuple[dt.datetime, str]) -> list[services.TrackingEventInput]:
    return [
        services.TrackingEventInput(occurred_at=when, state=state, description=state) for when, state in items
    ]


@pytest.fixture
def world(admin_user):
    warehouse = create_warehouse(code="HZ")
    sku = create_sku()
    stock(sku=sku, warehouse=warehouse, on_hand=10)
    shop = create_shop()
    order = create_order(shop=shop, lines=[(sku, 2, "50.00")])
    shipment = shipped_parcel(order, tracking_number="SF1234567890123", actor=admin_user)
    return {"warehouse": warehouse, "sku": sku, "shop": shop, "order": order, "shipment": shipment}


def test_signed_scan_delivers_the_parcel_and_the_order_and_repeats_add_nothing(admin_user, world):
    # given a shipped parcel
    shipment, order = world["shipment"], world["order"]
    events = scans((at(1, 10), "1"), (at(1, 20), "在途"), (at(2, 9, 30), "签收"))
    # when the scans arrive (by carrier alias + tracking number), twice
    first = services.add_tracking_events(
        actor=admin_user, carrier="顺丰", tracking_number="SF1234567890123", events=events, source="api"
    )
    again = services.add_tracking_events(
        actor=admin_user, carrier="SF", tracking_number="SF1234567890123", events=events, source="api"
    )
    # then 3 scans were recorded once; parcel and order are delivered at the signing time
    assert (first.created, first.unchanged, again.created, again.unchanged) == (3, 0, 0, 3)
    assert TrackingEvent.objects.filter(shipment=shipment).count() == 3
    shipment.refresh_from_db()
    order.refresh_from_db()
    assert (shipment.status, shipment.delivered_at, shipment.tracking_state) == (
        ShipmentStatus.DELIVERED,
        at(2, 9, 30),
        "3",
    )
    assert (order.status, order.delivered_at) == (OrderStatus.DELIVERED, at(2, 9, 30))
    assert first.delivered_order_ids == [order.pk]


def test_refused_scan_flags_and_return_signed_returns(admin_user, world):
    shipment = world["shipment"]
    services.add_tracking_events(
        actor=admin_user, shipment_id=shipment.pk, events=scans((at(3, 8), "14")), source="api"
    )
    shipment.refresh_from_db()
    assert (shipment.status, shipment.has_problem, shipment.problem_note) == (
        ShipmentStatus.SHIPPED,
        True,
        "拒签",
    )
    services.add_tracking_events(
        actor=admin_user, shipment_id=shipment.pk, events=scans((at(5, 8), "4")), source="api"
    )
    shipment.refresh_from_db()
    assert (shipment.status, shipment.has_problem, shipment.problem_note) == (
        ShipmentStatus.RETURNED,
        True,
        "退签",
    )


def test_unknown_state_is_refused_and_nothing_recorded(admin_user, world):
    with pytest.raises(InvalidInput):
        services.add_tracking_events(
            actor=admin_user,
            shipment_id=world["shipment"].pk,
            events=scans((at(3, 8), "飞走了")),
            source="api",
        )
    assert TrackingEvent.objects.count() == 0


def tracking_file(rows: list[list[str]], file_format: str = "csv") -> io.BytesIO:
    buffer = io.BytesIO()
    headers = ["运单号", "快递公司", "时间", "状态", "描述", "地点"]
    tabular.write_table(buffer, headers=headers, rows=rows, file_format=file_format)
    buffer.seek(0)
    return buffer


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_file_import_is_idempotent_and_reports_unknown_numbers(admin_user, world, file_format):
    # given a file with 3 scans of our parcel and one of an unknown number
    rows = [
        ["SF1234567890123", "顺丰速运", "2026-06-01 10:00:00", "揽收", "已揽件", "杭州"],
        ["SF1234567890123", "顺丰速运", "2026/6/1 20:00", "0", "运输中", "上海"],
        ["SF1234567890123", "顺丰速运", "2026-06-02 09:30:00", "已签收", "本人签收", "北京"],
        ["SF9999999999999", "顺丰速运", "2026-06-02 09:30:00", "签收", "", ""],
    ]
    # when imported twice
    name = f"track.{file_format}"
    first = import_tracking_events(source=tracking_file(rows, file_format), filename=name, actor=admin_user)
    second = import_tracking_events(source=tracking_file(rows, file_format), filename=name, actor=admin_user)
    # then the first adds 3 and refuses 1 row, the second adds nothing
    assert first.counts() == {"total": 4, "created": 3, "updated": 0, "unchanged": 0, "skipped": 1}
    assert [(error.row, error.message) for error in first.errors] == [
        (5, "找不到运单号 SF9999999999999 的包裹")
    ]
    assert second.counts() == {"total": 4, "created": 0, "updated": 0, "unchanged": 3, "skipped": 1}
    events = list(
        TrackingEvent.objects.filter(shipment=world["shipment"]).values_list(
            "occurred_at", "state", "location"
        )
    )
    assert events == [(at(1, 10), "1", "杭州"), (at(1, 20), "0", "上海"), (at(2, 9, 30), "3", "北京")]
    world["order"].refresh_from_db()
    assert world["order"].status == OrderStatus.DELIVERED


def test_platform_shipped_orders_get_a_parcel_without_stock_effect(admin_user):
    # given two orders of one receiver the platform shipped in one parcel, and one without a number
    warehouse = create_warehouse(code="SH")
    sku = create_sku()
    stock(sku=sku, warehouse=warehouse, on_hand=10)
    shop = create_shop()
    shipped = {"status": OrderStatus.SHIPPED, "carrier_name": "中通快递", "tracking_number": "75312345678901"}
    first = create_order(shop=shop, lines=[(sku, 1, "10.00")], **shipped)
    second = create_order(shop=shop, lines=[(sku, 2, "10.00")], **shipped)
    create_order(shop=shop, lines=[(sku, 1, "10.00")], status=OrderStatus.SHIPPED, receiver_name="无单号")
    movements = StockMovement.objects.count()
    # when parcels are ensured, twice
    created = services.ensure_platform_shipments()
    assert services.ensure_platform_shipments() == 0
    # then one platform parcel holds both orders, and no stock moved
    (parcel,) = Shipment.objects.all()
    assert created == 1
    assert (parcel.source, parcel.status, parcel.carrier.code, parcel.tracking_number) == (
        ShipmentSource.PLATFORM,
        ShipmentStatus.SHIPPED,
        "ZTO",
        "75312345678901",
    )
    assert sorted(parcel.lines.values_list("order_line__order_id", "quantity")) == [
        (first.pk, 1),
        (second.pk, 2),
    ]
    assert StockMovement.objects.count() == movements
    # and its scans attach by carrier + number, delivering both orders
    result = services.add_tracking_events(
        actor=admin_user,
        carrier="zhongtong",
        tracking_number="75312345678901",
        events=scans((at(4, 12), "签收")),
        source="kuaidi100",
    )
    assert sorted(result.delivered_order_ids) == [first.pk, second.pk]


def test_scans_for_a_parcel_still_in_the_warehouse_are_refused(admin_user):
    warehouse = create_warehouse(code="NB")
    sku = create_sku()
    stock(sku=sku, warehouse=warehouse, on_hand=1)
    order = create_order(shop=create_shop(), lines=[(sku, 1, "10.00")])
    shipment = services.create_shipment(actor=admin_user, lines={order.lines.get().pk: 1})
    with pytest.raises(services.ShipmentNotTrackable):
        services.add_tracking_events(
            actor=admin_user, shipment_id=shipment.pk, events=scans((at(1, 1), "0")), source="api"
        )


def test_platform_number_already_used_by_our_parcel_is_skipped(admin_user, world):
    # given a platform-shipped order reporting the number of one of our own SF parcels
    order = create_order(
        shop=world["shop"],
        lines=[(world["sku"], 1, "10.00")],
        status=OrderStatus.SHIPPED,
        carrier_name="顺丰",
        tracking_number="SF1234567890123",
        receiver_name="平台",
        receiver_phone="13500000009",
    )
    # when parcels are ensured
    created = services.ensure_platform_shipments(order_ids=[order.pk])
    # then nothing is created and our parcel keeps only its own order
    assert created == 0
    assert Shipment.objects.count() == 1
    assert list(world["shipment"].lines.values_list("order_line__order_id", flat=True)) == [world["order"].pk]
