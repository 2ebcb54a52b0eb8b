"""The reports' typed results: frozen dataclasses of Decimal/int values, `as_dict()` for JSON and XLSX."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from shopops.analytics.metrics import explain
from shopops.analytics.metrics.catalog import Value


@dataclass(frozen=True)
class Period:
    start: dt.date
    end: dt.date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


@dataclass(frozen=True)
class Change:
    """A KPI in a comparison period and the change to it: absolute (points for ratios) and relative."""

    period: Period
    value: Value
    absolute: Value
    relative: Decimal | None


@dataclass(frozen=True)
class Kpi:
    code: str
    label: str
    label_en: str
    unit: str
    value: Value
    higher_is_better: bool
    changes: dict[str, Change]  # previous | last_week | last_year


@dataclass(frozen=True)
class TrafficShop:
    """A shop with traffic data in the range, and where it comes from (so a page can say which shops'
    visitors and conversion it shows)."""

    shop_id: int
    source: str  # events | platform_reports
    label: str  # 自有访问数据（埋点/访问日志） | 平台流量报表 (a msgid)


@dataclass(frozen=True)
class Overview:
    period: Period
    comparisons: dict[str, Period]
    kpis: list[Kpi]
    measures: dict[str, Any]
    metrics: dict[str, Value]
    explanation: explain.Decomposition | None
    conventions: dict[str, Any]
    # the shops whose visitors (and buyers, for conversion and UV价值) the figures cover
    traffic_shops: list[TrafficShop] = field(default_factory=list)
    # what the figures leave out and why, in words (e.g. orders in a currency without a rate that day)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def kpi(self, code: str) -> Kpi:
        return next(kpi for kpi in self.kpis if kpi.code == code)


@dataclass(frozen=True)
class TrendPoint:
    period: Period  # the bucket within the range (a week or month is cut at the range's ends)
    key: dt.date  # the bucket's first day (Monday for weeks, the 1st for months)
    measures: dict[str, Any]
    metrics: dict[str, Value]


@dataclass(frozen=True)
class Trend:
    period: Period
    grain: str
    points: list[TrendPoint]

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class BreakdownRow:
    key: str
    label: str
    measures: dict[str, Any]
    metrics: dict[str, Value]


@dataclass(frozen=True)
class Breakdown:
    dimension: str  # source | product
    period: Period
    columns: tuple[str, ...]  # metric codes to show, in order
    rows: list[BreakdownRow]
    total: BreakdownRow
    best: list[BreakdownRow] = field(default_factory=list)
    worst: list[BreakdownRow] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class CohortRow:
    cohort: dt.date  # first day of the month of the buyers' first paid order
    size: int
    active: list[int]  # buyers with a paid order in month 0, 1, 2 … after their first
    retention: list[Decimal | None]


@dataclass(frozen=True)
class RfmSegment:
    code: str
    label: str
    recent: bool
    frequent: bool
    high_value: bool
    buyers: int
    paid_amount: Decimal
    share: Decimal | None


@dataclass(frozen=True)
class Customers:
    period: Period
    paying_buyers: int
    new_buyers: int
    returning_buyers: int
    repeat_buyers: int
    repurchase_rate: Decimal | None
    returning_buyer_share: Decimal | None
    cohorts: list[CohortRow]
    rfm: list[RfmSegment]
    rfm_thresholds: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class CampaignRow:
    ad_channel: str
    campaign: str
    spend: Decimal
    impressions: int
    clicks: int
    attributed_orders: int
    attributed_revenue: Decimal
    click_rate: Decimal | None
    cost_per_click: Decimal | None
    roi: Decimal | None


@dataclass(frozen=True)
class Campaigns:
    period: Period
    roi_basis: str
    rows: list[CampaignRow]
    spend: Decimal
    attributed_revenue: Decimal
    new_buyers: int
    cac: Decimal | None
    roi: Decimal | None
    gross_margin: Decimal | None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
