"""The base measures, defined once as Ibis expressions over the raw tables (runs on DuckDB and on Spark).

Each measure family (event traffic, sessions, placed orders, paid orders, product lines, ad spend,
platform reports) is one aggregate query grouped by the requested dimensions; the families are merged
in Python on the group key. Nothing here is backend specific: the same code runs over
`ibis.duckdb` and `ibis.pyspark` tables read from the same Parquet (proved in test_spark_definitions).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from shopops.analytics.metrics.conventions import Conventions
from shopops.core.lazy import lazy_module

if TYPE_CHECKING:
    import ibis
    import ibis.expr.types as ir
else:
    ibis = lazy_module("ibis")  # imported when a measure is computed, not at start-up

VIEW_TYPES: tuple[str, ...] = ("page_view", "product_view")
SESSION_IDLE_MINUTES = 30

TIME_DIMENSIONS: tuple[str, ...] = ("day", "week", "month")
DIMENSIONS: tuple[str, ...] = (*TIME_DIMENSIONS, "shop_id", "channel", "source", "product")

TRAFFIC_MEASURES: tuple[str, ...] = (
    "pv",
    "visitors",
    "ips",
    "new_visitors",
    "product_views",
    "product_visitors",
    "cart_visitors",
    "checkout_visitors",
)
SESSION_MEASURES: tuple[str, ...] = ("sessions", "bounce_sessions", "duration_seconds", "multi_page_sessions")
PLACED_MEASURES: tuple[str, ...] = ("orders", "order_amount", "valid_orders", "ordering_buyers")
PAID_MEASURES: tuple[str, ...] = (
    "paid_orders",
    "paid_amount",
    "paying_buyers",
    "units",
    "net_sales",
    "cogs",
    "refund_orders",
    "refund_amount",
)
BUYER_MEASURES: tuple[str, ...] = ("new_buyers", "returning_buyers", "repeat_buyers")
MARKETING_MEASURES: tuple[str, ...] = ("spend", "attributed_revenue")
REPORTED_MEASURES: tuple[str, ...] = (
    "reported_visitors",
    "reported_page_views",
    "reported_paying_buyers",
    "reported_paid_amount",
)
# only with by=("product", …): units refunded on the product's lines (return rate)
PRODUCT_LINE_MEASURES: tuple[str, ...] = ("refunded_units",)

BASE_MEASURES: tuple[str, ...] = (
    *TRAFFIC_MEASURES,
    *SESSION_MEASURES,
    *PLACED_MEASURES,
    *PAID_MEASURES,
    *BUYER_MEASURES,
    *MARKETING_MEASURES,
    *REPORTED_MEASURES,
)
MONEY_MEASURES: frozenset[str] = frozenset(
    {
        "order_amount",
        "paid_amount",
        "net_sales",
        "cogs",
        "refund_amount",
        "spend",
        "attributed_revenue",
        "reported_paid_amount",
    }
)
ZERO_MONEY = Decimal("0.00")


class UnknownDimension(ValueError):
    """`by` names a dimension the base measures cannot be grouped by."""


@dataclass(frozen=True)
class Scope:
    """The date range (inclusive, Asia/Shanghai days) and the filters of one query."""

    start: dt.date
    end: dt.date
    shop_ids: tuple[int, ...] | None = None
    channels: tuple[str, ...] | None = None
    sources: tuple[str, ...] | None = None
    products: tuple[str, ...] | None = None


def base_measures(
    tables: Mapping[str, ir.Table],
    start: dt.date,
    end: dt.date,
    *,
    shop_ids: Iterable[int] | None = None,
    channels: Iterable[str] | None = None,
    sources: Iterable[str] | None = None,
    products: Iterable[str] | None = None,
    conventions: Conventions | None = None,
) -> dict[str, Any]:
    """Every base measure over the whole range (distinct counts exact over the range)."""
    rows = grouped_measures(
        tables,
        start,
        end,
        by=(),
        shop_ids=shop_ids,
        channels=channels,
        sources=sources,
        products=products,
        conventions=conventions,
    )
    return rows[0]


def grouped_measures(
    tables: Mapping[str, ir.Table],
    start: dt.date,
    end: dt.date,
    *,
    by: Sequence[str] = (),
    shop_ids: Iterable[int] | None = None,
    channels: Iterable[str] | None = None,
    sources: Iterable[str] | None = None,
    products: Iterable[str] | None = None,
    conventions: Conventions | None = None,
) -> list[dict[str, Any]]:
    """Base measures per group of `by` (day/week/month/shop_id/channel/source/product), sorted by group.

    Families that cannot be split by a requested dimension or filter (ad spend and platform reports
    have no traffic source; paid-order buyer measures have no product) are left out of the rows, so
    the metrics derived from them are None rather than wrong.
    """
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    unknown = [dimension for dimension in by if dimension not in DIMENSIONS]
    if unknown:
        raise UnknownDimension(f"unknown dimensions {unknown}; allowed: {list(DIMENSIONS)}")
    if sum(dimension in TIME_DIMENSIONS for dimension in by) > 1:
        raise UnknownDimension("group by at most one of day, week, month")
    scope = Scope(
        start=start,
        end=end,
        shop_ids=_tuple(shop_ids),
        channels=_tuple(channels),
        sources=_tuple(sources),
        products=_tuple(products),
    )
    by = tuple(by)
    return _merge(by, _families(tables, scope, by, conventions or Conventions()))


Family = tuple[tuple[str, ...], Callable[[], list[dict[str, Any]]]]


def _families(
    tables: Mapping[str, ir.Table], scope: Scope, by: tuple[str, ...], conventions: Conventions
) -> list[Family]:
    """The measure families that apply to this grouping and these filters, each a deferred query."""
    families: list[Family] = []
    if "events" in tables:
        families.append((TRAFFIC_MEASURES, lambda: _traffic(tables["events"], scope, by)))
        families.append((SESSION_MEASURES, lambda: _sessions(tables["events"], scope, by)))
    if "product" in by or scope.products is not None:
        if "order_lines" in tables and "orders" in tables:
            families.append(
                (
                    (*PLACED_MEASURES, *PAID_MEASURES, *PRODUCT_LINE_MEASURES),
                    lambda: _product_lines(tables["order_lines"], tables["orders"], scope, by, conventions),
                )
            )
    elif "orders" in tables:
        families.append((PLACED_MEASURES, lambda: _placed(tables["orders"], scope, by)))
        families.append(
            ((*PAID_MEASURES, *BUYER_MEASURES), lambda: _paid(tables["orders"], scope, by, conventions))
        )
    if "source" not in by and scope.sources is None:
        if "product" not in by and scope.products is None and "ad_spend" in tables:
            families.append((MARKETING_MEASURES, lambda: _marketing(tables["ad_spend"], scope, by)))
        if "traffic_reports" in tables:
            families.append((REPORTED_MEASURES, lambda: _reported(tables["traffic_reports"], scope, by)))
    return families


def _tuple(values: Iterable[Any] | None) -> tuple[Any, ...] | None:
    return None if values is None else tuple(values)


def _bucket(day: ir.DateValue, grain: str) -> ir.DateValue:
    if grain == "day":
        return day
    unit = {"week": "W", "month": "M"}[grain]
    return day.truncate(unit).cast("date")


def _time_grain(by: Sequence[str]) -> str | None:
    return next((dimension for dimension in by if dimension in TIME_DIMENSIONS), None)


def _keys(table: ir.Table, by: Sequence[str], *, day: str, columns: Mapping[str, str]) -> list[ir.Value]:
    """Named group-key expressions; `columns` maps a dimension to the table's column."""
    keys: list[ir.Value] = []
    for dimension in by:
        if dimension in TIME_DIMENSIONS:
            keys.append(_bucket(table[day], dimension).name(dimension))
        else:
            keys.append(table[columns.get(dimension, dimension)].name(dimension))
    return keys


