"""The 数据中心 reports: overview with comparisons, trend, sources, products, customers, campaigns.

Every function takes a date range (inclusive Asia/Shanghai days) and filters, reads base measures
(the rollups' fast path when they are built, else the Ibis definitions over the raw tables) and
returns plain frozen dataclasses holding Decimal/int values (`as_dict` for JSON or XLSX).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from shopops.analytics.metrics import catalog, definitions, explain
from shopops.analytics.metrics.catalog import METRICS, Value, derive, ratio
from shopops.analytics.metrics.cohorts import RFM_SEGMENTS, cohorts, month_index, rfm
from shopops.analytics.metrics.conventions import Conventions, resolve
from shopops.analytics.metrics.results import (
    Breakdown,
    BreakdownRow,
    CampaignRow,
    Campaigns,
    Change,
    CohortRow,
    Customers,
    Kpi,
    Overview,
    Period,
    RfmSegment,
    TrafficShop,
    Trend,
    TrendPoint,
)

__all__ = [
    "RFM_SEGMENTS",
    "Breakdown",
    "BreakdownRow",
    "CampaignRow",
    "Campaigns",
    "Change",
    "CohortRow",
    "Customers",
    "Kpi",
    "Overview",
    "Period",
    "RfmSegment",
    "TrafficShop",
    "Trend",
    "TrendPoint",
    "by_product",
    "by_source",
    "campaigns",
    "currency_warnings",
    "customers",
    "derive",
    "measures",
    "month_index",
    "overview",
    "traffic_coverage",
    "trend",
]

Tables = Mapping[str, Any]

OVERVIEW_KPIS: tuple[str, ...] = (
    "paid_amount",
    "visitors",
    "payment_conversion",
    "aov",
    "paid_orders",
    "paying_buyers",
    "pv",
    "ips",
    "sessions",
    "avg_visit_duration",
    "bounce_rate",
    "orders",
    "valid_orders",
    "validity_rate",
    "order_amount",
    "net_sales",
    "gross_margin",
    "order_conversion",
    "refund_rate",
    "uv_value",
    "new_buyers",
    "repurchase_rate",
    "cac",
    "roi",
)
SOURCE_COLUMNS: tuple[str, ...] = (
    "visitors",
    "pv",
    "sessions",
    "visit_depth",
    "avg_visit_duration",
    "bounce_rate",
    "paying_buyers",
    "paid_orders",
    "paid_amount",
    "payment_conversion",
)
PRODUCT_COLUMNS: tuple[str, ...] = (
    "product_views",
    "product_visitors",
    "add_to_cart_rate",
    "detail_conversion",
    "units",
    "paid_amount",
    "gross_margin",
    "return_rate",
)
NO_SOURCE_LABEL = "（无来源：平台订单或未关联访问）"


# base measures


def default_tables() -> dict[str, Any]:
    """Ibis tables over the warehouse's Parquet (DuckDB), for the paths the rollups do not cover."""
    import ibis

    from shopops.analytics.warehouse import tables as warehouse_tables

    return warehouse_tables.ibis_tables(ibis.duckdb.connect())


def _rollups_ready() -> bool:
    try:
        from shopops.analytics.warehouse import store
    except ImportError:  # pragma: no cover - the warehouse is part of the app
        return False
    return store.read_version() > 0


# where a shop's traffic comes from (TrafficShop.source)
TRAFFIC_FROM_EVENTS = "events"
TRAFFIC_FROM_REPORTS = "platform_reports"
TRAFFIC_SOURCE_LABELS = {
    TRAFFIC_FROM_EVENTS: "自有访问数据（埋点/访问日志）",
    TRAFFIC_FROM_REPORTS: "平台流量报表",
}
# an id no shop has: "none of the shops"
NO_SHOP = 0
# order measures that conversion rates and UV价值 take from the shops with traffic data only
MATCHED_MEASURES = ("paying_buyers", "ordering_buyers", "paid_amount")
SESSION_MATCHED_MEASURES = ("orders", "paid_orders")


