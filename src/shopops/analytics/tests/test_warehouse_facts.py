from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from django.utils import timezone

from shopops.analytics.metrics import sample_data
from shopops.analytics.models import AdSpend
from shopops.analytics.warehouse import facts, tables
from shopops.catalog.models import Sku
from shopops.channels.models import Platform
from shopops.fulfillment import services as fulfillment_services
from shopops.fulfillment.models import Shipment, ShipmentStatus
from shopops.fulfillment.tests.factories import parcel_for
from shopops.inventory.models import Warehouse
from shopops.inventory.tests.factories import create_sku, create_warehouse, stock
from shopops.orders import services as order_services
from shopops.orders.models import Order, OrderEvent, OrderEventKind, OrderStatus
from shopops.orders.tests.factories import create_order, create_shop

pytestmark = pytest.mark.django_db

DAY = dt.date(2025, 6, 3)


@pytest.fixture
def analytics_dir(tmp_path: Path, settings: Any) -> Path:
    settings.ANALYTICS_DIR = tmp_path
    return tmp_path


def _orders(root: Path) -> dict[str, dict[str, Any]]:
    con = tables.connect(root=root)
    rows = con.execute("SELECT * FROM orders").to_arrow_table().to_pylist()
    return {row["external_id"]: row for row in rows}


def _lines(root: Path) -> list[dict[str, Any]]:
    return (
        tables.connect(root=root)
        .execute("SELECT * FROM order_lines ORDER BY line_id")
        .to_arrow_table()
        .to_pylist()
    )


def test_sync_writes_orders_and_lines_with_costs_refunds_and_linked_visits(analytics_dir: Path) -> None:
    # given: an own-shop order whose order_placed event names a visitor, and a platform order
    own = create_shop(platform=Platform.OWN, code="web")
    tmall = create_shop(platform=Platform.TMALL, code="tm")
    sku = create_sku(merchant_code="SKU-A")
    Sku.objects.filter(pk=sku.pk).update(cost_price=Decimal("12.50"))
    placed = sample_data.at(DAY, 23, 30)  # 23:30 in Shanghai: still DAY although UTC says the day before
    web = create_order(
        shop=own,
        external_id="W1",
        lines=[(sku, 2, "40.00")],
        placed_at=placed,
        paid_at=placed + dt.timedelta(minutes=45),
        shipping_fee=Decimal("8.00"),
    )
    platform = create_order(shop=tmall, external_id="T1", lines=[(sku, 1, "40.00")], placed_at=placed)
    sample_data.write_dataset(
        analytics_dir,
        {
            "events": [
                sample_data.event(ts=placed - dt.timedelta(minutes=5), visitor_id="vis-9", source="baidu"),
                sample_data.event(
                    ts=placed,
                    visitor_id="vis-9",
                    source="baidu",
                    type="order_placed",
                    order_id="W1",
                    shop_id=own.pk,
                ),
            ]
        },
    )
    line = web.lines.get()
    order_services.record_refund(
        actor=None,
        order_id=web.pk,
        amount=Decimal("40.00"),
        lines={line.pk: (1, Decimal("40.00"))},
        reference="R1",
    )
    # when
    affected = facts.sync()
    # then
    web.refresh_from_db()
    refund_at = OrderEvent.objects.get(order=web, kind=OrderEventKind.REFUND).created_at
    rows = _orders(analytics_dir)
    assert rows["W1"]["created_day"] == DAY
    assert rows["W1"]["paid_day"] == DAY + dt.timedelta(days=1)
    assert rows["W1"]["channel"] == "own"
    assert (rows["W1"]["visitor_id"], rows["W1"]["source"]) == ("vis-9", "baidu")
    assert (rows["T1"]["visitor_id"], rows["T1"]["source"]) == ("", "")
    assert rows["W1"]["goods_amount"] == Decimal("80.00")
    assert rows["W1"]["paid_amount"] == web.paid_amount
    assert rows["W1"]["refunded_amount"] == Decimal("40.00")
    assert rows["W1"]["net_sales"] == web.paid_amount - Decimal("8.00") - Decimal("40.00")
    assert rows["W1"]["cogs"] == Decimal("25.00")  # 2 × the SKU's cost price
    assert rows["W1"]["units"] == 2
    assert rows["W1"]["first_refund_at"] == refund_at
    assert rows["W1"]["customer_id"] == web.customer_id
    assert rows["T1"]["paid_day"] == DAY
    lines = _lines(analytics_dir)
    assert [
        (r["order_id"], r["product_code"], r["quantity"], r["cogs"], r["refunded_quantity"]) for r in lines
    ] == [
        (web.pk, sku.product.merchant_code, 2, Decimal("25.00"), 1),
        (platform.pk, sku.product.merchant_code, 1, Decimal("12.50"), 0),
    ]
    assert affected == {DAY, DAY + dt.timedelta(days=1)}


