"""Catalog API: products (SPU) and their SKUs."""

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.http import HttpRequest
from ninja import Field, Query, Schema, Status
from ninja.pagination import paginate

from shopops.catalog import queries as catalog_queries
from shopops.catalog import services
from shopops.catalog.api.common import (
    ListingOut,
    SkuOut,
    check_cost_criteria,
    descendant_ids,
    filter_skus,
    find_sku,
    not_found,
    router,
)
from shopops.catalog.models import ChannelListing, ListingStatus, Product, ProductStatus, Sku
from shopops.core.api import (
    ERROR_RESPONSES,
    DateTimeOut,
    MoneyIn,
    ObjectId,
    Pagination,
    PlainText,
    acting_user,
    apply_ordering,
    ordering_description,
    requires,
)
from shopops.core.permissions import check_permission

PRICE_FIELDS = {"sale_price", "cost_price", "list_price", "min_price"}


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
    return Sku.objects.filter(catalog_queries.below_cost_q(), is_active=True)


def _filter_products(
    request: HttpRequest, products: QuerySet[Product], filters: ProductFilters
) -> QuerySet[Product]:
    if filters.search:
        products = products.filter(
            Q(name__icontains=filters.search) | Q(merchant_code__icontains=filters.search)
        )
    if filters.category:
        products = products.filter(category_id__in=descendant_ids(filters.category))
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
    """Products (SPU) with their category, brand and SKU count (`below_cost` needs catalog.view_cost)."""
    check_cost_criteria(request, below_cost=filters.below_cost, ordering=None)
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
        raise not_found("商品")
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


@router.get("/catalog/skus", response={200: list[SkuOut], **ERROR_RESPONSES})
@paginate(Pagination)
@requires("catalog.view_sku")
def list_skus(request: HttpRequest, filters: Query[SkuFilters]) -> QuerySet[Sku]:
    """SKUs with their prices (`cost_price` null, and cost filters/ordering refused, without catalog.view_cost)."""
    check_cost_criteria(request, below_cost=filters.below_cost, ordering=filters.ordering)
    skus = filter_skus(Sku.objects.all(), filters)
    return apply_ordering(skus, filters.ordering, SKU_ORDERING, SKU_DEFAULT_ORDERING)


@router.get("/catalog/skus/{sku_id}", response={200: SkuOut, **ERROR_RESPONSES})
@requires("catalog.view_sku")
def get_sku(request: HttpRequest, sku_id: ObjectId) -> Sku:
    """One SKU."""
    return find_sku(sku_id)


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
