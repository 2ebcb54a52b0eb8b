"""Inventory API (stock): warehouses, stock levels, the ledger, reservations, adjustments and reports."""

import tempfile
from dataclasses import asdict
from decimal import Decimal
from typing import Annotated, Any, Literal

from django.conf import settings
from django.db.models import F, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Field, Header, Query, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import PlainSerializer, WithJsonSchema

from shopops.catalog import queries as catalog_queries
from shopops.catalog.models import Sku
from shopops.core.api import (
    ERROR_RESPONSES,
    DateTimeIn,
    DateTimeOut,
    MoneyOut,
    ObjectId,
    Pagination,
    PlainText,
    acting_user,
    apply_ordering,
    idempotency_key,
    ordering_description,
    requires,
    run_idempotent,
)
from shopops.core.errors import InvalidInput, NotFound
from shopops.core.scope import out_of_scope
from shopops.inventory import queries as inventory_queries
from shopops.inventory import reports
from shopops.inventory import services as inventory_services
from shopops.inventory.models import (
    BundleComponent,
    MovementType,
    Reservation,
    ReservationStatus,
    StockLevel,
    StockMovement,
    Warehouse,
    WarehouseKind,
    warehouse_ids_for,
)

router = Router(tags=["inventory"])

XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_QUANTITY = 1_000_000
STOCK_ORDERING = {"sku_id", "warehouse_id", "on_hand", "reserved", "available_quantity", "updated_at"}
STOCK_DEFAULT_ORDERING = "sku_id,warehouse_id"
MOVEMENT_ORDERING = {"id", "created_at"}
MOVEMENT_DEFAULT_ORDERING = "-id"
ADJUSTMENT_TYPES = Literal["adjust", "count_gain", "count_loss", "damage"]

# Ratios (turnover, days) leave as decimal strings like money: no float rounding on the way.
DecimalOut = Annotated[
    Decimal,
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "format": "decimal", "example": "4.25"}),
]


def _not_found(what: str) -> NotFound:
    return out_of_scope(what)


def _warehouse_in_scope(request: HttpRequest, warehouse_id: int, *, field: str = "warehouse_id") -> Warehouse:
    return inventory_queries.warehouse_in_scope(acting_user(request), warehouse_id, field=field)


# warehouses


class WarehouseOut(Schema):
    id: int
    code: str
    name: str
    kind: WarehouseKind
    is_active: bool
    address: str
    created_at: DateTimeOut


class WarehouseIn(Schema):
    code: PlainText = Field(..., min_length=1, max_length=20)
    name: PlainText = Field(..., min_length=1, max_length=60)
    kind: WarehouseKind = WarehouseKind.OWN
    address: PlainText = Field("", max_length=300)


class WarehouseUpdateIn(Schema):
    name: PlainText | None = Field(None, min_length=1, max_length=60)
    kind: WarehouseKind | None = None
    is_active: bool | None = None
    address: PlainText | None = Field(None, max_length=300)


class WarehouseFilters(Schema):
    search: PlainText | None = Field(None, max_length=60, description="Part of the code or name")
    kind: WarehouseKind | None = None
    is_active: bool | None = None


@router.get("/inventory/warehouses", response={200: list[WarehouseOut], **ERROR_RESPONSES})
@paginate(Pagination)
@requires("inventory.view_warehouse")
def list_warehouses(request: HttpRequest, filters: Query[WarehouseFilters]) -> QuerySet[Warehouse]:
    """Warehouses in the user's warehouse scope, by code."""
    warehouses = Warehouse.objects.for_user(acting_user(request)).order_by("code", "pk")
    if filters.search:
        warehouses = warehouses.filter(Q(code__icontains=filters.search) | Q(name__icontains=filters.search))
    if filters.kind:
        warehouses = warehouses.filter(kind=filters.kind)
    if filters.is_active is not None:
        warehouses = warehouses.filter(is_active=filters.is_active)
    return warehouses


