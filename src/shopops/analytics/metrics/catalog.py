"""The metric registry: one definition per metric (label, unit, formula, base measures, what counts)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from shopops.analytics.metrics.conventions import Conventions

Value = Decimal | int | None
Measures = Mapping[str, Any]

UNITS: dict[str, str] = {
    "count": "a whole number",
    "money": "CNY, 2 places",
    "ratio": "a fraction, 4 places (0.1234 = 12.34%)",
    "seconds": "seconds, 1 place",
    "per_visitor": "per visitor, 2 places",
    "per_session": "per visit, 2 places",
}
GROUPS: dict[str, str] = {
    "traffic": "流量 Traffic",
    "orders": "订单 Orders",
    "customers": "顾客 Customers",
    "marketing": "推广 Marketing",
    "products": "商品 Products",
    "platform": "平台报表 Platform reports",
}
PLACES: dict[str, Decimal] = {
    "money": Decimal("0.01"),
    "ratio": Decimal("0.0001"),
    "seconds": Decimal("0.1"),
    "per_visitor": Decimal("0.01"),
    "per_session": Decimal("0.01"),
}


@dataclass(frozen=True)
class Metric:
    """One KPI: how operators name it, its unit, its formula over base measures, and what counts."""

    code: str
    zh: str
    en: str
    group: str
    unit: str
    formula: str
    measures: tuple[str, ...]
    counts: str
    compute: Callable[[Measures, Conventions], Value]
    convention: str = ""
    higher_is_better: bool = True


def _number(measures: Measures, name: str) -> Decimal | None:
    value = measures.get(name)
    return None if value is None else Decimal(value)


def quantise(value: Decimal, unit: str) -> Decimal:
    return value.quantize(PLACES[unit], rounding=ROUND_HALF_UP)


def ratio(
    numerator: Decimal | int | None, denominator: Decimal | int | None, unit: str = "ratio"
) -> Decimal | None:
    """numerator ÷ denominator rounded half-up for `unit`; None when either is missing or the denominator is 0."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return quantise(Decimal(numerator) / Decimal(denominator), unit)


def _measure(name: str) -> Callable[[Measures, Conventions], Value]:
    def compute(measures: Measures, conventions: Conventions) -> Value:
        return measures.get(name)

    return compute


def _divide(
    numerator: str, denominator: str, unit: str = "ratio"
) -> Callable[[Measures, Conventions], Value]:
    def compute(measures: Measures, conventions: Conventions) -> Value:
        return ratio(measures.get(numerator), measures.get(denominator), unit)

    return compute


def _difference(left: str, right: str) -> Callable[[Measures, Conventions], Value]:
    def compute(measures: Measures, conventions: Conventions) -> Value:
        a, b = measures.get(left), measures.get(right)
        return None if a is None or b is None else a - b

    return compute


def _gross_margin(measures: Measures, conventions: Conventions) -> Value:
    net, cogs = _number(measures, "net_sales"), _number(measures, "cogs")
    return None if net is None or cogs is None else ratio(net - cogs, net)


def _matched(measures: Measures, name: str, prefix: str = "conversion_") -> Any:
    """The measure over the shops that have traffic data (`conversion_<name>`; with sessions: the shops with
    events, `conversion_session_<name>`; set by metrics.compute), so a rate divides buyers and visitors of
    the same shops; the plain measure when no such split was made."""
    matched = measures.get(f"{prefix}{name}")
    return measures.get(name) if matched is None else matched


def _conversion(buyers: str, orders: str) -> Callable[[Measures, Conventions], Value]:
    def compute(measures: Measures, conventions: Conventions) -> Value:
        if conventions.conversion_basis == "session":
            return ratio(_matched(measures, orders, "conversion_session_"), measures.get("sessions"))
        return ratio(_matched(measures, buyers), measures.get("visitors"))

    return compute


def _uv_value(measures: Measures, conventions: Conventions) -> Value:
    return ratio(_matched(measures, "paid_amount"), measures.get("visitors"), "money")


def _aov(measures: Measures, conventions: Conventions) -> Value:
    denominator = "paying_buyers" if conventions.aov_basis == "buyer" else "paid_orders"
    return ratio(measures.get("paid_amount"), measures.get(denominator), "money")


