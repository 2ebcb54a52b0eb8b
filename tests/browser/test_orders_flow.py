from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from conftest import PASSWORD
from huey.contrib.djhuey import HUEY

from shopops.accounts.models import User
from shopops.aftersales.models import AfterSaleCase, ReturnReason
from shopops.core.models import ImportJob
from shopops.fulfillment.models import Carrier, Shipment
from shopops.inventory.models import MovementType, StockLevel, StockMovement
from shopops.inventory.tests.factories import create_sku, create_warehouse, stock
from shopops.orders.models import IssueStatus, Order, OrderIssue
from shopops.orders.tests.factories import create_shop

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

ORDER_A = "3901234567890123451"
ORDER_B = "3901234567890123452"
ORDER_C = "3901234567890123453"
# The Taobao order report (已卖出的宝贝 → 批量导出): GB18030, order ids as ="…" so Excel keeps every digit.
ORDER_REPORT_HEADER = [
    "订单编号",
    "买家会员名",
    "买家应付货款",
    "买家应付邮费",
    "买家实际支付金额",
    "订单状态",
    "买家留言",
    "收货人姓名",
    "收货地址",
    "联系手机",
    "订单创建时间",
    "订单付款时间",
    "宝贝标题",
    "宝贝总数量",
]
# The matching item report: one row per 子订单, with the merchant code (商家编码) of the SKU.
ITEM_REPORT_HEADER = [
    "子订单编号",
    "主订单编号",
    "标题",
    "价格",
    "购买数量",
    "订单状态",
    "商家编码",
    "买家应付货款",
    "买家实际支付金额",
    "退款状态",
    "订单创建时间",
    "订单付款时间",
]
PAID = "买家已付款，等待卖家发货"
ADDRESS = "浙江省 杭州市 西湖区 文三路 100号 5幢(310012)"


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def immediate_huey() -> Iterator[None]:
    """Import jobs run in the web request, right after it commits (no worker in the test)."""
    was_immediate = HUEY.immediate
    HUEY.immediate = True
    yield
    HUEY.immediate = was_immediate


def gb18030_csv(header: list[str], rows: list[list[str]]) -> bytes:
    text = io.StringIO()
    csv.writer(text, lineterminator="\r\n").writerows([header, *rows])
    return text.getvalue().encode("gb18030")


def order_report() -> bytes:
    def row(
        order_id: str, buyer: str, goods: str, paid: str, address: str, placed: str, count: str
    ) -> list[str]:
        return [
            f'="{order_id}"',
            buyer,
            goods,
            "10.00",
            paid,
            PAID,
            "",
            "张三",
            address,
            "'13800000000",
            placed,
            placed,
            "真丝连衣裙",
            count,
        ]

    return gb18030_csv(
        ORDER_REPORT_HEADER,
        [
            row(ORDER_A, "tb_buyer1", "200.00元", "210.00元", ADDRESS, "2026/11/20 10:02", "2"),
            row(ORDER_B, "tb_buyer2", "59.00元", "69.00元", "", "2026/11/20 11:00", "1"),  # no address
            row(ORDER_C, "tb_buyer3", "100.00元", "110.00元", ADDRESS, "2026/11/20 12:00", "1"),
        ],
    )


def item_report() -> bytes:
    def row(order_id: str, title: str, price: str, units: str, code: str, placed: str) -> list[str]:
        amount = str(Decimal(price) * int(units))
        return [
            f'="{order_id}1"',
            f'="{order_id}"',
            title,
            price,
            units,
            PAID,
            code,
            amount,
            amount,
            "没有申请退款",
            placed,
            placed,
        ]

    return gb18030_csv(
        ITEM_REPORT_HEADER,
        [
            row(ORDER_A, "真丝连衣裙 黑色 M", "100.00", "2", "DRESS-BK-M", "2026-11-20 10:02:00"),
            row(ORDER_B, "纯棉T恤 白色", "59.00", "1", "TEE-WH-L", "2026-11-20 11:00:00"),
            row(ORDER_C, "真丝连衣裙 黑色 M", "100.00", "1", "DRESS-BK-M", "2026-11-20 12:00:00"),
        ],
    )


def log_in(page: Any, base: str, user: User) -> None:
    page.context.clear_cookies()
    page.goto(f"{base}/admin/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/$"))