@router.get("/inventory/warehouses/{warehouse_id}", response={200: WarehouseOut, **ERROR_RESPONSES})
@requires("inventory.view_warehouse")
def get_warehouse(request: HttpRequest, warehouse_id: ObjectId) -> Warehouse:
    """One warehouse; outside the user's scope it answers 404."""
    return _warehouse_in_scope(request, warehouse_id)


@router.post("/inventory/warehouses", response={201: WarehouseOut, **ERROR_RESPONSES})
@requires("inventory.add_warehouse")
def create_warehouse(request: HttpRequest, payload: WarehouseIn) -> Status[Warehouse]:
    """Create a warehouse (audited as warehouse.created)."""
    return Status(201, inventory_services.create_warehouse(actor=acting_user(request), **payload.dict()))


@router.patch("/inventory/warehouses/{warehouse_id}", response={200: WarehouseOut, **ERROR_RESPONSES})
@requires("inventory.change_warehouse")
def update_warehouse(request: HttpRequest, warehouse_id: ObjectId, payload: WarehouseUpdateIn) -> Warehouse:
    """Change the given fields of a warehouse (audited as warehouse.updated); the code never changes."""
    _warehouse_in_scope(request, warehouse_id)
    changes = {key: value for key, value in payload.dict(exclude_unset=True).items() if value is not None}
    return inventory_services.update_warehouse(
        warehouse_id=warehouse_id, actor=acting_user(request), **changes
    )


# stock levels


class StockLevelOut(Schema):
    id: int
    sku_id: int
    merchant_code: str = Field(alias="sku.merchant_code")
    product_name: str = Field(alias="sku.product.name")
    warehouse_id: int
    warehouse_code: str = Field(alias="warehouse.code")
    on_hand: int
    reserved: int
    safety_stock: int
    available: int = Field(description="on_hand − reserved − safety_stock (may be negative)")
    in_transit: int
    cost_price: MoneyOut | None = Field(description="null without catalog.view_cost")
    value: MoneyOut | None = Field(
        description="on_hand × the SKU's cost price; null without catalog.view_cost"
    )
    updated_at: DateTimeOut

    @staticmethod
    def resolve_cost_price(obj: StockLevel, context: dict[str, Any]) -> Decimal | None:
        return obj.sku.cost_price if catalog_queries.can_view_cost(context["request"].auth) else None

    @staticmethod
    def resolve_value(obj: StockLevel, context: dict[str, Any]) -> Decimal | None:
        if not catalog_queries.can_view_cost(context["request"].auth):
            return None
        return obj.on_hand * obj.sku.cost_price


class StockFilters(Schema):
    sku: ObjectId | None = None
    warehouse: ObjectId | None = None
    category: ObjectId | None = Field(None, description="Category id; sub-categories included")
    below_safety: bool | None = Field(
        None, description="true: unreserved stock (on_hand − reserved) below the safety stock"
    )
    ordering: PlainText | None = Field(
        None, max_length=200, description=ordering_description(STOCK_ORDERING, STOCK_DEFAULT_ORDERING)
    )


def _levels(request: HttpRequest) -> Any:
    return inventory_queries.stock_levels(user=acting_user(request)).select_related("sku__product")


@router.get("/inventory/stock", response={200: list[StockLevelOut], **ERROR_RESPONSES})
@paginate(Pagination)
@requires("inventory.view_stocklevel")
def list_stock_levels(request: HttpRequest, filters: Query[StockFilters]) -> QuerySet[StockLevel]:
    """Stock per SKU × warehouse in the user's warehouses: on hand, reserved, available, in transit, value."""
    levels = _levels(request)
    if filters.sku is not None:
        levels = levels.filter(sku_id=filters.sku)
    if filters.warehouse is not None:
        levels = levels.filter(warehouse_id=filters.warehouse)
    if filters.category is not None:
        levels = levels.filter(
            sku__product__category_id__in=catalog_queries.category_with_descendant_ids(filters.category)
        )
    if filters.below_safety is True:
        levels = levels.filter(on_hand__lt=F("reserved") + F("safety_stock"))
    elif filters.below_safety is False:
        levels = levels.filter(on_hand__gte=F("reserved") + F("safety_stock"))
    return apply_ordering(levels, filters.ordering, STOCK_ORDERING, STOCK_DEFAULT_ORDERING)


