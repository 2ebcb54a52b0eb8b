"""`measures()`: the base measures over any date range and grouping, read from the rollups.

Sums come from the per-day rollup rows; distinct counts (visitors, IPs, buyers) are unions of the
per-day roaring bitmaps, so a range count is exact. Order measures broken down by product read the
line facts with DuckDB (orders have no product; a line-level rollup would be as large as the facts).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
from pyroaring import BitMap, BitMap64

from shopops.analytics.warehouse import store, tables

GROUP_KEYS = ("day", "week", "month", "shop_id", "channel", "source", "product")
TRAFFIC_SUMS = ("pv", "product_views", "sessions", "bounce_sessions", "multi_page_sessions", "duration_ms")
TRAFFIC_SETS = ("visitors", "ips", "product_visitors", "cart_visitors", "checkout_visitors")
ORDER_SUMS = (
    "orders",
    "order_amount",
    "valid_orders",
    "paid_orders",
    "paid_amount",
    "units",
    "net_sales",
    "cogs",
    "refund_orders",
    "refund_amount",
)
REFUND_WINDOW_DAYS = 30
# Measure families and their order in a result row: the same as metrics.definitions.
TRAFFIC_MEASURES = (
    "pv",
    "visitors",
    "ips",
    "new_visitors",
    "product_views",
    "product_visitors",
    "cart_visitors",
    "checkout_visitors",
    "sessions",
    "bounce_sessions",
    "duration_seconds",
    "multi_page_sessions",
)
PLACED_MEASURES = ("orders", "order_amount", "valid_orders", "ordering_buyers")
PAID_MEASURES = (
    "paid_orders",
    "paid_amount",
    "paying_buyers",
    "units",
    "net_sales",
    "cogs",
    "refund_orders",
    "refund_amount",
)
BUYER_MEASURES = ("new_buyers", "returning_buyers", "repeat_buyers")
MARKETING_MEASURES = ("spend", "attributed_revenue")
REPORTED_MEASURES = (
    "reported_visitors",
    "reported_page_views",
    "reported_paying_buyers",
    "reported_paid_amount",
)
REPORTED_SUMS = REPORTED_MEASURES
MONEY_MEASURES = frozenset(
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
ZERO = Decimal("0.00")


def period_start(day: date, grain: str) -> date:
    if grain == "week":
        return day - timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    return day


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=offset) for offset in range((end - start).days + 1)]


class _Query:
    def __init__(
        self,
        start: date,
        end: date,
        *,
        shop_ids: Sequence[int] | None,
        channels: Sequence[str] | None,
        sources: Sequence[str] | None,
        products: Sequence[str] | None,
        by: Sequence[str],
        lookback_days: int | None,
        refund_window_days: int,
        root: Path | None,
        con: duckdb.DuckDBPyConnection | None,
    ) -> None:
        unknown = set(by) - set(GROUP_KEYS)
        if unknown:
            raise ValueError(f"unknown grouping: {sorted(unknown)}")
        if sum(name in ("day", "week", "month") for name in by) > 1:
            raise ValueError("group by at most one of day, week, month")
        if end < start:
            raise ValueError(f"end {end} is before start {start}")
        self.start, self.end = start, end
        self.shop_ids = frozenset(shop_ids) if shop_ids is not None else None
        self.channels = frozenset(channels) if channels is not None else None
        self.sources = frozenset(sources) if sources is not None else None
        self.products = frozenset(products) if products is not None else None
        self.by = tuple(by)
        self.time_grain = next((key for key in self.by if key in ("day", "week", "month")), None)
        self.by_product = "product" in self.by or self.products is not None
        self.lookback_days = lookback_days
        self.refund_window_days = refund_window_days
        self.root = root
        self.con = con
        self.reader = store.reader(root)
        self.groups: dict[tuple[Any, ...], dict[str, Any]] = {}
        self.names: list[str] = []

    # grouping

    def key(self, day: date, shop_id: int, channel: str, source: str, product: str | None) -> tuple[Any, ...]:
        if not self.by:
            return ()
        values = {"day": day, "shop_id": shop_id, "channel": channel, "source": source, "product": product}
        if self.time_grain in ("week", "month"):
            values[self.time_grain] = period_start(day, self.time_grain)
        return tuple(values[name] for name in self.by)

    def group(self, key: tuple[Any, ...]) -> dict[str, Any]:
        found = self.groups.get(key)
        if found is None:
            found = self.groups[key] = defaultdict(int)
        return found

    def scope_matches(self, shop_id: int, channel: str) -> bool:
        return (self.shop_ids is None or shop_id in self.shop_ids) and (
            self.channels is None or channel in self.channels
        )

    def matches(self, shop_id: int, channel: str, source: str | None, product: str | None) -> bool:
        if not self.scope_matches(shop_id, channel):
            return False
        if self.sources is not None and source is not None and source not in self.sources:
            return False
        if product == "" and "product" in self.by:
            return False  # a product breakdown leaves out events without a product
        return self.products is None or product is None or product in self.products

    def group_range(self, key: tuple[Any, ...]) -> tuple[date, date]:
        if self.time_grain is None:
            return self.start, self.end
        first = key[self.by.index(self.time_grain)]
        if self.time_grain == "day":
            last = first
        elif self.time_grain == "week":
            last = first + timedelta(days=6)
        else:
            last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        return max(first, self.start), min(last, self.end)

    def scope_of(self, key: tuple[Any, ...]) -> tuple[Any, Any]:
        """The group's (shop_id, channel) that a visitor's or buyer's history is kept apart by: None = any."""
        return tuple(  # type: ignore[return-value]
            key[self.by.index(name)] if name in self.by else None for name in ("shop_id", "channel")
        )

    # rows

    def rows(self, table: str, days: Sequence[date]) -> Any:
        for day in days:
            data = self.reader.day(table, day)
            if data is None:
                continue
            yield day, data

    def add_sums(
        self, table: str, names: Sequence[str], *, has_source: bool, has_product: bool, platform: bool = False
    ) -> None:
        for day, data in self.rows(table, _days(self.start, self.end)):
            columns = [data.column(name) for name in ("shop_id", "channel")]
            sources = data.column("source") if has_source else [""] * data.table.num_rows
            products = data.column("product") if has_product else [None] * data.table.num_rows
            values = [data.column(name) for name in names]
            for row in range(data.table.num_rows):
                shop_id, channel = columns[0][row], columns[1][row]
                source, product = sources[row], products[row]
                if platform:
                    # platform reports: whole-shop rows (product "") unless products are asked for
                    if (product != "") != self.by_product:
                        continue
                    if not self.by_product:
                        product = None
                if not self.matches(shop_id, channel, source if has_source else None, product):
                    continue
                group = self.group(self.key(day, shop_id, channel, source, product))
                for index, name in enumerate(names):
                    value = values[index][row]
                    if value is not None:
                        group[name] += value

    def collect_sets(self, table: str, kinds: Sequence[str], days: Sequence[date]) -> dict[Any, list[Any]]:
        """(group key, kind) → bitmaps to union, for the matching rows of `days`."""
        has_product = table == "traffic_product_sets"
        found: dict[Any, list[Any]] = defaultdict(list)
        for day, data in self.rows(table, days):
            index = _row_index(data)
            for row, (shop_id, channel, source, product, kind) in enumerate(index):
                if kind not in kinds or not self.matches(shop_id, channel, source, product):
                    continue
                key = self.key(day, shop_id, channel, source, product if has_product else None)
                found[(key, kind)].append(data.bitmap(row))
        return found

    def history(self, table: str, kind: str, key: tuple[Any, ...], before: date, since: date | None) -> Any:
        """Union of `kind` bitmaps over the stored days in [since, before).

        History is scoped by the shop and channel filters and the group's shop and channel only (not
        by source or product), as in metrics.definitions.
        """
        scope = self.scope_of(key)
        memo_key = ("history", table, kind, scope, before, since, self.shop_ids, self.channels)
        cached = self.reader.memo.get(memo_key)
        if cached is not None:
            return cached
        bitmaps: list[Any] = []
        days = (
            store.stored_days(table, self.root) if since is None else _days(since, before - timedelta(days=1))
        )
        for day in days:
            if day >= before:
                break
            data = self.reader.day(table, day)
            if data is None:
                continue
            for row, (shop_id, channel, _source, _product, row_kind) in enumerate(_row_index(data)):
                if row_kind != kind or not self.scope_matches(shop_id, channel):
                    continue
                if (scope[0] is not None and shop_id != scope[0]) or (
                    scope[1] is not None and channel != scope[1]
                ):
                    continue
                bitmaps.append(data.bitmap(row))
        wide = table == "order_sets"
        empty = BitMap64() if wide else BitMap()
        result = (BitMap64 if wide else BitMap).union(*bitmaps) if bitmaps else empty
        self.reader.memo[memo_key] = result
        return result

    # measures

    def traffic(self) -> None:
        days = _days(self.start, self.end)
        sums_table = "traffic_product" if self.by_product else "traffic"
        sets_table = "traffic_product_sets" if self.by_product else "traffic_sets"
        self.add_sums(sums_table, TRAFFIC_SUMS, has_source=True, has_product=self.by_product)
        for (key, kind), bitmaps in self.collect_sets(sets_table, TRAFFIC_SETS, days).items():
            union = BitMap.union(*bitmaps)
            group = self.group(key)
            group[kind] = len(union)
            if kind == "visitors":
                first, _last = self.group_range(key)
                earlier = self.history("traffic_sets", "visitors", key, first, None)
                group["new_visitors"] = union.difference_cardinality(earlier)
        self.names.extend(TRAFFIC_MEASURES)

    def orders(self) -> None:
        if self.by_product:
            self.product_orders()
            return
        days = _days(self.start, self.end)
        self.add_sums("orders", ORDER_SUMS, has_source=True, has_product=False)
        if self.refund_window_days != REFUND_WINDOW_DAYS:
            self.refunds_from_facts()
        sets = self.collect_sets("order_sets", ("ordering_buyers", "paying_buyers", "multi_buyers"), days)
        keys = {key for key, _kind in sets}
        for key in keys:
            group = self.group(key)
            ordering = sets.get((key, "ordering_buyers"), [])
            group["ordering_buyers"] = len(BitMap64.union(*ordering)) if ordering else 0
            paying_rows = sets.get((key, "paying_buyers"), [])
            if not paying_rows:
                continue
            paying = BitMap64.union(*paying_rows)
            group["paying_buyers"] = len(paying)
            seen, twice = BitMap64(), BitMap64()
            for bitmap in paying_rows:
                twice |= seen & bitmap
                seen |= bitmap
            for bitmap in sets.get((key, "multi_buyers"), []):
                twice |= bitmap
            group["repeat_buyers"] = len(twice)
            first, _last = self.group_range(key)
            earlier = self.history("order_sets", "paying_buyers", key, first, None)
            group["new_buyers"] = paying.difference_cardinality(earlier)
            if self.lookback_days is None:
                group["returning_buyers"] = paying.intersection_cardinality(earlier)
            else:
                window = self.history(
                    "order_sets", "paying_buyers", key, first, first - timedelta(days=self.lookback_days)
                )
                group["returning_buyers"] = paying.intersection_cardinality(window)
        self.names.extend((*PLACED_MEASURES, *PAID_MEASURES, *BUYER_MEASURES))

    def marketing(self) -> None:
        if "source" in self.by or self.sources is not None:
            return
        if not self.by_product:
            self.add_sums("marketing", MARKETING_MEASURES, has_source=False, has_product=False)
            self.names.extend(MARKETING_MEASURES)
        self.add_sums("platform", REPORTED_SUMS, has_source=False, has_product=True, platform=True)
        self.names.extend(REPORTED_MEASURES)

    def connection(self) -> duckdb.DuckDBPyConnection:
        if self.con is None:
            self.con = tables.connect(root=self.root)
        return self.con

    def _filters(self, *, product: bool) -> tuple[str, list[Any]]:
        clauses, parameters = [], []
        for column, values in (
            ("o.shop_id", self.shop_ids),
            ("o.channel", self.channels),
            ("o.source", self.sources),
            ("l.product_code", self.products if product else None),
        ):
            if values is not None:
                clauses.append(f"list_contains(?, {column})")
                parameters.append(sorted(values))
        return (" AND ".join(clauses) or "true"), parameters

    def _keys_sql(self, day_column: str) -> str:
        expressions = {
            "day": day_column,
            "week": f"date_trunc('week', {day_column})::DATE",
            "month": f"date_trunc('month', {day_column})::DATE",
            "shop_id": "o.shop_id",
            "channel": "o.channel",
            "source": "o.source",
            "product": "l.product_code",
        }
        return "".join(f"{expressions[name]} AS k_{name}, " for name in self.by)

    def _store_rows(self, rows: list[tuple[Any, ...]], names: Sequence[str]) -> None:
        width = len(self.by)
        for row in rows:
            group = self.group(tuple(row[:width]))
            for offset, name in enumerate(names):
                group[name] = row[width + offset]

    def refunds_from_facts(self) -> None:
        where, parameters = self._filters(product=False)
        keys = self._keys_sql("o.paid_day")
        group_by = "GROUP BY ALL" if self.by else ""
        rows = (
            self.connection()
            .execute(
                f"""
                SELECT {keys} count(*), coalesce(sum(o.refunded_amount), 0)
                FROM orders o
                WHERE o.is_valid AND o.paid_day BETWEEN ? AND ? AND {where}
                  AND o.first_refund_at IS NOT NULL
                  AND o.first_refund_at <= o.paid_at + to_days(CAST(? AS INTEGER))
                {group_by}
                """,
                [self.start, self.end, *parameters, self.refund_window_days],
            )
            .fetchall()
        )
        for group in self.groups.values():
            group["refund_orders"] = 0
            group["refund_amount"] = ZERO
        self._store_rows(rows, ("refund_orders", "refund_amount"))

    def product_orders(self) -> None:
        """Order measures per product from the line facts: an order counts once for each product it holds."""
        where, parameters = self._filters(product=True)
        con = self.connection()
        group_by = "GROUP BY ALL" if self.by else ""
        buyer = "o.customer_id"
        # a line is refunded when its order's first refund is within the window and the line has refunds
        refunded = (
            "l.refunded_amount > 0 AND o.first_refund_at IS NOT NULL AND o.first_refund_at <= o.paid_at + "
            f"INTERVAL {int(self.refund_window_days)} DAY"
        )
        created = con.execute(
            f"""
            SELECT {self._keys_sql("l.created_day")} count(DISTINCT l.order_id), coalesce(sum(l.amount), 0),
                   count(DISTINCT l.order_id) FILTER (WHERE l.is_valid), count(DISTINCT {buyer})
            FROM order_lines l JOIN orders o ON o.order_id = l.order_id
            WHERE l.created_day BETWEEN ? AND ? AND {where}
            {group_by}
            """,
            [self.start, self.end, *parameters],
        ).fetchall()
        self._store_rows(created, PLACED_MEASURES)
        paid = con.execute(
            f"""
            SELECT {self._keys_sql("l.paid_day")} count(DISTINCT l.order_id), coalesce(sum(l.amount), 0),
                   count(DISTINCT {buyer}), coalesce(sum(l.quantity), 0),
                   coalesce(sum(l.amount - l.refunded_amount), 0), coalesce(sum(l.cogs), 0),
                   count(DISTINCT l.order_id) FILTER (WHERE {refunded}),
                   coalesce(sum(l.refunded_amount) FILTER (WHERE {refunded}), 0),
                   coalesce(sum(l.refunded_quantity), 0)
            FROM order_lines l JOIN orders o ON o.order_id = l.order_id
            WHERE l.is_valid AND l.paid_day IS NOT NULL AND l.paid_day BETWEEN ? AND ? AND {where}
            {group_by}
            """,
            [self.start, self.end, *parameters],
        ).fetchall()
        self._store_rows(paid, (*PAID_MEASURES, "refunded_units"))
        self.names.extend((*PLACED_MEASURES, *PAID_MEASURES, "refunded_units"))

    def result(self) -> list[dict[str, Any]]:
        if not self.by and not self.groups:
            self.groups[()] = defaultdict(int)
        output: list[dict[str, Any]] = []
        for key in sorted(self.groups, key=lambda k: tuple((1, "") if v is None else (0, v) for v in k)):
            group = self.groups[key]
            row: dict[str, Any] = dict(zip(self.by, key, strict=True))
            for name in self.names:
                value = group.get(name)
                if name == "duration_seconds":
                    # milliseconds per visit (timestamps truncated to ms), summed, then whole seconds
                    value = int(group.get("duration_ms", 0)) // 1000
                if name in MONEY_MEASURES:
                    row[name] = ZERO if value is None else Decimal(value).quantize(ZERO)
                else:
                    row[name] = 0 if value is None else int(value)
            output.append(row)
        return output


