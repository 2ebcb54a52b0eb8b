import pytest
from django.test import Client
from django.urls import reverse

from shopops.fulfillment import services
from shopops.fulfillment.models import Shipment, ShipmentStatus
from shopops.inventory.models import StockLevel
from shopops.inventory.tests.factories import create_sku, create_warehouse, stock
from shopops.orders.models import OrderStatus
from shopops.orders.tests.factories import create_order, create_shop

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def world(admin_user):
    warehouse = create_warehouse(code="HZ")
    sku = create_sku()
    stock(sku=sku, warehouse=warehouse, on_hand=10)
    shop = create_shop()
    order = create_order(shop=shop, lines=[(sku, 2, "10.00")], receiver_phone="13600000001")
    other = create_order(
        shop=shop, lines=[(sku, 1, "10.00")], receiver_name="李四", receiver_phone="13600000002"
    )
    shipment = services.create_shipment(actor=admin_user, lines={other.lines.get().pk: 1})
    return {"warehouse": warehouse, "sku": sku, "order": order, "other": other, "shipment": shipment}


def pages(world) -> list[str]:
    return [
        reverse("admin:fulfillment_shipment_changelist"),
        reverse("admin:fulfillment_shipment_change", args=[world["shipment"].pk]),
        reverse("admin:fulfillment_shipment_at_risk"),
        reverse("admin:fulfillment_shipment_ship_orders") + f"?orders={world['order'].pk}",
        reverse("admin:fulfillment_carrier_changelist"),
        reverse("admin:fulfillment_trackingevent_changelist"),
    ]


def test_pages_render_for_the_warehouse_role(world, make_user):
    client = client_for(make_user("warehouse"))
    for url in pages(world):
        assert client.get(url).status_code == 200, url


def test_pages_are_closed_to_a_role_without_fulfillment(world, make_user):
    client = client_for(make_user("promotion"))
    for url in pages(world):
        assert client.get(url).status_code in (302, 403), url


def test_view_only_role_cannot_open_the_ship_page(world, make_user):
    client = client_for(make_user("operations"))
    assert client.get(reverse("admin:fulfillment_shipment_changelist")).status_code == 200
    assert client.get(reverse("admin:fulfillment_shipment_ship_orders")).status_code == 403


def test_ship_orders_page_creates_and_ships_one_parcel_per_order(world, make_user):
    # given the ship page for one order of 2 units
    client = client_for(make_user("warehouse"))
    order = world["order"]
    url = reverse("admin:fulfillment_shipment_ship_orders") + f"?orders={order.pk}"
    sf = services.find_carrier("SF")
    # when confirmed with a carrier and a tracking number
    response = client.post(
        url,
        {
            "step": "apply",
            "carrier": sf.pk,
            f"tracking_{order.pk}": "SF1234567890123",
            f"cost_{order.pk}": "9.00",
        },
    )
    # then a shipped parcel exists, the order is shipped and 2 units left the warehouse
    assert response.status_code == 302
    parcel = Shipment.objects.get(tracking_number="SF1234567890123")
    assert (parcel.status, str(parcel.shipping_cost)) == (ShipmentStatus.SHIPPED, "9.00")
    order.refresh_from_db()
    assert order.status == OrderStatus.SHIPPED
    level = StockLevel.objects.get(sku=world["sku"], warehouse=world["warehouse"])
    assert (level.on_hand, level.reserved) == (8, 1)


def test_ship_action_asks_for_tracking_numbers_then_ships(world, make_user):
    client = client_for(make_user("warehouse"))
    shipment = world["shipment"]
    changelist = reverse("admin:fulfillment_shipment_changelist")
    form = client.post(changelist, {"action": "ship_selected", "_selected_action": [shipment.pk]})
    assert form.status_code == 200
    assert f"tracking_{shipment.pk}" in form.content.decode()
    done = client.post(
        changelist,
        {
            "action": "ship_selected",
            "_selected_action": [shipment.pk],
            "step": "apply",
            "carrier": services.find_carrier("ZTO").pk,
            f"tracking_{shipment.pk}": "75312345678901",
            f"cost_{shipment.pk}": "6.00",
        },
    )
    assert done.status_code == 302
    shipment.refresh_from_db()
    assert (shipment.status, shipment.tracking_number) == (ShipmentStatus.SHIPPED, "75312345678901")


def test_pick_and_cancel_actions(world, make_user):
    client = client_for(make_user("warehouse"))
    shipment = world["shipment"]
    changelist = reverse("admin:fulfillment_shipment_changelist")
    client.post(changelist, {"action": "pick_selected", "_selected_action": [shipment.pk]})
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.PICKING
    client.post(
        changelist,
        {"action": "cancel_selected", "_selected_action": [shipment.pk], "step": "apply", "reason": "缺货"},
    )
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.CANCELLED


def test_other_shops_parcels_are_hidden(world, make_user):
    client = client_for(make_user("warehouse", shops=[create_shop()]))
    url = reverse("admin:fulfillment_shipment_change", args=[world["shipment"].pk])
    assert client.get(url).status_code == 302  # "does not exist" redirect


def test_ship_orders_page_takes_a_warehouse_for_orders_without_reservation(world, make_user):
    # given an order from before stock tracking started for its shop (no reservation, no stock effect)
    shop = create_shop(settings={"stock_effects_since": "2099-01-01T00:00:00+08:00"})
    order = create_order(shop=shop, lines=[(world["sku"], 1, "10.00")], receiver_phone="13600000009")
    url = reverse("admin:fulfillment_shipment_ship_orders") + f"?orders={order.pk}"
    before = StockLevel.objects.get(sku=world["sku"], warehouse=world["warehouse"])
    # when shipped from the chosen warehouse
    client_for(make_user("warehouse")).post(
        url,
        {
            "step": "apply",
            "carrier": services.find_carrier("YTO").pk,
            "warehouse": world["warehouse"].pk,
            f"tracking_{order.pk}": "YT1234567890123",
            f"cost_{order.pk}": "5.00",
        },
    )
    # then the parcel left that warehouse and stock did not move
    parcel = Shipment.objects.get(tracking_number="YT1234567890123")
    assert (parcel.warehouse_id, parcel.status) == (world["warehouse"].pk, ShipmentStatus.SHIPPED)
    after = StockLevel.objects.get(sku=world["sku"], warehouse=world["warehouse"])
    assert (after.on_hand, after.reserved) == (before.on_hand, before.reserved)
    order.refresh_from_db()
    assert order.status == OrderStatus.SHIPPED
