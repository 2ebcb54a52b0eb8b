import json

import pytest
from django.test import Client

from shopops.channels.models import Platform
from shopops.core.models import IdempotencyRecord
from shopops.inventory.models import StockLevel
from shopops.orders.models import IssueStatus, Order, OrderIssue, OrderStatus
from shopops.orders.tests.factories import create_order, create_shop, stocked_sku

pytestmark = pytest.mark.django_db


def post(client, path, body, **headers):
    return client.post(path, data=json.dumps(body), content_type="application/json", **headers)


def patch(client, path, body):
    return client.patch(path, data=json.dumps(body), content_type="application/json")


def create_body(shop, sku, external_id="W-1"):
    return {
        "shop_id": shop.pk,
        "external_id": external_id,
        "status": "paid",
        "lines": [{"sku_id": sku.pk, "quantity": 2, "unit_price": "49.50"}],
        "shipping_fee": "8.00",
        "receiver_name": "张三",
        "receiver_phone": "13800001234",
        "receiver_province": "浙江省",
        "receiver_city": "杭州市",
        "receiver_district": "西湖区",
        "receiver_address": "文三路 1 号",
        "buyer_id": "web-42",
    }


def test_create_order_with_idempotency_key_creates_once_and_replays(make_user, api_client_for):
    # given
    shop = create_shop(platform=Platform.OWN)
    sku = stocked_sku(on_hand=10)
    client = api_client_for(make_user("operations"))
    body = create_body(shop, sku)
    # when
    first = post(client, "/api/v1/orders", body, HTTP_IDEMPOTENCY_KEY="key-1")
    again = post(client, "/api/v1/orders", body, HTTP_IDEMPOTENCY_KEY="key-1")
    # then
    assert first.status_code == 201, first.content
    data = first.json()
    assert (data["status"], data["paid_amount"], data["goods_amount"], data["is_valid"]) == (
        "paid",
        "107.00",
        "99.00",
        True,
    )
    assert data["receiver_phone"] == "138****1234"
    assert data["receiver_name"] == "张**"
    assert again.status_code == 201
    assert again.json() == data
    assert again["Idempotent-Replayed"] == "true"
    assert Order.objects.count() == 1
    assert StockLevel.objects.get(sku=sku).reserved == 2


def test_same_idempotency_key_with_another_body_is_refused(make_user, api_client_for):
    shop = create_shop(platform=Platform.OWN)
    sku = stocked_sku(on_hand=10)
    client = api_client_for(make_user("operations"))
    post(client, "/api/v1/orders", create_body(shop, sku), HTTP_IDEMPOTENCY_KEY="key-1")
    response = post(
        client, "/api/v1/orders", create_body(shop, sku, external_id="W-2"), HTTP_IDEMPOTENCY_KEY="key-1"
    )
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_reused"
    assert Order.objects.count() == 1


def test_create_order_requires_the_idempotency_key_and_an_own_shop(make_user, api_client_for):
    client = api_client_for(make_user("operations"))
    sku = stocked_sku(on_hand=10)
    missing = post(client, "/api/v1/orders", create_body(create_shop(platform=Platform.OWN), sku))
    tmall = post(
        client,
        "/api/v1/orders",
        create_body(create_shop(platform=Platform.TMALL), sku),
        HTTP_IDEMPOTENCY_KEY="k",
    )
    assert (missing.status_code, missing.json()["code"]) == (422, "idempotency_key_required")
    assert tmall.status_code == 422
    assert Order.objects.count() == 0
    assert IdempotencyRecord.objects.count() == 0


