"""Orders' evidence for customer merge suggestions (customers discovers this module; it may not import
orders): profiles whose orders went to the same receiver + address (`receiver_hash`: name, phone and
address), or to the same receiver phone (`receiver_phone_hash`; privacy and masked numbers have none)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from django.db.models import Count

from shopops.orders.models import Order

# one receiver shared by more profiles than this is a pickup point or a front desk, not one person
MAX_GROUP = 10


def _pairs(field: str, kind: str, label: str) -> Iterator[tuple[int, int, str, str]]:
    orders = Order.objects.exclude(**{field: ""}).filter(
        customer__isnull=False, customer__merged_into__isnull=True
    )
    shared = (
        orders.values(field).annotate(n=Count("customer", distinct=True)).filter(n__gt=1, n__lte=MAX_GROUP)
    )
    groups: dict[str, set[int]] = defaultdict(set)
    for key, customer_id in (
        orders.filter(**{f"{field}__in": shared.values(field)}).values_list(field, "customer_id").distinct()
    ):
        groups[key].add(customer_id)
    for members in groups.values():
        ids = sorted(members)
        for index, first in enumerate(ids):
            for second in ids[index + 1 :]:
                yield first, second, kind, label


def pairs() -> Iterator[tuple[int, int, str, str]]:
    yield from _pairs("receiver_hash", "same_receiver", "收货人与地址相同")
    yield from _pairs("receiver_phone_hash", "same_receiver_phone", "收货电话相同")
