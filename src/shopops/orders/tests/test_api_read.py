from decimal import Decimal

import pytest
from django.test import Client

from shopops.catalog.tests.factories import create_shop
from shopops.channels.models import Platform
from shopops.core.models import AuditEntry
from shopops.orders.models import OrderEvent, OrderEventKind, OrderIssue, OrderStatus, SavedFilter
from shopops.orders.tests.test_queries import local, make_order
from shopops.purchasing.tests.factories import grant


@pytest.fixture
def world(make_user):
    shop = create_shop(code="tm-1", platform=Platform.TMALL)
    other_shop = create_shop(code="jd-1", platform=Platform.JD)
    order = make_order(
        shop=shop,
        external_id="TB1001",
        buyer_nick="小明",
        buyer_email="dave@example.com",
        paid_amount="129.00",
        paid_at=local(2026, 6, 1, 10, 5),
        lines=[("MC-RED", 2)],
    )
    OrderEvent.objects.create(
        order=order,
        kind=OrderEventKind.IMPORTED,
        via="import",
        message="地址变更",
        changes={"receiver_phone": ["13800131234", "13900131234"], "paid_amount": ["100.00", "129.00"]},
    )
    OrderIssue.objects.create(order=order, rule="incomplete_address", message="地址不完整")
    elsewhere = make_order(shop=other_shop, external_id="JD2002")
    OrderIssue.objects.create(order=elsewhere, rule="unpaid_timeout", message="超时未付款")
    owner = make_user("operations")
    saved = SavedFilter.objects.create(owner=owner, name="待发货", params={"status": ["paid"]})
    return {
        "shop": shop,
        "other_shop": other_shop,
        "order": order,
        "elsewhere": elsewhere,
        "owner": owner,
        "saved": saved,
    }


def operations(world) -> list[tuple[str, str, str, dict | None]]:
    order, saved = world["order"], world["saved"]
    return [
        ("get", "/api/v1/orders", "orders.view_order", None),
        ("get", "/api/v1/orders/export", "orders.export_order", None),
        ("get", f"/api/v1/orders/{order.pk}", "orders.view_order", None),
        ("get", f"/api/v1/orders/{order.pk}/events", "orders.view_order", None),
        ("get", "/api/v1/order-issues", "orders.view_orderissue", None),
        ("get", "/api/v1/saved-filters", "orders.view_savedfilter", None),
        ("get", f"/api/v1/saved-filters/{saved.pk}", "orders.view_savedfilter", None),
        ("post", "/api/v1/saved-filters", "orders.add_savedfilter", {"name": "新", "params": {}}),
        ("patch", f"/api/v1/saved-filters/{saved.pk}", "orders.change_savedfilter", {"name": "改"}),
        ("delete", f"/api/v1/saved-filters/{saved.pk}", "orders.delete_savedfilter", None),
    ]


def call(client: Client, method: str, path: str, body: dict | None):
    if body is None:
        return getattr(client, method)(path)
    return getattr(client, method)(path, body, content_type="application/json")


def state() -> tuple:
    return (
        list(SavedFilter.objects.order_by("pk").values_list("pk", "name", "params", "is_shared")),
        AuditEntry.objects.filter(action__in=["order.exported", "saved_filter.created"]).count(),
    )


def test_anonymous_is_401_everywhere(world):
    before = state()
    for method, path, _permission, body in operations(world):
        assert call(Client(), method, path, body).status_code == 401, (method, path)
    assert state() == before


def test_without_permission_is_403_and_changes_nothing(world, make_user, api_client_for):
    # given a designer (no orders permissions)
    client = api_client_for(make_user("designer"))
    before = state()
    for method, path, permission, body in operations(world):
        # when
        response = call(client, method, path, body)
        # then
        assert response.status_code == 403, (method, path)
        assert response.json()["fields"] == {"permission": permission}
    assert state() == before


def test_each_permission_opens_its_operation(world, make_user, api_client_for):
    for method, path, permission, body in operations(world):
        user = make_user()
        SavedFilter.objects.filter(pk=world["saved"].pk).update(owner=user)  # only the owner may change it
        client = api_client_for(grant(user, permission))
        response = call(client, method, path, body)
        assert response.status_code in (200, 201, 204), (method, path, response.content)


def test_out_of_scope_order_is_404(world, make_user, api_client_for):
    # given an operator limited to the JD shop
    client = api_client_for(make_user("operations", shops=[world["other_shop"]]))
    order = world["order"]
    # when
    answers = [
        client.get(f"/api/v1/orders/{order.pk}").status_code,
        client.get(f"/api/v1/orders/{order.pk}/events").status_code,
    ]
    listed = client.get("/api/v1/orders").json()
    issues = client.get("/api/v1/order-issues").json()
    # then
    assert answers == [404, 404]
    assert [item["external_id"] for item in listed["items"]] == ["JD2002"]
    assert [item["order_external_id"] for item in issues["items"]] == ["JD2002"]


