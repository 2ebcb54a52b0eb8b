"""Order actions: create, platform updates, status transitions, stock effects, shipments, refunds, review.

One module per area (creation, lifecycle, stock, refunds, review); this package re-exports their names,
so `from shopops.orders import services` stays the entry point. The valid-order definition analytics
uses is written down in `orders.services.review` (and docs/orders.md).
"""

from __future__ import annotations

from shopops.orders.services.common import (
    IllegalTransition,
    OrderNotShippable,
    RefundTooLarge,
    add_order_event,
)
from shopops.orders.services.creation import receiver_fingerprint, split_discount
from shopops.orders.services.inputs import LineInput, OrderInput
from shopops.orders.services.lifecycle import (
    cancel_order,
    close_unpaid_orders,
    create_order,
    mark_paid,
    record_delivery,
    transition_order,
    update_order_memo,
)
from shopops.orders.services.refunds import record_refund
from shopops.orders.services.review import (
    RULES,
    ReviewRule,
    ReviewSettings,
    ignore_issue,
    resolve_issue,
    review_orders,
    review_settings,
)
from shopops.orders.services.sku_mapping import (
    MappingResult,
    bulk_candidates,
    bulk_map,
    check_can_map,
    map_sku,
)
from shopops.orders.services.stock import (
    line_warehouses,
    open_units,
    record_shipment,
    retry_short_orders,
    sync_order_stock,
)
from shopops.orders.services.updates import apply_platform_update, followed_status

__all__ = [
    "RULES",
    "IllegalTransition",
    "LineInput",
    "MappingResult",
    "OrderInput",
    "OrderNotShippable",
    "RefundTooLarge",
    "ReviewRule",
    "ReviewSettings",
    "add_order_event",
    "apply_platform_update",
    "bulk_candidates",
    "bulk_map",
    "cancel_order",
    "check_can_map",
    "close_unpaid_orders",
    "create_order",
    "followed_status",
    "ignore_issue",
    "line_warehouses",
    "map_sku",
    "mark_paid",
    "open_units",
    "retry_short_orders",
    "receiver_fingerprint",
    "record_delivery",
    "record_refund",
    "record_shipment",
    "resolve_issue",
    "review_orders",
    "review_settings",
    "split_discount",
    "sync_order_stock",
    "transition_order",
    "update_order_memo",
]
