"""Catalog API: price changes and history, scheduled prices, promotional prices, bulk adjustments."""

from decimal import Decimal
from typing import Annotated, Any, Literal

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Field, Query, Schema, Status
from ninja.pagination import paginate
from pydantic import WithJsonSchema

from shopops.catalog import services
from shopops.catalog.api.common import filter_skus, find_sku, router, shop_in_scope
from shopops.catalog.models import (
    PriceField,
    PriceHistory,
    PromoPrice,
    ScheduledPriceChange,
    ScheduledPriceStatus,
    Sku,
)
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
    requires,
)
from shopops.core.errors import InvalidInput
from shopops.core.scope import require_in_scope

# Every SKU a bulk adjustment may touch at once; larger runs go through the import.
BULK_PRICE_MAX_SKUS = 5000


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
    find_sku(sku_id)
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
    shop_in_scope(request, payload.shop_id)
    return Status(201, services.create_promo_price(actor=acting_user(request), **payload.dict()))


@router.post("/catalog/promo-prices/{promo_id}/deactivate", response={200: PromoPriceOut, **ERROR_RESPONSES})
@requires("catalog.change_promoprice")
def deactivate_promo_price(request: HttpRequest, promo_id: ObjectId) -> PromoPrice:
    """Stop a promotional price early."""
    require_in_scope(PromoPrice, acting_user(request), what="活动价", pk=promo_id)
    return services.deactivate_promo_price(promo_id=promo_id, actor=acting_user(request))


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
        skus = filter_skus(Sku.objects.all(), payload.filter)
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
