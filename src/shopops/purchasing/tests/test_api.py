import datetime as dt
import re
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from shopops.catalog.models import Sku
from shopops.core.models import AuditEntry
from shopops.inventory import services as inventory_services
from shopops.inventory.models import StockLevel, StockMovement
from shopops.inventory.tests.factories import create_sku, create_warehouse, stock
from shopops.purchasing.models import (
    PurchaseOrder,
    PurchaseOrderStatus,
    PurchaseReceipt,
    Supplier,
    SupplierPrice,
)
from shopops.purchasing.tests.factories import (
    create_purchase_order,
    create_supplier,
    create_supplier_price,
    grant,
)


def post(client: Client, path: str, payload: dict) -> object:
    return client.post(path, payload, content_type="application/json")


def patch(client: Client, path: str, payload: dict) -> object:
    return client.patch(path, payload, content_type="application/json")


@pytest.fixture
def world(make_user):
    actor = make_user("operations")
    warehouse = create_warehouse()
    supplier = create_supplier(code="SUP-A", name="杭州织造")
    sku = create_sku()
    price = create_supplier_price(supplier=supplier, sku=sku, price="8.00")
    order = create_purchase_order(
        supplier=supplier, warehouse=warehouse, lines=[(sku, 10, "8.00")], actor=actor
    )
    return {
        "actor": actor,
        "warehouse": warehouse,
        "supplier": supplier,
        "sku": sku,
        "price": price,
        "order": order,
    }


def operations(world) -> list[tuple[str, str, str, dict | None]]:
    order, supplier, price, sku = world["order"], world["supplier"], world["price"], world["sku"]
    line = order.lines.get()
    return [
        ("get", "/api/v1/purchasing/suppliers", "purchasing.view_supplier", None),
        ("get", f"/api/v1/purchasing/suppliers/{supplier.pk}", "purchasing.view_supplier", None),
        ("post", "/api/v1/purchasing/suppliers", "purchasing.add_supplier", {"code": "N", "name": "新"}),
        (
            "patch",
            f"/api/v1/purchasing/suppliers/{supplier.pk}",
            "purchasing.change_supplier",
            {"name": "改"},
        ),
        ("get", "/api/v1/purchasing/supplier-prices", "purchasing.view_supplierprice", None),
        (
            "post",
            "/api/v1/purchasing/supplier-prices",
            "purchasing.add_supplierprice",
            {"supplier_id": supplier.pk, "sku_id": sku.pk, "price": "1.00", "valid_from": "2030-01-01"},
        ),
        (
            "patch",
            f"/api/v1/purchasing/supplier-prices/{price.pk}",
            "purchasing.change_supplierprice",
            {"price": "1.00"},
        ),
        ("delete", f"/api/v1/purchasing/supplier-prices/{price.pk}", "purchasing.delete_supplierprice", None),
        ("get", "/api/v1/purchasing/orders", "purchasing.view_purchaseorder", None),
        ("get", f"/api/v1/purchasing/orders/{order.pk}", "purchasing.view_purchaseorder", None),
        (
            "post",
            "/api/v1/purchasing/orders",
            "purchasing.add_purchaseorder",
            {
                "supplier_id": supplier.pk,
                "warehouse_id": world["warehouse"].pk,
                "lines": [{"sku_id": sku.pk, "quantity": 1}],
            },
        ),
        ("patch", f"/api/v1/purchasing/orders/{order.pk}", "purchasing.change_purchaseorder", {"note": "x"}),
        ("post", f"/api/v1/purchasing/orders/{order.pk}/approve", "purchasing.approve_purchaseorder", {}),
        ("post", f"/api/v1/purchasing/orders/{order.pk}/cancel", "purchasing.approve_purchaseorder", {}),
        ("post", f"/api/v1/purchasing/orders/{order.pk}/close", "purchasing.approve_purchaseorder", {}),
        (
            "post",
            f"/api/v1/purchasing/orders/{order.pk}/receive",
            "purchasing.receive_purchaseorder",
            {"lines": [{"line_id": line.pk, "received": 1, "accepted": 1}]},
        ),
        ("get", "/api/v1/purchasing/receipts", "purchasing.view_purchasereceipt", None),
        ("get", "/api/v1/purchasing/suggestions", "purchasing.view_purchaseorder", None),
        (
            "post",
            "/api/v1/purchasing/suggestions/drafts",
            "purchasing.add_purchaseorder",
            {
                "suggestions": [
                    {
                        "sku_id": sku.pk,
                        "warehouse_id": world["warehouse"].pk,
                        "supplier_id": supplier.pk,
                        "quantity": 5,
                    }
                ]
            },
        ),
    ]


