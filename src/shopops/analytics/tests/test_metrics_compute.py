import datetime as dt
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import ibis
import pytest

from shopops.analytics.metrics import compute, definitions
from shopops.analytics.metrics.catalog import derive, ratio
from shopops.analytics.metrics.conventions import Conventions
from shopops.analytics.metrics.sample_data import random_dataset, write_dataset
from shopops.analytics.tests.test_metrics_reference import _period, product_reference, reference_measures
from shopops.analytics.warehouse import tables as warehouse_tables

START = dt.date(2026, 3, 2)
CONVENTIONS = Conventions()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any], Path]:
    data = random_dataset(seed=31, start=START, days=60, visitors=300, customers=300)
    root = tmp_path_factory.mktemp("world")
    write_dataset(root, data)
    return data, warehouse_tables.ibis_tables(ibis.duckdb.connect(), root=root), root


def _split(
    data: dict[str, Any], start: dt.date, end: dt.date, plain: dict[Any, dict[str, Any]], **options: Any
) -> dict[Any, dict[str, Any]]:
    """The reference per key with each shop's traffic from its own source and the order measures of the
    shops with traffic data (plain Python, as docs/metrics.md says): what metrics.compute adds."""
    shops = options.get("shop_ids")
    by_source = options.get("sources") is not None
    event_shops = {
        row["shop_id"]
        for row in data["events"]
        if start <= row["day"] <= end and (shops is None or row["shop_id"] in shops)
    }
    report_shops = set()
    if not by_source:
        report_shops = {
            row["shop_id"]
            for row in data.get("traffic_reports", [])
            if start <= row["day"] <= end
            and row["product_code"] == ""
            and row["visitors"]
            and (shops is None or row["shop_id"] in shops)
        } - event_shops
    grain = options.get("grain")
    scoped = {name: value for name, value in options.items() if name != "shop_ids"}
    matched = reference_measures(
        data, start, end, shop_ids=sorted(event_shops | report_shops) or [0], **scoped
    )
    with_events = reference_measures(data, start, end, shop_ids=sorted(event_shops) or [0], **scoped)
    reported: dict[Any, list[int]] = defaultdict(lambda: [0, 0])
    for row in data.get("traffic_reports", []):
        if row["shop_id"] in report_shops and row["product_code"] == "" and start <= row["day"] <= end:
            key = _period(row["day"], grain, start)[0]
            reported[key][0] += row["visitors"]
            reported[key][1] += row["page_views"]
    out: dict[Any, dict[str, Any]] = {}
    for key in set(plain) | set(reported):
        row = {name: plain.get(key, {}).get(name, 0) for name in definitions.BASE_MEASURES}
        row["own_visitors"], row["own_pv"] = row["visitors"], row["pv"]
        row["visitors"] += reported[key][0] if key in reported else 0
        row["pv"] += reported[key][1] if key in reported else 0
        for name in ("paying_buyers", "ordering_buyers", "paid_amount"):
            row[f"conversion_{name}"] = matched.get(key, {}).get(name, 0)
        for name in ("orders", "paid_orders"):
            row[f"conversion_session_{name}"] = with_events.get(key, {}).get(name, 0)
        out[key] = row
    return out


def _reference(data: dict[str, Any], start: dt.date, end: dt.date, **options: Any) -> dict[str, Any]:
    found = _split(data, start, end, reference_measures(data, start, end, **options), **options).get(
        start, {}
    )
    return {name: found.get(name, 0) for name in (*definitions.BASE_MEASURES, *SPLIT_MEASURES)}


SPLIT_MEASURES = (
    "own_visitors",
    "own_pv",
    "conversion_paying_buyers",
    "conversion_ordering_buyers",
    "conversion_paid_amount",
    "conversion_session_orders",
    "conversion_session_paid_orders",
)


