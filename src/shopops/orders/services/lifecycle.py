"""Order lifecycle: create, platform updates, transitions, cancel/close, payment, memo, delivery, unpaid close.

Every change leaves a timeline entry (OrderEvent: who, when, why, via) and an audit entry. Manual
transitions follow ORDER_TRANSITIONS strictly (IllegalTransition, 409). A platform export is evidence
of what already happened, so `apply_platform_update` may skip steps forward (paid → completed) but never
goes back, except to cancelled/closed; a cancelled or closed order never reopens.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from shopops.channels.models import Shop
from shopops.channels.services import shop_settings
from shopops.core import audit
from shopops.core.errors import Conflict, InvalidInput, NotFound, required_text
from shopops.customers.services import match_customer
from shopops.orders.models import (
    FINAL_STATUSES,
    ORDER_TRANSITIONS,
    Order,
    OrderEventKind,
    OrderLine,
    OrderSource,
    OrderStatus,
)
from shopops.orders.queries import HOLD_TAG, SHIPPABLE_STATUSES, is_on_hold
from shopops.orders.services.common import (
    add_order_event,
    aware,
    illegal,
    lock_order,
    lock_orders,
)
from shopops.orders.services.creation import PreparedOrder, prepare_order
from shopops.orders.services.inputs import OrderInput
from shopops.orders.services.refunds import refund_status_for
from shopops.orders.services.review import review_orders
from shopops.orders.services.stock import apply_stock

SOURCES = {"api": OrderSource.API, "import": OrderSource.IMPORT, "demo": OrderSource.DEMO}
STATUS_TIMES: dict[str, str] = {
    OrderStatus.PAID: "paid_at",
    OrderStatus.SHIPPED: "shipped_at",
    OrderStatus.DELIVERED: "delivered_at",
    OrderStatus.COMPLETED: "completed_at",
    OrderStatus.CANCELLED: "cancelled_at",
    OrderStatus.CLOSED: "cancelled_at",
}
AUDIT_ACTIONS: dict[str, str] = {
    OrderStatus.PAID: "order.paid",
    OrderStatus.CANCELLED: "order.cancelled",
    OrderStatus.CLOSED: "order.closed",
}


def _lines_of(prepared: PreparedOrder, order: Order) -> list[OrderLine]:
    return [
        OrderLine(
            order=order,
            line_no=line.line_no,
            external_line_id=line.data.external_line_id[:64],
            sku_id=line.sku_id,
            merchant_code=line.data.merchant_code.strip()[:64],
            title=line.data.title[:200],
            spec=line.data.spec[:200],
            quantity=line.data.quantity,
            unit_price=line.data.unit_price,
            discount=line.discount,
            amount=line.amount,
            refunded_amount=min(line.data.refund_amount or Decimal(0), line.amount),
            platform_status=line.data.platform_status[:60],
            is_gift=line.data.is_gift,
        )
        for line in prepared.lines
    ]


def _insert(prepared: PreparedOrder, *, actor: Any, via: str) -> Order:
    data = prepared.data
    values = prepared.values
    customer = match_customer(
        platform=values["shop"].platform,
        buyer_id=data.buyer_id,
        phone=data.receiver_phone,
        name=data.buyer_nick or data.receiver_name,
        email=data.buyer_email,
        ordered_at=data.placed_at,
    )
    order = Order(
        **values,
        customer=customer,
        source=SOURCES.get(via, OrderSource.MANUAL),
        refund_status=refund_status_for(paid=values["paid_amount"], refunded=values["refunded_amount"]),
    )
    order.save()
    OrderLine.objects.bulk_create(_lines_of(prepared, order))
    add_order_event(
        order=order,
        kind=OrderEventKind.CREATED,
        actor=actor,
        via=via,
        message="订单创建",
        changes={"warnings": prepared.warnings} if prepared.warnings else {},
        to_status=order.status,
    )
    audit.record(actor=actor, action="order.created", instance=order, before={})
    return order


def create_order(*, actor: Any, shop_id: int, data: OrderInput, via: str = "api") -> Order:
    """Create one order (own web shop / manual / demo); idempotent per (shop, external_id): an existing
    order is returned unchanged. Links the customer, reserves stock per shop setting, runs review."""
    shop = Shop.objects.filter(pk=shop_id).first()
    if shop is None:
        raise NotFound("店铺不存在", fields={"shop_id": "不存在"})
    external_id = (data.external_id or "").strip()
    existing = Order.objects.filter(shop=shop, external_id=external_id).first()
    if existing is not None:
        return existing
    prepared = prepare_order(shop, data, shop_settings(shop))
    try:
        with transaction.atomic():
            order = _insert(prepared, actor=actor, via=via)
            apply_stock(order, actor=actor, via=via)
            review_orders(order_ids=[order.pk], actor=actor)
    except IntegrityError:
        existing = Order.objects.filter(shop=shop, external_id=external_id).first()
        if existing is None:
            raise
        return existing  # a concurrent call created it first
    return Order.objects.get(pk=order.pk)


def _set_status(order: Order, to_status: str, *, when: dt.datetime, reason: str) -> list[str]:
    order.status = to_status
    changed = ["status", "updated_at"]
    time_field = STATUS_TIMES.get(to_status)
    if time_field and getattr(order, time_field) is None:
        setattr(order, time_field, when)
        changed.append(time_field)
    if to_status != OrderStatus.PENDING_PAYMENT and order.pay_deadline is not None:
        order.pay_deadline = None
        changed.append("pay_deadline")
    if to_status in FINAL_STATUSES and reason:
        order.close_reason = reason[:200]
        changed.append("close_reason")
    return changed


def _transition(order: Order, to_status: str, *, actor: Any, reason: str, via: str) -> Order:
    before = order.status
    changed = _set_status(order, to_status, when=timezone.now(), reason=reason)
    order.save(update_fields=changed)
    add_order_event(
        order=order,
        kind=OrderEventKind.STATUS,
        actor=actor,
        via=via,
        message=reason,
        from_status=before,
        to_status=to_status,
    )
    audit.record(
        actor=actor,
        action=AUDIT_ACTIONS.get(to_status, "order.status_changed"),
        instance=order,
        changes={"status": [before, to_status]},
        reason=reason,
    )
    apply_stock(order, actor=actor, via=via)
    review_orders(order_ids=[order.pk], actor=actor)
    order.refresh_from_db()
    return order


def transition_order(
    *, actor: Any, order_id: int, to_status: str, reason: str = "", via: str = "admin"
) -> Order:
    """Move the normalized status along ORDER_TRANSITIONS; anything else raises IllegalTransition (409).
    Side effects: paid reserves stock, cancelled/closed release it, shipped deducts every open unit."""
    with transaction.atomic():
        order = lock_order(order_id)
        if to_status not in ORDER_TRANSITIONS.get(order.status, frozenset()):
            raise illegal(order, to_status)
        return _transition(order, to_status, actor=actor, reason=reason, via=via)


def cancel_target(order: Order) -> str | None:
    """What cancelling this order leads to: cancelled (unpaid), closed (paid, not all shipped), else None
    (the order pages show the cancel button only when this is not None)."""
    if order.status == OrderStatus.PENDING_PAYMENT:
        return OrderStatus.CANCELLED
    if order.status in (OrderStatus.PAID, OrderStatus.PARTIALLY_SHIPPED):
        return OrderStatus.CLOSED
    return None


def cancel_order(*, actor: Any, order_id: int, reason: str, via: str = "admin") -> Order:
    """Cancel an unpaid order (or close a paid, unshipped one), releasing its reservations."""
    reason = required_text(reason, field="reason", label="取消原因", max_length=200)
    with transaction.atomic():
        order = lock_order(order_id)
        to_status = cancel_target(order)
        if to_status is None:
            raise illegal(order, OrderStatus.CANCELLED)
        return _transition(order, to_status, actor=actor, reason=reason, via=via)


def mark_paid(
    *,
    actor: Any,
    order_id: int,
    paid_at: dt.datetime | None = None,
    paid_amount: Decimal | None = None,
    via: str = "admin",
) -> Order:
    """The buyer paid: pending_payment → paid at `paid_at` (now by default), stock reserved."""
    paid_at = aware(paid_at, field="paid_at") or timezone.now()
    with transaction.atomic():
        order = lock_order(order_id)
        if OrderStatus.PAID not in ORDER_TRANSITIONS.get(order.status, frozenset()):
            raise illegal(order, OrderStatus.PAID)
        order.paid_at = paid_at
        if paid_amount is not None:
            if paid_amount < 0:
                raise InvalidInput("实付金额不能为负", fields={"paid_amount": "不能为负"})
            order.paid_amount = paid_amount
        order.save(update_fields=["paid_at", "paid_amount", "updated_at"])
        return _transition(order, OrderStatus.PAID, actor=actor, reason="买家付款", via=via)


def hold_refusal(order: Order) -> str | None:
    """Why this order cannot be put on hold now (None when it can): only an order waiting to ship."""
    if order.status not in SHIPPABLE_STATUSES:
        return f"订单 {order.external_id} 状态为“{order.get_status_display()}”，无需暂停发货"
    if is_on_hold(order):
        return f"订单 {order.external_id} 已暂停发货"
    return None


def hold_order(*, actor: Any, order_id: int, reason: str, via: str = "admin") -> Order:
    """Stop an order from shipping (暂停发货) until it is released; parcels already made stay, but none
    of them can be confirmed as shipped while the hold lasts."""
    reason = required_text(reason, field="reason", label="暂停原因", max_length=200)
    with transaction.atomic():
        order = lock_order(order_id)
        refusal = hold_refusal(order)
        if refusal is not None:
            raise Conflict(refusal, fields={"order_id": "不能暂停"}, code="order_not_holdable")
        order.tags = [*(order.tags if isinstance(order.tags, list) else []), HOLD_TAG]
        order.save(update_fields=["tags", "updated_at"])
        changes = {"on_hold": [False, True]}
        add_order_event(
            order=order, kind=OrderEventKind.MEMO, actor=actor, via=via, message=reason, changes=changes
        )
        audit.record(actor=actor, action="order.held", instance=order, changes=changes, reason=reason)
    return order


def release_order(*, actor: Any, order_id: int, reason: str = "", via: str = "admin") -> Order:
    """Lift an operator's hold: the order may ship again."""
    with transaction.atomic():
        order = lock_order(order_id)
        if not is_on_hold(order):
            raise Conflict(
                f"订单 {order.external_id} 没有暂停发货", fields={"order_id": "未暂停"}, code="order_not_held"
            )
        order.tags = [tag for tag in order.tags if tag != HOLD_TAG]
        order.save(update_fields=["tags", "updated_at"])
        changes = {"on_hold": [True, False]}
        add_order_event(
            order=order, kind=OrderEventKind.MEMO, actor=actor, via=via, message=reason, changes=changes
        )
        audit.record(actor=actor, action="order.released", instance=order, changes=changes, reason=reason)
    return order