def call(client: Client, method: str, path: str, body: dict | None) -> object:
    if method == "get":
        return client.get(path)
    if method == "delete":
        return client.delete(path)
    return getattr(client, method)(path, body or {}, content_type="application/json")


def state() -> tuple:
    return (
        list(Supplier.objects.order_by("pk").values_list("name", "code")),
        list(SupplierPrice.objects.order_by("pk").values_list("pk", "price")),
        list(PurchaseOrder.objects.order_by("pk").values_list("pk", "status", "note")),
        PurchaseReceipt.objects.count(),
        StockMovement.objects.count(),
    )


PLACEHOLDERS = [
    (re.compile(r"/orders/\d+"), "/orders/{po_id}"),
    (re.compile(r"/suppliers/\d+"), "/suppliers/{supplier_id}"),
    (re.compile(r"/supplier-prices/\d+"), "/supplier-prices/{price_id}"),
]


def template(path: str) -> str:
    for pattern, placeholder in PLACEHOLDERS:
        path = pattern.sub(placeholder, path)
    return path


def test_every_operation_is_in_the_matrix(world):
    # given the purchasing operations the API serves
    schema = Client().get("/api/openapi.json").json()
    served = {
        (method, path)
        for path, methods in schema["paths"].items()
        if path.startswith("/api/v1/purchasing")
        for method in methods
    }
    # when compared with the matrix
    listed = {(method, template(path)) for method, path, _permission, _body in operations(world)}
    # then each one is in it
    assert served == listed


def test_anonymous_is_401_everywhere(world):
    # given no credentials
    before = state()
    for method, path, _permission, body in operations(world):
        # when calling each operation
        response = call(Client(), method, path, body)
        # then 401 and nothing changed
        assert response.status_code == 401, (method, path)
    assert state() == before


def test_without_permission_is_403_and_changes_nothing(world, make_user, api_client_for):
    # given a customer-service user (no purchasing permissions)
    client = api_client_for(make_user("customer_service"))
    before = state()
    for method, path, permission, body in operations(world):
        # when calling each operation
        response = call(client, method, path, body)
        # then 403 naming the permission
        assert response.status_code == 403, (method, path)
        assert response.json()["fields"] == {"permission": permission}
    assert state() == before


def test_each_permission_opens_its_operation(world, make_user, api_client_for):
    # given, per operation, a user holding exactly its permission
    for method, path, permission, body in operations(world):
        if path.endswith(("/cancel", "/close", "/receive")) or method == "delete":
            continue  # state-dependent; covered below
        client = api_client_for(grant(make_user(), permission))
        # when calling it
        response = call(client, method, path, body)
        # then it is not refused for permissions
        assert response.status_code in (200, 201, 204), (method, path, response.content)


def test_out_of_scope_order_is_404(world, make_user, api_client_for):
    # given a user limited to another warehouse
    other = create_warehouse()
    limited = grant(
        make_user(),
        "purchasing.view_purchaseorder",
        "purchasing.change_purchaseorder",
        "purchasing.approve_purchaseorder",
        "purchasing.receive_purchaseorder",
        "purchasing.add_purchaseorder",
    )
    inventory_services.set_warehouse_scope(user_id=limited.pk, warehouse_ids=[other.pk], actor=world["actor"])
    client = api_client_for(limited)
    order = world["order"]
    before = state()
    # when reading, changing, approving or ordering into the first warehouse
    answers = [
        client.get(f"/api/v1/purchasing/orders/{order.pk}").status_code,
        patch(client, f"/api/v1/purchasing/orders/{order.pk}", {"note": "x"}).status_code,
        post(client, f"/api/v1/purchasing/orders/{order.pk}/approve", {}).status_code,
        post(
            client,
            "/api/v1/purchasing/orders",
            {
                "supplier_id": world["supplier"].pk,
                "warehouse_id": world["warehouse"].pk,
                "lines": [{"sku_id": world["sku"].pk, "quantity": 1}],
            },
        ).status_code,
    ]
    listed = client.get("/api/v1/purchasing/orders").json()
    # then it does not exist for them, and nothing changed
    assert answers == [404, 404, 404, 404]
    assert listed == {"count": 0, "items": []}
    assert state() == before


