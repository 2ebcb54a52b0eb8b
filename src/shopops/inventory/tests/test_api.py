import datetime as dt
import io
from decimal import Decimal

import openpyxl
import pytest
from django.test import Client
from django.utils import timezone

from shopops.core.models import AuditEntry
from shopops.inventory import services as inventory_services
from shopops.inventory.models import (
    MovementType,
    Reservation,
    ReservationStatus,
    StockLevel,
    StockMovement,
    Warehouse,
)
from shopops.inventory.tests.factories import create_bundle, create_sku, create_warehouse, stock

pytestmark = pytest.mark.django_db

SHANGHAI = dt.timezone(dt.timedelta(hours=8))

# Every inventory operation with a valid-looking body: (method, path, payload).
OPERATIONS = [
    ("get", "/api/v1/inventory/warehouses", None),
    ("post", "/api/v1/inventory/warehouses", {"code": "NEW", "name": "新仓"}),
    ("get", "/api/v1/inventory/warehouses/{warehouse}", None),
    ("patch", "/api/v1/inventory/warehouses/{warehouse}", {"name": "改名"}),
    ("get", "/api/v1/inventory/stock", None),
    ("get", "/api/v1/inventory/stock/{sku}", None),
    (
        "post",
        "/api/v1/inventory/adjustments",
        {"sku_id": "{sku}", "warehouse_id": "{warehouse}", "quantity_delta": 3, "reason": "盘点"},
    ),
    ("get", "/api/v1/inventory/movements", None),
    ("get", "/api/v1/inventory/reservations", None),
    (
        "post",
        "/api/v1/inventory/reservations",
        {"sku_id": "{sku}", "warehouse_id": "{warehouse}", "quantity": 1, "reference": "SO-9"},
    ),
    ("post", "/api/v1/inventory/reservations/release", {"reference": "SO-1"}),
    ("post", "/api/v1/inventory/reservations/commit", {"reference": "SO-1"}),
    ("get", "/api/v1/inventory/reports/stock-on-hand", None),
    ("get", "/api/v1/inventory/reports/slow-movers", None),
    ("get", "/api/v1/inventory/reports/stock-age", None),
    ("get", "/api/v1/inventory/reports/turnover?start=2020-01-01T00:00:00Z&end=2099-01-01T00:00:00Z", None),
]


def fill(value, names):
    if isinstance(value, str):
        for name, number in names.items():
            if value == "{" + name + "}":
                return number
            value = value.replace("{" + name + "}", str(number))
        return value
    if isinstance(value, dict):
        return {key: fill(item, names) for key, item in value.items()}
    return value


def call(client: Client, method: str, path: str, payload=None):
    if payload is None:
        return getattr(client, method)(path)
    return getattr(client, method)(path, payload, content_type="application/json")


def state():
    """Everything an inventory write could change."""
    return (
        list(Warehouse.objects.order_by("pk").values_list("pk", "code", "name", "is_active")),
        list(StockLevel.objects.order_by("pk").values_list("pk", "on_hand", "reserved", "safety_stock")),
        StockMovement.objects.count(),
        list(Reservation.objects.order_by("pk").values_list("pk", "status")),
    )


@pytest.fixture
def world(admin_user):
    """Two warehouses, one SKU with 10 units in each, and order SO-1 holding 2 units in the first."""
    first, second = create_warehouse(code="HZ"), create_warehouse(code="SH")
    sku = create_sku(merchant_code="TEE-BLK-M")
    stock(sku=sku, warehouse=first, on_hand=10, safety_stock=1)
    stock(sku=sku, warehouse=second, on_hand=10)
    inventory_services.reserve_stock(
        sku_id=sku.pk, warehouse_id=first.pk, quantity=2, reference="SO-1", actor=admin_user
    )
    return {"first": first, "second": second, "sku": sku}


def restricted_to(user, warehouse):
    inventory_services.set_warehouse_scope(user_id=user.pk, warehouse_ids=[warehouse.pk], actor=None)
    return user


# authorization matrix


