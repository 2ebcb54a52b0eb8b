"""Shared pieces of the order services: errors, locking, the timeline, validity and stock-tracking helpers."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable
from typing import Any

from django.db.models import Q
from django.utils import timezone

from shopops.core.audit import user_or_none
from shopops.core.errors import Conflict, InvalidInput, NotFound
from shopops.orders.models import (
    IssueStatus,
    Order,
    OrderEvent,
    OrderIssue,
    OrderStatus,
    StockState,
)

LINE_REFERENCE_TYPE = "order_line"

# Statuses in lifecycle order; a platform export may jump forward along it, never back.
STATUS_RANK: dict[str, int] = {
    OrderStatus.PENDING_PAYMENT: 0,
    OrderStatus.PAID: 1,
    OrderStatus.PARTIALLY_SHIPPED: 2,
    OrderStatus.SHIPPED: 3,
    OrderStatus.DELIVERED: 4,
    OrderStatus.COMPLETED: 5,
}
UNPAID_STATUSES = frozenset({OrderStatus.PENDING_PAYMENT, OrderStatus.CANCELLED})
SHIPPED_STATUSES = frozenset({OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.COMPLETED})


class IllegalTransition(Conflict):
    code = "illegal_transition"


class RefundTooLarge(Conflict):
    code = "refund_too_large"


class OrderNotShippable(Conflict):
    code = "order_not_shippable"


def status_label(status: str) -> str:
    try:
        return str(OrderStatus(status).label)
    except ValueError:
        return status


def illegal(order: Order, to_status: str) -> IllegalTransition:
    return IllegalTransition(
        f"订单 {order.external_id} 不能从「{status_label(order.status)}」变为「{status_label(to_status)}」",
        fields={"to_status": f"当前状态为 {order.status}"},
    )


def lock_order(order_id: int) -> Order:
    order = Order.objects.select_for_update(of=("self",)).select_related("shop").filter(pk=order_id).first()
    if order is None:
        raise NotFound("订单不存在", fields={"order_id": "不存在"}, code="order_not_found")
    return order


def lock_orders(order_ids: Iterable[int]) -> list[Order]:
    """Lock orders in ascending id order (the stable lock order: orders → their lines → stock levels)."""
    return list(
        Order.objects.select_for_update(of=("self",))
        .select_related("shop")
        .filter(pk__in=set(order_ids))
        .order_by("pk")
    )


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
    return OrderEvent.objects.create(
        order=order,
        kind=kind,
        actor=user_or_none(actor),
        via=(via or "")[:20],
        message=(message or "")[:500],
        changes=changes or {},
        from_status=from_status,
        to_status=to_status,
    )


def is_stock_tracked(order: Order) -> bool:
    return order.stock_state != StockState.UNTRACKED


def compute_is_valid(order: Order, *, has_invalidating_issue: bool) -> bool:
    """THE valid-order definition (see `orders.services.review`): paid, not cancelled, not test, no
    open or confirmed invalidating issue."""
    return (
        order.paid_at is not None
        and order.status not in UNPAID_STATUSES
        and not order.is_test
        and not has_invalidating_issue
    )


INVALIDATING = Q(marks_invalid=True) & Q(status__in=(IssueStatus.OPEN, IssueStatus.RESOLVED))


def refresh_validity(order: Order) -> bool:
    """Recompute and store `is_valid` of one (locked) order after a status or payment change."""
    invalidating = OrderIssue.objects.filter(INVALIDATING, order=order).exists()
    valid = compute_is_valid(order, has_invalidating_issue=invalidating)
    if valid != order.is_valid:
        order.is_valid = valid
        Order.objects.filter(pk=order.pk).update(is_valid=valid)
    return valid


# Zones whose utcoffset() is never None: a datetime carrying one is aware without asking the zone
# (ZoneInfo.utcoffset is slow, and an import checks a few times per order).
_ALWAYS_AWARE = (zoneinfo.ZoneInfo, dt.timezone)


def aware(value: dt.datetime | None, *, field: str) -> dt.datetime | None:
    if value is None:
        return None
    if type(value) is dt.datetime and type(value.tzinfo) in _ALWAYS_AWARE:
        return value
    if not isinstance(value, dt.datetime) or timezone.is_naive(value):
        raise InvalidInput("时间须带时区", fields={field: "须为带时区的时间"})
    return value
