import re

import pytest
from django.test import Client

from shopops.fulfillment.models import Shipment, ShipmentStatus, TrackingEvent
from shopops.inventory.models import StockLevel, StockMovement
from shopops.inventory.tests.factories import create_sku, create_warehouse, stock
from shopops.orders.models import OrderStatus
from shopops.orders.tests.factories import create_order, create_shop
from shopops.purchasing.tests.factories import grant

VIEW = "fulfillment.view_shipment"
CHANGE = "fulfillment.change_shipment"
SHIP = "fulfillment.ship_shipment"
# session, user, permissions (2), page, lines with their order lines, count
LIST_QUERIES = 7


@pytest.fixture
def world(admin_user):
    warehouse = create_warehouse(code="HZ")
    sku = create_sku()
    stock(sku=sku, warehouse=warehouse, on_hand=20)
    shop, other_shop = create_shop(code="mine"), create_shop(code="theirs")
    order = create_order(shop=shop, lines=[(sku, 3, "10.00")], receiver_phone="13900000001")
    sibling = create_order(shop=shop, lines=[(sku, 1, "10.00")], receiver_phone="13900000001")
    split_me = create_order(
        shop=shop, lines=[(sku, 1, "10.00")], receiver_name="拆单", receiver_phone="13900000002"
    )
    foreign = create_order(shop=other_shop, lines=[(sku, 1, "10.00")], receiver_phone="13900000003")
    client = Client()
    client.force_login(admin_user)
    shipment = client.post(
        "/api/v1/shipments",
        {"lines": [{"order_line_id": order.lines.get().pk, "quantity": 1}]},
        content_type="application/json",
    ).json()
    foreign_shipment = client.post(
        "/api/v1/shipments",
        {"lines": [{"order_line_id": foreign.lines.get().pk, "quantity": 1}]},
        content_type="application/json",
    ).json()
    spares = [
        create_order(
            shop=shop, lines=[(sku, 1, "10.00")], receiver_name=f"备用{n}", receiver_phone=f"1370000000{n}"
        )
        for n in range(2)
    ]
    cancel_me, bulk_me = (
        client.post(
            "/api/v1/shipments",
            {"lines": [{"order_line_id": spare.lines.get().pk, "quantity": 1}]},
            content_type="application/json",
        ).json()["id"]
        for spare in spares
    )
    return {
        "cancel_me": cancel_me,
        "bulk_me": bulk_me,
        "warehouse": warehouse,
        "sku": sku,
        "shop": shop,
        "other_shop": other_shop,
        "order": order,
        "sibling": sibling,
        "split_me": split_me,
        "foreign": foreign,
        "shipment": Shipment.objects.get(pk=shipment["id"]),
        "foreign_shipment": Shipment.objects.get(pk=foreign_shipment["id"]),
    }


def operations(world) -> list[tuple[str, str, str, dict | None]]:
    shipment, order = world["shipment"].pk, world["order"]
    return [
        ("get", "/api/v1/carriers", VIEW, None),
        ("get", "/api/v1/shipments", VIEW, None),
        ("get", "/api/v1/shipments/merge-candidates", VIEW, None),
        ("get", f"/api/v1/shipments/{shipment}", VIEW, None),
        (
            "post",
            "/api/v1/shipments",
            CHANGE,
            {"lines": [{"order_line_id": order.lines.get().pk, "quantity": 1}]},
        ),
        ("post", "/api/v1/shipments/split", CHANGE, {"order_id": world["split_me"].pk, "by": "warehouse"}),
        ("post", "/api/v1/shipments/merge", CHANGE, {"order_ids": [order.pk, world["sibling"].pk]}),
        ("post", f"/api/v1/shipments/{shipment}/pick", CHANGE, {}),
        ("post", f"/api/v1/shipments/{shipment}/pack", CHANGE, {}),
        ("post", f"/api/v1/shipments/{world['cancel_me']}/cancel", CHANGE, {"reason": "x"}),
        (
            "post",
            f"/api/v1/shipments/{shipment}/ship",
            SHIP,
            {"carrier": "SF", "tracking_number": "SF1234567890123"},
        ),
        (
            "post",
            "/api/v1/shipments/bulk-ship",
            SHIP,
            {
                "items": [
                    {"shipment_id": world["bulk_me"], "carrier": "SF", "tracking_number": "SF1234567890124"}
                ]
            },
        ),
        (
            "post",
            "/api/v1/shipments/ship-orders",
            SHIP,
            {"carrier": "SF", "items": [{"order_id": world["split_me"].pk}]},  # left blank: nothing moves
        ),
        (
            "post",
            "/api/v1/shipments/tracking",
            CHANGE,
            {
                "parcels": [
                    {
                        "carrier": "SF",
                        "tracking_number": "SF0000000000000",
                        "events": [{"occurred_at": "2026-06-01T10:00:00+08:00", "state": "0"}],
                    }
                ]
            },
        ),
        ("get", "/api/v1/fulfillment/at-risk-orders", VIEW, None),
        ("get", "/api/v1/fulfillment/shipping-times", VIEW, None),
    ]


