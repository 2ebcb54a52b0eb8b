"""Catalog API: the category tree and brands."""

from django.db.models import Q, QuerySet
from django.http import HttpRequest
from ninja import Field, Query, Schema, Status
from ninja.pagination import paginate

from shopops.catalog import services
from shopops.catalog.api.common import router
from shopops.catalog.models import Brand, Category
from shopops.core.api import ERROR_RESPONSES, ObjectId, Pagination, PlainText, acting_user, requires


class CategoryOut(Schema):
    id: int
    parent_id: int | None
    name: str
    code: str
    path: str
    depth: int
    sort_order: int


class CategoryIn(Schema):
    name: PlainText = Field(..., min_length=1, max_length=60)
    code: PlainText = Field(..., min_length=1, max_length=20)
    parent_id: ObjectId | None = None
    sort_order: int = Field(0, ge=-(2**31), le=2**31 - 1)


class CategoryUpdateIn(Schema):
    name: PlainText | None = Field(None, min_length=1, max_length=60)
    code: PlainText | None = Field(None, min_length=1, max_length=20)
    parent_id: ObjectId | None = None
    sort_order: int | None = Field(None, ge=-(2**31), le=2**31 - 1)


@router.get("/catalog/categories", response={200: list[CategoryOut], **ERROR_RESPONSES})
@paginate(Pagination)
@requires("catalog.view_category")
def list_categories(request: HttpRequest) -> QuerySet[Category]:
    """The category tree, depth first (ordered by path; `depth` and `parent_id` give the shape)."""
    return Category.objects.order_by("path", "sort_order", "pk")


@router.post("/catalog/categories", response={201: CategoryOut, **ERROR_RESPONSES})
@requires("catalog.add_category")
def create_category(request: HttpRequest, payload: CategoryIn) -> Status[Category]:
    """Create a category under `parent_id` (or at the top)."""
    return Status(201, services.create_category(actor=acting_user(request), **payload.dict()))


@router.patch("/catalog/categories/{category_id}", response={200: CategoryOut, **ERROR_RESPONSES})
@requires("catalog.change_category")
def update_category(request: HttpRequest, category_id: ObjectId, payload: CategoryUpdateIn) -> Category:
    """Rename, recode or move a category."""
    changes = {key: value for key, value in payload.dict(exclude_unset=True).items() if value is not None}
    return services.update_category(category_id=category_id, actor=acting_user(request), **changes)


class BrandOut(Schema):
    id: int
    name: str
    code: str
    is_active: bool


class BrandIn(Schema):
    name: PlainText = Field(..., min_length=1, max_length=60)
    code: PlainText = Field(..., min_length=1, max_length=20)


class BrandFilters(Schema):
    search: PlainText | None = Field(None, max_length=60, description="Part of the name or the code")
    is_active: bool | None = None


@router.get("/catalog/brands", response={200: list[BrandOut], **ERROR_RESPONSES})
@paginate(Pagination)
@requires("catalog.view_brand")
def list_brands(request: HttpRequest, filters: Query[BrandFilters]) -> QuerySet[Brand]:
    """Brands by name."""
    brands = Brand.objects.order_by("name", "pk")
    if filters.search:
        brands = brands.filter(Q(name__icontains=filters.search) | Q(code__icontains=filters.search))
    if filters.is_active is not None:
        brands = brands.filter(is_active=filters.is_active)
    return brands


@router.post("/catalog/brands", response={201: BrandOut, **ERROR_RESPONSES})
@requires("catalog.add_brand")
def create_brand(request: HttpRequest, payload: BrandIn) -> Status[Brand]:
    """Create a brand."""
    return Status(
        201, services.create_brand(actor=acting_user(request), name=payload.name, code=payload.code)
    )
