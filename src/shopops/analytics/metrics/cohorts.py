"""Buyer cohorts (retention by first-purchase month) and RFM segments, over the paid order facts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from shopops.analytics.metrics.catalog import ratio
from shopops.analytics.metrics.results import CohortRow, RfmSegment

Tables = Mapping[str, Any]

# RFM over the buyers who paid in the range; documented in docs/metrics.md
RFM_RECENT_DAYS = 30
RFM_FREQUENT_ORDERS = 2
RFM_SEGMENTS: dict[str, tuple[str, str]] = {
    "111": ("champions", "重要价值客户"),
    "011": ("at_risk", "重要保持客户"),
    "101": ("promising", "重要发展客户"),
    "001": ("cant_lose", "重要挽留客户"),
    "110": ("loyal", "一般价值客户"),
    "010": ("need_attention", "一般保持客户"),
    "100": ("new", "一般发展客户"),
    "000": ("hibernating", "一般挽留客户"),
}


def _paid_orders(tables: Tables, shop_ids: Iterable[int] | None, channels: Iterable[str] | None) -> Any:
    orders = tables["orders"]
    conditions = [orders.is_valid, orders.paid_day.notnull(), orders.customer_id.notnull()]
    if shop_ids is not None:
        conditions.append(orders.shop_id.isin(list(shop_ids)))
    if channels is not None:
        conditions.append(orders.channel.isin(list(channels)))
    return orders.filter(*conditions)


def month_index(day: dt.date) -> int:
    return day.year * 12 + day.month - 1


def cohorts(
    tables: Tables,
    start: dt.date,
    end: dt.date,
    *,
    shop_ids: Iterable[int] | None,
    channels: Iterable[str] | None,
) -> list[CohortRow]:
    """Buyers by the month of their first paid order (months of the range), and how many of them paid
    again in each later month up to the range's end (month 0 is the first month itself)."""
    paid = _paid_orders(tables, shop_ids, channels)
    paid = paid.filter(paid.paid_day <= end)
    first = paid.group_by("customer_id").aggregate(first_day=paid.paid_day.min())
    first = first.filter(first.first_day >= start)
    joined = paid.join(first, "customer_id")
    counts = joined.aggregate(
        by=[
            joined.first_day.truncate("M").cast("date").name("cohort"),
            joined.paid_day.truncate("M").cast("date").name("month"),
        ],
        buyers=joined.customer_id.nunique(),
    )
    matrix: dict[dt.date, dict[int, int]] = {}
    for row in counts.to_pyarrow().to_pylist():
        cohort, month = _as_date(row["cohort"]), _as_date(row["month"])
        matrix.setdefault(cohort, {})[month_index(month) - month_index(cohort)] = int(row["buyers"])
    result = []
    for cohort in sorted(matrix):
        width = month_index(end) - month_index(cohort) + 1
        active = [matrix[cohort].get(offset, 0) for offset in range(width)]
        size = active[0]
        result.append(
            CohortRow(
                cohort=cohort, size=size, active=active, retention=[ratio(count, size) for count in active]
            )
        )
    return result


def cohort_buyers(
    tables: Tables,
    start: dt.date,
    end: dt.date,
    *,
    cohort: dt.date,
    offset: int,
    shop_ids: Iterable[int] | None,
    channels: Iterable[str] | None,
) -> Any:
    """The buyers of one cell of `cohorts`: first paid order in the month of `cohort` (within the range)
    and a paid order `offset` months later; with their orders and amount in that month."""
    paid = _paid_orders(tables, shop_ids, channels)
    paid = paid.filter(paid.paid_day <= end)
    first = paid.group_by("customer_id").aggregate(first_day=paid.paid_day.min())
    first = first.filter(
        first.first_day >= max(start, cohort.replace(day=1)),
        first.first_day.truncate("M").cast("date") == cohort.replace(day=1),
    )
    joined = paid.join(first, "customer_id")
    month = month_index(cohort) + offset
    wanted = dt.date(month // 12, month % 12 + 1, 1)
    joined = joined.filter(joined.paid_day.truncate("M").cast("date") == wanted)
    return joined.group_by("customer_id").aggregate(
        last_day=joined.paid_day.max(), orders=joined.count(), amount=joined.paid_amount.sum()
    )


def _as_date(value: Any) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def rfm_scored(
    tables: Tables,
    start: dt.date,
    end: dt.date,
    *,
    shop_ids: Iterable[int] | None,
    channels: Iterable[str] | None,
) -> tuple[Any, int, Decimal, dt.date]:
    """Every buyer who paid in the range with last_day, orders, amount and the RFM `segment` code ("101"),
    plus the number of buyers, the high-value threshold (their mean) and the first "recent" day."""
    import ibis

    paid = _paid_orders(tables, shop_ids, channels)
    paid = paid.filter(paid.paid_day >= start, paid.paid_day <= end)
    per_buyer = paid.group_by("customer_id").aggregate(
        last_day=paid.paid_day.max(), orders=paid.count(), amount=paid.paid_amount.sum()
    )
    totals = (
        per_buyer.aggregate(buyers=per_buyer.count(), amount=per_buyer.amount.sum())
        .to_pyarrow()
        .to_pylist()[0]
    )
    buyers = int(totals["buyers"] or 0)
    mean = (Decimal(totals["amount"] or 0) / buyers).quantize(Decimal("0.01")) if buyers else Decimal("0.00")
    recent_since = end - dt.timedelta(days=RFM_RECENT_DAYS - 1)
    scored = per_buyer.mutate(
        segment=ibis.ifelse(per_buyer.last_day >= recent_since, "1", "0")
        .concat(ibis.ifelse(per_buyer.orders >= RFM_FREQUENT_ORDERS, "1", "0"))
        .concat(ibis.ifelse(per_buyer.amount >= mean, "1", "0"))
    )
    return scored, buyers, mean, recent_since


def rfm(
    tables: Tables,
    start: dt.date,
    end: dt.date,
    *,
    shop_ids: Iterable[int] | None,
    channels: Iterable[str] | None,
) -> tuple[list[RfmSegment], dict[str, Any]]:
    """RFM segments of the buyers who paid in the range: recent = last paid order within 30 days of the
    range's end, frequent = ≥ 2 paid orders in the range, high value = paid amount ≥ the buyers' mean."""
    scored, buyers, mean, recent_since = rfm_scored(tables, start, end, shop_ids=shop_ids, channels=channels)
    counts = {
        row["segment"]: row
        for row in scored.aggregate(by="segment", buyers=scored.count(), amount=scored.amount.sum())
        .to_pyarrow()
        .to_pylist()
    }
    segments = []
    for code, (name, label) in RFM_SEGMENTS.items():
        found = counts.get(code, {})
        count = int(found.get("buyers") or 0)
        segments.append(
            RfmSegment(
                code=name,
                label=label,
                recent=code[0] == "1",
                frequent=code[1] == "1",
                high_value=code[2] == "1",
                buyers=count,
                paid_amount=Decimal(found.get("amount") or 0).quantize(Decimal("0.01")),
                share=ratio(count, buyers),
            )
        )
    thresholds = {
        "recent_days": RFM_RECENT_DAYS,
        "recent_since": recent_since,
        "frequent_orders": RFM_FREQUENT_ORDERS,
        "high_value_amount": mean,
    }
    return segments, thresholds