def test_private_saved_filter_of_someone_else_is_404_and_shared_one_is_read_only(
    world, make_user, api_client_for
):
    # given
    client = api_client_for(make_user("operations"))
    saved = world["saved"]
    path = f"/api/v1/saved-filters/{saved.pk}"
    before = state()
    # when / then private: not there
    assert client.get(path).status_code == 404
    assert client.patch(path, {"name": "x"}, content_type="application/json").status_code == 404
    assert client.delete(path).status_code == 404
    # shared: readable, but only the owner changes it
    SavedFilter.objects.filter(pk=saved.pk).update(is_shared=True)
    assert client.get(path).json()["is_own"] is False
    refused = client.delete(path)
    assert refused.status_code == 403
    assert refused.json()["code"] == "saved_filter_not_owned"
    assert SavedFilter.objects.filter(pk=saved.pk).exists()
    assert state()[1] == before[1]


def test_list_masks_personal_data_and_filters(world, make_user, api_client_for):
    # given a customer-service user (no core.view_pii) and an admin (with it)
    plain = api_client_for(make_user("customer_service"))
    trusted = api_client_for(make_user("admin"))
    # when
    masked = plain.get(
        "/api/v1/orders",
        {
            "phone": "1234",
            "status": ["paid"],
            "shop_id": world["shop"].pk,
            "placed_from": "2026-06-01",
            "placed_to": "2026-06-01",
        },
    ).json()
    clear = trusted.get("/api/v1/orders", {"q": "TB1001"}).json()
    # then
    assert masked["count"] == 1
    item = masked["items"][0]
    assert (item["external_id"], item["receiver_name"], item["receiver_phone"], item["buyer_nick"]) == (
        "TB1001",
        "张**",
        "138****1234",
        "小**",
    )
    assert item["paid_amount"] == "129.00"
    assert item["paid_at"] == "2026-06-01T10:05:00+08:00"
    assert item["shop"] == {
        "id": world["shop"].pk,
        "code": "tm-1",
        "name": world["shop"].name,
        "platform": "tmall",
    }
    assert (clear["items"][0]["receiver_name"], clear["items"][0]["receiver_phone"]) == (
        "张三",
        "13800131234",
    )


def test_list_uses_a_saved_filter_and_explicit_parameters_override_it(world, api_client_for):
    # given the owner's saved filter status=paid and a shipped order
    make_order(shop=world["shop"], external_id="TB1002", status=OrderStatus.SHIPPED)
    client = api_client_for(world["owner"])
    saved = world["saved"].pk
    # when
    by_filter = client.get("/api/v1/orders", {"saved_filter": saved, "ordering": "external_id"}).json()
    overridden = client.get("/api/v1/orders", {"saved_filter": saved, "status": ["shipped"]}).json()
    # then
    assert [item["external_id"] for item in by_filter["items"]] == ["JD2002", "TB1001"]
    assert [item["external_id"] for item in overridden["items"]] == ["TB1002"]


def test_list_refuses_bad_parameters_with_422(world, api_client_for):
    client = api_client_for(world["owner"])
    bad_phone = client.get("/api/v1/orders", {"phone": "123"})
    bad_range = client.get("/api/v1/orders", {"amount_min": "10", "amount_max": "5"})
    bad_order = client.get("/api/v1/orders", {"ordering": "receiver_phone"})
    assert (bad_phone.status_code, bad_phone.json()["fields"]) == (
        422,
        {"phone": "请输入完整的 11 位手机号或后 4 位"},
    )
    assert (bad_range.status_code, bad_range.json()["fields"]) == (
        422,
        {"amount_max": "最高金额不能低于最低金额"},
    )
    assert bad_order.status_code == 422


def test_list_query_count_does_not_grow_with_orders(
    world, make_user, api_client_for, django_assert_num_queries
):
    # given a reader and twelve more orders with lines
    client = api_client_for(make_user("finance"))
    for _ in range(12):
        make_order(shop=world["shop"], lines=[("MC-A", 1), ("MC-B", 2)])
    client.get("/api/v1/orders")  # warm the token and permission caches of this client's user
    # when / then: token with its user, two permission queries, the page, the count
    with django_assert_num_queries(5):
        response = client.get("/api/v1/orders?limit=50")
    assert response.json()["count"] == 14