def update_order_memo(
    *, actor: Any, order_id: int, seller_memo: str | None = None, flag: int | None = None, via: str = "admin"
) -> Order:
    """Change the seller memo (卖家备注) and/or the flag (旗帜 0–5)."""
    if flag is not None and (isinstance(flag, bool) or not isinstance(flag, int) or not 0 <= flag <= 5):
        raise InvalidInput("旗帜须为 0–5", fields={"flag": "须为 0–5"})
    if seller_memo is not None and len(seller_memo) > 500:
        raise InvalidInput("卖家备注不能超过 500 个字符", fields={"seller_memo": "最多 500 个字符"})
    with transaction.atomic():
        order = lock_order(order_id)
        changes: dict[str, list[Any]] = {}
        if seller_memo is not None and seller_memo != order.seller_memo:
            changes["seller_memo"] = [order.seller_memo, seller_memo]
            order.seller_memo = seller_memo
        if flag is not None and flag != order.flag:
            changes["flag"] = [order.flag, flag]
            order.flag = flag
        if not changes:
            return order
        order.save(update_fields=[*changes, "updated_at"])
        add_order_event(order=order, kind=OrderEventKind.MEMO, actor=actor, via=via, changes=changes)
        audit.record(actor=actor, action="order.memo_updated", instance=order, changes=changes)
    return order


