"""What the catalog API modules share: the router, scope lookups, the SKU filter and two schemas."""

from decimal import Decimal
from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpRequest
from ninja import Field, Router, Schema

from shopops.catalog import queries as catalog_queries
from shopops.catalog.models import Category, ListingStatus, Sku
from shopops.channels import queries as channel_queries
from shopops.channels.models import Shop
from shopops.core.api import DateTimeOut, MoneyOut, acting_user
from shopops.core.errors import NotFound
from shopops.core.permissions import check_permission
from shopops.core.scope import out_of_scope

# One router for the whole catalog API; the sub-modules register their operations on it.
router = Router(tags=["catalog"])


def not_found(what: str) -> NotFound:
    return out_of_scope(what)


def shop_in_scope(request: HttpRequest, shop_id: int) -> Shop:
    return channel_queries.shop_in_scope(acting_user(request), shop_id)


def descendant_ids(category_id: int) -> set[int]:
    """The category and every category below it (the tree is small: one query, walked in memory)."""
    children: dict[int | None, list[int]] = {}
    for pk, parent_id in Category.objects.values_list("pk", "parent_id"):
        children.setdefault(parent_id, []).append(pk)
    found, stack = {category_id}, [category_id]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def find_sku(sku_id: int) -> Sku:
    sku = Sku.objects.filter(pk=sku_id).first()
    if sku is None:
        raise not_found("SKU")
    return sku


def filter_skus(skus: QuerySet[Sku], filters: Any) -> QuerySet[Sku]:
    if filters.search:
        term = filters.search
        skus = skus.filter(
            Q(merchant_code__icontains=term) | Q(barcode__icontains=term) | Q(spec__icontains=term)
        )
    if filters.product:
        skus = skus.filter(product_id=filters.product)
    if filters.category:
        skus = skus.filter(product__category_id__in=descendant_ids(filters.category))
    if filters.brand:
        skus = skus.filter(product__brand_id=filters.brand)
    if filters.is_active is not None:
        skus = skus.filter(is_active=filters.is_active)
    skus = catalog_queries.filter_below_cost(skus, filters.below_cost)
    return skus


class SkuOut(Schema):
    id: int
    product_id: int
    merchant_code: str
    barcode: str | None
    attributes: dict[str, Any]
    spec: str
    weight_grams: int | None
    cost_price: MoneyOut | None = Field(
        description="null unless the caller holds catalog.view_cost (美工, 客服 and 推广 see sale prices only)"
    )
    sale_price: MoneyOut
    list_price: MoneyOut | None
    min_price: MoneyOut | None
    is_active: bool
    created_at: DateTimeOut
    updated_at: DateTimeOut

    @staticmethod
    def resolve_cost_price(obj: Sku, context: dict[str, Any]) -> Decimal | None:
        return obj.cost_price if catalog_queries.can_view_cost(context["request"].auth) else None


def check_cost_criteria(request: HttpRequest, *, below_cost: bool | None, ordering: str | None) -> None:
    """Filtering or ordering by cost tells costs too: it needs catalog.view_cost (403 otherwise)."""
    if below_cost is not None or "cost_price" in (ordering or ""):
        check_permission(acting_user(request), catalog_queries.VIEW_COST_PERMISSION)


class ListingOut(Schema):
    id: int
    product_id: int
    shop_id: int
    status: ListingStatus
    external_id: str = Field(description="The platform's product id, always a string")
    changed_at: DateTimeOut | None
    changed_by_id: int | None
    reason: str
