"""Catalog read models: effective prices, SKU and product lists, below-cost SKUs, catalog counts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from shopops.catalog.models import (
    Brand,
    Category,
    ChannelListing,
    ListingStatus,
    PriceHistory,
    Product,
    PromoPrice,
    Sku,
)
from shopops.channels.models import Shop

VIEW_COST_PERMISSION = "catalog.view_cost"


def can_view_cost(user: Any) -> bool:
    """Whether the user may see cost prices, margins, supplier prices and stock value at cost.

    管理员, 运营, 财务 and 仓储 may (accounts/roles.py); 美工, 客服 and 推广 see sale prices only — every page,
    export and API response that shows a cost asks this one question.
    """
    return bool(user is not None and user.is_active and user.has_perm(VIEW_COST_PERMISSION))


def active_promo(*, sku: Sku, shop: Shop | int, at: dt.datetime | None = None) -> PromoPrice | None:
    """The enabled promo price of `sku` on `shop` whose [starts_at, ends_at) window holds `at`."""
    at = at or timezone.now()
    shop_id = shop.pk if isinstance(shop, Shop) else shop
    return (
        PromoPrice.objects.filter(sku=sku, shop_id=shop_id, is_active=True, starts_at__lte=at, ends_at__gt=at)
        .order_by("price", "pk")
        .first()
    )


def effective_price(*, sku: Sku, shop: Shop | int | None = None, at: dt.datetime | None = None) -> Decimal:
    """What a customer pays on `shop` at `at`: the active promo price there, else the sale price."""
    if shop is None:
        return sku.sale_price
    promo = active_promo(sku=sku, shop=shop, at=at)
    return promo.price if promo is not None else sku.sale_price


def is_below_cost(sale_price: Decimal, cost_price: Decimal) -> bool:
    """The one "below cost" rule (低于成本): the sale price is under the cost price (equal is not below)."""
    return sale_price < cost_price


def below_cost_q(prefix: str = "") -> Q:
    """The same rule as a filter on SKUs (`prefix`, e.g. "skus__", reaches them from another model)."""
    return Q(**{f"{prefix}sale_price__lt": F(f"{prefix}cost_price")})


def filter_below_cost(queryset: QuerySet[Any], below_cost: bool | None, *, prefix: str = "") -> QuerySet[Any]:
    """Only the SKUs below cost (True), only those at or above cost (False), or all (None)."""
    if below_cost is None:
        return queryset
    return queryset.filter(below_cost_q(prefix)) if below_cost else queryset.exclude(below_cost_q(prefix))


def products_below_cost(limit: int | None = None, *, include_inactive: bool = False) -> QuerySet[Sku]:
    """SKUs whose sale price is below their cost price, worst loss first (for the 工作台)."""
    queryset = Sku.objects.filter(below_cost_q()).select_related("product", "product__category")
    if not include_inactive:
        queryset = queryset.filter(is_active=True)
    queryset = queryset.order_by(F("sale_price") - F("cost_price"), "pk")
    return queryset[:limit] if limit is not None else queryset


def catalog_counts() -> dict[str, Any]:
    """Headline numbers: products, SKUs, active SKUs, categories, brands and listed products per shop."""
    skus = Sku.objects.aggregate(total=Count("pk"), active=Count("pk", filter=Q(is_active=True)))
    listed = (
        ChannelListing.objects.filter(status=ListingStatus.LISTED)
        .values("shop_id", "shop__code", "shop__name")
        .annotate(listed=Count("pk"))
        .order_by("shop__code")
    )
    return {
        "products": Product.objects.count(),
        "skus": skus["total"],
        "active_skus": skus["active"],
        "categories": Category.objects.count(),
        "brands": Brand.objects.count(),
        "listed_per_shop": [
            {
                "shop_id": row["shop_id"],
                "shop_code": row["shop__code"],
                "shop_name": row["shop__name"],
                "listed": row["listed"],
            }
            for row in listed
        ],
    }


def category_with_descendant_ids(category_id: int) -> list[int]:
    """The category and every category below it (one query over the small category table)."""
    children: dict[int | None, list[int]] = {}
    for pk, parent_id in Category.objects.values_list("pk", "parent_id"):
        children.setdefault(parent_id, []).append(pk)
    found = [category_id]
    frontier = [category_id]
    while frontier:
        below = children.get(frontier.pop(), [])
        found.extend(below)
        frontier.extend(below)
    return found


def sku_list(
    *,
    user: Any,
    search: str | None = None,
    category_id: int | None = None,
    brand_id: int | None = None,
    product_id: int | None = None,
    is_active: bool | None = None,
    below_cost: bool | None = None,
) -> QuerySet[Sku]:
    """SKUs for lists and exports; `category_id` includes its sub-categories; `search` matches codes,
    barcode, product name and spec. SKUs are not shop-scoped, so `user` only reserves the place."""
    queryset = Sku.objects.select_related("product", "product__category", "product__brand")
    if search and search.strip():
        text = search.strip()
        queryset = queryset.filter(
            Q(merchant_code__icontains=text)
            | Q(barcode__icontains=text)
            | Q(spec__icontains=text)
            | Q(product__name__icontains=text)
            | Q(product__merchant_code__icontains=text)
        )
    if category_id is not None:
        queryset = queryset.filter(product__category_id__in=category_with_descendant_ids(category_id))
    if brand_id is not None:
        queryset = queryset.filter(product__brand_id=brand_id)
    if product_id is not None:
        queryset = queryset.filter(product_id=product_id)
    if is_active is not None:
        queryset = queryset.filter(is_active=is_active)
    queryset = filter_below_cost(queryset, below_cost)
    return queryset.order_by("product_id", "merchant_code")


def product_list(
    *,
    user: Any,
    search: str | None = None,
    category_id: int | None = None,
    brand_id: int | None = None,
    status: str | None = None,
) -> QuerySet[Product]:
    """Products with their SKU count; `category_id` includes its sub-categories."""
    queryset = Product.objects.select_related("category", "brand").annotate(sku_count=Count("skus"))
    if search and search.strip():
        text = search.strip()
        queryset = queryset.filter(
            Q(name__icontains=text)
            | Q(merchant_code__icontains=text)
            | Q(skus__merchant_code__icontains=text)
        ).distinct()
    if category_id is not None:
        queryset = queryset.filter(category_id__in=category_with_descendant_ids(category_id))
    if brand_id is not None:
        queryset = queryset.filter(brand_id=brand_id)
    if status:
        queryset = queryset.filter(status=status)
    return queryset.order_by("-created_at", "-pk")


def price_history(*, sku_id: int, field: str | None = None) -> QuerySet[PriceHistory]:
    """One SKU's price changes, newest first, with their authors."""
    queryset = PriceHistory.objects.filter(sku_id=sku_id).select_related("actor")
    if field:
        queryset = queryset.filter(field=field)
    return queryset.order_by("-created_at", "-pk")


def listings_for(
    *, user: Any, product_id: int | None = None, shop_id: int | None = None
) -> QuerySet[ChannelListing]:
    """Channel listings in the user's shop scope."""
    queryset = ChannelListing.objects.for_user(user).select_related("product", "shop", "changed_by")
    if product_id is not None:
        queryset = queryset.filter(product_id=product_id)
    if shop_id is not None:
        queryset = queryset.filter(shop_id=shop_id)
    return queryset.order_by("product_id", "shop_id")
