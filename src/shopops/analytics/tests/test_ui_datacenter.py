import datetime as dt
import io
from decimal import Decimal

import openpyxl
import pytest
from django.test import Client
from django.urls import reverse

from shopops.analytics.metrics import compute
from shopops.analytics.reports import datacenter
from shopops.analytics.tests.ui_data import RANGE, build_warehouse, paid_totals, visitors
from shopops.core.models import AuditEntry

PAGES = ["changelist", "trends", "sources", "products", "customers", "campaigns"]
START, END = RANGE
QUERY = f"preset=custom&start={START}&end={END}"


@pytest.fixture
def warehouse(db, settings, tmp_path):
    settings.ANALYTICS_DIR = tmp_path / "analytics"
    return build_warehouse(settings.ANALYTICS_DIR)


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page_url(name: str) -> str:
    return reverse(f"admin:analytics_datacenter_{name}") + "?" + QUERY


@pytest.mark.parametrize("role", ["promotion", "finance"])
def test_every_page_renders_for_roles_with_the_datacenter(make_user, warehouse, role):
    client = client_for(make_user(role))
    for name in PAGES:
        response = client.get(page_url(name))
        assert response.status_code == 200, name
        assert 'data-testid="datacenter"' in response.content.decode()


@pytest.mark.parametrize("role", ["warehouse", "designer", None])
def test_every_page_and_export_is_forbidden_without_the_permission(make_user, warehouse, role):
    client = client_for(make_user(role, is_staff=True))
    for name in PAGES:
        assert client.get(page_url(name)).status_code == 403, name
    for page in datacenter.PAGES:
        assert client.get(reverse("admin:analytics_datacenter_export", args=[page])).status_code == 403


def test_overview_cards_show_the_compute_values(make_user, warehouse):
    # given an operator
    client = client_for(make_user("operations"))
    # when the overview of the range is opened
    page = client.get(page_url("changelist")).content.decode()
    # then the 支付金额 card shows the paid amount of valid orders paid in the range (plain Python)
    amount, _orders = paid_totals(warehouse.data, START, END)
    assert 'data-kpi="paid_amount"' in page
    assert f"¥{amount:,.2f}" in page
    assert 'data-testid="change-explained"' in page
    assert page.count("data-datacenter-chart=") == 2


def test_shop_scope_limits_the_numbers(make_user, warehouse):
    # given a user limited to the own web shop
    client = client_for(make_user("operations", shops=[warehouse.own]))
    # when the overview is opened without a shop filter
    page = client.get(page_url("changelist")).content.decode()
    # then only that shop's sales are shown
    own_amount, _ = paid_totals(warehouse.data, START, END, {warehouse.own.pk})
    all_amount, _ = paid_totals(warehouse.data, START, END)
    assert own_amount != all_amount
    assert f"¥{own_amount:,.2f}" in page
    # and the other shop is not offered, nor accepted
    assert "淘宝店" not in page
    refused = client.get(page_url("changelist") + f"&shop={warehouse.tmall.pk}").content.decode()
    assert 'data-testid="kpi-cards"' not in refused
    assert 'data-testid="datacenter-refusal"' in refused


def test_a_reversed_custom_range_is_refused_on_the_page(make_user, warehouse):
    client = client_for(make_user("operations"))
    url = reverse("admin:analytics_datacenter_changelist") + f"?preset=custom&start={END}&end={START}"
    page = client.get(url).content.decode()
    assert 'data-testid="datacenter-refusal"' in page
    assert "早于开始日期" in page


def test_presets_pick_the_range(make_user, warehouse, monkeypatch):
    monkeypatch.setattr("shopops.analytics.reports.params.today", lambda: dt.date(2026, 10, 24))
    client = client_for(make_user("operations"))
    page = client.get(reverse("admin:analytics_datacenter_trends") + "?preset=yesterday").content.decode()
    assert "2026-10-23 至 2026-10-23" in page
    page = client.get(
        reverse("admin:analytics_datacenter_trends") + "?preset=this_month&grain=week"
    ).content.decode()
    assert "2026-10-01 至 2026-10-23" in page
    assert "2026-09-28 周" in page


