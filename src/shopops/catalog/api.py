"""Catalog and pricing API: categories, brands, products, SKUs, prices, promotions, listings."""

import tempfile
from decimal import Decimal
from typing import Annotated, Any, Literal

from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Field, File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile
from ninja.pagination import paginate
from pydantic import WithJsonSchema

from shopops.catalog import imports, services
from shopops.catalog.models import (
    Brand,
    Category,
    ChannelListing,
    ListingStatus,
    PriceField,
    PriceHistory,
    Product,
    ProductStatus,
    PromoPrice,
    ScheduledPriceChange,
    ScheduledPriceStatus,
    Sku,
)
from shopops.channels.models import Shop
from shopops.core.api import (
    ERROR_RESPONSES,
    DateTimeIn,
    DateTimeOut,
    MoneyIn,
    MoneyOut,
    ObjectId,
    Pagination,
    PlainText,
    acting_user,
    apply_ordering,
    ordering_description,
    requires,
)
from shopops.core.errors import InvalidInput, NotFound
from shopops.core.permissions import check_permission

router = Router(tags=["catalog"])

PRICE_FIELDS = {"sale_price", "cost_price", "list_price", "min_price"}
# Every SKU a bulk adjustment may touch at once; larger runs go through the import.
BULK_PRICE_MAX_SKUS = 5000


def _not_found(what: str) -> NotFound:
    return NotFound(f"{what}不存在或不在您的权限范围内")


def _shop_in_scope(request: HttpRequest, shop_id: int) -> Shop:
    shop = Shop.objects.for_user(acting_user(request)).filter(pk=shop_id).first()
    if shop is None:
        raise _not_found("店铺")
    return shop


def _descendant_ids(category_id: int) -> set[int]:
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


# categories


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


# brands


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


# products and SKUs


class SkuOut(Schema):
    id: int
    product_id: int
    merchant_code: str
    barcode: str | None
    attributes: dict[str, Any]
    spec: str
    weight_grams: int | None
    cost_price: MoneyOut
    sale_price: MoneyOut
    list_price: MoneyOut | None
    min_price: MoneyOut | None
    is_active: bool
    created_at: DateTimeOut
    updated_at: DateTimeOut


class ListingOut(Schema):
    id: int
    product_id: int
    shop_id: int
    status: ListingStatus
    external_id: str = Field(description="The platform's product id, always a string")
    changed_at: DateTimeOut | None
    changed_by_id: int | None
    reason: str


class ProductOut(Schema):
    id: int
    name: str
    merchant_code: str
    category_id: int
    category_path: str
    brand_id: int | None
    brand_name: str | None
    status: ProductStatus
    sku_count: int
    created_at: DateTimeOut
    updated_at: DateTimeOut

    @staticmethod
    def resolve_category_path(obj: Product) -> str:
        return str(obj.category)

    @staticmethod
    def resolve_brand_name(obj: Product) -> str | None:
        return obj.brand.name if obj.brand is not None else None


class ProductDetailOut(ProductOut):
    description: str
    skus: list[SkuOut]
    listings: list[ListingOut] = Field(description="Listings on the shops in the user's scope")

    @staticmethod
    def resolve_skus(obj: Product) -> list[Sku]:
        return list(obj.skus.all())

    @staticmethod
    def resolve_listings(obj: Product) -> list[ChannelListing]:
        return list(obj.listings.all())


class ProductIn(Schema):
    name: PlainText = Field(..., min_length=1, max_length=200)
    category_id: ObjectId
    brand_id: ObjectId | None = None
    merchant_code: PlainText | None = Field(
        None, min_length=1, max_length=64, description="Generated when omitted"
    )
    description: PlainText = Field("", max_length=20000)
    status: ProductStatus = ProductStatus.ACTIVE


class ProductUpdateIn(Schema):
    name: PlainText | None = Field(None, min_length=1, max_length=200)
    category_id: ObjectId | None = None
    brand_id: ObjectId | None = None
    merchant_code: PlainText | None = Field(None, min_length=1, max_length=64)
    description: PlainText | None = Field(None, max_length=20000)
    status: ProductStatus | None = None


PRODUCT_ORDERING = {"name", "merchant_code", "created_at", "updated_at", "id"}
PRODUCT_DEFAULT_ORDERING = "-created_at,-id"