def test_supplier_contacts_masked_without_view_pii(world, make_user, api_client_for):
    # given a finance-like reader without core.view_pii, and one with it
    plain = api_client_for(grant(make_user(), "purchasing.view_supplier"))
    trusted = api_client_for(grant(make_user(), "purchasing.view_supplier", "core.view_pii"))
    path = f"/api/v1/purchasing/suppliers/{world['supplier'].pk}"
    # when both read the supplier
    masked = plain.get(path).json()
    clear = trusted.get(path).json()
    # then contact fields are masked for the first only
    assert (masked["contact_name"], masked["contact_phone"], masked["contact_email"]) == (
        "王**",
        "138****5678",
        "w***@example.com",
    )
    assert (clear["contact_name"], clear["contact_phone"], clear["contact_email"]) == (
        "王小明",
        "13812345678",
        "wang@example.com",
    )


def test_create_supplier_exact(make_user, api_client_for):
    # given a user who may add suppliers and see personal data
    client = api_client_for(grant(make_user(), "purchasing.add_supplier", "core.view_pii"))
    # when creating one
    response = post(
        client,
        "/api/v1/purchasing/suppliers",
        {
            "code": "SUP-9",
            "name": "义乌小商品",
            "contact_name": "李四",
            "contact_phone": "13900001111",
            "lead_time_days": 12,
            "minimum_order_amount": "500.00",
            "minimum_order_quantity": 100,
            "payment_terms": "net_60",
        },
    )
    # then it answers exactly what was stored
    assert response.status_code == 201
    body = response.json()
    supplier = Supplier.objects.get(code="SUP-9")
    assert body == {
        "id": supplier.pk,
        "code": "SUP-9",
        "name": "义乌小商品",
        "contact_name": "李四",
        "contact_phone": "13900001111",
        "contact_email": "",
        "lead_time_days": 12,
        "minimum_order_amount": "500.00",
        "minimum_order_quantity": 100,
        "payment_terms": "net_60",
        "is_active": True,
        "note": "",
        "created_at": timezone.localtime(supplier.created_at).isoformat(),
        "updated_at": timezone.localtime(supplier.updated_at).isoformat(),
    }
    assert AuditEntry.objects.filter(action="supplier.created", object_id=str(supplier.pk)).count() == 1


def test_order_lifecycle_through_the_api(world, make_user, api_client_for):
    # given a buyer who may do everything with orders, and 10 units already on hand at cost 10.00
    sku, warehouse, order = world["sku"], world["warehouse"], world["order"]
    stock(sku=sku, warehouse=warehouse, on_hand=10)
    buyer = grant(
        make_user(),
        "purchasing.view_purchaseorder",
        "purchasing.approve_purchaseorder",
        "purchasing.receive_purchaseorder",
    )
    client = api_client_for(buyer)
    line = order.lines.get()
    # when it is approved, then received in two deliveries
    approved = post(client, f"/api/v1/purchasing/orders/{order.pk}/approve", {})
    first = post(
        client,
        f"/api/v1/purchasing/orders/{order.pk}/receive",
        {"lines": [{"line_id": line.pk, "received": 5, "accepted": 4, "rejected": 1}], "note": "第一批"},
    )
    over = post(
        client,
        f"/api/v1/purchasing/orders/{order.pk}/receive",
        {"lines": [{"line_id": line.pk, "received": 7, "accepted": 7, "rejected": 0}]},
    )
    second = post(
        client,
        f"/api/v1/purchasing/orders/{order.pk}/receive",
        {"lines": [{"line_id": line.pk, "received": 6, "accepted": 6, "rejected": 0}]},
    )
    cancel_late = post(client, f"/api/v1/purchasing/orders/{order.pk}/cancel", {"reason": "晚了"})
    detail = client.get(f"/api/v1/purchasing/orders/{order.pk}").json()
    # then each step answers exactly
    assert approved.status_code == 200
    assert approved.json()["status"] == "approved"
    assert first.status_code == 201
    receipt = PurchaseReceipt.objects.get(pk=first.json()["id"])
    assert first.json()["lines"] == [
        {
            "order_line_id": line.pk,
            "sku_id": sku.pk,
            "received_quantity": 5,
            "accepted_quantity": 4,
            "rejected_quantity": 1,
            "unit_cost": "8.00",
            "cost_before": "10.00",
            "cost_after": "9.43",  # (10 × 10.00 + 4 × 8.00) / 14 = 9.428…
        }
    ]
    assert receipt.note == "第一批"
    assert over.status_code == 409
    assert over.json()["code"] == "over_receipt"
    assert second.status_code == 201
    assert cancel_late.status_code == 409
    assert cancel_late.json()["code"] == "illegal_purchase_order_transition"
    assert detail["status"] == "received"
    assert detail["lines"] == [
        {
            "id": line.pk,
            "sku_id": sku.pk,
            "merchant_code": sku.merchant_code,
            "quantity": 10,
            "unit_price": "8.00",
            "amount": "80.00",
            "received_quantity": 11,
            "accepted_quantity": 10,
            "rejected_quantity": 1,
            "open_quantity": 0,
        }
    ]
    assert [(event["from_status"], event["to_status"], event["actor_id"]) for event in detail["events"]] == [
        ("", "draft", world["actor"].pk),
        ("draft", "approved", buyer.pk),
        ("approved", "partially_received", buyer.pk),
        ("partially_received", "received", buyer.pk),
    ]
    assert StockLevel.objects.get(sku=sku, warehouse=warehouse).on_hand == 20
    # (14 × 9.43 + 6 × 8.00) / 20 = 9.001
    assert Sku.objects.get(pk=sku.pk).cost_price == Decimal("9.00")


