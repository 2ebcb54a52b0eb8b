"""Bulk ship (issue 11 §1): one result per row, in the order given, saying the real reason — a row left
without a tracking number is reported (never silently skipped), an order whose units wait in an open parcel
names that parcel, a parcel outside the user's scope is not found. Service, admin pages and API alike."""

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from shopops.fulfillment import services
from shopops.fulfillment.models import Shipment, ShipmentStatus
from shopops.fulfillment.tests.factories import carrier, parcel_for
from shopops.inventory.models import StockLevel
from shopops.inventory.tests.factories import create_sku, create_warehouse, stock
from shopops.orders.models import Order, OrderStatus
from shopops.orders.tests.factories import create_order, create_shop

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    warehouse = create_warehouse(code="HZ")
    sku = create_sku()
    stock(sku=sku, warehouse=warehouse, on_hand=20)
    shop = create_shop(code="tmall-main")
    other_shop = create_shop(code="jd-main")
    sf = carrier("SF")
    return {"warehouse": warehouse, "sku": sku, "shop": shop, "other_shop": other_shop, "carrier": sf}


def order_of(world, shop=None, units=1):
    return create_order(shop=shop or world["shop"], lines=[(world["sku"], units, "10.00")])


def on_hand(world):
    return StockLevel.objects.get(sku=world["sku"], warehouse=world["warehouse"]).on_hand


def test_bulk_ship_orders_reports_blank_rows_and_names_the_open_parcel(world, admin_user):
    # given three paid orders: one to ship, one left blank, one whose unit already waits in a parcel being picked
    to_ship, left_blank, in_parcel = order_of(world), order_of(world), order_of(world)
    picking = parcel_for(in_parcel, actor=admin_user)
    services.pick_shipment(actor=admin_user, shipment_id=picking.pk)
    # when they are shipped in one go
    results = services.bulk_ship_orders(
        actor=admin_user,
        carrier="SF",
        items=[
            services.OrderShipItem(order_id=to_ship.pk, tracking_number="SF1234567890123"),
            services.OrderShipItem(order_id=left_blank.pk, tracking_number="  "),
            services.OrderShipItem(order_id=in_parcel.pk, tracking_number="SF1234567890124"),
        ],
    )
    # then each order has its result, in order, with the real reason
    assert [(r.order_id, r.is_shipped, r.is_skipped, r.code) for r in results] == [
        (to_ship.pk, True, False, ""),
        (left_blank.pk, False, True, "tracking_number_missing"),
        (in_parcel.pk, False, False, "open_parcel_exists"),
    ]
    assert results[1].message == "未填运单号，未发货"
    assert results[2].message == (
        f"订单 {in_parcel.external_id} 已有拣货中的包裹 #{picking.pk}，请在包裹列表中为它发货或先取消它"
    )
    assert [r.order_number for r in results] == [
        to_ship.external_id,
        left_blank.external_id,
        in_parcel.external_id,
    ]
    # and only the first order moved: shipped, one unit out of stock (20 − 1)
    statuses = dict(Order.objects.values_list("pk", "status"))
    assert statuses[to_ship.pk] == OrderStatus.SHIPPED
    assert statuses[left_blank.pk] == statuses[in_parcel.pk] == OrderStatus.PAID
    assert on_hand(world) == 19
    assert Shipment.objects.get(pk=picking.pk).status == ShipmentStatus.PICKING


def test_bulk_ship_orders_refuses_an_order_with_nothing_left(world, admin_user):
    # given an order already shipped in full
    order = order_of(world)
    services.bulk_ship_orders(
        actor=admin_user,
        carrier="SF",
        items=[services.OrderShipItem(order_id=order.pk, tracking_number="SF1234567890123")],
    )
    # when it is shipped again
    (again,) = services.bulk_ship_orders(
        actor=admin_user,
        carrier="SF",
        items=[services.OrderShipItem(order_id=order.pk, tracking_number="SF1234567890125")],
    )
    # then the refusal says the order's state, not an empty-lines error
    assert (again.is_shipped, again.code) == (False, "order_not_shippable")
    assert again.message == f"订单 {order.external_id} 状态为“已发货”，不能发货"


def test_bulk_ship_parcels_reports_blank_and_out_of_scope_rows(world, admin_user, make_user):
    # given two parcels of the user's shop and one of another shop
    mine, blank = parcel_for(order_of(world), actor=admin_user), parcel_for(order_of(world), actor=admin_user)
    foreign = parcel_for(order_of(world, shop=world["other_shop"]), actor=admin_user)
    clerk = make_user("warehouse", shops=[world["shop"]])
    # when the clerk ships all three, one left blank
    results = services.bulk_ship(
        actor=clerk,
        items=[
            services.BulkShipItem(shipment_id=mine.pk, carrier="SF", tracking_number="SF1234567890123"),
            services.BulkShipItem(shipment_id=blank.pk, carrier="SF", tracking_number=""),
            services.BulkShipItem(shipment_id=foreign.pk, carrier="SF", tracking_number="SF1234567890124"),
        ],
    )
    # then: shipped, left blank, not found (the kit's one sentence)
    assert [(r.shipment_id, r.is_shipped, r.is_skipped, r.code, r.message) for r in results] == [
        (mine.pk, True, False, "", ""),
        (blank.pk, False, True, "tracking_number_missing", "未填运单号，未发货"),
        (foreign.pk, False, False, "not_found", "发货单不存在或不在您的权限范围内"),
    ]
    assert Shipment.objects.get(pk=foreign.pk).status == ShipmentStatus.PENDING


