"""Parcels: create (one order, or several of the same receiver), split, merge, pick → pack → ship, cancel."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone, translation

from shopops.core import audit
from shopops.core.errors import DomainError, InvalidInput, NotFound
from shopops.core.money import to_money
from shopops.core.scope import out_of_scope, scoped
from shopops.fulfillment.models import (
    OPEN_SHIPMENT_STATUSES,
    SHIPMENT_TRANSITIONS,
    Carrier,
    Shipment,
    ShipmentLine,
    ShipmentStatus,
)
from shopops.fulfillment.services.carriers import resolve_carrier, validate_tracking_number
from shopops.fulfillment.services.common import (
    OrderNotShippable,
    QuantityExceedsOpen,
    ReceiverMismatch,
    ShipmentStateError,
    TrackingNumberTaken,
    check_shippable,
    default_warehouse_id,
    left_to_ship,
    lock_orders,
    lock_shipment,
    open_quantities,
    require_active_warehouse,
    shipment_orders,
    text_or_empty,
)
from shopops.inventory.models import StockLevel
from shopops.orders import services as order_services
from shopops.orders.models import Order, OrderEventKind, OrderLine

MAX_NOTE = 300


class SplitBy:
    WAREHOUSE = "warehouse"
    AVAILABILITY = "availability"


def _clean_lines(lines: dict[int, int]) -> dict[int, int]:
    if not lines:
        raise InvalidInput("发货明细不能为空", fields={"lines": "必填"})
    cleaned: dict[int, int] = {}
    for line_id, quantity in lines.items():
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
            raise InvalidInput("发货数量须为正整数", fields={f"lines.{line_id}": "须为正整数"})
        cleaned[int(line_id)] = quantity
    return cleaned


def _check_same_parcel(orders: list[Order]) -> None:
    """Several orders go in one parcel only for one shop and one receiver (合并发货)."""
    if len({order.shop_id for order in orders}) > 1:
        raise ReceiverMismatch("不同店铺的订单不能合并发货", fields={"lines": "含多个店铺的订单"})
    if len(orders) > 1:
        receivers = {order.receiver_hash for order in orders}
        if len(receivers) > 1 or "" in receivers:
            raise ReceiverMismatch(
                "只有同一收货人（姓名、电话、地址相同）的订单才能合并发货",
                fields={"lines": "收货人不同"},
            )


def _reserved_warehouse(order_lines: list[OrderLine]) -> int | None:
    """The one warehouse holding the reservations of these lines; None when there is none."""
    found: set[int] = set()
    for order_id in sorted({line.order_id for line in order_lines}):
        warehouses = order_services.line_warehouses(order_id=order_id)
        for line in order_lines:
            warehouse_id = warehouses.get(line.pk)
            if warehouse_id is not None:
                found.add(warehouse_id)
    if len(found) > 1:
        raise InvalidInput(
            "这些明细预占在不同仓库，请按仓库拆分发货或指定发货仓",
            fields={"warehouse_id": "明细在多个仓库"},
            code="several_warehouses",
        )
    return found.pop() if found else None


def _timeline(orders: list[Order], *, kind: str, actor: Any, via: str, message: str) -> None:
    for order in orders:
        order_services.add_order_event(order=order, kind=kind, actor=actor, via=via, message=message[:500])


def _describe(shipment: Shipment, quantities: dict[int, int], lines: dict[int, OrderLine]) -> str:
    parts = [
        f"{lines[line_id].merchant_code or lines[line_id].title or line_id}×{quantity}"
        for line_id, quantity in quantities.items()
    ]
    return f"包裹 #{shipment.pk}（{shipment.warehouse}）：{'、'.join(parts)}"


def _create(
    *,
    actor: Any,
    quantities: dict[int, int],
    warehouse_id: int | None,
    note: str,
    via: str,
    kind: str | None = None,
) -> Shipment:
    """Create one parcel; the caller holds a transaction."""
    order_lines = {
        line.pk: line for line in OrderLine.objects.filter(pk__in=list(quantities)).select_related("order")
    }
    missing = sorted(set(quantities) - set(order_lines))
    if missing:
        raise NotFound("订单明细不存在", fields={f"lines.{missing[0]}": "不存在"})
    orders = lock_orders(line.order_id for line in order_lines.values())
    _check_same_parcel(orders)
    for order in orders:
        check_shippable(order)
    # quantities and statuses are read again under the order locks
    fresh = {line.pk: line for line in OrderLine.objects.filter(pk__in=list(quantities))}
    available = open_quantities(fresh.values())
    for line_id, quantity in quantities.items():
        if quantity > available[line_id]:
            raise QuantityExceedsOpen(
                f"明细 {fresh[line_id].merchant_code or line_id} 最多还能发 {available[line_id]} 件",
                fields={f"lines.{line_id}": f"最多 {available[line_id]} 件"},
            )
    if warehouse_id is None:
        warehouse_id = _reserved_warehouse(list(fresh.values()))
    if warehouse_id is None:
        warehouse_id = next((order.warehouse_id for order in orders if order.warehouse_id), None)
    if warehouse_id is None:
        raise InvalidInput("无法确定发货仓，请指定发货仓", fields={"warehouse_id": "必填"})
    warehouse = require_active_warehouse(warehouse_id)
    shipment = Shipment.objects.create(
        shop_id=orders[0].shop_id,
        warehouse=warehouse,
        created_by=audit.user_or_none(actor),
        note=text_or_empty(note, max_length=MAX_NOTE),
    )
    ShipmentLine.objects.bulk_create(
        [
            ShipmentLine(shipment=shipment, order_line_id=line_id, quantity=q)
            for line_id, q in quantities.items()
        ]
    )
    audit.record(
        actor=actor,
        action="shipment.created",
        instance=shipment,
        changes={
            "orders": [order.pk for order in orders],
            "warehouse_id": warehouse.pk,
            "lines": {str(line_id): quantity for line_id, quantity in quantities.items()},
        },
    )
    if kind is None:
        kind = OrderEventKind.MERGED if len(orders) > 1 else OrderEventKind.SHIPMENT
    message = _describe(shipment, quantities, fresh)
    if len(orders) > 1:
        message += "；合并订单 " + "、".join(order.external_id for order in orders)
    _timeline(orders, kind=kind, actor=actor, via=via, message="创建" + message)
    return shipment


def create_shipment(
    *,
    actor: Any,
    lines: dict[int, int],
    warehouse_id: int | None = None,
    note: str = "",
    via: str = "admin",
) -> Shipment:
    """Pack units of order lines ({order_line_id: quantity}) into one new parcel (待拣货).

    The lines belong to one order, or to several orders of one shop and one receiver (合并发货). Refused:
    cancelled/closed/unpaid/invalid orders, more units than quantity − shipped − in open parcels. The
    warehouse defaults to the one holding the lines' reservations (else the order's warehouse).
    """
    quantities = _clean_lines(lines)
    with transaction.atomic():
        return _create(actor=actor, quantities=quantities, warehouse_id=warehouse_id, note=note, via=via)


def _remaining(order_ids: list[int]) -> dict[int, int]:
    lines = OrderLine.objects.filter(order_id__in=order_ids).order_by("order_id", "line_no")
    return {line_id: quantity for line_id, quantity in open_quantities(lines).items() if quantity > 0}


def _free_warehouse(sku_id: int | None, units: int) -> int | None:
    """The active warehouse with the most free units (on hand − reserved) covering `units`; ties → lowest id."""
    if sku_id is None:
        return None
    return (
        StockLevel.objects.filter(sku_id=sku_id, warehouse__is_active=True)
        .annotate(free=F("on_hand") - F("reserved"))
        .filter(free__gte=units)
        .order_by("-free", "warehouse_id")
        .values_list("warehouse_id", flat=True)
        .first()
    )


def split_order(
    *, actor: Any, order_id: int, by: str = SplitBy.WAREHOUSE, via: str = "admin"
) -> list[Shipment]:
    """Split what an order still has to ship into parcels (拆分发货).

    by="warehouse": one parcel per warehouse holding the lines' reservations; an unreserved line goes
    with the warehouse that has it free (else the order's warehouse). by="availability": the lines that
    can leave now (reserved, or free in some warehouse), one parcel per warehouse, and one more parcel
    for the rest, waiting for stock.
    """
    if by not in (SplitBy.WAREHOUSE, SplitBy.AVAILABILITY):
        raise InvalidInput("拆分方式须为 warehouse 或 availability", fields={"by": "无效"})
    with transaction.atomic():
        (order,) = lock_orders([order_id])
        check_shippable(order)
        remaining = _remaining([order.pk])
        if not remaining:
            raise OrderNotShippable(f"订单 {order.external_id} 没有待发的商品", fields={"order_id": "无待发"})
        reserved = order_services.line_warehouses(order_id=order.pk)
        skus = dict(OrderLine.objects.filter(pk__in=list(remaining)).values_list("pk", "sku_id"))
        groups: dict[int, dict[int, int]] = defaultdict(dict)
        waiting: dict[int, int] = {}
        for line_id, quantity in remaining.items():
            warehouse_id = reserved.get(line_id) or _free_warehouse(skus.get(line_id), quantity)
            if warehouse_id is None and by == SplitBy.WAREHOUSE:
                warehouse_id = order.warehouse_id or default_warehouse_id()
            if warehouse_id is None:
                waiting[line_id] = quantity
            else:
                groups[warehouse_id][line_id] = quantity
        shipments = [
            _create(
                actor=actor,
                quantities=quantities,
                warehouse_id=warehouse_id,
                note="拆分发货",
                via=via,
                kind=OrderEventKind.SPLIT,
            )
            for warehouse_id, quantities in sorted(groups.items())
        ]
        if waiting:
            warehouse_id = order.warehouse_id or (min(groups) if groups else default_warehouse_id())
            shipments.append(
                _create(
                    actor=actor,
                    quantities=waiting,
                    warehouse_id=warehouse_id,
                    note="拆分发货：待补货",
                    via=via,
                    kind=OrderEventKind.SPLIT,
                )
            )
    return shipments


def merge_orders(
    *, actor: Any, order_ids: list[int], warehouse_id: int | None = None, note: str = "", via: str = "admin"
) -> Shipment:
    """One parcel for everything several orders of the same receiver still have to ship (合并发货)."""
    wanted = sorted(set(order_ids))
    if len(wanted) < 2:
        raise InvalidInput("合并发货至少需要两个订单", fields={"order_ids": "至少两个"})
    with transaction.atomic():
        orders = lock_orders(wanted)
        _check_same_parcel(orders)
        for order in orders:
            check_shippable(order)
        remaining = _remaining(wanted)
        if not remaining:
            raise OrderNotShippable("这些订单没有待发的商品", fields={"order_ids": "无待发"})
        return _create(
            actor=actor,
            quantities=remaining,
            warehouse_id=warehouse_id,
            note=note or "合并发货",
            via=via,
            kind=OrderEventKind.MERGED,
        )


STAMPS: dict[str, str] = {ShipmentStatus.PICKING: "picked_at", ShipmentStatus.PACKED: "packed_at"}
LABELS: dict[str, str] = {
    ShipmentStatus.PICKING: "拣货",
    ShipmentStatus.PACKED: "打包",
    ShipmentStatus.SHIPPED: "发货",
    ShipmentStatus.CANCELLED: "取消",
}


def _check_transition(shipment: Shipment, target: str) -> None:
    if target not in SHIPMENT_TRANSITIONS[shipment.status]:
        raise ShipmentStateError(
            f"“{shipment.get_status_display()}”的包裹不能{LABELS.get(target, target)}",
            fields={"status": shipment.status},
        )


def _move(*, actor: Any, shipment_id: int, target: str, via: str, reason: str = "") -> Shipment:
    with transaction.atomic():
        shipment = lock_shipment(shipment_id)
        _check_transition(shipment, target)
        before = audit.snapshot(shipment)
        shipment.status = target
        if target in STAMPS:
            setattr(shipment, STAMPS[target], timezone.now())
        shipment.save()
        audit.record(
            actor=actor, action=f"shipment.{target}", instance=shipment, before=before, reason=reason
        )
        if target == ShipmentStatus.CANCELLED:
            message = f"包裹 #{shipment.pk} 已取消" + (f"：{reason}" if reason else "")
            _timeline(
                shipment_orders(shipment), kind=OrderEventKind.SHIPMENT, actor=actor, via=via, message=message
            )
    return shipment


def pick_shipment(*, actor: Any, shipment_id: int, via: str = "admin") -> Shipment:
    """The parcel is being picked (拣货中)."""
    return _move(actor=actor, shipment_id=shipment_id, target=ShipmentStatus.PICKING, via=via)


def pack_shipment(*, actor: Any, shipment_id: int, via: str = "admin") -> Shipment:
    """The parcel is packed (已打包) and waits for the carrier."""
    return _move(actor=actor, shipment_id=shipment_id, target=ShipmentStatus.PACKED, via=via)


def cancel_shipment(*, actor: Any, shipment_id: int, reason: str = "", via: str = "admin") -> Shipment:
    """Cancel a parcel that has not left; its units become free to pack again. Nothing touches stock."""
    return _move(
        actor=actor,
        shipment_id=shipment_id,
        target=ShipmentStatus.CANCELLED,
        via=via,
        reason=text_or_empty(reason, max_length=MAX_NOTE),
    )


def _tracking_number(value: str) -> str:
    text = (value or "").strip()
    if not text:
        raise InvalidInput("运单号不能为空", fields={"tracking_number": "必填"})
    if len(text) > 40:
        raise InvalidInput("运单号不能超过 40 个字符", fields={"tracking_number": "最多 40 个字符"})
    return text


def _check_lines_still_open(shipment: Shipment) -> dict[int, int]:
    quantities = dict(shipment.lines.values_list("order_line_id", "quantity"))
    for line in OrderLine.objects.filter(pk__in=list(quantities)):
        left = left_to_ship(line)
        if quantities[line.pk] > left:
            raise QuantityExceedsOpen(
                f"明细 {line.merchant_code or line.pk} 只剩 {max(left, 0)} 件未发，请取消此包裹后重新建包",
                fields={f"lines.{line.pk}": f"最多 {max(left, 0)} 件"},
            )
    return quantities


def ship_shipment(
    *,
    actor: Any,
    shipment_id: int,
    carrier: int | str | Carrier,
    tracking_number: str,
    shipping_cost: Decimal | str | int = Decimal("0.00"),
    shipped_at: dt.datetime | None = None,
    weight_grams: int | None = None,
    via: str = "admin",
) -> Shipment:
    """The parcel left with a carrier (发货确认): in one transaction the order services deduct the stock
    (through the inventory ledger), raise the shipped quantities and move the orders; the parcel records
    carrier, tracking number, cost and the tracking-number warnings (never a refusal)."""
    carrier_obj = resolve_carrier(carrier)
    number = _tracking_number(tracking_number)
    cost = to_money(shipping_cost, field="shipping_cost")
    if cost < 0:
        raise InvalidInput("运费不能为负数", fields={"shipping_cost": "不能为负数"})
    if shipped_at is not None and timezone.is_naive(shipped_at):
        raise InvalidInput("发货时间须带时区", fields={"shipped_at": "须带时区"})
    with transaction.atomic():
        shipment = lock_shipment(shipment_id)
        _check_transition(shipment, ShipmentStatus.SHIPPED)
        orders = lock_orders(order.pk for order in shipment_orders(shipment))
        for order in orders:
            check_shippable(order)
        if (
            Shipment.objects.filter(carrier=carrier_obj, tracking_number=number)
            .exclude(pk=shipment.pk)
            .exists()
        ):
            raise TrackingNumberTaken(
                f"运单号 {number}（{carrier_obj.name}）已用于其他包裹", fields={"tracking_number": "重复"}
            )
        quantities = _check_lines_still_open(shipment)
        before = audit.snapshot(shipment)
        when = shipped_at or timezone.now()
        order_services.record_shipment(
            actor=actor,
            warehouse_id=shipment.warehouse_id,
            lines=quantities,
            reference=f"SHP{shipment.pk}",
            shipped_at=when,
            carrier_name=carrier_obj.name,
            tracking_number=number,
            via=via,
        )
        shipment.status = ShipmentStatus.SHIPPED
        shipment.carrier = carrier_obj
        shipment.tracking_number = number
        shipment.shipping_cost = cost
        shipment.shipped_at = when
        if weight_grams is not None:
            shipment.weight_grams = weight_grams
        shipment.warnings = validate_tracking_number(carrier_obj, number)
        shipment.save()
        audit.record(actor=actor, action="shipment.shipped", instance=shipment, before=before)
        if shipment.warnings:
            _timeline(
                orders,
                kind=OrderEventKind.SHIPMENT,
                actor=actor,
                via=via,
                message=f"包裹 #{shipment.pk} 运单号提醒：" + "；".join(shipment.warnings),
            )
    return shipment


@dataclass
class BulkShipItem:
    shipment_id: int
    carrier: int | str
    tracking_number: str
    shipping_cost: Decimal | str | int = Decimal("0.00")
    shipped_at: dt.datetime | None = None


# A row of a bulk ship left without a tracking number: reported, never shipped, never silently dropped.
LEFT_BLANK_CODE = "tracking_number_missing"
LEFT_BLANK_MESSAGE = "未填运单号，未发货"


@dataclass
class BulkShipResult:
    """The outcome for one parcel of a bulk ship: shipped (with warnings), left blank (`is_skipped`: no
    tracking number given) or refused (code, message saying why, in words a person can act on)."""

    shipment_id: int
    is_shipped: bool
    shipment: Shipment | None = None
    code: str = ""
    message: str = ""
    warnings: list[str] = field(default_factory=list)
    is_skipped: bool = False


def parcel_label(shipment: Shipment) -> str:
    """How a person names a parcel: 包裹 #12, with its carrier and tracking number once it has one."""
    label = f"包裹 #{shipment.pk}"
    if shipment.tracking_number:
        carrier = f"{shipment.carrier.name} " if shipment.carrier_id and shipment.carrier else ""
        label += f"（{carrier}{shipment.tracking_number}）"
    return label


def _visible_shipment_ids(actor: Any, shipment_ids: list[int]) -> set[int]:
    shipments: QuerySet[Shipment] = Shipment.objects.filter(pk__in=shipment_ids)
    if getattr(actor, "is_authenticated", False):  # a CLI or task actor sees every parcel
        shipments = scoped(shipments, actor)
    return set(shipments.values_list("pk", flat=True))


def bulk_ship(*, actor: Any, items: list[BulkShipItem], via: str = "admin") -> list[BulkShipResult]:
    """Ship many parcels, each in its own transaction: one refusal never undoes the others. Every item
    gets a result in the order given: a parcel outside the actor's scope is not found, one without a
    tracking number is reported as left blank."""
    visible = _visible_shipment_ids(actor, [item.shipment_id for item in items])
    results: list[BulkShipResult] = []
    for item in items:
        if item.shipment_id not in visible:
            missing = out_of_scope("发货单", field="shipment_id")
            results.append(
                BulkShipResult(item.shipment_id, False, code=missing.code, message=missing.message)
            )
            continue
        if not (item.tracking_number or "").strip():
            results.append(
                BulkShipResult(
                    item.shipment_id, False, code=LEFT_BLANK_CODE, message=LEFT_BLANK_MESSAGE, is_skipped=True
                )
            )
            continue
        try:
            shipment = ship_shipment(
                actor=actor,
                shipment_id=item.shipment_id,
                carrier=item.carrier,
                tracking_number=item.tracking_number,
                shipping_cost=item.shipping_cost,
                shipped_at=item.shipped_at,
                via=via,
            )
        except DomainError as error:
            results.append(BulkShipResult(item.shipment_id, False, code=error.code, message=error.message))
        else:
            results.append(BulkShipResult(item.shipment_id, True, shipment, warnings=list(shipment.warnings)))
    return results


class OpenParcelExists(OrderNotShippable):
    code = "open_parcel_exists"


def _nothing_left_to_ship(order: Order) -> OrderNotShippable:
    """Why an order has nothing to pack: its units wait in open parcels (named), or all went out."""
    waiting = open_shipments_of([order.pk])
    if waiting:
        # a domain error's words are Chinese, whatever the page's language
        with translation.override("zh-hans"):
            names = "、".join(f"{parcel.get_status_display()}的{parcel_label(parcel)}" for parcel in waiting)
        return OpenParcelExists(
            f"订单 {order.external_id} 已有{names}，请在包裹列表中为它发货或先取消它",
            fields={"order_id": "已有未发出的包裹"},
        )
    return OrderNotShippable(f"订单 {order.external_id} 没有待发的商品", fields={"order_id": "无待发"})


def ship_order(
    *,
    actor: Any,
    order_id: int,
    carrier: int | str | Carrier,
    tracking_number: str,
    shipping_cost: Decimal | str | int = Decimal("0.00"),
    warehouse_id: int | None = None,
    via: str = "admin",
) -> Shipment:
    """Ship everything an order still has to ship at once (订单发货): one new parcel with every open
    unit, shipped with the carrier and tracking number in the same transaction. Refused with the real
    reason: the order's status, its units already waiting in an open parcel (named), nothing left."""
    with transaction.atomic():
        (order,) = lock_orders([order_id])
        check_shippable(order)
        lines = {pk: units for pk, units in open_quantities(order.lines.all()).items() if units > 0}
        if not lines:
            raise _nothing_left_to_ship(order)
        shipment = create_shipment(actor=actor, lines=lines, warehouse_id=warehouse_id, via=via)
        return ship_shipment(
            actor=actor,
            shipment_id=shipment.pk,
            carrier=carrier,
            tracking_number=tracking_number,
            shipping_cost=shipping_cost,
            via=via,
        )


@dataclass
class OrderShipItem:
    order_id: int
    tracking_number: str
    shipping_cost: Decimal | str | int = Decimal("0.00")


@dataclass
class OrderShipResult:
    """The outcome for one order of a bulk 订单发货: shipped (its parcel, warnings), left blank, or refused."""

    order_id: int
    order_number: str
    is_shipped: bool
    shipment: Shipment | None = None
    code: str = ""
    message: str = ""
    warnings: list[str] = field(default_factory=list)
    is_skipped: bool = False


def bulk_ship_orders(
    *,
    actor: Any,
    carrier: int | str | Carrier,
    items: list[OrderShipItem],
    warehouse_id: int | None = None,
    via: str = "admin",
) -> list[OrderShipResult]:
    """Ship many orders (one parcel each, `ship_order`), each in its own transaction, with one result per
    order in the order given: shipped, left blank (no tracking number) or refused with the reason."""
    orders: QuerySet[Order] = Order.objects.filter(pk__in=[item.order_id for item in items])
    if getattr(actor, "is_authenticated", False):
        orders = scoped(orders, actor)
    numbers = dict(orders.values_list("pk", "external_id"))
    results: list[OrderShipResult] = []
    for item in items:
        number = numbers.get(item.order_id)
        if number is None:
            missing = out_of_scope("订单", field="order_id")
            results.append(
                OrderShipResult(item.order_id, "", False, code=missing.code, message=missing.message)
            )
            continue
        if not (item.tracking_number or "").strip():
            results.append(
                OrderShipResult(
                    item.order_id,
                    number,
                    False,
                    code=LEFT_BLANK_CODE,
                    message=LEFT_BLANK_MESSAGE,
                    is_skipped=True,
                )
            )
            continue
        try:
            shipment = ship_order(
                actor=actor,
                order_id=item.order_id,
                carrier=carrier,
                tracking_number=item.tracking_number,
                shipping_cost=item.shipping_cost,
                warehouse_id=warehouse_id,
                via=via,
            )
        except DomainError as error:
            results.append(
                OrderShipResult(item.order_id, number, False, code=error.code, message=error.message)
            )
        else:
            results.append(
                OrderShipResult(item.order_id, number, True, shipment, warnings=list(shipment.warnings))
            )
    return results


def open_shipments_of(order_ids: list[int]) -> list[Shipment]:
    return list(
        Shipment.objects.filter(
            lines__order_line__order_id__in=order_ids, status__in=list(OPEN_SHIPMENT_STATUSES)
        )
        .distinct()
        .order_by("pk")
    )