@pytest.mark.parametrize(("method", "path", "payload"), OPERATIONS)
def test_anonymous_is_401_and_nothing_changes(world, method, path, payload):
    # given the world and an anonymous client
    names = {"sku": world["sku"].pk, "warehouse": world["first"].pk}
    before = state()
    # when calling the operation
    response = call(Client(), method, fill(path, names), fill(payload, names))
    # then refused, nothing written
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert state() == before


@pytest.mark.parametrize(("method", "path", "payload"), OPERATIONS)
def test_without_permission_is_403_and_nothing_changes(
    world, make_user, api_client_for, method, path, payload
):
    # given a designer (no inventory permissions)
    names = {"sku": world["sku"].pk, "warehouse": world["first"].pk}
    client = api_client_for(make_user("designer"))
    before = state()
    # when calling the operation
    response = call(client, method, fill(path, names), fill(payload, names))
    # then refused with the permission named, nothing written
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert state() == before


@pytest.mark.parametrize(
    ("method", "path", "payload"),
    [
        ("get", "/api/v1/inventory/warehouses/{warehouse}", None),
        ("patch", "/api/v1/inventory/warehouses/{warehouse}", {"name": "改名"}),
        (
            "post",
            "/api/v1/inventory/adjustments",
            {"sku_id": "{sku}", "warehouse_id": "{warehouse}", "quantity_delta": 3, "reason": "盘点"},
        ),
        (
            "post",
            "/api/v1/inventory/reservations",
            {"sku_id": "{sku}", "warehouse_id": "{warehouse}", "quantity": 1, "reference": "SO-9"},
        ),
        ("post", "/api/v1/inventory/reservations/release", {"reference": "SO-1"}),
        ("post", "/api/v1/inventory/reservations/commit", {"reference": "SO-1"}),
    ],
)
def test_out_of_scope_warehouse_is_404_and_nothing_changes(
    world, make_user, api_client_for, method, path, payload
):
    # given warehouse staff limited to the second warehouse, acting on the first
    names = {"sku": world["sku"].pk, "warehouse": world["first"].pk}
    client = api_client_for(restricted_to(make_user("warehouse"), world["second"]))
    before = state()
    # when calling the operation
    response = call(client, method, fill(path, names), fill(payload, names))
    # then it behaves as if the warehouse did not exist
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert state() == before


def test_view_only_role_cannot_write(world, make_user, api_client_for):
    # given operations staff (inventory view only)
    client = api_client_for(make_user("operations"))
    before = state()
    # when they read and then try to adjust
    read = client.get("/api/v1/inventory/stock")
    write = call(
        client,
        "post",
        "/api/v1/inventory/adjustments",
        {"sku_id": world["sku"].pk, "warehouse_id": world["first"].pk, "quantity_delta": 1, "reason": "x"},
    )
    # then reading works, writing is refused
    assert (read.status_code, write.status_code) == (200, 403)
    assert write.json()["fields"] == {"permission": "inventory.change_stocklevel"}
    assert state() == before


# warehouses


def test_warehouses_list_only_the_users_scope(world, make_user, api_client_for):
    # given a user limited to the second warehouse
    client = api_client_for(restricted_to(make_user("warehouse"), world["second"]))
    # when listing
    response = client.get("/api/v1/inventory/warehouses")
    # then only that warehouse is there
    assert response.status_code == 200
    assert [item["code"] for item in response.json()["items"]] == ["SH"]
    assert response.json()["count"] == 1


def test_create_warehouse_is_audited(make_user, api_client_for):
    # given warehouse staff
    user = make_user("warehouse")
    # when they create a 3PL warehouse
    response = call(
        api_client_for(user),
        "post",
        "/api/v1/inventory/warehouses",
        {"code": "3PL-1", "name": "菜鸟仓", "kind": "3pl", "address": "浙江省杭州市"},
    )
    # then it exists with exactly these values, audited
    assert response.status_code == 201
    warehouse = Warehouse.objects.get(code="3PL-1")
    body = response.json()
    assert body == {
        "id": warehouse.pk,
        "code": "3PL-1",
        "name": "菜鸟仓",
        "kind": "3pl",
        "is_active": True,
        "address": "浙江省杭州市",
        "created_at": timezone.localtime(warehouse.created_at).isoformat(),
    }
    assert (
        AuditEntry.objects.filter(action="warehouse.created", object_id=str(warehouse.pk), actor=user).count()
        == 1
    )