def _in(column: ir.Value, values: tuple[Any, ...] | None) -> ir.BooleanValue | None:
    return None if values is None else column.isin(list(values))


def _where(table: ir.Table, *conditions: ir.BooleanValue | None) -> ir.Table:
    wanted = [condition for condition in conditions if condition is not None]
    return table.filter(*wanted) if wanted else table


def _in_range(day: ir.DateValue, scope: Scope) -> ir.BooleanValue:
    return (day >= scope.start) & (day <= scope.end)


def _bucket_start(day: ir.DateValue, grain: str | None, scope: Scope) -> ir.DateValue:
    """The first day of the group's period within the range: the range start, or the bucket start."""
    if grain is None:
        return ibis.literal(scope.start, type="date")
    return ibis.greatest(_bucket(day, grain), ibis.literal(scope.start, type="date"))


def _history_dimensions(by: Sequence[str]) -> list[str]:
    """The group dimensions a visitor's or buyer's history is kept apart by (shop and channel only)."""
    return [dimension for dimension in ("shop_id", "channel") if dimension in by]


def _traffic(events: ir.Table, scope: Scope, by: Sequence[str]) -> list[dict[str, Any]]:
    history = _history_dimensions(by)
    # a visitor is new when its first event in scope (filters on shop and channel, and the group's
    # shop and channel) falls in the group's period
    in_scope = _where(
        events,
        events.visitor_id != "",
        _in(events.shop_id, scope.shop_ids),
        _in(events.channel, scope.channels),
    )
    first_seen = in_scope.group_by(["visitor_id", *history]).aggregate(first_day=in_scope.day.min())
    scoped = _where(
        events,
        _in_range(events.day, scope),
        _in(events.shop_id, scope.shop_ids),
        _in(events.channel, scope.channels),
        _in(events.source, scope.sources),
        _in(events.product, scope.products),
        events.product != "" if "product" in by else None,
    )
    scoped = scoped.left_join(
        first_seen, [scoped[name] == first_seen[name] for name in ("visitor_id", *history)]
    ).select(*[scoped[name] for name in scoped.columns], first_seen.first_day)
    grain = _time_grain(by)
    is_new = scoped.first_day >= _bucket_start(scoped.day, grain, scope)
    if grain is not None:
        is_new = is_new & (_bucket(scoped.first_day, grain) == _bucket(scoped.day, grain))
    known_visitor = scoped.visitor_id != ""
    keys = _keys(scoped, by, day="day", columns={})
    aggregate = scoped.aggregate(
        by=keys,
        pv=scoped.count(where=scoped.type.isin(list(VIEW_TYPES))),
        visitors=scoped.visitor_id.nunique(where=known_visitor),
        ips=scoped.ip_key.nunique(where=scoped.ip_key != ""),
        new_visitors=scoped.visitor_id.nunique(where=known_visitor & is_new),
        product_views=scoped.count(where=scoped.type == "product_view"),
        product_visitors=scoped.visitor_id.nunique(where=known_visitor & (scoped.type == "product_view")),
        cart_visitors=scoped.visitor_id.nunique(where=known_visitor & (scoped.type == "add_to_cart")),
        checkout_visitors=scoped.visitor_id.nunique(where=known_visitor & (scoped.type == "checkout_start")),
    )
    return _rows(aggregate)


