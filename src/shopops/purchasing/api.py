"""Purchasing API: suppliers, price agreements, purchase orders, transitions, receiving, replenishment."""

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from django.db.models import Q, QuerySet
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from shopops.core.api import (
    ERROR_RESPONSES,
    DateIn,
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
from shopops.core.errors import NotFound
from shopops.core.pii import shown
from shopops.core.scope import get_in_scope
from shopops.inventory.queries import require_warehouse_in_scope
from shopops.purchasing import queries, services
from shopops.purchasing.models import (
    PaymentTerms,
    PurchaseOrder,
    PurchaseOrderEvent,
    PurchaseOrderLine,
    PurchaseOrderStatus,
    PurchaseReceipt,
    PurchaseReceiptLine,
    Supplier,
    SupplierPrice,
)

router = Router(tags=["purchasing"])

MAX_UNITS = 2**31 - 1
MAX_LEAD_TIME_DAYS = 3650
MAX_LINES = 500


Units = Annotated[int, Field(ge=0, le=MAX_UNITS)]
PositiveUnits = Annotated[int, Field(ge=1, le=MAX_UNITS)]


def _warehouse_in_scope(request: HttpRequest, warehouse_id: int | None) -> None:
    require_warehouse_in_scope(acting_user(request), warehouse_id)


# suppliers


class SupplierOut(Schema):
    id: int
    code: str
    name: str
    contact_name: str = Field(description="Masked (张**) unless the user holds core.view_pii")
    contact_phone: str = Field(description="Masked (138****1234) unless the user holds core.view_pii")
    contact_email: str = Field(description="Masked (w***@example.com) unless the user holds core.view_pii")
    lead_time_days: int
    minimum_order_amount: MoneyOut
    minimum_order_quantity: int
    payment_terms: PaymentTerms
    is_active: bool
    note: str
    created_at: DateTimeOut
    updated_at: DateTimeOut

    @staticmethod
    def resolve_contact_name(obj: Supplier, context: dict[str, Any]) -> Any:
        return shown(context["request"].auth, obj, "contact_name")

    @staticmethod
    def resolve_contact_phone(obj: Supplier, context: dict[str, Any]) -> Any:
        return shown(context["request"].auth, obj, "contact_phone")

    @staticmethod
    def resolve_contact_email(obj: Supplier, context: dict[str, Any]) -> Any:
        return shown(context["request"].auth, obj, "contact_email")


class SupplierIn(Schema):
    code: PlainText = Field(..., min_length=1, max_length=20)
    name: PlainText = Field(..., min_length=1, max_length=100)
    contact_name: PlainText = Field("", max_length=50)
    contact_phone: PlainText = Field("", max_length=30)
    contact_email: PlainText = Field("", max_length=100)
    lead_time_days: int = Field(7, ge=0, le=MAX_LEAD_TIME_DAYS)
    minimum_order_amount: MoneyIn = Decimal("0.00")
    minimum_order_quantity: Units = 0
    payment_terms: PaymentTerms = PaymentTerms.NET_30
    is_active: bool = True
    note: PlainText = Field("", max_length=300)


class SupplierUpdateIn(Schema):
    name: PlainText | None = Field(None, min_length=1, max_length=100)
    contact_name: PlainText | None = Field(None, max_length=50)
    contact_phone: PlainText | None = Field(None, max_length=30)
    contact_email: PlainText | None = Field(None, max_length=100)
    lead_time_days: int | None = Field(None, ge=0, le=MAX_LEAD_TIME_DAYS)
    minimum_order_amount: MoneyIn | None = None
    minimum_order_quantity: Units | None = None
    payment_terms: PaymentTerms | None = None
    is_active: bool | None = None
    note: PlainText | None = Field(None, max_length=300)


SUPPLIER_ORDERING = {"code", "name", "lead_time_days", "created_at", "id"}
SUPPLIER_DEFAULT_ORDERING = "code"


class SupplierFilters(Schema):
    search: PlainText | None = Field(None, max_length=100, description="Part of the code or the name")
    is_active: bool | None = None
    ordering: PlainText | None = Field(
        None, max_length=200, description=ordering_description(SUPPLIER_ORDERING, SUPPLIER_DEFAULT_ORDERING)
    )


@router.get("/purchasing/suppliers", response={200: list[SupplierOut], **ERROR_RESPONSES})
@paginate(Pagination)
@requires("purchasing.view_supplier")
def list_suppliers(request: HttpRequest, filters: Query[SupplierFilters]) -> QuerySet[Supplier]:
    """Suppliers; contact details masked without core.view_pii."""
    suppliers = Supplier.objects.all()
    if filters.search:
        suppliers = suppliers.filter(Q(code__icontains=filters.search) | Q(name__icontains=filters.search))
    if filters.is_active is not None:
        suppliers = suppliers.filter(is_active=filters.is_active)
    return apply_ordering(suppliers, filters.ordering, SUPPLIER_ORDERING, SUPPLIER_DEFAULT_ORDERING)


def _supplier(supplier_id: int) -> Supplier:
    supplier = Supplier.objects.filter(pk=supplier_id).first()
    if supplier is None:
        raise NotFound("供应商不存在")
    return supplier


@router.get("/purchasing/suppliers/{supplier_id}", response={200: SupplierOut, **ERROR_RESPONSES})
@requires("purchasing.view_supplier")
def get_supplier(request: HttpRequest, supplier_id: ObjectId) -> Supplier:
    """One supplier."""
    return _supplier(supplier_id)


@router.post("/purchasing/suppliers", response={201: SupplierOut, **ERROR_RESPONSES})
@requires("purchasing.add_supplier")
def create_supplier(request: HttpRequest, payload: SupplierIn) -> Status[Supplier]:
    """Create a supplier (audited as supplier.created)."""
    return Status(201, services.create_supplier(actor=acting_user(request), **payload.dict()))


@router.patch("/purchasing/suppliers/{supplier_id}", response={200: SupplierOut, **ERROR_RESPONSES})
@requires("purchasing.change_supplier")
def update_supplier(request: HttpRequest, supplier_id: ObjectId, payload: SupplierUpdateIn) -> Supplier:
    """Change the given fields of a supplier (audited as supplier.updated)."""
    changes = {key: value for key, value in payload.dict(exclude_unset=True).items() if value is not None}
    return services.update_supplier(supplier_id=supplier_id, actor=acting_user(request), **changes)


# price agreements


class SupplierPriceOut(Schema):
    id: int
    supplier_id: int
    sku_id: int
    price: MoneyOut
    min_quantity: int
    valid_from: dt.date
    valid_to: dt.date | None
    supplier_sku_code: str


class SupplierPriceIn(Schema):
    supplier_id: ObjectId
    sku_id: ObjectId
    price: MoneyIn
    min_quantity: PositiveUnits = 1
    valid_from: DateIn
    valid_to: DateIn | None = Field(None, description="Inclusive; null = open-ended")
    supplier_sku_code: PlainText = Field("", max_length=64)


class SupplierPriceUpdateIn(Schema):
    price: MoneyIn | None = None
    min_quantity: PositiveUnits | None = None
    valid_from: DateIn | None = None
    valid_to: DateIn | None = Field(None, description="null makes the agreement open-ended")
    supplier_sku_code: PlainText | None = Field(None, max_length=64)


class SupplierPriceFilters(Schema):
    supplier: ObjectId | None = None
    sku: ObjectId | None = None
    valid_on: DateIn | None = Field(None, description="Only agreements valid on this day")


@router.get("/purchasing/supplier-prices", response={200: list[SupplierPriceOut], **ERROR_RESPONSES})
@paginate(Pagination)
@requires("purchasing.view_supplierprice")
def list_supplier_prices(
    request: HttpRequest, filters: Query[SupplierPriceFilters]
) -> QuerySet[SupplierPrice]:
    """Price agreements by SKU, cheapest first."""
    prices = SupplierPrice.objects.order_by("sku_id", "price", "supplier_id", "valid_from", "pk")
    if filters.supplier:
        prices = prices.filter(supplier_id=filters.supplier)
    if filters.sku:
        prices = prices.filter(sku_id=filters.sku)
    if filters.valid_on:
        prices = prices.filter(valid_from__lte=filters.valid_on).exclude(valid_to__lt=filters.valid_on)
    return prices


@router.post("/purchasing/supplier-prices", response={201: SupplierPriceOut, **ERROR_RESPONSES})
@requires("purchasing.add_supplierprice")
def create_supplier_price(request: HttpRequest, payload: SupplierPriceIn) -> Status[SupplierPrice]:
    """Agree a price of a SKU with a supplier for a period."""
    return Status(201, services.create_supplier_price(actor=acting_user(request), **payload.dict()))


@router.patch("/purchasing/supplier-prices/{price_id}", response={200: SupplierPriceOut, **ERROR_RESPONSES})
@requires("purchasing.change_supplierprice")
def update_supplier_price(
    request: HttpRequest, price_id: ObjectId, payload: SupplierPriceUpdateIn
) -> SupplierPrice:
    """Change the given fields of a price agreement."""
    changes = {
        key: value
        for key, value in payload.dict(exclude_unset=True).items()
        if value is not None or key == "valid_to"
    }
    return services.update_supplier_price(price_id=price_id, actor=acting_user(request), **changes)


@router.delete("/purchasing/supplier-prices/{price_id}", response={204: None, **ERROR_RESPONSES})
@requires("purchasing.delete_supplierprice")
def delete_supplier_price(request: HttpRequest, price_id: ObjectId) -> Status[None]:
    """Remove a price agreement (audited as supplier_price.deleted)."""
    services.delete_supplier_price(price_id=price_id, actor=acting_user(request))
    return Status(204, None)


# purchase orders


class PurchaseOrderLineOut(Schema):
    id: int
    sku_id: int
    merchant_code: str
    quantity: int
    unit_price: MoneyOut
    amount: MoneyOut
    received_quantity: int
    accepted_quantity: int
    rejected_quantity: int
    open_quantity: int = Field(description="Ordered units not yet accepted")

    @staticmethod
    def resolve_merchant_code(obj: PurchaseOrderLine) -> str:
        return obj.sku.merchant_code


class PurchaseOrderEventOut(Schema):
    from_status: str = Field(description="Empty for the creation")
    to_status: PurchaseOrderStatus
    actor_id: int | None
    actor_name: str
    reason: str
    created_at: DateTimeOut

    @staticmethod
    def resolve_actor_name(obj: PurchaseOrderEvent) -> str:
        return obj.actor.get_username() if obj.actor is not None else "system"


class PurchaseOrderOut(Schema):
    id: int
    number: str
    supplier_id: int
    supplier_name: str
    warehouse_id: int
    status: PurchaseOrderStatus
    expected_date: dt.date | None
    total_amount: MoneyOut
    note: str
    run_key: str
    created_by_id: int | None
    created_at: DateTimeOut
    updated_at: DateTimeOut

    @staticmethod
    def resolve_supplier_name(obj: PurchaseOrder) -> str:
        return obj.supplier.name


class PurchaseOrderDetailOut(PurchaseOrderOut):
    lines: list[PurchaseOrderLineOut]
    events: list[PurchaseOrderEventOut] = Field(description="The timeline: every status change, who and when")

    @staticmethod
    def resolve_lines(obj: PurchaseOrder) -> list[PurchaseOrderLine]:
        return list(obj.lines.all())

    @staticmethod
    def resolve_events(obj: PurchaseOrder) -> list[PurchaseOrderEvent]:
        return list(obj.events.all())


class OrderLineIn(Schema):
    sku_id: ObjectId
    quantity: PositiveUnits
    unit_price: MoneyIn | None = Field(None, description="Default: the supplier's lowest valid agreement")


class PurchaseOrderIn(Schema):
    supplier_id: ObjectId
    warehouse_id: ObjectId
    lines: list[OrderLineIn] = Field(..., min_length=1, max_length=MAX_LINES)
    expected_date: DateIn | None = None
    note: PlainText = Field("", max_length=300)


class PurchaseOrderUpdateIn(Schema):
    expected_date: DateIn | None = None
    note: PlainText | None = Field(None, max_length=300)
    lines: list[OrderLineIn] | None = Field(
        None, min_length=1, max_length=MAX_LINES, description="Replaces every line"
    )


ORDER_ORDERING = {"number", "expected_date", "total_amount", "created_at", "id"}
ORDER_DEFAULT_ORDERING = "-created_at,-id"


class PurchaseOrderFilters(Schema):
    status: PurchaseOrderStatus | None = None
    supplier: ObjectId | None = None
    warehouse: ObjectId | None = None
    search: PlainText | None = Field(None, max_length=30, description="Part of the order number")
    ordering: PlainText | None = Field(
        None, max_length=200, description=ordering_description(ORDER_ORDERING, ORDER_DEFAULT_ORDERING)
    )


@router.get("/purchasing/orders", response={200: list[PurchaseOrderOut], **ERROR_RESPONSES})
@paginate(Pagination)
@requires("purchasing.view_purchaseorder")
def list_purchase_orders(
    request: HttpRequest, filters: Query[PurchaseOrderFilters]
) -> QuerySet[PurchaseOrder]:
    """Purchase orders delivering to the user's warehouses."""
    orders = PurchaseOrder.objects.for_user(acting_user(request)).select_related("supplier")
    if filters.status:
        orders = orders.filter(status=filters.status)
    if filters.supplier:
        orders = orders.filter(supplier_id=filters.supplier)
    if filters.warehouse:
        orders = orders.filter(warehouse_id=filters.warehouse)
    if filters.search:
        orders = orders.filter(number__icontains=filters.search)
    return apply_ordering(orders, filters.ordering, ORDER_ORDERING, ORDER_DEFAULT_ORDERING)


def _order(request: HttpRequest, po_id: int) -> PurchaseOrder:
    return get_in_scope(queries.purchase_orders(user=acting_user(request)), acting_user(request), pk=po_id)


@router.get("/purchasing/orders/{po_id}", response={200: PurchaseOrderDetailOut, **ERROR_RESPONSES})
@requires("purchasing.view_purchaseorder")
def get_purchase_order(request: HttpRequest, po_id: ObjectId) -> PurchaseOrder:
    """One purchase order with its lines and timeline."""
    return _order(request, po_id)


@router.post("/purchasing/orders", response={201: PurchaseOrderDetailOut, **ERROR_RESPONSES})
@requires("purchasing.add_purchaseorder")
def create_purchase_order(request: HttpRequest, payload: PurchaseOrderIn) -> Status[PurchaseOrder]:
    """Create a draft purchase order to a warehouse in the user's scope."""
    _warehouse_in_scope(request, payload.warehouse_id)
    order = services.create_purchase_order(actor=acting_user(request), **payload.dict())
    return Status(201, _order(request, order.pk))


@router.patch("/purchasing/orders/{po_id}", response={200: PurchaseOrderDetailOut, **ERROR_RESPONSES})
@requires("purchasing.change_purchaseorder")
def update_purchase_order(
    request: HttpRequest, po_id: ObjectId, payload: PurchaseOrderUpdateIn
) -> PurchaseOrder:
    """Change a draft's expected date, note or lines; other statuses answer 409."""
    _order(request, po_id)
    changes = payload.dict(exclude_unset=True)
    changes = {key: value for key, value in changes.items() if value is not None or key == "expected_date"}
    services.update_purchase_order(po_id=po_id, actor=acting_user(request), **changes)
    return _order(request, po_id)


class ReasonIn(Schema):
    reason: PlainText = Field("", max_length=300)


@router.post("/purchasing/orders/{po_id}/approve", response={200: PurchaseOrderDetailOut, **ERROR_RESPONSES})
@requires("purchasing.approve_purchaseorder")
def approve_purchase_order(request: HttpRequest, po_id: ObjectId) -> PurchaseOrder:
    """Approve a draft (草稿 → 已审核); illegal transitions answer 409."""
    _order(request, po_id)
    services.approve_purchase_order(po_id=po_id, actor=acting_user(request))
    return _order(request, po_id)


@router.post("/purchasing/orders/{po_id}/cancel", response={200: PurchaseOrderDetailOut, **ERROR_RESPONSES})
@requires("purchasing.approve_purchaseorder")
def cancel_purchase_order(request: HttpRequest, po_id: ObjectId, payload: ReasonIn) -> PurchaseOrder:
    """Cancel a draft or approved order with nothing received; illegal transitions answer 409."""
    _order(request, po_id)
    services.cancel_purchase_order(po_id=po_id, actor=acting_user(request), reason=payload.reason)
    return _order(request, po_id)


@router.post("/purchasing/orders/{po_id}/close", response={200: PurchaseOrderDetailOut, **ERROR_RESPONSES})
@requires("purchasing.approve_purchaseorder")
def close_purchase_order(request: HttpRequest, po_id: ObjectId, payload: ReasonIn) -> PurchaseOrder:
    """Close a (partly) received order: the rest is no longer expected."""
    _order(request, po_id)
    services.close_purchase_order(po_id=po_id, actor=acting_user(request), reason=payload.reason)
    return _order(request, po_id)


# receiving


class ReceiptLineIn(Schema):
    line_id: ObjectId
    received: PositiveUnits
    accepted: Units
    rejected: Units = 0


class ReceiptIn(Schema):
    lines: list[ReceiptLineIn] = Field(..., min_length=1, max_length=MAX_LINES)
    warehouse_id: ObjectId | None = Field(None, description="Default: the order's warehouse")
    note: PlainText = Field("", max_length=300)


class ReceiptLineOut(Schema):
    order_line_id: int
    sku_id: int
    received_quantity: int
    accepted_quantity: int
    rejected_quantity: int
    unit_cost: MoneyOut
    cost_before: MoneyOut
    cost_after: MoneyOut = Field(description="The SKU's moving-average cost after this line")

    @staticmethod
    def resolve_sku_id(obj: PurchaseReceiptLine) -> int:
        return obj.order_line.sku_id


class ReceiptOut(Schema):
    id: int
    number: str
    purchase_order_id: int
    warehouse_id: int
    note: str
    received_by_id: int | None
    received_at: DateTimeOut
    lines: list[ReceiptLineOut]

    @staticmethod
    def resolve_lines(obj: PurchaseReceipt) -> list[PurchaseReceiptLine]:
        return list(obj.lines.all())


def _receipts(request: HttpRequest) -> QuerySet[PurchaseReceipt]:
    return PurchaseReceipt.objects.for_user(acting_user(request)).prefetch_related("lines__order_line")


@router.post("/purchasing/orders/{po_id}/receive", response={201: ReceiptOut, **ERROR_RESPONSES})
@requires("purchasing.receive_purchaseorder")
def receive_purchase_order(
    request: HttpRequest, po_id: ObjectId, payload: ReceiptIn
) -> Status[PurchaseReceipt]:
    """Receive a delivery with inspection: accepted units go to stock (采购入库) and the moving-average cost."""
    _order(request, po_id)
    _warehouse_in_scope(request, payload.warehouse_id)
    receipt = services.receive_purchase_order(
        po_id=po_id,
        lines=[line.dict() for line in payload.lines],
        warehouse_id=payload.warehouse_id,
        actor=acting_user(request),
        note=payload.note,
    )
    return Status(201, _receipts(request).get(pk=receipt.pk))


class ReceiptFilters(Schema):
    purchase_order: ObjectId | None = None


@router.get("/purchasing/receipts", response={200: list[ReceiptOut], **ERROR_RESPONSES})
@paginate(Pagination)
@requires("purchasing.view_purchasereceipt")
def list_purchase_receipts(request: HttpRequest, filters: Query[ReceiptFilters]) -> QuerySet[PurchaseReceipt]:
    """Receipts into the user's warehouses, newest first."""
    receipts = _receipts(request).order_by("-received_at", "-pk")
    if filters.purchase_order:
        receipts = receipts.filter(purchase_order_id=filters.purchase_order)
    return receipts


# replenishment


class SuggestionOut(Schema):
    sku_id: int
    merchant_code: str
    warehouse_id: int
    supplier_id: int
    supplier_price_id: int
    unit_price: MoneyOut
    lead_time_days: int
    min_quantity: int
    units_sold: int
    velocity: str = Field(description="Units sold per day, 4 decimals")
    on_hand: int
    reserved: int
    safety_stock: int
    open_quantity: int = Field(description="Units still expected from open purchase orders")
    reorder_point: str = Field(description="velocity × lead time + safety stock, 4 decimals")
    is_below_reorder_point: bool
    suggested_quantity: int

    @staticmethod
    def resolve_velocity(obj: queries.ReplenishmentSuggestion) -> str:
        return str(obj.velocity)

    @staticmethod
    def resolve_reorder_point(obj: queries.ReplenishmentSuggestion) -> str:
        return str(obj.reorder_point)


class SuggestionFilters(Schema):
    days: int = Field(
        queries.DEFAULT_VELOCITY_DAYS, ge=1, le=365, description="Sales window for the velocity"
    )
    review_period_days: int = Field(queries.DEFAULT_REVIEW_PERIOD_DAYS, ge=0, le=365)
    warehouse: ObjectId | None = None


@router.get("/purchasing/suggestions", response={200: list[SuggestionOut], **ERROR_RESPONSES})
@requires("purchasing.view_purchaseorder")
def list_replenishment_suggestions(
    request: HttpRequest, filters: Query[SuggestionFilters]
) -> list[queries.ReplenishmentSuggestion]:
    """What to order now per SKU × warehouse, from sales velocity, lead time, safety stock and open orders."""
    return queries.replenishment_suggestions(
        user=acting_user(request),
        days=filters.days,
        review_period_days=filters.review_period_days,
        warehouse_id=filters.warehouse,
    )


class SuggestedLineIn(Schema):
    sku_id: ObjectId
    warehouse_id: ObjectId
    supplier_id: ObjectId
    quantity: PositiveUnits
    unit_price: MoneyIn | None = Field(None, description="Default: the supplier's lowest valid agreement")


class DraftsIn(Schema):
    suggestions: list[SuggestedLineIn] = Field(..., min_length=1, max_length=MAX_LINES)
    run_key: PlainText | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="Idempotency key of the run; default: derived from the lines",
    )


@router.post("/purchasing/suggestions/drafts", response={200: list[PurchaseOrderOut], **ERROR_RESPONSES})
@requires("purchasing.add_purchaseorder")
def create_draft_purchase_orders(request: HttpRequest, payload: DraftsIn) -> list[PurchaseOrder]:
    """Turn suggestions into one draft order per supplier and warehouse; repeating a run returns its drafts."""
    for line in payload.suggestions:
        _warehouse_in_scope(request, line.warehouse_id)
    orders = services.create_draft_pos_from_suggestions(
        suggestions=[line.dict() for line in payload.suggestions],
        actor=acting_user(request),
        run_key=payload.run_key,
    )
    return list(
        PurchaseOrder.objects.filter(pk__in=[order.pk for order in orders])
        .select_related("supplier")
        .order_by("pk")
    )
