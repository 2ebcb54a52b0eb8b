"""Shops API: list, read, create and update shops; personal data masked unless the user may see it."""

from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from shopops.channels import queries, services
from shopops.channels.models import Platform, Shop
from shopops.core.api import (
    ERROR_RESPONSES,
    DateTimeOut,
    ObjectId,
    Pagination,
    PlainText,
    apply_ordering,
    ordering_description,
    requires,
)
from shopops.core.pii import shown

router = Router(tags=["channels"])

SHOP_ORDERING = {"code", "name", "platform", "created_at", "id"}
SHOP_DEFAULT_ORDERING = "platform,code"


class ShopOut(Schema):
    id: int
    code: str
    name: str
    platform: Platform
    timezone: str
    is_active: bool
    contact_name: str = Field(description="Masked (张**) unless the user holds core.view_pii")
    contact_phone: str = Field(description="Masked (138****1234) unless the user holds core.view_pii")
    return_address: str = Field(description="Masked after the district unless the user holds core.view_pii")
    settings: dict[str, Any] = Field(
        description="Order handling: reserve_on, unpaid timeouts, ship_within_hours, stock_effects_since (docs/orders.md)"
    )
    created_at: DateTimeOut
    updated_at: DateTimeOut

    @staticmethod
    def resolve_contact_name(obj: Shop, context: dict[str, Any]) -> Any:
        return shown(context["request"].auth, obj, "contact_name")

    @staticmethod
    def resolve_contact_phone(obj: Shop, context: dict[str, Any]) -> Any:
        return shown(context["request"].auth, obj, "contact_phone")

    @staticmethod
    def resolve_return_address(obj: Shop, context: dict[str, Any]) -> Any:
        return shown(context["request"].auth, obj, "return_address")


class ShopCreateIn(Schema):
    code: PlainText = Field(..., min_length=1, max_length=40, description="Letters, digits, - and _")
    name: PlainText = Field(..., min_length=1, max_length=100)
    platform: Platform
    timezone: PlainText = Field("Asia/Shanghai", max_length=40)
    is_active: bool = True
    contact_name: PlainText = Field("", max_length=50)
    contact_phone: PlainText = Field("", max_length=30)
    return_address: PlainText = Field("", max_length=300)
    settings: dict[str, Any] = Field(default_factory=dict, description="Order handling settings (validated)")


class ShopUpdateIn(Schema):
    code: PlainText | None = Field(None, min_length=1, max_length=40)
    name: PlainText | None = Field(None, min_length=1, max_length=100)
    platform: Platform | None = None
    timezone: PlainText | None = Field(None, max_length=40)
    is_active: bool | None = None
    contact_name: PlainText | None = Field(None, max_length=50)
    contact_phone: PlainText | None = Field(None, max_length=30)
    return_address: PlainText | None = Field(None, max_length=300)
    settings: dict[str, Any] | None = Field(
        None, description="Only the keys given change; the others keep their values (validated)"
    )


class ShopFilters(Schema):
    search: PlainText | None = Field(None, max_length=100, description="Part of the code or the name")
    platform: Platform | None = None
    is_active: bool | None = None
    ordering: PlainText | None = Field(
        None, max_length=200, description=ordering_description(SHOP_ORDERING, SHOP_DEFAULT_ORDERING)
    )


def _shops_for(request: HttpRequest) -> QuerySet[Shop]:
    return Shop.objects.for_user(request.auth)  # type: ignore[attr-defined]


@router.get("/shops", response={200: list[ShopOut], **ERROR_RESPONSES})
@paginate(Pagination)
@requires("channels.view_shop")
def list_shops(request: HttpRequest, filters: Query[ShopFilters]) -> QuerySet[Shop]:
    """Shops in the user's scope."""
    shops = _shops_for(request)
    if filters.search:
        shops = shops.filter(Q(code__icontains=filters.search) | Q(name__icontains=filters.search))
    if filters.platform:
        shops = shops.filter(platform=filters.platform)
    if filters.is_active is not None:
        shops = shops.filter(is_active=filters.is_active)
    return apply_ordering(shops, filters.ordering, SHOP_ORDERING, SHOP_DEFAULT_ORDERING)


@router.get("/shops/{shop_id}", response={200: ShopOut, **ERROR_RESPONSES})
@requires("channels.view_shop")
def get_shop(request: HttpRequest, shop_id: ObjectId) -> Shop:
    """One shop; outside the user's scope it answers 404."""
    return queries.shop_in_scope(request.auth, shop_id)  # type: ignore[attr-defined]


@router.post("/shops", response={201: ShopOut, **ERROR_RESPONSES})
@requires("channels.add_shop")
def create_shop(request: HttpRequest, payload: ShopCreateIn) -> Status[Shop]:
    """Create a shop (audited as shop.created)."""
    shop = services.create_shop(actor=request.auth, **payload.dict())  # type: ignore[attr-defined]
    return Status(201, shop)


@router.patch("/shops/{shop_id}", response={200: ShopOut, **ERROR_RESPONSES})
@requires("channels.change_shop")
def update_shop(request: HttpRequest, shop_id: ObjectId, payload: ShopUpdateIn) -> Shop:
    """Change the given fields of a shop (audited as shop.updated)."""
    changes = payload.dict(exclude_unset=True)
    changes = {key: value for key, value in changes.items() if value is not None}
    return services.update_shop(actor=request.auth, shop_id=shop_id, changes=changes)  # type: ignore[attr-defined]