class ProductFilters(Schema):
    search: PlainText | None = Field(
        None, max_length=100, description="Part of the name or the merchant code"
    )
    category: ObjectId | None = Field(
        None, description="Category id; products of its sub-categories included"
    )
    brand: ObjectId | None = None
    status: ProductStatus | None = None
    listed_on_shop: ObjectId | None = Field(None, description="Shop id the product is listed (上架) on")
    below_cost: bool | None = Field(None, description="true: some active SKU sells below its cost price")
    ordering: PlainText | None = Field(
        None, max_length=200, description=ordering_description(PRODUCT_ORDERING, PRODUCT_DEFAULT_ORDERING)
    )


def _below_cost_skus() -> QuerySet[Sku]:
    return Sku.objects.filter(is_active=True, sale_price__lt=F("cost_price"))


def _filter_products(
    request: HttpRequest, products: QuerySet[Product], filters: ProductFilters
) -> QuerySet[Product]:
    if filters.search:
        products = products.filter(
            Q(name__icontains=filters.search) | Q(merchant_code__icontains=filters.search)
        )
    if filters.category:
        products = products.filter(category_id__in=_descendant_ids(filters.category))
    if filters.brand:
        products = products.filter(brand_id=filters.brand)
    if filters.status:
        products = products.filter(status=filters.status)
    if filters.listed_on_shop:
        listed = ChannelListing.objects.for_user(acting_user(request)).filter(
            product=OuterRef("pk"), shop_id=filters.listed_on_shop, status=ListingStatus.LISTED
        )
        products = products.filter(Exists(listed))
    if filters.below_cost is not None:
        below = Exists(_below_cost_skus().filter(product=OuterRef("pk")))
        products = products.filter(below if filters.below_cost else ~below)
    return products


@router.get("/catalog/products", response={200: list[ProductOut], **ERROR_RESPONSES})
@paginate(Pagination)
@requires("catalog.view_product")
def list_products(request: HttpRequest, filters: Query[ProductFilters]) -> QuerySet[Product]:
    """Products (SPU) with their category, brand and SKU count."""
    products: QuerySet[Product] = Product.objects.select_related("category", "brand").annotate(
        sku_count=Count("skus")
    )
    products = _filter_products(request, products, filters)
    return apply_ordering(products, filters.ordering, PRODUCT_ORDERING, PRODUCT_DEFAULT_ORDERING)


def _product_detail(request: HttpRequest, product_id: int) -> Product:
    listings = ChannelListing.objects.for_user(acting_user(request)).order_by("shop_id")
    product = (
        Product.objects.select_related("category", "brand")
        .annotate(sku_count=Count("skus"))
        .prefetch_related(
            Prefetch("skus", queryset=Sku.objects.order_by("merchant_code", "pk")),
            Prefetch("listings", queryset=listings),
        )
        .filter(pk=product_id)
        .first()
    )
    if product is None:
        raise _not_found("商品")
    return product


@router.get("/catalog/products/{product_id}", response={200: ProductDetailOut, **ERROR_RESPONSES})
@requires("catalog.view_product")
def get_product(request: HttpRequest, product_id: ObjectId) -> Product:
    """One product with its SKUs and its listings on the user's shops."""
    return _product_detail(request, product_id)


@router.post("/catalog/products", response={201: ProductDetailOut, **ERROR_RESPONSES})
@requires("catalog.add_product")
def create_product(request: HttpRequest, payload: ProductIn) -> Status[Product]:
    """Create a product; without `merchant_code` one is generated by the active coding rule."""
    product = services.create_product(actor=acting_user(request), **payload.dict())
    return Status(201, _product_detail(request, product.pk))


@router.patch("/catalog/products/{product_id}", response={200: ProductDetailOut, **ERROR_RESPONSES})
@requires("catalog.change_product")
def update_product(request: HttpRequest, product_id: ObjectId, payload: ProductUpdateIn) -> Product:
    """Change the given fields of a product (`brand_id: null` removes the brand)."""
    changes = payload.dict(exclude_unset=True)
    changes = {key: value for key, value in changes.items() if value is not None or key == "brand_id"}
    services.update_product(product_id=product_id, actor=acting_user(request), **changes)
    return _product_detail(request, product_id)


