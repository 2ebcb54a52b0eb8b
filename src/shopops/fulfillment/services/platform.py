"""Parcels for orders shipped in the platform's seller centre: recorded, never a stock effect."""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet

from shopops.core import audit
from shopops.core.models import AuditEntry
from shopops.fulfillment.models import Carrier, Shipment, ShipmentLine, ShipmentSource, ShipmentStatus
from shopops.fulfillment.services.carriers import find_carrier, validate_tracking_number
from shopops.fulfillment.services.common import SHIPPED_ORDER_STATUSES, default_warehouse_id
from shopops.orders import services as order_services
from shopops.orders.models import Order, OrderEventKind, OrderStatus

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
# (carrier id, tracking number, shop id when the carrier is unknown): what one platform parcel stands for
ParcelKey = tuple[int | None, str, int | None]


def _live_lines() -> QuerySet[ShipmentLine]:
    """Lines of parcels that count (a cancelled parcel never left)."""
    return ShipmentLine.objects.exclude(shipment__status=ShipmentStatus.CANCELLED)


def _key(carrier_id: int | None, number: str, shop_id: int) -> ParcelKey:
    # the database keeps carrier + number unique; without a carrier only the shop tells parcels apart
    return (carrier_id, number, shop_id if carrier_id is None else None)


def _line_quantities(order: Order) -> dict[int, int]:
    """Units the platform parcel holds: what the order shipped (all of it when the platform says shipped)."""
    quantities = {}
    for line in order.lines.all():
        units = line.shipped_quantity
        if order.status != OrderStatus.PARTIALLY_SHIPPED:
            units = units or line.quantity
        if units > 0:
            quantities[line.pk] = units
    return quantities


def ensure_platform_shipments(*, order_ids: list[int] | None = None, actor: Any = None) -> int:
    """Parcels (status shipped, or delivered; no stock effect: the order services already settled stock)
    for orders the platform reports shipped with a tracking number that have no live parcel here yet.
    Orders of one carrier + tracking number share one parcel (the platform merged them). Returns how many
    parcels were created; safe to run again. Works in batches, each its own transaction."""
    pending = (
        Order.objects.filter(status__in=list(SHIPPED_ORDER_STATUSES))
        .exclude(tracking_number="")
        .filter(~Exists(_live_lines().filter(order_line__order=OuterRef("pk"))))
    )
    if order_ids is not None:
        pending = pending.filter(pk__in=order_ids)
    ids = list(pending.order_by("pk").values_list("pk", flat=True))
    carriers: dict[str, Carrier | None] = {}
    created = 0
    for start in range(0, len(ids), BATCH_SIZE):
        with transaction.atomic():
            created += _attach_batch(ids[start : start + BATCH_SIZE], actor=actor, carriers=carriers)
    return created


def _group(
    orders: list[Order], carriers: dict[str, Carrier | None]
) -> dict[ParcelKey, list[tuple[Order, dict[int, int]]]]:
    groups: dict[ParcelKey, list[tuple[Order, dict[int, int]]]] = defaultdict(list)
    for order in orders:
        number = order.tracking_number.strip()
        if not number or order.status not in SHIPPED_ORDER_STATUSES:
            continue
        if order.carrier_name not in carriers:
            carriers[order.carrier_name] = find_carrier(order.carrier_name)
        carrier = carriers[order.carrier_name]
        quantities = _line_quantities(order)
        if quantities:
            groups[_key(carrier.pk if carrier else None, number, order.shop_id)].append((order, quantities))
    return groups


def _new_parcel(order: Order, carrier: Carrier | None, warehouse_id: int, actor: Any) -> Shipment:
    number = order.tracking_number.strip()
    is_delivered = order.status in (OrderStatus.DELIVERED, OrderStatus.COMPLETED)
    return Shipment(
        shop_id=order.shop_id,
        warehouse_id=warehouse_id,
        carrier=carrier,
        tracking_number=number,
        status=ShipmentStatus.DELIVERED if is_delivered else ShipmentStatus.SHIPPED,
        source=ShipmentSource.PLATFORM,
        shipped_at=order.shipped_at or order.paid_at or order.placed_at,
        delivered_at=(order.delivered_at or order.completed_at) if is_delivered else None,
        created_by=audit.user_or_none(actor),
        warnings=validate_tracking_number(carrier, number),
        note=f"平台发货：{order.carrier_name}"[:300],
    )


def _attach_batch(order_ids: list[int], *, actor: Any, carriers: dict[str, Carrier | None]) -> int:
    orders = list(
        Order.objects.select_for_update(of=("self",))
        .filter(pk__in=order_ids)
        .order_by("pk")
        .prefetch_related("lines")
    )
    # checked again under the locks: a parcel may have been made meanwhile
    taken = set(
        _live_lines()
        .filter(order_line__order_id__in=order_ids)
        .values_list("order_line__order_id", flat=True)
    )
    groups = _group([order for order in orders if order.pk not in taken], carriers)
    if not groups:
        return 0
    existing: dict[ParcelKey, Shipment] = {}
    for parcel in Shipment.objects.filter(tracking_number__in={key[1] for key in groups}).order_by("pk"):
        existing.setdefault(_key(parcel.carrier_id, parcel.tracking_number, parcel.shop_id), parcel)
    by_id = {carrier.pk: carrier for carrier in carriers.values() if carrier is not None}
    fallback = default_warehouse_id()
    new: list[Shipment] = []
    attach: list[tuple[Shipment, Order, dict[int, int]]] = []
    for key, members in groups.items():
        found = existing.get(key)
        first = members[0][0]
        if found is not None and (
            found.source != ShipmentSource.PLATFORM
            or found.shop_id != first.shop_id
            or found.status == ShipmentStatus.CANCELLED
        ):
            logger.warning(
                "platform tracking number %s is already one of our parcels (#%s)", key[1], found.pk
            )
            continue
        if found is None:
            warehouse_id = first.warehouse_id or fallback
            if warehouse_id is None:
                continue  # no warehouse exists yet to book the parcel on
            found = _new_parcel(first, by_id.get(key[0]) if key[0] else None, warehouse_id, actor)
            new.append(found)
        attach.extend((found, order, quantities) for order, quantities in members)
    Shipment.objects.bulk_create(new)
    ShipmentLine.objects.bulk_create(
        [
            ShipmentLine(shipment=parcel, order_line_id=line_id, quantity=units)
            for parcel, _order, quantities in attach
            for line_id, units in quantities.items()
        ]
    )
    _record(attach, {parcel.pk for parcel in new}, actor)
    return len(new)


def _record(attach: list[tuple[Shipment, Order, dict[int, int]]], new_ids: set[int], actor: Any) -> None:
    AuditEntry.objects.bulk_create(
        [
            audit.entry(
                actor=actor or "system",
                action="shipment.platform_recorded",
                instance=parcel,
                changes={
                    "order_id": order.pk,
                    "lines": {str(line_id): units for line_id, units in quantities.items()},
                    "created": parcel.pk in new_ids,
                },
            )
            for parcel, order, quantities in attach
        ]
    )
    for parcel, order, _quantities in attach:
        order_services.add_order_event(
            order=order,
            kind=OrderEventKind.SHIPMENT,
            actor=actor,
            via="system",
            message=f"平台已发货：{order.carrier_name} {order.tracking_number}，记为包裹 #{parcel.pk}",
        )
