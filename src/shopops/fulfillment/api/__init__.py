"""Fulfillment API: carriers, shipments (create, split, merge, pick/pack/ship/cancel), tracking, timeliness."""

from shopops.fulfillment.api.common import ShipmentOut, router
from shopops.fulfillment.models import Shipment
from shopops.orders.api.read import DETAIL_SECTIONS
from shopops.orders.models import Order

# Importing a sub-module registers its operations on the shared router, in this order. Django tries URL
# patterns in registration order and `/shipments/{shipment_id}` (registered last, in `shipments`) would
# otherwise also match the fixed paths such as `/shipments/tracking`.
from shopops.fulfillment.api import tracking, shipments  # isort: skip

__all__ = ["router", "shipments", "tracking"]


def _order_shipments(user: object, order: Order) -> list[dict[str, object]]:
    """The order detail's parcels (registered below: orders cannot import fulfillment)."""
    shipments = (
        Shipment.objects.filter(lines__order_line__order=order)
        .distinct()
        .select_related("carrier")
        .prefetch_related("lines__order_line")
        .order_by("created_at", "pk")
    )
    return [ShipmentOut.from_orm(shipment).model_dump(mode="json") for shipment in shipments]


DETAIL_SECTIONS["shipments"] = _order_shipments