def sessions_table(events: ir.Table, scope: Scope) -> ir.Table:
    """One row per visit: per shop and visitor, a new visit starts after 30 minutes without an event.

    A visit takes the day, source, channel and product of its first event (so a visit that crosses
    midnight belongs to the day it began). Durations are in milliseconds.
    """
    scoped = _where(
        events,
        events.visitor_id != "",
        _in(events.shop_id, scope.shop_ids),
        _in(events.channel, scope.channels),
    )
    window = ibis.window(group_by=[scoped.shop_id, scoped.visitor_id], order_by=[scoped.ts, scoped.event_id])
    previous = scoped.ts.lag().over(window)
    starts = previous.isnull() | (scoped.ts > previous + ibis.interval(minutes=SESSION_IDLE_MINUTES))
    # epoch milliseconds: both engines give whole epoch seconds and the millisecond part portably
    epoch_ms = scoped.ts.epoch_seconds().floor().cast("int64") * 1000 + scoped.ts.millisecond().cast("int64")
    marked = scoped.mutate(
        is_start=starts.cast("int64"),
        is_view=scoped.type.isin(list(VIEW_TYPES)).cast("int64"),
        epoch_ms=epoch_ms,
    )
    marked = marked.mutate(visit_number=marked.is_start.cumsum().over(window))
    first = marked.is_start == 1
    return marked.group_by(["shop_id", "visitor_id", "visit_number"]).aggregate(
        day=marked.day.max(where=first),
        channel=marked.channel.max(where=first),
        source=marked.source.max(where=first),
        product=marked.product.max(where=first),
        views=marked.is_view.sum(),
        duration_ms=marked.epoch_ms.max() - marked.epoch_ms.min(),
    )


