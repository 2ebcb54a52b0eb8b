"""数据中心 report builders: every page's numbers from `metrics.compute`, as tables the admin pages, the
API, the XLSX export and the report emails all read.

Nothing here computes a metric: values, comparisons and the change explanation come from
`metrics.compute`; this module picks the columns of each page, labels them from `metrics.catalog`
and lays the results out. A table is `{"key", "title", "columns": [{"code", "label", "unit"}],
"rows": [{code: value}]}` with raw values (Decimal, int, text); `shown_table` formats one for a page.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

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
CHART_COLOURS = ("var(--color-primary-600)", "#0ea5e9", "#f59e0b", "#10b981")


def column(code: str, label: str | None = None, unit: str | None = None) -> dict[str, str]:
    """A metric column labelled from the catalog (or a plain one: label and unit given)."""
    metric = catalog.METRICS.get(code)
    return {
        "code": code,
        "label": label or (metric.zh if metric else code),
        "unit": unit or (metric.unit if metric else TEXT),
    }


def table(key: str, title: str, columns: list[dict[str, str]], rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"key": key, "title": title, "columns": columns, "rows": rows}


def _filters(report: ReportParams) -> dict[str, Any]:
    return report.as_query()


# Overview.


def overview(report: ReportParams) -> compute.Overview:
    return compute.overview(report.start, report.end, **_filters(report))


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
        row: dict[str, Any] = {"label": kpi.label, "value": kpi.value}
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
    result = compute.trend(report.start, report.end, chosen, **_filters(report))
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
    """Chart.js line data (unfold's chart component) of some columns of a table, over its first column."""
    first = source["columns"][0]["code"]
    labels = {item["code"]: item["label"] for item in source["columns"]}
    return {
        "labels": [row[first] for row in source["rows"]],
        "datasets": [
            {
                "label": labels[code],
                "data": [_chart_number(row.get(code)) for row in source["rows"]],
                "borderColor": CHART_COLOURS[number % len(CHART_COLOURS)],
                "backgroundColor": CHART_COLOURS[number % len(CHART_COLOURS)],
                "yAxisID": "y",
            }
            for number, code in enumerate(codes)
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
    result = compute.by_source(report.start, report.end, **_filters(report))
    return [_breakdown_table("sources", "流量来源", result, [*result.rows, result.total], "来源")]


def product_tables(report: ReportParams) -> list[dict[str, Any]]:
    result = compute.by_product(report.start, report.end, best_count=BEST_COUNT, **_filters(report))
    return [
        _breakdown_table("best", "畅销商品（按支付金额）", result, result.best, "商品"),
        _breakdown_table("worst", "滞销商品（有浏览或销量的商品中）", result, result.worst, "商品"),
        _breakdown_table("products", "全部商品", result, [*result.rows, result.total], "商品"),
    ]


# Customers.


def customer_tables(report: ReportParams) -> list[dict[str, Any]]:
    result = compute.customers(report.start, report.end, **_filters(report))
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
        column("buyers", "买家数", "count"),
        column("share", "占比", "ratio"),
        column("paid_amount", "支付金额", "money"),
    ]
    rfm_rows = [
        {
            "label": segment.label,
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
    result = compute.campaigns(report.start, report.end, **_filters(report))
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


def export_tables(page: str, report: ReportParams) -> list[dict[str, Any]]:
    """Every table of a page, raw (what the XLSX export writes)."""
    if page == "overview":
        return [*overview_tables(report), trend_table(report, "day")]
    if page == "trends":
        return [trend_table(report)]
    return BUILDERS[page](report)


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
    """A table formatted for a page or an email (unfold's table component: headers and rows)."""
    return {
        "key": source["key"],
        "title": source["title"],
        "headers": [item["label"] for item in source["columns"]],
        "rows": [[shown_cell(item, row) for item in source["columns"]] for row in source["rows"]],
    }


def page_view_data(page: str, report: ReportParams) -> dict[str, Any]:
    """What a 数据中心 page shows: KPI cards and explanation (概览), charts and tables."""
    if page == "overview":
        view = overview_view(report)
        daily = trend_table(report, "day")
        return {
            "kpis": view["kpis"],
            "explanation": view["explanation"],
            "charts": [
                {"title": "支付金额与下单金额", "data": line_chart(daily, ("paid_amount", "order_amount"))},
                {"title": "访客数与支付买家数", "data": line_chart(daily, ("visitors", "paying_buyers"))},
            ],
            "tables": [],
        }
    if page == "trends":
        trend = trend_table(report)
        return {
            "charts": [
                {"title": "支付金额", "data": line_chart(trend, ("paid_amount", "net_sales"))},
                {"title": "访客数与支付买家数", "data": line_chart(trend, ("visitors", "paying_buyers"))},
                {"title": "支付转化率", "data": line_chart(trend, ("payment_conversion",))},
            ],
            "tables": [shown_table(trend)],
        }
    tables = BUILDERS[page](report)
    return {"charts": [], "tables": [shown_table(item) for item in tables]}


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
