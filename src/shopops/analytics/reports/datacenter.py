"""数据中心 report builders: every page's numbers from `metrics.compute`, as tables the admin pages, the
API, the XLSX export and the report emails all read.

Nothing here computes a metric: values, comparisons and the change explanation come from
`metrics.compute`; this module picks the columns of each page, labels them from `metrics.catalog`
and lays the results out. A table is `{"key", "title", "columns": [{"code", "label", "unit"}],
"rows": [{code: value}]}` with raw values (Decimal, int, text); `page_table` formats one for a page,
`shown_table` for an email. Results are cached per rollup version (`cached`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from shopops.analytics.metrics import catalog, compute
from shopops.analytics.reports.formatting import change_tone, format_change, format_value, plain
from shopops.analytics.reports.params import ReportParams

PAGES: dict[str, str] = {
    "overview": "概览",
    "trends": "趋势",
    "sources": "流量来源",
    "products": "商品",
    "customers": "客户",
    "campaigns": "推广",
}
COMPARISONS: dict[str, str] = {"previous": "较上一周期", "last_week": "较上周同期", "last_year": "较去年同期"}
TREND_COLUMNS: tuple[str, ...] = (
    "visitors",
    "pv",
    "paying_buyers",
    "paid_orders",
    "paid_amount",
    "payment_conversion",
    "aov",
    "order_amount",
    "net_sales",
    "gross_margin",
)
FACTOR_UNITS = {
    "visitors": "count",
    "payment_conversion": "ratio",
    "aov": "money",
    "paid_orders": "count",
    "amount_per_order": "money",
}
TEXT = "text"
BEST_COUNT = 10
# a page shows at most this many rows of a long table (全部商品); "查看全部" and the export have every row
PAGE_ROWS = 50
# cost-derived columns and cards: only for users who may see costs (catalog.queries.can_view_cost)
COST_CODES = frozenset({"gross_margin", "gross_profit", "cogs"})
# what a chart's unit is called on its axis
AXIS_TITLES = {"money": "金额（¥）", "count": "人数/单数", "ratio": "比率（%）"}
CACHE_SECONDS = 3600
CHART_COLOURS = ("var(--color-primary-600)", "#0ea5e9", "#f59e0b", "#10b981")


def column(code: str, label: str | None = None, unit: str | None = None) -> dict[str, str]:
    """A metric column labelled from the catalog (or a plain one: label and unit given)."""
    metric = catalog.METRICS.get(code)
    return {
        "code": code,
        "label": label or (metric.zh if metric else code),
        "label_en": "" if label or metric is None else metric.en,
        "unit": unit or (metric.unit if metric else TEXT),
    }


T = TypeVar("T")


def cached(name: str, report: ReportParams, build: Callable[[], T]) -> T:
    """`build()` remembered per rollup version: a refresh of the warehouse bumps the version, so a
    cached table is never older than the data the pages read. Nothing is cached before the rollups
    exist (tests and a fresh install read the raw facts)."""
    from django.core.cache import cache

    from shopops.analytics.metrics.conventions import from_settings
    from shopops.analytics.warehouse import store, tables

    version = store.read_version()
    if version <= 0:
        return build()
    # the version file's write time tells a rebuilt warehouse from an old one with the same number; the
    # result classes' fields keep an object pickled by older code from being read by newer code
    written = store.version_file().stat().st_mtime_ns
    key = "datacenter:" + _digest(
        f"{tables.analytics_dir()}|{version}|{written}|{_result_shapes()}|{from_settings()!r}|{name}|{report!r}"
    )
    found = cache.get(key)
    if found is None:
        found = build()
        cache.set(key, found, CACHE_SECONDS)
    return found


@functools.cache
def _result_shapes() -> str:
    from shopops.analytics.metrics import results

    shapes = [
        f"{name}:{','.join(field.name for field in dataclasses.fields(item))}"
        for name, item in sorted(vars(results).items())
        if isinstance(item, type) and dataclasses.is_dataclass(item)
    ]
    return _digest(";".join(shapes))


def _digest(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


def table(key: str, title: str, columns: list[dict[str, str]], rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"key": key, "title": title, "columns": columns, "rows": rows}


def _filters(report: ReportParams) -> dict[str, Any]:
    return report.as_query()


# Overview.


def overview(report: ReportParams) -> compute.Overview:
    return cached("overview", report, lambda: compute.overview(report.start, report.end, **_filters(report)))


def _kpi_view(kpi: compute.Kpi) -> dict[str, Any]:
    metric = catalog.METRICS[kpi.code]
    return {
        "code": kpi.code,
        "label": kpi.label,
        "unit": kpi.unit,
        "formula": metric.formula,
        "value": kpi.value,
        "value_text": format_value(kpi.value, kpi.unit),
        "higher_is_better": kpi.higher_is_better,
        "changes": [
            {
                "key": key,
                "label": label,
                "base": kpi.changes[key].value,
                "base_text": format_value(kpi.changes[key].value, kpi.unit),
                "relative": kpi.changes[key].relative,
                "text": format_change(kpi.changes[key].relative),
                "tone": change_tone(kpi.changes[key].relative, kpi.higher_is_better),
            }
            for key, label in COMPARISONS.items()
            if key in kpi.changes
        ],
    }


def _factor_rows(group: str, parts: Sequence[Any]) -> list[dict[str, Any]]:
    return [
        {
            "group": group,
            "factor": part.factor,
            "label": part.label,
            "previous": part.previous,
            "current": part.current,
            "change_ratio": part.change_ratio,
            "contribution": part.contribution,
        }
        for part in parts
    ]


def explanation_rows(decomposition: Any) -> list[dict[str, Any]]:
    """Both decompositions of the 支付金额 change, one row per factor (the contributions of a group add
    up exactly to the change)."""
    return _factor_rows("访客数 × 转化率 × 客单价", decomposition.factors) + _factor_rows(
        "订单数 × 笔单价", decomposition.order_factors
    )


EXPLANATION_COLUMNS = [
    column("group", "分解", TEXT),
    column("label", "因素", TEXT),
    column("previous", "上一周期", TEXT),
    column("current", "本期", TEXT),
    column("change_ratio", "因素变化", "ratio"),
    column("contribution", "对支付金额的贡献", "money"),
]


def _explanation_view(decomposition: Any) -> dict[str, Any] | None:
    if decomposition is None:
        return None
    rows = explanation_rows(decomposition)
    return {
        "summary": decomposition.sentence,
        "change": decomposition.change,
        "contributions": [
            {
                "factor": row["factor"],
                "label": f"{row['label']}（{row['group']}）",
                "amount": row["contribution"],
                "amount_text": format_value(row["contribution"], "money"),
            }
            for row in rows
        ],
        "table": {
            "headers": [item["label"] for item in EXPLANATION_COLUMNS],
            "rows": [
                [
                    row["group"],
                    row["label"],
                    format_value(row["previous"], FACTOR_UNITS.get(row["factor"], "money")),
                    format_value(row["current"], FACTOR_UNITS.get(row["factor"], "money")),
                    format_change(row["change_ratio"]),
                    format_value(row["contribution"], "money"),
                ]
                for row in rows
            ],
        },
    }


def overview_view(report: ReportParams) -> dict[str, Any]:
    """The KPI cards (value, each comparison's base and change) and the change explained."""
    result = overview(report)
    return {
        "result": result,
        "kpis": [_kpi_view(kpi) for kpi in result.kpis],
        "explanation": _explanation_view(result.explanation),
        # which shops' visitors (and conversion) the cards count, and from which source
        "traffic_shops": list(getattr(result, "traffic_shops", None) or []),
    }


def overview_data(report: ReportParams) -> dict[str, Any]:
    """The overview for the API: plain values (money and ratios as decimal strings)."""
    result = overview(report)
    kpis = []
    for kpi in result.kpis:
        item: dict[str, Any] = {
            "code": kpi.code,
            "label": kpi.label,
            "unit": kpi.unit,
            "value": plain(kpi.value),
        }
        for key in COMPARISONS:
            found = kpi.changes.get(key)
            item[key] = plain(found.value) if found else None
            item[f"{key}_change"] = plain(found.relative) if found else None
        kpis.append(item)
    decomposition = result.explanation
    explanation = None
    if decomposition is not None:
        explanation = {
            "change": plain(decomposition.change),
            "summary": decomposition.sentence,
            "contributions": [
                {"factor": row["factor"], "label": row["label"], "amount": plain(row["contribution"])}
                for row in explanation_rows(decomposition)
            ],
        }
    return {"period": _period(report), "kpis": kpis, "explanation": explanation}


def _period(report: ReportParams) -> dict[str, dt.date]:
    return {"start": report.start, "end": report.end}


def overview_tables(report: ReportParams) -> list[dict[str, Any]]:
    result = overview(report)
    columns = [column("label", "指标", TEXT), column("value", "本期", TEXT)]
    for key, label in COMPARISONS.items():
        columns += [column(key, label.removeprefix("较"), TEXT), column(f"{key}_change", label, "ratio")]
    rows = []
    for kpi in result.kpis:
        row: dict[str, Any] = {"code": kpi.code, "label": kpi.label, "value": kpi.value}
        for key in COMPARISONS:
            found = kpi.changes.get(key)
            row[key] = found.value if found else None
            row[f"{key}_change"] = found.relative if found else None
        rows.append(row)
    # the KPI columns mix units: give each cell its KPI's unit through a per-row unit column
    units = [kpi.unit for kpi in result.kpis]
    for row, unit in zip(rows, units, strict=True):
        row["unit"] = unit
    tables = [table("kpis", "核心指标", columns, rows)]
    if result.explanation is not None:
        tables.append(
            table("explanation", "变化解读", EXPLANATION_COLUMNS, explanation_rows(result.explanation))
        )
    return tables


# Trends.


def bucket_label(key: dt.date, grain: str) -> str:
    if grain == "week":
        return f"{key:%Y-%m-%d} 周"
    if grain == "month":
        return f"{key:%Y-%m}"
    return f"{key:%Y-%m-%d}"


def trend_table(report: ReportParams, grain: str | None = None) -> dict[str, Any]:
    chosen = grain or report.grain
    result = cached(
        f"trend:{chosen}", report, lambda: compute.trend(report.start, report.end, chosen, **_filters(report))
    )
    rows = [
        {
            "bucket": bucket_label(point.key, chosen),
            **{code: point.metrics.get(code) for code in TREND_COLUMNS},
        }
        for point in result.points
    ]
    columns = [column("bucket", {"day": "日期", "week": "周", "month": "月份"}[chosen], TEXT)]
    columns += [column(code) for code in TREND_COLUMNS]
    return table("trend", "趋势", columns, rows)


def line_chart(source: dict[str, Any], codes: Sequence[str]) -> dict[str, Any]:
    """Chart.js line data of some columns of a table over its first column: money on the left axis,
    counts and ratios on the right one; each dataset carries its unit for the axis and the tooltip."""
    first = source["columns"][0]["code"]
    by_code = {item["code"]: item for item in source["columns"]}
    units = list(dict.fromkeys(by_code[code]["unit"] for code in codes))
    axes = {unit: ("y" if number == 0 else "y1") for number, unit in enumerate(units)}
    return {
        "labels": [row[first] for row in source["rows"]],
        "datasets": [
            {
                "label": by_code[code]["label"],
                "label_en": by_code[code].get("label_en", ""),
                "unit": by_code[code]["unit"],
                "data": [_chart_number(row.get(code)) for row in source["rows"]],
                "borderColor": CHART_COLOURS[number % len(CHART_COLOURS)],
                "backgroundColor": CHART_COLOURS[number % len(CHART_COLOURS)],
                "yAxisID": axes[by_code[code]["unit"]],
            }
            for number, code in enumerate(codes)
        ],
        "axes": [
            {"id": axis, "unit": unit, "title": AXIS_TITLES.get(unit, "")} for unit, axis in axes.items()
        ],
    }


def _chart_number(value: Any) -> float | None:
    # chart points are drawn, not computed with: floats are fine here (and only here)
    return None if value is None else float(value)


# Sources and products.


def _breakdown_table(
    key: str, title: str, result: compute.Breakdown, rows: Sequence[Any], label: str
) -> dict[str, Any]:
    columns = [column("label", label, TEXT), *(column(code) for code in result.columns)]
    return table(
        key,
        title,
        columns,
        [{"label": row.label, **{code: row.metrics.get(code) for code in result.columns}} for row in rows],
    )


def source_tables(report: ReportParams) -> list[dict[str, Any]]:
    result = cached(
        "sources", report, lambda: compute.by_source(report.start, report.end, **_filters(report))
    )
    return [_breakdown_table("sources", "流量来源", result, [*result.rows, result.total], "来源")]


def product_tables(report: ReportParams) -> list[dict[str, Any]]:
    result = cached(
        "products",
        report,
        lambda: compute.by_product(report.start, report.end, best_count=BEST_COUNT, **_filters(report)),
    )
    tables = [
        _breakdown_table("best", "畅销商品（按支付金额）", result, result.best, "商家编码"),
        _breakdown_table("worst", "滞销商品（有浏览或销量的商品中）", result, result.worst, "商家编码"),
        _breakdown_table("products", "全部商品", result, [*result.rows, result.total], "商家编码"),
    ]
    names = product_names([row.label for row in result.rows])
    for item in tables:
        item["columns"].insert(1, column("name", "商品名称", TEXT))
        for row in item["rows"]:
            row["name"] = names.get(row["label"], "") if row["label"] != "合计" else ""
    return tables


def product_names(codes: Sequence[str]) -> dict[str, str]:
    """商品名称 of the products' 商家编码 in the facts (a SKU's 商家编码 names its product too); one query
    each, whatever the number of products. An unmatched code (no product in the catalog) has none."""
    from shopops.catalog.models import Product, Sku

    wanted = {code for code in codes if code}
    names = dict(Product.objects.filter(merchant_code__in=wanted).values_list("merchant_code", "name"))
    missing = wanted - names.keys()
    if missing:
        names.update(
            Sku.objects.filter(merchant_code__in=missing).values_list("merchant_code", "product__name")
        )
    return names


# Customers.


def customer_tables(report: ReportParams) -> list[dict[str, Any]]:
    result = cached(
        "customers", report, lambda: compute.customers(report.start, report.end, **_filters(report))
    )
    summary_codes = (
        "paying_buyers",
        "new_buyers",
        "returning_buyers",
        "repeat_buyers",
        "repurchase_rate",
        "returning_buyer_share",
    )
    summary = table(
        "summary",
        "新老买家与复购",
        [column(code) for code in summary_codes],
        [{code: getattr(result, code) for code in summary_codes}],
    )
    width = max((len(row.retention) for row in result.cohorts), default=0)
    cohort_columns = [column("cohort", "首购月份", TEXT), column("size", "首购买家数", "count")]
    cohort_columns += [column(f"m{offset}", f"第{offset}月", "ratio") for offset in range(width)]
    cohort_rows = [
        {
            "cohort": f"{row.cohort:%Y-%m}",
            "size": row.size,
            **{f"m{offset}": value for offset, value in enumerate(row.retention)},
        }
        for row in result.cohorts
    ]
    rfm_columns = [
        column("label", "RFM 分层", TEXT),
        column("rule", "规则", TEXT),
        column("buyers", "买家数", "count"),
        column("share", "占比", "ratio"),
        column("paid_amount", "支付金额", "money"),
    ]
    rfm_rows = [
        {
            "label": segment.label,
            "rule": rfm_rule(segment),
            "buyers": segment.buyers,
            "share": segment.share,
            "paid_amount": segment.paid_amount,
        }
        for segment in result.rfm
    ]
    return [
        summary,
        table("cohorts", "同期群留存（按首购月份）", cohort_columns, cohort_rows),
        table("rfm", "RFM 分层", rfm_columns, rfm_rows),
    ]


def rfm_rule(segment: Any) -> str:
    """What puts a buyer in an RFM segment, in words (thresholds in docs/metrics.md)."""
    return "、".join(
        (
            "近期购买" if segment.recent else "近期未购",
            "多次购买" if segment.frequent else "单次购买",
            "高金额" if segment.high_value else "低金额",
        )
    )


# Campaigns.

CAMPAIGN_COLUMNS = [
    column("ad_channel", "推广渠道", TEXT),
    column("campaign", "推广计划", TEXT),
    column("spend", "花费", "money"),
    column("impressions", "展现量", "count"),
    column("clicks", "点击量", "count"),
    column("click_rate", "点击率", "ratio"),
    column("cost_per_click", "平均点击花费", "money"),
    column("attributed_orders", "成交订单数", "count"),
    column("attributed_revenue", "成交金额", "money"),
    column("roi", "ROI", "ratio"),
]


def campaign_tables(report: ReportParams) -> list[dict[str, Any]]:
    result = cached(
        "campaigns", report, lambda: compute.campaigns(report.start, report.end, **_filters(report))
    )
    summary_codes = ("spend", "attributed_revenue", "new_buyers", "cac", "roi", "gross_margin")
    summary = table(
        "summary",
        f"推广汇总（ROI 口径：{'成交金额' if result.roi_basis == 'revenue' else '毛利'}）",
        [column(code) for code in summary_codes],
        [{code: getattr(result, code) for code in summary_codes}],
    )
    rows = [{item["code"]: getattr(row, item["code"]) for item in CAMPAIGN_COLUMNS} for row in result.rows]
    return [summary, table("campaigns", "推广计划", CAMPAIGN_COLUMNS, rows)]


# Pages.

BUILDERS = {
    "sources": source_tables,
    "products": product_tables,
    "customers": customer_tables,
    "campaigns": campaign_tables,
}


def without_cost(source: dict[str, Any]) -> dict[str, Any]:
    """A table without its cost-derived columns (and, in the KPI table, rows)."""
    columns = [item for item in source["columns"] if item["code"] not in COST_CODES]
    rows = [row for row in source["rows"] if row.get("code") not in COST_CODES]
    return {**source, "columns": columns, "rows": rows}


def export_tables(page: str, report: ReportParams, *, show_cost: bool = True) -> list[dict[str, Any]]:
    """Every table of a page, raw (what the XLSX export writes); without costs unless `show_cost`."""
    if page == "overview":
        tables = [*overview_tables(report), trend_table(report, "day")]
    elif page == "trends":
        tables = [trend_table(report)]
    else:
        tables = BUILDERS[page](report)
    return tables if show_cost else [without_cost(item) for item in tables]


def cell_unit(item: dict[str, str], row: dict[str, Any]) -> str:
    """A cell's unit: its column's, or, in the overview's KPI table, its row's KPI unit."""
    if item["unit"] == TEXT and "unit" in row and item["code"] != "label":
        return str(row["unit"])
    return item["unit"]


def shown_cell(item: dict[str, str], row: dict[str, Any]) -> Any:
    value = row.get(item["code"])
    if item["code"].endswith("_change"):
        return format_change(value)
    unit = cell_unit(item, row)
    return value if unit == TEXT else format_value(value, unit)


def shown_table(source: dict[str, Any]) -> dict[str, Any]:
    """A table formatted for an email (unfold's table component: headers and rows)."""
    return {
        "key": source["key"],
        "title": source["title"],
        "headers": [item["label"] for item in source["columns"]],
        "rows": [[shown_cell(item, row) for item in source["columns"]] for row in source["rows"]],
    }


@functools.cache
def _segment_names() -> dict[str, str]:
    from shopops.analytics.metrics.cohorts import RFM_SEGMENTS

    return {label: name for name, label in RFM_SEGMENTS.values()}


def _drill(key: str, item: dict[str, str], row: dict[str, Any]) -> dict[str, str] | None:
    """Which buyer list a cell opens: an RFM segment's buyers, or a cohort month's buyers active in a
    later month."""
    if key == "rfm" and item["code"] in ("label", "buyers") and row.get("buyers"):
        return {"segment": _segment_names()[str(row["label"])]}
    if (
        key == "cohorts"
        and (item["code"] == "size" or item["code"].startswith("m"))
        and row.get(item["code"])
    ):
        offset = 0 if item["code"] == "size" else int(item["code"][1:])
        return {"cohort": str(row["cohort"]), "offset": str(offset)}
    return None


def page_table(source: dict[str, Any], *, limit: int | None = None) -> dict[str, Any]:
    """A table formatted for a page: headers with their alignment, cells with their text, numbers
    right-aligned, drill-down targets; at most `limit` rows (the total row, last, always shown)."""
    rows = source["rows"]
    total_rows = len(rows)
    if limit is not None and total_rows > limit + 1:
        rows = [*rows[:limit], rows[-1]] if rows[-1].get("label") == "合计" else rows[:limit]
    columns = source["columns"]
    return {
        "key": source["key"],
        "title": source["title"],
        "headers": [
            {"label": item["label"], "label_en": item.get("label_en", ""), "numeric": item["unit"] != TEXT}
            for item in columns
        ],
        "rows": [
            [
                {
                    "text": shown_cell(item, row),
                    "numeric": cell_unit(item, row) != TEXT or item["code"].endswith("_change"),
                    "drill": _drill(source["key"], item, row),
                    "total": row.get("label") == "合计",
                }
                for item in columns
            ]
            for row in rows
        ],
        "total_rows": total_rows,
        "clipped": len(rows) < total_rows,
    }


def page_view_data(
    page: str, report: ReportParams, *, show_cost: bool = True, all_rows: bool = False
) -> dict[str, Any]:
    """What a 数据中心 page shows: KPI cards and explanation (概览), charts and tables; cost-derived
    numbers only when `show_cost`; long tables cut at PAGE_ROWS unless `all_rows`."""
    limit = None if all_rows else PAGE_ROWS
    if page == "overview":
        view = overview_view(report)
        daily = trend_table(report, "day")
        return {
            "kpis": [kpi for kpi in view["kpis"] if show_cost or kpi["code"] not in COST_CODES],
            "explanation": view["explanation"],
            "traffic_shops": view["traffic_shops"],
            "charts": [
                {"title": "支付金额与下单金额", "data": line_chart(daily, ("paid_amount", "order_amount"))},
                {"title": "访客数与支付买家数", "data": line_chart(daily, ("visitors", "paying_buyers"))},
            ],
            "tables": [],
        }
    if page == "trends":
        trend = trend_table(report)
        shown = trend if show_cost else without_cost(trend)
        return {
            "charts": [
                {"title": "支付金额", "data": line_chart(trend, ("paid_amount", "net_sales"))},
                {"title": "访客数与支付买家数", "data": line_chart(trend, ("visitors", "paying_buyers"))},
                {"title": "支付转化率", "data": line_chart(trend, ("payment_conversion",))},
            ],
            "tables": [page_table(shown)],
        }
    tables = BUILDERS[page](report)
    if not show_cost:
        tables = [without_cost(item) for item in tables]
    return {"charts": [], "tables": [page_table(item, limit=limit) for item in tables]}


def page_data(page: str, report: ReportParams) -> dict[str, Any]:
    """A page's tables for the API: plain values (money and ratios as decimal strings)."""
    tables = [trend_table(report)] if page == "trends" else BUILDERS[page](report)
    return {
        "period": _period(report),
        "tables": [
            {
                **source,
                "rows": [{key: plain(value) for key, value in row.items()} for row in source["rows"]],
            }
            for source in tables
        ],
    }


def top_table(page: str, report: ReportParams, limit: int) -> dict[str, Any]:
    """The first rows of the main table of sources or products (best sellers), for the emails."""
    source = source_tables(report)[0] if page == "sources" else product_tables(report)[0]
    rows = [row for row in source["rows"] if row.get("label") != "合计"][:limit]
    return shown_table({**source, "title": f"{PAGES[page]} Top {limit}", "rows": rows})


def metric_catalog() -> list[dict[str, Any]]:
    """The metric registry for the API."""
    return [
        {
            "code": metric.code,
            "label": metric.zh,
            "label_en": metric.en,
            "group": metric.group,
            "unit": metric.unit,
            "formula": metric.formula,
            "measures": list(metric.measures),
            "counts": metric.counts,
            "notes": metric.convention,
            "higher_is_better": metric.higher_is_better,
        }
        for metric in catalog.METRICS_LIST
    ]


# 工作台.

YESTERDAY_KPIS: tuple[str, ...] = ("paid_amount", "visitors", "payment_conversion", "paid_orders")


def rollups_ready() -> bool:
    from shopops.analytics.warehouse import store

    return store.read_version() > 0


def yesterday_kpis(user: Any) -> list[tuple[str, str]]:
    """昨日数据 for the 工作台: (label, value) of a few KPIs of yesterday in the user's scope.

    Only from the rollups (one fast read): before they are built the card just links to 数据中心."""
    from shopops.analytics.reports import params

    if not rollups_ready():
        return []
    day = params.today() - dt.timedelta(days=1)
    report = params.ReportParams(start=day, end=day, shop_ids=params.scoped_shop_ids(user, None))
    result = overview(report)
    return [
        (f"昨日{result.kpi(code).label}", format_value(result.kpi(code).value, result.kpi(code).unit))
        for code in YESTERDAY_KPIS
    ]