SKU_ORDERING = {"merchant_code", "sale_price", "cost_price", "created_at", "updated_at", "id"}
SKU_DEFAULT_ORDERING = "merchant_code"


class SkuFilters(Schema):
    search: PlainText | None = Field(
        None, max_length=100, description="Part of the merchant code, barcode or spec"
    )
    product: ObjectId | None = None
    category: ObjectId | None = Field(None, description="Category id; sub-categories included")
    brand: ObjectId | None = None
    is_active: bool | None = None
    below_cost: bool | None = Field(None, description="true: sale price below cost price")
    ordering: PlainText | None = Field(
        None, max_length=200, description=ordering_description(SKU_ORDERING, SKU_DEFAULT_ORDERING)
    )


def _filter_skus(skus: QuerySet[Sku], filters: Any) -> QuerySet[Sku]:
    if filters.search:
        term = filters.search
        skus = skus.filter(
            Q(merchant_code__icontains=term) | Q(barcode__icontains=term) | Q(spec__icontains=term)
        )
    if filters.product:
        skus = skus.filter(product_id=filters.product)
    if filters.category:
        skus = skus.filter(product__category_id__in=_descendant_ids(filters.category))
    if filters.brand:
        skus = skus.filter(product__brand_id=filters.brand)
    if filters.is_active is not None:
        skus = skus.filter(is_active=filters.is_active)
    if filters.below_cost is not None:
        below = Q(sale_price__lt=F("cost_price"))
        skus = skus.filter(below if filters.below_cost else ~below)
    return skus


@router.get("/catalog/skus", response={200: list[SkuOut], **ERROR_RESPONSES})
@paginate(Pagination)
@requires("catalog.view_sku")
def list_skus(request: HttpRequest, filters: Query[SkuFilters]) -> QuerySet[Sku]:
    """SKUs with their prices."""
    skus = _filter_skus(Sku.objects.all(), filters)
    return apply_ordering(skus, filters.ordering, SKU_ORDERING, SKU_DEFAULT_ORDERING)


def _sku(sku_id: int) -> Sku:
    sku = Sku.objects.filter(pk=sku_id).first()
    if sku is None:
        raise _not_found("SKU")
    return sku


@router.get("/catalog/skus/{sku_id}", response={200: SkuOut, **ERROR_RESPONSES})
@requires("catalog.view_sku")
def get_sku(request: HttpRequest, sku_id: ObjectId) -> Sku:
    """One SKU."""
    return _sku(sku_id)


Attributes = dict[PlainText, PlainText]


class SkuIn(Schema):
    product_id: ObjectId
    sale_price: MoneyIn
    cost_price: MoneyIn
    merchant_code: PlainText | None = Field(
        None, min_length=1, max_length=64, description="Generated when omitted"
    )
    barcode: PlainText | None = Field(None, min_length=1, max_length=64)
    attributes: Attributes = Field(default_factory=dict, description='e.g. {"颜色": "黑色", "尺码": "M"}')
    spec: PlainText | None = Field(None, max_length=200, description="Derived from attributes when omitted")
    weight_grams: int | None = Field(None, ge=0, le=2**31 - 1)
    list_price: MoneyIn | None = None
    min_price: MoneyIn | None = None
    acknowledge_warnings: bool = Field(
        False, description="Accept price-guard warnings (else 409 price_guard_warning)"
    )
    reason: PlainText = Field("", max_length=300)


class SkuUpdateIn(Schema):
    merchant_code: PlainText | None = Field(None, min_length=1, max_length=64)
    barcode: PlainText | None = Field(None, max_length=64, description="Empty string removes the barcode")
    attributes: Attributes | None = None
    spec: PlainText | None = Field(None, max_length=200)
    weight_grams: int | None = Field(None, ge=0, le=2**31 - 1)
    is_active: bool | None = None
    sale_price: MoneyIn | None = Field(None, description="Needs catalog.change_price")
    cost_price: MoneyIn | None = Field(None, description="Needs catalog.change_price")
    list_price: MoneyIn | None = Field(None, description="Needs catalog.change_price")
    min_price: MoneyIn | None = Field(None, description="Needs catalog.change_price")
    acknowledge_warnings: bool = False
    reason: PlainText = Field("", max_length=300)


