"""The explicit conventions where platforms define a KPI differently (DOMAIN.md §5, docs/metrics.md)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

ConversionBasis = Literal["visitor", "session"]
AovBasis = Literal["buyer", "order"]
RoiBasis = Literal["revenue", "gross_profit"]

CONVERSION_BASES: tuple[str, ...] = ("visitor", "session")
AOV_BASES: tuple[str, ...] = ("buyer", "order")
ROI_BASES: tuple[str, ...] = ("revenue", "gross_profit")


class ConventionError(ValueError):
    """ANALYTICS_CONVENTIONS holds an unknown key or a value outside the allowed ones."""


@dataclass(frozen=True)
class Conventions:
    """How the KPIs whose definition differs between 生意参谋 and Shopify are computed.

    Defaults follow 生意参谋 (the operators' vocabulary); the Shopify choice is one setting away.
    The repurchase window is always the selected date range.
    """

    # 转化率: buyers ÷ visitors (生意参谋) or orders ÷ sessions (Shopify)
    conversion_basis: ConversionBasis = "visitor"
    # 客单价 = 支付金额 ÷ 支付买家数 (buyer) or AOV = 支付金额 ÷ 支付订单数 (order)
    aov_basis: AovBasis = "buyer"
    # 老买家: a paid order within this many days before the range; None = any earlier order (Shopify)
    returning_lookback_days: int | None = 365
    # 退款率 counts a paid order as refunded when its first successful refund is within this many days
    refund_window_days: int = 30
    # ROI = attributed revenue ÷ spend, or attributed gross profit ÷ spend
    roi_basis: RoiBasis = "revenue"

    def __post_init__(self) -> None:
        _check_choice("conversion_basis", self.conversion_basis, CONVERSION_BASES)
        _check_choice("aov_basis", self.aov_basis, AOV_BASES)
        _check_choice("roi_basis", self.roi_basis, ROI_BASES)
        lookback = self.returning_lookback_days
        if lookback is not None and (
            isinstance(lookback, bool) or not isinstance(lookback, int) or lookback < 1
        ):
            raise ConventionError(
                f"returning_lookback_days must be a whole number of days ≥ 1 or None (any earlier order), got {lookback!r}"
            )
        window = self.refund_window_days
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise ConventionError(f"refund_window_days must be a whole number of days ≥ 1, got {window!r}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> Conventions:
        """Conventions from a dict such as settings.ANALYTICS_CONVENTIONS; missing keys keep the default."""
        if values is None:
            return cls()
        if not isinstance(values, Mapping):
            raise ConventionError(f"ANALYTICS_CONVENTIONS must be a dict, got {type(values).__name__}")
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConventionError(f"unknown ANALYTICS_CONVENTIONS keys {unknown}; allowed: {sorted(known)}")
        return cls(**dict(values))

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _check_choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConventionError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def from_settings() -> Conventions:
    """The conventions configured in settings.ANALYTICS_CONVENTIONS (optional), else the defaults."""
    from django.conf import settings

    return Conventions.from_mapping(getattr(settings, "ANALYTICS_CONVENTIONS", None))


def resolve(conventions: Conventions | None) -> Conventions:
    """The given conventions, or those of the settings."""
    return conventions if conventions is not None else from_settings()
