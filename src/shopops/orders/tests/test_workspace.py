"""The order workspace (订单工作台): what each role sees and may do on the order page, in place.

Every action: a permitted role succeeds (and the timeline says so), a role without the permission sees no
button and its POST is refused with 403, a state that does not allow the action shows no button and the
POST is refused with the service's reason; an order of a shop outside the user's scope is a 404."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from shopops.core.models import AuditEntry
from shopops.fulfillment.models import Shipment, ShipmentStatus
from shopops.fulfillment.tests.factories import parcel_for
from shopops.inventory.tests.factories import create_warehouse
from shopops.orders.models import IssueStatus, Order, OrderIssue, OrderStatus, ReviewStatus
from shopops.orders.tests.factories import create_order, create_shop, stocked_sku

pytestmark = pytest.mark.django_db


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page_of(order: Order) -> str:
    return reverse("admin:orders_order_change", args=[order.pk])


def action(order: Order, name: str) -> str:
    return reverse("admin:orders_order_workspace_action", args=[order.pk, name])


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]] if response.context else []


@pytest.fixture
def world(db: None) -> dict[str, Any]:
    warehouse = create_warehouse()
    shop = create_shop(name="工作台店")
    other = create_shop(name="别家店")
    sku = stocked_sku(on_hand=10, warehouse=warehouse, merchant_code="WS-TEE-M")
    second = stocked_sku(on_hand=10, warehouse=warehouse, merchant_code="WS-CAP")
    order = create_order(
        shop=shop,
        lines=[(sku, 2, "99.00"), (second, 1, "30.00")],
        external_id="WS-1001",
        receiver_phone="13812345678",
        receiver_name="李小龙",
    )
    foreign = create_order(shop=other, lines=[(sku, 1, "99.00")], external_id="WS-9001")
    return {
        "shop": shop,
        "other": other,
        "order": order,
        "foreign": foreign,
        "sku": sku,
        "warehouse": warehouse,
    }


def test_the_page_reads_as_a_workspace_without_codes_or_reprs(world, make_user):
    # given an operator (运营) and a paid order with stock reserved
    user = make_user("operations")
    order = world["order"]

    # when
    response = client_for(user).get(page_of(order))

    # then: header, lines with product names and stock, masked receiver, plain-language timeline
    assert response.status_code == 200
    html = response.content.decode()
    text = re.sub(r"<[^>]+>", " ", html)
    assert "WS-1001" in text
    assert "待发货" in text
    assert "审核通过" in text
    assert "WS-TEE-M" in text
    assert str(world["sku"].product.name) in text
    assert "已预占 2 件" in text
    assert "138****5678" in text
    assert "13812345678" not in html
    assert "李小龙" not in html
    assert "¥228.00" in text  # paid: 2 × 99 + 30
    timeline = re.search(r'data-testid="timeline".*?</ol>', html, re.S)
    assert timeline is not None
    shown = re.sub(r"<[^>]+>", " ", timeline.group(0))
    assert "订单创建" in shown
    assert "库存：未预占 → 已预占" in shown
    for raw in ("{", "}", "[", "]", "None", "True", "False", "stock_state", "reserved"):
        assert raw not in shown, raw
    # no cost price for anyone on this page
    assert "成本" not in text


def test_memo_and_flag_in_place_for_a_permitted_role_only(world, make_user):
    order = world["order"]
    operator, finance = make_user("operations"), make_user("finance")

    # when 运营 saves a flag and memo
    response = client_for(operator).post(
        action(order, "memo"), {"flag": "2", "seller_memo": "加急"}, follow=True
    )

    # then
    order.refresh_from_db()
    assert (order.flag, order.seller_memo) == (2, "加急")
    assert "已保存旗帜和卖家备注" in messages_of(response)
    assert "卖家备注改为“加急”；旗帜：无旗帜 → 黄旗" in response.content.decode()
    assert AuditEntry.objects.filter(action="order.memo_updated", object_id=str(order.pk)).exists()

    # and 财务 (orders: view only) sees no form and is refused
    page = client_for(finance).get(page_of(order)).content.decode()
    assert 'data-testid="memo-form"' not in page
    refused = client_for(finance).post(action(order, "memo"), {"flag": "1", "seller_memo": "x"})
    assert refused.status_code == 403
    order.refresh_from_db()
    assert order.flag == 2


def test_actions_are_posts(world, make_user):
    response = client_for(make_user("operations")).get(action(world["order"], "memo"))
    assert response.status_code == 405


def test_cancel_closes_a_paid_order_and_refuses_a_shipped_one(world, make_user):
    order = world["order"]
    operator = make_user("operations")
    client = client_for(operator)
    assert 'data-testid="cancel-order"' in client.get(page_of(order)).content.decode()

    # a reason is required
    client.post(action(order, "cancel"), {"reason": " "})
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID

    response = client.post(action(order, "cancel"), {"reason": "买家要求取消"}, follow=True)
    order.refresh_from_db()
    assert order.status == OrderStatus.CLOSED
    assert "订单已交易关闭" in messages_of(response)
    assert "状态：待发货 → 交易关闭（买家要求取消）" in response.content.decode()

    # then the state no longer allows it: no button, and the POST is refused with the reason
    assert 'data-testid="cancel-order"' not in client.get(page_of(order)).content.decode()
    again = client.post(action(order, "cancel"), {"reason": "再取消"}, follow=True)
    assert any("不能从「交易关闭」变为「已取消」" in message for message in messages_of(again))


def test_cancel_needs_the_permission(world, make_user):
    finance = make_user("finance")
    assert (
        'data-testid="cancel-order"' not in client_for(finance).get(page_of(world["order"])).content.decode()
    )
    assert client_for(finance).post(action(world["order"], "cancel"), {"reason": "x"}).status_code == 403


def test_out_of_scope_order_is_a_404_for_page_and_actions(world, make_user):
    user = make_user("operations", shops=[world["shop"]])
    client = client_for(user)
    assert client.get(page_of(world["foreign"])).status_code == 404
    assert client.post(action(world["foreign"], "memo"), {"flag": "1"}).status_code == 404
    assert client.post(action(world["foreign"], "fulfillment_create")).status_code == 404
    assert client.get(page_of(world["order"])).status_code == 200


def test_resolve_a_review_issue_in_place(world, make_user):
    order = world["order"]
    issue = OrderIssue.objects.create(order=order, rule="incomplete_address", message="地址缺门牌号")
    Order.objects.filter(pk=order.pk).update(review_status=ReviewStatus.EXCEPTION)
    operator, finance = make_user("operations"), make_user("finance")

    # 财务 sees the issue but no form, and is refused
    page = client_for(finance).get(page_of(order)).content.decode()
    assert "收货信息不完整" in page
    assert 'data-testid="resolve-form"' not in page
    assert (
        client_for(finance)
        .post(action(order, "resolve_issue"), {"issue": issue.pk, "resolution": "x"})
        .status_code
        == 403
    )

    # 运营 resolves it with a reason
    client = client_for(operator)
    assert 'data-testid="resolve-form"' in client.get(page_of(order)).content.decode()
    missing = client.post(action(order, "resolve_issue"), {"issue": issue.pk, "resolution": ""}, follow=True)
    assert "请填写处理说明" in messages_of(missing)
    response = client.post(
        action(order, "resolve_issue"),
        {"issue": issue.pk, "resolution": "已电话确认门牌号", "outcome": "valid"},
        follow=True,
    )
    issue.refresh_from_db()
    order.refresh_from_db()
    assert issue.status == IssueStatus.RESOLVED
    assert issue.resolution == "已电话确认门牌号"
    assert order.review_status == ReviewStatus.PASSED
    assert "异常「收货信息不完整」已处理，审单状态：审核通过" in messages_of(response)
    html = response.content.decode()
    assert "审单异常「收货信息不完整」已处理：已电话确认门牌号" in html

    # a settled issue: no form, and a second POST is refused with the reason
    assert 'data-testid="resolve-form"' not in html
    again = client.post(
        action(order, "resolve_issue"), {"issue": issue.pk, "resolution": "再处理"}, follow=True
    )
    assert "该异常已处理" in messages_of(again)


def test_an_issue_of_another_order_cannot_be_settled_through_this_one(world, make_user):
    other_issue = OrderIssue.objects.create(order=world["foreign"], rule="test_order", message="测试")
    response = client_for(make_user("operations")).post(
        action(world["order"], "resolve_issue"), {"issue": other_issue.pk, "resolution": "x"}, follow=True
    )
    other_issue.refresh_from_db()
    assert other_issue.status == IssueStatus.OPEN
    assert "审单异常不存在" in messages_of(response)


def test_ship_pick_pack_ship_from_the_order_page(world, make_user):
    order = world["order"]
    clerk, operator = make_user("warehouse"), make_user("operations")  # 运营: fulfillment view only
    client = client_for(clerk)

    # 运营 sees parcels but no parcel buttons, and is refused
    page = client_for(operator).get(page_of(order)).content.decode()
    assert 'data-testid="parcels"' in page
    assert 'name="create_parcel"' not in page
    assert client_for(operator).post(action(order, "fulfillment_create")).status_code == 403

    # 仓储: pack everything into a parcel, pick, pack, ship with carrier and number
    response = client.post(action(order, "fulfillment_create"), follow=True)
    parcel = Shipment.objects.filter(lines__order_line__order=order).distinct().get()
    assert f"已创建包裹 #{parcel.pk}（待拣货）" in messages_of(response)
    html = response.content.decode()
    assert 'name="pick"' in html
    assert 'name="create_parcel"' not in html
    client.post(action(order, "fulfillment_pick"), {"shipment": parcel.pk})
    client.post(action(order, "fulfillment_pack"), {"shipment": parcel.pk})
    parcel.refresh_from_db()
    assert parcel.status == ShipmentStatus.PACKED
    page = client.get(page_of(order)).content.decode()
    assert 'name="pick"' not in page
    assert 'data-testid="ship-form"' in page

    # the tracking number is required: refused with the service's reason
    blank = client.post(
        action(order, "fulfillment_ship"),
        {"shipment": parcel.pk, "carrier": "JTSD", "tracking_number": ""},
        follow=True,
    )
    assert "运单号不能为空" in messages_of(blank)

    shipped = client.post(
        action(order, "fulfillment_ship"),
        {"shipment": parcel.pk, "carrier": "JTSD", "tracking_number": "JT1234567890123"},
        follow=True,
    )
    order.refresh_from_db()
    assert order.status == OrderStatus.SHIPPED
    assert "已发货：极兔速递 JT1234567890123" in messages_of(shipped)
    html = shipped.content.decode()
    assert "已发货：极兔速递 JT1234567890123，3 件（订单已发货）" in html
    assert "库存：已预占 → 已出库" in html
    assert 'data-testid="ship-form"' not in html  # shipped: no ship button any more


def test_ship_needs_the_ship_permission_and_a_parcel_of_this_order(world, make_user):
    order, foreign = world["order"], world["foreign"]
    parcel = parcel_for(order)
    foreign_parcel = parcel_for(foreign)
    # a role that may change parcels but not confirm shipping
    from django.contrib.auth.models import Permission

    clerk = make_user("operations")
    clerk.user_permissions.add(Permission.objects.get(codename="change_shipment"))
    clerk = type(clerk).objects.get(pk=clerk.pk)
    client = client_for(clerk)
    page = client.get(page_of(order)).content.decode()
    assert 'name="pick"' in page
    assert 'data-testid="ship-form"' not in page
    data = {"shipment": parcel.pk, "carrier": "SF", "tracking_number": "SF1234567890123"}
    assert client.post(action(order, "fulfillment_ship"), data).status_code == 403

    # a parcel of another order is not reachable through this order's page
    warehouse = make_user("warehouse")
    response = client_for(warehouse).post(
        action(order, "fulfillment_pick"), {"shipment": foreign_parcel.pk}, follow=True
    )
    foreign_parcel.refresh_from_db()
    assert foreign_parcel.status == ShipmentStatus.PENDING
    assert "包裹不存在或不属于该订单" in messages_of(response)


def test_split_and_merge_in_place(world, make_user):
    order = world["order"]
    sibling = create_order(
        shop=world["shop"],
        lines=[(world["sku"], 1, "99.00")],
        external_id="WS-1002",
        receiver_phone="13812345678",
        receiver_name="李小龙",
    )
    clerk = client_for(make_user("warehouse"))

    # merge: the receiver's other open order is offered and merged into one parcel
    page = clerk.get(page_of(order)).content.decode()
    assert 'data-testid="merge-form"' in page
    assert "WS-1002" in page
    response = clerk.post(action(order, "fulfillment_merge"), {"orders": [sibling.pk]}, follow=True)
    parcel = Shipment.objects.filter(lines__order_line__order=sibling).distinct().get()
    assert set(parcel.lines.values_list("order_line__order_id", flat=True)) == {order.pk, sibling.pk}
    assert f"已合并为包裹 #{parcel.pk}" in messages_of(response)
    assert "合并发货：" in response.content.decode()

    # nothing left to pack: no create/split/merge buttons, and split is refused with the reason
    html = clerk.get(page_of(order)).content.decode()
    assert 'name="create_parcel"' not in html
    assert 'name="split"' not in html
    assert 'data-testid="merge-form"' not in html
    refused = clerk.post(action(order, "fulfillment_split"), follow=True)
    assert any("没有待发的商品" in message for message in messages_of(refused))


def test_split_by_warehouse(world, make_user):
    order = world["order"]
    response = client_for(make_user("warehouse")).post(action(order, "fulfillment_split"), follow=True)
    assert Shipment.objects.filter(lines__order_line__order=order).distinct().count() == 1
    assert "已拆分为 1 个包裹" in messages_of(response)
    assert "拆分发货：" in response.content.decode()


def test_customer_service_sees_cases_and_may_create_one_but_no_cost(world, make_user):
    order = world["order"]
    service = make_user("customer_service")
    html = client_for(service).get(page_of(order)).content.decode()
    assert 'data-testid="cases"' in html
    add = reverse("admin:aftersales_aftersalecase_add") + f"?order={order.pk}"
    assert f'href="{add}"' in html
    # 客服 may reveal with a reason (the existing audited flow), sees sale prices, never costs
    assert reverse("admin:orders_order_reveal_personal_data", args=[order.pk]) in html
    assert "¥99.00" in html
    assert "成本" not in html
    assert str(world["sku"].cost_price) not in re.sub(r"¥[\d.,]+", "", html)
    # 财务: cases shown, no create link
    finance_html = client_for(make_user("finance")).get(page_of(order)).content.decode()
    assert 'data-testid="cases"' in finance_html
    assert f'href="{add}"' not in finance_html


def test_unknown_action_is_refused(world, make_user):
    response = client_for(make_user("admin")).post(action(world["order"], "no_such_action"))
    assert response.status_code == 403


def test_amounts_are_money(world, make_user):
    order = world["order"]
    Order.objects.filter(pk=order.pk).update(shop_discount=Decimal("8.00"), shipping_fee=Decimal("5.50"))
    html = client_for(make_user("operations")).get(page_of(order)).content.decode()
    amounts = re.search(r'data-testid="amounts".*?</dl>', html, re.S)
    assert amounts is not None
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", amounts.group(0)))
    assert "优惠 -¥8.00" in text
    assert "运费 ¥5.50" in text
    assert "实付金额 ¥228.00" in text


def test_hold_stops_shipping_until_released(world, make_user):
    order = world["order"]
    parcel = parcel_for(order)
    operator, clerk, finance = make_user("operations"), make_user("warehouse"), make_user("finance")
    client = client_for(operator)

    # 财务 (orders: view) sees no hold button and is refused
    assert 'data-testid="hold-order"' not in client_for(finance).get(page_of(order)).content.decode()
    assert client_for(finance).post(action(order, "hold"), {"reason": "x"}).status_code == 403

    # 运营 holds the order with a reason
    assert 'data-testid="hold-order"' in client.get(page_of(order)).content.decode()
    response = client.post(action(order, "hold"), {"reason": "买家要求改地址"}, follow=True)
    assert "订单已暂停发货" in messages_of(response)
    html = response.content.decode()
    assert 'data-testid="on-hold"' in html
    assert "已暂停发货：买家要求改地址" in html
    assert 'data-testid="hold-order"' not in html  # already held: release instead
    assert 'name="release"' in html
    assert AuditEntry.objects.filter(action="order.held", object_id=str(order.pk)).exists()

    # the warehouse sees no ship button, and a ship POST is refused with the reason
    clerk_client = client_for(clerk)
    assert 'data-testid="ship-form"' not in clerk_client.get(page_of(order)).content.decode()
    refused = clerk_client.post(
        action(order, "fulfillment_ship"),
        {"shipment": parcel.pk, "carrier": "SF", "tracking_number": "SF1234567890123"},
        follow=True,
    )
    assert any("已暂停发货" in message for message in messages_of(refused))
    parcel.refresh_from_db()
    assert parcel.status == ShipmentStatus.PENDING

    # released: the order ships again
    released = client.post(action(order, "release"), follow=True)
    assert "订单已恢复发货" in messages_of(released)
    assert 'data-testid="on-hold"' not in released.content.decode()
    clerk_client.post(
        action(order, "fulfillment_ship"),
        {"shipment": parcel.pk, "carrier": "SF", "tracking_number": "SF1234567890123"},
    )
    order.refresh_from_db()
    assert order.status == OrderStatus.SHIPPED

    # a shipped order cannot be held: no button, and the POST is refused with the reason
    assert 'data-testid="hold-order"' not in client.get(page_of(order)).content.decode()
    again = client.post(action(order, "hold"), {"reason": "晚了"}, follow=True)
    assert any("无需暂停发货" in message for message in messages_of(again))
