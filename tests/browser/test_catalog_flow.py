from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from conftest import PASSWORD

from shopops.accounts.models import User
from shopops.catalog.models import PriceHistory
from shopops.catalog.tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_operator_changes_a_sku_price_and_finds_it_in_price_history(
    live_server: Any, page: Any, make_user: Callable[..., User], screenshot_dir: Path
) -> None:
    # given
    operator = make_user("operations", username="yunying", is_staff=True)
    clothes = factories.create_category(name="女装", code="NZ")
    dresses = factories.create_category(name="连衣裙", code="LYQ", parent=clothes)
    dress = factories.create_product(name="碎花真丝连衣裙", merchant_code="NZ-00001", category=dresses)
    sku = factories.create_sku(
        product=dress,
        merchant_code="NZ-00001-01",
        spec="颜色:蓝;尺码:M",
        sale_price="299.00",
        cost_price="120.00",
    )
    factories.create_product(name="男士牛津纺衬衫", merchant_code="NS-00001")
    factories.create_sku(merchant_code="LOSS-01", sale_price="50.00", cost_price="60.00")

    # when: log in and look at the 工作台
    page.goto(f"{live_server.url}/admin/")
    page.fill("input[name=username]", operator.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=dashboard]")
    page.screenshot(path=str(screenshot_dir / "dashboard.png"), full_page=True)
    dashboard_text = page.inner_text("[data-testid=dashboard]")

    # when: open the product list, filter it, open the product
    page.goto(f"{live_server.url}/admin/catalog/product/")
    page.fill("input[name=q]", "连衣裙")
    page.press("input[name=q]", "Enter")
    page.wait_for_url("**/admin/catalog/product/?q=*")
    listed = page.inner_text("#result_list")
    page.click("#result_list a:has-text('碎花真丝连衣裙')")
    page.wait_for_selector("input[name='skus-0-sale_price']")

    # when: change the SKU's price on the product page
    page.fill("input[name='skus-0-sale_price']", "259.00")
    page.fill("input[name=price_reason]", "换季调价")
    page.click("button[name=_save]")
    page.wait_for_url(re.compile(r".*/admin/catalog/product/(\?.*)?$"))
    page.screenshot(path=str(screenshot_dir / "product_saved.png"), full_page=True)

    # when: look it up in the price history
    page.goto(f"{live_server.url}/admin/catalog/pricehistory/?q=NZ-00001-01")
    history = page.inner_text("#result_list")

    # then
    assert "售价低于成本的 SKU" in dashboard_text
    assert "LOSS-01" in dashboard_text
    assert "碎花真丝连衣裙" in listed
    assert "男士牛津纺衬衫" not in listed
    assert "¥299.00" in history
    assert "¥259.00" in history
    assert "换季调价" in history
    row = PriceHistory.objects.get(sku=sku)
    assert (row.old_value, row.new_value, row.actor) == (Decimal("299.00"), Decimal("259.00"), operator)
