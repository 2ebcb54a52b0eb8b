import math
import random
from decimal import Decimal
from typing import Any

import pytest

from shopops.analytics.metrics.explain import decompose, lmdi, shapley


def period(
    visitors: int, buyers: int, amount: str, orders: int, net: str = "0", cogs: str = "0"
) -> dict[str, Any]:
    return {
        "visitors": visitors,
        "paying_buyers": buyers,
        "paid_amount": Decimal(amount),
        "paid_orders": orders,
        "net_sales": Decimal(net),
        "cogs": Decimal(cogs),
    }


def test_only_visitors_moved_so_visitors_explain_everything() -> None:
    # given 1000 → 1200 visitors, the same 5% conversion and 200 yuan per buyer
    previous = period(1000, 50, "10000.00", 50)
    current = period(1200, 60, "12000.00", 60)
    # when decomposed
    result = decompose(current, previous)
    # then
    assert result.method == "lmdi"
    assert [(part.factor, part.contribution) for part in result.factors] == [
        ("visitors", Decimal("2000.00")),
        ("payment_conversion", Decimal("0.00")),
        ("aov", Decimal("0.00")),
    ]
    assert result.main_driver == "visitors"
    assert result.sentence.startswith(
        "销售额 +20.0%：访客数 +20.0% 贡献 +20.0%，转化率 ±0.0% 贡献 ±0.0%，客单价 ±0.0% 贡献 ±0.0%；主要因素：访客数增加"
    )


def test_lmdi_matches_the_textbook_formula() -> None:
    # given V = x·y·z in two periods
    before, after = (
        [Decimal(1000), Decimal("0.05"), Decimal(200)],
        [Decimal(1201), Decimal("0.0483"), Decimal(193.6)],
    )
    v0, v1 = 1000 * 0.05 * 200, 1201 * 0.0483 * 193.6
    weight = (v1 - v0) / (math.log(v1) - math.log(v0))
    # when decomposed
    parts = lmdi(before, after)
    # then each factor gets L(V1, V0)·ln(x1/x0), and they add up to V1 − V0
    assert parts is not None
    for part, x0, x1 in zip(parts, before, after, strict=True):
        assert float(part) == pytest.approx(weight * math.log(float(x1) / float(x0)), rel=1e-12)
    assert float(sum(parts)) == pytest.approx(v1 - v0, rel=1e-12)


def test_shapley_with_two_factors_is_the_midpoint_rule() -> None:
    # given a·b with a going 0 → 10 (a new channel) and b 5 → 7
    parts = shapley([Decimal(0), Decimal(5)], [Decimal(10), Decimal(7)])
    # then a gets (10 − 0)·(5 + 7)/2 and b gets (7 − 5)·(0 + 10)/2
    assert parts == [Decimal(60), Decimal(10)]


@pytest.mark.parametrize("seed", range(40))
def test_contributions_add_up_exactly_to_the_change(seed: int) -> None:
    # given random periods, some with zeros
    generator = random.Random(seed)

    def random_period() -> dict[str, Any]:
        visitors = generator.choice([0, generator.randint(1, 5000)])
        buyers = generator.randint(0, visitors) if visitors else 0
        orders = buyers + generator.randint(0, buyers)
        amount = Decimal(generator.randint(1, 10**7)) / 100 if buyers else Decimal("0.00")
        return period(visitors, buyers, str(amount), orders)

    previous, current = random_period(), random_period()
    # when decomposed
    result = decompose(current, previous)
    # then both decompositions add up to the change to the cent
    change = current["paid_amount"] - previous["paid_amount"]
    assert result.change == change
    assert sum(part.contribution for part in result.factors) == change
    assert sum(part.contribution for part in result.order_factors) == change
    assert result.method == (
        "lmdi" if all(previous[k] and current[k] for k in ("visitors", "paying_buyers")) else "shapley"
    )


def test_orders_fell_but_sales_rose_is_explained_by_the_amount_per_order() -> None:
    # given fewer orders at a higher amount each, and no own-shop traffic (platform orders)
    previous = period(0, 100, "10000.00", 100)
    current = period(0, 90, "11700.00", 90)
    # when decomposed
    result = decompose(current, previous)
    # then the orders × 笔单价 view is shown
    assert result.sentence.startswith("销售额 +17.0%：订单数 −10.0% 贡献 ")
    assert "笔单价 +30.0% 贡献 " in result.sentence
    assert result.main_driver == "amount_per_order"
    assert sum(part.contribution for part in result.order_factors) == Decimal("1700.00")


def test_higher_aov_with_lower_margin_is_called_out() -> None:
    # given 客单价 200 → 250 but margin 40% → 30%
    previous = period(1000, 50, "10000.00", 50, net="9000.00", cogs="5400.00")
    current = period(1000, 50, "12500.00", 50, net="11000.00", cogs="7700.00")
    # when decomposed
    result = decompose(current, previous)
    # then the margin explanation says why, and its parts add up to the gross profit change
    assert result.margin is not None
    assert result.margin.margin_change_points == Decimal("-10.0")
    assert result.margin.gross_profit_change == Decimal("-300.00")
    assert sum(part.contribution for part in result.margin.factors) == Decimal("-300.00")
    assert "客单价 +25.0%，但毛利率 −10.0 个百分点（40.0% → 30.0%）" in result.sentence


def test_no_change_names_no_driver() -> None:
    same = period(100, 10, "1000.00", 10)
    result = decompose(same, same)
    assert (result.change, result.main_driver) == (Decimal("0.00"), None)
    assert result.sentence.startswith("销售额 ±0.0%")