class SkuStockOut(Schema):
    sku_id: int
    merchant_code: str
    product_name: str
    is_bundle: bool
    on_hand: int
    reserved: int
    available: int
    in_transit: int
    sellable: int = Field(
        description="Units (complete bundles for a bundle) that can still be reserved in the user's active warehouses"
    )
    levels: list[StockLevelOut]


@router.get("/inventory/stock/{sku_id}", response={200: SkuStockOut, **ERROR_RESPONSES})
@requires("inventory.view_stocklevel")
def get_sku_stock(request: HttpRequest, sku_id: ObjectId) -> dict[str, Any]:
    """One SKU's stock across the user's warehouses, with totals and the sellable quantity."""
    sku = Sku.objects.select_related("product").filter(pk=sku_id).first()
    if sku is None:
        raise _not_found("SKU")
    levels = list(_levels(request).filter(sku_id=sku_id).order_by("warehouse__code", "pk"))
    active = (
        Warehouse.objects.for_user(acting_user(request)).filter(is_active=True).values_list("pk", flat=True)
    )
    return {
        "sku_id": sku.pk,
        "merchant_code": sku.merchant_code,
        "product_name": sku.product.name,
        "is_bundle": BundleComponent.objects.filter(bundle_sku_id=sku_id).exists(),
        "on_hand": sum(level.on_hand for level in levels),
        "reserved": sum(level.reserved for level in levels),
        "available": sum(level.available for level in levels),
        "in_transit": sum(level.in_transit for level in levels),
        "sellable": sum(
            inventory_queries.sellable_quantity(sku_id=sku_id, warehouse_id=warehouse_id)
            for warehouse_id in active
        ),
        "levels": levels,
    }


class AdjustIn(Schema):
    sku_id: ObjectId
    warehouse_id: ObjectId
    quantity_delta: int = Field(
        ..., ge=-MAX_QUANTITY, le=MAX_QUANTITY, description="Units to add (+) or take off (−); not 0"
    )
    reason: PlainText = Field(..., min_length=1, max_length=300)
    movement_type: ADJUSTMENT_TYPES = "adjust"


class MovementOut(Schema):
    id: int
    sku_id: int
    merchant_code: str = Field(alias="sku.merchant_code")
    warehouse_id: int
    warehouse_code: str = Field(alias="warehouse.code")
    movement_type: MovementType
    on_hand_delta: int
    reserved_delta: int
    on_hand_before: int
    on_hand_after: int
    reserved_before: int
    reserved_after: int
    reference_type: str
    reference_id: str
    actor_id: int | None
    actor_name: str
    note: str
    created_at: DateTimeOut

    @staticmethod
    def resolve_actor_name(obj: StockMovement) -> str:
        return obj.actor.get_username() if obj.actor is not None else ""