def test_create_duplicate_warehouse_is_409(world, admin_user, api_client_for):
    # given warehouse HZ exists
    # when another HZ is created
    response = call(
        api_client_for(admin_user), "post", "/api/v1/inventory/warehouses", {"code": "HZ", "name": "别名"}
    )
    # then conflict, nothing added
    assert response.status_code == 409
    assert response.json()["code"] == "duplicate_warehouse"
    assert Warehouse.objects.count() == 2


def test_update_warehouse_in_scope(world, make_user, api_client_for):
    # given a user limited to the second warehouse
    client = api_client_for(restricted_to(make_user("warehouse"), world["second"]))
    # when they deactivate and rename it
    response = call(
        client,
        "patch",
        f"/api/v1/inventory/warehouses/{world['second'].pk}",
        {"name": "上海仓", "is_active": False},
    )
    # then it changed
    assert response.status_code == 200
    assert (response.json()["name"], response.json()["is_active"]) == ("上海仓", False)
    world["second"].refresh_from_db()
    assert (world["second"].name, world["second"].is_active, world["second"].code) == ("上海仓", False, "SH")


def test_get_missing_warehouse_is_404(admin_user, api_client_for):
    assert api_client_for(admin_user).get("/api/v1/inventory/warehouses/999999").status_code == 404


# stock levels


def test_stock_list_exact_item(world, make_user, api_client_for):
    # given the world; HZ holds 10, reserved 2, safety 1
    level = StockLevel.objects.get(sku=world["sku"], warehouse=world["first"])
    # when customer service (view) lists stock of the first warehouse
    response = api_client_for(make_user("customer_service")).get(
        f"/api/v1/inventory/stock?warehouse={world['first'].pk}"
    )
    # then one exact row
    assert response.status_code == 200
    assert response.json() == {
        "count": 1,
        "items": [
            {
                "id": level.pk,
                "sku_id": world["sku"].pk,
                "merchant_code": "TEE-BLK-M",
                "product_name": world["sku"].product.name,
                "warehouse_id": world["first"].pk,
                "warehouse_code": "HZ",
                "on_hand": 10,
                "reserved": 2,
                "safety_stock": 1,
                "available": 7,
                "in_transit": 0,
                # 客服 sees sale prices only: no cost and no value at cost (catalog.view_cost, issue 11 §2)
                "cost_price": None,
                "value": None,
                "updated_at": timezone.localtime(level.updated_at).isoformat(),
            }
        ],
    }


def test_stock_list_filters_below_safety_category_and_ordering(world, admin_user, api_client_for):
    # given a second SKU below its safety stock in the second warehouse
    other = create_sku(merchant_code="CUP-1")
    stock(sku=other, warehouse=world["second"], on_hand=2, safety_stock=5)
    client = api_client_for(admin_user)
    # when filtering
    below = client.get("/api/v1/inventory/stock?below_safety=true").json()
    not_below = client.get("/api/v1/inventory/stock?below_safety=false").json()
    by_category = client.get(f"/api/v1/inventory/stock?category={other.product.category_id}").json()
    ordered = client.get("/api/v1/inventory/stock?ordering=-available_quantity").json()
    bad = client.get("/api/v1/inventory/stock?ordering=cost")
    # then
    assert [item["merchant_code"] for item in below["items"]] == ["CUP-1"]
    assert [(item["merchant_code"], item["warehouse_code"]) for item in not_below["items"]] == [
        ("TEE-BLK-M", "HZ"),
        ("TEE-BLK-M", "SH"),
    ]
    assert by_category["count"] == 3  # the factory puts every SKU in one category
    assert [item["available"] for item in ordered["items"]] == [10, 7, -3]
    assert bad.status_code == 422
    assert bad.json()["fields"] == {"ordering": "不支持的排序字段"}


