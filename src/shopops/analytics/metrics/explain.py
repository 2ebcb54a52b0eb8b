"""Why did sales move: additive decomposition of the change of 支付金额 into its factors (LMDI).

支付金额 = 访客数 × 支付转化率 × 客单价 (paying buyers ÷ visitors, paid amount ÷ paying buyers), and
支付金额 = 支付订单数 × 笔单价. LMDI-I (log-mean Divisia) gives each factor a contribution in yuan, and
the contributions add up exactly to the change (rounded to the cent, the remainder goes to the largest).
When a factor is zero in either period the logarithms are undefined; the Shapley decomposition (the
mean of every order of substituting the factors one by one) is used instead, which also adds up.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

CENT = Decimal("0.01")
PERCENT = Decimal("0.1")


@dataclass(frozen=True)
class Contribution:
    """One factor's part of the change: its own change and the yuan of the total change it explains."""

    factor: str
    label: str
    previous: Decimal | None
    current: Decimal | None
    change_ratio: Decimal | None  # relative change of the factor (0.1 = +10%)
    contribution: Decimal  # yuan of the total change
    contribution_ratio: Decimal | None  # contribution ÷ previous total (0.1 = +10 points of the total)


@dataclass(frozen=True)
class MarginExplanation:
    """Gross profit = net sales × gross margin, with each part's contribution; set when they diverge."""

    previous_margin: Decimal | None
    current_margin: Decimal | None
    margin_change_points: Decimal | None  # percentage points
    gross_profit_change: Decimal
    factors: list[Contribution]
    sentence: str


@dataclass(frozen=True)
class Decomposition:
    metric: str
    previous: Decimal
    current: Decimal
    change: Decimal
    change_ratio: Decimal | None
    method: str  # "lmdi" | "shapley"
    factors: list[Contribution]  # visitors × conversion × 客单价
    order_factors: list[Contribution]  # paid orders × 笔单价
    main_driver: str | None
    sentence: str
    margin: MarginExplanation | None


def _decimal(value: Any) -> Decimal:
    return Decimal(0) if value is None else Decimal(value)


def _share(numerator: Decimal, denominator: Decimal) -> Decimal | None:
    return None if denominator == 0 else numerator / denominator


def log_mean(a: float, b: float) -> float:
    """L(a, b) = (a − b) / (ln a − ln b), and a when a = b."""
    if math.isclose(a, b, rel_tol=1e-15, abs_tol=0.0):
        return a
    return (a - b) / (math.log(a) - math.log(b))


def lmdi(previous: Sequence[Decimal], current: Sequence[Decimal]) -> list[Decimal] | None:
    """LMDI-I contributions of V = Π factors; None when a factor is not positive in either period."""
    if any(value <= 0 for value in (*previous, *current)):
        return None
    total_previous = math.prod(float(value) for value in previous)
    total_current = math.prod(float(value) for value in current)
    weight = log_mean(total_current, total_previous)
    return [
        Decimal(repr(weight * math.log(float(after) / float(before))))
        for before, after in zip(previous, current, strict=True)
    ]


def shapley(previous: Sequence[Decimal], current: Sequence[Decimal]) -> list[Decimal]:
    """Shapley contributions of V = Π factors: each factor's mean marginal effect over all orders."""
    count = len(previous)
    orders = list(itertools.permutations(range(count)))
    contributions = [Decimal(0)] * count
    with localcontext() as context:
        context.prec = 50
        for order in orders:
            values = list(previous)
            for index in order:
                before = math.prod(values, start=Decimal(1))
                values[index] = current[index]
                contributions[index] += math.prod(values, start=Decimal(1)) - before
        return [value / len(orders) for value in contributions]


def _exact(contributions: list[Decimal], change: Decimal) -> list[Decimal]:
    """Round to the cent so that the contributions add up exactly to the (cent) change."""
    rounded = [value.quantize(CENT, rounding=ROUND_HALF_UP) for value in contributions]
    remainder = change - sum(rounded, Decimal(0))
    if remainder and rounded:
        largest = max(range(len(rounded)), key=lambda index: abs(contributions[index]))
        rounded[largest] += remainder
    return rounded


def contributions(
    factors: Sequence[tuple[str, str, Decimal | None, Decimal | None]],
    previous_total: Decimal,
    current_total: Decimal,
) -> tuple[list[Contribution], str]:
    """Contributions of (code, label, previous, current) factors whose product is the total."""
    before = [_decimal(previous) for _code, _label, previous, _current in factors]
    after = [_decimal(current) for _code, _label, _previous, current in factors]
    change = current_total - previous_total
    raw = lmdi(before, after)
    method = "lmdi"
    if raw is None:
        raw, method = shapley(before, after), "shapley"
    parts = _exact(raw, change)
    result = [
        Contribution(
            factor=code,
            label=label,
            previous=previous,
            current=current,
            change_ratio=None
            if previous is None or current is None or previous == 0
            else current / previous - 1,
            contribution=part,
            contribution_ratio=_share(part, previous_total),
        )
        for (code, label, previous, current), part in zip(factors, parts, strict=True)
    ]
    return result, method


def _percent(value: Decimal | None) -> str:
    if value is None:
        return "—"
    number = (value * 100).quantize(PERCENT, rounding=ROUND_HALF_UP)
    sign = "+" if number > 0 else ("−" if number < 0 else "±")
    return f"{sign}{abs(number)}%"