def _messages(response):
    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]


def test_admin_ship_orders_page_reports_every_order(world, make_user):
    # given a warehouse user and two orders, the second left blank on the form
    shipped, blank = order_of(world), order_of(world)
    client = Client()
    client.force_login(make_user("warehouse"))
    url = reverse("admin:fulfillment_shipment_ship_orders") + f"?orders={shipped.pk},{blank.pk}"
    # when the form is sent
    response = client.post(
        url,
        {
            "step": "apply",
            "carrier": world["carrier"].pk,
            f"tracking_{shipped.pk}": "SF1234567890123",
            f"cost_{shipped.pk}": "8.00",
            f"tracking_{blank.pk}": "",
            f"cost_{blank.pk}": "0.00",
        },
    )
    # then one order shipped and the blank one is named, not silently dropped
    assert response.status_code == 302
    assert _messages(response) == [
        ("success", "已发货 1 个订单"),
        ("warning", f"未填运单号，未发货（1）：订单 {blank.external_id}"),
    ]


def test_admin_ship_orders_page_says_which_parcel_holds_the_units(world, make_user, admin_user):
    # given an order whose unit is already in a pending parcel
    order = order_of(world)
    parcel = parcel_for(order, actor=admin_user)
    client = Client()
    client.force_login(make_user("warehouse"))
    url = reverse("admin:fulfillment_shipment_ship_orders") + f"?orders={order.pk}"
    # when it is shipped from the orders page
    response = client.post(
        url,
        {"step": "apply", "carrier": world["carrier"].pk, f"tracking_{order.pk}": "SF1234567890123"}
        | {f"cost_{order.pk}": "0.00"},
    )
    # then the error names the parcel by its label and status
    assert _messages(response) == [
        (
            "error",
            f"订单 {order.external_id} 已有待拣货的包裹 #{parcel.pk}，请在包裹列表中为它发货或先取消它",
        )
    ]


def test_admin_ship_selected_parcels_reports_blank_rows(world, make_user, admin_user):
    # given two pending parcels, the second left blank
    first, second = (
        parcel_for(order_of(world), actor=admin_user),
        parcel_for(order_of(world), actor=admin_user),
    )
    client = Client()
    client.force_login(make_user("warehouse"))
    # when the ship action is confirmed
    response = client.post(
        reverse("admin:fulfillment_shipment_changelist"),
        {
            "action": "ship_selected",
            "_selected_action": [first.pk, second.pk],
            "step": "apply",
            "carrier": world["carrier"].pk,
            f"tracking_{first.pk}": "SF1234567890123",
            f"cost_{first.pk}": "0.00",
            f"tracking_{second.pk}": "",
            f"cost_{second.pk}": "0.00",
        },
    )
    # then the first parcel shipped and the second is reported by its label
    assert _messages(response) == [
        ("success", "已发货 1 个包裹"),
        ("warning", f"未填运单号，未发货（1）：包裹 #{second.pk}"),
    ]
    assert Shipment.objects.get(pk=first.pk).status == ShipmentStatus.SHIPPED


def test_api_ship_orders_and_bulk_ship_give_per_row_results(world, make_user, api_client_for):
    # given a warehouse user's token, two orders (one left blank) and a parcel (left blank) plus one to ship
    client = api_client_for(make_user("warehouse"))
    shipped, blank = order_of(world), order_of(world)
    # when they ship the orders
    response = client.post(
        "/api/v1/shipments/ship-orders",
        {
            "carrier": "SF",
            "items": [
                {"order_id": shipped.pk, "tracking_number": "SF1234567890123"},
                {"order_id": blank.pk},
                {"order_id": 999999, "tracking_number": "SF1234567890126"},
            ],
        },
        content_type="application/json",
    )
    # then each order has its result
    assert response.status_code == 200
    body = response.json()
    assert (body["shipped"], body["skipped"], body["refused"]) == (1, 1, 1)
    assert [(r["order_id"], r["is_shipped"], r["is_skipped"], r["code"]) for r in body["results"]] == [
        (shipped.pk, True, False, ""),
        (blank.pk, False, True, "tracking_number_missing"),
        (999999, False, False, "not_found"),
    ]
    assert body["results"][0]["shipment_id"] == Shipment.objects.get(lines__order_line__order=shipped).pk
    # and the parcel endpoint reports a blank row the same way, with the parcel's status
    parcel = parcel_for(order_of(world))
    bulk = client.post(
        "/api/v1/shipments/bulk-ship",
        {"items": [{"shipment_id": parcel.pk, "carrier": "SF", "tracking_number": ""}]},
        content_type="application/json",
    ).json()
    assert (bulk["shipped"], bulk["skipped"], bulk["refused"]) == (0, 1, 0)
    assert bulk["results"] == [
        {
            "shipment_id": parcel.pk,
            "is_shipped": False,
            "is_skipped": True,
            "status": "pending",
            "code": "tracking_number_missing",
            "message": "未填运单号，未发货",
            "warnings": [],
        }
    ]