def _roi(measures: Measures, conventions: Conventions) -> Value:
    revenue, spend = _number(measures, "attributed_revenue"), _number(measures, "spend")
    if revenue is None:
        return None
    if conventions.roi_basis == "gross_profit":
        net, cogs = _number(measures, "net_sales"), _number(measures, "cogs")
        if net is None or cogs is None or net == 0:
            return None
        revenue = revenue * (net - cogs) / net
    return ratio(revenue, spend)


CONVERSION_NOTE = (
    "conversion_basis: visitor (生意参谋, default) = buyers ÷ visitors; session (Shopify) = orders ÷ sessions"
)

METRICS_LIST: tuple[Metric, ...] = (
    # traffic
    Metric(
        "visitors",
        "访客数",
        "Visitors (UV)",
        "traffic",
        "count",
        "distinct visitor ids (events) + platform-reported visitors",
        ("visitors",),
        "per shop from the source it has: its events or access logs (exact distinct over the range) when "
        "it has any, else its platform traffic reports (daily visitors summed); never both for one shop",
        _measure("visitors"),
    ),
    Metric(
        "pv",
        "浏览量",
        "Page views (PV)",
        "traffic",
        "count",
        "page_view + product_view events + platform-reported page views",
        ("pv",),
        "every view, repeats counted; per shop from its events or access logs, else its platform reports",
        _measure("pv"),
    ),
    Metric(
        "ips",
        "IP数",
        "Distinct IPs",
        "traffic",
        "count",
        "distinct ip_key",
        ("ips",),
        "hashed or truncated IP per site setting; exact distinct over the range",
        _measure("ips"),
    ),
    Metric(
        "sessions",
        "访问次数",
        "Sessions (visits)",
        "traffic",
        "count",
        "visits (30-minute idle rule)",
        ("sessions",),
        "a visit belongs to the day and source of its first event",
        _measure("sessions"),
    ),
    Metric(
        "pv_per_visitor",
        "人均浏览量",
        "Page views per visitor",
        "traffic",
        "per_visitor",
        "pv ÷ visitors",
        ("pv", "visitors"),
        "",
        _divide("pv", "visitors", "per_visitor"),
    ),
    Metric(
        "avg_visit_duration",
        "平均停留时长",
        "Average visit duration",
        "traffic",
        "seconds",
        "duration_seconds ÷ multi_page_sessions",
        ("duration_seconds", "multi_page_sessions"),
        "visits with ≥ 2 views; single-view visits have no measurable duration and are excluded",
        _divide("duration_seconds", "multi_page_sessions", "seconds"),
    ),
    Metric(
        "bounce_rate",
        "跳失率",
        "Bounce rate",
        "traffic",
        "ratio",
        "bounce_sessions ÷ sessions",
        ("bounce_sessions", "sessions"),
        "visits with exactly one view",
        _divide("bounce_sessions", "sessions"),
        higher_is_better=False,
    ),
    Metric(
        "visit_depth",
        "访问深度",
        "Visit depth (pages per visit)",
        "traffic",
        "per_session",
        "pv ÷ sessions",
        ("pv", "sessions"),
        "",
        _divide("pv", "sessions", "per_session"),
    ),
    Metric(
        "new_visitors",
        "新访客数",
        "New visitors",
        "traffic",
        "count",
        "visitors first seen in the range",
        ("new_visitors",),
        "the visitor's first event in the selected shops/channels falls in the period",
        _measure("new_visitors"),
    ),
    Metric(
        "returning_visitors",
        "老访客数",
        "Returning visitors",
        "traffic",
        "count",
        "visitors − new_visitors",
        ("visitors", "new_visitors"),
        "",
        _difference("visitors", "new_visitors"),
    ),
    Metric(
        "new_visitor_share",
        "新访客占比",
        "New visitor share",
        "traffic",
        "ratio",
        "new_visitors ÷ visitors",
        ("new_visitors", "visitors"),
        "",
        _divide("new_visitors", "visitors"),
    ),
    # orders
    Metric(
        "orders",
        "下单订单数",
        "Orders placed",
        "orders",
        "count",
        "orders by created day",
        ("orders",),
        "every placed order, valid or not",
        _measure("orders"),
    ),
    Metric(
        "valid_orders",
        "有效订单数",
        "Valid orders",
        "orders",
        "count",
        "placed orders that are valid",
        ("valid_orders",),
        "valid = paid, not cancelled, not test/fake (docs/orders.md)",
        _measure("valid_orders"),
    ),
    Metric(
        "validity_rate",
        "订单有效率",
        "Order validity rate",
        "orders",
        "ratio",
        "valid_orders ÷ orders",
        ("valid_orders", "orders"),
        "orders placed in the range",
        _divide("valid_orders", "orders"),
    ),
    Metric(
        "order_amount",
        "下单金额",
        "GMV (ordered amount)",
        "orders",
        "money",
        "Σ goods + shipping − discounts",
        ("order_amount",),
        "every placed order, by created day",
        _measure("order_amount"),
    ),
    Metric(
        "paid_orders",
        "支付订单数",
        "Paid orders",
        "orders",
        "count",
        "valid orders paid in the range",
        ("paid_orders",),
        "valid orders, by paid day (Asia/Shanghai)",
        _measure("paid_orders"),
    ),
    Metric(
        "paid_amount",
        "支付金额",
        "Sales (paid amount)",
        "orders",
        "money",
        "Σ paid amount",
        ("paid_amount",),
        "valid paid orders; postage included, refunds not deducted",
        _measure("paid_amount"),
    ),
    Metric(
        "net_sales",
        "净销售额",
        "Net sales",
        "orders",
        "money",
        "Σ (paid − shipping − refunded)",
        ("net_sales",),
        "valid paid orders; all refunds recorded so far deducted",
        _measure("net_sales"),
    ),
    Metric(
        "ordering_buyers",
        "下单买家数",
        "Ordering buyers",
        "orders",
        "count",
        "distinct buyers of placed orders",
        ("ordering_buyers",),
        "an order without a customer (anonymous, fully masked) is no buyer; it counts in orders and amounts",
        _measure("ordering_buyers"),
    ),
    Metric(
        "paying_buyers",
        "支付买家数",
        "Paying buyers",
        "orders",
        "count",
        "distinct buyers of paid orders",
        ("paying_buyers",),
        "an order without a customer (anonymous, fully masked) is no buyer; it counts in orders and amounts",
        _measure("paying_buyers"),
    ),
    Metric(
        "units",
        "支付件数",
        "Units sold",
        "orders",
        "count",
        "Σ units of paid orders",
        ("units",),
        "valid paid orders",
        _measure("units"),
    ),
    Metric(
        "aov",
        "客单价",
        "Average order value",
        "orders",
        "money",
        "paid_amount ÷ paying_buyers (buyer) | paid_amount ÷ paid_orders (order)",
        ("paid_amount", "paying_buyers", "paid_orders"),
        "valid paid orders",
        _aov,
        convention="aov_basis: buyer (生意参谋 客单价, default) | order (Shopify AOV)",
    ),
    Metric(
        "amount_per_order",
        "笔单价",
        "Amount per order",
        "orders",
        "money",
        "paid_amount ÷ paid_orders",
        ("paid_amount", "paid_orders"),
        "valid paid orders",
        _divide("paid_amount", "paid_orders", "money"),
    ),
    Metric(
        "gross_profit",
        "毛利",
        "Gross profit",
        "orders",
        "money",
        "net_sales − cogs",
        ("net_sales", "cogs"),
        "valid paid orders",
        _difference("net_sales", "cogs"),
    ),
    Metric(
        "gross_margin",
        "毛利率",
        "Gross margin",
        "orders",
        "ratio",
        "(net_sales − cogs) ÷ net_sales",
        ("net_sales", "cogs"),
        "net sales = paid − shipping − refunds (discounts already off)",
        _gross_margin,
    ),
    Metric(
        "refund_orders",
        "退款订单数",
        "Refunded orders",
        "orders",
        "count",
        "paid orders with a successful refund within the window",
        ("refund_orders",),
        "first successful refund within refund_window_days (30) of payment",
        _measure("refund_orders"),
        higher_is_better=False,
    ),
    Metric(
        "refund_amount",
        "退款金额",
        "Refunded amount",
        "orders",
        "money",
        "Σ refunded of refund_orders",
        ("refund_amount",),
        "the refunded amount of the orders counted in refund_orders",
        _measure("refund_amount"),
        higher_is_better=False,
    ),
    Metric(
        "refund_rate",
        "退款率",
        "Refund rate (orders)",
        "orders",
        "ratio",
        "refund_orders ÷ paid_orders",
        ("refund_orders", "paid_orders"),
        "by count, 30-day window",
        _divide("refund_orders", "paid_orders"),
        convention="refund_window_days: 30",
        higher_is_better=False,
    ),
    Metric(
        "refund_amount_rate",
        "退款金额率",
        "Refund rate (amount)",
        "orders",
        "ratio",
        "refund_amount ÷ paid_amount",
        ("refund_amount", "paid_amount"),
        "by amount, 30-day window",
        _divide("refund_amount", "paid_amount"),
        convention="refund_window_days: 30",
        higher_is_better=False,
    ),
    Metric(
        "order_conversion",
        "下单转化率",
        "Order conversion",
        "orders",
        "ratio",
        "ordering_buyers ÷ visitors (visitor) | orders ÷ sessions (session)",
        ("ordering_buyers", "visitors", "orders", "sessions"),
        "buyers and visitors of the same shops: only shops with traffic data (events, access logs or "
        "platform reports; sessions: events only) count their buyers",
        _conversion("ordering_buyers", "orders"),
        convention=CONVERSION_NOTE,
    ),
    Metric(
        "payment_conversion",
        "支付转化率",
        "Payment conversion",
        "orders",
        "ratio",
        "paying_buyers ÷ visitors (visitor) | paid_orders ÷ sessions (session)",
        ("paying_buyers", "visitors", "paid_orders", "sessions"),
        "buyers and visitors of the same shops: only shops with traffic data (events, access logs or "
        "platform reports; sessions: events only) count their buyers",
        _conversion("paying_buyers", "paid_orders"),
        convention=CONVERSION_NOTE,
    ),
    Metric(
        "uv_value",
        "UV价值",
        "Value per visitor",
        "orders",
        "money",
        "paid_amount ÷ visitors",
        ("paid_amount", "visitors"),
        "paid amount of the shops with traffic data only",
        _uv_value,
    ),
    # customers
    Metric(
        "new_buyers",
        "新买家数",
        "New buyers",
        "customers",
        "count",
        "paying buyers with no earlier paid order",
        ("new_buyers",),
        "no valid paid order before the period (any time, selected shops/channels)",
        _measure("new_buyers"),
    ),
    Metric(
        "returning_buyers",
        "老买家数",
        "Returning buyers",
        "customers",
        "count",
        "paying buyers with a paid order in the look-back window",
        ("returning_buyers",),
        "a valid paid order within the look-back before the period",
        _measure("returning_buyers"),
        convention="returning_lookback_days: 365 (生意参谋, default) | None = any earlier order (Shopify)",
    ),
    Metric(
        "returning_buyer_share",
        "老买家占比",
        "Returning buyer share",
        "customers",
        "ratio",
        "returning_buyers ÷ paying_buyers",
        ("returning_buyers", "paying_buyers"),
        "",
        _divide("returning_buyers", "paying_buyers"),
    ),
    Metric(
        "repeat_buyers",
        "复购买家数",
        "Repeat buyers",
        "customers",
        "count",
        "buyers with ≥ 2 paid orders in the range",
        ("repeat_buyers",),
        "window = the selected range",
        _measure("repeat_buyers"),
    ),
    Metric(
        "repurchase_rate",
        "复购率",
        "Repurchase rate",
        "customers",
        "ratio",
        "repeat_buyers ÷ paying_buyers",
        ("repeat_buyers", "paying_buyers"),
        "window = the selected range",
        _divide("repeat_buyers", "paying_buyers"),
    ),
    # marketing
    Metric(
        "spend",
        "推广花费",
        "Marketing spend",
        "marketing",
        "money",
        "Σ spend",
        ("spend",),
        "imported ad spend (all campaigns)",
        _measure("spend"),
        higher_is_better=False,
    ),
    Metric(
        "attributed_revenue",
        "推广成交金额",
        "Attributed revenue",
        "marketing",
        "money",
        "Σ attributed revenue",
        ("attributed_revenue",),
        "as the ad platform reports it",
        _measure("attributed_revenue"),
    ),
    Metric(
        "cac",
        "新顾客成本",
        "Customer acquisition cost",
        "marketing",
        "money",
        "spend ÷ new_buyers",
        ("spend", "new_buyers"),
        "all spend over all new buyers of the scope",
        _divide("spend", "new_buyers", "money"),
        higher_is_better=False,
    ),
    Metric(
        "roi",
        "ROI",
        "Return on ad spend",
        "marketing",
        "ratio",
        "attributed_revenue ÷ spend (revenue) | attributed_revenue × gross_margin ÷ spend (gross_profit)",
        ("attributed_revenue", "spend", "net_sales", "cogs"),
        "as reported by the ad platform",
        _roi,
        convention="roi_basis: revenue (default) | gross_profit",
    ),
    # products
    Metric(
        "product_views",
        "商品浏览量",
        "Product views",
        "products",
        "count",
        "product_view events",
        ("product_views",),
        "",
        _measure("product_views"),
    ),
    Metric(
        "product_visitors",
        "商品访客数",
        "Product visitors",
        "products",
        "count",
        "distinct visitors with a product_view",
        ("product_visitors",),
        "",
        _measure("product_visitors"),
    ),
    Metric(
        "detail_conversion",
        "详情页转化率",
        "Detail page conversion",
        "products",
        "ratio",
        "paying_buyers ÷ product_visitors",
        ("paying_buyers", "product_visitors"),
        "per product: buyers of the product ÷ its detail-page visitors",
        _divide("paying_buyers", "product_visitors"),
    ),
    Metric(
        "add_to_cart_rate",
        "加购率",
        "Add-to-cart rate",
        "products",
        "ratio",
        "cart_visitors ÷ product_visitors",
        ("cart_visitors", "product_visitors"),
        "",
        _divide("cart_visitors", "product_visitors"),
    ),
    Metric(
        "return_rate",
        "退货率",
        "Return rate (units)",
        "products",
        "ratio",
        "refunded_units ÷ units",
        ("refunded_units", "units"),
        "product lines of valid paid orders; all refunds recorded so far",
        _divide("refunded_units", "units"),
        higher_is_better=False,
    ),
    # platform reports
    Metric(
        "reported_visitors",
        "平台访客数",
        "Platform-reported visitors",
        "platform",
        "count",
        "Σ daily visitors of platform reports",
        ("reported_visitors",),
        "whole-shop rows; daily distinct counts summed (platforms give no ids)",
        _measure("reported_visitors"),
    ),
    Metric(
        "reported_paid_amount",
        "平台支付金额",
        "Platform-reported paid amount",
        "platform",
        "money",
        "Σ paid amount of platform reports",
        ("reported_paid_amount",),
        "",
        _measure("reported_paid_amount"),
    ),
    Metric(
        "reported_payment_conversion",
        "平台支付转化率",
        "Platform-reported payment conversion",
        "platform",
        "ratio",
        "reported_paying_buyers ÷ reported_visitors",
        ("reported_paying_buyers", "reported_visitors"),
        "per 生意参谋 (visitor basis)",
        _divide("reported_paying_buyers", "reported_visitors"),
    ),
)