@router.post("/catalog/skus", response={201: SkuOut, **ERROR_RESPONSES})
@requires("catalog.add_sku")
def create_sku(request: HttpRequest, payload: SkuIn) -> Status[Sku]:
    """Create a SKU of a product; the price guard applies to its sale price."""
    return Status(201, services.create_sku(actor=acting_user(request), **payload.dict()))


@router.patch("/catalog/skus/{sku_id}", response={200: SkuOut, **ERROR_RESPONSES})
@requires("catalog.change_sku")
def update_sku(request: HttpRequest, sku_id: ObjectId, payload: SkuUpdateIn) -> Sku:
    """Change the given fields of a SKU; changing a price also needs catalog.change_price."""
    changes = payload.dict(exclude_unset=True, exclude={"acknowledge_warnings", "reason"})
    changes = {
        key: value
        for key, value in changes.items()
        if value is not None or key in {"list_price", "min_price"}
    }
    if PRICE_FIELDS & set(changes):
        check_permission(acting_user(request), "catalog.change_price")
    if changes.get("barcode") == "":
        changes["barcode"] = None
    return services.update_sku(
        sku_id=sku_id,
        actor=acting_user(request),
        reason=payload.reason,
        acknowledge_warnings=payload.acknowledge_warnings,
        **changes,
    )


# prices


class GuardIssueOut(Schema):
    code: str
    message: str
    blocking: bool


class PriceChangeIn(Schema):
    field: PriceField = PriceField.SALE
    new_value: MoneyIn | None = Field(..., description="null clears list_price")
    reason: PlainText = Field("", max_length=300)
    acknowledge_warnings: bool = Field(
        False, description="Accept price-guard warnings (else 409 price_guard_warning)"
    )


class PriceChangeOut(Schema):
    sku_id: int
    field: str
    old_value: MoneyOut | None
    new_value: MoneyOut | None
    warnings: list[GuardIssueOut]


@router.post("/catalog/skus/{sku_id}/price", response={200: PriceChangeOut, **ERROR_RESPONSES})
@requires("catalog.change_price")
def change_price(request: HttpRequest, sku_id: ObjectId, payload: PriceChangeIn) -> dict[str, Any]:
    """Change one price of a SKU now; recorded in its price history.

    Below cost or below the minimum margin the price guard blocks (422 price_guard_blocked) or warns
    (409 price_guard_warning, repeat with acknowledge_warnings=true).
    """
    change = services.change_price(
        sku_id=sku_id,
        actor=acting_user(request),
        new_value=payload.new_value,
        field=payload.field,
        reason=payload.reason,
        acknowledge_warnings=payload.acknowledge_warnings,
    )
    return {
        "sku_id": change.sku.pk,
        "field": change.field,
        "old_value": change.old_value,
        "new_value": change.new_value,
        "warnings": list(change.warnings),
    }


class PriceHistoryOut(Schema):
    id: int
    sku_id: int
    field: PriceField
    old_value: MoneyOut | None
    new_value: MoneyOut | None
    reason: str
    source: str
    actor_id: int | None
    created_at: DateTimeOut


@router.get("/catalog/skus/{sku_id}/price-history", response={200: list[PriceHistoryOut], **ERROR_RESPONSES})
@paginate(Pagination)
@requires("catalog.view_pricehistory")
def list_price_history(request: HttpRequest, sku_id: ObjectId) -> QuerySet[PriceHistory]:
    """Every price change of one SKU, newest first."""
    _sku(sku_id)
    return PriceHistory.objects.filter(sku_id=sku_id).order_by("-created_at", "-pk")


class ScheduledPriceOut(Schema):
    id: int
    sku_id: int
    new_price: MoneyOut
    starts_at: DateTimeOut
    ends_at: DateTimeOut | None
    previous_price: MoneyOut | None
    status: ScheduledPriceStatus
    reason: str
    created_by_id: int | None
    created_at: DateTimeOut


class ScheduledPriceIn(Schema):
    sku_id: ObjectId
    new_price: MoneyIn
    starts_at: DateTimeIn
    ends_at: DateTimeIn | None = Field(None, description="The price reverts then; null keeps it")
    reason: PlainText = Field("", max_length=300)
    acknowledge_warnings: bool = False


class ScheduledPriceFilters(Schema):
    sku: ObjectId | None = None
    status: ScheduledPriceStatus | None = None


