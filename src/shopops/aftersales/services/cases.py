"""Opening a case and the decision steps: apply, approve, reject, buyer tracking, replacement, cancel, close."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from shopops.aftersales.models import (
    OPEN_CASE_STATUSES,
    REFUND_KINDS,
    RETURN_KINDS,
    ZERO,
    AfterSaleCase,
    AfterSaleLine,
    CaseKind,
    CaseStage,
    CaseStatus,
    ReturnReason,
)
from shopops.aftersales.services.common import (
    REFERENCE_TYPE,
    OrderNotEligible,
    RefundTooLarge,
    UnitsNotAvailable,
    clean_via,
    lock_case,
    move,
    record_step,
    refuse,
    require_status,
    sla_due,
)
from shopops.aftersales.services.permissions import require_permission
from shopops.core.audit import user_or_none
from shopops.core.errors import InvalidInput, NotFound
from shopops.core.money import CENT, split_pro_rata, to_money
from shopops.fulfillment.models import Carrier
from shopops.inventory import services as inventory_services
from shopops.inventory.models import MovementType, Warehouse, WarehouseKind
from shopops.orders.models import Order, OrderLine, OrderStatus

# Orders a case may be opened on, and those whose goods have left (a return or re-ship needs a parcel).
CASE_ORDER_STATUSES = frozenset(
    {
        OrderStatus.PAID,
        OrderStatus.PARTIALLY_SHIPPED,
        OrderStatus.SHIPPED,
        OrderStatus.DELIVERED,
        OrderStatus.COMPLETED,
        OrderStatus.CLOSED,
    }
)
SHIPPED_ORDER_STATUSES = CASE_ORDER_STATUSES - {OrderStatus.PAID}
AFTER_SALE_ORDER_STATUSES = frozenset({OrderStatus.DELIVERED, OrderStatus.COMPLETED})


def case_stage(order: Order) -> str:
    """售后 once the goods were signed for (delivered, completed, or closed after that); 售中 before."""
    if order.status in AFTER_SALE_ORDER_STATUSES or order.delivered_at or order.completed_at:
        return CaseStage.AFTER_SALE
    return CaseStage.IN_SALE


@dataclass(frozen=True)
class OrderClaims:
    """What other open cases of an order already claim, and the shipping already refunded."""

    units: dict[int, int]
    shares: dict[int, Decimal]
    pending_money: Decimal
    pending_shipping: Decimal
    refunded_shipping: Decimal


def order_claims(order_id: int, *, exclude_case_id: int | None = None) -> OrderClaims:
    open_lines = AfterSaleLine.objects.filter(case__order_id=order_id, case__status__in=OPEN_CASE_STATUSES)
    open_cases = AfterSaleCase.objects.filter(order_id=order_id, status__in=OPEN_CASE_STATUSES)
    if exclude_case_id is not None:
        open_lines = open_lines.exclude(case_id=exclude_case_id)
        open_cases = open_cases.exclude(pk=exclude_case_id)
    units: dict[int, int] = {}
    shares: dict[int, Decimal] = {}
    for order_line_id, quantity, share in open_lines.values_list(
        "order_line_id", "quantity", "refund_amount"
    ):
        units[order_line_id] = units.get(order_line_id, 0) + quantity
        shares[order_line_id] = shares.get(order_line_id, ZERO) + share
    pending = open_cases.filter(kind__in=REFUND_KINDS).aggregate(
        money=Sum("requested_amount"), shipping=Sum("refund_shipping")
    )
    refunded = AfterSaleCase.objects.filter(order_id=order_id).aggregate(shipping=Sum("refunded_shipping"))
    return OrderClaims(
        units=units,
        shares=shares,
        pending_money=(pending["money"] or ZERO) + (pending["shipping"] or ZERO),
        pending_shipping=pending["shipping"] or ZERO,
        refunded_shipping=refunded["shipping"] or ZERO,
    )


def line_share(line: OrderLine, units: int, claims: OrderClaims) -> Decimal:
    """The paid share (discounts included) of `units` of a line; the last units take what is left."""
    remaining_units = line.quantity - line.refunded_quantity - claims.units.get(line.pk, 0)
    if units >= remaining_units:
        left = line.amount - line.refunded_amount - claims.shares.get(line.pk, ZERO)
        return max(left, ZERO)
    return (line.amount * units / line.quantity).quantize(CENT, rounding=ROUND_HALF_UP)


def _clean_units(order: Order, lines: Mapping[int, int], claims: OrderClaims) -> dict[OrderLine, int]:
    if not lines:
        raise InvalidInput("请选择售后的商品", fields={"lines": "不能为空"})
    order_lines = {line.pk: line for line in OrderLine.objects.filter(order=order, pk__in=list(lines))}
    cleaned: dict[OrderLine, int] = {}
    for order_line_id, units in sorted(lines.items()):
        line = order_lines.get(order_line_id)
        if line is None:
            raise InvalidInput("订单明细不属于该订单", fields={f"lines.{order_line_id}": "不属于该订单"})
        if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
            raise InvalidInput("数量须为正整数", fields={f"lines.{order_line_id}": "须为正整数"})
        available = line.quantity - line.refunded_quantity - claims.units.get(line.pk, 0)
        if units > available:
            raise UnitsNotAvailable(
                f"第 {line.line_no} 行最多还可申请 {max(available, 0)} 件（购买 {line.quantity}，"
                f"已退 {line.refunded_quantity}，其他售后中 {claims.units.get(line.pk, 0)}）",
                fields={f"lines.{order_line_id}": f"最多 {max(available, 0)} 件"},
            )
        cleaned[line] = units
    return cleaned


def _check_order(order: Order, kind: str) -> None:
    if order.status not in CASE_ORDER_STATUSES:
        raise OrderNotEligible(
            f"订单状态为「{order.get_status_display()}」，不能申请售后", fields={"order_id": order.status}
        )
    if kind != CaseKind.REFUND_ONLY and order.status not in SHIPPED_ORDER_STATUSES:
        raise OrderNotEligible(
            "订单尚未发货，只能申请仅退款", fields={"kind": "未发货只能仅退款"}, code="order_not_shipped"
        )


def _check_money(
    order: Order, kind: str, goods: Decimal, requested: Decimal, shipping: Decimal, claims: OrderClaims
) -> None:
    if kind not in REFUND_KINDS:
        if requested or shipping:
            raise InvalidInput("换货/补发不退款", fields={"requested_amount": "须为 0"})
        return
    if requested + shipping <= 0:
        raise RefundTooLarge("订单已无可退金额", fields={"requested_amount": "须大于 0"})
    if requested > goods:
        raise RefundTooLarge(
            f"申请金额 {requested} 超过所选商品的实付金额 {goods}",
            fields={"requested_amount": f"最多 {goods}"},
        )
    shipping_left = order.shipping_fee - claims.refunded_shipping - claims.pending_shipping
    if shipping > shipping_left:
        raise RefundTooLarge(
            f"退运费 {shipping} 超过可退运费 {max(shipping_left, ZERO)}",
            fields={"refund_shipping": f"最多 {max(shipping_left, ZERO)}"},
        )
    refundable = order.paid_amount - order.refunded_amount - claims.pending_money
    if requested + shipping > refundable:
        raise RefundTooLarge(
            f"申请退款 {requested + shipping} 超过订单可退金额 {max(refundable, ZERO)}",
            fields={"requested_amount": f"最多 {max(refundable, ZERO)}"},
        )


def _money_or_none(value: Any, field: str) -> Decimal | None:
    if value is None:
        return None
    amount = to_money(value, field=field)
    if amount < 0:
        raise InvalidInput("金额不能为负", fields={field: "不能为负"})
    return amount


def apply_case(
    *,
    actor: Any,
    order_id: int,
    kind: str,
    reason_code: str,
    lines: Mapping[int, int],
    requested_amount: Decimal | str | int | None = None,
    refund_shipping: Decimal | str | int = Decimal(0),
    description: str = "",
    external_id: str = "",
    via: str = "admin",
    applied_at: dt.datetime | None = None,
) -> AfterSaleCase:
    """Open a case on an order for units of its lines ({order_line_id: units}).

    Refuses units beyond bought − refunded − units in the order's other open cases, and money beyond
    the lines' paid share, the order's paid − refunded − other open requests, or the shipping fee.
    `requested_amount` defaults to the lines' paid share (discounts included), capped at what the
    order still has to give back (paid − refunded − other open requests − `refund_shipping`). Idempotent per
    (shop, external_id) when an external id is given (platform imports).
    """
    via = clean_via(via)
    if kind not in CaseKind.values:
        raise InvalidInput("售后类型无效", fields={"kind": "无效"})
    requested = _money_or_none(requested_amount, "requested_amount")
    shipping = _money_or_none(refund_shipping, "refund_shipping") or ZERO
    external_id = (external_id or "").strip()[:64]
    description = (description or "").strip()[:500]
    if applied_at is not None and timezone.is_naive(applied_at):
        raise InvalidInput("申请时间须带时区", fields={"applied_at": "须带时区"})
    reason = ReturnReason.objects.filter(code=reason_code, is_active=True).first()
    if reason is None:
        raise InvalidInput("售后原因不存在", fields={"reason_code": "不存在或已停用"})
    with transaction.atomic():
        order = Order.objects.select_for_update().filter(pk=order_id).first()
        if order is None:
            raise NotFound("订单不存在", fields={"order_id": "不存在"})
        if external_id:
            existing = AfterSaleCase.objects.filter(shop_id=order.shop_id, external_id=external_id).first()
            if existing is not None:
                return existing
        _check_order(order, kind)
        claims = order_claims(order.pk)
        units = _clean_units(order, lines, claims)
        shares = {line: line_share(line, count, claims) for line, count in units.items()}
        goods = sum(shares.values(), ZERO)
        if kind not in REFUND_KINDS:
            shares = dict.fromkeys(shares, ZERO)
            goods = ZERO
        if requested is None:
            # the lines' share, but never more than the order still has to give back: a platform
            # discount kept at order level makes the lines' shares add up to more than was paid
            left = order.paid_amount - order.refunded_amount - claims.pending_money - shipping
            requested = max(min(goods, left), ZERO) if kind in REFUND_KINDS else ZERO
        _check_money(order, kind, goods, requested, shipping, claims)
        if requested != goods:
            spread = split_pro_rata(requested, list(shares.values()))
            shares = dict(zip(shares, spread, strict=True))
        now = applied_at or timezone.now()
        case = AfterSaleCase.objects.create(
            shop_id=order.shop_id,
            order=order,
            external_id=external_id,
            kind=kind,
            stage=case_stage(order),
            reason=reason,
            description=description,
            requested_amount=requested,
            refund_shipping=shipping,
            applied_at=now,
            applied_by=user_or_none(actor),
            handler=user_or_none(actor),
        )
        case.sla_due_at = sla_due(case, CaseStatus.APPLIED, now)
        case.save(update_fields=["sla_due_at"])
        AfterSaleLine.objects.bulk_create(
            AfterSaleLine(case=case, order_line=line, quantity=count, refund_amount=shares[line])
            for line, count in units.items()
        )
        record_step(
            case,
            order=order,
            actor=actor,
            via=via,
            action="aftersale_case.applied",
            message=description,
            changes={
                "kind": case.kind,
                "reason": reason.code,
                "requested_amount": str(requested),
                "refund_shipping": str(shipping),
                "lines": {str(line.pk): count for line, count in units.items()},
            },
        )
    return case


def approve_case(*, actor: Any, case_id: int, note: str = "", via: str = "admin") -> AfterSaleCase:
    """Agree to a case (同意); a return or exchange then waits for the buyer's parcel (待买家退货)."""
    require_permission(actor, "aftersales.approve_aftersalecase")
    via = clean_via(via)
    note = (note or "").strip()[:300]
    with transaction.atomic():
        case, order = lock_case(case_id)
        require_status(case, {CaseStatus.APPLIED}, "审核")
        now = timezone.now()
        case.decided_at, case.decided_by, case.decision_note = now, user_or_none(actor), note
        move(
            case,
            CaseStatus.APPROVED,
            order=order,
            actor=actor,
            via=via,
            action="aftersale_case.approved",
            message=note,
            now=now,
        )
        if case.kind in RETURN_KINDS:
            move(
                case,
                CaseStatus.AWAITING_RETURN,
                order=order,
                actor=actor,
                via=via,
                action="aftersale_case.awaiting_return",
                message="等待买家寄回商品",
                now=now,
            )
    return case