METRICS: dict[str, Metric] = {metric.code: metric for metric in METRICS_LIST}


def derive(measures: Measures, conventions: Conventions | None = None) -> dict[str, Value]:
    """Every metric of the registry from base measures (missing measures give None)."""
    conventions = conventions or Conventions()
    return {code: metric.compute(measures, conventions) for code, metric in METRICS.items()}


DOCS_BEGIN = "<!-- metric table: generated from analytics/metrics/catalog.py, do not edit -->"
DOCS_END = "<!-- end of metric table -->"


def docs_with_table(text: str) -> str:
    """docs/metrics.md with its generated metric table replaced by the registry's."""
    head, _begin, rest = text.partition(DOCS_BEGIN)
    _old, _end, tail = rest.partition(DOCS_END)
    return f"{head}{DOCS_BEGIN}\n\n{metric_table_markdown()}{DOCS_END}{tail}"


def _cell(text: str) -> str:
    return (text or "—").replace("|", "\\|")


def metric_table_markdown() -> str:
    """The metric table of docs/metrics.md, generated from the registry."""
    lines: list[str] = []
    for group, title in GROUPS.items():
        lines += [
            f"### {title}",
            "",
            "| code | 指标 | metric | unit | formula | base measures | what counts | convention |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for metric in METRICS_LIST:
            if metric.group != group:
                continue
            cells = [
                f"`{metric.code}`",
                metric.zh,
                metric.en,
                metric.unit,
                _cell(metric.formula),
                ", ".join(metric.measures),
                _cell(metric.counts),
                _cell(metric.convention),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":  # python -m shopops.analytics.metrics.catalog docs/metrics.md
    import sys
    from pathlib import Path

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/metrics.md")
    target.write_text(docs_with_table(target.read_text(encoding="utf-8")), encoding="utf-8")