def _money(value: Decimal) -> str:
    sign = "+" if value > 0 else ("−" if value < 0 else "±")
    return f"{sign}{abs(value):,.2f} 元"


def _factor_text(part: Contribution) -> str:
    effect = (
        _percent(part.contribution_ratio)
        if part.contribution_ratio is not None
        else _money(part.contribution)
    )
    return f"{part.label} {_percent(part.change_ratio)} 贡献 {effect}"


def _ratio(numerator: Any, denominator: Any) -> Decimal | None:
    top, bottom = _decimal(numerator), _decimal(denominator)
    return None if bottom == 0 else top / bottom


def _margin(
    previous: Mapping[str, Any], current: Mapping[str, Any], aov_change: Decimal | None
) -> MarginExplanation | None:
    net_before, net_after = _decimal(previous.get("net_sales")), _decimal(current.get("net_sales"))
    profit_before = net_before - _decimal(previous.get("cogs"))
    profit_after = net_after - _decimal(current.get("cogs"))
    margin_before, margin_after = _ratio(profit_before, net_before), _ratio(profit_after, net_after)
    if margin_before is None or margin_after is None:
        return None
    parts, _method = contributions(
        [
            ("net_sales", "净销售额", net_before, net_after),
            ("gross_margin", "毛利率", margin_before, margin_after),
        ],
        profit_before,
        profit_after,
    )
    points = ((margin_after - margin_before) * 100).quantize(PERCENT, rounding=ROUND_HALF_UP)
    diverging = aov_change is not None and aov_change > 0 and margin_after < margin_before
    start = f"客单价 {_percent(aov_change)}，但" if diverging else ""
    sentence = (
        f"{start}毛利率 {'+' if points > 0 else ('−' if points < 0 else '±')}{abs(points)} 个百分点"
        f"（{_percent(margin_before).lstrip('+')} → {_percent(margin_after).lstrip('+')}）"
        f"：毛利 {_money(profit_after - profit_before)}，其中净销售额贡献 {_money(parts[0].contribution)}，"
        f"毛利率贡献 {_money(parts[1].contribution)}"
    )
    return MarginExplanation(
        previous_margin=margin_before,
        current_margin=margin_after,
        margin_change_points=points,
        gross_profit_change=profit_after - profit_before,
        factors=parts,
        sentence=sentence,
    )


def _holds(values: Sequence[Decimal | None], total: Decimal) -> bool:
    """Whether the factors multiply to the total (not when paid orders have no buyer or no visit)."""
    product = math.prod((_decimal(value) for value in values), start=Decimal(1))
    return abs(product - total) < CENT


def decompose(current: Mapping[str, Any], previous: Mapping[str, Any]) -> Decomposition:
    """Explain the change of 支付金额 from `previous` to `current` base measures (see module doc)."""
    total_before, total_after = _decimal(previous.get("paid_amount")), _decimal(current.get("paid_amount"))
    change = total_after - total_before
    factors, method = contributions(
        [
            ("visitors", "访客数", _decimal(previous.get("visitors")), _decimal(current.get("visitors"))),
            (
                "payment_conversion",
                "转化率",
                _ratio(previous.get("paying_buyers"), previous.get("visitors")),
                _ratio(current.get("paying_buyers"), current.get("visitors")),
            ),
            (
                "aov",
                "客单价",
                _ratio(previous.get("paid_amount"), previous.get("paying_buyers")),
                _ratio(current.get("paid_amount"), current.get("paying_buyers")),
            ),
        ],
        total_before,
        total_after,
    )
    order_factors, _order_method = contributions(
        [
            (
                "paid_orders",
                "订单数",
                _decimal(previous.get("paid_orders")),
                _decimal(current.get("paid_orders")),
            ),
            (
                "amount_per_order",
                "笔单价",
                _ratio(previous.get("paid_amount"), previous.get("paid_orders")),
                _ratio(current.get("paid_amount"), current.get("paid_orders")),
            ),
        ],
        total_before,
        total_after,
    )
    has_traffic = (_decimal(previous.get("visitors")) > 0 or _decimal(current.get("visitors")) > 0) and all(
        _holds(factor_values, total)
        for factor_values, total in (
            ([part.previous for part in factors], total_before),
            ([part.current for part in factors], total_after),
        )
    )
    shown = factors if has_traffic else order_factors
    driver = max(shown, key=lambda part: abs(part.contribution)) if change else None
    change_ratio = _share(change, total_before)
    head = f"销售额 {_percent(change_ratio) if change_ratio is not None else _money(change)}"
    sentence = head + "：" + "，".join(_factor_text(part) for part in shown)
    if driver is not None:
        direction = "增加" if (driver.current or 0) > (driver.previous or 0) else "下降"
        sentence += f"；主要因素：{driver.label}{direction}"
    if has_traffic:
        sentence += "（" + "，".join(_factor_text(part) for part in order_factors) + "）"
    aov_part = next(part for part in factors if part.factor == "aov")
    margin = _margin(previous, current, aov_part.change_ratio)
    if (
        margin is not None
        and aov_part.change_ratio is not None
        and aov_part.change_ratio > 0
        and (margin.margin_change_points or 0) < 0
    ):
        sentence += "。" + margin.sentence
    return Decomposition(
        metric="paid_amount",
        previous=total_before,
        current=total_after,
        change=change,
        change_ratio=change_ratio,
        method=method,
        factors=factors,
        order_factors=order_factors,
        main_driver=driver.factor if driver is not None else None,
        sentence=sentence,
        margin=margin,
    )
