"""Refunds of a case: money back to the buyer through `orders.services.record_refund`.

The amount is at most the case's request (goods + shipping) and at most the order's paid − refunded
(checked here and again by the order service). Partial refunds are allowed. The goods part comes
first: goods = min(amount, requested goods amount), shipping = the rest, at most the case's
`refund_shipping` and the order's shipping fee still unrefunded; the goods part is spread over the
case lines pro rata to their shares in whole cents (the last line takes the remainder).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from shopops.aftersales.models import (
    ZERO,
    AfterSaleCase,
    AfterSaleLine,
    CaseKind,
    CaseStatus,
)
from shopops.aftersales.services.cases import order_claims
from shopops.aftersales.services.common import (
    RefundTooLarge,
    clean_via,
    lock_case,
    move,
    refuse,
)
from shopops.aftersales.services.permissions import require_permission
from shopops.core.audit import user_or_none
from shopops.core.errors import InvalidInput
from shopops.core.extensions import call_all
from shopops.core.money import split_pro_rata, to_money
from shopops.orders import services as order_services

# Where each refund kind stands when its money may go back.
REFUND_READY: dict[str, str] = {
    CaseKind.REFUND_ONLY: CaseStatus.APPROVED,
    CaseKind.RETURN_REFUND: CaseStatus.INSPECTED,
}


def _amount(case: AfterSaleCase, amount: Decimal | str | int | None) -> Decimal:
    case_total = case.requested_amount + case.refund_shipping
    value = case_total if amount is None else to_money(amount, field="amount")
    if value <= 0:
        raise InvalidInput("退款金额须大于 0（不退款请直接关闭售后单）", fields={"amount": "须大于 0"})
    if value > case_total:
        raise RefundTooLarge(
            f"退款 {value} 超过售后单申请金额 {case_total}", fields={"amount": f"最多 {case_total}"}
        )
    return value


def refund_case(
    *, actor: Any, case_id: int, amount: Decimal | str | int | None = None, via: str = "admin", note: str = ""
) -> AfterSaleCase:
    """Pay a refund-only case (after approval) or a return (after inspection); default: the full request."""
    require_permission(actor, "aftersales.refund_aftersalecase")
    via = clean_via(via)
    with transaction.atomic():
        case, order = lock_case(case_id)
        if REFUND_READY.get(case.kind) != case.status:
            raise refuse(case, "退款")
        value = _amount(case, amount)
        refundable = order.paid_amount - order.refunded_amount
        if value > refundable:
            raise RefundTooLarge(
                f"退款 {value} 超过订单可退金额 {refundable}（实付 {order.paid_amount}，已退 {order.refunded_amount}）",
                fields={"amount": f"最多 {refundable}"},
            )
        goods = min(value, case.requested_amount)
        shipping = value - goods
        shipping_left = order.shipping_fee - order_claims(order.pk).refunded_shipping
        if shipping > shipping_left:
            raise RefundTooLarge(
                f"退运费 {shipping} 超过订单可退运费 {shipping_left}", fields={"amount": "运费超出"}
            )
        lines = list(case.lines.order_by("pk"))
        shares = split_pro_rata(goods, [line.refund_amount for line in lines])
        by_line: dict[int, tuple[int, Decimal]] = {}
        for line, share in zip(lines, shares, strict=True):
            units = line.received_quantity if case.kind == CaseKind.RETURN_REFUND else line.quantity
            by_line[line.order_line_id] = (units, share)
        order_services.record_refund(
            actor=actor,
            order_id=order.pk,
            amount=value,
            lines=by_line,
            reference=f"aftersale:{case.pk}",
            via=via,
            note=(note or f"售后单 {case.pk} 退款").strip()[:300],
        )
        for line, share in zip(lines, shares, strict=True):
            AfterSaleLine.objects.filter(pk=line.pk).update(refunded_amount=share)
        now = timezone.now()
        case.refunded_amount, case.refunded_shipping = value, shipping
        case.refunded_at, case.refunded_by = now, user_or_none(actor)
        order.refresh_from_db()
        move(
            case,
            CaseStatus.REFUNDED,
            order=order,
            actor=actor,
            via=via,
            action="aftersale_case.refunded",
            message=f"退款 {value} 元" + (f"（含运费 {shipping} 元）" if shipping > ZERO else ""),
            now=now,
            changes={"refunded_amount": str(value), "refunded_shipping": str(shipping)},
        )
        # Higher apps react inside this transaction (loyalty reverses the order's points), so that a
        # refund and its consequences commit or fail together.
        call_all("aftersales_hooks", "refund_completed", case)
    return case
