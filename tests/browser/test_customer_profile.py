"""The customer profile in the back office (issue 12 §1): 客服 opens a profile, follows its merge
suggestion, accepts it (the other profile's orders and identities join this one), adds a note, and
undoes the merge from the profile's merge history (everything goes back)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import PASSWORD

from shopops.accounts.models import User
from shopops.catalog.tests.factories import create_shop
from shopops.channels.models import Platform
from shopops.customers import profiles
from shopops.customers.models import (
    Customer,
    CustomerAccount,
    CustomerMerge,
    MergeSuggestion,
    SuggestionStatus,
)
from shopops.customers.services import phone_hash, platform_buyer_id
from shopops.orders.models import Order
from shopops.orders.tests.test_queries import make_order

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def log_in(page: Any, base: str, user: User) -> None:
    page.context.clear_cookies()
    page.goto(f"{base}/admin/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/$"))


def test_profile_accept_a_suggestion_then_unmerge(
    live_server: Any, page: Any, make_user: Callable[..., User], screenshot_dir: Path
) -> None:
    # given: one buyer known on Tmall and on JD (her JD 下单帐号 is her mobile number), with orders on both
    tmall = create_shop(code="tm-b", platform=Platform.TMALL, name="棉语天猫旗舰店")
    jd = create_shop(code="jd-b", platform=Platform.JD, name="棉语京东自营")
    kept = Customer.objects.create(name="王芳", phone="13812345678", phone_hash=phone_hash("13812345678"))
    CustomerAccount.objects.create(customer=kept, platform="tmall", kind="taobao", buyer_id="tb_wangfang")
    other = Customer.objects.create(name="王芳", phone="13812345678", phone_hash=phone_hash("13812345678"))
    CustomerAccount.objects.create(
        customer=other, platform="jd", kind="jd", buyer_id=platform_buyer_id("13812345678")
    )
    tmall_order = make_order(shop=tmall, customer=kept, external_id="TM-1001")
    jd_orders = [make_order(shop=jd, customer=other, external_id=f"JD-200{n}") for n in (1, 2)]
    profiles.generate_suggestions(actor="test")
    suggestion = MergeSuggestion.objects.get()
    service = make_user("customer_service")
    base = live_server.url
    log_in(page, base, service)

    # when: 客服 opens the Tmall profile, which shows the pending suggestion and its evidence
    page.goto(f"{base}/admin/customers/customer/{kept.pk}/change/")
    profile = page.inner_text("[data-testid=customer-profile]")
    assert f"可能与客户 #{other.pk} 是同一人" in profile
    assert "手机号摘要相同" in profile
    assert "TM-1001" in profile
    assert "JD-2001" not in profile
    assert "王**" in profile
    assert "13812345678" not in profile
    page.screenshot(path=str(screenshot_dir / "customer_profile_before_merge.png"), full_page=True)
    page.click(f"[data-suggestion='{suggestion.pk}'] a")
    page.wait_for_selector("[data-testid=suggestion-review]")
    page.screenshot(path=str(screenshot_dir / "customer_merge_suggestion.png"), full_page=True)
    page.check(f"input[name=keep][value='{kept.pk}']")
    page.click("[data-testid=accept-form] button[name=accept]")
    page.wait_for_url(re.compile(rf".*/admin/customers/customer/{kept.pk}/change/$"))

    # then: the profile now holds both identities and all three orders, and says so
    body = page.inner_text("body")
    assert f"已合并：客户 #{other.pk} 并入 #{kept.pk}" in body
    assert "京东下单帐号" in body
    assert "JD-2001" in body
    assert "JD-2002" in body
    assert "移动订单 2 张、身份 1 个、备注 0 条" in body
    assert sorted(Order.objects.filter(customer=kept).values_list("pk", flat=True)) == sorted(
        [tmall_order.pk, *(order.pk for order in jd_orders)]
    )
    # and a note is added by POST
    page.fill("[data-testid=notes] textarea[name=text]", "两个平台是同一人，电话核实过")
    page.click("[data-testid=notes] button[name=add_note]")
    page.wait_for_url(re.compile(rf".*/admin/customers/customer/{kept.pk}/change/$"))
    assert "两个平台是同一人，电话核实过" in page.inner_text("[data-testid=notes]")
    page.screenshot(path=str(screenshot_dir / "customer_profile_merged.png"), full_page=True)

    # when: the merge is undone from the merge history (a confirmation page first, then POST)
    page.click("[data-testid=unmerge-link]")
    page.wait_for_selector("[data-testid=unmerge-confirm]")
    page.fill("input[name=reason]", "核实后不是同一人")
    page.click("[data-testid=unmerge-confirm] button[name=confirm]")
    page.wait_for_url(re.compile(rf".*/admin/customers/customer/{kept.pk}/change/$"))

    # then: exactly the JD orders and identity are back on the JD profile; the pair is not suggested again
    body = page.inner_text("body")
    assert f"已撤销合并：客户 #{other.pk} 恢复为独立档案" in body
    assert "JD-2001" not in body
    assert sorted(Order.objects.filter(customer=other).values_list("pk", flat=True)) == sorted(
        order.pk for order in jd_orders
    )
    assert list(CustomerAccount.objects.filter(customer=other).values_list("platform", flat=True)) == ["jd"]
    assert CustomerMerge.objects.get().unmerge_reason == "核实后不是同一人"
    assert MergeSuggestion.objects.get().status == SuggestionStatus.REJECTED
    page.screenshot(path=str(screenshot_dir / "customer_profile_unmerged.png"), full_page=True)
