"""An after-sales return worked through in the back office (issue 11 §1): created from an order →
approved → the buyer's return tracking number → received → inspected → refunded → closed."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from conftest import PASSWORD

from shopops.accounts.models import User
from shopops.aftersales.models import AfterSaleCase, CaseStatus, ReturnReason
from shopops.aftersales.tests import factories
from shopops.aftersales.tests.factories import Line
from shopops.fulfillment.models import Carrier
from shopops.inventory.models import StockLevel
from shopops.inventory.tests.factories import create_sku, create_warehouse
from shopops.orders.models import Order, OrderStatus

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def log_in(page: Any, base: str, user: User) -> None:
    page.context.clear_cookies()
    page.goto(f"{base}/admin/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/$"))


def run_step(
    page: Any, label: str, fields: dict[str, str] | None = None, selects: dict[str, str] | None = None
) -> str:
    """Click a step on the case page, fill its confirmation page, confirm; the case page's text after it."""
    page.click(f"a:has-text('{label}')")
    page.wait_for_selector("[data-testid=action-form]")
    for name, value in (selects or {}).items():
        page.select_option(f"select[name={name}]", value)
    for name, value in (fields or {}).items():
        page.fill(f"input[name={name}]", value)
    page.click("[data-testid=action-form] button[name=step]")
    page.wait_for_url(re.compile(r".*/admin/aftersales/aftersalecase/\d+/change/$"))
    return page.inner_text("body")


def test_return_created_from_an_order_is_approved_received_inspected_and_refunded(
    live_server: Any, page: Any, make_user: Callable[..., User], screenshot_dir: Path
) -> None:
    # given: a completed order of 3 × ¥25.00 (+ ¥6.00 shipping), a warehouse, a carrier and the team
    shop = factories.create_shop(name="素语天猫旗舰店")
    sku = create_sku(merchant_code="TEE-WH-L")
    order = factories.create_order(
        shop=shop,
        lines=[Line(sku, 3, Decimal("25.00"))],
        status=OrderStatus.COMPLETED,
        shipping_fee=Decimal("6.00"),
    )
    line = order.lines.get()
    warehouse = create_warehouse(code="HZ01")
    carrier, _ = Carrier.objects.get_or_create(code="JTSD", defaults={"name": "极兔速递"})
    quality, _ = ReturnReason.objects.get_or_create(
        code="quality", defaults={"name": "质量问题", "is_quality": True}
    )
    damaged, _ = ReturnReason.objects.get_or_create(
        code="quality.damaged", defaults={"name": "破损", "is_quality": True, "parent": quality}
    )
    service = make_user("customer_service", username="kefu-as", is_staff=True)
    store = make_user("warehouse", username="cangchu-as", is_staff=True)
    finance = make_user("finance", username="caiwu-as", is_staff=True)
    base = live_server.url

    # when: customer service looks the order up from the case list and opens a return of 2 units
    log_in(page, base, service)
    page.goto(f"{base}/admin/aftersales/aftersalecase/")
    page.click("a[href$='/admin/aftersales/aftersalecase/add/']")
    page.fill("input[name=order_number]", order.external_id)
    page.click("[data-testid=order-lookup] button[type=submit]")
    page.wait_for_selector("[data-testid=case-create-form]")
    page.select_option("select[name=kind]", "return_refund")
    page.select_option("select[name=reason]", str(damaged.pk))
    page.fill(f"input[name=units_{line.pk}]", "2")
    page.fill("textarea[name=description]", "两件领口开线，买家已上传照片")
    page.screenshot(path=str(screenshot_dir / "aftersales_create.png"), full_page=True)
    page.click("[data-testid=case-create-form] button[name=confirm]")
    page.wait_for_url(re.compile(r".*/admin/aftersales/aftersalecase/\d+/change/$"))
    created_text = page.inner_text("body")
    case = AfterSaleCase.objects.get()
    applied_buttons = page.locator("a[href*='/admin/aftersales/aftersalecase/']").all_inner_texts()

    # and approves it, then records the buyer's return parcel
    approved_text = run_step(page, "同意售后")
    tracked_text = run_step(
        page, "登记退货单号", {"tracking_number": "JT5500012345"}, {"carrier": str(carrier.pk)}
    )
    page.screenshot(path=str(screenshot_dir / "aftersales_awaiting_return.png"), full_page=True)

    # and the warehouse receives both units and grades them A; finance pays; customer service closes
    log_in(page, base, store)
    page.goto(f"{base}/admin/aftersales/aftersalecase/{case.pk}/change/")
    run_step(page, "确认收到退货", {f"units_{case.lines.get().pk}": "2"}, {"warehouse": str(warehouse.pk)})
    run_step(page, "质检入库", selects={"sellable_warehouse": str(warehouse.pk)})
    log_in(page, base, finance)
    page.goto(f"{base}/admin/aftersales/aftersalecase/{case.pk}/change/")
    finance_buttons = page.locator("a[href*='/admin/aftersales/aftersalecase/']").all_inner_texts()
    refunded_text = run_step(page, "确认退款")
    page.screenshot(path=str(screenshot_dir / "aftersales_refunded.png"), full_page=True)
    log_in(page, base, service)
    page.goto(f"{base}/admin/aftersales/aftersalecase/{case.pk}/change/")
    closed_text = run_step(page, "关闭售后单")
    page.screenshot(path=str(screenshot_dir / "aftersales_closed.png"), full_page=True)

    # then: each page said what happened, and offered only the steps of its state
    assert f"售后单 {case.pk} 已创建，等待审核" in created_text
    assert "同意售后" in " ".join(applied_buttons)
    assert "确认退款" not in " ".join(applied_buttons)
    assert f"售后单 {case.pk} 已同意" in approved_text
    assert "待买家退货" in approved_text
    assert "已登记退货单号" in tracked_text
    assert "JT5500012345" in tracked_text
    assert "确认退款" in " ".join(finance_buttons)
    assert "关闭售后单" not in " ".join(finance_buttons)  # 财务 pays; closing is customer service's
    assert "已退款" in refunded_text
    assert f"售后单 {case.pk} 已关闭" in closed_text
    assert "已收到退货 → 已质检" in closed_text  # the timeline in plain language

    # and the database agrees: the order refunded 2 × 25.00, the case closed, the units back in stock
    order = Order.objects.get(pk=order.pk)
    case.refresh_from_db()
    assert order.refunded_amount == Decimal("25.00") * 2
    assert (case.status, case.refunded_amount, case.return_tracking_number) == (
        CaseStatus.CLOSED,
        Decimal("50.00"),
        "JT5500012345",
    )
    assert case.return_carrier == carrier
    assert StockLevel.objects.get(sku=sku, warehouse=warehouse).on_hand == 2
