"""Small fixtures for segments: customers with paid, unpaid, refunded and test orders written directly."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from decimal import Decimal
from typing import Any

from shopops.channels.models import Shop
from shopops.customers.models import Customer
from shopops.orders.models import Order
from shopops.orders.tests.factories import create_shop

_numbers = itertools.count(1)


def create_customer(**fields: Any) -> Customer:
    return Customer.objects.create(name=fields.pop("name", f"客户{next(_numbers)}"), **fields)


def add_order(
    *,
    customer: Customer | None,
    shop: Shop,
    paid_at: dt.datetime | None,
    paid_amount: Decimal | str = "100.00",
    refunded_amount: Decimal | str = "0.00",
    is_test: bool = False,
) -> Order:
    placed_at = paid_at or dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    return Order.objects.create(
        shop=shop,
        external_id=f"S{next(_numbers):09d}",
        customer=customer,
        placed_at=placed_at,
        paid_at=paid_at,
        paid_amount=Decimal(paid_amount),
        refunded_amount=Decimal(refunded_amount),
        is_test=is_test,
    )


def random_customers(*, seed: int, count: int, now: dt.datetime) -> dict[str, Any]:
    """`count` customers in two shops with 0–6 orders each: ties in order counts, amounts and times on purpose."""
    generator = random.Random(seed)
    shops = [create_shop(), create_shop()]
    customers = [create_customer() for _ in range(count)]
    days = [1, 3, 3, 10, 29, 30, 31, 45, 90, 200]  # repeated days make ties in recency
    amounts = ["19.90", "59.00", "100.00", "100.00", "299.00", "888.00"]
    for customer in customers:
        for _ in range(generator.choice([0, 1, 1, 2, 2, 3, 6])):
            paid = generator.random() < 0.85
            amount = Decimal(generator.choice(amounts))
            refunded = amount if paid and generator.random() < 0.15 else Decimal("0.00")
            moment = now - dt.timedelta(days=generator.choice(days), hours=generator.choice([0, 0, 5]))
            add_order(
                customer=customer,
                shop=generator.choice(shops),
                paid_at=moment if paid else None,
                paid_amount=amount,
                refunded_amount=refunded,
                is_test=generator.random() < 0.03,
            )
    # an order without a customer counts for nobody
    add_order(customer=None, shop=shops[0], paid_at=now - dt.timedelta(days=2))
    return {"shops": shops, "customers": customers}
