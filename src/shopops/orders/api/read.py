"""Orders API, read side: order search and detail, timeline, exception queue, saved filters, export."""

import tempfile
from collections.abc import Callable
from typing import Any, Literal

from django.db.models import QuerySet
from django.http import FileResponse, HttpRequest
from django.utils import timezone
from ninja import Field, Query, Schema, Status
from ninja.pagination import paginate

from shopops.channels.models import Platform
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
from shopops.core.pii import can_view_pii, mask, pii_fields, shown
from shopops.orders import queries
from shopops.orders.api.common import router
from shopops.orders.models import (
    IssueStatus,
    Order,
    OrderEvent,
    OrderIssue,
    OrderStatus,
    RefundStatus,
    ReviewStatus,
    SavedFilter,
)
from shopops.orders.queries import OrderSearch
from shopops.orders.services import filters as filter_services

EXPORT_CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
ORDER_ORDERING = {"placed_at", "paid_at", "shipped_at", "paid_amount", "external_id", "updated_at", "id"}
ORDER_DEFAULT_ORDERING = "-placed_at"


def _user(context: dict[str, Any]) -> Any:
    return context["request"].auth


# Personal data: every PII field of Order goes through `shown` (masked without core.view_pii).


class ShopRefOut(Schema):
    id: int
    code: str
    name: str
    platform: Platform


class OrderOut(Schema):
    id: int
    shop: ShopRefOut
    external_id: str
    order_type: str
    source: str
    status: OrderStatus
    platform_status: str
    refund_status: RefundStatus
    review_status: ReviewStatus
    is_valid: bool
    flag: int = Field(description="0 none, 1–5 flag colour (red, yellow, green, blue, purple)")
    currency: str
    paid_amount: MoneyOut
    refunded_amount: MoneyOut
    buyer_nick: str = Field(description="Masked (张**) unless the user holds core.view_pii")
    receiver_name: str = Field(description="Masked (张**) unless the user holds core.view_pii")
    receiver_phone: str = Field(description="Masked (138****1234) unless the user holds core.view_pii")
    receiver_province: str
    receiver_city: str
    receiver_district: str
    carrier_name: str
    tracking_number: str
    placed_at: DateTimeOut
    paid_at: DateTimeOut | None
    shipped_at: DateTimeOut | None

    @staticmethod
    def resolve_buyer_nick(obj: Order, context: dict[str, Any]) -> Any:
        return shown(_user(context), obj, "buyer_nick")

    @staticmethod
    def resolve_receiver_name(obj: Order, context: dict[str, Any]) -> Any:
        return shown(_user(context), obj, "receiver_name")

    @staticmethod
    def resolve_receiver_phone(obj: Order, context: dict[str, Any]) -> Any:
        return shown(_user(context), obj, "receiver_phone")


class OrderLineOut(Schema):
    id: int
    line_no: int
    external_line_id: str
    sku_id: int | None
    merchant_code: str
    title: str
    spec: str
    quantity: int
    unit_price: MoneyOut
    discount: MoneyOut
    amount: MoneyOut
    shipped_quantity: int
    refunded_quantity: int
    refunded_amount: MoneyOut
    platform_status: str
    is_gift: bool


def _masked_changes(user: Any, changes: Any) -> Any:
    """Timeline changes name order fields; values of personal-data fields are masked like the fields."""
    if not isinstance(changes, dict) or can_view_pii(user):
        return changes
    kinds = pii_fields(Order)
    masked: dict[str, Any] = {}
    for name, value in changes.items():
        kind = kinds.get(name)
        if kind is None:
            masked[name] = value
        elif isinstance(value, list):
            masked[name] = [mask(kind, item) for item in value]
        else:
            masked[name] = mask(kind, value)
    return masked


class OrderEventOut(Schema):
    id: int
    kind: str
    from_status: str
    to_status: str
    actor: str = Field(description="Username of who did it; empty for the system")
    via: str
    message: str
    changes: dict[str, Any]
    created_at: DateTimeOut

    @staticmethod
    def resolve_actor(obj: OrderEvent) -> str:
        return obj.actor.get_username() if obj.actor else ""

    @staticmethod
    def resolve_changes(obj: OrderEvent, context: dict[str, Any]) -> Any:
        return _masked_changes(_user(context), obj.changes) if isinstance(obj.changes, dict) else {}


