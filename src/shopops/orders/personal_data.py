"""Orders' part of personal-data requests: a customer's orders and lines for export, and their buyer and
receiver fields anonymised — the transaction record itself (numbers, amounts, times, lines, SKUs) stays,
as the E-commerce Law asks (3 years), and so does every metric computed from it."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from shopops.customers.models import Customer
from shopops.customers.personal_data import anonymous_token, label, readable
from shopops.orders.models import Order, OrderEvent, OrderLine

DELETED_NAME = "已删除"
# personal fields of an order and what they become; the province and city stay (regional figures)
ANONYMOUS_VALUES: dict[str, str] = {
    "buyer_nick": "",
    "buyer_nick_hash": "",
    "buyer_email": "",
    "receiver_name": DELETED_NAME,
    "receiver_phone": "",
    "receiver_phone_hash": "",
    "receiver_phone_last4": "",
    "receiver_district": "",
    "receiver_address": "",
    "receiver_postcode": "",
    "receiver_hash": "",
    "buyer_message": "",
}
PERSONAL_EVENT_KEYS = frozenset({*ANONYMOUS_VALUES, "buyer_id"})
ORDER_EXPORT_FIELDS = (
    "external_id",
    "placed_at",
    "paid_at",
    "status",
    "paid_amount",
    "refunded_amount",
    "buyer_id",
    "buyer_nick",
    "buyer_email",
    "receiver_name",
    "receiver_phone",
    "receiver_province",
    "receiver_city",
    "receiver_district",
    "receiver_address",
    "buyer_message",
)


def _order_row(order: Order) -> dict[str, str]:
    row = {str(label(Order, "shop")): order.shop.name}
    for name in ORDER_EXPORT_FIELDS:
        value = order.get_status_display() if name == "status" else getattr(order, name)
        row[label(Order, name)] = readable(value)
    return row


def export(customer: Customer) -> dict[str, list[dict[str, str]]]:
    orders = list(Order.objects.filter(customer=customer).select_related("shop").order_by("placed_at", "pk"))
    lines = (
        OrderLine.objects.filter(order__customer=customer)
        .select_related("order")
        .order_by("order__placed_at", "order_id", "line_no")
    )
    return {
        str(Order._meta.verbose_name_plural): [_order_row(order) for order in orders],
        str(OrderLine._meta.verbose_name_plural): [
            {
                label(OrderLine, "order"): line.order.external_id,
                label(OrderLine, "title"): line.title,
                label(OrderLine, "spec"): line.spec,
                label(OrderLine, "merchant_code"): line.merchant_code,
                label(OrderLine, "quantity"): readable(line.quantity),
                label(OrderLine, "unit_price"): readable(line.unit_price),
                label(OrderLine, "amount"): readable(line.amount),
            }
            for line in lines
        ],
    }


def _is_anonymous(order: Order) -> bool:
    return all(getattr(order, name) == value for name, value in ANONYMOUS_VALUES.items()) and (
        not order.buyer_id or order.buyer_id.startswith("anon-")
    )


def anonymise(customer: Customer) -> int:
    """Anonymise the buyer and receiver of each of the customer's orders (and the personal values in their
    timeline's recorded changes); rows changed, 0 the second time."""
    changed = 0
    now = timezone.now()
    with transaction.atomic():
        orders = list(Order.objects.filter(customer=customer).order_by("pk").select_for_update())
        for order in orders:
            if _is_anonymous(order):
                continue
            values: dict[str, Any] = dict(ANONYMOUS_VALUES)
            if order.buyer_id and not order.buyer_id.startswith("anon-"):
                values["buyer_id"] = anonymous_token()
            Order.objects.filter(pk=order.pk).update(**values, updated_at=now)
            changed += 1
        events = OrderEvent.objects.filter(order__customer=customer).exclude(changes={})
        for event in events.filter(_mentions_personal_keys()):
            cleaned = {
                key: ([DELETED_NAME, DELETED_NAME] if key in PERSONAL_EVENT_KEYS else value)
                for key, value in event.changes.items()
            }
            if cleaned != event.changes:
                OrderEvent.objects.filter(pk=event.pk).update(changes=cleaned)
                changed += 1
    return changed


def _mentions_personal_keys() -> Q:
    condition = Q()
    for key in sorted(PERSONAL_EVENT_KEYS):
        condition |= Q(changes__has_key=key)
    return condition