@pytest.mark.parametrize(
    ("role", "expected"),
    [(None, 401), ("finance", 403), ("warehouse", 403)],
)
def test_create_order_denied_creates_nothing(make_user, api_client_for, role, expected):
    shop = create_shop(platform=Platform.OWN)
    sku = stocked_sku(on_hand=10)
    client = Client() if role is None else api_client_for(make_user(role))
    response = post(client, "/api/v1/orders", create_body(shop, sku), HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == expected
    assert Order.objects.count() == 0


def test_create_order_for_a_shop_out_of_scope_is_not_found(make_user, api_client_for):
    mine, other = create_shop(platform=Platform.OWN), create_shop(platform=Platform.OWN)
    sku = stocked_sku(on_hand=10)
    client = api_client_for(make_user("operations", shops=[mine]))
    response = post(client, "/api/v1/orders", create_body(other, sku), HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 404
    assert Order.objects.count() == 0


# Matrix for the operations on an existing order: (method, path suffix, body, permitted role, expected status).
ORDER_OPERATIONS = [
    ("post", "transitions", {"to_status": "closed", "reason": "测试关闭"}, "operations"),
    ("post", "cancel", {"reason": "买家取消"}, "customer_service"),
    ("patch", "memo", {"seller_memo": "加急", "flag": 1}, "operations"),
    ("post", "review", {}, "operations"),
]


def call(client, method, path, body):
    return post(client, path, body) if method == "post" else patch(client, path, body)


def snapshot(order):
    order.refresh_from_db()
    return (order.status, order.seller_memo, order.flag, order.review_status, order.events.count())


@pytest.mark.parametrize(("method", "suffix", "body", "role"), ORDER_OPERATIONS)
def test_order_operations_authorization_matrix(make_user, api_client_for, method, suffix, body, role):
    # given
    shop, other_shop = create_shop(), create_shop()
    order = create_order(shop=shop, lines=[("A", 1, "10.00")])
    outside = create_order(shop=other_shop, lines=[("A", 1, "10.00")])
    path = f"/api/v1/orders/{order.pk}/{suffix}"
    before = snapshot(order)
    # when / then: anonymous, no permission, out of scope
    assert call(Client(), method, path, body).status_code == 401
    assert call(api_client_for(make_user("warehouse")), method, path, body).status_code == 403
    scoped = api_client_for(make_user(role, shops=[shop]))
    assert call(scoped, method, f"/api/v1/orders/{outside.pk}/{suffix}", body).status_code == 404
    assert snapshot(order) == before
    # when / then: permitted
    response = call(scoped, method, path, body)
    assert response.status_code == 200, response.content


def test_illegal_transition_answers_409_naming_both_statuses(make_user, api_client_for):
    order = create_order(shop=create_shop(), lines=[("A", 1, "10.00")])
    client = api_client_for(make_user("operations"))
    response = post(client, f"/api/v1/orders/{order.pk}/transitions", {"to_status": "pending_payment"})
    assert response.status_code == 409
    assert response.json()["code"] == "illegal_transition"
    assert response.json()["message"] == f"订单 {order.external_id} 不能从「待发货」变为「待付款」"
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID


def test_memo_update_returns_the_order(make_user, api_client_for):
    order = create_order(shop=create_shop(), lines=[("A", 1, "10.00")])
    response = patch(api_client_for(make_user("operations")), f"/api/v1/orders/{order.pk}/memo", {"flag": 3})
    assert response.status_code == 200
    assert (response.json()["flag"], response.json()["seller_memo"]) == (3, "")


@pytest.mark.parametrize("action", ["resolve", "ignore"])
def test_issue_actions_authorization_matrix(make_user, api_client_for, action):
    # given
    shop, other_shop = create_shop(), create_shop()
    order = create_order(shop=shop, lines=[("UNKNOWN", 1, "10.00")])
    outside = create_order(shop=other_shop, lines=[("UNKNOWN", 1, "10.00")])
    issue = order.issues.get(rule="sku_unmatched")
    outside_issue = outside.issues.get(rule="sku_unmatched")
    body = (
        {"resolution": "已改商家编码", "mark_invalid": False} if action == "resolve" else {"reason": "误报"}
    )
    path = f"/api/v1/order-issues/{issue.pk}/{action}"
    # when / then
    assert post(Client(), path, body).status_code == 401
    assert post(api_client_for(make_user("finance")), path, body).status_code == 403
    scoped = api_client_for(make_user("customer_service", shops=[shop]))
    assert post(scoped, f"/api/v1/order-issues/{outside_issue.pk}/{action}", body).status_code == 404
    issue.refresh_from_db()
    assert issue.status == IssueStatus.OPEN
    response = post(scoped, path, body)
    assert response.status_code == 200, response.content
    assert response.json()["status"] == ("resolved" if action == "resolve" else "ignored")
    order.refresh_from_db()
    assert order.review_status == "passed"
    assert OrderIssue.objects.get(pk=outside_issue.pk).status == IssueStatus.OPEN
