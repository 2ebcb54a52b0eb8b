"""Reproducible demo fulfillment: parcels for the demo orders shipped on the platforms (with their scans),
and a few parcels of open orders in the warehouse's hands (pending, picking, shipped today)."""

from __future__ import annotations

import datetime as dt
import random
from typing import TextIO

from django.db.models import Count
from django.utils import timezone

from shopops.catalog.demo_data import DEMO_ACTOR
from shopops.core.errors import DomainError
from shopops.fulfillment import services
from shopops.fulfillment.models import (
    Shipment,
    ShipmentLine,
    ShipmentSource,
    ShipmentStatus,
    TrackingEvent,
    TrackingState,
)
from shopops.orders.models import Order, OrderStatus

OWN_PARCELS = 12
SCAN_SOURCE = "demo"
CITIES = ("杭州", "上海", "广州", "北京", "成都", "武汉", "南京")


def is_empty() -> bool:
    return not Shipment.objects.exists()


def reset() -> None:
    TrackingEvent.objects.all().delete()
    ShipmentLine.objects.all().delete()
    Shipment.objects.all().delete()


def load(*, seed: int, days: int, stdout: TextIO) -> dict[str, int]:
    """Adds nothing when parcels exist or there are no orders."""
    if Shipment.objects.exists() or not Order.objects.exists():
        return {}
    rng = random.Random(seed * 104729 + 3)
    platform_parcels = services.ensure_platform_shipments(actor=DEMO_ACTOR)
    scans = _platform_scans(rng)
    own = _own_parcels(rng)
    return {"shipments_platform": platform_parcels, "tracking_events": scans, "shipments_own": own}


def _scans_for(parcel: Shipment, rng: random.Random, now: dt.datetime) -> list[TrackingEvent]:
    assert parcel.shipped_at is not None
    city = rng.choice(CITIES)
    plan = [
        (parcel.shipped_at + dt.timedelta(hours=1), TrackingState.COLLECTED, f"【{city}】快件已揽收"),
        (parcel.shipped_at + dt.timedelta(hours=9), TrackingState.IN_TRANSIT, f"快件已从【{city}】发出"),
    ]
    if parcel.delivered_at is not None:
        plan.append((parcel.delivered_at - dt.timedelta(hours=3), TrackingState.DELIVERING, "快递员正在派件"))
        plan.append((parcel.delivered_at, TrackingState.SIGNED, "已签收，签收人：本人"))
    return [
        TrackingEvent(shipment=parcel, occurred_at=when, state=state, description=text, source=SCAN_SOURCE)
        for when, state, text in sorted(plan)
        if when <= now
    ]


def _platform_scans(rng: random.Random) -> int:
    """Scans as a tracking aggregator would report them; written in bulk (the parcels' statuses already
    follow the orders), the latest scan then set on each parcel."""
    now = timezone.now()
    parcels = list(Shipment.objects.filter(source=ShipmentSource.PLATFORM).order_by("pk"))
    events: list[TrackingEvent] = []
    for parcel in parcels:
        mine = _scans_for(parcel, rng, now)
        events.extend(mine)
        if mine:
            parcel.tracking_state = mine[-1].state
            parcel.last_tracked_at = mine[-1].occurred_at
    TrackingEvent.objects.bulk_create(events, batch_size=1000)
    Shipment.objects.bulk_update(parcels, ["tracking_state", "last_tracked_at"], batch_size=1000)
    return len(events)


def _own_parcels(rng: random.Random) -> int:
    """Open, stock-tracked orders the warehouse is working on: packed, picking, or shipped today."""
    candidates = list(
        Order.objects.filter(status=OrderStatus.PAID, is_valid=True)
        .annotate(line_count=Count("lines"))
        .filter(line_count__gte=1)
        .exclude(stock_state="untracked")
        .order_by("paid_at", "pk")[: OWN_PARCELS * 2]
    )
    made = 0
    for order in candidates:
        if made >= OWN_PARCELS:
            break
        try:
            parcels = services.split_order(actor=DEMO_ACTOR, order_id=order.pk, by="warehouse", via="demo")
            for parcel in parcels:
                _advance(parcel, rng, made)
        except DomainError:
            continue  # an order short of stock stays in the queue, as it would in a warehouse
        made += 1
    return (
        Shipment.objects.filter(source=ShipmentSource.SYSTEM).exclude(status=ShipmentStatus.CANCELLED).count()
    )


def _advance(parcel: Shipment, rng: random.Random, position: int) -> None:
    if position % 3 == 0:
        return  # still waiting to be picked
    services.pick_shipment(actor=DEMO_ACTOR, shipment_id=parcel.pk, via="demo")
    if position % 3 == 1:
        return
    services.pack_shipment(actor=DEMO_ACTOR, shipment_id=parcel.pk, via="demo")
    number = f"SF{rng.randrange(10**13):013d}"
    services.ship_shipment(
        actor=DEMO_ACTOR,
        shipment_id=parcel.pk,
        carrier="SF",
        tracking_number=number,
        shipping_cost=f"{rng.randrange(8, 23)}.00",
        via="demo",
    )
