"""Fulfillment actions: carriers, parcels (create, split, merge, pick, pack, ship, cancel), tracking
scans, platform-shipped parcels and shipping-promise alerts.

Stock never moves here: shipping a parcel calls `orders.services.record_shipment`, which deducts stock
through the inventory ledger and moves the orders. One module per area; this package re-exports them.
"""

from shopops.fulfillment.queries import MergeGroup, merge_candidates
from shopops.fulfillment.services.alerts import SHIP_OVERDUE_KIND, OverdueCheck, check_ship_overdue
from shopops.fulfillment.services.carriers import (
    UnknownCarrier,
    find_carrier,
    resolve_carrier,
    validate_tracking_number,
)
from shopops.fulfillment.services.common import (
    OrderNotShippable,
    QuantityExceedsOpen,
    ReceiverMismatch,
    ShipmentStateError,
    TrackingNumberTaken,
    open_quantities,
)
from shopops.fulfillment.services.platform import ensure_platform_shipments
from shopops.fulfillment.services.shipments import (
    LEFT_BLANK_CODE,
    BulkShipItem,
    BulkShipResult,
    OpenParcelExists,
    OrderShipItem,
    OrderShipResult,
    SplitBy,
    bulk_ship,
    bulk_ship_orders,
    cancel_shipment,
    create_shipment,
    merge_orders,
    pack_shipment,
    parcel_label,
    pick_shipment,
    ship_order,
    ship_shipment,
    split_order,
)
from shopops.fulfillment.services.tracking import (
    ShipmentNotTrackable,
    TrackingEventInput,
    TrackingResult,
    add_tracking_events,
    find_shipment_by_tracking,
    parse_tracking_state,
)

__all__ = [
    "LEFT_BLANK_CODE",
    "SHIP_OVERDUE_KIND",
    "BulkShipItem",
    "BulkShipResult",
    "MergeGroup",
    "OpenParcelExists",
    "OrderNotShippable",
    "OrderShipItem",
    "OrderShipResult",
    "OverdueCheck",
    "QuantityExceedsOpen",
    "ReceiverMismatch",
    "ShipmentNotTrackable",
    "ShipmentStateError",
    "SplitBy",
    "TrackingEventInput",
    "TrackingNumberTaken",
    "TrackingResult",
    "UnknownCarrier",
    "add_tracking_events",
    "bulk_ship",
    "bulk_ship_orders",
    "cancel_shipment",
    "check_ship_overdue",
    "create_shipment",
    "ensure_platform_shipments",
    "find_carrier",
    "find_shipment_by_tracking",
    "merge_candidates",
    "merge_orders",
    "open_quantities",
    "pack_shipment",
    "parse_tracking_state",
    "parcel_label",
    "pick_shipment",
    "resolve_carrier",
    "ship_order",
    "ship_shipment",
    "split_order",
    "validate_tracking_number",
]
