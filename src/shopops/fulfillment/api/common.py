"""Shared pieces of the fulfillment API: the router, parcel schemas and scope checks."""

from typing import Annotated

from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest
from ninja import Field, Router, Schema

from shopops.core.api import (
    DateTimeIn,
    DateTimeOut,
    MoneyOut,
    ObjectId,
    PlainText,
    acting_user,
    ordering_description,
)
from shopops.core.errors import NotFound
from shopops.core.scope import get_in_scope, require_all_in_scope
from shopops.fulfillment.models import (
    Shipment,
    ShipmentLine,
    ShipmentSource,
    ShipmentStatus,
    TrackingEvent,
    TrackingState,
)
from shopops.inventory import queries as inventory_queries
from shopops.orders.models import Order, OrderLine

router = Router(tags=["fulfillment"])

VIEW = "fulfillment.view_shipment"
CHANGE = "fulfillment.change_shipment"
SHIP = "fulfillment.ship_shipment"
MAX_UNITS = 2**31 - 1
MAX_ITEMS = 500
MAX_EVENTS = 200
MAX_WINDOW_HOURS = 24 * 30
Units = Annotated[int, Field(ge=1, le=MAX_UNITS)]

# shipments


class ShipmentLineOut(Schema):
    id: int
    order_line_id: int
    order_id: int
    merchant_code: str
    title: str
    quantity: int

    @staticmethod
    def resolve_order_id(obj: ShipmentLine) -> int:
        return obj.order_line.order_id

    @staticmethod
    def resolve_merchant_code(obj: ShipmentLine) -> str:
        return obj.order_line.merchant_code

    @staticmethod
    def resolve_title(obj: ShipmentLine) -> str:
        return obj.order_line.title


class TrackingEventOut(Schema):
    id: int
    occurred_at: DateTimeOut
    state: TrackingState
    state_label: str
    description: str
    location: str
    source: str

    @staticmethod
    def resolve_state_label(obj: TrackingEvent) -> str:
        return str(obj.get_state_display())


class ShipmentOut(Schema):
    id: int
    shop_id: int
    warehouse_id: int
    carrier_id: int | None
    carrier_name: str
    tracking_number: str
    status: ShipmentStatus
    source: ShipmentSource
    order_ids: list[int]
    shipping_cost: MoneyOut
    weight_grams: int | None
    tracking_state: str
    has_problem: bool
    problem_note: str
    warnings: list[str] = Field(description="Tracking-number format warnings (never a refusal)")
    note: str
    created_at: DateTimeOut
    picked_at: DateTimeOut | None
    packed_at: DateTimeOut | None
    shipped_at: DateTimeOut | None
    delivered_at: DateTimeOut | None

    @staticmethod
    def resolve_carrier_name(obj: Shipment) -> str:
        return obj.carrier.name if obj.carrier else ""

    @staticmethod
    def resolve_order_ids(obj: Shipment) -> list[int]:
        return sorted({line.order_line.order_id for line in obj.lines.all()})


class ShipmentDetailOut(ShipmentOut):
    lines: list[ShipmentLineOut]
    tracking_events: list[TrackingEventOut]

    @staticmethod
    def resolve_lines(obj: Shipment) -> list[ShipmentLine]:
        return list(obj.lines.all())

    @staticmethod
    def resolve_tracking_events(obj: Shipment) -> list[TrackingEvent]:
        return list(obj.tracking_events.all())


SHIPMENT_ORDERING = {"created_at", "shipped_at", "delivered_at", "status", "id"}
SHIPMENT_DEFAULT_ORDERING = "-created_at"


class ShipmentFilters(Schema):
    status: ShipmentStatus | None = None
    shop: ObjectId | None = None
    warehouse: ObjectId | None = None
    carrier: ObjectId | None = None
    order: ObjectId | None = Field(None, description="Parcels holding lines of this order")
    tracking_number: PlainText | None = Field(None, max_length=40)
    has_problem: bool | None = None
    source: ShipmentSource | None = None
    created_from: DateTimeIn | None = None
    created_to: DateTimeIn | None = Field(None, description="Exclusive")
    shipped_from: DateTimeIn | None = None
    shipped_to: DateTimeIn | None = Field(None, description="Exclusive")
    ordering: PlainText | None = Field(
        None,
        max_length=200,
        description=ordering_description(SHIPMENT_ORDERING, SHIPMENT_DEFAULT_ORDERING),
    )


def scoped_shipments(request: HttpRequest) -> QuerySet[Shipment]:
    return (
        Shipment.objects.for_user(acting_user(request))
        .select_related("carrier")
        .prefetch_related(Prefetch("lines", queryset=ShipmentLine.objects.select_related("order_line")))
    )


def filtered_shipments(shipments: QuerySet[Shipment], filters: ShipmentFilters) -> QuerySet[Shipment]:
    exact = {
        "status": filters.status,
        "shop_id": filters.shop,
        "warehouse_id": filters.warehouse,
        "carrier_id": filters.carrier,
        "tracking_number": filters.tracking_number,
        "has_problem": filters.has_problem,
        "source": filters.source,
        "created_at__gte": filters.created_from,
        "created_at__lt": filters.created_to,
        "shipped_at__gte": filters.shipped_from,
        "shipped_at__lt": filters.shipped_to,
    }
    shipments = shipments.filter(**{key: value for key, value in exact.items() if value is not None})
    if filters.order is not None:
        shipments = shipments.filter(
            pk__in=ShipmentLine.objects.filter(order_line__order_id=filters.order).values("shipment_id")
        )
    return shipments


def shipment_or_404(request: HttpRequest, shipment_id: int) -> Shipment:
    shipments = scoped_shipments(request).prefetch_related("tracking_events", "lines__order_line")
    return get_in_scope(shipments, acting_user(request), what="发货单", pk=shipment_id)


def require_orders_in_scope(request: HttpRequest, order_ids: set[int]) -> None:
    require_all_in_scope(Order, acting_user(request), order_ids, what="订单", field="order_ids")


def require_lines_in_scope(request: HttpRequest, line_ids: set[int]) -> None:
    order_ids = set(OrderLine.objects.filter(pk__in=line_ids).values_list("order_id", flat=True))
    found = OrderLine.objects.filter(pk__in=line_ids).count()
    if found != len(line_ids):
        raise NotFound("订单明细不存在", fields={"lines": "含不存在的明细"})
    require_orders_in_scope(request, order_ids)


def require_warehouse_in_scope(request: HttpRequest, warehouse_id: int | None) -> None:
    inventory_queries.require_warehouse_in_scope(acting_user(request), warehouse_id)