class OrderIssueOut(Schema):
    id: int
    order_id: int
    rule: str
    message: str
    marks_invalid: bool
    status: IssueStatus
    created_at: DateTimeOut
    resolved_at: DateTimeOut | None
    resolution: str


class QueueIssueOut(OrderIssueOut):
    order_external_id: str
    shop_id: int
    shop_name: str

    @staticmethod
    def resolve_order_external_id(obj: OrderIssue) -> str:
        return obj.order.external_id

    @staticmethod
    def resolve_shop_id(obj: OrderIssue) -> int:
        return obj.order.shop_id

    @staticmethod
    def resolve_shop_name(obj: OrderIssue) -> str:
        return obj.order.shop.name


class OrderDetailOut(OrderOut):
    buyer_id: str = Field(
        description="Masked (张**) unless the user holds core.view_pii; an e-mail or phone id is stored hashed"
    )
    buyer_email: str = Field(description="Masked (d***@x.com) unless the user holds core.view_pii")
    receiver_address: str = Field(description="Detail address, masked unless the user holds core.view_pii")
    receiver_postcode: str
    receiver_country: str
    customer_id: int | None
    is_test: bool
    goods_amount: MoneyOut
    shipping_fee: MoneyOut
    shop_discount: MoneyOut
    platform_discount: MoneyOut
    merchant_received: MoneyOut
    stock_state: str
    warehouse_id: int | None
    delivered_at: DateTimeOut | None
    completed_at: DateTimeOut | None
    cancelled_at: DateTimeOut | None
    pay_deadline: DateTimeOut | None
    close_reason: str
    buyer_message: str
    seller_memo: str
    tags: list[Any]
    created_at: DateTimeOut
    updated_at: DateTimeOut
    lines: list[OrderLineOut]
    events: list[OrderEventOut]
    open_issues: list[OrderIssueOut]
    shipments: list[dict[str, Any]] = Field(
        [], description="Parcels of this order (filled by the fulfillment app when installed)"
    )
    aftersale_cases: list[dict[str, Any]] = Field(
        [], description="After-sales cases of this order (filled by the after-sales app when installed)"
    )

    @staticmethod
    def resolve_buyer_id(obj: Order, context: dict[str, Any]) -> Any:
        return shown(_user(context), obj, "buyer_id")

    @staticmethod
    def resolve_buyer_email(obj: Order, context: dict[str, Any]) -> Any:
        return shown(_user(context), obj, "buyer_email")

    @staticmethod
    def resolve_receiver_address(obj: Order, context: dict[str, Any]) -> Any:
        return shown(_user(context), obj, "receiver_address")

    @staticmethod
    def resolve_tags(obj: Order) -> list[Any]:
        return obj.tags if isinstance(obj.tags, list) else []

    @staticmethod
    def resolve_shipments(obj: Order) -> list[dict[str, Any]]:
        return getattr(obj, "sections", {}).get("shipments", [])

    @staticmethod
    def resolve_aftersale_cases(obj: Order) -> list[dict[str, Any]]:
        return getattr(obj, "sections", {}).get("aftersale_cases", [])


# The extension point of the order detail: a higher app (fulfillment, aftersales) registers a builder
# here — `DETAIL_SECTIONS["shipments"] = build` with build(user, order) -> list of JSON-ready dicts —
# without this module importing it (apps depend one way). `build_order_detail` runs them all.
DETAIL_SECTIONS: dict[str, Callable[[Any, Order], list[dict[str, Any]]]] = {}


def build_order_detail(user: Any, order_id: int) -> Order:
    """Everything the order detail shows: the order with lines, timeline, open issues and the sections."""
    order = queries.order_detail(user, order_id)
    order.sections = {name: build(user, order) for name, build in DETAIL_SECTIONS.items()}  # type: ignore[attr-defined]
    return order


