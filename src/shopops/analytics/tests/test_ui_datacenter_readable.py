"""数据中心 pages a person can read: a year's range renders every page with names beside codes and tables
that scroll inside their card, margins only for users who may see costs, and an RFM segment or a cohort cell
opens the list of its buyers (as many as the cell says, computed here in plain Python), masked and scoped."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections import defaultdict
from decimal import Decimal
from typing import Any

import openpyxl
import pytest
from django.test import Client
from django.urls import reverse

from shopops.analytics.tests.ui_data import RANGE, build_warehouse
from shopops.catalog.tests.factories import create_product
from shopops.customers.models import Customer

END = RANGE[1]
START = END - dt.timedelta(days=364)  # one year; the sample data covers its last 40 days
QUERY = f"preset=custom&start={START}&end={END}"
PAGES = ["changelist", "trends", "sources", "products", "customers", "campaigns"]
NAMES = {"P1": "真丝连衣裙", "P2": "羊毛开衫", "P3": "亚麻衬衫"}  # P4 is left unmatched on purpose


@pytest.fixture
def warehouse(db, settings, tmp_path):
    settings.ANALYTICS_DIR = tmp_path / "analytics"
    built = build_warehouse(settings.ANALYTICS_DIR)
    for code, name in NAMES.items():
        create_product(merchant_code=code, name=name)
    for number in range(1, 81):
        Customer.objects.create(pk=number, name=f"买家王{number:02d}号")
    return built


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page_url(name: str, query: str = QUERY) -> str:
    return reverse(f"admin:analytics_datacenter_{name}") + "?" + query


def tables_of(page: str) -> dict[str, str]:
    """Each datacenter table's HTML by its key."""
    return dict(re.findall(r'data-table="(\w+)">(.*?)</table>', page, flags=re.S))


def test_every_page_renders_a_year_with_tables_that_scroll_inside_their_card(make_user, warehouse):
    client = client_for(make_user("operations"))
    for name in PAGES:
        response = client.get(page_url(name))
        page = response.content.decode()
        assert response.status_code == 200, name
        # the date box says the range, its length and its days' time zone
        assert f"{START} 至 {END}（365 天，Asia/Shanghai）" in page, name
        for key, html in tables_of(page).items():
            # a table sits in a sideways-scrolling wrapper, never in unfold's clipping table component
            assert 'class="datacenter-table-wrap overflow-x-auto"' in html, (name, key)
            assert "overflow-hidden" not in html.split("datacenter-table-wrap", 1)[1], (name, key)
        # no raw values on the page
        assert "None" not in re.sub(r"<script.*?</script>", "", page, flags=re.S), name
        # a sanity bound on the page weight (the year's trend table alone was 3 MB of unfold markup)
        assert len(response.content) < 600_000, name


def test_products_show_names_beside_codes_on_the_page_and_in_the_export(make_user, warehouse):
    client = client_for(make_user("operations"))
    page = client.get(page_url("products")).content.decode()
    rows = re.findall(r"<tr>(<td.*?)</tr>", tables_of(page)["products"], flags=re.S)
    cells = {
        re.findall(r"<td[^>]*>(.*?)</td>", row)[0]: re.findall(r"<td[^>]*>(.*?)</td>", row)[1] for row in rows
    }
    for code, name in NAMES.items():
        assert cells[code] == name
    assert cells["P4"] == ""  # not in the catalog: no invented name
    export = client.get(reverse("admin:analytics_datacenter_export", args=["products"]) + "?" + QUERY)
    sheet = openpyxl.load_workbook(io.BytesIO(export.content), read_only=True)["全部商品"]
    exported = {row[0]: row[1] for row in sheet.iter_rows(min_row=2, values_only=True)}
    for code, name in NAMES.items():
        assert exported[code] == name


def test_margins_only_for_users_who_may_see_costs(make_user, warehouse):
    margin = "毛利率"
    operator = client_for(make_user("operations"))
    promoter = client_for(make_user("promotion"))
    for name in ("trends", "products"):
        assert margin in operator.get(page_url(name)).content.decode(), name
        assert margin not in promoter.get(page_url(name)).content.decode(), name
    export = promoter.get(reverse("admin:analytics_datacenter_export", args=["products"]) + "?" + QUERY)
    workbook = openpyxl.load_workbook(io.BytesIO(export.content), read_only=True)
    headers = [
        cell for sheet in workbook.worksheets for cell in next(sheet.iter_rows(max_row=1, values_only=True))
    ]
    assert margin not in headers
    assert "支付金额" in headers


def paid_buyers(
    data: dict[str, list[dict[str, Any]]], start: dt.date, end: dt.date
) -> dict[int, dict[str, Any]]:
    """Per buyer of valid orders paid in the range: orders, amount, last paid day (plain Python)."""
    buyers: dict[int, dict[str, Any]] = defaultdict(
        lambda: {"orders": 0, "amount": Decimal("0.00"), "last": None}
    )
    for row in data["orders"]:
        if row["is_valid"] and row["paid_day"] and row["customer_id"] and start <= row["paid_day"] <= end:
            buyer = buyers[row["customer_id"]]
            buyer["orders"] += 1
            buyer["amount"] += row["paid_amount"]
            buyer["last"] = max(filter(None, [buyer["last"], row["paid_day"]]))
    return dict(buyers)