def test_second_sync_rewrites_only_the_days_of_changed_orders(analytics_dir: Path) -> None:
    # given
    shop = create_shop(platform=Platform.TMALL)
    first = create_order(
        shop=shop, external_id="A", lines=[("X", 1, "10.00")], placed_at=sample_data.at(DAY, 10)
    )
    create_order(
        shop=shop,
        external_id="B",
        lines=[("X", 1, "10.00")],
        placed_at=sample_data.at(DAY + dt.timedelta(days=3), 10),
    )
    Order.objects.update(updated_at=timezone.now() - dt.timedelta(hours=1))  # written an hour ago
    facts.sync()
    untouched = facts._partition("orders", DAY + dt.timedelta(days=3), analytics_dir).stat().st_mtime_ns
    # when: a bulk path that does not bump updated_at (the review's update) but logs an event
    Order.objects.filter(pk=first.pk).update(is_valid=False)
    OrderEvent.objects.create(order=first, kind=OrderEventKind.REVIEWED, via="system")
    affected = facts.sync()
    # then
    assert affected == {DAY}
    assert _orders(analytics_dir)["A"]["is_valid"] is False
    assert (
        facts._partition("orders", DAY + dt.timedelta(days=3), analytics_dir).stat().st_mtime_ns == untouched
    )
    assert facts.sync() == set()


def test_full_sync_reconciles_a_change_no_watermark_saw(analytics_dir: Path) -> None:
    # given: an update that bypassed both updated_at and the order timeline
    shop = create_shop(platform=Platform.TMALL)
    order = create_order(
        shop=shop, external_id="A", lines=[("X", 1, "10.00")], placed_at=sample_data.at(DAY, 10)
    )
    Order.objects.update(updated_at=timezone.now() - dt.timedelta(hours=1))
    facts.sync()
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.CLOSED, refunded_amount=Decimal("10.00"))
    assert facts.sync() == set()
    # when
    affected = facts.sync(full=True)
    # then
    assert DAY in affected
    assert _orders(analytics_dir)["A"]["refunded_amount"] == Decimal("10.00")


def test_ad_spend_days_are_rewritten_when_rows_change_or_go(analytics_dir: Path) -> None:
    # given
    shop = create_shop(platform=Platform.JD)
    row = AdSpend.objects.create(
        shop=shop, day=DAY, ad_channel="京东快车", campaign="c", spend=Decimal("99.50")
    )
    assert facts.sync() == {DAY}
    # when
    AdSpend.objects.create(
        shop=shop, day=DAY + dt.timedelta(days=1), ad_channel="京东快车", spend=Decimal("1.00")
    )
    second = facts.sync()
    row.delete()
    third = facts.sync()
    # then
    assert second == {DAY + dt.timedelta(days=1)}
    assert third == {DAY}
    table = pq.read_table(facts._partition("ad_spend", DAY + dt.timedelta(days=1), analytics_dir))
    assert table.to_pylist()[0]["spend"] == Decimal("1.00")
    assert table.to_pylist()[0]["channel"] == "jd"
    assert not facts._partition("ad_spend", DAY, analytics_dir).exists()


# shipments


def _shipments(root: Path) -> dict[int, dict[str, Any]]:
    con = tables.connect(root=root)
    rows = con.execute("SELECT * FROM shipments").to_arrow_table().to_pylist()
    return {row["shipment_id"]: row for row in rows}


def _paid_order(shop: Any, sku: Any, external_id: str, paid_at: dt.datetime) -> Order:
    return create_order(
        shop=shop,
        external_id=external_id,
        lines=[(sku, 1, "30.00")],
        placed_at=paid_at - dt.timedelta(minutes=10),
        paid_at=paid_at,
    )


def _backdate(shipment: Shipment, moment: dt.datetime) -> None:
    Shipment.objects.filter(pk=shipment.pk).update(created_at=moment)  # created_at is auto_now_add


@pytest.fixture
def stocked_sku() -> Any:
    sku = create_sku(merchant_code="SKU-S")
    stock(sku=sku, warehouse=create_warehouse(code="HZ"), on_hand=20)
    return sku


def _parcel(order: Order) -> Shipment:
    """A parcel with every unit of the order, from the stocked warehouse."""
    return parcel_for(order, warehouse_id=Warehouse.objects.get(code="HZ").pk)


def test_empty_shipments_view_is_typed(analytics_dir: Path) -> None:
    con = tables.connect(root=analytics_dir)
    types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE shipments)").fetchall())
    assert con.execute("SELECT count(*) FROM shipments").fetchone() == (0,)
    assert (types["shipment_id"], types["day"], types["ship_hours"], types["shipped_at"]) == (
        "BIGINT",
        "DATE",
        "DOUBLE",
        "TIMESTAMP WITH TIME ZONE",
    )


