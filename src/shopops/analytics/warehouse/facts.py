"""Facts sync: OLTP orders, lines, refunds, costs, shipments, ad spend and platform traffic → day-partitioned
Parquet.

Orders and lines are partitioned by the order's created day, a **business day of the order's shop**: the
date of `placed_at` in `Shop.timezone` (a Los Angeles shop's noon order is on its own day, not on the next
Shanghai day); `paid_day` likewise. Consolidated views add up each shop's own days. A run
finds the orders that changed since the last one and rewrites the whole partition of each of their
created days from the database (atomic temp + rename), so edits and deletions land alike.

What counts as "changed" — `Order.updated_at` alone is not enough: several bulk paths write orders
with `QuerySet.update()` and leave `updated_at` alone (the review's `update(review_status, is_valid)`,
`refresh_validity`'s `update(is_valid)`, stock state). Every one of those also appends an OrderEvent
(reviewed, status…), so a run takes the orders with `updated_at` past the time watermark OR with an
OrderEvent past the event-id watermark, plus after-sales cases refunded since the time watermark.
`sync(full=True)` (the daily reconciliation, and `shopops analytics sync --full`) rewrites every day
whose row count or amounts differ between the database and the Parquet.

Ad spend and platform traffic reports are small: each run reads them whole and rewrites only the
days whose content hash changed (which also catches deletions).

Shipments (parcels) are partitioned by the Shanghai day of their `created_at`, the same way: a run rewrites
the partitions of the days of changed parcels. A parcel has no `updated_at`, so "changed" is: an id past the
shipment-id watermark (new parcel), a tracking scan past the scan-id watermark, or an audit entry on the
parcel past the audit-id watermark — every write of the fulfillment services (pick, pack, ship, cancel,
tracking, platform attach) records one. Id ranges only, so the 10-second loop stays cheap. A write that
bypasses the services is caught by `sync(full=True)`, which reconciles parcels per day (ids, statuses, newest
stamp) like the orders. Shipments feed no rollup, so `sync()` does not return their days.

Currency: an order in another currency than the reporting one (settings.ANALYTICS_CURRENCY, CNY) has its
amounts converted at the `ExchangeRate` of its paid day (unpaid: placed day), or the latest of the 7 days
before; without one its amounts (and cogs) are written as 0 and the order is listed in the state's
`fx_missing`, which the reports turn into a message. A changed rate table re-syncs the days of such orders.

COGS: order lines store no cost at sale, so a line's cogs is quantity × its SKU's current
`cost_price` (0 for lines without a SKU).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
from django.db.models import Max, Min, Q
from django.utils import timezone

from shopops.analytics.warehouse import store, tables

SHANGHAI = ZoneInfo("Asia/Shanghai")
ZERO = Decimal("0.00")
CHUNK = 2000  # ids per IN (...) query: below SQLite's variable limit
STATE_FILE = "facts/_state.json"


def shanghai_day(moment: dt.datetime) -> dt.date:
    return moment.astimezone(SHANGHAI).date()


RATE_LOOKBACK_DAYS = 7


def reporting_currency() -> str:
    from django.conf import settings

    return str(getattr(settings, "ANALYTICS_CURRENCY", "CNY"))


class Rates:
    """The exchange rates into the reporting currency, and the orders left out for want of one (per partition)."""

    def __init__(self) -> None:
        from shopops.analytics.models import ExchangeRate

        self.currency = reporting_currency()
        self.by_currency: dict[str, dict[dt.date, Decimal]] = defaultdict(dict)
        for day, currency, rate in ExchangeRate.objects.values_list("day", "currency", "rate"):
            self.by_currency[currency.upper()][day] = rate
        # partition day (iso) → [shop_id, currency, rate day (iso), orders]
        self.missing: dict[str, list[list[Any]]] = {}

    def rate(self, currency: str, day: dt.date) -> Decimal | None:
        """The rate of `day`, else the latest of the RATE_LOOKBACK_DAYS before; 1 for the reporting currency."""
        if not currency or currency.upper() == self.currency:
            return Decimal(1)
        known = self.by_currency.get(currency.upper(), {})
        for back in range(RATE_LOOKBACK_DAYS + 1):
            found = known.get(day - dt.timedelta(days=back))
            if found is not None:
                return found
        return None

    @staticmethod
    def digest() -> str:
        from shopops.analytics.models import ExchangeRate

        return _hash(list(ExchangeRate.objects.values_list("day", "currency", "rate")))


def _convert(value: Decimal, rate: Decimal | None) -> Decimal:
    return ZERO if rate is None else (value * rate).quantize(ZERO)


class ShopDays:
    """Each shop's business day of a moment: the date in `Shop.timezone` (Asia/Shanghai when unset or unknown)."""

    def __init__(self) -> None:
        from shopops.channels.models import Shop

        self.zones: dict[int, ZoneInfo] = {}
        for shop_id, name in Shop.objects.values_list("pk", "timezone"):
            try:
                self.zones[shop_id] = ZoneInfo(name) if name else SHANGHAI
            except (ValueError, KeyError, OSError):  # ZoneInfoNotFoundError is a KeyError
                self.zones[shop_id] = SHANGHAI

    def day(self, moment: dt.datetime, shop_id: int) -> dt.date:
        return moment.astimezone(self.zones.get(shop_id, SHANGHAI)).date()


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)
    return start.astimezone(dt.UTC), (start + dt.timedelta(days=1)).astimezone(dt.UTC)