def test_stock_list_query_count_is_pinned(world, admin_user, api_client_for, django_assert_max_num_queries):
    # given more SKUs
    for number in range(5):
        stock(sku=create_sku(), warehouse=world["second"], on_hand=number + 1)
    client = api_client_for(admin_user)
    # when listing; then the number of queries does not grow with the rows
    with django_assert_max_num_queries(12):
        response = client.get("/api/v1/inventory/stock")
    assert response.json()["count"] == 7


def test_sku_stock_detail_across_warehouses(world, admin_user, api_client_for):
    # when the admin reads one SKU's stock
    response = api_client_for(admin_user).get(f"/api/v1/inventory/stock/{world['sku'].pk}")
    # then totals over both warehouses; sellable = 7 in HZ + 10 in SH
    body = response.json()
    assert response.status_code == 200
    assert {key: body[key] for key in body if key != "levels"} == {
        "sku_id": world["sku"].pk,
        "merchant_code": "TEE-BLK-M",
        "product_name": world["sku"].product.name,
        "is_bundle": False,
        "on_hand": 20,
        "reserved": 2,
        "available": 17,
        "in_transit": 0,
        "sellable": 17,
    }
    assert [level["warehouse_code"] for level in body["levels"]] == ["HZ", "SH"]


def test_sku_stock_detail_is_limited_to_scope(world, make_user, api_client_for):
    # given a user limited to the second warehouse
    client = api_client_for(restricted_to(make_user("warehouse"), world["second"]))
    # when reading the SKU
    body = client.get(f"/api/v1/inventory/stock/{world['sku'].pk}").json()
    # then only the second warehouse counts
    assert (body["on_hand"], body["reserved"], body["sellable"]) == (10, 0, 10)
    assert [level["warehouse_code"] for level in body["levels"]] == ["SH"]


def test_bundle_stock_detail_counts_complete_bundles(world, admin_user, api_client_for):
    # given a bundle of 2 × the SKU and 1 × a cup with 3 units in HZ
    cup = create_sku(merchant_code="CUP-2")
    stock(sku=cup, warehouse=world["first"], on_hand=3)
    bundle = create_bundle(components={world["sku"]: 2, cup: 1})
    # when reading the bundle
    body = api_client_for(admin_user).get(f"/api/v1/inventory/stock/{bundle.pk}").json()
    # then HZ makes min(7 // 2, 3) = 3 bundles, SH none (no cups)
    assert (body["is_bundle"], body["sellable"], body["levels"]) == (True, 3, [])


def test_unknown_sku_stock_is_404(admin_user, api_client_for):
    assert api_client_for(admin_user).get("/api/v1/inventory/stock/999999").status_code == 404


# adjustments


def test_adjust_stock_writes_one_ledger_row(world, make_user, api_client_for):
    # given warehouse staff
    user = make_user("warehouse")
    # when they write off 3 damaged units in HZ
    response = call(
        api_client_for(user),
        "post",
        "/api/v1/inventory/adjustments",
        {
            "sku_id": world["sku"].pk,
            "warehouse_id": world["first"].pk,
            "quantity_delta": -3,
            "reason": "破损",
            "movement_type": "damage",
        },
    )
    # then one movement with before/after, the level follows, audited
    assert response.status_code == 201
    body = response.json()
    movement = StockMovement.objects.get(pk=body["id"])
    assert {key: body[key] for key in body if key not in ("id", "created_at")} == {
        "sku_id": world["sku"].pk,
        "merchant_code": "TEE-BLK-M",
        "warehouse_id": world["first"].pk,
        "warehouse_code": "HZ",
        "movement_type": "damage",
        "on_hand_delta": -3,
        "reserved_delta": 0,
        "on_hand_before": 10,
        "on_hand_after": 7,
        "reserved_before": 2,
        "reserved_after": 2,
        "reference_type": "",
        "reference_id": "",
        "actor_id": user.pk,
        "actor_name": user.username,
        "note": "破损",
    }
    assert body["created_at"] == timezone.localtime(movement.created_at).isoformat()
    assert StockLevel.objects.get(sku=world["sku"], warehouse=world["first"]).on_hand == 7
    assert AuditEntry.objects.filter(action="stock.adjusted", actor=user).count() == 1


