"""After-sales API: cases, their workflow, inspections, refunds and return-rate reports."""

import datetime as dt
import tempfile
from dataclasses import asdict
from decimal import Decimal
from typing import Annotated, Any, Literal

from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from shopops.aftersales import queries, services
from shopops.aftersales.models import (
    OPEN_CASE_STATUSES,
    AfterSaleCase,
    AfterSaleLine,
    CaseEvent,
    CaseKind,
    CaseStage,
    CaseStatus,
    Inspection,
    InspectionGrade,
    ReturnReason,
)
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
from shopops.core.scope import require_in_scope
from shopops.inventory.queries import require_warehouse_in_scope
from shopops.orders.api.read import DETAIL_SECTIONS
from shopops.orders.models import Order

router = Router(tags=["aftersales"])

MAX_UNITS = 2**31 - 1
MAX_LINES = 200
CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PositiveUnits = Annotated[int, Field(ge=1, le=MAX_UNITS)]
Units = Annotated[int, Field(ge=0, le=MAX_UNITS)]


def _case(request: HttpRequest, case_id: int) -> AfterSaleCase:
    return queries.case_in_scope(acting_user(request), case_id)


def _warehouse_in_scope(request: HttpRequest, warehouse_id: int | None) -> None:
    require_warehouse_in_scope(acting_user(request), warehouse_id)


# reasons


class ReasonOut(Schema):
    id: int
    code: str
    name: str
    parent_code: str | None
    is_quality: bool
    is_active: bool

    @staticmethod
    def resolve_parent_code(obj: ReturnReason) -> str | None:
        return obj.parent.code if obj.parent else None


@router.get("/aftersales/reasons", response={200: list[ReasonOut], **ERROR_RESPONSES})
@requires("aftersales.view_returnreason")
def list_reasons(request: HttpRequest) -> list[ReturnReason]:
    """The reason taxonomy (售后原因), two levels, in display order."""
    return list(ReturnReason.objects.select_related("parent").order_by("sort_order", "code"))


# cases


class InspectionOut(Schema):
    id: int
    grade: InspectionGrade
    quantity: int
    warehouse_id: int | None
    supplier_id: int | None
    claim_amount: MoneyOut
    note: str
    inspected_by_id: int | None
    inspected_at: DateTimeOut


class CaseLineOut(Schema):
    id: int
    order_line_id: int
    sku_id: int | None
    merchant_code: str
    quantity: int
    refund_amount: MoneyOut = Field(description="The share of the request (goods)")
    refunded_amount: MoneyOut
    received_quantity: int
    inspections: list[InspectionOut]

    @staticmethod
    def resolve_sku_id(obj: AfterSaleLine) -> int | None:
        return obj.order_line.sku_id

    @staticmethod
    def resolve_merchant_code(obj: AfterSaleLine) -> str:
        return obj.order_line.merchant_code

    @staticmethod
    def resolve_inspections(obj: AfterSaleLine) -> list[Inspection]:
        return list(obj.inspections.all())


class CaseEventOut(Schema):
    from_status: str = Field(description="Empty for the application")
    to_status: str
    actor_id: int | None
    actor_name: str
    via: str
    message: str
    created_at: DateTimeOut

    @staticmethod
    def resolve_actor_name(obj: CaseEvent) -> str:
        return obj.actor.get_username() if obj.actor is not None else "system"


class CaseOut(Schema):
    id: int
    shop_id: int
    order_id: int
    order_external_id: str
    external_id: str
    kind: CaseKind
    stage: CaseStage
    status: CaseStatus
    reason_code: str
    reason_name: str
    description: str
    requested_amount: MoneyOut
    refund_shipping: MoneyOut
    refunded_amount: MoneyOut
    refunded_shipping: MoneyOut
    return_carrier_id: int | None
    return_tracking_number: str
    return_warehouse_id: int | None
    replacement_warehouse_id: int | None
    replacement_carrier_id: int | None
    replacement_tracking_number: str
    replacement_reference: str
    decision_note: str
    sla_due_at: DateTimeOut | None = Field(description="Deadline of the current step (null: no timer)")
    is_overdue: bool
    applied_at: DateTimeOut
    decided_at: DateTimeOut | None
    received_at: DateTimeOut | None
    inspected_at: DateTimeOut | None
    refunded_at: DateTimeOut | None
    replacement_shipped_at: DateTimeOut | None
    closed_at: DateTimeOut | None
    handler_id: int | None

    @staticmethod
    def resolve_order_external_id(obj: AfterSaleCase) -> str:
        return obj.order.external_id

    @staticmethod
    def resolve_reason_code(obj: AfterSaleCase) -> str:
        return obj.reason.code

    @staticmethod
    def resolve_reason_name(obj: AfterSaleCase) -> str:
        return f"{obj.reason.parent.name} / {obj.reason.name}" if obj.reason.parent else obj.reason.name

    @staticmethod
    def resolve_is_overdue(obj: AfterSaleCase) -> bool:
        return bool(
            obj.status in OPEN_CASE_STATUSES
            and obj.sla_due_at is not None
            and obj.sla_due_at < timezone.now()
        )


