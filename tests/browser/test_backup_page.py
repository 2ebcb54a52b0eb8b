"""系统 → 备份与恢复 in Chromium: an admin backs up from the page and turns outbound back on after a restore."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import PASSWORD

from shopops.accounts.models import User
from shopops.core import switches
from shopops.core.backup import archive
from shopops.core.tests.backup_fixtures import make_files, make_shop_data

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def log_in(page: Any, base: str, user: User) -> None:
    page.context.clear_cookies()
    page.goto(f"{base}/admin/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/$"))


def test_admin_backs_up_from_the_page_and_resumes_outbound(
    live_server: Any,
    page: Any,
    chromium: Any,
    make_user: Callable[..., User],
    settings: Any,
    tmp_path: Path,
    screenshot_dir: Path,
) -> None:
    # given: a restored copy (outbound paused) with one backup and a passed drill on record
    make_shop_data()
    make_files(settings, tmp_path)
    archive.create_backup()
    switches.set_switch(switches.OUTBOUND_PAUSED, True, reason="restored")
    admin = make_user("admin", username="guanliyuan")
    base = live_server.url

    # when: the admin opens 系统 → 备份与恢复 from the sidebar
    log_in(page, base, admin)
    page.get_by_role("link", name="备份与恢复").click()
    page.wait_for_selector("[data-testid=backup-page]")
    assert page.locator("[data-testid=outbound-paused]").is_visible()
    assert page.locator("[data-testid=backup-row]").count() == 1
    page.screenshot(path=str(screenshot_dir / "backup-page-zh.png"), full_page=True)

    # and backs up now
    page.click("[data-testid=backup-form] button[type=submit]")
    page.wait_for_selector("[data-testid=backup-page]")
    assert page.locator("[data-testid=backup-row]").count() == 2
    assert "已备份" in page.content()

    # and turns outbound back on
    page.click("[data-testid=resume-form] button[type=submit]")
    page.wait_for_selector("[data-testid=backup-page]")

    # then
    assert page.locator("[data-testid=outbound-paused]").count() == 0
    assert not switches.outbound_paused()
    assert len(archive.archives()) == 2

    # and the page reads in English for an English browser
    context = chromium.new_context(viewport={"width": 1440, "height": 1000}, locale="en-US")
    english = context.new_page()
    try:
        switches.set_switch(switches.OUTBOUND_PAUSED, True, reason="restored")
        log_in(english, base, admin)
        english.goto(f"{base}/admin/core/restoredrill/")
        english.wait_for_selector("[data-testid=backup-page]")
        text = english.locator("[data-testid=backup-page]").inner_text()
        assert "Back up now" in text
        assert "Outbound paused" in text
        assert not re.search(r"[\u4e00-\u9fff]", text)
        english.screenshot(path=str(screenshot_dir / "backup-page-en.png"), full_page=True)
    finally:
        context.close()
