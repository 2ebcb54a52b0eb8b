"""Stock effects of orders, only through `inventory.services`: hold, release, deduct (ship), per order line.

Each order line holds its own reservation (reference_type "order_line", reference = the line id), so a
line can ship, be refunded or be released on its own; a bundle line reserves its components (inventory
does that). What a line should hold = its open units: quantity − shipped − refunded (refunded units will
not ship). When a line holds a different amount (after a partial refund) its reservation is released
and the open units reserved again.

Orders of a shop placed before `ShopSettings.stock_effects_since` are history (stock_state
"untracked"): they never touch stock. Insufficient stock never refuses an order: the order gets
stock_state "short" and an `out_of_stock` review issue, and `sync_order_stock` (a periodic task) tries again.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from shopops.channels.services import shop_settings
from shopops.core import audit
from shopops.core.errors import Conflict, InvalidInput, NotFound
from shopops.inventory import services as inventory_services
from shopops.inventory.models import Reservation, ReservationStatus
from shopops.orders.models import (
    FINAL_STATUSES,
    IssueStatus,
    Order,
    OrderEventKind,
    OrderIssue,
    OrderLine,
    OrderStatus,
    StockState,
)
from shopops.orders.queries import shipping_refusal
from shopops.orders.services.common import (
    LINE_REFERENCE_TYPE,
    SHIPPED_STATUSES,
    OrderNotShippable,
    add_order_event,
    aware,
    lock_order,
    lock_orders,
    refresh_validity,
)
from shopops.orders.services.review import review_orders

OUT_OF_STOCK = "out_of_stock"


def open_units(line: OrderLine) -> int:
    return max(line.quantity - line.shipped_quantity - line.refunded_quantity, 0)


def _active_holdings(lines: list[OrderLine]) -> dict[int, list[Reservation]]:
    by_line: dict[int, list[Reservation]] = {line.pk: [] for line in lines}
    if not lines:
        return by_line
    for reservation in Reservation.objects.filter(
        reference_type=LINE_REFERENCE_TYPE,
        reference__in=[str(line.pk) for line in lines],
        status=ReservationStatus.ACTIVE,
    ).order_by("sku_id"):
        by_line[int(reservation.reference)].append(reservation)
    return by_line


def _holds_exactly(line: OrderLine, held: list[Reservation], units: int) -> bool:
    if not held or line.sku_id is None:
        return False
    needs = inventory_services.component_needs(sku_id=line.sku_id, quantity=units)
    return {reservation.sku_id: reservation.quantity for reservation in held} == needs


def _release_line(line: OrderLine, actor: Any) -> None:
    inventory_services.release_reservation(
        reference=str(line.pk), reference_type=LINE_REFERENCE_TYPE, actor=actor
    )


def _hold_line(
    line: OrderLine, held: list[Reservation], actor: Any, warehouse_id: int | None, *, fallback: bool = False
) -> bool:
    """Make the line hold exactly its open units (in `warehouse_id` when given; with `fallback`, in the
    best warehouse when that one cannot cover them). False when short."""
    units = open_units(line)
    if line.sku_id is None:
        return False
    in_place = warehouse_id is None or all(r.warehouse_id == warehouse_id for r in held)
    if units and in_place and _holds_exactly(line, held, units):
        return True
    if held:
        _release_line(line, actor)
    if not units:
        return True
    candidates = [warehouse_id, None] if fallback and warehouse_id is not None else [warehouse_id]
    for candidate in candidates:
        try:
            inventory_services.reserve_stock(
                sku_id=line.sku_id,
                quantity=units,
                reference=str(line.pk),
                reference_type=LINE_REFERENCE_TYPE,
                warehouse_id=candidate,
                actor=actor,
            )
        except (inventory_services.InsufficientStock, InvalidInput, NotFound):
            continue
        return True
    return False


def _wants_reservation(order: Order) -> bool:
    if order.status in (OrderStatus.PAID, OrderStatus.PARTIALLY_SHIPPED):
        return True
    return order.status == OrderStatus.PENDING_PAYMENT and shop_settings(order.shop).reserve_on == "created"


def _open_issue(order: Order, rule: str, message: str) -> None:
    if not OrderIssue.objects.filter(order=order, rule=rule, status=IssueStatus.OPEN).exists():
        OrderIssue.objects.create(order=order, rule=rule, message=message[:300])


def _close_stock_issue(order: Order, actor: Any) -> None:
    OrderIssue.objects.filter(order=order, rule=OUT_OF_STOCK, status=IssueStatus.OPEN).update(
        status=IssueStatus.RESOLVED,
        resolved_at=timezone.now(),
        resolution="系统：库存已预占",
    )


def _ship_all_open(order: Order, lines: list[OrderLine], actor: Any) -> bool:
    """The order is shipped (platform says so, or an operator set it): deduct every open unit."""
    holdings = _active_holdings(lines)
    complete = True
    for line in lines:
        units = open_units(line)
        if not units or line.sku_id is None:
            continue
        where = None if holdings[line.pk] else order.warehouse_id  # held stock ships from where it is
        if not _hold_line(line, holdings[line.pk], actor, where, fallback=True):
            complete = False
            continue
        inventory_services.commit_reservation(
            reference=str(line.pk), reference_type=LINE_REFERENCE_TYPE, sku_id=line.sku_id, actor=actor
        )
        line.shipped_quantity += units
        line.save(update_fields=["shipped_quantity"])
    return complete


def _stock_state(order: Order, lines: list[OrderLine], short: bool) -> str:
    stocked = [line for line in lines if line.sku_id is not None]
    if short:
        return StockState.SHORT
    if stocked and all(open_units(line) == 0 and line.shipped_quantity for line in stocked):
        return StockState.DEDUCTED
    if order.status in FINAL_STATUSES:
        return StockState.RELEASED if order.stock_state != StockState.NONE else StockState.NONE
    if any(line.shipped_quantity for line in stocked):
        return StockState.PARTIAL
    if _wants_reservation(order) and stocked:
        return StockState.RESERVED
    return StockState.NONE


def _effects(order: Order, lines: list[OrderLine], actor: Any) -> bool:
    """Reserve, release or deduct so the lines match the order's status; True when stock was short."""
    if order.status in FINAL_STATUSES or not any(open_units(line) for line in lines):
        for line in lines:
            _release_line(line, actor)
        return False
    if order.status in SHIPPED_STATUSES:
        return not _ship_all_open(order, lines, actor)
    if not _wants_reservation(order):
        for line in lines:
            _release_line(line, actor)
        return False
    holdings = _active_holdings(lines)
    short = False
    for line in lines:
        # a line already holding stock keeps its warehouse: a split order ships from several
        where = None if holdings[line.pk] else order.warehouse_id
        if line.sku_id is not None and not _hold_line(line, holdings[line.pk], actor, where, fallback=True):
            short = True
    return short


