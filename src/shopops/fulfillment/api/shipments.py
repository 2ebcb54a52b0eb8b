"""Parcels: list, detail, create, split, merge, pick / pack / ship / cancel, bulk ship."""

from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Field, Query, Schema, Status
from ninja.pagination import paginate

from shopops.core.api import (
    ERROR_RESPONSES,
    DateTimeIn,
    MoneyIn,
    ObjectId,
    Pagination,
    PlainText,
    acting_user,
    apply_ordering,
    requires,
)
from shopops.core.errors import InvalidInput
from shopops.fulfillment import queries, services
from shopops.fulfillment.api.common import (
    CHANGE,
    MAX_ITEMS,
    MAX_UNITS,
    SHIP,
    SHIPMENT_DEFAULT_ORDERING,
    SHIPMENT_ORDERING,
    VIEW,
    ShipmentDetailOut,
    ShipmentFilters,
    ShipmentOut,
    Units,
    filtered_shipments,
    require_lines_in_scope,
    require_orders_in_scope,
    require_warehouse_in_scope,
    router,
    scoped_shipments,
    shipment_or_404,
)
from shopops.fulfillment.models import Shipment, ShipmentStatus


@router.get("/shipments", response={200: list[ShipmentOut], **ERROR_RESPONSES})
@paginate(Pagination)
@requires(VIEW)
def list_shipments(request: HttpRequest, filters: Query[ShipmentFilters]) -> QuerySet[Shipment]:
    """Parcels of the shops the user may see; filters by status, shop, warehouse, carrier, order,
    tracking number, problem flag and dates."""
    shipments = filtered_shipments(scoped_shipments(request), filters)
    return apply_ordering(shipments, filters.ordering, SHIPMENT_ORDERING, SHIPMENT_DEFAULT_ORDERING)


class MergeGroupOut(Schema):
    shop_id: int
    order_ids: list[int]
    external_ids: list[str]


class MergeCandidateFilters(Schema):
    shop: ObjectId | None = None


@router.get("/shipments/merge-candidates", response={200: list[MergeGroupOut], **ERROR_RESPONSES})
@requires(VIEW)
def list_merge_candidates(
    request: HttpRequest, filters: Query[MergeCandidateFilters]
) -> list[queries.MergeGroup]:
    """Groups of open orders of one shop and one receiver that could leave in one parcel (合并发货)."""
    return queries.merge_candidates(shop_id=filters.shop, user=acting_user(request))


class ShipmentLineIn(Schema):
    order_line_id: ObjectId
    quantity: Units


class ShipmentIn(Schema):
    lines: list[ShipmentLineIn] = Field(..., min_length=1, max_length=MAX_ITEMS)
    warehouse_id: ObjectId | None = Field(None, description="Default: the warehouse holding the reservations")
    note: PlainText = Field("", max_length=300)


@router.post("/shipments", response={201: ShipmentDetailOut, **ERROR_RESPONSES})
@requires(CHANGE)
def create_shipment(request: HttpRequest, payload: ShipmentIn) -> Status[Shipment]:
    """Pack order lines into one parcel: one order, or several orders of one shop and one receiver."""
    lines: dict[int, int] = {}
    for line in payload.lines:
        if line.order_line_id in lines:
            raise InvalidInput("同一明细只能出现一次", fields={f"lines.{line.order_line_id}": "重复"})
        lines[line.order_line_id] = line.quantity
    require_lines_in_scope(request, set(lines))
    require_warehouse_in_scope(request, payload.warehouse_id)
    shipment = services.create_shipment(
        actor=acting_user(request),
        lines=lines,
        warehouse_id=payload.warehouse_id,
        note=payload.note,
        via="api",
    )
    return Status(201, shipment_or_404(request, shipment.pk))


class SplitIn(Schema):
    order_id: ObjectId
    by: str = Field("warehouse", pattern="^(warehouse|availability)$", description="warehouse | availability")


@router.post("/shipments/split", response={201: list[ShipmentOut], **ERROR_RESPONSES})
@requires(CHANGE)
def split_order_into_shipments(request: HttpRequest, payload: SplitIn) -> Status[list[Shipment]]:
    """Split what an order still has to ship into parcels: per warehouse, or what can go now vs the rest."""
    require_orders_in_scope(request, {payload.order_id})
    shipments = services.split_order(
        actor=acting_user(request), order_id=payload.order_id, by=payload.by, via="api"
    )
    return Status(
        201, list(scoped_shipments(request).filter(pk__in=[s.pk for s in shipments]).order_by("pk"))
    )


class MergeIn(Schema):
    order_ids: list[ObjectId] = Field(..., min_length=2, max_length=100)
    warehouse_id: ObjectId | None = None
    note: PlainText = Field("", max_length=300)


