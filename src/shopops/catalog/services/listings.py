"""Channel listings: draft → listed (上架) → delisted (下架)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from shopops.catalog.models import (
    LISTING_TRANSITIONS,
    ChannelListing,
    ListingEvent,
    ListingStatus,
    Product,
    ProductStatus,
)
from shopops.catalog.services.common import (
    IllegalListingTransition,
)
from shopops.channels.models import Shop
from shopops.core import audit
from shopops.core.audit import user_or_none
from shopops.core.errors import InvalidInput, NotFound


def _check_listing_allowed(product: Product, shop: Shop, status: str, reason: str) -> None:
    if status == ListingStatus.LISTED:
        if product.status == ProductStatus.ARCHIVED:
            raise InvalidInput(
                "商品已归档，不能上架", fields={"status": "商品已归档"}, code="product_archived"
            )
        if not shop.is_active:
            raise InvalidInput(
                f"店铺“{shop.name}”已停用，不能上架", fields={"shop_id": "已停用"}, code="shop_inactive"
            )
    if status == ListingStatus.DELISTED and not reason:
        raise InvalidInput("下架须填写原因", fields={"reason": "下架须填写原因"})


def set_listing_status(
    *, product_id: int, shop_id: int, status: str, actor: Any, reason: str = ""
) -> ChannelListing:
    """Move a product's listing on one shop along LISTING_TRANSITIONS (creating the draft if missing)."""
    if status not in ListingStatus.values:
        raise InvalidInput(f"未知上下架状态：{status}", fields={"status": "无效"})
    reason = (reason or "").strip()[:300]
    with transaction.atomic():
        product = Product.objects.filter(pk=product_id).first()
        if product is None:
            raise NotFound("商品不存在", fields={"product_id": "不存在"})
        shop = Shop.objects.filter(pk=shop_id).first()
        if shop is None:
            raise NotFound("店铺不存在", fields={"shop_id": "不存在"})
        listing, created = ChannelListing.objects.select_for_update().get_or_create(
            product=product, shop=shop
        )
        if created:
            audit.record(actor=actor, action="listing.created", instance=listing, before={})
            if status == ListingStatus.DRAFT:
                return listing
        current = listing.status
        if status not in LISTING_TRANSITIONS.get(current, set()):
            raise IllegalListingTransition(
                f"不能从“{ListingStatus(current).label}”变为“{ListingStatus(status).label}”",
                fields={"status": f"{current} → {status} 不允许"},
            )
        _check_listing_allowed(product, shop, status, reason)
        before = audit.snapshot(listing)
        listing.status = status
        listing.changed_by = user_or_none(actor)
        listing.changed_at = timezone.now()
        listing.reason = reason
        listing.save(update_fields=["status", "changed_by", "changed_at", "reason"])
        ListingEvent.objects.create(
            listing=listing, from_status=current, to_status=status, reason=reason, actor=user_or_none(actor)
        )
        audit.record(actor=actor, action=f"listing.{status}", instance=listing, before=before, reason=reason)
    return listing
