from decimal import Decimal
from pathlib import Path

import pytest

from shopops.analytics.metrics import catalog, definitions
from shopops.analytics.metrics.catalog import METRICS, derive, ratio
from shopops.analytics.metrics.conventions import Conventions

REPOSITORY = Path(__file__).resolve().parents[4]

MEASURES = {
    "pv": 1000,
    "visitors": 400,
    "ips": 350,
    "sessions": 500,
    "bounce_sessions": 200,
    "duration_seconds": 36000,
    "multi_page_sessions": 240,
    "new_visitors": 300,
    "product_views": 600,
    "product_visitors": 250,
    "cart_visitors": 50,
    "checkout_visitors": 30,
    "orders": 60,
    "order_amount": Decimal("12000.00"),
    "valid_orders": 45,
    "ordering_buyers": 55,
    "paid_orders": 48,
    "paid_amount": Decimal("9600.00"),
    "paying_buyers": 40,
    "units": 90,
    "net_sales": Decimal("8000.00"),
    "cogs": Decimal("5000.00"),
    "refund_orders": 6,
    "refund_amount": Decimal("720.00"),
    "new_buyers": 25,
    "returning_buyers": 12,
    "repeat_buyers": 6,
    "spend": Decimal("2000.00"),
    "attributed_revenue": Decimal("5000.00"),
    "reported_visitors": 800,
    "reported_page_views": 3000,
    "reported_paying_buyers": 20,
    "reported_paid_amount": Decimal("4000.00"),
    "refunded_units": 9,
}

# written by hand from the formulas in docs/metrics.md
EXPECTED = {
    "visitors": 400,
    "pv": 1000,
    "ips": 350,
    "sessions": 500,
    "pv_per_visitor": Decimal("2.50"),
    "avg_visit_duration": Decimal("150.0"),
    "bounce_rate": Decimal("0.4000"),
    "visit_depth": Decimal("2.00"),
    "new_visitors": 300,
    "returning_visitors": 100,
    "new_visitor_share": Decimal("0.7500"),
    "orders": 60,
    "valid_orders": 45,
    "validity_rate": Decimal("0.7500"),
    "order_amount": Decimal("12000.00"),
    "paid_orders": 48,
    "paid_amount": Decimal("9600.00"),
    "net_sales": Decimal("8000.00"),
    "ordering_buyers": 55,
    "paying_buyers": 40,
    "units": 90,
    "aov": Decimal("240.00"),
    "amount_per_order": Decimal("200.00"),
    "gross_profit": Decimal("3000.00"),
    "gross_margin": Decimal("0.3750"),
    "refund_orders": 6,
    "refund_amount": Decimal("720.00"),
    "refund_rate": Decimal("0.1250"),
    "refund_amount_rate": Decimal("0.0750"),
    "order_conversion": Decimal("0.1375"),
    "payment_conversion": Decimal("0.1000"),
    "uv_value": Decimal("24.00"),
    "new_buyers": 25,
    "returning_buyers": 12,
    "returning_buyer_share": Decimal("0.3000"),
    "repeat_buyers": 6,
    "repurchase_rate": Decimal("0.1500"),
    "spend": Decimal("2000.00"),
    "attributed_revenue": Decimal("5000.00"),
    "cac": Decimal("80.00"),
    "roi": Decimal("2.5000"),
    "product_views": 600,
    "product_visitors": 250,
    "detail_conversion": Decimal("0.1600"),
    "add_to_cart_rate": Decimal("0.2000"),
    "return_rate": Decimal("0.1000"),
    "reported_visitors": 800,
    "reported_paid_amount": Decimal("4000.00"),
    "reported_payment_conversion": Decimal("0.0250"),
}


def test_derive_gives_every_metric_its_hand_computed_value() -> None:
    # given base measures
    # when every metric is derived with the default conventions
    values = derive(MEASURES, Conventions())
    # then each equals the hand-computed value (same keys: the registry has exactly these metrics)
    assert values == EXPECTED


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_each_metric_keeps_its_unit_type(code: str) -> None:
    # given a metric and its value
    metric, value = METRICS[code], derive(MEASURES)[code]
    # then counts are int, everything else Decimal with the unit's places
    if metric.unit == "count":
        assert isinstance(value, int)
    else:
        assert isinstance(value, Decimal)
        assert value.as_tuple().exponent == catalog.PLACES[metric.unit].as_tuple().exponent