def call(client: Client, method: str, path: str, body: dict | None):
    if method == "get":
        return client.get(path)
    return client.post(path, body or {}, content_type="application/json")


def state() -> tuple:
    return (
        list(Shipment.objects.order_by("pk").values_list("pk", "status", "tracking_number")),
        TrackingEvent.objects.count(),
        StockMovement.objects.count(),
        list(StockLevel.objects.order_by("pk").values_list("on_hand", "reserved")),
    )


def template(path: str) -> str:
    return re.sub(r"/shipments/\d+", "/shipments/{shipment_id}", path)


@pytest.mark.django_db
def test_every_operation_is_in_the_matrix(world):
    schema = Client().get("/api/openapi.json").json()
    served = {
        (method, path)
        for path, methods in schema["paths"].items()
        if path.startswith(("/api/v1/shipments", "/api/v1/carriers", "/api/v1/fulfillment"))
        for method in methods
    }
    listed = {(method, template(path)) for method, path, _permission, _body in operations(world)}
    assert served == listed


@pytest.mark.django_db
def test_anonymous_is_401_everywhere(world):
    before = state()
    for method, path, _permission, body in operations(world):
        assert call(Client(), method, path, body).status_code == 401, (method, path)
    assert state() == before


@pytest.mark.django_db
def test_without_permission_is_403_and_changes_nothing(world, make_user, api_client_for):
    # given a promotion user (no fulfillment permissions) and an operations user (view only)
    nobody = api_client_for(make_user("promotion"))
    viewer = api_client_for(make_user("operations"))
    before = state()
    for method, path, permission, body in operations(world):
        response = call(nobody, method, path, body)
        assert response.status_code == 403, (method, path)
        assert response.json()["fields"] == {"permission": permission}
        if permission != VIEW:
            assert call(viewer, method, path, body).status_code == 403, (method, path)
    assert state() == before


@pytest.mark.django_db
def test_each_permission_opens_its_operation(world, make_user, api_client_for):
    for method, path, permission, body in operations(world):
        client = api_client_for(grant(make_user(), permission))
        response = call(client, method, path, body)
        assert response.status_code in (200, 201), (method, path, response.content)


@pytest.mark.django_db
def test_out_of_scope_shop_is_404_and_changes_nothing(world, make_user, api_client_for):
    # given a warehouse user limited to the first shop
    client = api_client_for(make_user("warehouse", shops=[world["shop"]]))
    foreign, foreign_order = world["foreign_shipment"].pk, world["foreign"]
    before = state()
    # when touching the other shop's parcel and order
    answers = [
        client.get(f"/api/v1/shipments/{foreign}").status_code,
        call(client, "post", f"/api/v1/shipments/{foreign}/pick", {}).status_code,
        call(client, "post", f"/api/v1/shipments/{foreign}/cancel", {}).status_code,
        call(
            client, "post", f"/api/v1/shipments/{foreign}/ship", {"carrier": "SF", "tracking_number": "SF1"}
        ).status_code,
        call(
            client,
            "post",
            "/api/v1/shipments",
            {"lines": [{"order_line_id": foreign_order.lines.get().pk, "quantity": 1}]},
        ).status_code,
        call(client, "post", "/api/v1/shipments/split", {"order_id": foreign_order.pk}).status_code,
    ]
    bulk = call(
        client,
        "post",
        "/api/v1/shipments/bulk-ship",
        {"items": [{"shipment_id": foreign, "carrier": "SF", "tracking_number": "SF1234567890999"}]},
    ).json()
    listed = client.get("/api/v1/shipments").json()
    # then the other shop's records do not exist for them
    assert answers == [404, 404, 404, 404, 404, 404]
    assert bulk["results"][0]["code"] == "not_found"
    assert sorted(item["id"] for item in listed["items"]) == sorted(
        [world["shipment"].pk, world["cancel_me"], world["bulk_me"]]
    )
    assert state() == before