def test_suggestions_and_drafts_through_the_api(world, make_user, api_client_for):
    # given sales of 60 units in the last 30 days and no stock left, and the world's draft cancelled
    sku, warehouse, supplier = world["sku"], world["warehouse"], world["supplier"]
    PurchaseOrder.objects.filter(pk=world["order"].pk).update(status=PurchaseOrderStatus.CANCELLED)
    stock(sku=sku, warehouse=warehouse, on_hand=60)
    inventory_services.issue_stock(sku_id=sku.pk, warehouse_id=warehouse.pk, quantity=60, actor=None)
    client = api_client_for(
        grant(make_user(), "purchasing.view_purchaseorder", "purchasing.add_purchaseorder")
    )
    # when suggestions are listed and turned into drafts twice
    listed = client.get("/api/v1/purchasing/suggestions?days=30&review_period_days=7")
    suggestion = listed.json()[0]
    body = {
        "suggestions": [
            {
                "sku_id": suggestion["sku_id"],
                "warehouse_id": suggestion["warehouse_id"],
                "supplier_id": suggestion["supplier_id"],
                "quantity": suggestion["suggested_quantity"],
            }
        ]
    }
    created = post(client, "/api/v1/purchasing/suggestions/drafts", body)
    repeated = post(client, "/api/v1/purchasing/suggestions/drafts", body)
    # then the suggestion is 2/day × (7 + 7) = 28 units from the supplier, and one draft exists
    assert listed.status_code == 200
    assert {
        key: suggestion[key]
        for key in ("sku_id", "supplier_id", "velocity", "reorder_point", "suggested_quantity")
    } == {
        "sku_id": sku.pk,
        "supplier_id": supplier.pk,
        "velocity": "2.0000",
        "reorder_point": "14.0000",
        "suggested_quantity": 28,
    }
    assert created.status_code == 200
    assert repeated.json() == created.json()
    draft = PurchaseOrder.objects.get(pk=created.json()[0]["id"])
    assert (draft.status, draft.supplier_id, draft.total_amount) == ("draft", supplier.pk, Decimal("224.00"))
    assert draft.expected_date == timezone.localdate() + dt.timedelta(days=7)


def test_list_orders_query_count(world, make_user, api_client_for, django_assert_max_num_queries):
    # given several orders
    for _ in range(5):
        create_purchase_order(
            supplier=world["supplier"], warehouse=world["warehouse"], lines=[(create_sku(), 1, "1.00")]
        )
    client = api_client_for(grant(make_user(), "purchasing.view_purchaseorder"))
    # when listing them, the query count stays flat
    with django_assert_max_num_queries(8):
        response = client.get("/api/v1/purchasing/orders")
    # then all six are there
    assert response.json()["count"] == 6


def test_bad_input_is_422_not_500(world, make_user, api_client_for):
    # given a user who may create orders
    client = api_client_for(grant(make_user(), "purchasing.add_purchaseorder", "purchasing.add_supplier"))
    # when the input is out of range
    answers = [
        post(
            client,
            "/api/v1/purchasing/orders",
            {"supplier_id": world["supplier"].pk, "warehouse_id": world["warehouse"].pk, "lines": []},
        ).status_code,
        post(
            client, "/api/v1/purchasing/suppliers", {"code": "X", "name": "Y", "lead_time_days": 99999}
        ).status_code,
        post(
            client,
            "/api/v1/purchasing/orders",
            {
                "supplier_id": world["supplier"].pk,
                "warehouse_id": world["warehouse"].pk,
                "lines": [
                    {"sku_id": world["sku"].pk, "quantity": 2**31 - 1, "unit_price": "999999999999.00"}
                ],
            },
        ).status_code,
    ]
    # then each is a 422
    assert answers == [422, 422, 422]