@router.post("/shipments/merge", response={201: ShipmentDetailOut, **ERROR_RESPONSES})
@requires(CHANGE)
def merge_orders_into_shipment(request: HttpRequest, payload: MergeIn) -> Status[Shipment]:
    """One parcel for everything several orders of the same receiver still have to ship (合并发货)."""
    require_orders_in_scope(request, set(payload.order_ids))
    require_warehouse_in_scope(request, payload.warehouse_id)
    shipment = services.merge_orders(
        actor=acting_user(request),
        order_ids=list(payload.order_ids),
        warehouse_id=payload.warehouse_id,
        note=payload.note,
        via="api",
    )
    return Status(201, shipment_or_404(request, shipment.pk))


@router.post("/shipments/{shipment_id}/pick", response={200: ShipmentDetailOut, **ERROR_RESPONSES})
@requires(CHANGE)
def pick_shipment(request: HttpRequest, shipment_id: ObjectId) -> Shipment:
    """Start picking the parcel (待拣货 → 拣货中)."""
    shipment_or_404(request, shipment_id)
    services.pick_shipment(actor=acting_user(request), shipment_id=shipment_id, via="api")
    return shipment_or_404(request, shipment_id)


@router.post("/shipments/{shipment_id}/pack", response={200: ShipmentDetailOut, **ERROR_RESPONSES})
@requires(CHANGE)
def pack_shipment(request: HttpRequest, shipment_id: ObjectId) -> Shipment:
    """The parcel is packed (→ 已打包)."""
    shipment_or_404(request, shipment_id)
    services.pack_shipment(actor=acting_user(request), shipment_id=shipment_id, via="api")
    return shipment_or_404(request, shipment_id)


class CancelIn(Schema):
    reason: PlainText = Field("", max_length=300)


@router.post("/shipments/{shipment_id}/cancel", response={200: ShipmentDetailOut, **ERROR_RESPONSES})
@requires(CHANGE)
def cancel_shipment(request: HttpRequest, shipment_id: ObjectId, payload: CancelIn) -> Shipment:
    """Cancel a parcel that has not left; its units may be packed again. No stock effect."""
    shipment_or_404(request, shipment_id)
    services.cancel_shipment(
        actor=acting_user(request), shipment_id=shipment_id, reason=payload.reason, via="api"
    )
    return shipment_or_404(request, shipment_id)


class ShipIn(Schema):
    carrier: PlainText = Field(..., min_length=1, max_length=40, description="Carrier id, code or name")
    tracking_number: PlainText = Field(..., min_length=1, max_length=40)
    shipping_cost: MoneyIn = Decimal("0.00")
    shipped_at: DateTimeIn | None = Field(None, description="Default: now")
    weight_grams: int | None = Field(None, ge=0, le=MAX_UNITS)


@router.post("/shipments/{shipment_id}/ship", response={200: ShipmentDetailOut, **ERROR_RESPONSES})
@requires(SHIP)
def ship_shipment(request: HttpRequest, shipment_id: ObjectId, payload: ShipIn) -> Shipment:
    """Confirm the parcel left (发货): stock is deducted through the ledger, orders move to (partially)
    shipped; tracking-number format problems come back as `warnings`, never as a refusal."""
    shipment_or_404(request, shipment_id)
    services.ship_shipment(
        actor=acting_user(request),
        shipment_id=shipment_id,
        carrier=payload.carrier,
        tracking_number=payload.tracking_number,
        shipping_cost=payload.shipping_cost,
        shipped_at=payload.shipped_at,
        weight_grams=payload.weight_grams,
        via="api",
    )
    return shipment_or_404(request, shipment_id)


class BulkShipItemIn(Schema):
    shipment_id: ObjectId
    carrier: PlainText = Field(..., min_length=1, max_length=40, description="Carrier id, code or name")
    tracking_number: PlainText = Field(
        "", max_length=40, description="Blank: the parcel is reported as left blank (not shipped)"
    )
    shipping_cost: MoneyIn = Decimal("0.00")
    shipped_at: DateTimeIn | None = Field(None, description="Default: now")


class BulkShipIn(Schema):
    items: list[BulkShipItemIn] = Field(..., min_length=1, max_length=MAX_ITEMS)


class BulkShipResultOut(Schema):
    shipment_id: int
    is_shipped: bool
    is_skipped: bool = Field(description="Left blank: no tracking number was given, nothing happened")
    status: ShipmentStatus | None = Field(
        description="The parcel's status after the attempt (null if not found)"
    )
    code: str = Field(
        description="Empty when shipped; tracking_number_missing when left blank; else the refusal"
    )
    message: str
    warnings: list[str]


class BulkShipOut(Schema):
    shipped: int
    skipped: int = Field(description="Items left blank (no tracking number)")
    refused: int
    results: list[BulkShipResultOut]


