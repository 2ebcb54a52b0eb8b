"""Fulfillment read models: shipping times (发货时效), orders at risk of a late shipment, merge candidates."""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Count, F, Q, QuerySet, Sum
from django.utils import timezone

from shopops.channels import services as channel_services
from shopops.channels.models import Shop
from shopops.core.errors import DomainError
from shopops.fulfillment.models import (
    OPEN_SHIPMENT_STATUSES,
    Carrier,
    Shipment,
    ShipmentLine,
    ShipmentStatus,
)
from shopops.orders.models import Order, OrderLine, ReviewStatus
from shopops.orders.queries import SHIPPABLE_STATUSES

DEFAULT_SHIP_WITHIN_HOURS = 48
DEFAULT_WARNING_HOURS = 12
HOUR = Decimal("0.1")
# Orders whose remaining units may be packed into a parcel.
SHIPPABLE_ORDER_STATUSES = SHIPPABLE_STATUSES  # the orders app's one can-ship status set


def in_open_shipments(line_ids: Iterable[int], *, exclude_shipment_id: int | None = None) -> dict[int, int]:
    """Units of each order line already packed into parcels that have not left (pending/picking/packed)."""
    rows = ShipmentLine.objects.filter(
        order_line_id__in=list(line_ids), shipment__status__in=list(OPEN_SHIPMENT_STATUSES)
    )
    if exclude_shipment_id is not None:
        rows = rows.exclude(shipment_id=exclude_shipment_id)
    totals = rows.order_by().values("order_line_id").annotate(total=Sum("quantity"))
    return {row["order_line_id"]: row["total"] for row in totals}


def left_to_ship(line: OrderLine) -> int:
    """Units of the line not shipped and not refunded (the order services count the same way)."""
    return max(line.quantity - line.shipped_quantity - line.refunded_quantity, 0)


def open_quantities(lines: Iterable[OrderLine]) -> dict[int, int]:
    """What each line may still be packed: quantity − shipped − refunded − units in open parcels."""
    lines = list(lines)
    packed = in_open_shipments(line.pk for line in lines)
    return {line.pk: max(left_to_ship(line) - packed.get(line.pk, 0), 0) for line in lines}


def ship_within_hours(shop: Shop) -> int:
    """The shop's shipping promise in hours (setting `ship_within_hours`, default 48)."""
    try:
        return channel_services.shop_settings(shop).ship_within_hours
    except DomainError:
        return DEFAULT_SHIP_WITHIN_HOURS  # invalid stored settings: the shop page shows the error