def _sessions(events: ir.Table, scope: Scope, by: Sequence[str]) -> list[dict[str, Any]]:
    visits = sessions_table(events, scope)
    visits = _where(
        visits,
        _in_range(visits.day, scope),
        _in(visits.source, scope.sources),
        _in(visits.product, scope.products),
        visits.product != "" if "product" in by else None,
    )
    keys = _keys(visits, by, day="day", columns={})
    aggregate = visits.aggregate(
        by=keys,
        sessions=visits.count(),
        bounce_sessions=visits.count(where=visits.views == 1),
        duration_ms=visits.duration_ms.sum(where=visits.views >= 2),
        multi_page_sessions=visits.count(where=visits.views >= 2),
    )
    rows = _rows(aggregate)
    for row in rows:
        row["duration_seconds"] = (row.pop("duration_ms") or 0) // 1000
    return rows


def _scoped_orders(orders: ir.Table, scope: Scope) -> ir.Table:
    return _where(
        orders,
        _in(orders.shop_id, scope.shop_ids),
        _in(orders.channel, scope.channels),
        _in(orders.source, scope.sources),
    )


def _placed(orders: ir.Table, scope: Scope, by: Sequence[str]) -> list[dict[str, Any]]:
    placed = _scoped_orders(orders, scope)
    placed = placed.filter(_in_range(placed.created_day, scope))
    keys = _keys(placed, by, day="created_day", columns={})
    aggregate = placed.aggregate(
        by=keys,
        orders=placed.count(),
        order_amount=(placed.goods_amount + placed.shipping_fee - placed.discount_amount).sum(),
        valid_orders=placed.count(where=placed.is_valid),
        ordering_buyers=placed.customer_id.nunique(),
    )
    return _rows(aggregate)


def _refunded(orders: ir.Table, conventions: Conventions) -> ir.BooleanValue:
    deadline = orders.paid_at + ibis.interval(days=conventions.refund_window_days)
    return orders.first_refund_at.notnull() & (orders.first_refund_at <= deadline)