@router.post("/inventory/adjustments", response={201: MovementOut, **ERROR_RESPONSES})
@requires("inventory.change_stocklevel")
def adjust_stock(
    request: HttpRequest,
    payload: AdjustIn,
    idempotency_key_header: str | None = Header(
        None,
        alias="Idempotency-Key",
        max_length=200,
        description="Optional: a retry with the same key and body replays the first answer instead of "
        "adjusting twice (header Idempotent-Replayed); the same key with another body is 409",
    ),
) -> HttpResponse:
    """Correct on-hand stock with a reason (调整, 盘盈, 盘亏, 报损): one ledger row, audited as stock.adjusted."""
    user = acting_user(request)
    key = idempotency_key(idempotency_key_header, required=False)

    def adjust() -> tuple[int, dict[str, Any], str]:
        _warehouse_in_scope(request, payload.warehouse_id)
        movement = inventory_services.adjust_stock(
            sku_id=payload.sku_id,
            warehouse_id=payload.warehouse_id,
            quantity_delta=payload.quantity_delta,
            reason=payload.reason,
            movement_type=payload.movement_type,
            actor=user,
        )
        saved = StockMovement.objects.select_related("sku", "warehouse", "actor").get(pk=movement.pk)
        return 201, MovementOut.from_orm(saved).model_dump(mode="json"), str(saved.pk)

    return run_idempotent(
        user=user, scope="inventory.adjust", key=key, body=payload.model_dump(mode="json"), run=adjust
    )


# the ledger


class MovementFilters(Schema):
    sku: ObjectId | None = None
    warehouse: ObjectId | None = None
    movement_type: MovementType | None = None
    reference: PlainText | None = Field(None, max_length=64, description="Exact reference id")
    reference_type: PlainText | None = Field(None, max_length=30)
    created_after: DateTimeIn | None = Field(None, description="Inclusive")
    created_before: DateTimeIn | None = Field(None, description="Exclusive")
    ordering: PlainText | None = Field(
        None, max_length=200, description=ordering_description(MOVEMENT_ORDERING, MOVEMENT_DEFAULT_ORDERING)
    )


@router.get("/inventory/movements", response={200: list[MovementOut], **ERROR_RESPONSES})
@paginate(Pagination)
@requires("inventory.view_stockmovement")
def list_movements(request: HttpRequest, filters: Query[MovementFilters]) -> QuerySet[StockMovement]:
    """The stock ledger (库存流水) in the user's warehouses, newest first: every change with before/after."""
    movements = StockMovement.objects.for_user(acting_user(request)).select_related(
        "sku", "warehouse", "actor"
    )
    if filters.sku is not None:
        movements = movements.filter(sku_id=filters.sku)
    if filters.warehouse is not None:
        movements = movements.filter(warehouse_id=filters.warehouse)
    if filters.movement_type:
        movements = movements.filter(movement_type=filters.movement_type)
    if filters.reference:
        movements = movements.filter(reference_id=filters.reference)
    if filters.reference_type:
        movements = movements.filter(reference_type=filters.reference_type)
    if filters.created_after:
        movements = movements.filter(created_at__gte=filters.created_after)
    if filters.created_before:
        movements = movements.filter(created_at__lt=filters.created_before)
    return apply_ordering(movements, filters.ordering, MOVEMENT_ORDERING, MOVEMENT_DEFAULT_ORDERING)


# reservations


class ReservationOut(Schema):
    id: int
    reference_type: str
    reference: str
    requested_sku_id: int
    sku_id: int
    warehouse_id: int
    quantity: int
    status: ReservationStatus
    expires_at: DateTimeOut | None
    created_at: DateTimeOut
    closed_at: DateTimeOut | None


class ReservationsOut(Schema):
    reference_type: str
    reference: str
    reservations: list[ReservationOut]


class ReservationFilters(Schema):
    reference: PlainText | None = Field(None, max_length=64)
    reference_type: PlainText | None = Field(None, max_length=30)
    sku: ObjectId | None = Field(None, description="The reserved (component) SKU")
    warehouse: ObjectId | None = None
    status: ReservationStatus | None = None


class ReserveIn(Schema):
    sku_id: ObjectId = Field(..., description="The SKU ordered; a bundle reserves all its components or none")
    quantity: int = Field(..., ge=1, le=MAX_QUANTITY)
    warehouse_id: ObjectId | None = Field(
        None, description="Omit to let the best-warehouse rule choose (needs access to every warehouse)"
    )
    reference: PlainText | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="The document (order number); defaults to the Idempotency-Key header",
    )
    reference_type: PlainText = Field("order", min_length=1, max_length=30)
    expires_at: DateTimeIn | None = None


