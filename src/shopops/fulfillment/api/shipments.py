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
from shopops.fulfillment.models import (
    Shipment,
)


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


class BulkShipItemIn(ShipIn):
    shipment_id: ObjectId


class BulkShipIn(Schema):
    items: list[BulkShipItemIn] = Field(..., min_length=1, max_length=MAX_ITEMS)


class BulkShipResultOut(Schema):
    shipment_id: int
    is_shipped: bool
    status: str
    code: str
    message: str
    warnings: list[str]


class BulkShipOut(Schema):
    shipped: int
    refused: int
    results: list[BulkShipResultOut]


@router.post("/shipments/bulk-ship", response={200: BulkShipOut, **ERROR_RESPONSES})
@requires(SHIP)
def bulk_ship_shipments(request: HttpRequest, payload: BulkShipIn) -> dict[str, Any]:
    """Ship many parcels, each in its own transaction; one result per item (a refusal never undoes others)."""
    visible = set(
        scoped_shipments(request)
        .filter(pk__in=[item.shipment_id for item in payload.items])
        .values_list("pk", flat=True)
    )
    results: list[dict[str, Any]] = []
    for item in payload.items:
        if item.shipment_id not in visible:
            results.append(
                {
                    "shipment_id": item.shipment_id,
                    "is_shipped": False,
                    "status": "",
                    "code": "not_found",
                    "message": "发货单不存在或不在您的权限范围内",
                    "warnings": [],
                }
            )
            continue
        (outcome,) = services.bulk_ship(
            actor=acting_user(request),
            items=[
                services.BulkShipItem(
                    shipment_id=item.shipment_id,
                    carrier=item.carrier,
                    tracking_number=item.tracking_number,
                    shipping_cost=item.shipping_cost,
                    shipped_at=item.shipped_at,
                )
            ],
            via="api",
        )
        results.append(
            {
                "shipment_id": outcome.shipment_id,
                "is_shipped": outcome.is_shipped,
                "status": outcome.shipment.status if outcome.shipment else "",
                "code": outcome.code,
                "message": outcome.message,
                "warnings": outcome.warnings,
            }
        )
    shipped = sum(1 for result in results if result["is_shipped"])
    return {"shipped": shipped, "refused": len(results) - shipped, "results": results}


# Declared last (see the package docstring): `{shipment_id}` would also match "/shipments/merge",
# "/shipments/tracking" and the other fixed paths.
@router.get("/shipments/{shipment_id}", response={200: ShipmentDetailOut, **ERROR_RESPONSES})
@requires(VIEW)
def get_shipment(request: HttpRequest, shipment_id: ObjectId) -> Shipment:
    """One parcel with its lines and tracking events."""
    return shipment_or_404(request, shipment_id)