def test_shipped_and_delivered_parcel_lands_with_its_hours(analytics_dir: Path, stocked_sku: Any) -> None:
    # given: paid 10:00 on DAY (Shanghai), shipped DAY+1 16:30, signed for DAY+3 09:30; a second parcel
    # of another order still waits in the warehouse
    shop = create_shop(platform=Platform.TMALL, code="tm")
    paid_at = sample_data.at(DAY, 10)
    shipped_at = sample_data.at(DAY + dt.timedelta(days=1), 16, 30)
    signed_at = sample_data.at(DAY + dt.timedelta(days=3), 9, 30)
    order = _paid_order(shop, stocked_sku, "S1", paid_at)
    waiting_order = _paid_order(shop, stocked_sku, "S2", paid_at)
    parcel = fulfillment_services.ship_shipment(
        actor=None,
        shipment_id=_parcel(order).pk,
        carrier="SF",
        tracking_number="SF1234567890123",
        shipped_at=shipped_at,
    )
    _backdate(parcel, sample_data.at(DAY, 23, 30))  # 23:30 Shanghai: DAY, although UTC says DAY−1
    fulfillment_services.add_tracking_events(
        actor=None,
        shipment_id=parcel.pk,
        source="api",
        events=[
            fulfillment_services.TrackingEventInput(occurred_at=signed_at, state="3", description="签收")
        ],
    )
    waiting = _parcel(waiting_order)
    _backdate(waiting, sample_data.at(DAY + dt.timedelta(days=5), 8))
    # when
    facts.sync()
    # then: hours by hand — DAY 10:00 → DAY+1 16:30 is 30.5 h; DAY+1 16:30 → DAY+3 09:30 is 41 h
    rows = _shipments(analytics_dir)
    shipped = rows[parcel.pk]
    assert (shipped["status"], shipped["carrier"], shipped["channel"], shipped["source"]) == (
        ShipmentStatus.DELIVERED,
        "SF",
        "tmall",
        "system",
    )
    assert (shipped["order_id"], shipped["order_ids"], shipped["shop_id"]) == (
        order.pk,
        str(order.pk),
        shop.pk,
    )
    assert shipped["day"] == DAY
    assert (shipped["shipped_at"], shipped["delivered_at"]) == (shipped_at, signed_at)
    assert shipped["ship_hours"] == pytest.approx(30.5)
    assert shipped["delivery_hours"] == pytest.approx(41.0)
    assert shipped["warehouse_id"] == Shipment.objects.get(pk=parcel.pk).warehouse_id
    pending = rows[waiting.pk]
    assert (pending["status"], pending["carrier"], pending["day"]) == (
        ShipmentStatus.PENDING,
        "",
        DAY + dt.timedelta(days=5),
    )
    assert (pending["shipped_at"], pending["ship_hours"], pending["delivery_hours"]) == (None, None, None)
    assert facts._partition("shipments", DAY, analytics_dir).exists()


def test_a_later_status_change_resyncs_only_its_day(analytics_dir: Path, stocked_sku: Any) -> None:
    # given: two waiting parcels on two days, synced
    shop = create_shop(platform=Platform.TMALL, code="tm")
    first = _parcel(_paid_order(shop, stocked_sku, "P1", sample_data.at(DAY, 9)))
    second = _parcel(_paid_order(shop, stocked_sku, "P2", sample_data.at(DAY, 9)))
    _backdate(first, sample_data.at(DAY, 12))
    _backdate(second, sample_data.at(DAY + dt.timedelta(days=3), 12))
    assert facts.sync_shipments() == {DAY, DAY + dt.timedelta(days=3)}
    other = facts._partition("shipments", DAY + dt.timedelta(days=3), analytics_dir)
    untouched = other.stat().st_mtime_ns
    assert facts.sync_shipments() == set()
    # when: the first parcel is picked (a status move through the service)
    fulfillment_services.pick_shipment(actor=None, shipment_id=first.pk)
    written = facts.sync_shipments()
    # then
    assert written == {DAY}
    assert _shipments(analytics_dir)[first.pk]["status"] == ShipmentStatus.PICKING
    assert other.stat().st_mtime_ns == untouched
    assert facts.sync_shipments() == set()


def test_full_sync_reconciles_a_parcel_change_no_watermark_saw(analytics_dir: Path, stocked_sku: Any) -> None:
    # given
    shop = create_shop(platform=Platform.TMALL, code="tm")
    parcel = _parcel(_paid_order(shop, stocked_sku, "F1", sample_data.at(DAY, 9)))
    _backdate(parcel, sample_data.at(DAY, 12))
    facts.sync_shipments()
    Shipment.objects.filter(pk=parcel.pk).update(status=ShipmentStatus.CANCELLED)  # bypasses the services
    assert facts.sync_shipments() == set()
    # when
    written = facts.sync_shipments(full=True)
    # then
    assert written == {DAY}
    assert _shipments(analytics_dir)[parcel.pk]["status"] == ShipmentStatus.CANCELLED