def test_adjust_stock_retry_with_idempotency_key_adjusts_once(world, make_user, api_client_for):
    # given warehouse staff whose network drops the first answer
    client = api_client_for(make_user("warehouse"))
    body = {
        "sku_id": world["sku"].pk,
        "warehouse_id": world["first"].pk,
        "quantity_delta": -2,
        "reason": "破损",
        "movement_type": "damage",
    }

    def post(payload, key):
        return client.post(
            "/api/v1/inventory/adjustments",
            payload,
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=key,
        )

    # when the same request is sent twice with one key
    first = post(body, "adj-001")
    second = post(body, "adj-001")
    # then stock moved once and the retry replays the first answer
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert StockLevel.objects.get(sku=world["sku"], warehouse=world["first"]).on_hand == 8
    assert StockMovement.objects.filter(movement_type="damage").count() == 1
    # and the key reused for another body is refused, changing nothing
    other = post({**body, "quantity_delta": -5}, "adj-001")
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency_key_reused"
    assert StockLevel.objects.get(sku=world["sku"], warehouse=world["first"]).on_hand == 8
    # and without a key each request adjusts (the key is optional here)
    assert post(body, "").status_code == 201
    assert StockLevel.objects.get(sku=world["sku"], warehouse=world["first"]).on_hand == 6


def test_adjust_below_reserved_is_409_and_nothing_changes(world, admin_user, api_client_for):
    # given HZ: 10 on hand, 2 reserved
    before = state()
    # when 9 units are taken off (only 8 are unreserved)
    response = call(
        api_client_for(admin_user),
        "post",
        "/api/v1/inventory/adjustments",
        {
            "sku_id": world["sku"].pk,
            "warehouse_id": world["first"].pk,
            "quantity_delta": -9,
            "reason": "盘亏",
        },
    )
    # then refused
    assert response.status_code == 409
    assert response.json()["code"] == "insufficient_stock"
    assert state() == before


def test_adjust_by_zero_is_422(world, admin_user, api_client_for):
    response = call(
        api_client_for(admin_user),
        "post",
        "/api/v1/inventory/adjustments",
        {"sku_id": world["sku"].pk, "warehouse_id": world["first"].pk, "quantity_delta": 0, "reason": "x"},
    )
    assert response.status_code == 422
    assert response.json()["fields"] == {"quantity_delta": "须为非零整数"}


# the ledger


def test_ledger_filters_by_sku_type_reference_and_time(world, admin_user, api_client_for):
    # given a boundary after the opening stock and the reservation
    boundary = timezone.now()
    inventory_services.receive_stock(
        sku_id=world["sku"].pk,
        warehouse_id=world["second"].pk,
        quantity=4,
        actor=admin_user,
        reference_type="purchase_receipt",
        reference_id="PR-7",
    )
    client = api_client_for(admin_user)
    after = boundary.astimezone(SHANGHAI).isoformat()
    # when filtering the ledger
    reserves = client.get(f"/api/v1/inventory/movements?sku={world['sku'].pk}&movement_type=reserve").json()
    by_reference = client.get("/api/v1/inventory/movements?reference=PR-7").json()
    since = client.get("/api/v1/inventory/movements", {"created_after": after}).json()
    until = client.get("/api/v1/inventory/movements", {"created_before": after}).json()
    in_second = client.get(f"/api/v1/inventory/movements?warehouse={world['second'].pk}&ordering=id").json()
    # then each answers exactly its rows
    assert [
        (item["movement_type"], item["reserved_delta"], item["reference_id"]) for item in reserves["items"]
    ] == [("reserve", 2, "SO-1")]
    assert [
        (item["movement_type"], item["on_hand_before"], item["on_hand_after"])
        for item in by_reference["items"]
    ] == [("purchase_in", 10, 14)]
    assert [item["reference_id"] for item in since["items"]] == ["PR-7"]
    assert until["count"] == StockMovement.objects.count() - 1
    assert [item["movement_type"] for item in in_second["items"]] == ["opening", "purchase_in"]