def measures(
    start: dt.date,
    end: dt.date,
    *,
    by: Sequence[str] = (),
    shop_ids: Iterable[int] | None = None,
    channels: Iterable[str] | None = None,
    sources: Iterable[str] | None = None,
    products: Iterable[str] | None = None,
    conventions: Conventions | None = None,
    tables: Tables | None = None,
) -> list[dict[str, Any]]:
    """Base measures per group: from `tables` when given, else the rollups when built, else raw facts.

    Traffic per shop comes from the source the shop has (docs/metrics.md): `visitors` and `pv` add the
    platform reports of shops without events (`own_visitors`, `own_pv`: the events' part alone), and
    `conversion_*` / `conversion_session_*` hold the order measures of the shops with traffic data (with
    sessions: with events), so conversion and UV价值 divide buyers and visitors of the same shops.
    """
    conventions = resolve(conventions)
    options: dict[str, Any] = {
        "shop_ids": None if shop_ids is None else list(shop_ids),
        "channels": None if channels is None else list(channels),
        "sources": None if sources is None else list(sources),
        "products": None if products is None else list(products),
        "conventions": conventions,
        "tables": tables,
    }
    rows = _raw_measures(start, end, by=tuple(by), **options)
    if "product" in by or products is not None:
        return rows  # per product: detail-page conversion has its own visitors (product_visitors)
    per_shop = _raw_measures(start, end, by=("shop_id",), **options)
    coverage = _coverage_of(per_shop)
    report_shops = sorted(shop for shop, source in coverage.items() if source == TRAFFIC_FROM_REPORTS)
    event_shops = sorted(shop for shop, source in coverage.items() if source == TRAFFIC_FROM_EVENTS)
    selling = {row["shop_id"] for row in per_shop if row.get("orders") or row.get("paid_orders")}

    def restricted(shops: list[int]) -> dict[tuple[Any, ...], dict[str, Any]] | None:
        """The rows over `shops` only; None when every selling shop is among them (the rows themselves)."""
        if selling <= set(shops):
            return None
        scoped = {**options, "shop_ids": shops or [NO_SHOP]}
        return {_key(row, by): row for row in _raw_measures(start, end, by=tuple(by), **scoped)}

    reported = (
        {
            _key(row, by): row
            for row in _raw_measures(start, end, by=tuple(by), **{**options, "shop_ids": report_shops})
        }
        if report_shops
        else {}
    )
    with_traffic = restricted(sorted(coverage))
    with_events = restricted(event_shops) if conventions.conversion_basis == "session" else None
    for row in rows:
        key = _key(row, by)
        row["own_visitors"], row["own_pv"] = row.get("visitors", 0), row.get("pv", 0)
        extra = reported.get(key, {})
        row["visitors"] = row.get("visitors", 0) + (extra.get("reported_visitors") or 0)
        row["pv"] = row.get("pv", 0) + (extra.get("reported_page_views") or 0)
        matched = row if with_traffic is None else with_traffic.get(key, {})
        for name in MATCHED_MEASURES:
            if name in row:
                row[f"conversion_{name}"] = matched.get(name, _zero_of(name))
        sessions = row if with_events is None else with_events.get(key, {})
        for name in SESSION_MATCHED_MEASURES:
            if name in row:
                row[f"conversion_session_{name}"] = sessions.get(name, 0)
    return rows


def _key(row: Mapping[str, Any], by: Sequence[str]) -> tuple[Any, ...]:
    return tuple(row[name] for name in by)


def _zero_of(name: str) -> Any:
    return definitions.ZERO_MONEY if name in definitions.MONEY_MEASURES else 0


