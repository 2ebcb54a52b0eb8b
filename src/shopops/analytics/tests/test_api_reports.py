import datetime as dt
from decimal import Decimal

import pytest

from shopops.analytics.metrics import catalog, compute
from shopops.analytics.tests.ui_data import RANGE, build_warehouse, paid_totals, visitors

START, END = RANGE
QUERY = f"start={START}&end={END}"


@pytest.fixture
def warehouse(db, settings, tmp_path):
    settings.ANALYTICS_DIR = tmp_path / "analytics"
    return build_warehouse(settings.ANALYTICS_DIR)


def test_overview_gives_every_kpi_with_comparisons_and_the_explanation(make_user, api_client_for, warehouse):
    # given a finance user (view only)
    client = api_client_for(make_user("finance"))
    # when the overview of the range is asked for
    response = client.get(f"/api/v1/analytics/overview?{QUERY}")
    # then every KPI of the overview is there, with the values of plain Python for the headline ones
    assert response.status_code == 200
    body = response.json()
    assert body["period"] == {"start": str(START), "end": str(END)}
    kpis = {kpi["code"]: kpi for kpi in body["kpis"]}
    assert list(kpis) == list(compute.OVERVIEW_KPIS)
    amount, orders = paid_totals(warehouse.data, START, END)
    assert Decimal(kpis["paid_amount"]["value"]) == amount
    assert kpis["paid_orders"]["value"] == orders
    assert kpis["visitors"]["value"] == visitors(warehouse.data, START, END)
    assert kpis["paid_amount"]["unit"] == "money"
    assert set(kpis["aov"]) == {
        "code",
        "label",
        "unit",
        "value",
        "previous",
        "previous_change",
        "last_week",
        "last_week_change",
        "last_year",
        "last_year_change",
    }
    # the previous period is the 14 days before: its paid amount by plain Python too
    before, _ = paid_totals(warehouse.data, START - dt.timedelta(days=14), START - dt.timedelta(days=1))
    assert Decimal(kpis["paid_amount"]["previous"]) == before
    # and the contributions of each decomposition add up to the change
    explanation = body["explanation"]
    assert Decimal(explanation["change"]) == amount - before
    traffic = [
        part
        for part in explanation["contributions"]
        if part["factor"] in {"visitors", "payment_conversion", "aov"}
    ]
    assert sum(Decimal(part["amount"]) for part in traffic) == amount - before
    assert explanation["summary"].startswith("销售额")


def test_overview_respects_the_shop_scope_and_filters(make_user, api_client_for, warehouse):
    # given a user limited to the own web shop
    client = api_client_for(make_user("operations", shops=[warehouse.own]))
    # when the overview is asked for without and with the shop
    scoped = {kpi["code"]: kpi for kpi in client.get(f"/api/v1/analytics/overview?{QUERY}").json()["kpis"]}
    named = {
        kpi["code"]: kpi
        for kpi in client.get(f"/api/v1/analytics/overview?{QUERY}&shop={warehouse.own.code}").json()["kpis"]
    }
    # then both are the own shop's numbers only
    amount, _ = paid_totals(warehouse.data, START, END, {warehouse.own.pk})
    assert Decimal(scoped["paid_amount"]["value"]) == amount
    assert named["paid_amount"] == scoped["paid_amount"]
    # and a channel filter for the other shop's platform leaves nothing
    other = {
        kpi["code"]: kpi
        for kpi in client.get(f"/api/v1/analytics/overview?{QUERY}&channel=taobao").json()["kpis"]
    }
    assert Decimal(other["paid_amount"]["value"]) == 0


def test_trend_has_one_row_per_bucket(make_user, api_client_for, warehouse):
    client = api_client_for(make_user("operations"))
    daily = client.get(f"/api/v1/analytics/trend?{QUERY}").json()
    weekly = client.get(f"/api/v1/analytics/trend?{QUERY}&grain=week").json()
    assert len(daily["tables"][0]["rows"]) == 14
    assert [row["bucket"] for row in weekly["tables"][0]["rows"]] == [
        "2026-10-05 周",
        "2026-10-12 周",
        "2026-10-19 周",
    ]
    amount, _ = paid_totals(warehouse.data, START, END)
    assert sum(Decimal(row["paid_amount"]) for row in daily["tables"][0]["rows"]) == amount
    columns = {column["code"]: column for column in daily["tables"][0]["columns"]}
    assert columns["paid_amount"] == {"code": "paid_amount", "label": "支付金额", "unit": "money"}


@pytest.mark.parametrize(
    ("page", "keys"),
    [
        ("sources", ["sources"]),
        ("products", ["best", "worst", "products"]),
        ("customers", ["summary", "cohorts", "rfm"]),
        ("campaigns", ["summary", "campaigns"]),
    ],
)
def test_breakdown_pages_have_their_tables(make_user, api_client_for, warehouse, page, keys):
    client = api_client_for(make_user("promotion"))
    body = client.get(f"/api/v1/analytics/{page}?{QUERY}").json()
    assert [table["key"] for table in body["tables"]] == keys
    for table in body["tables"]:
        codes = [column["code"] for column in table["columns"]]
        assert all(set(row) <= set(codes) | {"unit"} for row in table["rows"])


def test_sources_total_row_equals_the_overview(make_user, api_client_for, warehouse):
    client = api_client_for(make_user("operations"))
    rows = client.get(f"/api/v1/analytics/sources?{QUERY}").json()["tables"][0]["rows"]
    total = rows[-1]
    assert total["label"] == "合计"
    assert total["visitors"] == visitors(warehouse.data, START, END)
    assert sum(Decimal(row["paid_amount"]) for row in rows[:-1]) == Decimal(total["paid_amount"])


def test_campaign_spend_matches_the_imported_rows(make_user, api_client_for, warehouse):
    client = api_client_for(make_user("promotion"))
    body = client.get(f"/api/v1/analytics/campaigns?{QUERY}").json()
    expected = sum(
        (row["spend"] for row in warehouse.data["ad_spend"] if START <= row["day"] <= END), Decimal("0.00")
    )
    assert Decimal(body["tables"][0]["rows"][0]["spend"]) == expected
    assert sum(Decimal(row["spend"]) for row in body["tables"][1]["rows"]) == expected


def test_metric_catalog_lists_every_metric(make_user, api_client_for, db):
    client = api_client_for(make_user("finance"))
    metrics = client.get("/api/v1/analytics/metrics").json()
    assert [metric["code"] for metric in metrics] == [metric.code for metric in catalog.METRICS_LIST]
    aov = next(metric for metric in metrics if metric["code"] == "aov")
    assert aov["label"] == "客单价"
    assert "aov_basis" in aov["notes"]