def test_ledger_is_limited_to_scope(world, make_user, api_client_for):
    # given a user limited to the second warehouse
    client = api_client_for(restricted_to(make_user("warehouse"), world["second"]))
    # when listing the ledger
    body = client.get("/api/v1/inventory/movements").json()
    # then only the second warehouse's rows
    assert {item["warehouse_code"] for item in body["items"]} == {"SH"}
    assert body["count"] == StockMovement.objects.filter(warehouse=world["second"]).count()


def test_ledger_rejects_a_naive_datetime(admin_user, api_client_for):
    response = api_client_for(admin_user).get("/api/v1/inventory/movements?created_after=2030-01-01T00:00:00")
    assert response.status_code == 422


# reservations


def test_reserve_with_idempotency_key_reserves_once(world, make_user, api_client_for):
    # given warehouse staff and a key
    client = api_client_for(make_user("warehouse"))
    payload = {"sku_id": world["sku"].pk, "quantity": 3, "warehouse_id": world["second"].pk}
    # when the same request is sent twice
    first = client.post(
        "/api/v1/inventory/reservations",
        payload,
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="ORDER-77",
    )
    second = client.post(
        "/api/v1/inventory/reservations",
        payload,
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="ORDER-77",
    )
    # then both answer the same reservation and the stock is reserved once
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json() == second.json()
    reservation = Reservation.objects.get(reference="ORDER-77")
    assert first.json()["reservations"][0]["id"] == reservation.pk
    assert (first.json()["reference"], first.json()["reservations"][0]["status"]) == ("ORDER-77", "active")
    assert StockLevel.objects.get(sku=world["sku"], warehouse=world["second"]).reserved == 3
    assert (
        StockMovement.objects.filter(reference_id="ORDER-77", movement_type=MovementType.RESERVE).count() == 1
    )


def test_reserve_best_warehouse_and_reference_field(world, admin_user, api_client_for):
    # when reserving without a warehouse (HZ has 7 available, SH 10)
    response = call(
        api_client_for(admin_user),
        "post",
        "/api/v1/inventory/reservations",
        {"sku_id": world["sku"].pk, "quantity": 8, "reference": "SO-2"},
    )
    # then the warehouse that can cover it all is chosen
    assert response.status_code == 201
    assert [(item["warehouse_id"], item["quantity"]) for item in response.json()["reservations"]] == [
        (world["second"].pk, 8)
    ]


def test_reserve_more_than_available_is_409_and_nothing_changes(world, admin_user, api_client_for):
    # given HZ: 7 available
    before = state()
    # when 8 are reserved there
    response = call(
        api_client_for(admin_user),
        "post",
        "/api/v1/inventory/reservations",
        {"sku_id": world["sku"].pk, "quantity": 8, "warehouse_id": world["first"].pk, "reference": "SO-3"},
    )
    # then 409 with what is available
    assert response.status_code == 409
    assert response.json()["code"] == "insufficient_stock"
    assert response.json()["fields"]["available"] == "7"
    assert state() == before


def test_reserve_without_reference_or_key_is_422(world, admin_user, api_client_for):
    response = call(
        api_client_for(admin_user),
        "post",
        "/api/v1/inventory/reservations",
        {"sku_id": world["sku"].pk, "quantity": 1, "warehouse_id": world["first"].pk},
    )
    assert response.status_code == 422
    assert response.json()["fields"] == {"reference": "必填"}


def test_restricted_user_must_name_the_warehouse(world, make_user, api_client_for):
    # given a user limited to the second warehouse
    client = api_client_for(restricted_to(make_user("warehouse"), world["second"]))
    before = state()
    # when they reserve without a warehouse
    response = call(
        client,
        "post",
        "/api/v1/inventory/reservations",
        {"sku_id": world["sku"].pk, "quantity": 1, "reference": "X"},
    )
    # then they are asked for one (the best-warehouse rule could pick one they may not use)
    assert response.status_code == 422
    assert response.json()["fields"] == {"warehouse_id": "必填"}
    assert state() == before


