"""The buyers behind a 数据中心 cell: an RFM segment's buyers, or a cohort month's buyers who paid again in
a later month. The same scoring as the segment counts (`metrics.cohorts`), so the list has exactly as
many buyers as the cell says; names come from `customers` and are masked by the caller's PII policy."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from shopops.analytics.metrics import cohorts
from shopops.analytics.reports.params import ReportParams

LIST_ROWS = 200


class UnknownCell(ValueError):
    """Neither a known RFM segment nor a cohort month and offset."""


@dataclass(frozen=True)
class Buyer:
    customer_id: int
    orders: int
    amount: Decimal
    last_day: dt.date


@dataclass(frozen=True)
class BuyerList:
    title: tuple[str, dict[str, Any]]  # a message and its values, translated by the page
    count: int
    amount: Decimal
    buyers: list[Buyer]  # the first LIST_ROWS by amount


SEGMENTS = {name: (code, label) for code, (name, label) in cohorts.RFM_SEGMENTS.items()}


def _tables() -> Any:
    from shopops.analytics.metrics import compute

    return compute.default_tables()


def _options(report: ReportParams) -> dict[str, Any]:
    return {
        "shop_ids": list(report.shop_ids) if report.shop_ids is not None else None,
        "channels": list(report.channels) if report.channels is not None else None,
    }


def segment_buyers(report: ReportParams, segment: str) -> BuyerList:
    """The buyers of one RFM segment (its code, e.g. "champions") over the report's range and scope."""
    if segment not in SEGMENTS:
        raise UnknownCell(segment)
    code, label = SEGMENTS[segment]
    scored, _count, _mean, _since = cohorts.rfm_scored(
        _tables(), report.start, report.end, **_options(report)
    )
    chosen = scored.filter(scored.segment == code)
    return _listed(("RFM 分层「%(label)s」", {"label": label}), chosen)


def cohort_buyers(report: ReportParams, cohort: str, offset: int) -> BuyerList:
    """The buyers of the cohort of month `cohort` ("2026-03") who paid `offset` months later."""
    try:
        year, number = (int(part) for part in cohort.split("-"))
        month = dt.date(year, number, 1)
    except ValueError as error:
        raise UnknownCell(cohort) from error
    if offset < 0 or not report.start.replace(day=1) <= month <= report.end:
        raise UnknownCell(cohort)
    members = cohorts.cohort_buyers(
        _tables(), report.start, report.end, cohort=month, offset=offset, **_options(report)
    )
    if offset:
        return _listed(
            ("%(cohort)s 首购买家中第 %(offset)s 月再次购买的", {"cohort": cohort, "offset": offset}), members
        )
    return _listed(("%(cohort)s 首购买家", {"cohort": cohort}), members)


def _listed(title: tuple[str, dict[str, Any]], table: Any) -> BuyerList:
    totals = table.aggregate(count=table.count(), amount=table.amount.sum()).to_pyarrow().to_pylist()[0]
    rows = table.order_by([table.amount.desc(), table.customer_id]).limit(LIST_ROWS).to_pyarrow().to_pylist()
    return BuyerList(
        title=title,
        count=int(totals["count"] or 0),
        amount=Decimal(totals["amount"] or 0).quantize(Decimal("0.01")),
        buyers=[
            Buyer(
                customer_id=int(row["customer_id"]),
                orders=int(row["orders"]),
                amount=Decimal(row["amount"]).quantize(Decimal("0.01")),
                last_day=row["last_day"].date()
                if isinstance(row["last_day"], dt.datetime)
                else row["last_day"],
            )
            for row in rows
        ],
    )
