from decimal import Decimal

import pytest
from django.test import Client

from shopops.catalog.tests.factories import create_shop
from shopops.inventory import services as inventory_services
from shopops.inventory.models import (
    ChannelStockRule,
    MovementType,
    StockLevel,
    StockMovement,
    Stocktake,
    StocktakeLine,
    StockThreshold,
    Transfer,
    TransferLine,
)
from shopops.inventory.tests.factories import create_sku, create_warehouse, stock

pytestmark = pytest.mark.django_db

STOCKTAKE = "/api/v1/inventory/stocktakes/{stocktake}"
TRANSFER = "/api/v1/inventory/transfers/{transfer}"

# Every new operation with a valid-looking body: (method, path, payload).
OPERATIONS = [
    ("get", "/api/v1/inventory/stocktakes", None),
    ("get", STOCKTAKE, None),
    ("post", "/api/v1/inventory/stocktakes", {"warehouse_id": "{warehouse}", "scope": "full"}),
    ("post", STOCKTAKE + "/counts", {"barcode_or_code": "TEE-BLK-M", "quantity": 3}),
    ("post", STOCKTAKE + "/submit", None),
    ("post", STOCKTAKE + "/post", None),
    ("post", STOCKTAKE + "/cancel", {"reason": "重盘"}),
    ("get", STOCKTAKE + "/variance", None),
    ("get", "/api/v1/inventory/transfers", None),
    ("get", TRANSFER, None),
    (
        "post",
        "/api/v1/inventory/transfers",
        {
            "source_id": "{warehouse}",
            "destination_id": "{second}",
            "lines": [{"sku_id": "{sku}", "quantity": 1}],
        },
    ),
    ("post", TRANSFER + "/ship", None),
    ("post", TRANSFER + "/receive", {"lines": [{"sku_id": "{sku}", "quantity": 1}]}),
    ("post", TRANSFER + "/close", {"reason": "丢件"}),
    ("post", TRANSFER + "/cancel", {"reason": "不调了"}),
    ("get", "/api/v1/inventory/thresholds", None),
    (
        "put",
        "/api/v1/inventory/thresholds",
        {"sku_id": "{sku}", "warehouse_id": "{warehouse}", "low_stock_quantity": 3},
    ),
    ("get", "/api/v1/inventory/channel-stock-rules", None),
    ("put", "/api/v1/inventory/channel-stock-rules/{shop}", {"buffer_units": 2}),
    ("get", "/api/v1/inventory/channel-stock?sku_id={sku}&shop_id={shop}", None),
]

