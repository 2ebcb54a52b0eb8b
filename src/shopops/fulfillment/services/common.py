"""Shared pieces of the fulfillment services: errors, open quantities, locks and small lookups."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from shopops.core.errors import Conflict, InvalidInput, NotFound
from shopops.fulfillment.models import Shipment
from shopops.fulfillment.queries import (
    SHIPPABLE_ORDER_STATUSES,
    in_open_shipments,
    left_to_ship,
    open_quantities,
)
from shopops.inventory.models import Warehouse
from shopops.orders import queries as order_queries
from shopops.orders.models import Order, OrderStatus, ReviewStatus
from shopops.orders.services import common as order_common
from shopops.orders.services.common import OrderNotShippable

# Orders that went out through the platform (or partly did): a platform parcel can stand for them.
SHIPPED_ORDER_STATUSES = frozenset(
    {OrderStatus.PARTIALLY_SHIPPED, OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.COMPLETED}
)


class ShipmentStateError(Conflict):
    code = "illegal_shipment_transition"


class QuantityExceedsOpen(Conflict):
    code = "quantity_exceeds_open"


class ReceiverMismatch(InvalidInput):
    code = "receiver_mismatch"


class TrackingNumberTaken(Conflict):
    code = "tracking_number_taken"


def lock_orders(order_ids: Iterable[int]) -> list[Order]:
    """The orders, locked in the orders app's stable order (the order is where parcel creation for its
    lines serializes); an id that does not exist is refused."""
    wanted = set(order_ids)
    orders = order_common.lock_orders(wanted)
    if len(orders) != len(wanted):
        raise NotFound("订单不存在", fields={"order_ids": "含不存在的订单"})
    return orders


def lock_shipment(shipment_id: int) -> Shipment:
    shipment = Shipment.objects.select_for_update(of=("self",)).filter(pk=shipment_id).first()
    if shipment is None:
        raise NotFound("发货单不存在", fields={"shipment_id": "不存在"})
    return shipment


def check_shippable(order: Order) -> None:
    """The orders app's can-ship status rule, plus fulfillment's own: an order judged invalid is not packed."""
    refusal = order_queries.shipping_refusal(order)
    if refusal is not None:
        raise OrderNotShippable(refusal, fields={"order_id": order.get_status_display()})
    if order.review_status == ReviewStatus.INVALID:
        raise OrderNotShippable(
            f"订单 {order.external_id} 已判为无效订单，不能发货", fields={"order_id": "无效订单"}
        )


__all__ = [
    "SHIPPABLE_ORDER_STATUSES",
    "in_open_shipments",
    "left_to_ship",
    "open_quantities",
]


def require_active_warehouse(warehouse_id: int) -> Warehouse:
    warehouse = Warehouse.objects.filter(pk=warehouse_id).first()
    if warehouse is None:
        raise NotFound("仓库不存在", fields={"warehouse_id": "不存在"})
    if not warehouse.is_active:
        raise InvalidInput("仓库已停用", fields={"warehouse_id": "已停用"}, code="warehouse_inactive")
    return warehouse


def default_warehouse_id() -> int | None:
    """The fallback warehouse (lowest id among active ones) for parcels nothing else places."""
    return Warehouse.objects.filter(is_active=True).order_by("pk").values_list("pk", flat=True).first()


def shipment_orders(shipment: Shipment) -> list[Order]:
    return list(Order.objects.filter(lines__shipment_lines__shipment=shipment).distinct().order_by("pk"))


def text_or_empty(value: Any, *, max_length: int) -> str:
    return str(value or "").strip()[:max_length]