def apply_stock(order: Order, *, actor: Any, via: str = "system") -> str:
    """Bring the stock effects of one locked order in line with its status; returns the stock state."""
    if order.stock_state == StockState.UNTRACKED:
        return StockState.UNTRACKED
    lines = list(order.lines.order_by("pk"))
    short = _effects(order, lines, actor)
    state = _stock_state(order, lines, short)
    if short:
        _open_issue(order, OUT_OF_STOCK, "库存不足，未能预占全部商品")
    else:
        _close_stock_issue(order, actor)
    if state != order.stock_state:
        add_order_event(
            order=order,
            kind=OrderEventKind.STOCK,
            actor=actor,
            via=via,
            message=str(StockState(state).label),
            changes={"stock_state": [order.stock_state, state]},
        )
        order.stock_state = state
        Order.objects.filter(pk=order.pk).update(stock_state=state)
    return state


def sync_order_stock(*, actor: Any, order_id: int) -> None:
    """Make the order's stock effects match its status (reserve / release / nothing if untracked). Idempotent."""
    with transaction.atomic():
        order = lock_order(order_id)
        apply_stock(order, actor=actor)


def line_warehouses(*, order_id: int) -> dict[int, int | None]:
    """The warehouse holding each line's reservation (order_line_id → warehouse_id or None)."""
    lines = list(OrderLine.objects.filter(order_id=order_id).order_by("pk"))
    holdings = _active_holdings(lines)
    return {line.pk: (holdings[line.pk][0].warehouse_id if holdings[line.pk] else None) for line in lines}


def _shipment_lines(lines: dict[int, int]) -> dict[int, OrderLine]:
    if not lines:
        raise InvalidInput("没有发货明细", fields={"lines": "必填"})
    for line_id, units in lines.items():
        if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
            raise InvalidInput("发货数量须为正整数", fields={f"lines.{line_id}": "须为正整数"})
    found = {
        line.pk: line
        for line in OrderLine.objects.select_for_update().filter(pk__in=list(lines)).order_by("pk")
    }
    missing = sorted(set(lines) - set(found))
    if missing:
        raise NotFound("订单明细不存在", fields={"lines": ", ".join(map(str, missing))})
    return found