@router.get("/catalog/scheduled-prices", response={200: list[ScheduledPriceOut], **ERROR_RESPONSES})
@paginate(Pagination)
@requires("catalog.view_scheduledpricechange")
def list_scheduled_prices(
    request: HttpRequest, filters: Query[ScheduledPriceFilters]
) -> QuerySet[ScheduledPriceChange]:
    """Scheduled sale-price changes by start time."""
    schedules = ScheduledPriceChange.objects.order_by("starts_at", "pk")
    if filters.sku:
        schedules = schedules.filter(sku_id=filters.sku)
    if filters.status:
        schedules = schedules.filter(status=filters.status)
    return schedules


@router.post("/catalog/scheduled-prices", response={201: ScheduledPriceOut, **ERROR_RESPONSES})
@requires("catalog.add_scheduledpricechange")
def create_scheduled_price(request: HttpRequest, payload: ScheduledPriceIn) -> Status[ScheduledPriceChange]:
    """Schedule a sale price from `starts_at` (until `ends_at`); a job applies it."""
    return Status(201, services.schedule_price_change(actor=acting_user(request), **payload.dict()))


@router.post(
    "/catalog/scheduled-prices/{schedule_id}/cancel", response={200: ScheduledPriceOut, **ERROR_RESPONSES}
)
@requires("catalog.change_scheduledpricechange")
def cancel_scheduled_price(request: HttpRequest, schedule_id: ObjectId) -> ScheduledPriceChange:
    """Cancel a scheduled price change (an active one reverts to the previous price)."""
    return services.cancel_scheduled_price_change(schedule_id=schedule_id, actor=acting_user(request))


class PromoPriceOut(Schema):
    id: int
    sku_id: int
    shop_id: int
    name: str
    price: MoneyOut
    starts_at: DateTimeOut
    ends_at: DateTimeOut
    is_active: bool
    created_by_id: int | None
    created_at: DateTimeOut


class PromoPriceIn(Schema):
    sku_id: ObjectId
    shop_id: ObjectId
    name: PlainText = Field(..., min_length=1, max_length=100)
    price: MoneyIn
    starts_at: DateTimeIn
    ends_at: DateTimeIn


class PromoPriceFilters(Schema):
    sku: ObjectId | None = None
    shop: ObjectId | None = None
    is_active: bool | None = None


@router.get("/catalog/promo-prices", response={200: list[PromoPriceOut], **ERROR_RESPONSES})
@paginate(Pagination)
@requires("catalog.view_promoprice")
def list_promo_prices(request: HttpRequest, filters: Query[PromoPriceFilters]) -> QuerySet[PromoPrice]:
    """Promotional prices on the shops in the user's scope."""
    promos = PromoPrice.objects.for_user(acting_user(request)).order_by("-starts_at", "pk")
    if filters.sku:
        promos = promos.filter(sku_id=filters.sku)
    if filters.shop:
        promos = promos.filter(shop_id=filters.shop)
    if filters.is_active is not None:
        promos = promos.filter(is_active=filters.is_active)
    return promos


@router.post("/catalog/promo-prices", response={201: PromoPriceOut, **ERROR_RESPONSES})
@requires("catalog.add_promoprice")
def create_promo_price(request: HttpRequest, payload: PromoPriceIn) -> Status[PromoPrice]:
    """A promotional price of a SKU on one shop (in the user's scope) for a time window."""
    _shop_in_scope(request, payload.shop_id)
    return Status(201, services.create_promo_price(actor=acting_user(request), **payload.dict()))


@router.post("/catalog/promo-prices/{promo_id}/deactivate", response={200: PromoPriceOut, **ERROR_RESPONSES})
@requires("catalog.change_promoprice")
def deactivate_promo_price(request: HttpRequest, promo_id: ObjectId) -> PromoPrice:
    """Stop a promotional price early."""
    if not PromoPrice.objects.for_user(acting_user(request)).filter(pk=promo_id).exists():
        raise _not_found("活动价")
    return services.deactivate_promo_price(promo_id=promo_id, actor=acting_user(request))


# bulk price adjustment


class BulkSkuFilter(Schema):
    search: PlainText | None = Field(None, max_length=100)
    product: ObjectId | None = None
    category: ObjectId | None = None
    brand: ObjectId | None = None
    is_active: bool | None = None
    below_cost: bool | None = None