def _coverage_of(per_shop: list[dict[str, Any]]) -> dict[int, str]:
    """shop id → where its traffic comes from (TRAFFIC_FROM_*), from measures by shop; shops without traffic
    left out. A shop with events (collected or from access logs) uses them; a shop without uses its platform
    traffic reports (whole-shop rows). Never both, so nothing is counted twice."""
    found: dict[int, str] = {}
    for row in per_shop:
        if row.get("visitors"):
            found[row["shop_id"]] = TRAFFIC_FROM_EVENTS
        elif row.get("reported_visitors"):
            found[row["shop_id"]] = TRAFFIC_FROM_REPORTS
    return found


def _coverage(start: dt.date, end: dt.date, **options: Any) -> dict[int, str]:
    return _coverage_of(_raw_measures(start, end, by=("shop_id",), **options))


def traffic_coverage(
    start: dt.date,
    end: dt.date,
    *,
    shop_ids: Iterable[int] | None = None,
    channels: Iterable[str] | None = None,
    conventions: Conventions | None = None,
    tables: Tables | None = None,
) -> list[TrafficShop]:
    """The shops of the scope that have traffic data in the range, and from which source (for the pages)."""
    coverage = _coverage(
        start,
        end,
        shop_ids=None if shop_ids is None else list(shop_ids),
        channels=None if channels is None else list(channels),
        sources=None,
        products=None,
        conventions=resolve(conventions),
        tables=tables,
    )
    return [
        TrafficShop(shop_id=shop, source=source, label=TRAFFIC_SOURCE_LABELS[source])
        for shop, source in sorted(coverage.items())
    ]


def _raw_measures(
    start: dt.date,
    end: dt.date,
    *,
    by: Sequence[str] = (),
    shop_ids: list[int] | None,
    channels: list[str] | None,
    sources: list[str] | None,
    products: list[str] | None,
    conventions: Conventions,
    tables: Tables | None,
) -> list[dict[str, Any]]:
    """The base measures as the rollups or the definitions give them."""
    arguments: dict[str, Any] = {
        "by": tuple(by),
        "shop_ids": shop_ids,
        "channels": channels,
        "sources": sources,
        "products": products,
        "conventions": conventions,
    }
    if tables is None and _rollups_ready():
        from shopops.analytics.warehouse import rollups

        return rollups.measures(start, end, **arguments)
    return definitions.grouped_measures(
        tables if tables is not None else default_tables(), start, end, **arguments
    )


def _total(start: dt.date, end: dt.date, **options: Any) -> dict[str, Any]:
    return measures(start, end, **options)[0]


# overview