def test_comparison_periods() -> None:
    # a 7-day week: the previous 7 days, the week before, the same dates last year
    periods = compute.comparison_periods(dt.date(2026, 3, 9), dt.date(2026, 3, 15))
    assert periods == {
        "previous": compute.Period(dt.date(2026, 3, 2), dt.date(2026, 3, 8)),
        "last_week": compute.Period(dt.date(2026, 3, 2), dt.date(2026, 3, 8)),
        "last_year": compute.Period(dt.date(2025, 3, 9), dt.date(2025, 3, 15)),
    }
    # one day: yesterday, the same weekday last week; 29 February last year is the 28th
    periods = compute.comparison_periods(dt.date(2028, 2, 29), dt.date(2028, 2, 29))
    assert periods["previous"] == compute.Period(dt.date(2028, 2, 28), dt.date(2028, 2, 28))
    assert periods["last_week"] == compute.Period(dt.date(2028, 2, 22), dt.date(2028, 2, 22))
    assert periods["last_year"] == compute.Period(dt.date(2027, 2, 28), dt.date(2027, 2, 28))


def test_overview_kpis_and_changes_match_the_independent_computation(world: Any) -> None:
    # given random data
    data, tables, _root = world
    start, end = START + dt.timedelta(days=35), START + dt.timedelta(days=48)
    # when the overview is computed
    result = compute.overview(start, end, conventions=CONVENTIONS, tables=tables)
    # then every KPI and every comparison is derived from the plain-Python base measures
    current = derive(_reference(data, start, end), CONVENTIONS)
    assert result.measures == _reference(data, start, end)
    for name, period in result.comparisons.items():
        before = derive(_reference(data, period.start, period.end), CONVENTIONS)
        for kpi in result.kpis:
            change = kpi.changes[name]
            assert (kpi.value, change.value) == (current[kpi.code], before[kpi.code]), (name, kpi.code)
            if current[kpi.code] is not None and before[kpi.code] is not None:
                assert change.absolute == current[kpi.code] - before[kpi.code]
                expected = None if before[kpi.code] == 0 else ratio(change.absolute, before[kpi.code])
                assert change.relative == expected
    assert result.kpi("paid_amount").label == "支付金额"
    assert result.explanation is not None
    assert sum(part.contribution for part in result.explanation.factors) == result.explanation.change


def test_trend_has_every_bucket_cut_at_the_range(world: Any) -> None:
    # given a range from a Wednesday to a Tuesday three weeks later
    data, tables, _root = world
    start, end = dt.date(2026, 3, 11), dt.date(2026, 3, 31)
    # when the weekly trend is computed
    result = compute.trend(start, end, "week", conventions=CONVENTIONS, tables=tables)
    # then weeks start on Monday, the first and last are cut, and each point equals the reference
    assert [(point.key, point.period.start, point.period.end) for point in result.points] == [
        (dt.date(2026, 3, 9), dt.date(2026, 3, 11), dt.date(2026, 3, 15)),
        (dt.date(2026, 3, 16), dt.date(2026, 3, 16), dt.date(2026, 3, 22)),
        (dt.date(2026, 3, 23), dt.date(2026, 3, 23), dt.date(2026, 3, 29)),
        (dt.date(2026, 3, 30), dt.date(2026, 3, 30), dt.date(2026, 3, 31)),
    ]
    expected = _split(data, start, end, reference_measures(data, start, end, grain="week"), grain="week")
    for point in result.points:
        wanted = expected.get(point.key, {})
        assert point.measures == {name: wanted.get(name, 0) for name in point.measures}
        assert point.metrics == derive(point.measures, CONVENTIONS)


def test_trend_fills_empty_days_with_zeros(world: Any) -> None:
    # given days long before any data
    _data, tables, _root = world
    start = dt.date(2020, 1, 1)
    # when the daily trend is computed
    result = compute.trend(start, start + dt.timedelta(days=2), "day", conventions=CONVENTIONS, tables=tables)
    # then three points with zeros and None ratios
    assert [point.key for point in result.points] == [start + dt.timedelta(days=n) for n in range(3)]
    assert all(point.measures["pv"] == 0 and point.metrics["bounce_rate"] is None for point in result.points)