def rfm_plain(data: dict[str, list[dict[str, Any]]], start: dt.date, end: dt.date) -> dict[str, set[int]]:
    buyers = paid_buyers(data, start, end)
    mean = (sum(b["amount"] for b in buyers.values()) / len(buyers)).quantize(Decimal("0.01"))
    since = end - dt.timedelta(days=29)
    segments: dict[str, set[int]] = defaultdict(set)
    for customer, buyer in buyers.items():
        code = "".join(
            "1" if flag else "0"
            for flag in (buyer["last"] >= since, buyer["orders"] >= 2, buyer["amount"] >= mean)
        )
        segments[code].add(customer)
    return segments


def listed_ids(page: str) -> set[int]:
    table = re.search(r'data-testid="buyers-table">(.*?)</table>', page, flags=re.S)
    if table is None:
        return set()
    return {
        int(number)
        for number in re.findall(r'<td class="num">(\d+)</td>\s*<td class="num">\d+</td>', table.group(1))
    }


def test_an_rfm_segment_opens_its_buyers(make_user, warehouse):
    from shopops.analytics.metrics.cohorts import RFM_SEGMENTS

    client = client_for(make_user("operations"))
    page = client.get(page_url("customers")).content.decode()
    expected = rfm_plain(warehouse.data, START, END)
    links = dict(
        re.findall(r'<a href="([^"]*segment=(\w+)[^"]*)" data-drill="buyers">', tables_of(page)["rfm"])
    )
    links = {segment: href.replace("&amp;", "&") for href, segment in links.items()}
    assert links  # some segment has buyers
    for code, (segment, _label) in RFM_SEGMENTS.items():
        if not expected.get(code):
            assert segment not in links
            continue
        # the segment's buyers count in the table is the plain-Python one
        listing = client.get(links[segment])
        assert listing.status_code == 200
        html = listing.content.decode()
        assert f'data-testid="buyers-count">{len(expected[code])}<' in html, segment
        # and the list names exactly those buyers, masked for a user without view_pii
        assert listed_ids(html) == expected[code], segment
        assert "买家王" not in html
        assert "买*" in html or "*" in html


def month_key(day: dt.date) -> str:
    return f"{day:%Y-%m}"


def test_a_cohort_cell_opens_the_buyers_who_came_back(make_user, warehouse):
    client = client_for(make_user("admin"))
    page = client.get(page_url("customers")).content.decode()
    # plain Python: each buyer's first paid month (first paid day in the range), and the months they paid in
    paid = [
        r
        for r in warehouse.data["orders"]
        if r["is_valid"] and r["paid_day"] and r["customer_id"] and r["paid_day"] <= END
    ]
    first: dict[int, dt.date] = {}
    for row in paid:
        first[row["customer_id"]] = min(first.get(row["customer_id"], row["paid_day"]), row["paid_day"])
    cells: dict[tuple[str, int], set[int]] = defaultdict(set)
    for row in paid:
        began = first[row["customer_id"]]
        if began >= START:
            offset = (row["paid_day"].year - began.year) * 12 + row["paid_day"].month - began.month
            cells[(month_key(began), offset)].add(row["customer_id"])
    # the cell with the most returning buyers, and a cohort's size (month 0)
    (cohort, offset), back = max(
        ((key, found) for key, found in cells.items() if key[1] > 0), key=lambda item: len(item[1])
    )
    assert back
    for wanted_offset, wanted in ((offset, back), (0, cells[(cohort, 0)])):
        link = re.search(
            rf'<a href="([^"]*cohort={cohort}&amp;offset={wanted_offset}&amp;[^"]*)"',
            tables_of(page)["cohorts"],
        )
        assert link is not None, (cohort, wanted_offset)
        html = client.get(link.group(1).replace("&amp;", "&")).content.decode()
        assert f'data-testid="buyers-count">{len(wanted)}<' in html
        assert listed_ids(html) == wanted
        # an administrator (view_pii) sees the names in full
        assert "买家王" in html


def test_the_buyer_list_keeps_to_the_users_shops(make_user, warehouse):
    client = client_for(make_user("operations", shops=[warehouse.own]))
    html = client.get(page_url("buyers", QUERY + "&segment=champions")).content.decode()
    own_only = {
        r["customer_id"]
        for r in warehouse.data["orders"]
        if r["shop_id"] == warehouse.own.pk and r["customer_id"]
    }
    assert listed_ids(html) <= own_only
    refused = client.get(
        page_url("buyers", QUERY + f"&segment=champions&shop={warehouse.tmall.pk}")
    ).content.decode()
    assert 'data-testid="datacenter-refusal"' in refused
    unknown = client.get(page_url("buyers", QUERY + "&segment=nonsense")).content.decode()
    assert "没有这个分层或同期群" in unknown


@pytest.mark.parametrize("role", ["warehouse", "designer"])
def test_the_buyer_list_needs_the_datacenter(make_user, warehouse, role):
    client = client_for(make_user(role))
    assert client.get(page_url("buyers", QUERY + "&segment=champions")).status_code == 403


@pytest.mark.parametrize("query", ["", "?channel=taobao"])
def test_the_date_box_names_the_default_range(query: str, make_user: Any) -> None:
    # given an operator opening the overview without choosing a range
    client = Client()
    client.force_login(make_user("operations"))
    body = client.get(reverse("admin:analytics_datacenter_changelist") + query).content.decode()
    # then the preset box has 近7天 selected, the range the page shows
    selected = re.findall(r'<option value="([a-z0-9_]+)"[^>]*selected', body)
    assert "last7" in selected
    assert "yesterday" not in selected
