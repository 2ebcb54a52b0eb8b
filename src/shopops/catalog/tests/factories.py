"""Catalog test factories: keyword-only functions with sensible defaults, written straight to the ORM."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

from shopops.catalog.models import Brand, Category, PricingPolicy, Product, Sku
from shopops.channels.models import Platform, Shop

_numbers = itertools.count(1)


def create_category(
    *, name: str | None = None, code: str | None = None, parent: Category | None = None
) -> Category:
    number = next(_numbers)
    name = name or f"类目{number}"
    return Category.objects.create(
        parent=parent,
        name=name,
        code=code or f"C{number}",
        path=f"{parent.path} › {name}" if parent else name,
        depth=parent.depth + 1 if parent else 0,
    )


def create_brand(*, name: str | None = None, code: str | None = None, is_active: bool = True) -> Brand:
    number = next(_numbers)
    return Brand.objects.create(name=name or f"品牌{number}", code=code or f"B{number}", is_active=is_active)


def create_product(
    *,
    name: str = "真丝连衣裙",
    merchant_code: str | None = None,
    category: Category | None = None,
    brand: Brand | None = None,
    status: str = "active",
) -> Product:
    return Product.objects.create(
        name=name,
        merchant_code=merchant_code or f"P{next(_numbers):05d}",
        category=category or create_category(),
        brand=brand,
        status=status,
    )


def create_sku(
    *,
    product: Product | None = None,
    merchant_code: str | None = None,
    sale_price: Decimal | str = "100.00",
    cost_price: Decimal | str = "60.00",
    list_price: Decimal | str | None = None,
    min_price: Decimal | str | None = None,
    barcode: str | None = None,
    spec: str = "",
    is_active: bool = True,
) -> Sku:
    return Sku.objects.create(
        product=product or create_product(),
        merchant_code=merchant_code or f"S{next(_numbers):05d}",
        sale_price=Decimal(sale_price),
        cost_price=Decimal(cost_price),
        list_price=Decimal(list_price) if list_price is not None else None,
        min_price=Decimal(min_price) if min_price is not None else None,
        barcode=barcode,
        spec=spec,
        is_active=is_active,
    )


def create_policy(
    *,
    category: Category | None = None,
    min_margin_percent: Decimal | str = "0",
    mode: str = "warn",
    block_below_cost: bool = True,
) -> PricingPolicy:
    return PricingPolicy.objects.create(
        category=category,
        min_margin_percent=Decimal(min_margin_percent),
        mode=mode,
        block_below_cost=block_below_cost,
    )


def create_shop(
    *, code: str | None = None, name: str | None = None, platform: str = Platform.TMALL, **extra: Any
) -> Shop:
    number = next(_numbers)
    return Shop.objects.create(
        code=code or f"shop-{number}", name=name or f"店铺{number}", platform=platform, **extra
    )