class ReferenceIn(Schema):
    reference: PlainText = Field(..., min_length=1, max_length=64)
    reference_type: PlainText = Field("order", min_length=1, max_length=30)
    sku_id: ObjectId | None = Field(None, description="Only this ordered SKU of the document")


@router.get("/inventory/reservations", response={200: list[ReservationOut], **ERROR_RESPONSES})
@paginate(Pagination)
@requires("inventory.view_reservation")
def list_reservations(request: HttpRequest, filters: Query[ReservationFilters]) -> QuerySet[Reservation]:
    """Reservations (预占) in the user's warehouses, newest first."""
    reservations = Reservation.objects.for_user(acting_user(request)).order_by("-id")
    if filters.reference:
        reservations = reservations.filter(reference=filters.reference)
    if filters.reference_type:
        reservations = reservations.filter(reference_type=filters.reference_type)
    if filters.sku is not None:
        reservations = reservations.filter(sku_id=filters.sku)
    if filters.warehouse is not None:
        reservations = reservations.filter(warehouse_id=filters.warehouse)
    if filters.status:
        reservations = reservations.filter(status=filters.status)
    return reservations


def _require_in_scope(request: HttpRequest, reservations: list[Reservation]) -> None:
    allowed = warehouse_ids_for(acting_user(request))
    if allowed is not None and any(item.warehouse_id not in allowed for item in reservations):
        raise _not_found("预占")


@router.post("/inventory/reservations", response={201: ReservationsOut, **ERROR_RESPONSES})
@requires("inventory.add_reservation")
def reserve_stock(
    request: HttpRequest,
    payload: ReserveIn,
    idempotency_key: Annotated[
        PlainText | None, Header(alias="Idempotency-Key", min_length=1, max_length=64)
    ] = None,
) -> Status[dict[str, Any]]:
    """Reserve stock for a document; repeating the call (same reference) returns the same reservations.

    Not enough stock in one warehouse answers 409 insufficient_stock; the same reference with another
    quantity answers 409 reservation_mismatch.
    """
    reference = payload.reference or idempotency_key
    if not reference:
        raise InvalidInput("须提供 reference 或 Idempotency-Key", fields={"reference": "必填"})
    if payload.warehouse_id is not None:
        _warehouse_in_scope(request, payload.warehouse_id)
    elif warehouse_ids_for(acting_user(request)) is not None:
        raise InvalidInput("您只能操作部分仓库，请指定仓库", fields={"warehouse_id": "必填"})
    reservations = inventory_services.reserve_stock(
        sku_id=payload.sku_id,
        quantity=payload.quantity,
        reference=reference,
        reference_type=payload.reference_type,
        warehouse_id=payload.warehouse_id,
        expires_at=payload.expires_at,
        actor=acting_user(request),
    )
    _require_in_scope(request, reservations)
    return Status(
        201,
        {"reference_type": payload.reference_type, "reference": reference, "reservations": reservations},
    )


def _reservations_of(request: HttpRequest, payload: ReferenceIn) -> None:
    existing = Reservation.objects.filter(reference_type=payload.reference_type, reference=payload.reference)
    if payload.sku_id is not None:
        existing = existing.filter(requested_sku_id=payload.sku_id)
    found = list(existing)
    if not found:
        raise _not_found("预占")
    _require_in_scope(request, found)


@router.post("/inventory/reservations/release", response={200: ReservationsOut, **ERROR_RESPONSES})
@requires("inventory.change_reservation")
def release_reservation(request: HttpRequest, payload: ReferenceIn) -> dict[str, Any]:
    """Give back what a document holds (e.g. the order was cancelled); idempotent."""
    _reservations_of(request, payload)
    released = inventory_services.release_reservation(
        reference=payload.reference,
        reference_type=payload.reference_type,
        sku_id=payload.sku_id,
        actor=acting_user(request),
    )
    return {
        "reference_type": payload.reference_type,
        "reference": payload.reference,
        "reservations": released,
    }