def reject_case(*, actor: Any, case_id: int, reason: str, via: str = "admin") -> AfterSaleCase:
    """Refuse a case (拒绝) with a reason the buyer sees."""
    require_permission(actor, "aftersales.approve_aftersalecase")
    via = clean_via(via)
    reason = (reason or "").strip()[:300]
    if not reason:
        raise InvalidInput("请填写拒绝原因", fields={"reason": "必填"})
    with transaction.atomic():
        case, order = lock_case(case_id)
        require_status(case, {CaseStatus.APPLIED}, "拒绝")
        now = timezone.now()
        case.decided_at, case.decided_by, case.decision_note = now, user_or_none(actor), reason
        move(
            case,
            CaseStatus.REJECTED,
            order=order,
            actor=actor,
            via=via,
            action="aftersale_case.rejected",
            message=reason,
            now=now,
        )
    return case


def set_return_tracking(
    *, actor: Any, case_id: int, tracking_number: str, carrier_id: int | None = None, via: str = "admin"
) -> AfterSaleCase:
    """Record the buyer's return parcel (退货快递 + 运单号) while the case waits for it."""
    via = clean_via(via)
    tracking_number = (tracking_number or "").strip()
    if not tracking_number or len(tracking_number) > 40:
        raise InvalidInput("请填写退货运单号（最多 40 个字符）", fields={"tracking_number": "必填"})
    with transaction.atomic():
        case, order = lock_case(case_id)
        require_status(case, {CaseStatus.AWAITING_RETURN}, "登记退货物流")
        carrier = None
        if carrier_id is not None:
            carrier = Carrier.objects.filter(pk=carrier_id).first()
            if carrier is None:
                raise InvalidInput("快递公司不存在", fields={"carrier_id": "不存在"})
        before = [case.return_carrier_id, case.return_tracking_number]
        case.return_carrier, case.return_tracking_number = carrier, tracking_number
        case.save(update_fields=["return_carrier", "return_tracking_number", "updated_at"])
        record_step(
            case,
            order=order,
            actor=actor,
            via=via,
            action="aftersale_case.return_tracked",
            message=f"买家退货：{carrier.name if carrier else ''} {tracking_number}".strip(),
            from_status=case.status,
            changes={"return_tracking": [before, [case.return_carrier_id, tracking_number]]},
        )
    return case