def test_by_source_rows_equal_the_reference_filtered_to_each_source(world: Any) -> None:
    # given random data
    data, tables, _root = world
    start, end = START + dt.timedelta(days=10), START + dt.timedelta(days=50)
    # when broken down by source
    result = compute.by_source(start, end, conventions=CONVENTIONS, tables=tables)
    # then each row is the reference with that source as the only one
    assert {row.key for row in result.rows} == {"direct", "baidu", "wechat", "douyin", "google", ""}
    for row in result.rows:
        wanted = _reference(data, start, end, sources=[row.key])
        assert row.measures == {name: wanted[name] for name in row.measures}, row.key
    assert result.total.measures == _reference(data, start, end)
    assert result.rows[-1].label.startswith("（无来源")
    visitors = [row.measures["visitors"] for row in result.rows]
    assert visitors == sorted(visitors, reverse=True)


def test_by_product_rows_and_best_and_worst(world: Any) -> None:
    # given random data
    data, tables, _root = world
    start, end = START + dt.timedelta(days=10), START + dt.timedelta(days=50)
    # when broken down by product
    result = compute.by_product(start, end, conventions=CONVENTIONS, tables=tables, best_count=2)
    # then the numbers are the reference's, best and worst by paid amount
    expected = product_reference(data, start, end)
    assert {row.key for row in result.rows} == set(expected)
    for row in result.rows:
        assert {name: row.measures[name] for name in expected[row.key]} == expected[row.key]
        assert row.metrics["return_rate"] == ratio(
            expected[row.key]["refunded_units"], expected[row.key]["units"]
        )
    by_amount = sorted(expected, key=lambda code: expected[code].get("paid_amount", 0), reverse=True)
    assert [row.key for row in result.best] == by_amount[:2]
    assert [row.key for row in result.worst] == list(reversed(by_amount))[:2]


def test_customers_cohorts_and_rfm_match_plain_python(world: Any) -> None:
    # given random data
    data, tables, _root = world
    start, end = START, START + dt.timedelta(days=59)
    # when the customer report is computed
    result = compute.customers(start, end, conventions=CONVENTIONS, tables=tables)
    # then buyer counts are the reference's
    wanted = _reference(data, start, end)
    assert (result.paying_buyers, result.new_buyers, result.returning_buyers, result.repeat_buyers) == (
        wanted["paying_buyers"],
        wanted["new_buyers"],
        wanted["returning_buyers"],
        wanted["repeat_buyers"],
    )
    # and the cohort matrix is counted buyer by buyer
    paid = [o for o in data["orders"] if o["is_valid"] and o["paid_day"] and o["customer_id"] is not None]
    first: dict[int, dt.date] = {}
    for o in paid:
        first[o["customer_id"]] = min(first.get(o["customer_id"], o["paid_day"]), o["paid_day"])
    active: dict[tuple[dt.date, int], set[int]] = defaultdict(set)
    for o in paid:
        cohort = first[o["customer_id"]]
        if start <= cohort and o["paid_day"] <= end:
            offset = compute.month_index(o["paid_day"]) - compute.month_index(cohort)
            active[(cohort.replace(day=1), offset)].add(o["customer_id"])
    cohorts = sorted({key[0] for key in active})
    assert [row.cohort for row in result.cohorts] == cohorts
    for row in result.cohorts:
        assert row.active == [
            len(active.get((row.cohort, offset), set())) for offset in range(len(row.active))
        ]
        assert row.size == row.active[0]
        assert row.retention[0] == Decimal("1.0000")
    # and RFM segments by the documented thresholds
    in_range = [o for o in paid if start <= o["paid_day"] <= end]
    per_buyer: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for o in in_range:
        per_buyer[o["customer_id"]].append(o)
    mean = (sum((o["paid_amount"] for o in in_range), Decimal(0)) / len(per_buyer)).quantize(Decimal("0.01"))
    segments: dict[str, int] = defaultdict(int)
    for orders in per_buyer.values():
        recent = max(o["paid_day"] for o in orders) >= end - dt.timedelta(days=29)
        frequent = len(orders) >= 2
        high = sum((o["paid_amount"] for o in orders), Decimal(0)) >= mean
        segments[f"{int(recent)}{int(frequent)}{int(high)}"] += 1
    assert {compute.RFM_SEGMENTS[code][0]: count for code, count in segments.items()} == {
        segment.code: segment.buyers for segment in result.rfm if segment.buyers
    }
    assert sum(segment.buyers for segment in result.rfm) == len(per_buyer)
    assert result.rfm_thresholds["high_value_amount"] == mean