class OrderFilters(Schema):
    q: PlainText | None = Field(
        None, max_length=100, description="Order no, platform buyer id or nick, or tracking number (exact)"
    )
    phone: PlainText | None = Field(
        None,
        max_length=40,
        description=(
            "Receiver mobile: the full 11 digits (exact, by keyed hash), or the last 4 / a masked number "
            "(138****5678) together with q, or with shop_id and a placed/paid/shipped range of at most 31 days "
            "(else 422 phone_search_too_broad). Every phone search counts against the user's phone-search "
            "budget (PHONE_SEARCH_RATE_LIMIT, shared by all their tokens and the session; 429 "
            "phone_search_rate_limited with Retry-After)"
        ),
    )
    sku: PlainText | None = Field(None, max_length=64, description="Merchant code or SKU id of a line")
    status: list[OrderStatus] | None = Field(None, description="Repeatable: status=paid&status=shipped")
    refund_status: RefundStatus | None = None
    review_status: ReviewStatus | None = None
    is_valid: bool | None = None
    shop_id: ObjectId | None = None
    platform: Platform | None = None
    placed_from: DateIn | None = Field(None, description="Business day in Asia/Shanghai, inclusive")
    placed_to: DateIn | None = Field(None, description="Business day in Asia/Shanghai, inclusive")
    paid_from: DateIn | None = None
    paid_to: DateIn | None = None
    shipped_from: DateIn | None = None
    shipped_to: DateIn | None = None
    amount_min: MoneyIn | None = Field(None, description="Paid amount at least")
    amount_max: MoneyIn | None = Field(None, description="Paid amount at most")
    flag: int | None = Field(None, ge=0, le=5)
    has_open_issues: bool | None = None
    saved_filter: ObjectId | None = Field(
        None, description="Start from a saved filter; the other parameters given override its values"
    )


class OrderListFilters(OrderFilters):
    ordering: PlainText | None = Field(
        None, max_length=200, description=ordering_description(ORDER_ORDERING, ORDER_DEFAULT_ORDERING)
    )


class OrderExportFilters(OrderFilters):
    format: Literal["csv", "xlsx"] = "csv"


def search_from(user: Any, filters: OrderFilters) -> OrderSearch:
    """The request's parameters over the saved filter's (if one is named), validated as one search."""
    base = queries.saved_search(user, filters.saved_filter).to_dict() if filters.saved_filter else {}
    given = filters.dict(exclude_none=True, exclude={"saved_filter", "ordering", "format"})
    if "status" in given:
        given["status"] = [str(value) for value in given["status"]]
    if "phone" in given:  # a phone given replaces the saved one, which may be kept as its hash
        base.pop("phone_hash", None)
    return OrderSearch.from_dict({**base, **given})


@router.get("/orders", response={200: list[OrderOut], **ERROR_RESPONSES})
@paginate(Pagination)
@requires("orders.view_order")
def list_orders(request: HttpRequest, filters: Query[OrderListFilters]) -> QuerySet[Order]:
    """Search orders in the user's shops; personal data masked without core.view_pii; phone searches limited."""
    user = acting_user(request)
    orders = queries.search_orders(user, search_from(user, filters))
    return apply_ordering(orders, filters.ordering, ORDER_ORDERING, ORDER_DEFAULT_ORDERING)


@router.get(
    "/orders/export",
    response={200: None, **ERROR_RESPONSES},
    openapi_extra={
        "responses": {
            200: {
                "description": "The file, one row per order; personal data masked without core.view_pii",
                "content": {
                    content_type.split(";")[0]: {"schema": {"type": "string", "format": "binary"}}
                    for content_type in EXPORT_CONTENT_TYPES.values()
                },
            }
        }
    },
)
@requires("orders.export_order")
def export_orders(request: HttpRequest, filters: Query[OrderExportFilters]) -> FileResponse:
    """Download the orders matching the filters as CSV or XLSX (audited as order.exported)."""
    user = acting_user(request)
    search = search_from(user, filters)
    # spooled: small exports stay in memory, large ones go to a temporary file streamed back
    buffer = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)
    try:
        filter_services.export_orders(
            actor=user, destination=buffer, file_format=filters.format, params=search
        )
    except BaseException:
        buffer.close()
        raise
    buffer.seek(0)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return FileResponse(
        buffer,
        as_attachment=True,
        filename=f"orders-{stamp}.{filters.format}",
        content_type=EXPORT_CONTENT_TYPES[filters.format],
    )


@router.get("/orders/{order_id}", response={200: OrderDetailOut, **ERROR_RESPONSES})
@requires("orders.view_order")
def get_order(request: HttpRequest, order_id: ObjectId) -> Order:
    """One order with lines, amounts, timeline and open review issues."""
    return build_order_detail(acting_user(request), order_id)


@router.get("/orders/{order_id}/events", response={200: list[OrderEventOut], **ERROR_RESPONSES})
@paginate(Pagination)
@requires("orders.view_order")
def list_order_events(request: HttpRequest, order_id: ObjectId) -> QuerySet[OrderEvent]:
    """The order's timeline, oldest first: who did what, when, why and from where."""
    return queries.order_events(acting_user(request), order_id)


