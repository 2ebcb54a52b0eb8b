"""Fulfillment test factories: paid orders (through the order services) and parcels (through ours)."""

from __future__ import annotations

from typing import Any

from shopops.channels.models import Shop
from shopops.fulfillment import services
from shopops.fulfillment.models import Carrier, Shipment
from shopops.orders.models import Order


def carrier(code: str = "SF") -> Carrier:
    """A carrier seeded by migration 0003."""
    return Carrier.objects.get(code=code)


def parcel_for(order: Order, *, actor: Any = None, warehouse_id: int | None = None) -> Shipment:
    """One parcel holding every unit the order still has to ship."""
    lines = {line.pk: line.quantity - line.shipped_quantity for line in order.lines.order_by("line_no")}
    return services.create_shipment(
        actor=actor, lines={pk: units for pk, units in lines.items() if units}, warehouse_id=warehouse_id
    )


def shipped_parcel(
    order: Order, *, tracking_number: str, carrier_code: str = "SF", actor: Any = None, **ship: Any
) -> Shipment:
    shipment = parcel_for(order, actor=actor)
    return services.ship_shipment(
        actor=actor, shipment_id=shipment.pk, carrier=carrier_code, tracking_number=tracking_number, **ship
    )


def shop_with_promise(shop: Shop, hours: int) -> Shop:
    shop.settings = {**(shop.settings or {}), "ship_within_hours": hours}
    shop.save(update_fields=["settings"])
    return shop
