"""Numbers of the metric catalog as people read them: ¥1,234.00, 12.34%, 1,234, 65.0 秒."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from shopops.core.money import format_cny

RATIO_PLACES = Decimal("0.01")


def format_value(value: Any, unit: str) -> str:
    """One metric value for a page or an email; "-" when it has none (a ratio over zero)."""
    if value is None:
        return "-"
    if unit == "money":
        return format_cny(Decimal(value))
    if unit == "ratio":
        return f"{(Decimal(value) * 100).quantize(RATIO_PLACES)}%"
    if unit == "seconds":
        return f"{Decimal(value):,.1f} 秒"
    if unit == "count":
        return f"{int(value):,}"
    if isinstance(value, Decimal | int | float):
        return f"{Decimal(value):,.2f}"
    return str(value)


def format_change(change: Any) -> str:
    """A relative change: +12.50% / -3.00% / "-" (no base to compare with)."""
    if change is None:
        return "-"
    percent = (Decimal(change) * 100).quantize(RATIO_PLACES)
    return f"+{percent}%" if percent > 0 else f"{percent}%"


def change_tone(change: Any, higher_is_better: bool) -> str:
    """good / bad / flat, for colouring a change."""
    if change is None or Decimal(change) == 0:
        return "flat"
    rising = Decimal(change) > 0
    return "good" if rising == higher_is_better else "bad"


def plain(value: Any) -> Any:
    """A value for JSON: Decimal as text (exact), the rest as is."""
    if isinstance(value, Decimal):
        return str(value)
    return value