def upload_orders(
    page: Any, shop_id: int, platform: str, name: str, content: bytes, *, dry_run: bool
) -> None:
    page.wait_for_selector("[data-testid=import-form]")
    page.select_option("select[name=shop]", str(shop_id))
    page.select_option("select[name=format]", platform)
    page.set_input_files(
        "input[name=file]", files=[{"name": name, "mimeType": "text/csv", "buffer": content}]
    )
    if not dry_run:
        page.locator("input[name=dry_run]").set_checked(False, force=True)
    page.click("[data-testid=import-form] button[type=submit]")
    page.wait_for_selector("[data-testid=import-job-status][data-status=succeeded]")


def run_changelist_action(page: Any, row_text: str, action: str) -> None:
    page.locator("#result_list tr", has_text=row_text).locator("input.action-select").check()
    page.select_option("select[name=action]", action)
    page.click("button[name=index]")


def test_orders_flow_import_review_ship_and_return(
    live_server: Any,
    page: Any,
    make_user: Callable[..., User],
    screenshot_dir: Path,
    immediate_huey: None,
) -> None:
    # given: a Tmall shop, stock of two SKUs in one warehouse, and the people working on it
    shop = create_shop(name="素语天猫旗舰店")
    warehouse = create_warehouse(code="HZ01")
    dress = create_sku(merchant_code="DRESS-BK-M")
    tee = create_sku(merchant_code="TEE-WH-L")
    stock(sku=dress, warehouse=warehouse, on_hand=10)
    stock(sku=tee, warehouse=warehouse, on_hand=5)
    operator = make_user("operations", username="yunying", is_staff=True)
    packer = make_user("warehouse", username="cangchu", is_staff=True)
    service = make_user("customer_service", username="kefu", is_staff=True)
    base = live_server.url
    # seeded by data migrations, but a live-server test before this one may have flushed them
    Carrier.objects.get_or_create(code="SF", defaults={"name": "顺丰速运", "tracking_pattern": r"^SF\d{13}$"})
    quality, _ = ReturnReason.objects.get_or_create(
        code="quality", defaults={"name": "质量问题", "is_quality": True}
    )
    ReturnReason.objects.get_or_create(
        code="quality.workmanship", defaults={"name": "做工问题", "is_quality": True, "parent": quality}
    )

    # when: the operator imports the Taobao order report from the order list: a dry run, then confirm
    log_in(page, base, operator)
    page.goto(f"{base}/admin/orders/order/")
    page.locator("a:has-text('导入订单')").first.click()
    upload_orders(page, shop.pk, "taobao", "ExportOrderList202611.csv", order_report(), dry_run=True)
    dry_run_text = page.inner_text("[data-testid=import-job-status]")
    orders_after_dry_run = Order.objects.count()
    page.screenshot(path=str(screenshot_dir / "orders_import_dry_run.png"), full_page=True)
    page.click("[data-testid=import-confirm-form] button[type=submit]")
    page.wait_for_selector("[data-testid=import-job-status][data-status=succeeded]")
    confirmed_text = page.inner_text("[data-testid=import-job-status]")

    # when: then the item report, which brings the SKUs (商家编码) and so the stock reservations
    page.click("a:has-text('导入另一个文件')")
    upload_orders(
        page, shop.pk, "taobao_items", "ExportOrderDetailList202611.csv", item_report(), dry_run=False
    )
    items_text = page.inner_text("[data-testid=import-job-status]")
    page.screenshot(path=str(screenshot_dir / "orders_import_items.png"), full_page=True)

    # when: the operator settles the exception (the order without an address) in 审单异常
    page.goto(f"{base}/admin/orders/orderissue/")
    queue_text = page.inner_text("#result_list")
    page.screenshot(path=str(screenshot_dir / "orders_exception_queue.png"), full_page=True)
    run_changelist_action(page, "缺少", "resolve_selected")
    page.fill("input[name=resolution]", "已电话联系买家补全地址")
    page.click("[data-testid=action-form] button[name=step]")
    page.wait_for_url(re.compile(r".*/admin/orders/orderissue/(\?.*)?$"))
    resolved_message = page.inner_text("body")

    # when: the warehouse ships order A from the order list (发货 → 订单发货)
    log_in(page, base, packer)
    page.goto(f"{base}/admin/orders/order/?q={ORDER_A}")
    run_changelist_action(page, ORDER_A, "ship_selected")
    page.wait_for_url(re.compile(r".*/admin/fulfillment/shipment/ship-orders/\?orders=.*"))
    order_a = Order.objects.get(external_id=ORDER_A)
    page.select_option("select[name=carrier]", label="顺丰速运")
    page.fill(f"input[name=tracking_{order_a.pk}]", "SF1234567890123")
    page.screenshot(path=str(screenshot_dir / "orders_ship.png"), full_page=True)
    page.click("[data-testid=action-form] button[name=step]")
    page.wait_for_url(re.compile(r".*/admin/fulfillment/shipment/(\?.*)?$"))
    shipments_text = page.inner_text("body")

    # when: customer service opens the order, the buyer's return is applied (through the API the
    # service desk uses, from the same browser session) and approved on the case page
    log_in(page, base, service)
    page.goto(f"{base}/admin/orders/order/{order_a.pk}/change/")
    order_text = page.inner_text("body")
    line = order_a.lines.get()
    csrf = next(cookie["value"] for cookie in page.context.cookies() if cookie["name"] == "csrftoken")
    applied = page.request.post(
        f"{base}/api/v1/aftersales/cases",
        data={
            "order_id": order_a.pk,
            "kind": "return_refund",
            "reason_code": "quality.workmanship",
            "lines": [{"order_line_id": line.pk, "units": 1}],
            "description": "开线",
        },
        headers={"X-CSRFToken": csrf, "Referer": f"{base}/admin/"},
    )
    case_id = applied.json()["id"]
    page.goto(f"{base}/admin/aftersales/aftersalecase/{case_id}/change/")
    page.locator("a:has-text('同意售后')").first.click()
    page.click("[data-testid=action-form] button[name=step]")  # the step asks for confirmation (a POST)
    page.wait_for_url(re.compile(rf".*/admin/aftersales/aftersalecase/{case_id}/change/.*"))
    case_text = page.inner_text("body")
    page.screenshot(path=str(screenshot_dir / "orders_return_approved.png"), full_page=True)

    # then: the pages said what happened
    assert "试导入完成：未写入任何数据。" in dry_run_text
    assert "导入完成，数据已写入。" in confirmed_text
    assert "导入完成，数据已写入。" in items_text
    assert ORDER_B in queue_text
    assert "缺少省、市、详细地址" in queue_text
    assert "已处理 1 条异常" in resolved_message
    assert "已发货 1 个订单" in shipments_text
    assert "SF1234567890123" in shipments_text
    assert ORDER_A in order_text
    assert "已发货" in order_text
    assert applied.status == 201, applied.text()
    assert f"售后单 {case_id} 已同意" in case_text
    assert "待买家退货" in case_text

    # then: the database agrees
    assert orders_after_dry_run == 0
    jobs = list(ImportJob.objects.order_by("pk").values_list("kind", "status", "options__dry_run"))
    assert jobs == [
        ("orders", "succeeded", True),
        ("orders", "succeeded", False),
        ("orders", "succeeded", False),
    ]
    orders = {order.external_id: order for order in Order.objects.filter(shop=shop)}
    assert sorted(orders) == [ORDER_A, ORDER_B, ORDER_C]
    assert [orders[key].status for key in (ORDER_A, ORDER_B, ORDER_C)] == ["shipped", "paid", "paid"]
    issue = OrderIssue.objects.get(order=orders[ORDER_B], rule="incomplete_address")
    assert (issue.status, issue.resolution, issue.resolved_by) == (
        IssueStatus.RESOLVED,
        "已电话联系买家补全地址",
        operator,
    )
    shipment = Shipment.objects.get()
    assert (shipment.tracking_number, shipment.carrier.name, shipment.warehouse) == (
        "SF1234567890123",
        "顺丰速运",
        warehouse,
    )
    issued = StockMovement.objects.filter(movement_type=MovementType.SALE_OUT)
    assert list(issued.values_list("sku__merchant_code", "warehouse", "on_hand_delta", "reserved_delta")) == [
        ("DRESS-BK-M", warehouse.pk, -2, -2)
    ]
    dress_level = StockLevel.objects.get(sku=dress, warehouse=warehouse)
    assert (dress_level.on_hand, dress_level.reserved) == (8, 1)  # order C still holds one
    case = AfterSaleCase.objects.get()
    assert (case.order, case.kind, case.status) == (orders[ORDER_A], "return_refund", "awaiting_return")
    assert list(case.lines.values_list("order_line", "quantity")) == [(line.pk, 1)]
