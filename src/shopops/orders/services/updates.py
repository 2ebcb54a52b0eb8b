"""A newer platform export about an order we have: follow its status forward, take its amounts and times.

Status: the export is evidence of what happened on the platform, so the order follows a reported
status that is later in the lifecycle (pending → paid → partially shipped → shipped → delivered →
completed), skipping steps if need be, and follows cancelled/closed from anywhere; it never moves
back (an older file read after a newer one changes nothing) and a cancelled or closed order never
reopens. Fields the export does not report (None / empty) keep their stored values; a masked value
(`****`, as Pinduoduo writes addresses) never overwrites a clear one. All differences go on the
timeline as one `imported` event.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction

from shopops.channels.services import shop_settings
from shopops.core import audit
from shopops.core.money import to_money
from shopops.customers.services import phone_hash, phone_last4
from shopops.orders.models import FINAL_STATUSES, Order, OrderEventKind, OrderLine, OrderStatus
from shopops.orders.services.common import STATUS_RANK, add_order_event, lock_order
from shopops.orders.services.creation import prepare_order, receiver_fingerprint
from shopops.orders.services.inputs import OrderInput
from shopops.orders.services.lifecycle import _lines_of
from shopops.orders.services.refunds import refund_status_for
from shopops.orders.services.review import review_orders
from shopops.orders.services.stock import apply_stock

MONEY_FIELDS = (
    "goods_amount",
    "shipping_fee",
    "shop_discount",
    "platform_discount",
    "paid_amount",
    "merchant_received",
)
TIME_FIELDS = ("paid_at", "shipped_at", "delivered_at", "completed_at", "cancelled_at")
TEXT_FIELDS = (
    "platform_status",
    "buyer_message",
    "seller_memo",
    "close_reason",
    "carrier_name",
    "tracking_number",
)
RECEIVER_FIELDS = (
    "receiver_name",
    "receiver_phone",
    "receiver_province",
    "receiver_city",
    "receiver_district",
    "receiver_address",
    "receiver_postcode",
    "receiver_country",
)


def followed_status(current: str, reported: str) -> str:
    """The status an order takes when an export reports `reported` while we hold `current`."""
    if current in FINAL_STATUSES or reported == current or reported not in OrderStatus.values:
        return current
    if reported in FINAL_STATUSES:
        return reported
    return reported if STATUS_RANK[reported] > STATUS_RANK[current] else current


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    return value.isoformat() if hasattr(value, "isoformat") else value


def _reported_receiver(order: Order, data: OrderInput) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in RECEIVER_FIELDS:
        value = getattr(data, name)
        stored = getattr(order, name)
        masked_over_clear = "*" in value and "*" not in stored and bool(stored)
        if value and not masked_over_clear and stored != value:
            values[name] = value[: _max_length(name)]
    return values


def _max_length(name: str) -> int:
    return int(Order._meta.get_field(name).max_length or 0)  # type: ignore[union-attr]


def _reported_values(order: Order, data: OrderInput) -> dict[str, Any]:
    values: dict[str, Any] = {
        name: to_money(getattr(data, name), field=name)
        for name in MONEY_FIELDS
        if getattr(data, name) is not None
    }
    values.update({name: getattr(data, name) for name in TIME_FIELDS if getattr(data, name) is not None})
    values.update(
        {name: getattr(data, name)[: _max_length(name)] for name in TEXT_FIELDS if getattr(data, name)}
    )
    values.update(_reported_receiver(order, data))
    if data.flag is not None and 0 <= data.flag <= 5:
        values["flag"] = data.flag
    if data.is_test:
        values["is_test"] = True
    if data.refunded_amount is not None:
        values["refunded_amount"] = to_money(data.refunded_amount, field="refunded_amount")
    return values


def _apply(order: Order, values: dict[str, Any], to_status: str) -> dict[str, list[Any]]:
    changes: dict[str, list[Any]] = {}
    for name, value in values.items():
        if getattr(order, name) != value:
            changes[name] = [_plain(getattr(order, name)), _plain(value)]
            setattr(order, name, value)
    if "receiver_phone" in changes:
        order.receiver_phone_hash = phone_hash(order.receiver_phone)
        order.receiver_phone_last4 = phone_last4(order.receiver_phone)
    if any(name in changes for name in RECEIVER_FIELDS):
        order.receiver_hash = receiver_fingerprint(
            OrderInput(
                external_id=order.external_id,
                placed_at=order.placed_at,
                status=order.status,
                **{name: getattr(order, name) for name in RECEIVER_FIELDS},
            )
        )
    # Refunds beyond what was paid cannot be stored (database constraint): the export is capped.
    order.refunded_amount = min(order.refunded_amount, order.paid_amount)
    refund_status = refund_status_for(paid=order.paid_amount, refunded=order.refunded_amount)
    if refund_status != order.refund_status:
        changes["refund_status"] = [order.refund_status, refund_status]
        order.refund_status = refund_status
    if to_status != order.status:
        changes["status"] = [order.status, to_status]
        # Times the export does not report stay empty: the time of the import is not when it happened.
        order.status = to_status
    if order.status != OrderStatus.PENDING_PAYMENT:
        order.pay_deadline = None
    if order.paid_at is None and order.status not in (OrderStatus.PENDING_PAYMENT, OrderStatus.CANCELLED):
        order.paid_at = order.placed_at
    return changes


def _add_missing_lines(order: Order, data: OrderInput) -> dict[str, list[Any]]:
    """An order first seen without lines (an order-level file) gets the lines a later file reports."""
    if not data.lines or order.lines.exists():
        return {}
    prepared = prepare_order(order.shop, data, shop_settings(order.shop))
    OrderLine.objects.bulk_create(_lines_of(prepared, order))
    return {"lines": [0, len(prepared.lines)]}


def _update_line_statuses(order: Order, data: OrderInput) -> None:
    by_external = {line.external_line_id: line for line in data.lines if line.external_line_id}
    if not by_external:
        return
    for line in order.lines.filter(external_line_id__in=list(by_external)):
        reported = by_external[line.external_line_id]
        refunded = min(to_money(reported.refund_amount or Decimal(0)), line.amount)
        if (
            reported.platform_status
            and reported.platform_status != line.platform_status
            or refunded != line.refunded_amount
        ):
            line.platform_status = reported.platform_status[:60] or line.platform_status
            line.refunded_amount = max(refunded, line.refunded_amount)
            line.save(update_fields=["platform_status", "refunded_amount"])


def apply_platform_update(
    *, actor: Any, order_id: int, data: OrderInput, via: str = "import", message: str = ""
) -> bool:
    """Apply what a newer platform export says about an existing order (status possibly skipping steps,
    amounts, times, memo); records the differences on the timeline, keeps stock in step. True if changed."""
    with transaction.atomic():
        order = lock_order(order_id)
        before_status = order.status
        to_status = followed_status(order.status, data.status)
        changes = _apply(order, _reported_values(order, data), to_status)
        changes.update(_add_missing_lines(order, data))
        _update_line_statuses(order, data)
        if not changes:
            return False
        order.save()
        add_order_event(
            order=order,
            kind=OrderEventKind.IMPORTED,
            actor=actor,
            via=via,
            message=message or "平台数据更新",
            changes=changes,
            from_status=before_status if order.status != before_status else "",
            to_status=order.status if order.status != before_status else "",
        )
        audit.record(actor=actor, action="order.imported", instance=order, changes=changes, reason=message)
        apply_stock(order, actor=actor, via=via)
        review_orders(order_ids=[order.pk], actor=actor)
    return True
