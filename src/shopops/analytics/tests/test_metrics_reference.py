"""An independent, plain-Python computation of the base measures over raw rows (the tests' oracle).

Written from the definitions in docs/metrics.md, row by row, without Ibis or SQL.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

VIEWS = {"page_view", "product_view"}


def _period(day: dt.date, grain: str | None, start: dt.date) -> tuple[dt.date, dt.date]:
    """The key of `day`'s period and the period's first day within the range."""
    if grain is None:
        return start, start
    if grain == "day":
        key = day
    elif grain == "week":
        key = day - dt.timedelta(days=day.weekday())
    else:
        key = day.replace(day=1)
    return key, max(key, start)


def _visits(events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    by_visitor: dict[tuple[int, str], list[Mapping[str, Any]]] = defaultdict(list)
    for row in events:
        if row["visitor_id"]:
            by_visitor[(row["shop_id"], row["visitor_id"])].append(row)
    visits: list[dict[str, Any]] = []
    for rows in by_visitor.values():
        rows.sort(key=lambda row: (row["ts"], row["event_id"]))
        current: list[Mapping[str, Any]] = []
        for row in rows:
            if current and (row["ts"] - current[-1]["ts"]) > dt.timedelta(minutes=30):
                visits.append(_visit(current))
                current = []
            current.append(row)
        visits.append(_visit(current))
    return visits


def _visit(rows: list[Mapping[str, Any]]) -> dict[str, Any]:
    first, last = rows[0], rows[-1]
    return {
        "day": first["day"],
        "source": first["source"],
        "product": first["product"],
        "shop_id": first["shop_id"],
        "channel": first["channel"],
        "views": sum(1 for row in rows if row["type"] in VIEWS),
        "duration_ms": (last["ts"] - first["ts"]) // dt.timedelta(milliseconds=1),
    }


def reference_measures(  # noqa: C901 - a straight-line oracle is easier to audit in one piece
    data: Mapping[str, Sequence[Mapping[str, Any]]],
    start: dt.date,
    end: dt.date,
    *,
    grain: str | None = None,
    shop_ids: Sequence[int] | None = None,
    sources: Sequence[str] | None = None,
    lookback_days: int | None = 365,
    refund_window_days: int = 30,
) -> dict[Any, dict[str, Any]]:
    """Base measures per period key (the range start when grain is None)."""

    def shop_ok(row: Mapping[str, Any]) -> bool:
        return shop_ids is None or row["shop_id"] in shop_ids

    def source_ok(row: Mapping[str, Any]) -> bool:
        return sources is None or row["source"] in sources

    def in_range(day: dt.date | None) -> bool:
        return day is not None and start <= day <= end

    out: dict[Any, dict[str, Any]] = defaultdict(dict)
    events = data.get("events", [])
    first_seen: dict[str, dt.date] = {}
    for row in events:
        if not shop_ok(row):
            continue
        if row["visitor_id"] not in first_seen or row["day"] < first_seen[row["visitor_id"]]:
            first_seen[row["visitor_id"]] = row["day"]
    groups: dict[Any, list[Mapping[str, Any]]] = defaultdict(list)
    for row in events:
        if in_range(row["day"]) and shop_ok(row) and source_ok(row):
            groups[_period(row["day"], grain, start)].append(row)
    for (key, period_start), rows in groups.items():
        visitors = {row["visitor_id"] for row in rows if row["visitor_id"]}
        out[key].update(
            pv=sum(1 for row in rows if row["type"] in VIEWS),
            visitors=len(visitors),
            ips=len({row["ip_key"] for row in rows if row["ip_key"]}),
            new_visitors=len(
                {
                    visitor
                    for visitor in visitors
                    if first_seen[visitor] >= period_start
                    and _period(first_seen[visitor], grain, start)[0] == key
                }
            ),
            product_views=sum(1 for row in rows if row["type"] == "product_view"),
            product_visitors=_distinct(rows, "product_view"),
            cart_visitors=_distinct(rows, "add_to_cart"),
            checkout_visitors=_distinct(rows, "checkout_start"),
        )
    visit_groups: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for visit in _visits([row for row in events if shop_ok(row)]):
        if in_range(visit["day"]) and source_ok(visit):
            visit_groups[_period(visit["day"], grain, start)[0]].append(visit)
    for key, visits in visit_groups.items():
        out[key].update(
            sessions=len(visits),
            bounce_sessions=sum(1 for visit in visits if visit["views"] == 1),
            multi_page_sessions=sum(1 for visit in visits if visit["views"] >= 2),
            duration_seconds=sum(visit["duration_ms"] for visit in visits if visit["views"] >= 2) // 1000,
        )
    orders = [row for row in data.get("orders", []) if shop_ok(row) and source_ok(row)]

    def buyer(row: Mapping[str, Any]) -> int | None:
        return row["customer_id"]

    placed: dict[Any, list[Mapping[str, Any]]] = defaultdict(list)
    for row in orders:
        if in_range(row["created_day"]):
            placed[_period(row["created_day"], grain, start)[0]].append(row)
    for key, rows in placed.items():
        out[key].update(
            orders=len(rows),
            order_amount=sum(
                (row["goods_amount"] + row["shipping_fee"] - row["discount_amount"] for row in rows),
                Decimal("0.00"),
            ),
            valid_orders=sum(1 for row in rows if row["is_valid"]),
            ordering_buyers=len({buyer(row) for row in rows} - {None}),
        )
    paid_all = [row for row in orders if row["is_valid"] and row["paid_day"] is not None]
    # a buyer's history ignores the source filter: only shops (and channels) scope it
    history = [
        row
        for row in data.get("orders", [])
        if shop_ok(row) and row["is_valid"] and row["paid_day"] is not None
    ]
    paid: dict[Any, list[Mapping[str, Any]]] = defaultdict(list)
    starts: dict[Any, dt.date] = {}
    for row in paid_all:
        if in_range(row["paid_day"]):
            key, period_start = _period(row["paid_day"], grain, start)
            paid[key].append(row)
            starts[key] = period_start
    for key, rows in paid.items():
        period_start = starts[key]
        buyers = {buyer(row) for row in rows} - {None}
        earlier: dict[int | None, list[dt.date]] = defaultdict(list)
        for row in history:
            if row["paid_day"] < period_start:
                earlier[buyer(row)].append(row["paid_day"])
        refunded = [
            row
            for row in rows
            if row["first_refund_at"] is not None
            and row["first_refund_at"] - row["paid_at"] <= dt.timedelta(days=refund_window_days)
        ]
        counts: dict[int, int] = defaultdict(int)
        for row in rows:
            if buyer(row) is not None:
                counts[buyer(row)] += 1
        out[key].update(
            paid_orders=len(rows),
            paid_amount=_sum(rows, "paid_amount"),
            paying_buyers=len(buyers),
            units=sum(row["units"] for row in rows),
            net_sales=_sum(rows, "net_sales"),
            cogs=_sum(rows, "cogs"),
            refund_orders=len(refunded),
            refund_amount=_sum(refunded, "refunded_amount"),
            new_buyers=sum(1 for person in buyers if not earlier[person]),
            returning_buyers=sum(
                1
                for person in buyers
                if any(
                    lookback_days is None or day >= period_start - dt.timedelta(days=lookback_days)
                    for day in earlier[person]
                )
            ),
            repeat_buyers=sum(1 for count in counts.values() if count >= 2),
        )
    if sources is None:
        _add_sums(
            out,
            [row for row in data.get("ad_spend", []) if shop_ok(row) and in_range(row["day"])],
            lambda row: _period(row["day"], grain, start)[0],
            {"spend": "spend", "attributed_revenue": "attributed_revenue"},
        )
        _add_sums(
            out,
            [
                row
                for row in data.get("traffic_reports", [])
                if shop_ok(row) and in_range(row["day"]) and row["product_code"] == ""
            ],
            lambda row: _period(row["day"], grain, start)[0],
            {
                "reported_visitors": "visitors",
                "reported_page_views": "page_views",
                "reported_paying_buyers": "paying_buyers",
                "reported_paid_amount": "paid_amount",
            },
        )
    return dict(out)


def _distinct(rows: Sequence[Mapping[str, Any]], kind: str) -> int:
    return len({row["visitor_id"] for row in rows if row["type"] == kind and row["visitor_id"]})


def _sum(rows: Sequence[Mapping[str, Any]], column: str) -> Decimal:
    return sum((row[column] for row in rows if row[column] is not None), Decimal("0.00"))


def _add_sums(
    out: dict[Any, dict[str, Any]],
    rows: Sequence[Mapping[str, Any]],
    key_of: Callable[[Mapping[str, Any]], Any],
    names: Mapping[str, str],
) -> None:
    for row in rows:
        target = out.setdefault(key_of(row), {})
        for name, column in names.items():
            if row[column] is not None:
                target[name] = target.get(name, 0) + row[column]


def product_reference(
    data: Mapping[str, Sequence[Mapping[str, Any]]], start: dt.date, end: dt.date
) -> dict[str, dict[str, Any]]:
    """Per product: views and visitors from events, sales from valid paid lines in the range."""
    out: dict[str, dict[str, Any]] = defaultdict(dict)
    events = [row for row in data.get("events", []) if start <= row["day"] <= end and row["product"]]
    for product in {row["product"] for row in events}:
        rows = [row for row in events if row["product"] == product]
        out[product].update(
            product_views=sum(1 for row in rows if row["type"] == "product_view"),
            product_visitors=_distinct(rows, "product_view"),
            cart_visitors=_distinct(rows, "add_to_cart"),
        )
    orders = {row["order_id"]: row for row in data.get("orders", [])}
    lines = [
        row
        for row in data.get("order_lines", [])
        if row["is_valid"] and row["paid_day"] is not None and start <= row["paid_day"] <= end
    ]
    for product in {row["product_code"] for row in lines}:
        rows = [row for row in lines if row["product_code"] == product]
        owners = [orders[row["order_id"]] for row in rows]
        out[product].update(
            units=sum(row["quantity"] for row in rows),
            paid_amount=_sum(rows, "amount"),
            cogs=_sum(rows, "cogs"),
            refunded_units=sum(row["refunded_quantity"] for row in rows),
            paid_orders=len({row["order_id"] for row in rows}),
            paying_buyers=len({owner["customer_id"] for owner in owners} - {None}),
        )
    return dict(out)