def test_session_and_order_conventions_switch_the_formulas() -> None:
    # given the Shopify conventions
    conventions = Conventions(conversion_basis="session", aov_basis="order", roi_basis="gross_profit")
    # when derived
    values = derive(MEASURES, conventions)
    # then conversion is orders ÷ sessions, AOV per order, ROI on gross profit (5000 × 0.375 ÷ 2000)
    assert values["order_conversion"] == Decimal("0.1200")
    assert values["payment_conversion"] == Decimal("0.0960")
    assert values["aov"] == Decimal("200.00")
    assert values["roi"] == Decimal("0.9375")
    # and what has no convention does not move
    assert {
        code: values[code]
        for code in EXPECTED
        if code not in {"order_conversion", "payment_conversion", "aov", "roi"}
    } == {
        code: value
        for code, value in EXPECTED.items()
        if code not in {"order_conversion", "payment_conversion", "aov", "roi"}
    }


def test_zero_denominators_give_none_and_counts_stay_zero() -> None:
    # given nothing happened
    zeros = {name: (Decimal("0.00") if name in definitions.MONEY_MEASURES else 0) for name in MEASURES}
    # when derived
    values = derive(zeros)
    # then every ratio-like metric is None and every count or sum is zero
    for code, metric in METRICS.items():
        if metric.unit in {"count"} or code in {
            "order_amount",
            "paid_amount",
            "net_sales",
            "refund_amount",
            "spend",
        }:
            assert values[code] == 0, code
        elif code in {"gross_profit", "attributed_revenue", "reported_paid_amount"}:
            assert values[code] == Decimal("0.00"), code
        else:
            assert values[code] is None, code


def test_missing_measures_give_none() -> None:
    # given no marketing measures (a source grouping leaves them out)
    values = derive(
        {name: value for name, value in MEASURES.items() if name not in {"spend", "attributed_revenue"}}
    )
    # then the marketing metrics are None, not zero
    assert (values["spend"], values["cac"], values["roi"]) == (None, None, None)


def test_ratios_round_half_up() -> None:
    assert ratio(1, 3) == Decimal("0.3333")
    assert ratio(2, 3) == Decimal("0.6667")
    assert ratio(1, 8) == Decimal("0.1250")
    assert ratio(Decimal("10"), 3, "money") == Decimal("3.33")
    assert ratio(Decimal("0.005"), 1, "money") == Decimal("0.01")
    assert ratio(5, 0) is None
    assert ratio(None, 3) is None


def test_every_metric_names_known_base_measures_and_a_known_unit_and_group() -> None:
    known = set(definitions.BASE_MEASURES) | set(definitions.PRODUCT_LINE_MEASURES)
    for metric in catalog.METRICS_LIST:
        assert set(metric.measures) <= known, metric.code
        assert metric.unit in catalog.UNITS, metric.code
        assert metric.group in catalog.GROUPS, metric.code
        assert all((metric.zh, metric.en, metric.formula)), metric.code
    assert len(catalog.METRICS) == len(catalog.METRICS_LIST)


def test_the_issue_metrics_are_all_in_the_registry() -> None:
    # the list of issue 5 §3
    wanted = {
        "visitors", "pv", "ips", "sessions", "pv_per_visitor", "avg_visit_duration", "bounce_rate",
        "new_visitors", "returning_visitors", "visit_depth", "orders", "valid_orders", "validity_rate",
        "order_amount", "paid_amount", "net_sales", "aov", "amount_per_order", "gross_profit", "gross_margin",
        "refund_rate", "refund_amount_rate", "order_conversion", "payment_conversion", "uv_value",
        "new_buyers", "returning_buyers", "repurchase_rate", "cac", "roi", "product_views",
        "detail_conversion", "add_to_cart_rate", "units", "return_rate",
    }  # fmt: skip
    assert wanted <= set(METRICS)


def test_docs_metrics_md_holds_the_generated_table() -> None:
    # given the committed document
    committed = (REPOSITORY / "docs" / "metrics.md").read_text(encoding="utf-8")
    # when its table is regenerated from the registry
    # then nothing changes (run `python -m shopops.analytics.metrics.catalog docs/metrics.md` after edits)
    assert catalog.DOCS_BEGIN in committed
    assert committed == catalog.docs_with_table(committed)
    for code in METRICS:
        assert f"| `{code}` |" in committed