def _buyer_flags(orders: ir.Table, scope: Scope, by: Sequence[str], conventions: Conventions) -> ir.Table:
    """Per buyer, history dimensions and period start in the range: is the buyer new, returning?

    Paid orders before the range are keyed by their own day and those in it by their period's start,
    so the previous key's last paid day is the buyer's latest paid order before the period.
    """
    history = _history_dimensions(by)
    grain = _time_grain(by)
    paid = _where(
        orders,
        _in(orders.shop_id, scope.shop_ids),
        _in(orders.channel, scope.channels),
        orders.is_valid,
        orders.paid_day.notnull(),
        orders.customer_id.notnull(),
        orders.paid_day <= scope.end,
    )
    key = ibis.ifelse(paid.paid_day >= scope.start, _bucket_start(paid.paid_day, grain, scope), paid.paid_day)
    per_key = paid.group_by(
        [paid.customer_id, *[paid[name] for name in history], key.name("period_start")]
    ).aggregate(last_day=paid.paid_day.max())
    window = ibis.window(
        group_by=[per_key.customer_id, *[per_key[name] for name in history]], order_by=per_key.period_start
    )
    per_key = per_key.mutate(previous_day=per_key.last_day.lag().over(window))
    per_key = per_key.filter(per_key.period_start >= scope.start)
    is_returning = per_key.previous_day.notnull()
    if conventions.returning_lookback_days is not None:
        lookback = ibis.interval(days=conventions.returning_lookback_days)
        is_returning = is_returning & (per_key.previous_day >= per_key.period_start - lookback)
    return per_key.select(
        "customer_id",
        *history,
        "period_start",
        is_new=per_key.previous_day.isnull(),
        is_returning=is_returning,
    )


def _paid(
    orders: ir.Table, scope: Scope, by: Sequence[str], conventions: Conventions
) -> list[dict[str, Any]]:
    paid = _scoped_orders(orders, scope)
    paid = paid.filter(paid.is_valid, paid.paid_day.notnull(), _in_range(paid.paid_day, scope))
    grain = _time_grain(by)
    dimensions = [dimension for dimension in by if dimension not in TIME_DIMENSIONS]
    paid = paid.mutate(period_start=_bucket_start(paid.paid_day, grain, scope))
    in_period = ibis.window(
        group_by=[paid.customer_id, paid.period_start, *[paid[name] for name in dimensions]],
        order_by=[paid.paid_at, paid.order_id],
    )
    paid = paid.mutate(
        rank_in_period=ibis.row_number().over(in_period), is_refunded=_refunded(paid, conventions)
    )
    flags = _buyer_flags(orders, scope, by, conventions)
    history = _history_dimensions(by)
    joined = paid.left_join(
        flags, [paid[name] == flags[name] for name in ("customer_id", *history, "period_start")]
    ).select(*[paid[name] for name in paid.columns], flags.is_new, flags.is_returning)
    keys = _keys(joined, by, day="paid_day", columns={})
    aggregate = joined.aggregate(
        by=keys,
        paid_orders=joined.count(),
        paid_amount=joined.paid_amount.sum(),
        paying_buyers=joined.customer_id.nunique(),
        units=joined.units.sum(),
        net_sales=joined.net_sales.sum(),
        cogs=joined.cogs.sum(),
        refund_orders=joined.count(where=joined.is_refunded),
        refund_amount=joined.refunded_amount.sum(where=joined.is_refunded),
        new_buyers=joined.customer_id.nunique(where=joined.is_new),
        returning_buyers=joined.customer_id.nunique(where=joined.is_returning),
        repeat_buyers=joined.customer_id.nunique(where=joined.rank_in_period == 1),
    )
    return _rows(aggregate)


def _product_lines(
    lines: ir.Table, orders: ir.Table, scope: Scope, by: Sequence[str], conventions: Conventions
) -> list[dict[str, Any]]:
    owners = orders.select(
        owner_id=orders.order_id,
        customer_id=orders.customer_id,
        source=orders.source,
        paid_at=orders.paid_at,
        first_refund_at=orders.first_refund_at,
    )
    joined = lines.join(owners, lines.order_id == owners.owner_id)
    joined = _where(
        joined,
        _in(joined.shop_id, scope.shop_ids),
        _in(joined.channel, scope.channels),
        _in(joined.source, scope.sources),
        _in(joined.product_code, scope.products),
    )
    columns = {"product": "product_code"}
    placed = joined.filter(_in_range(joined.created_day, scope))
    placed_rows = _rows(
        placed.aggregate(
            by=_keys(placed, by, day="created_day", columns=columns),
            orders=placed.order_id.nunique(),
            order_amount=placed.amount.sum(),
            valid_orders=placed.order_id.nunique(where=placed.is_valid),
            ordering_buyers=placed.customer_id.nunique(),
        )
    )
    paid = joined.filter(joined.is_valid, joined.paid_day.notnull(), _in_range(joined.paid_day, scope))
    is_refunded = _refunded(paid, conventions) & (paid.refunded_amount > 0)
    paid_rows = _rows(
        paid.aggregate(
            by=_keys(paid, by, day="paid_day", columns=columns),
            paid_orders=paid.order_id.nunique(),
            paid_amount=paid.amount.sum(),
            paying_buyers=paid.customer_id.nunique(),
            units=paid.quantity.sum(),
            net_sales=(paid.amount - paid.refunded_amount).sum(),
            cogs=paid.cogs.sum(),
            refund_orders=paid.order_id.nunique(where=is_refunded),
            refund_amount=paid.refunded_amount.sum(where=is_refunded),
            refunded_units=paid.refunded_quantity.sum(),
        )
    )
    return _merge_rows(by, [placed_rows, paid_rows])