def _ship_line(order: Order, line: OrderLine, units: int, warehouse_id: int, actor: Any) -> None:
    if units > open_units(line):
        raise Conflict(
            f"订单 {order.external_id} 第 {line.line_no} 行最多还可发 {open_units(line)} 件",
            fields={f"lines.{line.pk}": f"最多 {open_units(line)}"},
            code="shipment_exceeds_open",
        )
    if order.stock_state != StockState.UNTRACKED:
        if line.sku_id is None:
            raise OrderNotShippable(
                f"订单 {order.external_id} 第 {line.line_no} 行未匹配SKU，不能发货",
                fields={f"lines.{line.pk}": "SKU未匹配"},
            )
        held = _active_holdings([line])[line.pk]
        if not _hold_line(line, held, actor, warehouse_id):
            raise inventory_services.InsufficientStock(
                f"仓库库存不足，订单 {order.external_id} 第 {line.line_no} 行无法发货",
                fields={f"lines.{line.pk}": "库存不足"},
            )
        inventory_services.commit_reservation(
            reference=str(line.pk),
            reference_type=LINE_REFERENCE_TYPE,
            sku_id=line.sku_id,
            quantity=units,
            actor=actor,
        )
    line.shipped_quantity += units
    line.save(update_fields=["shipped_quantity"])


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
    deduct stock (commit the reservation, moved to this warehouse if it was held elsewhere; untracked
    orders: no stock effect), raise shipped quantities, move each order to partially_shipped / shipped
    (`shipped_at` is set by the first parcel), add timeline entries. Runs inside the caller's
    transaction (fulfillment.ship_shipment)."""
    shipped_at = aware(shipped_at, field="shipped_at") or timezone.now()
    with transaction.atomic():
        order_ids = set(OrderLine.objects.filter(pk__in=list(lines)).values_list("order_id", flat=True))
        orders = lock_orders(order_ids)
        found = _shipment_lines(lines)
        for order in orders:
            refusal = shipping_refusal(order)
            if refusal is not None:
                raise OrderNotShippable(refusal, fields={"order_id": order.get_status_display()})
        for order in orders:
            _ship_order(
                order,
                found,
                lines,
                warehouse_id,
                actor,
                via,
                shipped_at,
                reference,
                parcel=(carrier_name, tracking_number),
            )
            if carrier_name or tracking_number:
                order.carrier_name = carrier_name[:40] or order.carrier_name
                order.tracking_number = tracking_number[:40] or order.tracking_number
                order.save(update_fields=["carrier_name", "tracking_number", "updated_at"])
    return orders


def _ship_order(
    order: Order,
    found: dict[int, OrderLine],
    lines: dict[int, int],
    warehouse_id: int,
    actor: Any,
    via: str,
    shipped_at: dt.datetime,
    reference: str,
    *,
    parcel: tuple[str, str] = ("", ""),
) -> None:
    shipped = {line_id: units for line_id, units in lines.items() if found[line_id].order_id == order.pk}
    for line_id in sorted(shipped):
        _ship_line(order, found[line_id], shipped[line_id], warehouse_id, actor)
    all_lines = list(order.lines.all())
    before = order.status
    order.status = (
        OrderStatus.SHIPPED
        if all(open_units(line) == 0 for line in all_lines)
        else OrderStatus.PARTIALLY_SHIPPED
    )
    order.shipped_at = order.shipped_at or shipped_at
    order.warehouse_id = order.warehouse_id or warehouse_id
    order.save(update_fields=["status", "shipped_at", "warehouse", "updated_at"])
    add_order_event(
        order=order,
        kind=OrderEventKind.SHIPMENT,
        actor=actor,
        via=via,
        message=f"包裹 {reference} 发出",
        changes={
            "reference": reference,
            "warehouse_id": warehouse_id,
            "lines": {str(k): v for k, v in shipped.items()},
            "carrier": parcel[0][:40],
            "tracking_number": parcel[1][:40],
        },
        from_status=before,
        to_status=order.status,
    )
    if order.status != before:
        add_order_event(
            order=order,
            kind=OrderEventKind.STATUS,
            actor=actor,
            via=via,
            from_status=before,
            to_status=order.status,
        )
    if order.stock_state != StockState.UNTRACKED:
        apply_stock(order, actor=actor, via=via)
    audit.record(
        actor=actor,
        action="order.shipped",
        instance=order,
        changes={"status": [before, order.status], "lines": {str(k): v for k, v in shipped.items()}},
        reason=reference,
    )
    refresh_validity(order)


def retry_short_orders(*, actor: Any = None, limit: int = 500) -> int:
    """Try again to reserve stock for orders that were short (a periodic task). Returns how many are now held."""
    due = list(
        Order.objects.filter(stock_state=StockState.SHORT).order_by("pk").values_list("pk", flat=True)[:limit]
    )
    fixed: list[int] = []
    for order_id in due:
        with transaction.atomic():
            order = lock_order(order_id)
            if order.stock_state == StockState.SHORT and apply_stock(order, actor=actor) != StockState.SHORT:
                fixed.append(order_id)
    if fixed:
        review_orders(order_ids=fixed, actor=actor)
    return len(fixed)