class CaseDetailOut(CaseOut):
    lines: list[CaseLineOut]
    events: list[CaseEventOut] = Field(description="The timeline: every step, who, when and from where")

    @staticmethod
    def resolve_lines(obj: AfterSaleCase) -> list[AfterSaleLine]:
        return list(obj.lines.all())

    @staticmethod
    def resolve_events(obj: AfterSaleCase) -> list[CaseEvent]:
        return list(obj.events.all())


CASE_ORDERING = {"applied_at", "sla_due_at", "requested_amount", "id"}
CASE_DEFAULT_ORDERING = "-applied_at,-id"


class CaseFilters(Schema):
    status: CaseStatus | None = None
    kind: CaseKind | None = None
    shop: ObjectId | None = None
    order: ObjectId | None = None
    reason: PlainText | None = Field(
        None, max_length=40, description="Reason code; a group code includes its children"
    )
    overdue: bool | None = Field(
        None, description="true: open cases past their step's deadline; false: the others"
    )
    applied_from: DateIn | None = Field(None, description="Applied on or after this day (Asia/Shanghai)")
    applied_to: DateIn | None = Field(None, description="Applied on or before this day (Asia/Shanghai)")
    search: PlainText | None = Field(None, max_length=64, description="Order number or platform case number")
    ordering: PlainText | None = Field(
        None, max_length=200, description=ordering_description(CASE_ORDERING, CASE_DEFAULT_ORDERING)
    )


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=timezone.get_default_timezone())


def _filtered(cases: QuerySet[AfterSaleCase], filters: CaseFilters) -> QuerySet[AfterSaleCase]:
    exact = {
        "status": filters.status,
        "kind": filters.kind,
        "shop_id": filters.shop,
        "order_id": filters.order,
    }
    cases = cases.filter(**{key: value for key, value in exact.items() if value is not None})
    if filters.reason:
        cases = cases.filter(Q(reason__code=filters.reason) | Q(reason__parent__code=filters.reason))
    if filters.overdue is not None:
        overdue = AfterSaleCase.objects.overdue(timezone.now()).values("pk")
        cases = cases.filter(pk__in=overdue) if filters.overdue else cases.exclude(pk__in=overdue)
    if filters.applied_from:
        cases = cases.filter(applied_at__gte=_day_start(filters.applied_from))
    if filters.applied_to:
        cases = cases.filter(applied_at__lt=_day_start(filters.applied_to + dt.timedelta(days=1)))
    if filters.search:
        cases = cases.filter(Q(order__external_id=filters.search) | Q(external_id=filters.search))
    return cases


@router.get("/aftersales/cases", response={200: list[CaseOut], **ERROR_RESPONSES})
@paginate(Pagination)
@requires("aftersales.view_aftersalecase")
def list_cases(request: HttpRequest, filters: Query[CaseFilters]) -> QuerySet[AfterSaleCase]:
    """After-sales cases of the user's shops."""
    cases = AfterSaleCase.objects.for_user(acting_user(request)).select_related("order", "reason__parent")
    return apply_ordering(_filtered(cases, filters), filters.ordering, CASE_ORDERING, CASE_DEFAULT_ORDERING)


@router.get("/aftersales/cases/{case_id}", response={200: CaseDetailOut, **ERROR_RESPONSES})
@requires("aftersales.view_aftersalecase")
def get_case(request: HttpRequest, case_id: ObjectId) -> AfterSaleCase:
    """One case with its lines, inspections and timeline."""
    return _case(request, case_id)


class CaseLineIn(Schema):
    order_line_id: ObjectId
    units: PositiveUnits