def record_delivery(
    *, actor: Any, order_ids: list[int], delivered_at: dt.datetime, via: str = "system"
) -> None:
    """The parcels of these orders were signed for: shipped orders become delivered (timeline)."""
    delivered_at = aware(delivered_at, field="delivered_at") or timezone.now()
    with transaction.atomic():
        for order in lock_orders(order_ids):
            if order.status != OrderStatus.SHIPPED:
                continue  # already further along, closed, or not all shipped yet: nothing to record
            order.status = OrderStatus.DELIVERED
            order.delivered_at = order.delivered_at or delivered_at
            order.save(update_fields=["status", "delivered_at", "updated_at"])
            add_order_event(
                order=order,
                kind=OrderEventKind.STATUS,
                actor=actor,
                via=via,
                message="买家已签收",
                from_status=OrderStatus.SHIPPED,
                to_status=OrderStatus.DELIVERED,
            )
            audit.record(
                actor=actor,
                action="order.delivered",
                instance=order,
                changes={"status": [OrderStatus.SHIPPED, OrderStatus.DELIVERED]},
            )


def close_unpaid_orders(*, now: dt.datetime | None = None, actor: Any = None, limit: int = 1000) -> int:
    """Cancel pending orders past their pay deadline (超时未付款关闭). Idempotent; returns how many."""
    now = now or timezone.now()
    due = list(
        Order.objects.filter(status=OrderStatus.PENDING_PAYMENT, pay_deadline__lte=now)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    closed = 0
    for order_id in due:
        with transaction.atomic():
            order = lock_order(order_id)
            if (
                order.status != OrderStatus.PENDING_PAYMENT
                or order.pay_deadline is None
                or order.pay_deadline > now
            ):
                continue  # paid or changed meanwhile
            _transition(
                order, OrderStatus.CANCELLED, actor=actor, reason="超时未付款，自动关闭", via="system"
            )
            closed += 1
    return closed
