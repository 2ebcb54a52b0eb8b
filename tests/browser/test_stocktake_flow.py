"""Start a stocktake → scan counts → submit → approve → post, in Chromium; then the stock levels equal the counts."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import PASSWORD
from django.db import connection

from shopops.accounts.models import User
from shopops.inventory.models import Stocktake, StocktakeStatus
from shopops.inventory.tests.factories import create_sku, create_warehouse, stock

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def log_in(page: Any, base: str, user: User) -> None:
    page.context.clear_cookies()
    page.goto(f"{base}/admin/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/$"))


def scan(page: Any, code: str, *, cursor_in_field: bool = True) -> None:
    """Type (or scan) a code and press Enter, as a handheld scanner does; after each scan the cursor is
    back in the code field."""
    field = page.locator("[data-testid=scan-code]")
    if cursor_in_field:
        page.wait_for_load_state()
        assert field.evaluate("element => element === document.activeElement")
    field.fill(code)
    with page.expect_navigation():
        field.press("Enter")


def on_hand_by_code(warehouse_id: int) -> dict[str, int]:
    """The stock levels, read with a plain query rather than through the app's models."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.merchant_code, l.on_hand FROM inventory_stocklevel l "
            "JOIN catalog_sku s ON s.id = l.sku_id WHERE l.warehouse_id = %s",
            [warehouse_id],
        )
        return dict(cursor.fetchall())


def test_stocktake_scan_approve_and_post(
    live_server: Any, page: Any, make_user: Callable[..., User], screenshot_dir: Path
) -> None:
    # given: a warehouse with three SKUs on the books, a counter and a supervisor of the warehouse team
    warehouse = create_warehouse(code="HZ01")
    dress, tee, mug = (create_sku(merchant_code=code) for code in ("DRESS-BK-M", "TEE-WH-L", "MUG-01"))
    dress.barcode = "6901234567892"
    dress.save(update_fields=["barcode"])
    stock(sku=dress, warehouse=warehouse, on_hand=10)
    stock(sku=tee, warehouse=warehouse, on_hand=5)
    stock(sku=mug, warehouse=warehouse, on_hand=2)
    counter = make_user("warehouse", username="pandian", is_staff=True)
    supervisor = make_user("warehouse", username="zhuguan", is_staff=True)
    base = live_server.url

    # when: the counter starts a blind full count of HZ01
    log_in(page, base, counter)
    page.goto(f"{base}/admin/inventory/stocktake/")
    page.get_by_role("link", name="开始盘点").click()
    page.select_option("select[name=warehouse]", str(warehouse.pk))
    page.select_option("select[name=scope]", "full")
    page.click("[data-testid=page-form] button[type=submit]")
    page.wait_for_selector("[data-testid=scan-form]")
    stocktake = Stocktake.objects.get()
    assert page.locator("[data-testid=count-line]").count() == 3
    assert "快照账面数" not in page.content()  # blind: the counter never sees the book

    # and scans: the dress 8 times by its barcode, the T-shirt 5 times by merchant code, the mug set to 3
    for _ in range(8):
        scan(page, "6901234567892")
    for _ in range(5):
        scan(page, "TEE-WH-L")
    page.select_option("[data-testid=scan-mode]", "set")
    page.fill("[data-testid=scan-quantity]", "3")
    scan(page, "MUG-01", cursor_in_field=False)
    assert page.locator("[data-testid=recent-scans] li").first.inner_text().startswith("MUG-01")
    counted = {
        row.get_attribute("data-code"): row.locator("[data-testid=counted]").inner_text()
        for row in page.locator("[data-testid=count-line]").all()
    }
    assert counted == {"DRESS-BK-M": "8", "TEE-WH-L": "5", "MUG-01": "3"}
    page.screenshot(path=str(screenshot_dir / "stocktake-count.png"), full_page=True)

    # and submits it for approval (a confirmation page first)
    page.goto(f"{base}/admin/inventory/stocktake/{stocktake.pk}/change/")
    page.get_by_role("link", name="提交审核").click()
    page.click("[data-testid=confirm-form] button[name=confirm]")
    page.wait_for_url(re.compile(rf".*/stocktake/{stocktake.pk}/change/$"))
    assert Stocktake.objects.get().status == StocktakeStatus.SUBMITTED

    # then: the supervisor reviews the differences with product names, approves and posts
    log_in(page, base, supervisor)
    page.goto(f"{base}/admin/inventory/stocktake/{stocktake.pk}/change/")
    assert page.get_by_role("link", name="盘点录入").count() == 0  # no counting once submitted
    page.get_by_role("link", name="审核并过账").click()
    variances = {
        row.get_attribute("data-code"): row.locator("[data-testid=variance]").inner_text()
        for row in page.locator("[data-testid=variance-line]").all()
    }
    assert variances == {"DRESS-BK-M": "-2", "TEE-WH-L": "0", "MUG-01": "1"}
    assert page.locator("[data-testid=variance-line]", has_text="DRESS-BK-M").inner_text().count("商品") == 1
    page.screenshot(path=str(screenshot_dir / "stocktake-review.png"), full_page=True)
    page.click("[data-testid=post-form] button[name=post]")
    page.wait_for_url(re.compile(rf".*/stocktake/{stocktake.pk}/change/$"))
    assert "已审核并过账" in page.content()
    assert Stocktake.objects.get().status == StocktakeStatus.POSTED
    assert on_hand_by_code(warehouse.pk) == {"DRESS-BK-M": 8, "TEE-WH-L": 5, "MUG-01": 3}