def test_release_then_commit_answers_404(world, make_user, api_client_for):
    # given warehouse staff and SO-1 holding 2 units in HZ
    client = api_client_for(make_user("warehouse"))
    # when SO-1 is released twice, then committed
    first = call(client, "post", "/api/v1/inventory/reservations/release", {"reference": "SO-1"})
    again = call(client, "post", "/api/v1/inventory/reservations/release", {"reference": "SO-1"})
    commit = call(client, "post", "/api/v1/inventory/reservations/commit", {"reference": "SO-1"})
    # then released once (idempotent), and nothing is left to ship
    assert (first.status_code, again.status_code, commit.status_code) == (200, 200, 404)
    assert first.json() == again.json()
    assert [item["status"] for item in first.json()["reservations"]] == ["released"]
    level = StockLevel.objects.get(sku=world["sku"], warehouse=world["first"])
    assert (level.on_hand, level.reserved) == (10, 0)
    assert StockMovement.objects.filter(reference_id="SO-1", movement_type=MovementType.RELEASE).count() == 1


def test_commit_ships_the_reserved_units(world, make_user, api_client_for):
    # when SO-1 is committed
    response = call(
        api_client_for(make_user("warehouse")),
        "post",
        "/api/v1/inventory/reservations/commit",
        {"reference": "SO-1"},
    )
    # then on hand and reserved both go down by 2
    assert response.status_code == 200
    assert [item["status"] for item in response.json()["reservations"]] == ["committed"]
    level = StockLevel.objects.get(sku=world["sku"], warehouse=world["first"])
    assert (level.on_hand, level.reserved) == (8, 0)
    assert Reservation.objects.get(reference="SO-1").status == ReservationStatus.COMMITTED


def test_release_unknown_reference_is_404(admin_user, api_client_for):
    response = call(
        api_client_for(admin_user), "post", "/api/v1/inventory/reservations/release", {"reference": "NOPE"}
    )
    assert response.status_code == 404


def test_reservations_list_filters(world, admin_user, api_client_for):
    # given a second reservation in SH
    inventory_services.reserve_stock(
        sku_id=world["sku"].pk,
        warehouse_id=world["second"].pk,
        quantity=1,
        reference="SO-5",
        actor=admin_user,
    )
    client = api_client_for(admin_user)
    # when filtering
    by_reference = client.get("/api/v1/inventory/reservations?reference=SO-5").json()
    by_warehouse = client.get(
        f"/api/v1/inventory/reservations?warehouse={world['first'].pk}&status=active"
    ).json()
    # then
    assert [(item["reference"], item["quantity"]) for item in by_reference["items"]] == [("SO-5", 1)]
    assert [(item["reference"], item["quantity"]) for item in by_warehouse["items"]] == [("SO-1", 2)]


# reports


