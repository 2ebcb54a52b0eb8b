"""Create a transfer, ship it, receive it partially then fully, in Chromium."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import PASSWORD
from django.db import connection

from shopops.accounts.models import User
from shopops.inventory.models import Transfer, TransferStatus
from shopops.inventory.tests.factories import create_sku, create_warehouse, stock

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def log_in(page: Any, base: str, user: User) -> None:
    page.context.clear_cookies()
    page.goto(f"{base}/admin/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/$"))


def levels(warehouse_id: int) -> dict[str, tuple[int, int]]:
    """{merchant code: (on hand, in transit)} read with a plain query."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.merchant_code, l.on_hand, l.in_transit FROM inventory_stocklevel l "
            "JOIN catalog_sku s ON s.id = l.sku_id WHERE l.warehouse_id = %s",
            [warehouse_id],
        )
        return {code: (on_hand, in_transit) for code, on_hand, in_transit in cursor.fetchall()}


def receive(page: Any, quantities: dict[str, str]) -> None:
    page.locator("a[href$='/receive/']").click()
    for code, quantity in quantities.items():
        page.locator("[data-testid=receive-line]", has_text=code).locator("input").fill(quantity)
    page.click("[data-testid=receive-form] button[name=receive]")
    page.wait_for_url(re.compile(r".*/transfer/\d+/change/$"))


def test_transfer_create_ship_and_receive_in_parts(
    live_server: Any, page: Any, make_user: Callable[..., User], screenshot_dir: Path
) -> None:
    # given: stock in Hangzhou, an empty store warehouse in Shanghai, and a warehouse clerk
    hangzhou, shanghai = create_warehouse(code="HZ01"), create_warehouse(code="SH01")
    dress, tee = create_sku(merchant_code="DRESS-BK-M"), create_sku(merchant_code="TEE-WH-L")
    stock(sku=dress, warehouse=hangzhou, on_hand=10)
    stock(sku=tee, warehouse=hangzhou, on_hand=5)
    clerk = make_user("warehouse", username="cangchu", is_staff=True)
    base = live_server.url
    log_in(page, base, clerk)

    # when: the clerk creates a transfer of 6 dresses and 5 T-shirts from HZ01 to SH01
    page.goto(f"{base}/admin/inventory/transfer/")
    page.get_by_role("link", name="新建调拨单").click()
    page.select_option("select[name=source]", str(hangzhou.pk))
    page.select_option("select[name=destination]", str(shanghai.pk))
    page.fill("input[name=lines-0-code]", "DRESS-BK-M")
    page.fill("input[name=lines-0-quantity]", "6")
    page.fill("input[name=lines-1-code]", "TEE-WH-L")
    page.fill("input[name=lines-1-quantity]", "5")
    page.screenshot(path=str(screenshot_dir / "transfer-create.png"), full_page=True)
    page.click("[data-testid=transfer-form] button[name=save]")
    page.wait_for_url(re.compile(r".*/transfer/\d+/change/$"))
    transfer = Transfer.objects.get()
    assert page.locator("a[href$='/receive/']").count() == 0  # a draft is shipped before it is received

    # and ships it (confirmation first)
    page.locator("a[href$='/ship/']").click()
    page.click("[data-testid=confirm-form] button[name=confirm]")
    page.wait_for_url(re.compile(r".*/transfer/\d+/change/$"))
    assert levels(hangzhou.pk) == {"DRESS-BK-M": (4, 0), "TEE-WH-L": (0, 0)}
    assert levels(shanghai.pk) == {"DRESS-BK-M": (0, 6), "TEE-WH-L": (0, 5)}

    # and receives 4 dresses and 5 T-shirts: partly received, the other 2 dresses stay in transit
    receive(page, {"DRESS-BK-M": "4", "TEE-WH-L": "5"})
    assert Transfer.objects.get().status == TransferStatus.PARTIALLY_RECEIVED
    assert levels(shanghai.pk) == {"DRESS-BK-M": (4, 2), "TEE-WH-L": (5, 0)}
    page.locator("a[href$='/receive/']").click()
    page.screenshot(path=str(screenshot_dir / "transfer-receive.png"), full_page=True)
    assert page.locator("[data-testid=receive-line]", has_text="TEE-WH-L").inner_text().count("已收齐") == 1
    page.go_back()

    # then: receiving the last 2 completes it
    receive(page, {"DRESS-BK-M": "2"})
    assert "已全部收货" in page.content()
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.RECEIVED
    assert levels(shanghai.pk) == {"DRESS-BK-M": (6, 0), "TEE-WH-L": (5, 0)}
    assert page.locator("a[href$='/receive/']").count() == 0