BulkMode = Literal["percent", "amount", "set"]
# A signed adjustment: "-10" (percent or yuan) or an exact price for mode=set.
AdjustmentValue = Annotated[
    Decimal,
    Field(max_digits=14, decimal_places=2),
    WithJsonSchema(
        {"type": "string", "format": "decimal", "pattern": r"^-?\d{1,12}(\.\d{1,2})?$", "example": "-10"}
    ),
]


class BulkPriceIn(Schema):
    sku_ids: list[ObjectId] | None = Field(
        None, max_length=BULK_PRICE_MAX_SKUS, description="Either sku_ids or filter"
    )
    filter: BulkSkuFilter | None = None
    mode: BulkMode = Field(..., description="percent: ±value %; amount: ±value yuan; set: exactly value")
    value: AdjustmentValue
    field: PriceField = PriceField.SALE
    rounding: Literal["cent", "yuan", "x9"] = Field("cent", description="x9: nearest price ending in .90")


class BulkPriceApplyIn(BulkPriceIn):
    reason: PlainText = Field(..., min_length=1, max_length=300)
    acknowledge_warnings: bool = False


class BulkPriceRowOut(Schema):
    sku_id: int
    merchant_code: str
    name: str
    old_value: MoneyOut | None
    new_value: MoneyOut
    issues: list[GuardIssueOut]


class BulkPricePreviewOut(Schema):
    count: int
    rows: list[BulkPriceRowOut]


class BulkPriceApplyOut(Schema):
    count: int
    changed: int
    rows: list[BulkPriceRowOut]


def _bulk_sku_ids(payload: BulkPriceIn) -> list[int]:
    if payload.sku_ids is not None:
        skus = Sku.objects.filter(pk__in=payload.sku_ids)
    elif payload.filter is not None:
        skus = _filter_skus(Sku.objects.all(), payload.filter)
    else:
        raise InvalidInput("请给出 sku_ids 或 filter", fields={"sku_ids": "sku_ids 与 filter 至少一个"})
    ids = list(skus.order_by("pk").values_list("pk", flat=True)[: BULK_PRICE_MAX_SKUS + 1])
    if len(ids) > BULK_PRICE_MAX_SKUS:
        raise InvalidInput(
            f"一次最多调整 {BULK_PRICE_MAX_SKUS} 个 SKU，请缩小筛选范围", fields={"filter": "范围过大"}
        )
    return ids


@router.post("/catalog/bulk-price/preview", response={200: BulkPricePreviewOut, **ERROR_RESPONSES})
@requires("catalog.change_price")
def preview_bulk_price(request: HttpRequest, payload: BulkPriceIn) -> dict[str, Any]:
    """What a bulk price adjustment would do, SKU by SKU, with price-guard issues; nothing is saved."""
    rows = services.preview_bulk_price_adjustment(
        sku_ids=_bulk_sku_ids(payload),
        mode=payload.mode,
        value=payload.value,
        field=payload.field,
        rounding=payload.rounding,
    )
    return {"count": len(rows), "rows": [_bulk_row(row) for row in rows]}


@router.post("/catalog/bulk-price/apply", response={200: BulkPriceApplyOut, **ERROR_RESPONSES})
@requires("catalog.change_price")
def apply_bulk_price(request: HttpRequest, payload: BulkPriceApplyIn) -> dict[str, Any]:
    """Apply a bulk price adjustment in one transaction (recorded in each SKU's price history)."""
    result = services.apply_bulk_price_adjustment(
        sku_ids=_bulk_sku_ids(payload),
        mode=payload.mode,
        value=payload.value,
        actor=acting_user(request),
        reason=payload.reason,
        field=payload.field,
        rounding=payload.rounding,
        acknowledge_warnings=payload.acknowledge_warnings,
    )
    return {
        "count": len(result.rows),
        "changed": len(result.changes),
        "rows": [_bulk_row(row) for row in result.rows],
    }


def _bulk_row(row: services.BulkPriceRow) -> dict[str, Any]:
    return {
        "sku_id": row.sku_id,
        "merchant_code": row.merchant_code,
        "name": row.name,
        "old_value": row.old_value,
        "new_value": row.new_value,
        "issues": list(row.issues),
    }


