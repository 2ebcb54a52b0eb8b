"""Order actions: create, platform updates, status transitions, stock effects, shipments, refunds, review.

CONTRACT (other apps call these; the orders helper implements them — replace each stub, keep the names
and keyword-only signatures; add more as needed):
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from shopops.orders.models import Order, OrderEvent
from shopops.orders.services.inputs import LineInput, OrderInput

__all__ = [
    "LineInput",
    "OrderInput",
    "add_order_event",
    "apply_platform_update",
    "cancel_order",
    "create_order",
    "line_warehouses",
    "record_delivery",
    "record_refund",
    "record_shipment",
    "review_orders",
    "sync_order_stock",
    "transition_order",
]


def create_order(*, actor: Any, shop_id: int, data: OrderInput, via: str = "api") -> Order:
    """Create one order (own web shop / manual / demo); idempotent per (shop, external_id): an existing
    order is returned unchanged. Links the customer, reserves stock per shop setting, runs review."""
    raise NotImplementedError


def apply_platform_update(
    *, actor: Any, order_id: int, data: OrderInput, via: str = "import", message: str = ""
) -> bool:
    """Apply what a newer platform export says about an existing order (status possibly skipping steps,
    amounts, times, memo); records the differences on the timeline, keeps stock in step. True if changed."""
    raise NotImplementedError


def transition_order(
    *, actor: Any, order_id: int, to_status: str, reason: str = "", via: str = "admin"
) -> Order:
    """Move the normalized status along ORDER_TRANSITIONS; anything else raises IllegalTransition (409)."""
    raise NotImplementedError


def cancel_order(*, actor: Any, order_id: int, reason: str, via: str = "admin") -> Order:
    """Cancel an unpaid order (or close a paid, unshipped one), releasing its reservations."""
    raise NotImplementedError


def sync_order_stock(*, actor: Any, order_id: int) -> None:
    """Make the order's stock effects match its status (reserve / release / nothing if untracked). Idempotent."""
    raise NotImplementedError


def line_warehouses(*, order_id: int) -> dict[int, int | None]:
    """The warehouse holding each line's reservation (order_line_id → warehouse_id or None)."""
    raise NotImplementedError


def record_shipment(
    *,
    actor: Any,
    warehouse_id: int,
    lines: dict[int, int],
    reference: str,
    shipped_at: dt.datetime | None = None,
    carrier_name: str = "",
    tracking_number: str = "",
    via: str = "admin",
) -> list[Order]:
    """Units of order lines ({order_line_id: quantity}) left `warehouse_id` in parcel `reference`:
    deduct stock (commit the reservation; untracked orders: no stock effect), raise shipped quantities,
    move each order to partially_shipped / shipped, add timeline entries. Runs inside the caller's
    transaction (fulfillment.ship_shipment)."""
    raise NotImplementedError


def record_delivery(
    *, actor: Any, order_ids: list[int], delivered_at: dt.datetime, via: str = "system"
) -> None:
    """The parcels of these orders were signed for: shipped orders become delivered (timeline)."""
    raise NotImplementedError


def record_refund(
    *,
    actor: Any,
    order_id: int,
    amount: Decimal,
    lines: dict[int, tuple[int, Decimal]],
    reference: str,
    via: str = "admin",
    note: str = "",
) -> Order:
    """Money went back to the buyer: `amount` in total, per line {order_line_id: (units, amount)}.
    Refuses more than paid − already refunded (RefundTooLarge, 409 code refund_too_large); sets the
    refund status (partial / full); a full refund closes the order and releases unshipped reservations."""
    raise NotImplementedError


def add_order_event(
    *,
    order: Order,
    kind: str,
    actor: Any,
    via: str,
    message: str = "",
    changes: dict[str, Any] | None = None,
    from_status: str = "",
    to_status: str = "",
) -> OrderEvent:
    """Append one timeline entry (used by fulfillment and after-sales for their steps too)."""
    raise NotImplementedError


def review_orders(*, order_ids: list[int], actor: Any = None) -> dict[int, list[str]]:
    """Run the review rules (审单) over these orders set-wise; open/resolve OrderIssue rows, set
    review_status and is_valid. Returns {order_id: [open rule codes]}."""
    raise NotImplementedError
