"""Test factories for after-sales: shops, orders written as rows (exact amounts), cases through the service."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils import timezone

from shopops.aftersales import services
from shopops.aftersales.models import AfterSaleCase
from shopops.catalog.models import Sku
from shopops.channels.models import Shop
from shopops.inventory.models import Warehouse, WarehouseKind
from shopops.inventory.tests import factories as inventory_factories
from shopops.orders.models import Order, OrderLine, OrderStatus, StockState

_sequence = itertools.count(1)
SHIPPED_STATUSES = {
    OrderStatus.SHIPPED,
    OrderStatus.DELIVERED,
    OrderStatus.COMPLETED,
}


def create_shop(*, platform: str = "taobao", name: str | None = None) -> Shop:
    number = next(_sequence)
    return Shop.objects.create(
        code=f"as-shop-{number}", name=name or f"售后测试店{number}", platform=platform
    )


@dataclass(frozen=True)
class Line:
    sku: Sku | None
    quantity: int
    unit_price: Decimal
    discount: Decimal = Decimal("0.00")


def create_order(
    *,
    shop: Shop,
    lines: list[Line],
    status: str = OrderStatus.COMPLETED,
    shipping_fee: Decimal = Decimal("0.00"),
    paid_at: dt.datetime | None = None,
    is_test: bool = False,
) -> Order:
    """An order as rows: line amount = price × quantity − discount; paid = Σ line amounts + shipping.
    Stock untracked (history), so refunds have no stock effect of their own."""
    number = next(_sequence)
    paid_at = paid_at or timezone.now() - dt.timedelta(days=3)
    goods = sum((line.unit_price * line.quantity for line in lines), Decimal("0.00"))
    discounts = sum((line.discount for line in lines), Decimal("0.00"))
    order = Order.objects.create(
        shop=shop,
        external_id=f"AS-ORDER-{number}",
        status=status,
        stock_state=StockState.UNTRACKED,
        goods_amount=goods,
        shipping_fee=shipping_fee,
        shop_discount=discounts,
        paid_amount=goods - discounts + shipping_fee,
        placed_at=paid_at - dt.timedelta(minutes=5),
        paid_at=paid_at,
        shipped_at=paid_at + dt.timedelta(hours=5) if status in SHIPPED_STATUSES else None,
        delivered_at=paid_at + dt.timedelta(days=2)
        if status in (OrderStatus.DELIVERED, OrderStatus.COMPLETED)
        else None,
        completed_at=paid_at + dt.timedelta(days=7) if status == OrderStatus.COMPLETED else None,
        is_valid=True,
        is_test=is_test,
    )
    OrderLine.objects.bulk_create(
        OrderLine(
            order=order,
            line_no=index,
            sku=line.sku,
            merchant_code=line.sku.merchant_code if line.sku else "",
            title=f"商品{index}",
            quantity=line.quantity,
            unit_price=line.unit_price,
            discount=line.discount,
            amount=line.unit_price * line.quantity - line.discount,
            shipped_quantity=line.quantity if status in SHIPPED_STATUSES else 0,
        )
        for index, line in enumerate(lines, start=1)
    )
    return order


def order_lines(order: Order) -> list[OrderLine]:
    return list(order.lines.order_by("line_no"))


def defective_warehouse(*, code: str | None = None) -> Warehouse:
    return inventory_factories.create_warehouse(code=code, kind=WarehouseKind.DEFECTIVE)


def apply(
    order: Order,
    *,
    kind: str,
    units: dict[OrderLine, int] | None = None,
    reason_code: str = "quality.damaged",
    actor: Any = None,
    **extra: Any,
) -> AfterSaleCase:
    wanted = units or {line: line.quantity for line in order_lines(order)}
    return services.apply_case(
        actor=actor,
        order_id=order.pk,
        kind=kind,
        reason_code=reason_code,
        lines={line.pk: count for line, count in wanted.items()},
        **extra,
    )
