"""Orders' part of a customer merge (customers discovers this module; it may not import orders): the
source profile's orders move to the target, and on unmerge exactly those orders move back."""

from __future__ import annotations

from typing import Any

from shopops.orders.models import Order

KEY = "orders.order"


def merged(source: Any, target: Any) -> dict[str, list[int]]:
    ids = sorted(Order.objects.filter(customer=source).values_list("pk", flat=True))
    Order.objects.filter(pk__in=ids).update(customer=target)
    return {KEY: ids}


def unmerged(source: Any, target: Any, moved: dict[str, list[int]]) -> None:
    # only orders still on the target: one moved on since (another merge's undo) is left where it is
    Order.objects.filter(pk__in=moved.get(KEY, []), customer=target).update(customer=source)
