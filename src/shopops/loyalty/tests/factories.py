"""Test factories for loyalty: levels, a program, customers and orders written as rows (exact amounts)."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

from django.utils import timezone

from shopops.channels.models import Shop
from shopops.customers.models import Customer
from shopops.loyalty.models import EarnOn, MemberLevel, PointsProgram
from shopops.orders.models import Order, OrderLine, OrderStatus, StockState

_sequence = itertools.count(1)


def create_levels() -> list[MemberLevel]:
    return [
        MemberLevel.objects.create(name="普通会员", rank=0),
        MemberLevel.objects.create(
            name="银卡", rank=1, min_spend=Decimal("500.00"), min_orders=5, discount_permille=20
        ),
        MemberLevel.objects.create(name="金卡", rank=2, min_spend=Decimal("2000.00"), discount_permille=50),
        MemberLevel.objects.create(
            name="至尊VIP", rank=3, min_spend=Decimal("10000.00"), discount_permille=100, free_shipping=True
        ),
    ]


def set_program(
    *, rate: str = "1", earn_on: str = EarnOn.COMPLETED, expiry_days: int | None = 365
) -> PointsProgram:
    program, _created = PointsProgram.objects.update_or_create(
        pk=1, defaults={"points_per_yuan": Decimal(rate), "earn_on": earn_on, "expiry_days": expiry_days}
    )
    return program


def create_customer() -> Customer:
    return Customer.objects.create(name=f"会员{next(_sequence)}")


def create_shop() -> Shop:
    number = next(_sequence)
    return Shop.objects.create(code=f"ly-shop-{number}", name=f"积分测试店{number}", platform="taobao")


def create_order(
    *,
    customer: Customer | None,
    paid: str,
    shop: Shop | None = None,
    status: str = OrderStatus.COMPLETED,
    paid_at: dt.datetime | None = None,
    quantity: int = 1,
) -> Order:
    """A completed order of one line of `quantity` units whose amount is the paid amount (no shipping),
    stock untracked."""
    number = next(_sequence)
    paid_at = paid_at or timezone.now() - dt.timedelta(days=3)
    amount = Decimal(paid)
    order = Order.objects.create(
        shop=shop or create_shop(),
        external_id=f"LY-ORDER-{number}",
        customer=customer,
        status=status,
        stock_state=StockState.UNTRACKED,
        goods_amount=amount,
        paid_amount=amount,
        placed_at=paid_at - dt.timedelta(minutes=5),
        paid_at=paid_at,
        shipped_at=paid_at + dt.timedelta(hours=5),
        delivered_at=paid_at + dt.timedelta(days=2),
        completed_at=paid_at + dt.timedelta(days=3) if status == OrderStatus.COMPLETED else None,
        is_valid=True,
    )
    OrderLine.objects.create(
        order=order,
        line_no=1,
        title="商品",
        quantity=quantity,
        unit_price=amount / quantity,
        amount=amount,
        shipped_quantity=quantity,
    )
    return order