class ApplyIn(Schema):
    order_id: ObjectId
    kind: CaseKind
    reason_code: PlainText = Field(..., min_length=1, max_length=40)
    lines: list[CaseLineIn] = Field(..., min_length=1, max_length=MAX_LINES)
    requested_amount: MoneyIn | None = Field(
        None, description="Default: the lines' paid share (discounts included)"
    )
    refund_shipping: MoneyIn = Decimal("0.00")
    description: PlainText = Field("", max_length=500)
    external_id: PlainText = Field(
        "", max_length=64, description="Platform case number (idempotent per shop)"
    )


@router.post("/aftersales/cases", response={201: CaseDetailOut, **ERROR_RESPONSES})
@requires("aftersales.add_aftersalecase")
def apply_case(request: HttpRequest, payload: ApplyIn) -> Status[AfterSaleCase]:
    """Open a case on an order of the user's shops (409 when units or money exceed what is left)."""
    require_in_scope(Order, acting_user(request), what="订单", field="order_id", pk=payload.order_id)
    units: dict[int, int] = {}
    for line in payload.lines:
        units[line.order_line_id] = units.get(line.order_line_id, 0) + line.units
    case = services.apply_case(
        actor=acting_user(request),
        order_id=payload.order_id,
        kind=payload.kind,
        reason_code=payload.reason_code,
        lines=units,
        requested_amount=payload.requested_amount,
        refund_shipping=payload.refund_shipping,
        description=payload.description,
        external_id=payload.external_id,
        via="api",
    )
    return Status(201, _case(request, case.pk))


class NoteIn(Schema):
    note: PlainText = Field("", max_length=300)


class ReasonIn(Schema):
    reason: PlainText = Field(..., min_length=1, max_length=300)


@router.post("/aftersales/cases/{case_id}/approve", response={200: CaseDetailOut, **ERROR_RESPONSES})
@requires("aftersales.approve_aftersalecase")
def approve_case(request: HttpRequest, case_id: ObjectId, payload: NoteIn) -> AfterSaleCase:
    """Agree (同意); returns and exchanges then wait for the buyer's parcel. Illegal steps answer 409."""
    _case(request, case_id)
    services.approve_case(actor=acting_user(request), case_id=case_id, note=payload.note, via="api")
    return _case(request, case_id)


@router.post("/aftersales/cases/{case_id}/reject", response={200: CaseDetailOut, **ERROR_RESPONSES})
@requires("aftersales.approve_aftersalecase")
def reject_case(request: HttpRequest, case_id: ObjectId, payload: ReasonIn) -> AfterSaleCase:
    """Refuse (拒绝) with a reason."""
    _case(request, case_id)
    services.reject_case(actor=acting_user(request), case_id=case_id, reason=payload.reason, via="api")
    return _case(request, case_id)


class TrackingIn(Schema):
    carrier_id: ObjectId | None = None
    tracking_number: PlainText = Field(..., min_length=1, max_length=40)


@router.post("/aftersales/cases/{case_id}/return-tracking", response={200: CaseDetailOut, **ERROR_RESPONSES})
@requires("aftersales.change_aftersalecase")
def set_return_tracking(request: HttpRequest, case_id: ObjectId, payload: TrackingIn) -> AfterSaleCase:
    """Record the buyer's return parcel (carrier + tracking number)."""
    _case(request, case_id)
    services.set_return_tracking(
        actor=acting_user(request),
        case_id=case_id,
        carrier_id=payload.carrier_id,
        tracking_number=payload.tracking_number,
        via="api",
    )
    return _case(request, case_id)


class ReceiveLineIn(Schema):
    line_id: ObjectId = Field(description="Case line id")
    units: Units


class ReceiveIn(Schema):
    warehouse_id: ObjectId
    lines: list[ReceiveLineIn] = Field(..., min_length=1, max_length=MAX_LINES)
    note: PlainText = Field("", max_length=300)


@router.post("/aftersales/cases/{case_id}/receive", response={200: CaseDetailOut, **ERROR_RESPONSES})
@requires("aftersales.inspect_aftersalecase")
def receive_return(request: HttpRequest, case_id: ObjectId, payload: ReceiveIn) -> AfterSaleCase:
    """The returned parcel arrived at a warehouse of the user's scope (stock moves at inspection)."""
    _case(request, case_id)
    _warehouse_in_scope(request, payload.warehouse_id)
    services.receive_return(
        actor=acting_user(request),
        case_id=case_id,
        lines={line.line_id: line.units for line in payload.lines},
        warehouse_id=payload.warehouse_id,
        note=payload.note,
        via="api",
    )
    return _case(request, case_id)