def _replacement_warehouse(warehouse_id: int) -> Warehouse:
    warehouse = Warehouse.objects.filter(pk=warehouse_id).first()
    if warehouse is None:
        raise NotFound("仓库不存在", fields={"warehouse_id": "不存在"})
    if not warehouse.is_active:
        raise InvalidInput("仓库已停用", fields={"warehouse_id": "已停用"}, code="warehouse_inactive")
    if warehouse.kind == WarehouseKind.DEFECTIVE:
        raise InvalidInput(
            "残次品仓不能发出换货/补发", fields={"warehouse_id": "残次品仓"}, code="warehouse_not_sellable"
        )
    return warehouse


def ship_replacement(
    *,
    actor: Any,
    case_id: int,
    warehouse_id: int,
    carrier_id: int | None = None,
    tracking_number: str = "",
    reference: str = "",
    via: str = "admin",
) -> AfterSaleCase:
    """Send the exchange (after inspection) or re-ship (after approval) parcel: the case's units leave
    `warehouse_id` (销售出库 rows referenced aftersale + case id) and the parcel is recorded on the case."""
    via = clean_via(via)
    tracking_number = (tracking_number or "").strip()[:40]
    with transaction.atomic():
        case, order = lock_case(case_id)
        ready: dict[str, str] = {
            CaseKind.EXCHANGE: CaseStatus.INSPECTED,
            CaseKind.RESHIP: CaseStatus.APPROVED,
        }
        if ready.get(case.kind) != case.status:
            raise refuse(case, "发出换货/补发")
        warehouse = _replacement_warehouse(warehouse_id)
        carrier = Carrier.objects.filter(pk=carrier_id).first() if carrier_id is not None else None
        if carrier_id is not None and carrier is None:
            raise InvalidInput("快递公司不存在", fields={"carrier_id": "不存在"})
        lines = list(case.lines.select_related("order_line").order_by("pk"))
        for line in lines:
            sku_id = line.order_line.sku_id
            if sku_id is None:
                raise InvalidInput("订单明细未关联SKU，无法出库", fields={f"lines.{line.pk}": "无SKU"})
            needs = inventory_services.component_needs(sku_id=sku_id, quantity=line.quantity)
            for component_id, units in sorted(needs.items()):
                inventory_services.issue_stock(
                    sku_id=component_id,
                    warehouse_id=warehouse.pk,
                    quantity=units,
                    actor=actor,
                    movement_type=MovementType.SALE_OUT,
                    reference_type=REFERENCE_TYPE,
                    reference_id=str(case.pk),
                    note=f"售后{case.get_kind_display()}发货",
                )
        now = timezone.now()
        case.replacement_warehouse = warehouse
        case.replacement_carrier = carrier
        case.replacement_tracking_number = tracking_number
        case.replacement_reference = (reference or "").strip()[:64] or f"AS{case.pk}"
        case.replacement_shipped_at = now
        move(
            case,
            CaseStatus.EXCHANGE_SHIPPED,
            order=order,
            actor=actor,
            via=via,
            action="aftersale_case.replacement_shipped",
            message=f"{warehouse.name} 发出 {carrier.name if carrier else ''} {tracking_number}".strip(),
            now=now,
            changes={"replacement_reference": case.replacement_reference},
        )
    return case


def cancel_case(*, actor: Any, case_id: int, reason: str = "", via: str = "admin") -> AfterSaleCase:
    """The buyer withdrew the request (买家撤销) before anything came back or was paid out."""
    via = clean_via(via)
    with transaction.atomic():
        case, order = lock_case(case_id)
        now = timezone.now()
        case.closed_at, case.closed_by = now, user_or_none(actor)
        move(
            case,
            CaseStatus.CANCELLED,
            order=order,
            actor=actor,
            via=via,
            action="aftersale_case.cancelled",
            message=(reason or "买家撤销").strip()[:300],
            now=now,
        )
    return case


def close_case(*, actor: Any, case_id: int, note: str = "", via: str = "admin") -> AfterSaleCase:
    """Close a finished case (refunded, replacement sent, rejected, or inspected without refund)."""
    via = clean_via(via)
    with transaction.atomic():
        case, order = lock_case(case_id)
        now = timezone.now()
        case.closed_at, case.closed_by = now, user_or_none(actor)
        move(
            case,
            CaseStatus.CLOSED,
            order=order,
            actor=actor,
            via=via,
            action="aftersale_case.closed",
            message=(note or "").strip()[:300],
            now=now,
        )
    return case
