"""Lift of a send over its holdout group with a 95 % confidence interval, in plain Python.

Rates: difference of two proportions, normal approximation with unpooled variance (Wald).
Means (GMV per customer): Welch's unequal-variance t interval with Welch–Satterthwaite degrees of freedom.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z_975 = 1.959963984540054
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    difference: float
    low: float | None
    high: float | None


def proportion_difference(count1: int, total1: int, count0: int, total0: int) -> Interval | None:
    """p1 − p0 with its Wald 95 % interval; None when a group is empty."""
    if total1 == 0 or total0 == 0:
        return None
    p1, p0 = count1 / total1, count0 / total0
    se = math.sqrt(p1 * (1 - p1) / total1 + p0 * (1 - p0) / total0)
    return Interval(p1 - p0, p1 - p0 - Z_975 * se, p1 - p0 + Z_975 * se)


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c if abs(1.0 + aa / c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c if abs(1.0 + aa / c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def _regularized_beta(a: float, b: float, x: float) -> float:
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1) / (a + b + 2):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1 - x) / b


def t_cdf(t: float, df: float) -> float:
    tail = 0.5 * _regularized_beta(df / 2, 0.5, df / (df + t * t))
    return 1 - tail if t > 0 else tail


def t_quantile(probability: float, df: float) -> float:
    """The Student t quantile (by bisection on the CDF; probability > 0.5)."""
    low, high = 0.0, 1.0
    while t_cdf(high, df) < probability:
        high *= 2
    for _ in range(200):
        middle = (low + high) / 2
        if t_cdf(middle, df) < probability:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def welch_difference(sample1: list[float], sample0: list[float]) -> Interval | None:
    """mean1 − mean0 with Welch's 95 % interval; None when a group has fewer than two values."""
    n1, n0 = len(sample1), len(sample0)
    if n1 < 2 or n0 < 2:
        return None
    mean1, mean0 = sum(sample1) / n1, sum(sample0) / n0
    var1 = sum((v - mean1) ** 2 for v in sample1) / (n1 - 1)
    var0 = sum((v - mean0) ** 2 for v in sample0) / (n0 - 1)
    a, b = var1 / n1, var0 / n0
    if a + b == 0:
        return Interval(mean1 - mean0, mean1 - mean0, mean1 - mean0)
    se = math.sqrt(a + b)
    df = (a + b) ** 2 / (a * a / (n1 - 1) + b * b / (n0 - 1))
    half = t_quantile(1 - (1 - CONFIDENCE) / 2, df) * se
    return Interval(mean1 - mean0, mean1 - mean0 - half, mean1 - mean0 + half)