def _hours(delta: dt.timedelta) -> Decimal:
    return (Decimal(delta.total_seconds()) / 3600).quantize(HOUR, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class AtRiskOrder:
    """A paid order not fully shipped whose shipping deadline (paid_at + promise) is near or passed."""

    order_id: int
    external_id: str
    shop_id: int
    shop_name: str
    status: str
    paid_at: dt.datetime
    deadline: dt.datetime
    hours_left: Decimal  # negative: overdue by that many hours
    is_overdue: bool
    unshipped_units: int


def orders_at_risk(
    *,
    now: dt.datetime | None = None,
    within_hours: int = DEFAULT_WARNING_HOURS,
    shop_id: int | None = None,
    user: Any = None,
) -> list[AtRiskOrder]:
    """Paid, not fully shipped orders whose deadline is passed or falls within the next `within_hours`,
    soonest deadline first. The promise is each shop's `ship_within_hours`; invalid orders are left out."""
    now = now or timezone.now()
    shops = Shop.objects.for_user(user) if user is not None else Shop.objects.all()
    if shop_id is not None:
        shops = shops.filter(pk=shop_id)
    found: list[AtRiskOrder] = []
    for shop in shops.order_by("pk"):
        promise = dt.timedelta(hours=ship_within_hours(shop))
        latest_paid = now + dt.timedelta(hours=within_hours) - promise
        rows = (
            Order.objects.filter(
                shop=shop,
                status__in=list(SHIPPABLE_ORDER_STATUSES),
                paid_at__isnull=False,
                paid_at__lte=latest_paid,
            )
            .exclude(review_status=ReviewStatus.INVALID)
            .annotate(unshipped=Sum(F("lines__quantity") - F("lines__shipped_quantity")))
            .values_list("pk", "external_id", "status", "paid_at", "unshipped")
        )
        for order_id, external_id, status, paid_at, unshipped in rows:
            if paid_at is None:
                continue
            deadline = paid_at + promise
            found.append(
                AtRiskOrder(
                    order_id=order_id,
                    external_id=external_id,
                    shop_id=shop.pk,
                    shop_name=shop.name,
                    status=status,
                    paid_at=paid_at,
                    deadline=deadline,
                    hours_left=_hours(deadline - now),
                    is_overdue=deadline <= now,
                    unshipped_units=unshipped or 0,
                )
            )
    return sorted(found, key=lambda row: (row.deadline, row.order_id))


@dataclass(frozen=True)
class DurationStats:
    """Hours over a set of parcels: count, mean, nearest-rank median and 90th percentile, maximum."""

    count: int
    average_hours: Decimal | None
    p50_hours: Decimal | None
    p90_hours: Decimal | None
    max_hours: Decimal | None


def _nearest_rank(ordered: list[float], percent: int) -> float:
    return ordered[max(math.ceil(percent / 100 * len(ordered)), 1) - 1]


def duration_stats(seconds: list[float]) -> DurationStats:
    if not seconds:
        return DurationStats(0, None, None, None, None)
    ordered = sorted(seconds)

    def hours(value: float) -> Decimal:
        return (Decimal(repr(value)) / 3600).quantize(HOUR, rounding=ROUND_HALF_UP)

    return DurationStats(
        count=len(ordered),
        average_hours=hours(sum(ordered) / len(ordered)),
        p50_hours=hours(_nearest_rank(ordered, 50)),
        p90_hours=hours(_nearest_rank(ordered, 90)),
        max_hours=hours(ordered[-1]),
    )


@dataclass(frozen=True)
class ShippingTimeRow:
    """One shop × carrier: paid → shipped per (parcel, order), shipped → delivered per parcel."""

    shop_id: int | None
    shop_name: str
    carrier_id: int | None
    carrier_name: str
    parcels: int
    paid_to_shipped: DurationStats
    shipped_to_delivered: DurationStats


def _parcels(
    since: dt.datetime, until: dt.datetime, shop_id: int | None, carrier_id: int | None, user: Any
) -> QuerySet[Shipment]:
    parcels: QuerySet[Shipment] = Shipment.objects.filter(
        shipped_at__gte=since, shipped_at__lt=until
    ).exclude(status=ShipmentStatus.CANCELLED)
    if user is not None:
        parcels = parcels.filter(shop_id__in=Shop.objects.for_user(user).values("pk"))
    if shop_id is not None:
        parcels = parcels.filter(shop_id=shop_id)
    if carrier_id is not None:
        parcels = parcels.filter(carrier_id=carrier_id)
    return parcels


def shipping_times(
    *,
    since: dt.datetime,
    until: dt.datetime,
    shop_id: int | None = None,
    carrier_id: int | None = None,
    user: Any = None,
) -> list[ShippingTimeRow]:
    """发货时效 and 配送时效 of parcels shipped in [since, until), per shop and carrier, plus a last row
    over all of them (shop and carrier None)."""
    parcels = _parcels(since, until, shop_id, carrier_id, user)
    info: dict[int, tuple[int, int | None, dt.datetime, dt.datetime | None]] = {}
    for pk, shop_pk, carrier_pk, left_at, signed_at in parcels.values_list(
        "pk", "shop_id", "carrier_id", "shipped_at", "delivered_at"
    ):
        if left_at is not None:
            info[pk] = (shop_pk, carrier_pk, left_at, signed_at)
    paid = (
        ShipmentLine.objects.filter(shipment_id__in=list(info), order_line__order__paid_at__isnull=False)
        .values_list("shipment_id", "order_line__order_id", "order_line__order__paid_at")
        .distinct()
    )
    ship_seconds: dict[tuple[int, int | None], list[float]] = defaultdict(list)
    for shipment_id, _order_id, paid_at in paid:
        shop, carrier, shipped_at, _delivered = info[shipment_id]
        if paid_at is not None and shipped_at >= paid_at:
            ship_seconds[(shop, carrier)].append((shipped_at - paid_at).total_seconds())
    deliver_seconds: dict[tuple[int, int | None], list[float]] = defaultdict(list)
    counts: dict[tuple[int, int | None], int] = defaultdict(int)
    for shop, carrier, shipped_at, delivered_at in info.values():
        counts[(shop, carrier)] += 1
        if delivered_at is not None and delivered_at >= shipped_at:
            deliver_seconds[(shop, carrier)].append((delivered_at - shipped_at).total_seconds())
    shop_names = dict(Shop.objects.filter(pk__in={key[0] for key in counts}).values_list("pk", "name"))
    carrier_names = dict(Carrier.objects.values_list("pk", "name"))
    rows = [
        ShippingTimeRow(
            shop_id=shop,
            shop_name=shop_names.get(shop, ""),
            carrier_id=carrier,
            carrier_name=carrier_names.get(carrier, "") if carrier else "",
            parcels=counts[(shop, carrier)],
            paid_to_shipped=duration_stats(ship_seconds[(shop, carrier)]),
            shipped_to_delivered=duration_stats(deliver_seconds[(shop, carrier)]),
        )
        for shop, carrier in sorted(counts, key=lambda key: (key[0], key[1] or 0))
    ]
    rows.append(
        ShippingTimeRow(
            shop_id=None,
            shop_name="合计",
            carrier_id=None,
            carrier_name="",
            parcels=sum(counts.values()),
            paid_to_shipped=duration_stats([s for values in ship_seconds.values() for s in values]),
            shipped_to_delivered=duration_stats([s for values in deliver_seconds.values() for s in values]),
        )
    )
    return rows


@dataclass(frozen=True)
class MergeGroup:
    """Open orders of one shop and one receiver that could leave in one parcel (合并发货)."""

    shop_id: int
    order_ids: list[int]
    external_ids: list[str]


def merge_candidates(*, shop_id: int | None = None, user: Any = None) -> list[MergeGroup]:
    """Groups of two or more open orders of the same receiver (Order.receiver_hash) and shop that still
    have units to pack."""
    open_orders: QuerySet[Order] = (
        Order.objects.filter(status__in=list(SHIPPABLE_ORDER_STATUSES))
        .exclude(receiver_hash="")
        .exclude(review_status=ReviewStatus.INVALID)
    )
    if user is not None:
        open_orders = Order.objects.for_user(user).filter(pk__in=open_orders.values("pk"))
    if shop_id is not None:
        open_orders = open_orders.filter(shop_id=shop_id)
    keys = (
        open_orders.order_by()
        .values("shop_id", "receiver_hash")
        .annotate(orders=Count("pk"))
        .filter(orders__gte=2)
        .values_list("shop_id", "receiver_hash")
    )
    wanted = Q()
    for shop, receiver in keys:
        wanted |= Q(shop_id=shop, receiver_hash=receiver)
    if not wanted:
        return []
    orders = list(
        open_orders.filter(wanted).order_by("pk").values_list("pk", "external_id", "shop_id", "receiver_hash")
    )
    left = open_quantities(OrderLine.objects.filter(order_id__in=[row[0] for row in orders]))
    has_units: set[int] = set(
        OrderLine.objects.filter(pk__in=[pk for pk, units in left.items() if units > 0]).values_list(
            "order_id", flat=True
        )
    )
    grouped: dict[tuple[int, str], list[tuple[int, str]]] = defaultdict(list)
    for order_id, external_id, shop, receiver in orders:
        if order_id in has_units:
            grouped[(shop, receiver)].append((order_id, external_id))
    return [
        MergeGroup(
            shop_id=shop, order_ids=[pk for pk, _ in members], external_ids=[ext for _, ext in members]
        )
        for (shop, _receiver), members in sorted(grouped.items(), key=lambda item: item[1][0][0])
        if len(members) >= 2
    ]