def read_sheets(content: bytes) -> dict[str, list[tuple]]:
    workbook = openpyxl.load_workbook(io.BytesIO(content), read_only=True)
    return {sheet.title: list(sheet.iter_rows(values_only=True)) for sheet in workbook.worksheets}


def as_decimal(value, places="0.01"):
    return None if value is None else Decimal(str(value)).quantize(Decimal(places))


def test_overview_export_reads_back_as_the_compute_results(make_user, warehouse):
    # given an operator
    operator = make_user("operations")
    client = client_for(operator)
    # when the overview is exported
    response = client.get(reverse("admin:analytics_datacenter_export", args=["overview"]) + "?" + QUERY)
    # then the workbook holds every KPI with its comparisons, equal to metrics.compute
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheets = read_sheets(response.content)
    assert list(sheets) == ["核心指标", "变化解读", "趋势"]
    expected = compute.overview(START, END)
    rows = {row[0]: row for row in sheets["核心指标"][1:]}
    for kpi in expected.kpis:
        row = rows[kpi.label]
        places = "0.0001" if kpi.unit == "ratio" else "0.1" if kpi.unit == "seconds" else "0.01"
        assert as_decimal(row[1], places) == (
            None if kpi.value is None else Decimal(kpi.value).quantize(Decimal(places))
        ), kpi.code
        assert as_decimal(row[3], "0.0001") == kpi.changes["previous"].relative, kpi.code
    # and the paid amount is the plain-Python one
    amount, _ = paid_totals(warehouse.data, START, END)
    assert as_decimal(rows["支付金额"][1]) == amount
    # and the contributions of the explanation add up to the change
    explanation = sheets["变化解读"][1:]
    first_group = [row for row in explanation if row[0] == explanation[0][0]]
    assert sum(as_decimal(row[5]) for row in first_group) == expected.explanation.change
    # and the export is audited
    entry = AuditEntry.objects.get(action="datacenter.exported")
    assert entry.changes["page"] == "overview"
    assert entry.changes["start"] == str(START)


def test_products_and_campaigns_exports_match_compute(make_user, warehouse):
    client = client_for(make_user("admin"))
    products = read_sheets(
        client.get(reverse("admin:analytics_datacenter_export", args=["products"]) + "?" + QUERY).content
    )
    result = compute.by_product(START, END, best_count=datacenter.BEST_COUNT)
    sheet = products["全部商品"]
    assert sheet[0][:2] == ("商家编码", "商品名称")
    exported = {row[0]: row for row in sheet[1:]}
    for row in result.rows:
        position = 2 + result.columns.index("paid_amount")
        assert as_decimal(exported[row.label][position]) == row.metrics["paid_amount"]
    campaigns = read_sheets(
        client.get(reverse("admin:analytics_datacenter_export", args=["campaigns"]) + "?" + QUERY).content
    )
    spend = sum(as_decimal(row[2]) for row in campaigns["推广计划"][1:])
    expected = sum(
        (row["spend"] for row in warehouse.data["ad_spend"] if START <= row["day"] <= END), Decimal("0.00")
    )
    assert spend == expected


def test_finance_may_view_but_not_export(make_user, warehouse):
    client = client_for(make_user("finance"))
    assert client.get(page_url("changelist")).status_code == 200
    assert (
        client.get(reverse("admin:analytics_datacenter_export", args=["overview"]) + "?" + QUERY).status_code
        == 403
    )
    assert not AuditEntry.objects.filter(action="datacenter.exported").exists()


def test_visitors_card_matches_plain_python(make_user, warehouse):
    client = client_for(make_user("operations"))
    page = client.get(page_url("changelist")).content.decode()
    assert f"{visitors(warehouse.data, START, END):,}" in page