# channel listings


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
    _shop_in_scope(request, shop_id)
    return services.set_listing_status(
        product_id=product_id,
        shop_id=shop_id,
        status=payload.status,
        actor=acting_user(request),
        reason=payload.reason,
    )


# import and export


MAX_IMPORT_BYTES = 100 * 1024 * 1024
EXPORT_CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class RowErrorOut(Schema):
    row: int = Field(description="Row number as the user sees it (the header is row 1)")
    column: str
    message: str


class RowPreviewOut(Schema):
    row: int
    key: str
    action: str
    changes: dict[str, Any]


class ImportCountsOut(Schema):
    total: int
    created: int
    updated: int
    unchanged: int
    skipped: int


class ImportResultOut(Schema):
    filename: str
    sha256: str
    file_format: str
    encoding: str | None
    mode: str
    dry_run: bool
    committed: bool = Field(
        description="false: nothing was written (dry run, or refused because of bad rows)"
    )
    counts: ImportCountsOut
    errors: list[RowErrorOut]
    warnings: list[RowErrorOut]
    columns: list[str]
    unknown_columns: list[str]
    preview: list[RowPreviewOut]
    duration_seconds: float


@router.post("/catalog/imports", response={200: ImportResultOut, **ERROR_RESPONSES})
@requires("catalog.change_sku")
def import_products(
    request: HttpRequest,
    file: File[UploadedFile],
    mode: Form[Literal["all_or_nothing", "skip_bad_rows"]] = "all_or_nothing",
    dry_run: Form[bool] = False,
) -> dict[str, Any]:
    """Import products and SKUs from a CSV or XLSX file (the export's columns; aliases accepted).

    all_or_nothing: one bad row and nothing is written; skip_bad_rows: good rows are written.
    dry_run: check and preview only. Row problems come back in `errors`; check `committed`.
    Also needs catalog.add_sku and catalog.change_price.
    """
    if file.size is not None and file.size > MAX_IMPORT_BYTES:
        raise InvalidInput("文件过大（上限 100 MB），请拆分后导入", fields={"file": "文件过大"})
    result = imports.import_products(
        source=file, filename=file.name or "upload", actor=acting_user(request), mode=mode, dry_run=dry_run
    )
    return {
        "filename": result.filename,
        "sha256": result.sha256,
        "file_format": result.file_format,
        "encoding": result.encoding,
        "mode": str(result.mode),
        "dry_run": result.dry_run,
        "committed": result.committed,
        "counts": result.counts(),
        "errors": result.errors,
        "warnings": result.warnings,
        "columns": result.columns,
        "unknown_columns": result.unknown_columns,
        "preview": result.preview,
        "duration_seconds": result.duration_seconds,
    }


class ExportFilters(Schema):
    format: Literal["csv", "xlsx"] = "csv"
    search: PlainText | None = Field(
        None, max_length=100, description="Part of the merchant code, barcode or spec"
    )
    product: ObjectId | None = None
    category: ObjectId | None = Field(None, description="Category id; sub-categories included")
    brand: ObjectId | None = None
    is_active: bool | None = None
    below_cost: bool | None = None


@router.get(
    "/catalog/export",
    response={200: None, **ERROR_RESPONSES},
    openapi_extra={
        "responses": {
            200: {
                "description": "The file, one row per SKU, with the import's headers",
                "content": {
                    content_type.split(";")[0]: {"schema": {"type": "string", "format": "binary"}}
                    for content_type in EXPORT_CONTENT_TYPES.values()
                },
            }
        }
    },
)
@requires("catalog.view_sku")
def export_products(request: HttpRequest, filters: Query[ExportFilters]) -> HttpResponse:
    """Download SKUs (filtered like the SKU list) as CSV or XLSX; the file re-imports unchanged."""
    skus = _filter_skus(Sku.objects.all(), filters)
    # spooled: small exports stay in memory, large ones go to a temporary file
    with tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024) as buffer:
        imports.export_products(
            user=acting_user(request), destination=buffer, file_format=filters.format, queryset=skus
        )
        buffer.seek(0)
        content = buffer.read()
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response = HttpResponse(content, content_type=EXPORT_CONTENT_TYPES[filters.format])
    response["Content-Disposition"] = f'attachment; filename="products-{stamp}.{filters.format}"'
    return response