def test_stock_on_hand_report_json_and_xlsx_agree(world, make_user, api_client_for):
    # given finance (inventory view)
    client = api_client_for(make_user("finance"))
    # when reading the report as JSON and as XLSX
    body = client.get("/api/v1/inventory/reports/stock-on-hand").json()
    download = client.get("/api/v1/inventory/reports/stock-on-hand?format=xlsx")
    # then per warehouse: 10 units × 10.00 each
    assert body == {
        "count": 2,
        "items": [
            {
                "warehouse_id": world[key].pk,
                "warehouse_code": code,
                "category_id": None,
                "category_path": "",
                "sku_count": 1,
                "on_hand": 10,
                "reserved": reserved,
                "available": available,
                "in_transit": 0,
                "value": "100.00",
            }
            for key, code, reserved, available in (("first", "HZ", 2, 7), ("second", "SH", 0, 10))
        ],
    }
    assert download.status_code == 200
    assert download["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = openpyxl.load_workbook(io.BytesIO(download.content)).active
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert rows[0] == ["仓库", "类目", "SKU数", "在库", "预占", "可用", "在途", "库存金额(成本)"]
    assert rows[1:] == [["HZ", "", 1, 10, 2, 7, 0, 100], ["SH", "", 1, 10, 0, 10, 0, 100]]


def test_stock_on_hand_report_is_limited_to_scope(world, make_user, api_client_for):
    client = api_client_for(restricted_to(make_user("warehouse"), world["second"]))
    body = client.get("/api/v1/inventory/reports/stock-on-hand?group_by=category").json()
    assert [(item["category_path"], item["on_hand"], item["value"]) for item in body["items"]] == [
        ("库存测试", 10, "100.00")
    ]


def test_slow_movers_and_stock_age_reports(world, admin_user, api_client_for):
    # given a sale in HZ now; the report asked as of 40 days later
    inventory_services.commit_reservation(reference="SO-1", actor=admin_user)
    as_of = (timezone.now() + dt.timedelta(days=40)).astimezone(SHANGHAI).isoformat()
    client = api_client_for(admin_user)
    # when the reports are read
    slow_30 = client.get("/api/v1/inventory/reports/slow-movers", {"days": 30, "as_of": as_of}).json()
    slow_60 = client.get("/api/v1/inventory/reports/slow-movers", {"days": 60, "as_of": as_of}).json()
    age = client.get("/api/v1/inventory/reports/stock-age", {"as_of": as_of}).json()
    # then in 30 days nothing sold anywhere; within 60 days HZ sold, so only SH is slow
    assert [
        (item["warehouse_code"], item["on_hand"], item["value"], item["days_since_last_sale"])
        for item in slow_30["items"]
    ] == [
        ("SH", 10, "100.00", None),
        ("HZ", 8, "80.00", 40),
    ]
    assert [item["warehouse_code"] for item in slow_60["items"]] == ["SH"]
    assert [
        (
            item["warehouse_code"],
            item["on_hand"],
            item["oldest_age_days"],
            item["average_age_days"],
            item["bucket_quantities"],
        )
        for item in age["items"]
    ] == [
        ("HZ", 8, 40, "40.0", [0, 8, 0, 0]),
        ("SH", 10, 40, "40.0", [0, 10, 0, 0]),
    ]


def test_turnover_report(world, admin_user, api_client_for):
    # given a boundary after the opening stock, then SO-1 ships 2 units
    start = timezone.now()
    inventory_services.commit_reservation(reference="SO-1", actor=admin_user)
    end = timezone.now() + dt.timedelta(days=1)
    # when the turnover over [start, end) is read for everything
    body = (
        api_client_for(admin_user)
        .get(
            "/api/v1/inventory/reports/turnover",
            {"start": start.isoformat(), "end": end.isoformat(), "group_by": "total"},
        )
        .json()
    )
    # then COGS 2 × 10 = 20; average value (200 + 180) / 2 = 190
    (row,) = body["items"]
    days = Decimal((end - start).total_seconds()) / Decimal(86400)
    assert {key: row[key] for key in row if key != "days_of_inventory"} == {
        "warehouse_id": None,
        "warehouse_code": "",
        "category_id": None,
        "category_path": "",
        "units_sold": 2,
        "cogs": "20.00",
        "opening_value": "200.00",
        "closing_value": "180.00",
        "average_value": "190.00",
        "turnover": "0.11",
    }
    assert row["days_of_inventory"] == str((days * Decimal(190) / Decimal(20)).quantize(Decimal("0.1")))


def test_turnover_with_end_before_start_is_422(admin_user, api_client_for):
    response = api_client_for(admin_user).get(
        "/api/v1/inventory/reports/turnover?start=2030-01-02T00:00:00Z&end=2030-01-01T00:00:00Z"
    )
    assert response.status_code == 422
    assert response.json()["fields"] == {"end": "须晚于开始时间"}


def test_ledger_and_reservation_lists_query_counts_are_pinned(
    world, admin_user, api_client_for, django_assert_max_num_queries
):
    # given more movements and reservations
    for number in range(6):
        inventory_services.reserve_stock(
            sku_id=world["sku"].pk,
            warehouse_id=world["second"].pk,
            quantity=1,
            reference=f"SO-{number + 10}",
            actor=admin_user,
        )
    client = api_client_for(admin_user)
    # when listing; then the number of queries does not grow with the rows
    with django_assert_max_num_queries(12):
        movements = client.get("/api/v1/inventory/movements")
    with django_assert_max_num_queries(12):
        reservations = client.get("/api/v1/inventory/reservations")
    assert (movements.json()["count"], reservations.json()["count"]) == (9, 7)