def _row_index(data: store.DayData) -> list[tuple[Any, ...]]:
    cached = getattr(data, "row_index", None)
    if cached is None:
        table = data.table
        products = (
            table.column("product").to_pylist()
            if "product" in table.column_names
            else [None] * table.num_rows
        )
        cached = list(
            zip(
                table.column("shop_id").to_pylist(),
                table.column("channel").to_pylist(),
                table.column("source").to_pylist(),
                products,
                table.column("kind").to_pylist(),
                strict=True,
            )
        )
        data.row_index = cached
    return cached


def measures(
    start: date,
    end: date,
    *,
    shop_ids: Sequence[int] | None = None,
    channels: Sequence[str] | None = None,
    sources: Sequence[str] | None = None,
    products: Sequence[str] | None = None,
    by: Sequence[str] = (),
    conventions: Any = None,
    con: duckdb.DuckDBPyConnection | None = None,
    root: Path | None = None,
) -> list[dict[str, Any]]:
    """Base measures for [start, end] (inclusive), one dict per group of `by` (see docs/analytics-warehouse.md).

    `conventions` (metrics.conventions.Conventions or anything with the same attributes) sets the
    returning-buyer look-back (`returning_lookback_days`: 365 or None = any earlier order) and the refund
    window (`refund_window_days`, default 30; other values read the order facts).
    """
    lookback = getattr(conventions, "returning_lookback_days", 365) if conventions is not None else 365
    window = getattr(conventions, "refund_window_days", 30) if conventions is not None else 30
    query = _Query(
        start,
        end,
        shop_ids=shop_ids,
        channels=channels,
        sources=sources,
        products=products,
        by=by,
        lookback_days=lookback,
        refund_window_days=int(window),
        root=root,
        con=con,
    )
    memo_key = (
        "measures",
        start,
        end,
        query.shop_ids,
        query.channels,
        query.sources,
        query.products,
        query.by,
        lookback,
        window,
    )
    cached = query.reader.memo.get(memo_key)
    if cached is not None:
        return [dict(row) for row in cached]
    query.traffic()
    query.orders()
    query.marketing()
    result = query.result()
    query.reader.memo[memo_key] = result
    return [dict(row) for row in result]
