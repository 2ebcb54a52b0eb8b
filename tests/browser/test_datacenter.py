from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import PASSWORD

from shopops.accounts.models import User
from shopops.analytics.tests.ui_data import build_warehouse, paid_totals

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_operator_opens_the_datacenter_and_switches_the_date_range(
    live_server: Any,
    page: Any,
    make_user: Callable[..., User],
    screenshot_dir: Path,
    settings: Any,
    tmp_path: Path,
    monkeypatch: Any,
) -> None:
    # given a year's warehouse data and "today" = 2026-10-24 (the presets end yesterday)
    settings.ANALYTICS_DIR = tmp_path / "analytics"
    warehouse = build_warehouse(settings.ANALYTICS_DIR)
    monkeypatch.setattr("shopops.analytics.reports.params.today", lambda: dt.date(2026, 10, 24))
    operator = make_user("operations", username="shuju", is_staff=True)

    # the first 数据中心 request of a process loads the analytics libraries: give it time on a busy machine
    page.set_default_navigation_timeout(120_000)
    page.set_default_timeout(60_000)

    # when: log in and open 数据中心 from the sidebar
    page.goto(f"{live_server.url}/admin/")
    page.fill("input[name=username]", operator.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=dashboard]")
    page.click("a:has-text('数据概览')")
    page.wait_for_selector("[data-testid=kpi-cards]")

    # then: the 近7天 overview shows KPI cards and a drawn chart
    assert "2026-10-17 至 2026-10-23" in page.inner_text("[data-testid=datacenter-period]")
    assert page.locator("[data-testid=kpi-cards] [data-kpi]").count() >= 20
    page.wait_for_function("() => !!Chart.getChart(document.querySelector('canvas.chart'))")

    # when: switching to 近30天
    page.select_option("select[name=preset]", "last30")
    page.click("[data-testid=datacenter-filters] button[type=submit]")
    page.wait_for_selector("[data-testid=kpi-cards]")

    # then: the range changed and the 支付金额 card shows the month's paid amount
    assert "2026-09-24 至 2026-10-23" in page.inner_text("[data-testid=datacenter-period]")
    amount, _orders = paid_totals(warehouse.data, dt.date(2026, 9, 24), dt.date(2026, 10, 23))
    card = page.inner_text("[data-kpi=paid_amount] [data-testid=kpi-value]")
    assert card == f"¥{amount:,.2f}"
    canvas = page.locator("canvas.chart").first
    assert canvas.bounding_box()["height"] > 100
    assert (
        page.evaluate(
            "() => Chart.getChart(document.querySelector('canvas.chart')).data.datasets[0].data.length"
        )
        == 30
    )
    page.screenshot(path=str(screenshot_dir / "datacenter_overview.png"), full_page=True)

    # when: the trends tab is opened with the same filters
    page.click("[data-tab=trends]")
    page.wait_for_selector("[data-testid=datacenter-table]")
    assert "2026-09-24 至 2026-10-23" in page.inner_text("[data-testid=datacenter-period]")
    assert page.locator("canvas.chart").count() == 3
    page.wait_for_function("() => !!Chart.getChart(document.querySelector('canvas.chart'))")

    # when: hovering a point of the 支付金额 chart
    canvas = page.locator("canvas.chart").first
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    point = page.evaluate(
        """() => { const chart = Chart.getChart(document.querySelector('canvas.chart'));
                   const meta = chart.getDatasetMeta(0); const i = meta.data.length - 1;
                   return {x: meta.data[i].x, y: meta.data[i].y, label: chart.data.labels[i]}; }"""
    )
    page.mouse.move(box["x"] + point["x"], box["y"] + point["y"])
    page.wait_for_function("() => Chart.getChart(document.querySelector('canvas.chart')).tooltip.opacity > 0")
    # then: the tooltip shows the day and the amounts in ¥, and the axes say their units
    tooltip = page.evaluate(
        """() => { const t = Chart.getChart(document.querySelector('canvas.chart')).tooltip;
                   return {title: t.title, lines: t.body.map(b => b.lines.join(' '))}; }"""
    )
    assert tooltip["title"] == [point["label"]]
    assert any(line.startswith("支付金额：¥") for line in tooltip["lines"]), tooltip
    axis = page.evaluate(
        "() => Chart.getChart(document.querySelector('canvas.chart')).options.scales.y.title.text"
    )
    assert axis == "金额（¥）"
    # and the table scrolls inside its card: the card is not wider than the page
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")
    page.screenshot(path=str(screenshot_dir / "datacenter_trends.png"), full_page=True)

    # when: the customers tab is opened and an RFM segment's buyer count clicked
    page.click("[data-tab=customers]")
    page.wait_for_selector("[data-table=rfm]")
    link = page.locator("[data-table=rfm] td.num a[data-drill=buyers]").first
    row_count = link.inner_text()
    link.click()
    # then: the buyer list lists as many buyers as the cell said, names masked for an operator
    page.wait_for_selector("[data-testid=datacenter-buyers]")
    assert page.inner_text("[data-testid=buyers-count]") == row_count.replace(",", "")
    assert page.locator("[data-testid=buyer-row]").count() == min(int(row_count.replace(",", "")), 200)
    page.screenshot(path=str(screenshot_dir / "datacenter_buyers.png"), full_page=True)