class InspectionIn(Schema):
    line_id: ObjectId = Field(description="Case line id")
    grade: InspectionGrade
    units: PositiveUnits
    warehouse_id: ObjectId | None = Field(
        None, description="A / scrap: default the receiving warehouse; B and supplier claims: a defective one"
    )
    supplier_id: ObjectId | None = Field(None, description="Supplier claims only")
    claim_amount: MoneyIn = Decimal("0.00")
    note: PlainText = Field("", max_length=300)


class InspectIn(Schema):
    results: list[InspectionIn] = Field(..., min_length=1, max_length=MAX_LINES)


@router.post("/aftersales/cases/{case_id}/inspect", response={200: CaseDetailOut, **ERROR_RESPONSES})
@requires("aftersales.inspect_aftersalecase")
def inspect_return(request: HttpRequest, case_id: ObjectId, payload: InspectIn) -> AfterSaleCase:
    """Grade every received unit (质量回检); each grade is a ledger row referenced to the case."""
    _case(request, case_id)
    for result in payload.results:
        _warehouse_in_scope(request, result.warehouse_id)
    services.inspect_return(
        actor=acting_user(request),
        case_id=case_id,
        results=[
            (
                result.line_id,
                result.grade,
                result.units,
                {
                    "warehouse_id": result.warehouse_id,
                    "supplier_id": result.supplier_id,
                    "claim_amount": result.claim_amount,
                    "note": result.note,
                },
            )
            for result in payload.results
        ],
        via="api",
    )
    return _case(request, case_id)


class RefundIn(Schema):
    amount: MoneyIn | None = Field(None, description="Default: the whole request (goods + shipping)")
    note: PlainText = Field("", max_length=300)


@router.post("/aftersales/cases/{case_id}/refund", response={200: CaseDetailOut, **ERROR_RESPONSES})
@requires("aftersales.refund_aftersalecase")
def refund_case(request: HttpRequest, case_id: ObjectId, payload: RefundIn) -> AfterSaleCase:
    """Pay the refund (partial allowed); 409 refund_too_large beyond the request or the order's paid − refunded."""
    _case(request, case_id)
    services.refund_case(
        actor=acting_user(request), case_id=case_id, amount=payload.amount, note=payload.note, via="api"
    )
    return _case(request, case_id)


class ReplacementIn(Schema):
    warehouse_id: ObjectId
    carrier_id: ObjectId | None = None
    tracking_number: PlainText = Field("", max_length=40)
    reference: PlainText = Field("", max_length=64, description="Parcel reference; default AS<case id>")


@router.post("/aftersales/cases/{case_id}/ship-replacement", response={200: CaseDetailOut, **ERROR_RESPONSES})
@requires("aftersales.change_aftersalecase")
def ship_replacement(request: HttpRequest, case_id: ObjectId, payload: ReplacementIn) -> AfterSaleCase:
    """Send the exchange / re-ship parcel: the units leave the warehouse (销售出库, referenced to the case)."""
    _case(request, case_id)
    _warehouse_in_scope(request, payload.warehouse_id)
    services.ship_replacement(actor=acting_user(request), case_id=case_id, via="api", **payload.dict())
    return _case(request, case_id)


@router.post("/aftersales/cases/{case_id}/close", response={200: CaseDetailOut, **ERROR_RESPONSES})
@requires("aftersales.change_aftersalecase")
def close_case(request: HttpRequest, case_id: ObjectId, payload: NoteIn) -> AfterSaleCase:
    """Close a finished case (refunded, replacement sent, rejected, or inspected without refund)."""
    _case(request, case_id)
    services.close_case(actor=acting_user(request), case_id=case_id, note=payload.note, via="api")
    return _case(request, case_id)


@router.post("/aftersales/cases/{case_id}/cancel", response={200: CaseDetailOut, **ERROR_RESPONSES})
@requires("aftersales.change_aftersalecase")
def cancel_case(request: HttpRequest, case_id: ObjectId, payload: NoteIn) -> AfterSaleCase:
    """The buyer withdrew the request (买家撤销): from applied, approved or awaiting return."""
    _case(request, case_id)
    services.cancel_case(actor=acting_user(request), case_id=case_id, reason=payload.note, via="api")
    return _case(request, case_id)


