"""Order test factories: shops, orders with lines (through the order service), stocked SKUs."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

from django.utils import timezone

from shopops.catalog.models import Sku
from shopops.channels.models import Platform, Shop
from shopops.inventory.models import Warehouse
from shopops.inventory.tests.factories import create_sku, create_warehouse, stock
from shopops.orders import services
from shopops.orders.models import Order, OrderStatus
from shopops.orders.services.inputs import LineInput, OrderInput

_numbers = itertools.count(1)

# Stock effects start here for factory shops, so orders placed "now" are tracked and old ones are history.
TRACKING_SINCE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def create_shop(
    *,
    code: str | None = None,
    platform: str = Platform.TMALL,
    settings: dict[str, Any] | None = None,
    name: str | None = None,
    **extra: Any,
) -> Shop:
    """A shop whose stock effects start at TRACKING_SINCE unless `settings` says otherwise."""
    number = next(_numbers)
    merged = {"stock_effects_since": TRACKING_SINCE.isoformat(), **(settings or {})}
    return Shop.objects.create(
        code=code or f"order-shop-{number}",
        name=name or f"订单店铺{number}",
        platform=platform,
        settings=merged,
        **extra,
    )


def stocked_sku(*, on_hand: int, warehouse: Warehouse | None = None, merchant_code: str | None = None) -> Sku:
    """A SKU with `on_hand` units in `warehouse` (a new one by default), through the ledger."""
    sku = create_sku(merchant_code=merchant_code)
    stock(sku=sku, warehouse=warehouse or create_warehouse(), on_hand=on_hand)
    return sku


def order_input(
    *,
    lines: list[tuple[Sku | str | None, int, Decimal | str]] | None = None,
    external_id: str | None = None,
    status: str = OrderStatus.PAID,
    placed_at: dt.datetime | None = None,
    **fields: Any,
) -> OrderInput:
    """An OrderInput with a complete receiver; lines as (SKU or merchant code, quantity, unit price)."""
    placed_at = placed_at or timezone.now()
    line_inputs = []
    for sku, quantity, price in lines or []:
        line_inputs.append(
            LineInput(
                quantity=quantity,
                unit_price=Decimal(str(price)),
                sku_id=sku.pk if isinstance(sku, Sku) else None,
                merchant_code=sku
                if isinstance(sku, str)
                else (sku.merchant_code if isinstance(sku, Sku) else ""),
                title="商品",
            )
        )
    defaults: dict[str, Any] = {
        "buyer_id": f"buyer-{next(_numbers)}",
        "buyer_nick": "买家",
        "receiver_name": "张三",
        "receiver_phone": "13800001234",
        "receiver_province": "浙江省",
        "receiver_city": "杭州市",
        "receiver_district": "西湖区",
        "receiver_address": "文三路 1 号",
    }
    if status not in (OrderStatus.PENDING_PAYMENT, OrderStatus.CANCELLED):
        defaults["paid_at"] = placed_at
    defaults.update(fields)
    return OrderInput(
        external_id=external_id or f"E{next(_numbers):08d}",
        placed_at=placed_at,
        status=status,
        lines=line_inputs,
        **defaults,
    )


def create_order(
    *,
    shop: Shop,
    lines: list[tuple[Sku | str | None, int, Decimal | str]] | None = None,
    status: str = OrderStatus.PAID,
    actor: Any = None,
    via: str = "manual",
    **fields: Any,
) -> Order:
    """An order created through `orders.services.create_order` (stock and review effects included)."""
    data = order_input(lines=lines, status=status, **fields)
    return services.create_order(actor=actor, shop_id=shop.pk, data=data, via=via)
