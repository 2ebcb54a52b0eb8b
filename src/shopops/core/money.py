"""Money: Decimal CNY with 2 places, and integer-cent splitting."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from shopops.core.errors import InvalidInput

CENT = Decimal("0.01")
MONEY_MAX_DIGITS = 14
MONEY_DECIMAL_PLACES = 2
# Amounts must stay below this (what a DecimalField(max_digits=14, decimal_places=2) holds).
MONEY_LIMIT = Decimal(10) ** (MONEY_MAX_DIGITS - MONEY_DECIMAL_PLACES)


def to_money(value: object, *, field: str = "amount") -> Decimal:
    """Parse a money value (Decimal, int, str with optional ¥/元/commas); never via float."""
    if type(value) is Decimal:
        amount = value  # the common case first: no isinstance chain
    elif isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int) and not isinstance(value, bool):
        amount = Decimal(value)
    elif isinstance(value, str):
        text = value.strip().replace(",", "").replace("，", "").replace("¥", "").replace("￥", "")
        text = text.removesuffix("元").strip()
        try:
            amount = Decimal(text)
        except InvalidOperation:
            raise InvalidInput(f"“{value}”不是有效金额", fields={field: "不是有效金额"}) from None
    elif isinstance(value, float):
        amount = Decimal(repr(value))
    else:
        raise InvalidInput(f"“{value}”不是有效金额", fields={field: "不是有效金额"})
    if not amount.is_finite():
        raise InvalidInput(f"“{value}”不是有效金额", fields={field: "不是有效金额"})
    quantized = amount.quantize(CENT, rounding=ROUND_HALF_UP)
    if abs(quantized) >= MONEY_LIMIT:
        raise InvalidInput(f"金额 {value} 超出范围", fields={field: "超出范围"})
    return quantized


def money_range_error(
    amount: Decimal,
    *,
    max_digits: int = MONEY_MAX_DIGITS,
    decimal_places: int = MONEY_DECIMAL_PLACES,
    allow_negative: bool = False,
) -> str | None:
    """Why `amount` does not fit a DecimalField(max_digits, decimal_places), in the operator's words,
    or None when it fits. Every computed amount is checked before it is stored: SQLite keeps any
    number, and one with more digits than its field breaks every page and export that reads it."""
    if not amount.is_finite():
        return "不是有效金额"
    step = Decimal(1).scaleb(-decimal_places)
    largest = Decimal(10) ** (max_digits - decimal_places) - step
    if amount > largest:
        return f"超出上限 {format_cny(largest)}"
    if amount < 0 and not allow_negative:
        return "不能为负数"
    if amount < -largest:
        return f"超出下限 {format_cny(-largest)}"
    if amount % step:
        return f"最多 {decimal_places} 位小数"
    return None


# Plain amount text as files write it: "12.34", "99", "12.34元" (ASCII digits, at most 12 integer digits).
_PLAIN_AMOUNT = re.compile(r"([0-9]{1,12}(?:\.[0-9]{1,12})?)元?")


def plain_money(text: str) -> Decimal | None:
    """The fast path of `to_money` for plain non-negative amount text (`12.34`, `99元`): the same
    quantized Decimal `to_money(text)` gives, or None when the text needs `to_money` (signs,
    thousands separators, ¥, spaces, exponents, out-of-range amounts...)."""
    match = _PLAIN_AMOUNT.fullmatch(text)
    if match is None:
        return None
    amount = Decimal(match.group(1)).quantize(CENT, rounding=ROUND_HALF_UP)
    return amount if amount < MONEY_LIMIT else None


def split_pro_rata(total: Decimal, weights: list[Decimal]) -> list[Decimal]:
    """Split `total` over `weights` in whole cents; the last share takes the remainder."""
    if not weights:
        return []
    total_cents = int((total / CENT).to_integral_value(ROUND_HALF_UP))
    weight_sum = sum(weights, Decimal(0))
    shares: list[int] = []
    for weight in weights[:-1]:
        share = (
            0
            if weight_sum == 0
            else int((total_cents * weight / weight_sum).to_integral_value(ROUND_HALF_UP))
        )
        shares.append(share)
    shares.append(total_cents - sum(shares))
    return [Decimal(share) * CENT for share in shares]


def format_cny(amount: Decimal | None) -> str:
    if amount is None:
        return "-"
    return f"¥{amount:,.2f}"