@pytest.mark.django_db
def test_warehouse_user_picks_packs_ships_and_tracks_a_parcel(world, make_user, api_client_for):
    # given a warehouse user and the pending parcel of 1 unit
    client = api_client_for(make_user("warehouse"))
    shipment = world["shipment"].pk
    # when picked, packed and shipped with a short SF number
    assert call(client, "post", f"/api/v1/shipments/{shipment}/pick", {}).json()["status"] == "picking"
    assert call(client, "post", f"/api/v1/shipments/{shipment}/pack", {}).json()["status"] == "packed"
    shipped = call(
        client,
        "post",
        f"/api/v1/shipments/{shipment}/ship",
        {"carrier": "顺丰", "tracking_number": "SF123456789", "shipping_cost": "8.50"},
    ).json()
    # then it is shipped with warnings, and the order is partially shipped (1 of 3)
    assert (shipped["status"], shipped["carrier_name"], shipped["shipping_cost"]) == (
        "shipped",
        "顺丰速运",
        "8.50",
    )
    assert shipped["warnings"] == ["运单号 SF123456789 不符合顺丰速运的常见格式（^SF\\d{13}$）"]
    assert shipped["order_ids"] == [world["order"].pk]
    world["order"].refresh_from_db()
    assert world["order"].status == OrderStatus.PARTIALLY_SHIPPED
    # and its scans are pushed twice: recorded once
    push = {
        "parcels": [
            {
                "carrier": "shunfeng",
                "tracking_number": "SF123456789",
                "events": [
                    {"occurred_at": "2026-06-01T10:00:00+08:00", "state": "1", "location": "杭州"},
                    {"occurred_at": "2026-06-02T09:00:00+08:00", "state": "签收"},
                ],
            },
            {
                "tracking_number": "NOPE0000",
                "events": [{"occurred_at": "2026-06-01T10:00:00+08:00", "state": "0"}],
            },
        ]
    }
    first = call(client, "post", "/api/v1/shipments/tracking", push).json()
    second = call(client, "post", "/api/v1/shipments/tracking", push).json()
    assert (first["created"], first["unchanged"], first["failed"]) == (2, 0, 1)
    assert (second["created"], second["unchanged"], second["failed"]) == (0, 2, 1)
    assert first["results"][0]["status"] == ShipmentStatus.DELIVERED
    assert first["results"][1]["code"] == "not_found"
    detail = client.get(f"/api/v1/shipments/{shipment}").json()
    assert [(event["state"], event["state_label"]) for event in detail["tracking_events"]] == [
        ("1", "揽收"),
        ("3", "签收"),
    ]
    assert detail["delivered_at"] == "2026-06-02T09:00:00+08:00"


@pytest.mark.django_db
def test_merge_endpoint_refuses_different_receivers(world, make_user, api_client_for):
    client = api_client_for(make_user("warehouse"))
    before = state()
    response = call(
        client, "post", "/api/v1/shipments/merge", {"order_ids": [world["order"].pk, world["split_me"].pk]}
    )
    assert (response.status_code, response.json()["code"]) == (422, "receiver_mismatch")
    assert state() == before


@pytest.mark.django_db
def test_list_filters(world, make_user, api_client_for):
    client = api_client_for(make_user("warehouse"))
    by_shop = client.get(f"/api/v1/shipments?shop={world['other_shop'].pk}").json()
    by_order = client.get(f"/api/v1/shipments?order={world['order'].pk}").json()
    shipped = client.get("/api/v1/shipments?status=shipped").json()
    assert [item["id"] for item in by_shop["items"]] == [world["foreign_shipment"].pk]
    assert [item["id"] for item in by_order["items"]] == [world["shipment"].pk]
    assert shipped == {"count": 0, "items": []}


@pytest.mark.django_db
def test_shipment_list_queries_do_not_grow_with_rows(
    world, make_user, api_client_for, django_assert_num_queries
):
    # given the list with 4 parcels
    client = Client()
    client.force_login(make_user("warehouse"))
    client.get("/api/v1/shipments")  # warm the session
    with django_assert_num_queries(LIST_QUERIES):
        assert client.get("/api/v1/shipments").json()["count"] == 4
    # when 3 more parcels exist
    for number in range(3):
        order = create_order(
            shop=world["shop"],
            lines=[(world["sku"], 1, "10.00")],
            receiver_name=f"多{number}",
            receiver_phone=f"1350000001{number}",
        )
        call(
            client,
            "post",
            "/api/v1/shipments",
            {"lines": [{"order_line_id": order.lines.get().pk, "quantity": 1}]},
        )
    # then listing them costs the same number of queries
    with django_assert_num_queries(LIST_QUERIES):
        assert client.get("/api/v1/shipments").json()["count"] == 7
