"""Create a send to a list of customers → check the counts → confirm → the worker sends it → the
messages and the result page, in Chromium (zh-hans and en screenshots)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import PASSWORD

from shopops.accounts.models import User
from shopops.care import services
from shopops.care.models import Channel, Message, MessageStatus, Send
from shopops.care.tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def log_in(page: Any, base: str, user: User) -> None:
    page.context.clear_cookies()
    page.goto(f"{base}/admin/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/$"))


def test_send_to_customers_confirm_and_see_messages_and_result(
    live_server: Any, page: Any, make_user: Callable[..., User], smtp_server: Any, screenshot_dir: Path
) -> None:
    # given: 12 customers with email consent and 3 without, a marketing email template, a 推广 operator
    consented = [factories.create_customer(consent=[Channel.EMAIL]) for _ in range(12)]
    without = [factories.create_customer() for _ in range(3)]
    template = factories.create_template(
        channel=Channel.EMAIL, name="会员日邮件", body="{姓名}您好，会员日九折"
    )
    operator = make_user("promotion", username="tuiguang")
    page.set_default_timeout(90_000)  # the shared test machine is slow at times
    base = live_server.url
    log_in(page, base, operator)

    # when: the operator starts a send and lists the customers
    page.goto(f"{base}/admin/care/send/")
    page.get_by_role("link", name="新建发送任务").click()
    page.fill("input[name=name]", "会员日通知")
    page.select_option("select[name=template]", str(template.pk))
    page.fill("textarea[name=customers]", "\n".join(str(c.pk) for c in consented + without))
    page.fill("input[name=holdout_percent]", "25")
    page.click("[data-testid=new-send-form] button[type=submit]")

    # then: the confirmation page shows the counts before anything is created
    page.wait_for_selector("[data-testid=send-counts]")
    counts = page.locator("[data-testid=count]").all_inner_texts()
    assert counts == ["15", "3", "0", "0", "3", "9"]
    assert not Send.objects.exists()
    page.screenshot(path=str(screenshot_dir / "care-send-confirm-zh.png"), full_page=True)

    # when: confirmed, and the worker runs the send
    page.get_by_role("button", name=re.compile("确认发送 9 条")).click()
    page.wait_for_selector("[data-testid=result-table]")
    send = Send.objects.get()
    services.dispatch_send(send_id=send.pk)

    # then: nine emails went out through SMTP; the send page shows the statuses and the result
    assert len(smtp_server.messages) == 9
    page.reload()
    assert "已发送 9" in " ".join(page.locator("[data-testid=status-counts]").inner_text().split())
    assert page.locator("[data-testid=result-row]").count() == 2
    assert "Welch" in page.locator("[data-testid=result-help]").inner_text()
    page.screenshot(path=str(screenshot_dir / "care-send-result-zh.png"), full_page=True)
    page.get_by_role("link", name="查看消息明细").click()
    page.wait_for_selector("#result_list")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 15
    assert "@example.com" not in page.content() or "***" in page.content()
    page.screenshot(path=str(screenshot_dir / "care-messages-zh.png"), full_page=True)
    assert Message.objects.filter(send=send, status=MessageStatus.SENT).count() == 9

    # and in English
    page.context.add_cookies([{"name": "django_language", "value": "en", "url": base}])
    page.goto(f"{base}/admin/care/send/{send.pk}/change/")
    assert "Result: sent vs holdout" in page.content()
    page.screenshot(path=str(screenshot_dir / "care-send-result-en.png"), full_page=True)