# Operations on one object or warehouse: out of the user's scope they answer 404.
SCOPED = [
    operation
    for operation in OPERATIONS
    if operation[0] != "get" or "{" in operation[1].removeprefix("/api/v1/inventory/")
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
    if isinstance(value, list):
        return [fill(item, names) for item in value]
    return value


def call(client: Client, method: str, path: str, payload=None):
    if payload is None:
        return getattr(client, method)(path, {}, content_type="application/json")
    return getattr(client, method)(path, payload, content_type="application/json")


def state():
    """Everything these operations could change."""
    return (
        list(Stocktake.objects.order_by("pk").values_list("pk", "status")),
        list(StocktakeLine.objects.order_by("pk").values_list("pk", "counted_quantity")),
        list(Transfer.objects.order_by("pk").values_list("pk", "status")),
        list(TransferLine.objects.order_by("pk").values_list("pk", "shipped_quantity", "received_quantity")),
        list(StockThreshold.objects.order_by("pk").values_list("pk", "low_stock_quantity")),
        list(ChannelStockRule.objects.order_by("pk").values_list("pk", "buffer_units")),
        list(StockLevel.objects.order_by("pk").values_list("pk", "on_hand", "reserved", "in_transit")),
        StockMovement.objects.count(),
    )


@pytest.fixture
def world(admin_user):
    """HZ and SH with 10 units of TEE-BLK-M each; an open (not blind) count in HZ with 9 counted by the
    admin; a draft transfer of 2 units HZ → SH; one shop."""
    first, second = create_warehouse(code="HZ"), create_warehouse(code="SH")
    sku = create_sku(merchant_code="TEE-BLK-M")
    stock(sku=sku, warehouse=first, on_hand=10)
    stock(sku=sku, warehouse=second, on_hand=10)
    stocktake = inventory_services.start_stocktake(
        warehouse_id=first.pk, scope="full", actor=admin_user, is_blind=False
    )
    inventory_services.record_count(
        stocktake_id=stocktake.pk, barcode_or_code="TEE-BLK-M", quantity=9, actor=admin_user
    )
    transfer = inventory_services.create_transfer(
        source_id=first.pk, destination_id=second.pk, lines={sku.pk: 2}, actor=admin_user
    )
    shop = create_shop()
    return {
        "names": {
            "sku": sku.pk,
            "warehouse": first.pk,
            "second": second.pk,
            "stocktake": stocktake.pk,
            "transfer": transfer.pk,
            "shop": shop.pk,
        },
        "first": first,
        "second": second,
        "sku": sku,
        "shop": shop,
        "stocktake": stocktake,
        "transfer": transfer,
    }


def restricted_to(user, warehouse):
    inventory_services.set_warehouse_scope(user_id=user.pk, warehouse_ids=[warehouse.pk], actor=None)
    return user


# authorization matrix


@pytest.mark.parametrize(("method", "path", "payload"), OPERATIONS)
def test_anonymous_is_401_and_nothing_changes(world, method, path, payload):
    # given an anonymous client
    before = state()
    # when calling the operation
    response = call(Client(), method, fill(path, world["names"]), fill(payload, world["names"]))
    # then refused, nothing written
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert state() == before


@pytest.mark.parametrize(("method", "path", "payload"), OPERATIONS)
def test_without_permission_is_403_and_nothing_changes(
    world, make_user, api_client_for, method, path, payload
):
    # given a designer (no inventory permissions)
    client = api_client_for(make_user("designer"))
    before = state()
    # when calling the operation
    response = call(client, method, fill(path, world["names"]), fill(payload, world["names"]))
    # then refused, nothing written
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert state() == before


@pytest.mark.parametrize(("method", "path", "payload"), SCOPED)
def test_out_of_scope_is_404_and_nothing_changes(world, make_user, api_client_for, method, path, payload):
    # given warehouse staff limited to a third warehouse and to another shop
    other_shop = create_shop()
    user = restricted_to(make_user("warehouse", shops=[other_shop]), create_warehouse(code="GZ"))
    client = api_client_for(user)
    before = state()
    # when calling the operation on HZ / SH / the first shop
    response = call(client, method, fill(path, world["names"]), fill(payload, world["names"]))
    # then it behaves as if they did not exist
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert state() == before


def test_out_of_scope_lists_are_empty(world, make_user, api_client_for):
    # given a user limited to a third warehouse and another shop, with a threshold and a rule in HZ
    inventory_services.set_stock_threshold(
        sku_id=world["sku"].pk, warehouse_id=world["first"].pk, low_stock_quantity=1, actor=None
    )
    inventory_services.set_channel_stock_rule(shop_id=world["shop"].pk, actor=None)
    other_shop = create_shop()
    user = restricted_to(make_user("warehouse", shops=[other_shop]), create_warehouse(code="GZ"))
    client = api_client_for(user)
    # when listing
    paths = ["stocktakes", "transfers", "thresholds", "channel-stock-rules"]
    counts = [client.get(f"/api/v1/inventory/{path}").json()["count"] for path in paths]
    # then nothing is visible
    assert counts == [0, 0, 0, 0]


@pytest.mark.parametrize(
    ("method", "path", "payload", "status"),
    [
        (*OPERATIONS[0], 200),
        (*OPERATIONS[1], 200),
        (*OPERATIONS[2], 201),
        (*OPERATIONS[3], 200),
        (*OPERATIONS[4], 200),
        (*OPERATIONS[6], 200),
        (*OPERATIONS[7], 200),
        (*OPERATIONS[8], 200),
        (*OPERATIONS[9], 200),
        (*OPERATIONS[10], 201),
        (*OPERATIONS[11], 200),
        (*OPERATIONS[14], 200),
        (*OPERATIONS[15], 200),
        (*OPERATIONS[16], 200),
        (*OPERATIONS[17], 200),
        (*OPERATIONS[18], 200),
        (*OPERATIONS[19], 200),
    ],
)
def test_warehouse_staff_are_permitted(world, make_user, api_client_for, method, path, payload, status):
    # given warehouse staff with every warehouse
    client = api_client_for(make_user("warehouse"))
    # when calling the operation
    response = call(client, method, fill(path, world["names"]), fill(payload, world["names"]))
    # then it succeeds
    assert response.status_code == status, response.json()


def test_operations_staff_can_read_but_not_write(world, make_user, api_client_for):
    # given operations staff (inventory view only)
    client = api_client_for(make_user("operations"))
    before = state()
    # when they read a stocktake and try to ship the transfer
    read = client.get(fill(STOCKTAKE, world["names"]))
    write = call(client, "post", fill(TRANSFER + "/ship", world["names"]))
    # then reading works, writing is refused
    assert (read.status_code, write.status_code) == (200, 403)
    assert write.json()["fields"] == {"permission": "inventory.change_transfer"}
    assert state() == before


# stocktake flow


def test_full_blind_stocktake_with_a_sale_during_the_count(make_user, api_client_for):
    # given HZ with 10 × TEE (cost 10.00, barcode) and 5 × CAP (cost 12.50)
    warehouse = create_warehouse(code="HZ")
    tee, cap = create_sku(merchant_code="TEE"), create_sku(merchant_code="CAP")
    tee.barcode = "6900000000011"
    tee.save()
    cap.cost_price = Decimal("12.50")
    cap.save()
    stock(sku=tee, warehouse=warehouse, on_hand=10)
    stock(sku=cap, warehouse=warehouse, on_hand=5)
    counter = api_client_for(make_user("warehouse"))
    approver = api_client_for(make_user("warehouse"))
    # when a blind full count starts, one TEE is sold, TEE is counted 8 by barcode, CAP scanned 3 + 3
    started = counter.post(
        "/api/v1/inventory/stocktakes",
        {"warehouse_id": warehouse.pk, "scope": "full"},
        content_type="application/json",
    )
    number = started.json()["id"]
    inventory_services.issue_stock(sku_id=tee.pk, warehouse_id=warehouse.pk, quantity=1, actor=None)
    counts = f"/api/v1/inventory/stocktakes/{number}/counts"
    tee_line = counter.post(
        counts, {"barcode_or_code": "6900000000011", "quantity": 8}, content_type="application/json"
    )
    for _scan in range(2):
        cap_line = counter.post(
            counts, {"barcode_or_code": "CAP", "quantity": 3, "mode": "add"}, content_type="application/json"
        )
    during = counter.get(f"/api/v1/inventory/stocktakes/{number}")
    variance_during = counter.get(f"/api/v1/inventory/stocktakes/{number}/variance")
    submitted = counter.post(f"/api/v1/inventory/stocktakes/{number}/submit")
    variance = approver.get(f"/api/v1/inventory/stocktakes/{number}/variance")
    by_counter = counter.post(f"/api/v1/inventory/stocktakes/{number}/post")
    posted = approver.post(f"/api/v1/inventory/stocktakes/{number}/post")
    after = approver.get(f"/api/v1/inventory/stocktakes/{number}")
    # then book figures are hidden while counting
    assert started.status_code == 201
    assert [(line["merchant_code"], line["expected_quantity"]) for line in started.json()["lines"]] == [
        ("TEE", None),
        ("CAP", None),
    ]
    assert (tee_line.json()["counted_quantity"], tee_line.json()["book_quantity"]) == (8, None)
    assert cap_line.json()["counted_quantity"] == 6
    assert [line["counted_quantity"] for line in during.json()["lines"]] == [8, 6]
    assert [line["variance"] for line in during.json()["lines"]] == [None, None]
    assert variance_during.status_code == 409
    assert variance_during.json()["code"] == "blind_count_open"
    # and the variance is counted − book: TEE 8 − (10 − 1) = −1 (−10.00), CAP 6 − 5 = +1 (+12.50)
    assert submitted.json()["status"] == "submitted"
    body = variance.json()
    assert {key: body[key] for key in body if key != "lines"} == {
        "stocktake_id": number,
        "counted_lines": 2,
        "uncounted_lines": 0,
        "gain_quantity": 1,
        "loss_quantity": 1,
        "net_quantity": 0,
        "gain_value": "12.50",
        "loss_value": "10.00",
        "net_value": "2.50",
    }
    assert [
        (line["merchant_code"], line["expected_quantity"], line["movement_quantity"], line["variance"])
        for line in body["lines"]
    ] == [("TEE", 10, -1, -1), ("CAP", 5, 0, 1)]
    assert [line["variance_value"] for line in body["lines"]] == ["-10.00", "12.50"]
    # and only someone who did not count may post it
    assert by_counter.status_code == 403
    assert by_counter.json()["code"] == "approver_is_counter"
    assert posted.status_code == 200
    assert posted.json()["status"] == "posted"
    assert [line["posted_quantity"] for line in after.json()["lines"]] == [-1, 1]
    levels = dict(StockLevel.objects.filter(warehouse=warehouse).values_list("sku__merchant_code", "on_hand"))
    assert levels == {"TEE": 8, "CAP": 6}
    assert list(
        StockMovement.objects.filter(reference_type="stocktake", reference_id=str(number))
        .order_by("sku_id")
        .values_list("sku__merchant_code", "movement_type", "on_hand_delta")
    ) == [("TEE", MovementType.COUNT_LOSS, -1), ("CAP", MovementType.COUNT_GAIN, 1)]


def test_stocktake_count_for_an_unknown_code_is_404(world, api_client_for, admin_user):
    # given the open count
    client = api_client_for(admin_user)
    before = state()
    # when scanning a code nobody knows
    response = call(
        client,
        "post",
        fill(STOCKTAKE + "/counts", world["names"]),
        {"barcode_or_code": "NOPE", "quantity": 1},
    )
    # then 404 sku_not_found, nothing written
    assert response.status_code == 404
    assert response.json()["code"] == "sku_not_found"
    assert state() == before


# transfer flow


def test_transfer_ship_partial_receipt_and_close(make_user, api_client_for):
    # given HZ with 10 × TEE and 5 × CAP, SH empty
    source, destination = create_warehouse(code="HZ"), create_warehouse(code="SH")
    tee, cap = create_sku(merchant_code="TEE"), create_sku(merchant_code="CAP")
    stock(sku=tee, warehouse=source, on_hand=10)
    stock(sku=cap, warehouse=source, on_hand=5)
    client = api_client_for(make_user("warehouse"))
    # when 4 TEE and 2 CAP are sent, 3 TEE arrive and the rest is closed as lost
    created = client.post(
        "/api/v1/inventory/transfers",
        {
            "source_id": source.pk,
            "destination_id": destination.pk,
            "lines": [{"sku_id": tee.pk, "quantity": 4}, {"sku_id": cap.pk, "quantity": 2}],
        },
        content_type="application/json",
    )
    path = f"/api/v1/inventory/transfers/{created.json()['id']}"
    shipped = client.post(f"{path}/ship")
    in_transit = dict(
        StockLevel.objects.filter(warehouse=destination).values_list("sku__merchant_code", "in_transit")
    )
    received = client.post(
        f"{path}/receive", {"lines": [{"sku_id": tee.pk, "quantity": 3}]}, content_type="application/json"
    )
    over = client.post(
        f"{path}/receive", {"lines": [{"sku_id": tee.pk, "quantity": 2}]}, content_type="application/json"
    )
    closed = client.post(f"{path}/close", {"reason": "丢件"}, content_type="application/json")
    # then every step shows the lines and the levels follow
    assert created.status_code == 201
    assert created.json()["status"] == "draft"
    assert (created.json()["source_code"], created.json()["destination_code"]) == ("HZ", "SH")
    assert shipped.json()["status"] == "shipped"
    assert in_transit == {"TEE": 4, "CAP": 2}
    assert received.json()["status"] == "partially_received"
    assert [
        (
            line["merchant_code"],
            line["shipped_quantity"],
            line["received_quantity"],
            line["in_transit_quantity"],
        )
        for line in received.json()["lines"]
    ] == [("TEE", 4, 3, 1), ("CAP", 2, 0, 2)]
    assert over.status_code == 422
    assert over.json()["code"] == "over_receipt"
    assert closed.status_code == 200
    assert closed.json()["status"] == "closed"
    levels = sorted(
        StockLevel.objects.values_list("warehouse__code", "sku__merchant_code", "on_hand", "in_transit")
    )
    assert levels == [("HZ", "CAP", 3, 0), ("HZ", "TEE", 6, 0), ("SH", "CAP", 0, 0), ("SH", "TEE", 3, 0)]


def test_transfer_with_a_repeated_sku_is_422(world, api_client_for, admin_user):
    # given the world
    client = api_client_for(admin_user)
    before = state()
    line = {"sku_id": world["sku"].pk, "quantity": 1}
    # when creating a transfer naming the SKU twice
    response = client.post(
        "/api/v1/inventory/transfers",
        {"source_id": world["first"].pk, "destination_id": world["second"].pk, "lines": [line, line]},
        content_type="application/json",
    )
    # then refused
    assert response.status_code == 422
    assert state() == before


# thresholds and channel stock


def test_threshold_set_and_listed(world, api_client_for, admin_user):
    # given the world
    client = api_client_for(admin_user)
    # when setting a threshold for HZ, then listing
    saved = client.put(
        "/api/v1/inventory/thresholds",
        {
            "sku_id": world["sku"].pk,
            "warehouse_id": world["first"].pk,
            "low_stock_quantity": 3,
            "overstock_quantity": 50,
        },
        content_type="application/json",
    )
    listed = client.get("/api/v1/inventory/thresholds")
    # then it is stored and shown
    assert saved.status_code == 200
    expected = {
        "sku_id": world["sku"].pk,
        "merchant_code": "TEE-BLK-M",
        "warehouse_id": world["first"].pk,
        "low_stock_quantity": 3,
        "overstock_quantity": 50,
        "is_active": True,
    }
    assert {key: saved.json()[key] for key in expected} == expected
    assert [item["id"] for item in listed.json()["items"]] == [saved.json()["id"]]


def test_threshold_over_all_warehouses_needs_every_warehouse(world, make_user, api_client_for):
    # given warehouse staff limited to HZ
    client = api_client_for(restricted_to(make_user("warehouse"), world["first"]))
    # when setting a threshold without a warehouse
    response = client.put(
        "/api/v1/inventory/thresholds",
        {"sku_id": world["sku"].pk, "low_stock_quantity": 3},
        content_type="application/json",
    )
    # then refused
    assert response.status_code == 422
    assert response.json()["fields"] == {"warehouse_id": "必填"}
    assert StockThreshold.objects.count() == 0


def test_channel_stock_follows_the_rule(world, api_client_for, admin_user):
    # given 20 units (10 in HZ, 10 in SH), none reserved
    client = api_client_for(admin_user)
    shop = world["shop"]
    # when the shop sells from HZ only, 60 % quota and a buffer of 2
    rule = client.put(
        f"/api/v1/inventory/channel-stock-rules/{shop.pk}",
        {"warehouse_ids": [world["first"].pk], "buffer_units": 2, "quota_percent": 60},
        content_type="application/json",
    )
    figure = client.get(f"/api/v1/inventory/channel-stock?sku_id={world['sku'].pk}&shop_id={shop.pk}")
    listed = client.get("/api/v1/inventory/channel-stock-rules")
    # then min(10 − 2, ⌊10 × 60 / 100⌋) = 6
    assert rule.status_code == 200
    assert rule.json()["warehouse_ids"] == [world["first"].pk]
    assert figure.json() == {
        "sku_id": world["sku"].pk,
        "shop_id": shop.pk,
        "channel_available": min(10 - 2, 6),
    }
    assert [item["shop_id"] for item in listed.json()["items"]] == [shop.pk]


def test_list_transfers_query_count(world, admin_user, api_client_for, django_assert_max_num_queries):
    # given five transfers
    for _number in range(4):
        inventory_services.create_transfer(
            source_id=world["first"].pk,
            destination_id=world["second"].pk,
            lines={world["sku"].pk: 1},
            actor=admin_user,
        )
    client = api_client_for(admin_user)
    # when listing them
    with django_assert_max_num_queries(9):
        response = client.get("/api/v1/inventory/transfers")
    # then all five come back with their lines
    assert response.json()["count"] == 5
    assert [len(item["lines"]) for item in response.json()["items"]] == [1, 1, 1, 1, 1]
