"""Catalog API: products' listings (上架/下架) on shops."""

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Field, Query, Schema
from ninja.pagination import paginate

from shopops.catalog import services
from shopops.catalog.api.common import ListingOut, router, shop_in_scope
from shopops.catalog.models import ChannelListing, ListingStatus
from shopops.core.api import ERROR_RESPONSES, ObjectId, Pagination, PlainText, acting_user, requires


class ListingIn(Schema):
    status: ListingStatus
    reason: PlainText = Field("", max_length=300)


class ListingFilters(Schema):
    product: ObjectId | None = None
    shop: ObjectId | None = None
    status: ListingStatus | None = None


@router.get("/catalog/listings", response={200: list[ListingOut], **ERROR_RESPONSES})
@paginate(Pagination)
@requires("catalog.view_channellisting")
def list_listings(request: HttpRequest, filters: Query[ListingFilters]) -> QuerySet[ChannelListing]:
    """Products' listings on the shops in the user's scope."""
    listings = ChannelListing.objects.for_user(acting_user(request)).order_by("product_id", "shop_id")
    if filters.product:
        listings = listings.filter(product_id=filters.product)
    if filters.shop:
        listings = listings.filter(shop_id=filters.shop)
    if filters.status:
        listings = listings.filter(status=filters.status)
    return listings


@router.post(
    "/catalog/products/{product_id}/listings/{shop_id}", response={200: ListingOut, **ERROR_RESPONSES}
)
@requires("catalog.change_channellisting")
def set_listing_status(
    request: HttpRequest, product_id: ObjectId, shop_id: ObjectId, payload: ListingIn
) -> ChannelListing:
    """List (上架) or delist (下架) a product on a shop; illegal transitions answer 409."""
    shop_in_scope(request, shop_id)
    return services.set_listing_status(
        product_id=product_id,
        shop_id=shop_id,
        status=payload.status,
        actor=acting_user(request),
        reason=payload.reason,
    )