def shift_year(day: dt.date, years: int = -1) -> dt.date:
    """The same calendar day `years` away; 29 February becomes the 28th."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def comparison_periods(start: dt.date, end: dt.date) -> dict[str, Period]:
    """previous: the same number of days just before; last_week: 7 days earlier; last_year: a year earlier."""
    days = dt.timedelta(days=(end - start).days + 1)
    week = dt.timedelta(days=7)
    return {
        "previous": Period(start - days, start - dt.timedelta(days=1)),
        "last_week": Period(start - week, end - week),
        "last_year": Period(shift_year(start), shift_year(end)),
    }


def change(current: Value, before: Value) -> tuple[Value, Decimal | None]:
    """(current − before, current ÷ before − 1 rounded to 4 places); None parts when undefined."""
    if current is None or before is None:
        return None, None
    absolute = current - before
    relative = ratio(absolute, before) if before != 0 else None
    return absolute, relative


def overview(
    start: dt.date,
    end: dt.date,
    *,
    shop_ids: Iterable[int] | None = None,
    channels: Iterable[str] | None = None,
    conventions: Conventions | None = None,
    tables: Tables | None = None,
) -> Overview:
    """The KPI cards: each KPI in the range and against the previous period, last week and last year."""
    conventions = resolve(conventions)
    options: dict[str, Any] = {
        "shop_ids": shop_ids if shop_ids is None else list(shop_ids),
        "channels": channels if channels is None else list(channels),
        "conventions": conventions,
        "tables": tables,
    }
    current = _total(start, end, **options)
    metrics = derive(current, conventions)
    periods = comparison_periods(start, end)
    compared = {name: _total(period.start, period.end, **options) for name, period in periods.items()}
    compared_metrics = {name: derive(values, conventions) for name, values in compared.items()}
    kpis = []
    for code in OVERVIEW_KPIS:
        metric = METRICS[code]
        changes = {}
        for name, period in periods.items():
            before = compared_metrics[name][code]
            absolute, relative = change(metrics[code], before)
            changes[name] = Change(period=period, value=before, absolute=absolute, relative=relative)
        kpis.append(
            Kpi(
                code=code,
                label=metric.zh,
                label_en=metric.en,
                unit=metric.unit,
                value=metrics[code],
                higher_is_better=metric.higher_is_better,
                changes=changes,
            )
        )
    return Overview(
        period=Period(start, end),
        comparisons=periods,
        kpis=kpis,
        measures=current,
        metrics=metrics,
        explanation=explain.decompose(current, compared["previous"]),
        conventions=conventions.as_dict(),
        traffic_shops=traffic_coverage(
            start, end, shop_ids=options["shop_ids"], channels=options["channels"], tables=tables
        ),
        warnings=currency_warnings(start, end, shop_ids=options["shop_ids"]),
    )


def currency_warnings(start: dt.date, end: dt.date, *, shop_ids: Iterable[int] | None = None) -> list[str]:
    """One sentence per currency and day whose orders were left out of the amounts for want of a rate."""
    from shopops.analytics.warehouse import facts

    return [
        f"缺少 {currency} 在 {day:%Y-%m-%d} 的汇率：{count} 笔订单的金额未计入（请在 数据中心 → 汇率 中录入）"
        for currency, day, count in facts.missing_rates(start, end, shop_ids)
    ]


# trend


def buckets(start: dt.date, end: dt.date, grain: str) -> list[tuple[dt.date, Period]]:
    """(bucket key, the bucket's days within the range) for every day/week/month of the range."""
    if grain not in definitions.TIME_DIMENSIONS:
        raise ValueError(f"grain must be one of {definitions.TIME_DIMENSIONS}, got {grain!r}")
    result: list[tuple[dt.date, Period]] = []
    day = start
    while day <= end:
        if grain == "day":
            key, last = day, day
        elif grain == "week":
            key = day - dt.timedelta(days=day.weekday())
            last = key + dt.timedelta(days=6)
        else:
            key = day.replace(day=1)
            last = (key.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
        result.append((key, Period(max(key, start), min(last, end))))
        day = min(last, end) + dt.timedelta(days=1)
    return result


def trend(
    start: dt.date,
    end: dt.date,
    grain: str = "day",
    *,
    shop_ids: Iterable[int] | None = None,
    channels: Iterable[str] | None = None,
    sources: Iterable[str] | None = None,
    conventions: Conventions | None = None,
    tables: Tables | None = None,
) -> Trend:
    """One point per day, week or month (every bucket, empty ones with zeros); distincts per bucket."""
    conventions = resolve(conventions)
    periods = buckets(start, end, grain)
    rows = measures(
        start,
        end,
        by=(grain,),
        shop_ids=shop_ids,
        channels=channels,
        sources=sources,
        conventions=conventions,
        tables=tables,
    )
    found = {row[grain]: row for row in rows}
    zero = _zero_like(rows)
    points = []
    for key, period in periods:
        values = {name: value for name, value in found.get(key, zero).items() if name != grain}
        points.append(
            TrendPoint(period=period, key=key, measures=values, metrics=derive(values, conventions))
        )
    return Trend(period=Period(start, end), grain=grain, points=points)


def _zero_like(rows: list[dict[str, Any]]) -> dict[str, Any]:
    names = rows[0].keys() if rows else definitions.BASE_MEASURES
    return {
        name: (definitions.ZERO_MONEY if name in definitions.MONEY_MEASURES else 0)
        for name in names
        if name not in definitions.DIMENSIONS
    }


# breakdowns


def _row(key: str, label: str, values: Mapping[str, Any], conventions: Conventions) -> BreakdownRow:
    plain = {name: value for name, value in values.items() if name not in definitions.DIMENSIONS}
    return BreakdownRow(key=key, label=label, measures=plain, metrics=derive(plain, conventions))


def by_source(
    start: dt.date,
    end: dt.date,
    *,
    shop_ids: Iterable[int] | None = None,
    channels: Iterable[str] | None = None,
    conventions: Conventions | None = None,
    tables: Tables | None = None,
) -> Breakdown:
    """Per traffic source: visitors, visits, pages per visit, duration, bounce, conversion, sales.

    Visits count for the source of their first event; orders for the source of the visit they were
    linked to (platform orders have none and form the row with an empty source)."""
    conventions = resolve(conventions)
    options: dict[str, Any] = {
        "shop_ids": shop_ids,
        "channels": channels,
        "conventions": conventions,
        "tables": tables,
    }
    rows = measures(start, end, by=("source",), **options)
    total = _total(start, end, **options)
    result = [
        _row(row["source"] or "", row["source"] or NO_SOURCE_LABEL, row, conventions)
        for row in sorted(rows, key=lambda row: (-row["visitors"], -row["paid_amount"], row["source"] or ""))
    ]
    return Breakdown(
        dimension="source",
        period=Period(start, end),
        columns=SOURCE_COLUMNS,
        rows=result,
        total=_row("", "合计", total, conventions),
    )


def by_product(
    start: dt.date,
    end: dt.date,
    *,
    shop_ids: Iterable[int] | None = None,
    channels: Iterable[str] | None = None,
    conventions: Conventions | None = None,
    tables: Tables | None = None,
    best_count: int = 5,
) -> Breakdown:
    """Per product: views, detail-page conversion, add-to-cart rate, units, revenue, margin, return rate;
    best and worst by paid amount (worst among products viewed or sold in the range)."""
    conventions = resolve(conventions)
    options: dict[str, Any] = {
        "shop_ids": shop_ids,
        "channels": channels,
        "conventions": conventions,
        "tables": tables,
    }
    rows = measures(start, end, by=("product",), **options)
    if rows and "refunded_units" not in rows[0]:
        refunds = {
            row["product"]: row["refunded_units"]
            for row in definitions.grouped_measures(
                tables if tables is not None else default_tables(),
                start,
                end,
                by=("product",),
                shop_ids=shop_ids,
                channels=channels,
                conventions=conventions,
            )
        }
        rows = [{**row, "refunded_units": refunds.get(row["product"], 0)} for row in rows]
    result = [
        _row(row["product"], row["product"], row, conventions)
        for row in sorted(
            rows, key=lambda row: (-row["paid_amount"], -row["product_views"], row["product"] or "")
        )
        if row["product"]
    ]
    active = [row for row in result if row.measures.get("product_views") or row.measures.get("units")]
    total = _total(start, end, **options)
    return Breakdown(
        dimension="product",
        period=Period(start, end),
        columns=PRODUCT_COLUMNS,
        rows=result,
        total=_row("", "合计", total, conventions),
        best=active[:best_count],
        worst=list(reversed(active[-best_count:])) if len(active) > best_count else list(reversed(active)),
    )


# customers


def customers(
    start: dt.date,
    end: dt.date,
    *,
    shop_ids: Iterable[int] | None = None,
    channels: Iterable[str] | None = None,
    conventions: Conventions | None = None,
    tables: Tables | None = None,
) -> Customers:
    """New and returning buyers, repurchase rate, the cohort retention matrix and RFM segments."""
    conventions = resolve(conventions)
    shop_list = None if shop_ids is None else list(shop_ids)
    channel_list = None if channels is None else list(channels)
    total = _total(
        start, end, shop_ids=shop_list, channels=channel_list, conventions=conventions, tables=tables
    )
    metrics = derive(total, conventions)
    facts = tables if tables is not None else default_tables()
    segments, thresholds = rfm(facts, start, end, shop_ids=shop_list, channels=channel_list)
    return Customers(
        period=Period(start, end),
        paying_buyers=total["paying_buyers"],
        new_buyers=total["new_buyers"],
        returning_buyers=total["returning_buyers"],
        repeat_buyers=total["repeat_buyers"],
        repurchase_rate=metrics["repurchase_rate"],  # type: ignore[arg-type]
        returning_buyer_share=metrics["returning_buyer_share"],  # type: ignore[arg-type]
        cohorts=cohorts(facts, start, end, shop_ids=shop_list, channels=channel_list),
        rfm=segments,
        rfm_thresholds=thresholds,
    )


# campaigns


def campaigns(
    start: dt.date,
    end: dt.date,
    *,
    shop_ids: Iterable[int] | None = None,
    channels: Iterable[str] | None = None,
    conventions: Conventions | None = None,
    tables: Tables | None = None,
) -> Campaigns:
    """Spend, clicks and attributed revenue per ad channel and campaign, ROI per campaign (roi_basis),
    and overall CAC = all spend ÷ new buyers (new buyers cannot be attributed to one campaign)."""
    conventions = resolve(conventions)
    shop_list = None if shop_ids is None else list(shop_ids)
    channel_list = None if channels is None else list(channels)
    facts = tables if tables is not None else default_tables()
    spend = facts["ad_spend"]
    conditions = [spend.day >= start, spend.day <= end]
    if shop_list is not None:
        conditions.append(spend.shop_id.isin(shop_list))
    if channel_list is not None:
        conditions.append(spend.channel.isin(channel_list))
    spend = spend.filter(*conditions)
    grouped = spend.aggregate(
        by=["ad_channel", "campaign"],
        spend=spend.spend.sum(),
        impressions=spend.impressions.sum(),
        clicks=spend.clicks.sum(),
        attributed_orders=spend.attributed_orders.sum(),
        attributed_revenue=spend.attributed_revenue.sum(),
    )
    total = _total(
        start, end, shop_ids=shop_list, channels=channel_list, conventions=conventions, tables=tables
    )
    metrics = derive(total, conventions)
    margin = metrics["gross_margin"]
    rows = []
    for row in grouped.to_pyarrow().to_pylist():
        campaign_measures = {
            "spend": Decimal(row["spend"] or 0),
            "attributed_revenue": Decimal(row["attributed_revenue"] or 0),
            "net_sales": total["net_sales"],
            "cogs": total["cogs"],
        }
        rows.append(
            CampaignRow(
                ad_channel=row["ad_channel"],
                campaign=row["campaign"],
                spend=Decimal(row["spend"] or 0).quantize(Decimal("0.01")),
                impressions=int(row["impressions"] or 0),
                clicks=int(row["clicks"] or 0),
                attributed_orders=int(row["attributed_orders"] or 0),
                attributed_revenue=Decimal(row["attributed_revenue"] or 0).quantize(Decimal("0.01")),
                click_rate=ratio(row["clicks"], row["impressions"]),
                cost_per_click=ratio(row["spend"], row["clicks"], "money"),
                roi=METRICS["roi"].compute(campaign_measures, conventions),  # type: ignore[arg-type]
            )
        )
    rows.sort(key=lambda row: (-row.spend, row.ad_channel, row.campaign))
    return Campaigns(
        period=Period(start, end),
        roi_basis=conventions.roi_basis,
        rows=rows,
        spend=total["spend"],
        attributed_revenue=total["attributed_revenue"],
        new_buyers=total["new_buyers"],
        cac=metrics["cac"],  # type: ignore[arg-type]
        roi=metrics["roi"],  # type: ignore[arg-type]
        gross_margin=margin,  # type: ignore[arg-type]
    )


def metric_catalog() -> list[catalog.Metric]:
    return list(catalog.METRICS_LIST)