def _marketing(ad_spend: ir.Table, scope: Scope, by: Sequence[str]) -> list[dict[str, Any]]:
    spend = _where(
        ad_spend,
        _in_range(ad_spend.day, scope),
        _in(ad_spend.shop_id, scope.shop_ids),
        _in(ad_spend.channel, scope.channels),
    )
    aggregate = spend.aggregate(
        by=_keys(spend, by, day="day", columns={}),
        spend=spend.spend.sum(),
        attributed_revenue=spend.attributed_revenue.sum(),
    )
    return _rows(aggregate)


def _reported(reports: ir.Table, scope: Scope, by: Sequence[str]) -> list[dict[str, Any]]:
    # whole-shop rows (product_code "") unless products are asked for; platforms' visitors are
    # already distinct per day only, so a range sums them (documented caveat)
    per_product = "product" in by or scope.products is not None
    rows = _where(
        reports,
        _in_range(reports.day, scope),
        _in(reports.shop_id, scope.shop_ids),
        _in(reports.channel, scope.channels),
        reports.product_code != "" if per_product else reports.product_code == "",
        _in(reports.product_code, scope.products),
    )
    aggregate = rows.aggregate(
        by=_keys(rows, by, day="day", columns={"product": "product_code"}),
        reported_visitors=rows.visitors.sum(),
        reported_page_views=rows.page_views.sum(),
        reported_paying_buyers=rows.paying_buyers.sum(),
        reported_paid_amount=rows.paid_amount.sum(),
    )
    return _rows(aggregate)


def _rows(expression: ir.Table) -> list[dict[str, Any]]:
    return expression.to_pyarrow().to_pylist()


def _normalise(name: str, value: Any) -> Any:
    if name in MONEY_MEASURES:
        return ZERO_MONEY if value is None else Decimal(value).quantize(ZERO_MONEY)
    return 0 if value is None else int(value)


def _key_value(dimension: str, value: Any) -> Any:
    if dimension in TIME_DIMENSIONS and isinstance(value, dt.datetime):
        return value.date()
    return value


def _merge_rows(by: Sequence[str], parts: Iterable[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for part in parts:
        for row in part:
            key = tuple(_key_value(dimension, row[dimension]) for dimension in by)
            target = merged.setdefault(key, dict(zip(by, key, strict=True)))
            target.update({name: value for name, value in row.items() if name not in by})
    return list(merged.values())


def _merge(by: Sequence[str], families: Sequence[Family]) -> list[dict[str, Any]]:
    merged = _merge_rows(by, (run() for _names, run in families))
    if not by and not merged:
        merged = [{}]
    names = [name for family_names, _run in families for name in family_names]
    rows = [
        {
            **{dimension: row[dimension] for dimension in by},
            **{name: _normalise(name, row.get(name)) for name in names},
        }
        for row in merged
    ]
    return sorted(rows, key=lambda row: tuple(_sort_key(row[dimension]) for dimension in by))


def _sort_key(value: Any) -> tuple[int, Any]:
    return (1, "") if value is None else (0, value)
