"""Refunds on orders: amounts within what was paid, refund status, and what a full refund does to the order.

`record_refund` is idempotent per (order, reference): the after-sales case (or the import) that refunds
passes its own number, and a retry changes nothing. Refunded units count as units that will not ship,
so a refund of unshipped units gives their reservation back.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from shopops.core import audit
from shopops.core.errors import InvalidInput, NotFound, required_text
from shopops.core.money import to_money
from shopops.orders.models import (
    FINAL_STATUSES,
    Order,
    OrderEvent,
    OrderEventKind,
    OrderLine,
    OrderStatus,
    RefundStatus,
)
from shopops.orders.services.common import (
    RefundTooLarge,
    add_order_event,
    lock_order,
    refresh_validity,
)
from shopops.orders.services.stock import apply_stock

ZERO = Decimal("0.00")


def refund_status_for(*, paid: Decimal, refunded: Decimal) -> str:
    if refunded <= ZERO:
        return RefundStatus.NONE
    return RefundStatus.FULL if refunded >= paid else RefundStatus.PARTIAL


def _check_lines(
    order: Order, lines: dict[int, tuple[int, Decimal]], amount: Decimal
) -> dict[int, tuple[OrderLine, int, Decimal]]:
    found = {line.pk: line for line in order.lines.select_for_update().filter(pk__in=list(lines))}
    missing = sorted(set(lines) - set(found))
    if missing:
        raise NotFound("订单明细不存在或不属于该订单", fields={"lines": ", ".join(map(str, missing))})
    checked: dict[int, tuple[OrderLine, int, Decimal]] = {}
    total = ZERO
    for line_id, (units, line_amount) in lines.items():
        line = found[line_id]
        line_amount = to_money(line_amount, field=f"lines.{line_id}")
        if isinstance(units, bool) or not isinstance(units, int) or units < 0 or line_amount < ZERO:
            raise InvalidInput("退款数量和金额不能为负", fields={f"lines.{line_id}": "不能为负"})
        if units > line.quantity - line.refunded_quantity:
            raise RefundTooLarge(
                f"第 {line.line_no} 行最多还可退 {line.quantity - line.refunded_quantity} 件",
                fields={f"lines.{line_id}": "超出可退数量"},
            )
        if line_amount > line.amount - line.refunded_amount:
            raise RefundTooLarge(
                f"第 {line.line_no} 行最多还可退 {line.amount - line.refunded_amount} 元",
                fields={f"lines.{line_id}": "超出可退金额"},
            )
        total += line_amount
        checked[line_id] = (line, units, line_amount)
    if total > amount:
        raise InvalidInput("明细退款合计超过退款总额", fields={"lines": f"合计 {total}，总额 {amount}"})
    return checked


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
    amount = to_money(amount, field="amount")
    reference = required_text(reference, field="reference", label="退款单号", max_length=64)
    if amount <= ZERO:
        raise InvalidInput("退款金额须大于 0", fields={"amount": "须大于 0"})
    with transaction.atomic():
        order = lock_order(order_id)
        if OrderEvent.objects.filter(
            order=order, kind=OrderEventKind.REFUND, changes__reference=reference
        ).exists():
            return order  # this refund was recorded already (a retry)
        if order.paid_at is None or order.status in (OrderStatus.PENDING_PAYMENT, OrderStatus.CANCELLED):
            raise RefundTooLarge(f"订单 {order.external_id} 未付款，不能退款", fields={"amount": "未付款"})
        refundable = order.paid_amount - order.refunded_amount
        if amount > refundable:
            raise RefundTooLarge(
                f"退款 {amount} 元超过可退金额 {refundable} 元（实付 {order.paid_amount}，已退 {order.refunded_amount}）",
                fields={"amount": f"最多 {refundable}"},
            )
        checked = _check_lines(order, lines or {}, amount)
        for line, units, line_amount in checked.values():
            line.refunded_quantity += units
            line.refunded_amount += line_amount
            line.save(update_fields=["refunded_quantity", "refunded_amount"])
        before_status, before_refund = order.status, order.refund_status
        order.refunded_amount += amount
        order.refund_status = refund_status_for(paid=order.paid_amount, refunded=order.refunded_amount)
        if order.refund_status == RefundStatus.FULL and order.status not in FINAL_STATUSES:
            order.status = OrderStatus.CLOSED
            order.cancelled_at = timezone.now()
            order.close_reason = order.close_reason or "全额退款"
        order.save(
            update_fields=[
                "refunded_amount",
                "refund_status",
                "status",
                "cancelled_at",
                "close_reason",
                "updated_at",
            ]
        )
        changes = {
            "reference": reference,
            "amount": str(amount),
            "lines": {str(line_id): [units, str(value)] for line_id, (_l, units, value) in checked.items()},
            "refund_status": [before_refund, order.refund_status],
        }
        add_order_event(
            order=order,
            kind=OrderEventKind.REFUND,
            actor=actor,
            via=via,
            message=note or f"退款 {amount} 元",
            changes=changes,
        )
        if order.status != before_status:
            add_order_event(
                order=order,
                kind=OrderEventKind.STATUS,
                actor=actor,
                via=via,
                message="全额退款，交易关闭",
                from_status=before_status,
                to_status=order.status,
            )
        apply_stock(order, actor=actor, via=via)
        refresh_validity(order)
        audit.record(actor=actor, action="order.refunded", instance=order, changes=changes, reason=note)
    return order
