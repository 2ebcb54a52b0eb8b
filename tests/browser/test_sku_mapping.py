"""Map an unmatched SKU in the back office and watch its orders pass review (issue 11 §1)."""

from __future__ import annotations

import datetime as dt
import io
import re
import zoneinfo
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import PASSWORD
from django.utils import timezone

from shopops.accounts.models import User
from shopops.inventory.models import Reservation, ReservationStatus
from shopops.inventory.tests.factories import create_sku, create_warehouse, stock
from shopops.orders.imports import import_orders
from shopops.orders.models import IssueStatus, Order, OrderIssue, ReviewStatus, SkuMapping, StockState
from shopops.orders.tests.factories import create_shop
from shopops.orders.tests.import_fixtures import csv_bytes

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
HEADER = ["订单号", "子订单号", "订单状态", "下单时间", "付款时间", "买家ID", "收货人", "收货电话", "省", "市",
          "区县", "详细地址", "实付金额", "商家编码", "商品标题", "数量", "单价"]  # fmt: skip


def log_in(page: Any, base: str, user: User) -> None:
    page.context.clear_cookies()
    page.goto(f"{base}/admin/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/$"))


def test_map_an_unmatched_sku_and_its_orders_pass_review(
    live_server: Any, page: Any, make_user: Callable[..., User], screenshot_dir: Path
) -> None:
    # given: a new Taobao shop whose 商家编码 are not our SKU codes, and two paid orders waiting on one
    shop = create_shop(code="tb-new-shop", name="素语淘宝新店")
    warehouse = create_warehouse(code="HZ09")
    sku = create_sku(merchant_code="DRESS-RD-S")
    stock(sku=sku, warehouse=warehouse, on_hand=10)
    placed = timezone.localtime(timezone.now() - dt.timedelta(hours=2), SHANGHAI).strftime(
        "%Y-%m-%d %H:%M:%S"
    )
    rows = [
        [order_id, f"{order_id}-1", "paid", placed, placed, buyer, "孙八", phone, "浙江省", "杭州市", "西湖区",
         "文一路 9 号", f"{99 * units}.00", "TB-DRESS-RED-S", "真丝连衣裙 红色 S", str(units), "99.00"]
        for order_id, units, buyer, phone in (("TB1001", 2, "b1", "13600001001"), ("TB1002", 1, "b2", "13600001002"))
    ]  # fmt: skip
    import_orders(
        source=io.BytesIO(csv_bytes(HEADER, rows)), filename="tb.csv", actor="cli:test", shop=shop.code,
        format="template",
    )  # fmt: skip
    waiting = list(Order.objects.filter(shop=shop))
    assert {
        rule
        for order in waiting
        for rule in order.issues.filter(status="open").values_list("rule", flat=True)
    } == {"sku_unmatched"}
    operator = make_user("operations", username="yunying-map", is_staff=True)
    base = live_server.url

    # when: the operator opens 商品对应 from the sidebar, chooses the SKU for TB-DRESS-RED-S and confirms
    log_in(page, base, operator)
    page.click("a:has-text('商品对应')")
    page.wait_for_selector("[data-testid=unmatched-table]")
    row = page.locator("[data-testid=unmatched-row]", has_text="TB-DRESS-RED-S")
    row_text = row.inner_text()
    page.screenshot(path=str(screenshot_dir / "sku_mapping_unmatched.png"), full_page=True)
    row.locator("[data-testid=map-link]").click()
    page.fill("[data-testid=sku-search-input]", "DRESS-RD")
    page.click("[data-testid=sku-search] button[type=submit]")
    page.locator("[data-testid=sku-choice]", has_text="DRESS-RD-S").locator("input").check()
    page.screenshot(path=str(screenshot_dir / "sku_mapping_choose.png"), full_page=True)
    page.click("[data-testid=map-form] button[name=confirm]")
    page.wait_for_selector("[data-testid=unmatched-table]")
    after_text = page.inner_text("body")
    page.goto(f"{base}/admin/orders/orderissue/?status__exact=open")
    queue_text = (
        page.inner_text("#result_list") if page.locator("#result_list").count() else page.inner_text("body")
    )

    # then: the page counted what waited and says what happened; the queue has no unmatched order left
    assert "素语淘宝新店" in row_text
    assert re.search(r"\b2\s+3\b", row_text.replace("\n", " ").replace("\t", " "))  # 2 orders, 3 units
    assert "已对应：2 行商品、2 个订单已重新审单并预占库存" in after_text
    assert "TB-DRESS-RED-S" not in after_text.split("已对应")[1]
    assert "TB1001" not in queue_text
    assert "TB1002" not in queue_text

    # and the database agrees: SKU set, stock reserved, issue resolved by the system, mapping kept
    for order in Order.objects.filter(shop=shop):
        assert order.lines.get().sku_id == sku.pk
        assert (order.review_status, order.stock_state) == (ReviewStatus.PASSED, StockState.RESERVED)
        issue = OrderIssue.objects.get(order=order, rule="sku_unmatched")
        assert issue.status == IssueStatus.RESOLVED
    held = Reservation.objects.filter(sku=sku, status=ReservationStatus.ACTIVE).values_list(
        "quantity", flat=True
    )
    assert sum(held) == 2 + 1
    mapping = SkuMapping.objects.get()
    assert (mapping.shop, mapping.merchant_code, mapping.sku, mapping.created_by) == (
        shop,
        "TB-DRESS-RED-S",
        sku,
        operator,
    )
