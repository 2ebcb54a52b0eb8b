"""Fulfillment's part of personal-data requests: the parcels of a customer's orders for export; the
signer's name and contact details removed from tracking scans and parcel notes on anonymisation, while
carriers, tracking numbers, costs and times stay."""

from __future__ import annotations

import re

from django.db import transaction

from shopops.core.pii import scrub_text
from shopops.customers.models import Customer
from shopops.customers.personal_data import label, readable
from shopops.fulfillment.models import Shipment, TrackingEvent

# "签收人：张三" / "已签收，签收人是 李四" / "收件人: 王五": the name after the word goes
_SIGNER = re.compile(r"(签收人|收件人|收货人|代收人)(是|为)?\s*[:：]?\s*(?!已删除)[^\s，,。；;）)]+")
DELETED_NAME = "已删除"


def _scrubbed(text: str) -> str:
    return scrub_text(_SIGNER.sub(lambda match: f"{match.group(1)}：{DELETED_NAME}", text))


def _shipments(customer: Customer) -> list[Shipment]:
    ids = Shipment.objects.filter(lines__order_line__order__customer=customer).values("pk")
    return list(Shipment.objects.filter(pk__in=ids).select_related("carrier").order_by("created_at", "pk"))


def export(customer: Customer) -> dict[str, list[dict[str, str]]]:
    shipments = _shipments(customer)
    events = TrackingEvent.objects.filter(shipment__in=shipments).order_by("shipment_id", "occurred_at", "pk")
    return {
        str(Shipment._meta.verbose_name_plural): [
            {
                label(Shipment, "carrier"): str(shipment.carrier) if shipment.carrier else "",
                label(Shipment, "tracking_number"): shipment.tracking_number,
                label(Shipment, "status"): shipment.get_status_display(),
                label(Shipment, "shipped_at"): readable(shipment.shipped_at),
                label(Shipment, "delivered_at"): readable(shipment.delivered_at),
            }
            for shipment in shipments
        ],
        str(TrackingEvent._meta.verbose_name_plural): [
            {
                label(Shipment, "tracking_number"): event.shipment.tracking_number,
                label(TrackingEvent, "occurred_at"): readable(event.occurred_at),
                label(TrackingEvent, "state"): event.get_state_display(),
                label(TrackingEvent, "description"): event.description,
                label(TrackingEvent, "location"): event.location,
            }
            for event in events.select_related("shipment")
        ],
    }


def anonymise(customer: Customer) -> int:
    """Rows changed (0 the second time)."""
    changed = 0
    with transaction.atomic():
        shipments = _shipments(customer)
        for shipment in shipments:
            note = _scrubbed(shipment.note)
            if note != shipment.note:
                Shipment.objects.filter(pk=shipment.pk).update(note=note)
                changed += 1
        for event in TrackingEvent.objects.filter(shipment__in=shipments).order_by("pk"):
            description = _scrubbed(event.description)
            if description != event.description:
                TrackingEvent.objects.filter(pk=event.pk).update(description=description)
                changed += 1
    return changed
