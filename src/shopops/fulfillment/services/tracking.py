"""Tracking: scans of parcels (idempotent), delivery and return effects, and parcels for platform-shipped orders."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from shopops.core import audit
from shopops.core.errors import Conflict, InvalidInput, NotFound
from shopops.core.tabular import normalise_header
from shopops.fulfillment.models import (
    Carrier,
    Shipment,
    ShipmentStatus,
    TrackingEvent,
    TrackingState,
)
from shopops.fulfillment.services.carriers import find_carrier
from shopops.fulfillment.services.common import (
    lock_shipment,
    shipment_orders,
    text_or_empty,
)
from shopops.fulfillment.services.platform import ensure_platform_shipments
from shopops.orders import services as order_services
from shopops.orders.models import Order, OrderEventKind, OrderStatus

# The latest scan in one of these states flags the parcel (物流异常) until a later normal scan.
PROBLEM_STATES = frozenset(
    {TrackingState.PROBLEM, TrackingState.RETURN_SIGNED, TrackingState.RETURNING, TrackingState.REFUSED}
)
TRACKABLE_STATUSES = frozenset({ShipmentStatus.SHIPPED, ShipmentStatus.DELIVERED, ShipmentStatus.RETURNED})
# Words carriers and aggregators write for the 快递100 states, besides the codes and our labels.
STATE_WORDS: dict[str, str] = {
    "在途中": TrackingState.IN_TRANSIT,
    "运输中": TrackingState.IN_TRANSIT,
    "已揽收": TrackingState.COLLECTED,
    "揽件": TrackingState.COLLECTED,
    "已揽件": TrackingState.COLLECTED,
    "问题件": TrackingState.PROBLEM,
    "已签收": TrackingState.SIGNED,
    "派送中": TrackingState.DELIVERING,
    "派件中": TrackingState.DELIVERING,
    "退回中": TrackingState.RETURNING,
    "转单": TrackingState.FORWARDED,
    "已拒签": TrackingState.REFUSED,
}
_STATE_LOOKUP = {
    normalise_header(text): value
    for text, value in [
        *((choice.value, choice.value) for choice in TrackingState),
        *((str(choice.label), choice.value) for choice in TrackingState),
        *STATE_WORDS.items(),
    ]
}


class ShipmentNotTrackable(Conflict):
    code = "shipment_not_trackable"


def parse_tracking_state(text: str) -> str:
    """A 快递100 state from its code (3), label (签收) or a common word (已签收)."""
    value = _STATE_LOOKUP.get(normalise_header(text))
    if value is None:
        raise InvalidInput(
            f"物流状态“{text}”无效，可用 快递100 状态码或：{'、'.join(str(s.label) for s in TrackingState)}",
            fields={"state": "无效"},
        )
    return value


@dataclass(frozen=True)
class TrackingEventInput:
    occurred_at: dt.datetime
    state: str
    description: str = ""
    location: str = ""


@dataclass
class TrackingResult:
    """What one batch of scans did to one parcel."""

    shipment_id: int
    created: int
    unchanged: int
    status: str
    has_problem: bool
    delivered_order_ids: list[int] = field(default_factory=list)


def _clean_events(events: list[TrackingEventInput]) -> list[TrackingEventInput]:
    cleaned = []
    for event in events:
        if timezone.is_naive(event.occurred_at):
            raise InvalidInput("轨迹时间须带时区", fields={"occurred_at": "须带时区"})
        cleaned.append(
            TrackingEventInput(
                occurred_at=event.occurred_at.astimezone(dt.UTC),
                state=parse_tracking_state(event.state),
                description=text_or_empty(event.description, max_length=300),
                location=text_or_empty(event.location, max_length=100),
            )
        )
    return cleaned


def find_shipment_by_tracking(carrier: str | Carrier | None, tracking_number: str) -> Shipment | None:
    """The parcel with this tracking number (and carrier, when known). Platform-shipped orders with this
    number get their parcel first, so their scans have somewhere to go."""
    number = (tracking_number or "").strip()
    if not number:
        return None
    carrier_obj = carrier if isinstance(carrier, Carrier) else find_carrier(carrier or "")
    order_ids = list(Order.objects.filter(tracking_number=number).values_list("pk", flat=True))
    if order_ids:
        ensure_platform_shipments(order_ids=order_ids)
    candidates = Shipment.objects.filter(tracking_number=number).exclude(status=ShipmentStatus.CANCELLED)
    if carrier_obj is not None:
        exact = candidates.filter(carrier=carrier_obj).first()
        if exact is not None:
            return exact
        candidates = candidates.filter(carrier__isnull=True)
    found = list(candidates.order_by("pk")[:2])
    return found[0] if len(found) == 1 else None


def _delivered_orders(shipment: Shipment) -> list[int]:
    """Orders of the parcel whose every parcel still counting is signed for (a split order waits for all)."""
    done = []
    for order in shipment_orders(shipment):
        if order.status != OrderStatus.SHIPPED:
            continue
        pending = (
            Shipment.objects.filter(lines__order_line__order=order)
            .exclude(status__in=[ShipmentStatus.DELIVERED, ShipmentStatus.CANCELLED, ShipmentStatus.RETURNED])
            .exists()
        )
        if not pending:
            done.append(order.pk)
    return done


def _apply_state(shipment: Shipment, events: list[TrackingEvent]) -> None:
    """Parcel status and flags from all its scans (order of arrival does not matter)."""
    latest = max(events, key=lambda event: (event.occurred_at, event.pk or 0))
    shipment.tracking_state = latest.state
    shipment.last_tracked_at = latest.occurred_at
    shipment.has_problem = latest.state in PROBLEM_STATES
    shipment.problem_note = str(TrackingState(latest.state).label) if shipment.has_problem else ""
    states = {event.state for event in events}
    if TrackingState.RETURN_SIGNED in states and shipment.status in (
        ShipmentStatus.SHIPPED,
        ShipmentStatus.DELIVERED,
    ):
        shipment.status = ShipmentStatus.RETURNED
    elif TrackingState.SIGNED in states and shipment.status == ShipmentStatus.SHIPPED:
        shipment.status = ShipmentStatus.DELIVERED
        shipment.delivered_at = min(
            event.occurred_at for event in events if event.state == TrackingState.SIGNED
        )


def _resolve_target(
    shipment_id: int | None, carrier: str | Carrier | None, tracking_number: str | None
) -> int:
    if shipment_id is not None:
        return shipment_id
    shipment = find_shipment_by_tracking(carrier, tracking_number or "")
    if shipment is None:
        raise NotFound(f"找不到运单号 {tracking_number} 的包裹", fields={"tracking_number": "找不到包裹"})
    return shipment.pk


def add_tracking_events(
    *,
    actor: Any,
    events: list[TrackingEventInput],
    source: str,
    shipment_id: int | None = None,
    carrier: str | Carrier | None = None,
    tracking_number: str | None = None,
    via: str = "system",
) -> TrackingResult:
    """Record scans of one parcel (by id, or by carrier + tracking number). Idempotent: a scan already
    known (same parcel, time and state) is skipped. 签收 makes the parcel delivered and, once every
    parcel of an order is signed for, the order delivered; 退签 makes it returned; the latest scan in
    疑难/退签/退回/拒签 flags the parcel."""
    cleaned = _clean_events(events)
    target = _resolve_target(shipment_id, carrier, tracking_number)
    with transaction.atomic():
        shipment = lock_shipment(target)
        if shipment.status not in TRACKABLE_STATUSES:
            raise ShipmentNotTrackable(
                f"“{shipment.get_status_display()}”的包裹不能记录物流轨迹",
                fields={"shipment_id": shipment.status},
            )
        known = set(shipment.tracking_events.values_list("occurred_at", "state"))
        fresh: dict[tuple[dt.datetime, str], TrackingEventInput] = {}
        for event in cleaned:
            key = (event.occurred_at, event.state)
            if key not in known:
                fresh.setdefault(key, event)
        TrackingEvent.objects.bulk_create(
            [
                TrackingEvent(
                    shipment=shipment,
                    occurred_at=event.occurred_at,
                    state=event.state,
                    description=event.description,
                    location=event.location,
                    source=text_or_empty(source, max_length=20),
                )
                for event in fresh.values()
            ]
        )
        delivered: list[int] = []
        if fresh:
            delivered = _record_effects(shipment, actor=actor, via=via, added=len(fresh))
    return TrackingResult(
        shipment_id=shipment.pk,
        created=len(fresh),
        unchanged=len(cleaned) - len(fresh),
        status=shipment.status,
        has_problem=shipment.has_problem,
        delivered_order_ids=delivered,
    )


def _record_effects(shipment: Shipment, *, actor: Any, via: str, added: int) -> list[int]:
    before = audit.snapshot(shipment)
    _apply_state(shipment, list(shipment.tracking_events.all()))
    shipment.save()
    changes: dict[str, Any] = {
        **audit.diff(before, audit.snapshot(shipment)),
        "tracking_events_added": added,
    }
    audit.record(actor=actor, action="shipment.tracked", instance=shipment, changes=changes)
    delivered: list[int] = []
    orders = shipment_orders(shipment)
    if before["status"] != shipment.status and shipment.status == ShipmentStatus.DELIVERED:
        delivered = _delivered_orders(shipment)
        if delivered:
            order_services.record_delivery(
                actor=actor,
                order_ids=delivered,
                delivered_at=shipment.delivered_at or timezone.now(),
                via=via,
            )
    elif before["status"] != shipment.status and shipment.status == ShipmentStatus.RETURNED:
        for order in orders:
            order_services.add_order_event(
                order=order,
                kind=OrderEventKind.SHIPMENT,
                actor=actor,
                via=via,
                message=f"包裹 #{shipment.pk} 退签，退回发件人",
            )
    elif shipment.has_problem and not before["has_problem"]:
        for order in orders:
            order_services.add_order_event(
                order=order,
                kind=OrderEventKind.SHIPMENT,
                actor=actor,
                via=via,
                message=f"包裹 #{shipment.pk} 物流异常：{shipment.problem_note}",
            )
    return delivered