def _state_path(root: Path | None) -> Path:
    return (root if root is not None else tables.analytics_dir()) / STATE_FILE


def load_state(root: Path | None = None) -> dict[str, Any]:
    try:
        state: dict[str, Any] = json.loads(_state_path(root).read_text())
        return state
    except FileNotFoundError:
        return {}


def save_state(state: dict[str, Any], root: Path | None = None) -> None:
    path = _state_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.parent / f".state.{uuid.uuid4().hex}.tmp"
    temporary.write_text(json.dumps(state, sort_keys=True))
    os.replace(temporary, path)


def _partition(name: str, day: dt.date, root: Path | None) -> Path:
    return tables.dataset_dir(name, root) / f"day={day.isoformat()}" / "part.parquet"


def _chunks(values: list[int], size: int = CHUNK) -> Iterator[list[int]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


# orders and lines


def _order_rows(order_ids: list[int]) -> list[tuple[Any, ...]]:
    from shopops.orders.models import Order

    rows: list[tuple[Any, ...]] = []
    for chunk in _chunks(order_ids):
        rows.extend(
            Order.objects.filter(pk__in=chunk).values_list(
                "id",
                "shop_id",
                "shop__platform",
                "external_id",
                "customer_id",
                "status",
                "is_valid",
                "placed_at",
                "paid_at",
                "goods_amount",
                "shipping_fee",
                "shop_discount",
                "platform_discount",
                "paid_amount",
                "refunded_amount",
                "updated_at",
                "currency",
            )
        )
    return rows


def _line_rows(order_ids: list[int]) -> list[tuple[Any, ...]]:
    from shopops.orders.models import OrderLine

    rows: list[tuple[Any, ...]] = []
    for chunk in _chunks(order_ids):
        rows.extend(
            OrderLine.objects.filter(order_id__in=chunk).values_list(
                "id",
                "order_id",
                "sku__product__merchant_code",
                "sku__merchant_code",
                "merchant_code",
                "quantity",
                "amount",
                "refunded_quantity",
                "refunded_amount",
                "sku__cost_price",
            )
        )
    return rows


def _first_refunds(order_ids: list[int]) -> dict[int, dt.datetime]:
    """First successful refund per order: the earliest refunded after-sales case or refund event."""
    from shopops.aftersales.models import AfterSaleCase
    from shopops.orders.models import OrderEvent, OrderEventKind

    first: dict[int, dt.datetime] = {}
    for chunk in _chunks(order_ids):
        cases = (
            AfterSaleCase.objects.filter(order_id__in=chunk, refunded_at__isnull=False, refunded_amount__gt=0)
            .values("order_id")
            .annotate(first=Min("refunded_at"))
            .values_list("order_id", "first")
        )
        events = (
            OrderEvent.objects.filter(order_id__in=chunk, kind=OrderEventKind.REFUND)
            .values("order_id")
            .annotate(first=Min("created_at"))
            .values_list("order_id", "first")
        )
        for order_id, moment in [*cases, *events]:
            if moment is not None and (order_id not in first or moment < first[order_id]):
                first[order_id] = moment
    return first


def _visits(con: Any, days: set[dt.date], root: Path | None) -> dict[tuple[int, str], tuple[str, str]]:
    """(shop_id, external id) → (visitor_id, source) of the order's earliest order_placed/payment event."""
    around = {day + dt.timedelta(days=delta) for day in days for delta in (-1, 0, 1, 2)}
    folder = tables.dataset_dir("events", root)
    files = [
        str(path)
        for day in sorted(around)
        for path in sorted((folder / f"day={day.isoformat()}").glob("*.parquet"))
        if not path.name.startswith(".")
    ]
    if not files:
        return {}
    rows = con.execute(
        """
        SELECT shop_id, order_id, arg_min(visitor_id, ts), arg_min(source, ts)
        FROM read_parquet(?, hive_partitioning = false)
        WHERE type IN ('order_placed', 'payment') AND order_id <> ''
        GROUP BY shop_id, order_id
        """,
        [files],
    ).fetchall()
    return {(shop_id, order_id): (visitor, source) for shop_id, order_id, visitor, source in rows}


def _build_day(
    orders: list[tuple[Any, ...]],
    lines: list[tuple[Any, ...]],
    refunds: dict[int, dt.datetime],
    visits: dict[tuple[int, str], tuple[str, str]],
    zones: ShopDays,
    rates: Rates | None = None,
) -> tuple[pa.Table, pa.Table]:
    rates = rates or Rates()
    missing: Counter[tuple[int, str, str]] = Counter()
    by_order: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for line in lines:
        by_order[line[1]].append(line)
    order_columns: dict[str, list[Any]] = {name: [] for name in tables.ORDERS_SCHEMA.names}
    line_columns: dict[str, list[Any]] = {name: [] for name in tables.ORDER_LINES_SCHEMA.names}
    for (
        order_id,
        shop_id,
        channel,
        external_id,
        customer_id,
        status,
        is_valid,
        placed_at,
        paid_at,
        goods,
        shipping,
        shop_discount,
        platform_discount,
        paid_amount,
        refunded,
        updated_at,
        currency,
    ) in sorted(orders):
        created_day = zones.day(placed_at, shop_id)
        paid_day = zones.day(paid_at, shop_id) if paid_at else None
        order_lines = by_order.get(order_id, [])
        cogs = sum(((cost or ZERO) * quantity for *_rest, quantity, _a, _rq, _ra, cost in order_lines), ZERO)
        rate_day = paid_day or created_day
        rate = rates.rate(currency, rate_day)
        if rate is None:
            missing[(shop_id, currency.upper(), rate_day.isoformat())] += 1
            cogs = ZERO  # the order is left out of the amounts, its cost too
        if rate != 1:
            goods, shipping = _convert(goods, rate), _convert(shipping, rate)
            shop_discount, platform_discount = (
                _convert(shop_discount, rate),
                _convert(platform_discount, rate),
            )
            paid_amount, refunded = _convert(paid_amount, rate), _convert(refunded, rate)
        visitor, source = visits.get((shop_id, external_id), ("", ""))
        values = {
            "order_id": order_id,
            "shop_id": shop_id,
            "channel": channel,
            "external_id": external_id,
            "customer_id": customer_id,
            "status": status,
            "is_valid": is_valid,
            "created_at": placed_at,
            "created_day": created_day,
            "paid_at": paid_at,
            "paid_day": paid_day,
            "goods_amount": goods,
            "shipping_fee": shipping,
            "discount_amount": shop_discount + platform_discount,
            "paid_amount": paid_amount,
            "net_sales": (paid_amount - shipping - refunded) if paid_at else ZERO,
            "cogs": cogs.quantize(ZERO),
            "refunded_amount": refunded,
            "first_refund_at": refunds.get(order_id) if refunded > 0 else None,
            "units": sum(line[5] for line in order_lines),
            "visitor_id": visitor,
            "source": source,
            "updated_at": updated_at,
        }
        for name, value in values.items():
            order_columns[name].append(value)
        for (
            line_id,
            _order,
            product,
            sku,
            merchant_code,
            quantity,
            amount,
            r_quantity,
            r_amount,
            cost,
        ) in sorted(order_lines):
            if rate != 1:
                amount, r_amount = _convert(amount, rate), _convert(r_amount, rate)
            line_values = {
                "line_id": line_id,
                "order_id": order_id,
                "shop_id": shop_id,
                "channel": channel,
                "created_day": created_day,
                "paid_day": paid_day,
                "is_valid": is_valid,
                "product_code": product or merchant_code or "",
                "sku_code": sku or merchant_code or "",
                "quantity": quantity,
                "amount": amount,
                "cogs": ZERO if rate is None else ((cost or ZERO) * quantity).quantize(ZERO),
                "refunded_quantity": r_quantity,
                "refunded_amount": r_amount,
            }
            for name, value in line_values.items():
                line_columns[name].append(value)
    if orders:
        day_key = zones.day(sorted(orders)[0][7], sorted(orders)[0][1]).isoformat()
        rates.missing[day_key] = [
            [shop, cur, day, count] for (shop, cur, day), count in sorted(missing.items())
        ]
    return (
        pa.table(order_columns, schema=tables.ORDERS_SCHEMA),
        pa.table(line_columns, schema=tables.ORDER_LINES_SCHEMA),
    )


def _old_days(path: Path, columns: Iterable[str]) -> set[dt.date]:
    """The days (created/paid) in an existing partition: rollups of those days change too."""
    import pyarrow.parquet as pq

    if not path.exists():
        return set()
    table = pq.read_table(path, columns=list(columns))
    found: set[dt.date] = set()
    for name in table.column_names:
        found.update(value for value in table.column(name).to_pylist() if value is not None)
    return found


def _same(table: pa.Table, path: Path) -> bool:
    import pyarrow.parquet as pq

    return path.exists() and pq.read_table(path).cast(table.schema).equals(table)


def _runs(days: set[dt.date], longest: int = 31) -> Iterator[list[dt.date]]:
    """Sorted days in runs of consecutive days (at most `longest`): one set of queries per run."""
    run: list[dt.date] = []
    for day in sorted(days):
        if run and (day - run[-1] != dt.timedelta(days=1) or len(run) >= longest):
            yield run
            run = []
        run.append(day)
    if run:
        yield run


def _sync_order_days(days: set[dt.date], root: Path | None, rates: Rates | None = None) -> set[dt.date]:
    """Rewrite the orders and lines partitions of `days`; return every created/paid day touched."""
    from shopops.orders.models import Order

    affected: set[dt.date] = set()
    if not days:
        return affected
    zones = ShopDays()
    rates = rates or Rates()
    con = tables.connect(root=root)
    try:
        for run in _runs(days):
            # a shop's day lies within a day of the Shanghai day (UTC−12 … UTC+14)
            start, _ = day_bounds(run[0] - dt.timedelta(days=1))
            _, end = day_bounds(run[-1] + dt.timedelta(days=1))
            ids = list(
                Order.objects.filter(placed_at__gte=start, placed_at__lt=end)
                .order_by()
                .values_list("id", flat=True)
            )
            orders = _order_rows(ids)
            lines = _line_rows(ids)
            refunds = _first_refunds(ids)
            visits = _visits(con, set(run), root)
            orders_by_day: dict[dt.date, list[tuple[Any, ...]]] = defaultdict(list)
            for row in orders:
                orders_by_day[zones.day(row[7], row[1])].append(row)
            day_of_order = {row[0]: zones.day(row[7], row[1]) for row in orders}
            lines_by_day: dict[dt.date, list[tuple[Any, ...]]] = defaultdict(list)
            for line in lines:
                lines_by_day[day_of_order[line[1]]].append(line)
            for day in run:
                affected |= _write_day(
                    day,
                    orders_by_day.get(day, []),
                    lines_by_day.get(day, []),
                    refunds,
                    visits,
                    zones,
                    root,
                    rates,
                )
    finally:
        con.close()
    return affected


def _write_day(
    day: dt.date,
    orders: list[tuple[Any, ...]],
    lines: list[tuple[Any, ...]],
    refunds: dict[int, dt.datetime],
    visits: dict[tuple[int, str], tuple[str, str]],
    zones: ShopDays,
    root: Path | None,
    rates: Rates | None = None,
) -> set[dt.date]:
    rates = rates or Rates()
    orders_path = _partition("orders", day, root)
    lines_path = _partition("order_lines", day, root)
    old_days = _old_days(orders_path, ("created_day", "paid_day"))
    if not orders:
        rates.missing[day.isoformat()] = []
        for path in (orders_path, lines_path):
            if path.exists():
                path.unlink()
        return old_days
    order_table, line_table = _build_day(orders, lines, refunds, visits, zones, rates)
    if _same(order_table, orders_path) and _same(line_table, lines_path):
        return set()  # seen again through the watermark overlap, unchanged
    store.write_atomic(order_table, orders_path)
    store.write_atomic(line_table, lines_path)
    return (
        old_days
        | {day}
        | {value for value in order_table.column("paid_day").to_pylist() if value is not None}
    )


def _changed_order_days(state: dict[str, Any]) -> tuple[set[dt.date], dict[str, Any]]:
    from shopops.aftersales.models import AfterSaleCase
    from shopops.orders.models import Order, OrderEvent

    now = timezone.now()
    since = dt.datetime.fromisoformat(state["orders_time"]) if "orders_time" in state else None
    last_event = int(state.get("orders_event_id", 0))
    newest_event = OrderEvent.objects.aggregate(newest=Max("id"))["newest"] or 0
    if since is None:
        changed = Order.objects.all()
    else:
        # a small overlap: a transaction that committed late with an older updated_at
        overlap = since - dt.timedelta(minutes=2)
        event_orders = OrderEvent.objects.filter(id__gt=last_event, id__lte=newest_event).values("order_id")
        refunded = AfterSaleCase.objects.filter(refunded_at__gte=overlap).values("order_id")
        changed = Order.objects.filter(
            Q(updated_at__gte=overlap) | Q(pk__in=event_orders) | Q(pk__in=refunded)
        )
    zones = ShopDays()
    days = {
        zones.day(moment, shop_id)
        for moment, shop_id in changed.order_by().values_list("placed_at", "shop_id").distinct()
    }
    return days, {"orders_time": now.isoformat(), "orders_event_id": newest_event}


def reconcile_days(root: Path | None = None) -> set[dt.date]:
    """Days whose orders differ between the database and the Parquet (count, validity, amounts)."""
    from django.db.models import Count, Sum

    from shopops.orders.models import Order

    con = tables.connect(root=root)
    try:
        stored = {
            row[0]: tuple(row[1:])
            for row in con.execute(
                "SELECT created_day, count(*), sum(paid_amount), sum(refunded_amount), count(*) FILTER (is_valid), "
                "count(paid_at), max(updated_at) FROM orders GROUP BY 1"
            ).fetchall()
        }
    finally:
        con.close()
    database: dict[dt.date, list[Any]] = {}
    first = Order.objects.aggregate(first=Min("placed_at"), last=Max("placed_at"))
    if first["first"] is None:
        return set(stored)
    zones = ShopDays()
    # Shanghai days widened by one each side: a shop's business day lies within a day of them
    day = shanghai_day(first["first"]) - dt.timedelta(days=1)
    last = shanghai_day(first["last"]) + dt.timedelta(days=1)
    # one aggregate per month keeps the query count low and needs no database-side time zones
    while day <= last:
        month_end = min(
            (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1), last + dt.timedelta(days=1)
        )
        start, _ = day_bounds(day)
        end, _ = day_bounds(month_end)
        for placed_at, shop_id, paid, refunded, valid, paid_at, updated in Order.objects.filter(
            placed_at__gte=start, placed_at__lt=end
        ).values_list(
            "placed_at", "shop_id", "paid_amount", "refunded_amount", "is_valid", "paid_at", "updated_at"
        ):
            entry = database.setdefault(zones.day(placed_at, shop_id), [0, ZERO, ZERO, 0, 0, None])
            entry[0] += 1
            entry[1] += paid
            entry[2] += refunded
            entry[3] += int(valid)
            entry[4] += int(paid_at is not None)
            entry[5] = updated if entry[5] is None or updated > entry[5] else entry[5]
        day = month_end
    differing = {d for d in set(stored) | set(database) if d not in stored or d not in database}
    for d in set(stored) & set(database):
        ours = stored[d]
        theirs = database[d]
        if (ours[0], ours[1], ours[2], ours[3], ours[4]) != tuple(theirs[:5]) or ours[5] != theirs[5]:
            differing.add(d)
    _ = Count, Sum
    return differing


# shipments (parcels)

SHIPMENT_STAMPS = ("created_at", "picked_at", "packed_at", "shipped_at", "delivered_at", "last_tracked_at")


def _hours(start: dt.datetime | None, end: dt.datetime | None) -> float | None:
    return None if start is None or end is None else (end - start).total_seconds() / 3600


def _shipment_table(shipment_ids: list[int]) -> pa.Table:
    from shopops.fulfillment.models import Shipment, ShipmentLine
    from shopops.orders.models import Order

    rows: list[tuple[Any, ...]] = []
    orders_of: dict[int, set[int]] = defaultdict(set)
    for chunk in _chunks(shipment_ids):
        rows.extend(
            Shipment.objects.filter(pk__in=chunk).values_list(
                "id",
                "shop_id",
                "shop__platform",
                "warehouse_id",
                "carrier__code",
                "status",
                "source",
                *SHIPMENT_STAMPS,
            )
        )
        for shipment_id, order_id in ShipmentLine.objects.filter(shipment_id__in=chunk).values_list(
            "shipment_id", "order_line__order_id"
        ):
            orders_of[shipment_id].add(order_id)
    first_orders = sorted({min(ids) for ids in orders_of.values()})
    paid_at: dict[int, dt.datetime | None] = {}
    for chunk in _chunks(first_orders):
        paid_at.update(Order.objects.filter(pk__in=chunk).values_list("id", "paid_at"))
    columns: dict[str, list[Any]] = {name: [] for name in tables.SHIPMENTS_SCHEMA.names}
    for shipment_id, shop_id, channel, warehouse_id, carrier, status, source, *stamps in sorted(rows):
        created_at, _picked, _packed, shipped_at, delivered_at, _tracked = stamps
        order_ids = sorted(orders_of.get(shipment_id, ()))
        first = order_ids[0] if order_ids else None
        values = {
            "shipment_id": shipment_id,
            "shop_id": shop_id,
            "channel": channel,
            "order_id": first,
            "order_ids": ",".join(str(order_id) for order_id in order_ids),
            "warehouse_id": warehouse_id,
            "carrier": carrier or "",
            "status": status,
            "source": source,
            "created_at": created_at,
            "shipped_at": shipped_at,
            "delivered_at": delivered_at,
            "day": shanghai_day(created_at),
            "ship_hours": _hours(paid_at.get(first) if first is not None else None, shipped_at),
            "delivery_hours": _hours(shipped_at, delivered_at),
            "updated_at": max(stamp for stamp in stamps if stamp is not None),
        }
        for name, value in values.items():
            columns[name].append(value)
    return pa.table(columns, schema=tables.SHIPMENTS_SCHEMA)


def _changed_shipment_days(state: dict[str, Any]) -> tuple[set[dt.date], dict[str, Any]]:
    from django.contrib.contenttypes.models import ContentType

    from shopops.core.models import AuditEntry
    from shopops.fulfillment.models import Shipment, TrackingEvent

    shipment_type = ContentType.objects.get_for_model(Shipment)
    newest = {
        "shipments_id": Shipment.objects.aggregate(newest=Max("id"))["newest"] or 0,
        "shipments_scan_id": TrackingEvent.objects.aggregate(newest=Max("id"))["newest"] or 0,
        "shipments_audit_id": AuditEntry.objects.filter(content_type=shipment_type).aggregate(
            newest=Max("id")
        )["newest"]
        or 0,
    }
    moments: set[dt.datetime]
    if "shipments_id" not in state:
        moments = set(Shipment.objects.order_by().values_list("created_at", flat=True).distinct())
    else:
        # id watermarks only (primary-key ranges): cheap enough for the 10-second analytics loop
        scanned = TrackingEvent.objects.filter(
            id__gt=int(state.get("shipments_scan_id", 0)), id__lte=newest["shipments_scan_id"]
        ).values("shipment_id")
        audited = [
            int(object_id)
            for object_id in AuditEntry.objects.filter(
                content_type=shipment_type,
                id__gt=int(state.get("shipments_audit_id", 0)),
                id__lte=newest["shipments_audit_id"],
            ).values_list("object_id", flat=True)
            if object_id.isdigit()
        ]
        changed = Shipment.objects.filter(
            Q(id__gt=int(state["shipments_id"]), id__lte=newest["shipments_id"]) | Q(pk__in=scanned)
        )
        moments = set(changed.order_by().values_list("created_at", flat=True).distinct())
        for chunk in _chunks(sorted(set(audited))):  # chunks: below SQLite's variable limit
            moments.update(Shipment.objects.filter(pk__in=chunk).values_list("created_at", flat=True))
    days = {shanghai_day(moment) for moment in moments}
    return days, newest


def _reconcile_shipment_days(root: Path | None) -> set[dt.date]:
    """Days whose parcels differ between the database and the Parquet (count, statuses, stamps)."""
    from shopops.fulfillment.models import Shipment

    con = tables.connect(root=root)
    try:
        stored = {
            row[0]: (row[1], row[2], row[3])
            for row in con.execute(
                "SELECT day, count(*), string_agg(shipment_id || ':' || status, ',' ORDER BY shipment_id), "
                "max(updated_at) FROM shipments GROUP BY 1"
            ).fetchall()
        }
    finally:
        con.close()
    parcels: dict[dt.date, list[Any]] = {}
    for shipment_id, status, *stamps in (
        Shipment.objects.order_by("id")
        .values_list("id", "status", *SHIPMENT_STAMPS)
        .iterator(chunk_size=5000)
    ):
        newest = max(stamp for stamp in stamps if stamp is not None)
        entry = parcels.setdefault(shanghai_day(stamps[0]), [0, [], newest])
        entry[0] += 1
        entry[1].append(f"{shipment_id}:{status}")
        entry[2] = max(entry[2], newest)
    database = {day: (count, ",".join(pairs), newest) for day, (count, pairs, newest) in parcels.items()}
    return {day for day in set(stored) | set(database) if stored.get(day) != database.get(day)}


def _sync_shipments(state: dict[str, Any], *, full: bool, root: Path | None) -> set[dt.date]:
    """Rewrite the shipments partitions of the changed days; return the days written or removed."""
    from shopops.fulfillment.models import Shipment

    days, marks = _changed_shipment_days(state)
    if full:
        days |= _reconcile_shipment_days(root)
    written: set[dt.date] = set()
    for run in _runs(days):
        start, _ = day_bounds(run[0])
        _, end = day_bounds(run[-1])
        ids = list(
            Shipment.objects.filter(created_at__gte=start, created_at__lt=end)
            .order_by()
            .values_list("id", flat=True)
        )
        table = _shipment_table(ids)
        day_column = table.column("day").to_pylist()
        for day in run:
            path = _partition("shipments", day, root)
            part = table.filter(pa.array([value == day for value in day_column]))
            if part.num_rows == 0:
                if path.exists():
                    path.unlink()
                    written.add(day)
                continue
            if _same(part, path):
                continue  # seen again through the watermark overlap, unchanged
            store.write_atomic(part, path)
            written.add(day)
    state.update(marks)
    return written


# ad spend and platform traffic reports


def _hash(rows: list[tuple[Any, ...]]) -> str:
    return hashlib.sha256(repr(sorted(rows)).encode()).hexdigest()


def _sync_small(name: str, state: dict[str, Any], root: Path | None) -> set[dt.date]:
    from shopops.analytics.models import AdSpend, TrafficReport

    schema = tables.SCHEMAS[name]
    rows: Any
    if name == "ad_spend":
        rows = AdSpend.objects.values_list(
            "day",
            "shop_id",
            "shop__platform",
            "ad_channel",
            "campaign",
            "spend",
            "impressions",
            "clicks",
            "attributed_orders",
            "attributed_revenue",
        )
    else:
        rows = TrafficReport.objects.values_list(
            "day",
            "shop_id",
            "shop__platform",
            "product_code",
            "visitors",
            "page_views",
            "paying_buyers",
            "paid_orders",
            "paid_amount",
            "add_to_cart_buyers",
        )
    by_day: dict[dt.date, list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows.iterator(chunk_size=5000):
        by_day[row[0]].append(row)
    hashes: dict[str, str] = state.get(f"{name}_hashes", {})
    affected: set[dt.date] = set()
    for day in set(by_day) | {dt.date.fromisoformat(d) for d in hashes}:
        day_rows = by_day.get(day, [])
        digest = _hash(day_rows) if day_rows else ""
        path = _partition(name, day, root)
        if hashes.get(day.isoformat(), "") == digest and (path.exists() or not day_rows):
            continue
        affected.add(day)
        if day_rows:
            columns = list(zip(*sorted(day_rows), strict=True))
            store.write_atomic(
                pa.table({f.name: list(columns[i]) for i, f in enumerate(schema)}, schema=schema),
                path,
            )
            hashes[day.isoformat()] = digest
        else:
            if path.exists():
                path.unlink()
            hashes.pop(day.isoformat(), None)
    state[f"{name}_hashes"] = hashes
    return affected


def sync(*, full: bool = False, root: Path | None = None) -> set[dt.date]:
    """Bring the facts up to date; return the days whose rollups must be refreshed."""
    state = load_state(root)
    days, marks = _changed_order_days({} if full and not state else state)
    if full:
        days |= reconcile_days(root)
        marks["reconciled_on"] = timezone.localdate().isoformat()
    rates = Rates()
    digest = Rates.digest()
    if state.get("fx_rates_hash", "") != digest:
        days |= _foreign_currency_days(rates.currency)
        marks["fx_rates_hash"] = digest
    affected = _sync_order_days(days, root, rates)
    fx_missing: dict[str, Any] = dict(state.get("fx_missing", {}))
    for day_key, entries in rates.missing.items():
        if entries:
            fx_missing[day_key] = entries
        else:
            fx_missing.pop(day_key, None)
    marks["fx_missing"] = fx_missing
    affected |= _sync_small("ad_spend", state, root)
    affected |= _sync_small("traffic_reports", state, root)
    shipment_days = _sync_shipments(state, full=full, root=root)
    state.update(marks)
    if affected or shipment_days:
        # the new partitions reach the disk before the watermark moves past them (one flush, not one
        # fsync per file)
        os.sync()
    save_state(state, root)
    return affected


def _foreign_currency_days(currency: str) -> set[dt.date]:
    """The created days (shop-local) of the orders in another currency than the reporting one."""
    from shopops.orders.models import Order

    zones = ShopDays()
    return {
        zones.day(moment, shop_id)
        for moment, shop_id in Order.objects.exclude(currency__iexact=currency)
        .order_by()
        .values_list("placed_at", "shop_id")
        .distinct()
    }


def missing_rates(
    start: dt.date, end: dt.date, shop_ids: Iterable[int] | None = None, root: Path | None = None
) -> list[tuple[str, dt.date, int]]:
    """(currency, day, orders) left out of the amounts of [start, end] for want of a rate, in the shops given."""
    wanted = None if shop_ids is None else set(shop_ids)
    found: Counter[tuple[str, dt.date]] = Counter()
    for entries in load_state(root).get("fx_missing", {}).values():
        for shop_id, currency, day, count in entries:
            moment = dt.date.fromisoformat(day)
            if start <= moment <= end and (wanted is None or shop_id in wanted):
                found[(currency, moment)] += count
    return [(currency, day, count) for (currency, day), count in sorted(found.items())]


def sync_shipments(*, full: bool = False, root: Path | None = None) -> set[dt.date]:
    """Bring only the shipments facts up to date; return the created days whose partition was rewritten."""
    state = load_state(root)
    written = _sync_shipments(state, full=full, root=root)
    if written:
        os.sync()
    save_state(state, root)
    return written


def reconcile_due(root: Path | None = None) -> bool:
    """Whether today's full reconciliation has not run yet."""
    return load_state(root).get("reconciled_on") != timezone.localdate().isoformat()
