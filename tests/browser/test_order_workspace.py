"""The order workspace in Chromium: ship from the order page (pick → pack → ship with carrier and number;
the header then says 已发货 and the timeline says how it left), and resolve a review issue in place (the
order then passes review)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import PASSWORD

from shopops.accounts.models import User
from shopops.fulfillment.models import Carrier, Shipment, ShipmentStatus
from shopops.inventory.tests.factories import create_warehouse
from shopops.orders.models import IssueStatus, Order, OrderIssue, OrderStatus, ReviewStatus
from shopops.orders.tests.factories import create_order, create_shop, stocked_sku

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def log_in(page: Any, base: str, user: User) -> None:
    page.context.clear_cookies()
    page.goto(f"{base}/admin/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/$"))


def submit(page: Any, selector: str) -> None:
    with page.expect_navigation():
        page.click(selector)


@pytest.fixture
def paid_order(db: None) -> Order:
    # the carriers come from a data migration, which a live-server test before this one may have flushed
    Carrier.objects.get_or_create(
        name="极兔速递",
        defaults={"code": "JTSD", "kuaidi100_code": "jtexpress", "tracking_pattern": r"^JT\d{13}$"},
    )
    warehouse = create_warehouse()
    shop = create_shop(name="工作台测试店")
    tee = stocked_sku(on_hand=5, warehouse=warehouse, merchant_code="BR-TEE-M")
    cap = stocked_sku(on_hand=5, warehouse=warehouse, merchant_code="BR-CAP")
    return create_order(shop=shop, lines=[(tee, 2, "99.00"), (cap, 1, "30.00")], external_id="BR-5001")


def test_ship_from_the_order_page(
    live_server: Any, page: Any, make_user: Callable[..., User], screenshot_dir: Path, paid_order: Order
) -> None:
    # given a warehouse clerk (仓储) on a paid order's page
    clerk = make_user("warehouse")
    base = live_server.url
    log_in(page, base, clerk)
    page.goto(f"{base}/admin/orders/order/{paid_order.pk}/change/")
    assert page.inner_text("[data-testid=order-status]") == "待发货"

    # when: pack everything into a parcel, pick, pack, ship with carrier and tracking number
    submit(page, "button[name=create_parcel]")
    assert "已创建包裹" in page.inner_text(".messagelist, body")
    submit(page, "button[name=pick]")
    assert page.inner_text("[data-testid=parcel-status]") == "拣货中"
    submit(page, "button[name=pack]")
    assert page.inner_text("[data-testid=parcel-status]") == "已打包"
    page.select_option("[data-testid=ship-form] select[name=carrier]", label="极兔速递")
    page.fill("[data-testid=ship-form] input[name=tracking_number]", "JT8800012345678")
    page.screenshot(path=str(screenshot_dir / "order_workspace_ship.png"), full_page=True)
    submit(page, "[data-testid=ship-form] button[name=ship]")

    # then: the header says 已发货, the parcel carries the number, the timeline says how it left
    assert page.inner_text("[data-testid=order-status]") == "已发货"
    assert "极兔速递 JT8800012345678" in page.inner_text("[data-testid=parcel-tracking]")
    timeline = page.inner_text("[data-testid=timeline]")
    assert "已发货：极兔速递 JT8800012345678，3 件（订单已发货）" in timeline
    assert "库存：已预占 → 已出库" in timeline
    assert page.locator("[data-testid=ship-form]").count() == 0
    paid_order.refresh_from_db()
    assert paid_order.status == OrderStatus.SHIPPED
    parcel = Shipment.objects.filter(lines__order_line__order=paid_order).distinct().get()
    assert (parcel.status, parcel.tracking_number) == (ShipmentStatus.SHIPPED, "JT8800012345678")
    page.screenshot(path=str(screenshot_dir / "order_workspace_shipped.png"), full_page=True)


def test_resolve_a_review_issue_in_place(
    live_server: Any, page: Any, make_user: Callable[..., User], screenshot_dir: Path, paid_order: Order
) -> None:
    # given an order held by a review issue
    issue = OrderIssue.objects.create(order=paid_order, rule="incomplete_address", message="地址缺门牌号")
    Order.objects.filter(pk=paid_order.pk).update(review_status=ReviewStatus.EXCEPTION)
    operator = make_user("operations")
    base = live_server.url
    log_in(page, base, operator)
    page.goto(f"{base}/admin/orders/order/{paid_order.pk}/change/")
    assert page.inner_text("[data-testid=review-status]") == "异常待处理"
    assert "收货信息不完整" in page.inner_text("[data-testid=open-issues]")

    # when: resolve it with a reason, in place
    form = page.locator("[data-testid=resolve-form]")
    form.locator("input[name=resolution]").fill("已电话确认门牌号 12 号")
    submit(page, "[data-testid=resolve-form] button[name=resolve]")

    # then: the order passes review, the issue is settled, the timeline says so
    assert page.inner_text("[data-testid=review-status]") == "审核通过"
    assert page.locator("[data-testid=open-issues]").count() == 0
    assert page.locator("[data-testid=resolve-form]").count() == 0
    timeline = page.inner_text("[data-testid=timeline]")
    assert "审单异常「收货信息不完整」已处理：已电话确认门牌号 12 号" in timeline
    assert "审核：审核通过" in timeline
    issue.refresh_from_db()
    paid_order.refresh_from_db()
    assert issue.status == IssueStatus.RESOLVED
    assert paid_order.review_status == ReviewStatus.PASSED
    page.screenshot(path=str(screenshot_dir / "order_workspace_resolved.png"), full_page=True)