def test_detail_has_lines_amounts_timeline_and_open_issues_masked(world, make_user, api_client_for):
    # given
    client = api_client_for(make_user("operations"))
    order = world["order"]
    # when
    body = client.get(f"/api/v1/orders/{order.pk}").json()
    # then
    assert body["receiver_address"] == "浙江省杭州市西湖区******"
    assert body["buyer_email"] == "d***@example.com"
    assert [(line["merchant_code"], line["quantity"], line["unit_price"]) for line in body["lines"]] == [
        ("MC-RED", 2, "10.00")
    ]
    assert body["events"][0]["changes"] == {
        "receiver_phone": ["138****1234", "139****1234"],
        "paid_amount": ["100.00", "129.00"],
    }
    assert [(issue["rule"], issue["status"]) for issue in body["open_issues"]] == [
        ("incomplete_address", "open")
    ]
    assert (body["shipments"], body["aftersale_cases"]) == ([], [])


def test_detail_sections_registered_by_higher_apps_are_included(
    world, make_user, api_client_for, monkeypatch
):
    from shopops.orders.api import read

    monkeypatch.setitem(
        read.DETAIL_SECTIONS, "shipments", lambda user, order: [{"reference": f"P-{order.pk}"}]
    )
    body = api_client_for(make_user("operations")).get(f"/api/v1/orders/{world['order'].pk}").json()
    assert body["shipments"] == [{"reference": f"P-{world['order'].pk}"}]


def test_events_endpoint_lists_the_timeline(world, make_user, api_client_for):
    body = api_client_for(make_user("warehouse")).get(f"/api/v1/orders/{world['order'].pk}/events").json()
    assert body["count"] == 1
    assert (body["items"][0]["kind"], body["items"][0]["via"], body["items"][0]["message"]) == (
        "imported",
        "import",
        "地址变更",
    )


def test_exception_queue_filters_by_rule_and_shop(world, make_user, api_client_for):
    client = api_client_for(make_user("operations"))
    by_rule = client.get("/api/v1/order-issues", {"rule": "unpaid_timeout"}).json()
    by_shop = client.get("/api/v1/order-issues", {"shop_id": world["shop"].pk}).json()
    assert [item["order_external_id"] for item in by_rule["items"]] == ["JD2002"]
    assert [(item["rule"], item["shop_name"]) for item in by_shop["items"]] == [
        ("incomplete_address", world["shop"].name)
    ]


def test_saved_filter_crud_round_trip(world, api_client_for):
    # given
    client = api_client_for(world["owner"])
    # when creating
    created = client.post(
        "/api/v1/saved-filters",
        {"name": "今日大单", "params": {"amount_min": 500, "placed_from": "2026-06-01"}, "is_shared": True},
        content_type="application/json",
    )
    # then
    assert created.status_code == 201
    body = created.json()
    assert (body["name"], body["params"], body["is_shared"], body["is_own"]) == (
        "今日大单",
        {"amount_min": "500", "placed_from": "2026-06-01"},
        True,
        True,
    )
    path = f"/api/v1/saved-filters/{body['id']}"
    renamed = client.patch(path, {"name": "大单", "is_shared": False}, content_type="application/json").json()
    assert (renamed["name"], renamed["is_shared"]) == ("大单", False)
    bad = client.patch(path, {"params": {"status": ["nope"]}}, content_type="application/json")
    assert bad.status_code == 422
    listed = client.get("/api/v1/saved-filters").json()
    assert [item["name"] for item in listed["items"]] == ["大单", "待发货"]
    assert client.delete(path).status_code == 204
    assert client.get(path).status_code == 404
    assert AuditEntry.objects.filter(action="saved_filter.deleted", object_id=str(body["id"])).count() == 1


def test_money_in_detail_is_exact(world, make_user, api_client_for):
    body = api_client_for(make_user("finance")).get(f"/api/v1/orders/{world['order'].pk}").json()
    assert (body["paid_amount"], body["refunded_amount"], body["goods_amount"]) == ("129.00", "0.00", "0.00")
    assert Decimal(body["paid_amount"]) == world["order"].paid_amount


def test_detail_query_count_does_not_grow_with_lines_and_events(
    world, make_user, api_client_for, django_assert_num_queries
):
    # given an order with more lines and timeline entries
    order = make_order(shop=world["shop"], lines=[(f"MC-{number}", 1) for number in range(8)])
    for number in range(5):
        OrderEvent.objects.create(order=order, kind=OrderEventKind.MEMO, via="admin", message=f"备注{number}")
    client = api_client_for(make_user("finance"))
    client.get(f"/api/v1/orders/{order.pk}")
    # when / then: token with its user, two permission queries, the order, lines, events, open issues,
    # and one query for each section registered by higher apps (parcels, after-sales cases)
    with django_assert_num_queries(9):
        body = client.get(f"/api/v1/orders/{order.pk}").json()
    assert (len(body["lines"]), len(body["events"])) == (8, 5)