@router.post("/inventory/reservations/commit", response={200: ReservationsOut, **ERROR_RESPONSES})
@requires("inventory.change_reservation")
def commit_reservation(request: HttpRequest, payload: ReferenceIn) -> dict[str, Any]:
    """Ship what a document holds (销售出库: on hand and reserved both go down); idempotent."""
    _reservations_of(request, payload)
    committed = inventory_services.commit_reservation(
        reference=payload.reference,
        reference_type=payload.reference_type,
        sku_id=payload.sku_id,
        actor=acting_user(request),
    )
    return {
        "reference_type": payload.reference_type,
        "reference": payload.reference,
        "reservations": committed,
    }


# reports


def _xlsx_extra(description: str) -> dict[str, Any]:
    return {
        "responses": {
            200: {
                "description": description,
                "content": {XLSX_CONTENT_TYPE: {"schema": {"type": "string", "format": "binary"}}},
            }
        }
    }


class ReportPage(Schema):
    format: Literal["json", "xlsx"] = Field("json", description="xlsx: the whole report as a spreadsheet")
    limit: int = Field(50, ge=1, le=settings.API_MAX_PAGE_SIZE)
    offset: int = Field(0, ge=0, le=2**31 - 1)


def _report_response(
    request: HttpRequest, name: str, params: Any, page: ReportPage
) -> HttpResponse | dict[str, Any]:
    if page.format == "xlsx":
        with tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024) as buffer:
            reports.write_xlsx(name, params, user=acting_user(request), destination=buffer)
            buffer.seek(0)
            content = buffer.read()
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        response = HttpResponse(content, content_type=XLSX_CONTENT_TYPE)
        response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.xlsx"'
        return response
    run = reports.REPORTS[name][0]
    rows = run(params, user=acting_user(request))
    return {
        "count": len(rows),
        "items": [asdict(row) for row in rows[page.offset : page.offset + page.limit]],
    }


class StockOnHandOut(Schema):
    warehouse_id: int | None
    warehouse_code: str
    category_id: int | None
    category_path: str
    sku_count: int
    on_hand: int
    reserved: int
    available: int
    in_transit: int
    value: MoneyOut


class StockOnHandPage(Schema):
    count: int
    items: list[StockOnHandOut]


class StockOnHandQuery(ReportPage):
    group_by: Literal["warehouse", "category", "warehouse_category"] = "warehouse"
    warehouse: ObjectId | None = None
    category: ObjectId | None = Field(None, description="Category id; sub-categories included")


@router.get(
    "/inventory/reports/stock-on-hand",
    response={200: StockOnHandPage, **ERROR_RESPONSES},
    openapi_extra=_xlsx_extra("The report (JSON), or with format=xlsx the spreadsheet"),
)
@requires("inventory.view_stocklevel")
@requires("catalog.view_cost")  # valued at cost
def report_stock_on_hand(request: HttpRequest, query: Query[StockOnHandQuery]) -> Any:
    """Stock on hand per warehouse and/or category with its value at cost (`?format=xlsx` to download)."""
    params = reports.StockOnHandParams(
        group_by=query.group_by, warehouse_id=query.warehouse, category_id=query.category
    )
    return _report_response(request, "stock-on-hand", params, query)


class SlowMoverOut(Schema):
    sku_id: int
    merchant_code: str
    product_name: str
    warehouse_id: int
    warehouse_code: str
    on_hand: int
    value: MoneyOut
    last_sale_at: DateTimeOut | None
    days_since_last_sale: int | None


class SlowMoversPage(Schema):
    count: int
    items: list[SlowMoverOut]