# reports


class RateRowOut(Schema):
    key: str
    label: str
    paid_orders: int
    refunded_orders: int
    refund_rate: Decimal | None = Field(description="refunded orders ÷ paid orders, 4 decimals")
    paid_amount: MoneyOut
    refunded_amount: MoneyOut
    refund_amount_rate: Decimal | None = Field(description="refunded amount ÷ paid amount, 4 decimals")
    units_sold: int
    units_returned: int
    return_rate: Decimal | None = Field(description="units returned ÷ units sold, 4 decimals")


class RateFilters(Schema):
    date_from: DateIn | None = Field(None, description="Default: 29 days before date_to (a 30-day window)")
    date_to: DateIn | None = Field(None, description="Inclusive; default today (Asia/Shanghai)")
    group_by: Literal["sku", "reason", "shop", "platform"] = "sku"
    shop: ObjectId | None = None
    format: Literal["json", "csv", "xlsx"] = Field(
        "json", description="csv / xlsx: the whole report as a file"
    )


def _file_extra(description: str) -> dict[str, Any]:
    return {
        "responses": {
            200: {
                "description": description,
                "content": {
                    CSV_CONTENT_TYPE: {"schema": {"type": "string"}},
                    XLSX_CONTENT_TYPE: {"schema": {"type": "string", "format": "binary"}},
                },
            }
        }
    }


@router.get(
    "/aftersales/reports/rates",
    response={200: list[RateRowOut], **ERROR_RESPONSES},
    openapi_extra=_file_extra("Refund and return rates (JSON, or CSV / XLSX with format)"),
)
@requires("aftersales.view_aftersalecase")
def report_rates(request: HttpRequest, filters: Query[RateFilters]) -> Any:
    """Refund rate (orders and amount) and return rate (units) by SKU, reason, shop or platform."""
    default_from, default_to = queries.default_period(filters.date_to)
    params = queries.RateParams(
        date_from=filters.date_from or default_from,
        date_to=filters.date_to or default_to,
        group_by=filters.group_by,
        shop_id=filters.shop,
    )
    if filters.format == "json":
        return [asdict(row) for row in queries.rates(params, user=acting_user(request))]
    with tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024) as buffer:
        queries.write_rates(params, user=acting_user(request), destination=buffer, file_format=filters.format)
        buffer.seek(0)
        content = buffer.read()
    content_type = CSV_CONTENT_TYPE if filters.format == "csv" else XLSX_CONTENT_TYPE
    response = HttpResponse(content, content_type=content_type)
    name = f"aftersales-rates-{params.group_by}-{params.date_from}-{params.date_to}.{filters.format}"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


class ClaimRowOut(Schema):
    inspection_id: int
    case_id: int
    shop_id: int
    order_external_id: str
    sku_id: int | None
    merchant_code: str
    supplier_id: int
    supplier_name: str
    units: int
    claim_amount: MoneyOut
    warehouse_id: int | None
    note: str
    inspected_at: DateTimeOut


class ClaimFilters(Schema):
    date_from: DateIn | None = Field(None, description="Default: 29 days before date_to")
    date_to: DateIn | None = Field(None, description="Inclusive; default today (Asia/Shanghai)")
    supplier: ObjectId | None = None


@router.get("/aftersales/reports/supplier-claims", response={200: list[ClaimRowOut], **ERROR_RESPONSES})
@requires("aftersales.view_inspection")
def report_supplier_claims(request: HttpRequest, filters: Query[ClaimFilters]) -> list[queries.ClaimRow]:
    """Returned units graded "supplier claim": what to claim from whom (a follow-up list)."""
    default_from, default_to = queries.default_period(filters.date_to)
    params = queries.ClaimParams(
        date_from=filters.date_from or default_from,
        date_to=filters.date_to or default_to,
        supplier_id=filters.supplier,
    )
    return queries.supplier_claims(params, user=acting_user(request))


def _order_cases(user: Any, order: Order) -> list[dict[str, Any]]:
    """The order detail's after-sales cases (registered below: orders cannot import aftersales)."""
    cases = order.aftersale_cases.select_related("reason", "order").order_by("applied_at", "pk")
    return [CaseOut.from_orm(case).model_dump(mode="json") for case in cases]


DETAIL_SECTIONS["aftersale_cases"] = _order_cases
