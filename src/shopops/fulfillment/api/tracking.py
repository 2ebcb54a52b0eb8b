"""Carriers, tracking scans pushed by carrier + tracking number, and delivery timeliness."""

import datetime as dt
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Query, Schema
from ninja.pagination import paginate

from shopops.core.api import (
    ERROR_RESPONSES,
    DateTimeIn,
    DateTimeOut,
    ObjectId,
    Pagination,
    PlainText,
    acting_user,
    requires,
)
from shopops.core.errors import DomainError, InvalidInput, NotFound
from shopops.fulfillment import queries, services
from shopops.fulfillment.api.common import (
    CHANGE,
    MAX_EVENTS,
    MAX_ITEMS,
    MAX_WINDOW_HOURS,
    VIEW,
    router,
    scoped_shipments,
)
from shopops.fulfillment.models import (
    Carrier,
)

# carriers


class CarrierOut(Schema):
    id: int
    code: str
    name: str
    aliases: list[str]
    kuaidi100_code: str
    kdniao_code: str
    tracking_pattern: str
    is_active: bool


@router.get("/carriers", response={200: list[CarrierOut], **ERROR_RESPONSES})
@requires(VIEW)
def list_carriers(request: HttpRequest) -> QuerySet[Carrier]:
    """Carriers with their 快递100 / 快递鸟 codes and tracking-number patterns (a mismatch only warns)."""
    return Carrier.objects.order_by("code")


# tracking


class TrackingEventIn(Schema):
    occurred_at: DateTimeIn
    state: PlainText = Field(
        ..., min_length=1, max_length=10, description="快递100 state code (3) or label (签收)"
    )
    description: PlainText = Field("", max_length=300)
    location: PlainText = Field("", max_length=100)


class ParcelTrackingIn(Schema):
    carrier: PlainText = Field("", max_length=40, description="Carrier code, name or 快递100/快递鸟 code")
    tracking_number: PlainText = Field(..., min_length=1, max_length=40)
    events: list[TrackingEventIn] = Field(..., min_length=1, max_length=MAX_EVENTS)


class TrackingPushIn(Schema):
    parcels: list[ParcelTrackingIn] = Field(..., min_length=1, max_length=MAX_ITEMS)
    source: PlainText = Field("api", max_length=20)


class ParcelTrackingOut(Schema):
    carrier: str
    tracking_number: str
    shipment_id: int | None
    created: int
    unchanged: int
    status: str
    has_problem: bool
    code: str
    message: str


class TrackingPushOut(Schema):
    created: int
    unchanged: int
    failed: int
    results: list[ParcelTrackingOut]


def _track_parcel(request: HttpRequest, parcel: ParcelTrackingIn, source: str) -> dict[str, Any]:
    outcome: dict[str, Any] = {
        "carrier": parcel.carrier,
        "tracking_number": parcel.tracking_number,
        "shipment_id": None,
        "created": 0,
        "unchanged": 0,
        "status": "",
        "has_problem": False,
        "code": "",
        "message": "",
    }
    try:
        found = services.find_shipment_by_tracking(parcel.carrier, parcel.tracking_number)
        if found is None or not scoped_shipments(request).filter(pk=found.pk).exists():
            raise NotFound(f"找不到运单号 {parcel.tracking_number} 的包裹")
        result = services.add_tracking_events(
            actor=acting_user(request),
            shipment_id=found.pk,
            events=[
                services.TrackingEventInput(
                    occurred_at=event.occurred_at,
                    state=event.state,
                    description=event.description,
                    location=event.location,
                )
                for event in parcel.events
            ],
            source=source,
            via="api",
        )
    except DomainError as error:
        outcome.update(code=error.code, message=error.message)
        return outcome
    outcome.update(
        shipment_id=result.shipment_id,
        created=result.created,
        unchanged=result.unchanged,
        status=result.status,
        has_problem=result.has_problem,
    )
    return outcome


@router.post("/shipments/tracking", response={200: TrackingPushOut, **ERROR_RESPONSES})
@requires(CHANGE)
def push_tracking_events(request: HttpRequest, payload: TrackingPushIn) -> dict[str, Any]:
    """Tracking scans for many parcels, keyed by carrier + tracking number; idempotent (a known scan is
    `unchanged`). 签收 makes the parcel (and, once all its parcels are signed, the order) delivered."""
    results = [_track_parcel(request, parcel, payload.source) for parcel in payload.parcels]
    return {
        "created": sum(result["created"] for result in results),
        "unchanged": sum(result["unchanged"] for result in results),
        "failed": sum(1 for result in results if result["code"]),
        "results": results,
    }


# timeliness


class AtRiskOrderOut(Schema):
    order_id: int
    external_id: str
    shop_id: int
    shop_name: str
    status: str
    paid_at: DateTimeOut
    deadline: DateTimeOut
    hours_left: float = Field(description="Negative: overdue by that many hours")
    is_overdue: bool
    unshipped_units: int


class AtRiskFilters(Schema):
    shop: ObjectId | None = None
    within_hours: int = Field(
        queries.DEFAULT_WARNING_HOURS,
        ge=0,
        le=MAX_WINDOW_HOURS,
        description="Warning window before the deadline",
    )


@router.get("/fulfillment/at-risk-orders", response={200: list[AtRiskOrderOut], **ERROR_RESPONSES})
@paginate(Pagination)
@requires(VIEW)
def list_orders_at_risk(request: HttpRequest, filters: Query[AtRiskFilters]) -> list[queries.AtRiskOrder]:
    """Paid orders not fully shipped whose shipping deadline (paid + the shop's ship_within_hours) is
    passed or within the window, soonest first."""
    return queries.orders_at_risk(
        within_hours=filters.within_hours, shop_id=filters.shop, user=acting_user(request)
    )


class DurationOut(Schema):
    count: int
    average_hours: float | None
    p50_hours: float | None
    p90_hours: float | None
    max_hours: float | None


class ShippingTimeOut(Schema):
    shop_id: int | None
    shop_name: str
    carrier_id: int | None
    carrier_name: str
    parcels: int
    paid_to_shipped: DurationOut
    shipped_to_delivered: DurationOut


class ShippingTimeFilters(Schema):
    since: DateTimeIn | None = Field(None, description="Default: 30 days ago")
    until: DateTimeIn | None = Field(None, description="Exclusive; default: now")
    shop: ObjectId | None = None
    carrier: ObjectId | None = None


@router.get("/fulfillment/shipping-times", response={200: list[ShippingTimeOut], **ERROR_RESPONSES})
@requires(VIEW)
def shipping_time_report(
    request: HttpRequest, filters: Query[ShippingTimeFilters]
) -> list[queries.ShippingTimeRow]:
    """发货时效 (paid → shipped) and 配送时效 (shipped → delivered) of parcels shipped in the period, per
    shop and carrier, with a last row over all; hours, nearest-rank median and 90th percentile."""
    until = filters.until or timezone.now()
    since = filters.since or until - dt.timedelta(days=30)
    if since >= until:
        raise InvalidInput("开始时间须早于结束时间", fields={"since": "须早于 until"})
    return queries.shipping_times(
        since=since, until=until, shop_id=filters.shop, carrier_id=filters.carrier, user=acting_user(request)
    )