class SlowMoversQuery(ReportPage):
    days: int = Field(30, ge=1, le=reports.MAX_DAYS, description="No sale_out within this many days")
    as_of: DateTimeIn | None = Field(None, description="End of the window; default now")
    warehouse: ObjectId | None = None
    category: ObjectId | None = None


@router.get(
    "/inventory/reports/slow-movers",
    response={200: SlowMoversPage, **ERROR_RESPONSES},
    openapi_extra=_xlsx_extra("The report (JSON), or with format=xlsx the spreadsheet"),
)
@requires("inventory.view_stocklevel")
@requires("catalog.view_cost")  # valued at cost
def report_slow_movers(request: HttpRequest, query: Query[SlowMoversQuery]) -> Any:
    """SKU × warehouse positions with stock but no sale in `days` days, most value first."""
    params = reports.SlowMoversParams(
        days=query.days, as_of=query.as_of, warehouse_id=query.warehouse, category_id=query.category
    )
    return _report_response(request, "slow-movers", params, query)


class StockAgeOut(Schema):
    sku_id: int
    merchant_code: str
    warehouse_id: int
    warehouse_code: str
    on_hand: int
    value: MoneyOut
    oldest_inbound_at: DateTimeOut
    oldest_age_days: int
    average_age_days: DecimalOut
    bucket_quantities: list[int] = Field(description="Units aged 0–30, 31–60, 61–90 and over 90 days")


class StockAgePage(Schema):
    count: int
    items: list[StockAgeOut]


class StockAgeQuery(ReportPage):
    as_of: DateTimeIn | None = Field(None, description="Age at this time; default now")
    warehouse: ObjectId | None = None
    category: ObjectId | None = None


@router.get(
    "/inventory/reports/stock-age",
    response={200: StockAgePage, **ERROR_RESPONSES},
    openapi_extra=_xlsx_extra("The report (JSON), or with format=xlsx the spreadsheet"),
)
@requires("inventory.view_stocklevel")
@requires("catalog.view_cost")  # valued at cost
def report_stock_age(request: HttpRequest, query: Query[StockAgeQuery]) -> Any:
    """Stock age (库龄) by FIFO over the ledger: the oldest unconsumed inbound and units per age bucket."""
    params = reports.StockAgeParams(
        as_of=query.as_of, warehouse_id=query.warehouse, category_id=query.category
    )
    return _report_response(request, "stock-age", params, query)


class TurnoverOut(Schema):
    warehouse_id: int | None
    warehouse_code: str
    category_id: int | None
    category_path: str
    units_sold: int
    cogs: MoneyOut
    opening_value: MoneyOut
    closing_value: MoneyOut
    average_value: MoneyOut
    turnover: DecimalOut | None
    days_of_inventory: DecimalOut | None


class TurnoverPage(Schema):
    count: int
    items: list[TurnoverOut]


class TurnoverQuery(ReportPage):
    start: DateTimeIn = Field(..., description="Inclusive")
    end: DateTimeIn = Field(..., description="Exclusive")
    group_by: Literal["warehouse", "category", "total"] = "warehouse"
    warehouse: ObjectId | None = None
    category: ObjectId | None = None


@router.get(
    "/inventory/reports/turnover",
    response={200: TurnoverPage, **ERROR_RESPONSES},
    openapi_extra=_xlsx_extra("The report (JSON), or with format=xlsx the spreadsheet"),
)
@requires("inventory.view_stocklevel")
@requires("catalog.view_cost")  # valued at cost
def report_turnover(request: HttpRequest, query: Query[TurnoverQuery]) -> Any:
    """Inventory turnover over [start, end): COGS ÷ average inventory value, and days of inventory."""
    params = reports.TurnoverParams(
        start=query.start,
        end=query.end,
        group_by=query.group_by,
        warehouse_id=query.warehouse,
        category_id=query.category,
    )
    return _report_response(request, "turnover", params, query)