def _status_of(shipment_ids: list[int]) -> dict[int, str]:
    return dict(Shipment.objects.filter(pk__in=shipment_ids).values_list("pk", "status"))


@router.post("/shipments/bulk-ship", response={200: BulkShipOut, **ERROR_RESPONSES})
@requires(SHIP)
def bulk_ship_shipments(request: HttpRequest, payload: BulkShipIn) -> dict[str, Any]:
    """Ship many parcels, each in its own transaction; one result per item, in the order given (a refusal
    never undoes others). An item without a tracking number is reported as left blank, one outside the
    caller's scope as not_found; a refusal says why (e.g. the parcel's status)."""
    outcomes = services.bulk_ship(
        actor=acting_user(request),
        items=[
            services.BulkShipItem(
                shipment_id=item.shipment_id,
                carrier=item.carrier,
                tracking_number=item.tracking_number,
                shipping_cost=item.shipping_cost,
                shipped_at=item.shipped_at,
            )
            for item in payload.items
        ],
        via="api",
    )
    found = {o.shipment_id for o in outcomes if o.code != "not_found"}
    statuses = _status_of(sorted(found))
    results = [
        {
            "shipment_id": outcome.shipment_id,
            "is_shipped": outcome.is_shipped,
            "is_skipped": outcome.is_skipped,
            "status": statuses.get(outcome.shipment_id) if outcome.shipment_id in found else None,
            "code": outcome.code,
            "message": outcome.message,
            "warnings": outcome.warnings,
        }
        for outcome in outcomes
    ]
    return _counted(results)


def _counted(results: list[dict[str, Any]]) -> dict[str, Any]:
    shipped = sum(1 for result in results if result["is_shipped"])
    skipped = sum(1 for result in results if result["is_skipped"])
    return {
        "shipped": shipped,
        "skipped": skipped,
        "refused": len(results) - shipped - skipped,
        "results": results,
    }


class OrderShipItemIn(Schema):
    order_id: ObjectId
    tracking_number: PlainText = Field(
        "", max_length=40, description="Blank: the order is reported as left blank (not shipped)"
    )
    shipping_cost: MoneyIn = Decimal("0.00")


class ShipOrdersIn(Schema):
    carrier: PlainText = Field(..., min_length=1, max_length=40, description="Carrier id, code or name")
    warehouse_id: ObjectId | None = Field(None, description="Default: the warehouse holding the reservations")
    items: list[OrderShipItemIn] = Field(..., min_length=1, max_length=MAX_ITEMS)


class OrderShipResultOut(Schema):
    order_id: int
    order_number: str = Field(description="The platform order number (empty when not found)")
    is_shipped: bool
    is_skipped: bool = Field(description="Left blank: no tracking number was given, nothing happened")
    shipment_id: int | None
    code: str = Field(
        description="Empty when shipped; tracking_number_missing when left blank; open_parcel_exists when the "
        "order's units wait in an open parcel; else the refusal"
    )
    message: str
    warnings: list[str]


class ShipOrdersOut(Schema):
    shipped: int
    skipped: int
    refused: int
    results: list[OrderShipResultOut]


@router.post("/shipments/ship-orders", response={200: ShipOrdersOut, **ERROR_RESPONSES})
@requires(SHIP)
def ship_orders(request: HttpRequest, payload: ShipOrdersIn) -> dict[str, Any]:
    """订单发货: one new parcel per order with everything it still has to ship, shipped at once with the
    carrier and the order's tracking number; each order in its own transaction, one result per order."""
    require_warehouse_in_scope(request, payload.warehouse_id)
    outcomes = services.bulk_ship_orders(
        actor=acting_user(request),
        carrier=payload.carrier,
        items=[
            services.OrderShipItem(
                order_id=item.order_id, tracking_number=item.tracking_number, shipping_cost=item.shipping_cost
            )
            for item in payload.items
        ],
        warehouse_id=payload.warehouse_id,
        via="api",
    )
    return _counted(
        [
            {
                "order_id": outcome.order_id,
                "order_number": outcome.order_number,
                "is_shipped": outcome.is_shipped,
                "is_skipped": outcome.is_skipped,
                "shipment_id": outcome.shipment.pk if outcome.shipment else None,
                "code": outcome.code,
                "message": outcome.message,
                "warnings": outcome.warnings,
            }
            for outcome in outcomes
        ]
    )


# Declared last (see the package docstring): `{shipment_id}` would also match "/shipments/merge",
# "/shipments/tracking" and the other fixed paths.
@router.get("/shipments/{shipment_id}", response={200: ShipmentDetailOut, **ERROR_RESPONSES})
@requires(VIEW)
def get_shipment(request: HttpRequest, shipment_id: ObjectId) -> Shipment:
    """One parcel with its lines and tracking events."""
    return shipment_or_404(request, shipment_id)