class IssueFilters(Schema):
    status: IssueStatus | None = Field(IssueStatus.OPEN, description="Default: open")
    rule: PlainText | None = Field(None, max_length=40)
    shop_id: ObjectId | None = None


@router.get("/order-issues", response={200: list[QueueIssueOut], **ERROR_RESPONSES})
@paginate(Pagination)
@requires("orders.view_orderissue")
def list_order_issues(request: HttpRequest, filters: Query[IssueFilters]) -> QuerySet[OrderIssue]:
    """The exception queue (审单异常): open review issues first, oldest first."""
    return queries.exception_queue(
        acting_user(request),
        status=filters.status or "",
        rule=filters.rule or "",
        shop_id=filters.shop_id,
    )


# saved filters


class SavedFilterOut(Schema):
    id: int
    name: str
    params: dict[str, Any] = Field(
        description="The /orders parameters; a full phone is kept only as `phone_hash`. Personal values "
        "(q, phone) are masked for everyone but the owner and holders of core.view_pii"
    )
    is_shared: bool
    owner: str
    is_own: bool
    created_at: DateTimeOut

    @staticmethod
    def resolve_params(obj: SavedFilter, context: dict[str, Any]) -> dict[str, Any]:
        return queries.saved_params_shown(_user(context), obj)

    @staticmethod
    def resolve_owner(obj: SavedFilter) -> str:
        return obj.owner.get_username()

    @staticmethod
    def resolve_is_own(obj: SavedFilter, context: dict[str, Any]) -> bool:
        return bool(obj.owner_id == getattr(_user(context), "pk", None))


class SavedFilterIn(Schema):
    name: PlainText = Field(..., min_length=1, max_length=60)
    params: dict[str, Any] = Field(
        default_factory=dict, description='The /orders filter parameters, e.g. {"status": ["paid"]}'
    )
    is_shared: bool = False


class SavedFilterUpdateIn(Schema):
    name: PlainText | None = Field(None, min_length=1, max_length=60)
    params: dict[str, Any] | None = None
    is_shared: bool | None = None


@router.get("/saved-filters", response={200: list[SavedFilterOut], **ERROR_RESPONSES})
@paginate(Pagination)
@requires("orders.view_savedfilter")
def list_saved_filters(request: HttpRequest) -> QuerySet[SavedFilter]:
    """The user's saved order filters and the ones shared with the team."""
    return queries.saved_filters_for(acting_user(request)).order_by("name", "pk")


@router.get("/saved-filters/{filter_id}", response={200: SavedFilterOut, **ERROR_RESPONSES})
@requires("orders.view_savedfilter")
def get_saved_filter(request: HttpRequest, filter_id: ObjectId) -> SavedFilter:
    """One saved filter (own or shared)."""
    return queries.saved_filter_for(acting_user(request), filter_id)


@router.post("/saved-filters", response={201: SavedFilterOut, **ERROR_RESPONSES})
@requires("orders.add_savedfilter")
def create_saved_filter(request: HttpRequest, payload: SavedFilterIn) -> Status[SavedFilter]:
    """Save an order search under a name (audited as saved_filter.created)."""
    saved = filter_services.create_saved_filter(
        actor=acting_user(request), name=payload.name, params=payload.params, is_shared=payload.is_shared
    )
    return Status(201, saved)


@router.patch("/saved-filters/{filter_id}", response={200: SavedFilterOut, **ERROR_RESPONSES})
@requires("orders.change_savedfilter")
def update_saved_filter(
    request: HttpRequest, filter_id: ObjectId, payload: SavedFilterUpdateIn
) -> SavedFilter:
    """Rename, change the parameters of, or (un)share one's own saved filter."""
    return filter_services.update_saved_filter(
        actor=acting_user(request),
        filter_id=filter_id,
        name=payload.name,
        params=payload.params,
        is_shared=payload.is_shared,
    )


@router.delete("/saved-filters/{filter_id}", response={204: None, **ERROR_RESPONSES})
@requires("orders.delete_savedfilter")
def delete_saved_filter(request: HttpRequest, filter_id: ObjectId) -> Status[None]:
    """Delete one's own saved filter (audited as saved_filter.deleted)."""
    filter_services.delete_saved_filter(actor=acting_user(request), filter_id=filter_id)
    return Status(204, None)