def test_campaigns_spend_roi_and_cac(world: Any) -> None:
    # given random spend
    data, tables, _root = world
    start, end = START + dt.timedelta(days=10), START + dt.timedelta(days=30)
    # when the campaign report is computed, on revenue and on gross profit
    result = compute.campaigns(start, end, conventions=CONVENTIONS, tables=tables)
    on_profit = compute.campaigns(
        start, end, conventions=Conventions(roi_basis="gross_profit"), tables=tables
    )
    # then per campaign sums and ROI are the plain ones
    rows = [row for row in data["ad_spend"] if start <= row["day"] <= end]
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[(row["ad_channel"], row["campaign"])].append(row)
    wanted = _reference(data, start, end)
    margin = (wanted["net_sales"] - wanted["cogs"]) / wanted["net_sales"]
    assert {(row.ad_channel, row.campaign) for row in result.rows} == set(grouped)
    for row, profit_row in zip(result.rows, on_profit.rows, strict=True):
        campaign = grouped[(row.ad_channel, row.campaign)]
        spend = sum((r["spend"] for r in campaign), Decimal(0))
        revenue = sum((r["attributed_revenue"] or Decimal(0) for r in campaign), Decimal(0))
        assert (row.spend, row.attributed_revenue) == (spend, revenue)
        assert row.roi == ratio(revenue, spend)
        assert profit_row.roi == ratio(revenue * margin, spend)
    assert result.spend == wanted["spend"]
    assert result.new_buyers == wanted["new_buyers"]
    assert result.cac == ratio(wanted["spend"], wanted["new_buyers"], "money")


def test_without_tables_reads_the_analytics_dir_then_the_rollups(world: Any, settings: Any) -> None:
    # given the analytics folder of the settings, no rollups yet
    data, raw_tables, root = world
    settings.ANALYTICS_DIR = root
    start, end = START + dt.timedelta(days=20), START + dt.timedelta(days=26)
    # when computed without tables, then the definitions over the folder answer
    raw = compute.overview(start, end, conventions=CONVENTIONS)
    assert raw.measures == _reference(data, start, end)
    # and once the rollups are built they answer the same
    rollups = pytest.importorskip("shopops.analytics.warehouse.rollups")
    rollups.rebuild(root=root)
    assert compute._rollups_ready()
    fast = compute.overview(start, end, conventions=CONVENTIONS)
    assert {kpi.code: kpi.value for kpi in fast.kpis} == {kpi.code: kpi.value for kpi in raw.kpis}
    # and the breakdowns from the rollups equal those from the raw tables
    for report in (compute.by_product, compute.by_source):
        from_rollups = report(start, end, conventions=CONVENTIONS)
        from_raw = report(start, end, conventions=CONVENTIONS, tables=raw_tables)
        assert [(row.key, row.metrics) for row in from_rollups.rows] == [
            (row.key, row.metrics) for row in from_raw.rows
        ]


def test_results_serialise_to_plain_dicts(world: Any) -> None:
    _data, tables, _root = world
    result = compute.overview(START + dt.timedelta(days=5), START + dt.timedelta(days=6), tables=tables)
    as_dict = result.as_dict()
    assert as_dict["kpis"][0]["code"] == "paid_amount"
    assert isinstance(as_dict["kpis"][0]["value"], Decimal)
    assert as_dict["conventions"] == Conventions().as_dict()
