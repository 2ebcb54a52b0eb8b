"""Each role's 工作台 in Chromium: the role's cards and none it must not see; a to-do count opens the list
with the same number of rows (issue 11 §3)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import PASSWORD

from shopops.accounts.models import User
from shopops.catalog.tests import factories
from shopops.orders.tests.factories import create_order, create_shop

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

# role → (to-do or panel keys it must show, keys it must not show)
ROLE_PAGES = {
    "operations": ({"to_review", "to_ship", "order_exceptions", "below_cost"}, {"parcels_pending"}),
    "customer_service": ({"cases_waiting", "buyer_messages", "order_exceptions"}, {"below_cost", "to_ship"}),
    "warehouse": ({"parcels_pending", "parcels_packed", "transfers_to_receive"}, {"to_review", "below_cost"}),
    "finance": (
        {"refunds_refund_only", "purchase_orders_received"},
        {"parcels_pending", "products_without_images"},
    ),
    "designer": ({"products_without_images", "draft_listings"}, {"to_review", "below_cost"}),
    "promotion": ({"promos_running", "upcoming_schedules"}, {"to_review", "below_cost"}),
}


def shown_keys(page: Any) -> set[str]:
    todos = page.eval_on_selector_all("[data-todo]", "nodes => nodes.map(n => n.dataset.todo)")
    panels = page.eval_on_selector_all("[data-panel]", "nodes => nodes.map(n => n.dataset.panel)")
    return set(todos) | set(panels)


def log_in(page: Any, url: str, user: User) -> None:
    page.context.clear_cookies()
    page.goto(f"{url}/admin/login/?next=/admin/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=dashboard]")


def rows_listed(page: Any) -> int:
    """Data rows of the admin list (an empty list shows one row with a single "no results" cell)."""
    return page.eval_on_selector_all(
        "#result_list tbody tr", "rows => rows.filter(r => r.children.length > 1).length"
    )


@pytest.mark.parametrize("role", list(ROLE_PAGES))
def test_each_role_opens_its_workbench_and_a_count_opens_its_list(
    role: str, live_server: Any, page: Any, make_user: Callable[..., User], screenshot_dir: Path
) -> None:
    # given a shop with two orders waiting (an incomplete address makes one an exception), a product
    # without images and a SKU priced below cost
    shop = create_shop(code="tmall-wb")
    create_order(shop=shop, lines=[("WB-1", 1, "99.00")], buyer_message="请尽快发货")
    create_order(shop=shop, lines=[("WB-2", 2, "49.00")], receiver_address="")
    factories.create_sku(merchant_code="LOSS-WB", sale_price="50.00", cost_price="60.00")
    user = make_user(role, username=f"wb-{role}")
    must, must_not = ROLE_PAGES[role]
    # when
    log_in(page, live_server.url, user)
    page.screenshot(path=str(screenshot_dir / f"workbench-{role}.png"), full_page=True)
    keys = shown_keys(page)
    # then
    assert must <= keys, must - keys
    assert not must_not & keys
    if role not in ("operations", "finance"):
        assert "成本" not in page.inner_text("[data-testid=dashboard]")
    # and the first to-do with something to do opens its list with that many rows
    cards = page.locator("[data-todo]")
    counts = [int(cards.nth(i).get_attribute("data-count")) for i in range(cards.count())]
    index = next((i for i, count in enumerate(counts) if count), 0)
    card = cards.nth(index)
    page.goto(live_server.url + card.get_attribute("href"))
    page.wait_for_load_state("networkidle")
    assert "e=1" not in page.url
    assert rows_listed(page) == counts[index]
