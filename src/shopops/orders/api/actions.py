"""Orders API, write side: create (own web shop, Idempotency-Key), transitions, cancel, memo, review, issues.

Idempotency-Key (required on POST /orders, at most 64 characters): the first request with a key runs
and its answer is stored (core.IdempotencyRecord, per user and operation). A retry with the same key
and the same body gets the stored answer again, with the same status code (201) and the header
`Idempotent-Replayed: true`; the same key with a different body is refused with 409
`idempotency_key_reused`. A request that failed (4xx) stores nothing, so it may be retried as is.
"""

from decimal import Decimal
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Field, Header, Schema

from shopops.channels import queries as channel_queries
from shopops.channels.models import Platform
from shopops.core.api import (
    ERROR_RESPONSES,
    DateTimeIn,
    DateTimeOut,
    MoneyIn,
    MoneyOut,
    ObjectId,
    PlainText,
    acting_user,
    idempotency_key,
    requires,
    run_idempotent,
)
from shopops.core.errors import InvalidInput
from shopops.core.pii import shown
from shopops.orders import queries, services
from shopops.orders.api.common import router
from shopops.orders.models import (
    IssueStatus,
    Order,
    OrderIssue,
    OrderStatus,
    OrderType,
    RefundStatus,
    ReviewStatus,
    StockState,
)
from shopops.orders.services.inputs import LineInput, OrderInput

CREATE_SCOPE = "orders.create"
MAX_QUANTITY = 100_000


class OrderWrittenOut(Schema):
    """The order after a write: status, review and amounts; receiver fields masked by policy."""

    id: int
    shop_id: int
    external_id: str
    order_type: OrderType
    status: OrderStatus
    refund_status: RefundStatus
    review_status: ReviewStatus
    stock_state: StockState
    is_valid: bool
    flag: int
    seller_memo: str
    goods_amount: MoneyOut
    shipping_fee: MoneyOut
    shop_discount: MoneyOut
    platform_discount: MoneyOut
    paid_amount: MoneyOut
    refunded_amount: MoneyOut
    receiver_name: str = Field(description="Masked (张**) unless the user holds core.view_pii")
    receiver_phone: str = Field(description="Masked (138****1234) unless the user holds core.view_pii")
    receiver_address: str = Field(description="Masked after the district unless the user holds core.view_pii")
    placed_at: DateTimeOut
    paid_at: DateTimeOut | None
    pay_deadline: DateTimeOut | None

    @staticmethod
    def resolve_receiver_name(obj: Order, context: dict[str, Any]) -> Any:
        return shown(context["request"].auth, obj, "receiver_name")

    @staticmethod
    def resolve_receiver_phone(obj: Order, context: dict[str, Any]) -> Any:
        return shown(context["request"].auth, obj, "receiver_phone")

    @staticmethod
    def resolve_receiver_address(obj: Order, context: dict[str, Any]) -> Any:
        return shown(context["request"].auth, obj, "receiver_address")


class LineIn(Schema):
    sku_id: ObjectId | None = Field(None, description="The SKU; or give merchant_code")
    merchant_code: PlainText = Field("", max_length=64, description="商家编码, used when sku_id is absent")
    quantity: int = Field(..., ge=1, le=MAX_QUANTITY)
    unit_price: MoneyIn
    discount: MoneyIn = Field(default=Decimal("0.00"), description="This line's share of discounts")
    title: PlainText = Field("", max_length=200)


class OrderCreateIn(Schema):
    shop_id: ObjectId = Field(..., description="An own web shop (platform own) in the user's scope")
    external_id: PlainText = Field(
        ..., min_length=1, max_length=64, description="The web shop's order number"
    )
    status: OrderStatus = Field(OrderStatus.PENDING_PAYMENT, description="pending_payment or paid")
    order_type: OrderType = OrderType.NORMAL
    placed_at: DateTimeIn | None = Field(None, description="Default: now")
    paid_at: DateTimeIn | None = None
    lines: list[LineIn] = Field(..., min_length=1, max_length=200)
    shipping_fee: MoneyIn = Field(default=Decimal("0.00"))
    shop_discount: MoneyIn = Field(
        default=Decimal("0.00"), description="Split over the lines when they carry no discount"
    )
    buyer_id: PlainText = Field("", max_length=100)
    buyer_nick: PlainText = Field("", max_length=100)
    buyer_email: PlainText = Field("", max_length=200)
    buyer_message: PlainText = Field("", max_length=500)
    receiver_name: PlainText = Field("", max_length=100)
    receiver_phone: PlainText = Field("", max_length=40)
    receiver_province: PlainText = Field("", max_length=30)
    receiver_city: PlainText = Field("", max_length=30)
    receiver_district: PlainText = Field("", max_length=30)
    receiver_address: PlainText = Field("", max_length=300)
    receiver_postcode: PlainText = Field("", max_length=10)


class TransitionIn(Schema):
    to_status: OrderStatus
    reason: PlainText = Field("", max_length=200)


class CancelIn(Schema):
    reason: PlainText = Field(..., min_length=1, max_length=200)


class MemoIn(Schema):
    seller_memo: PlainText | None = Field(None, max_length=500)
    flag: int | None = Field(None, ge=0, le=5, description="0 none, 1–5 flag colour")


class ReviewOut(Schema):
    order: OrderWrittenOut
    open_issues: list[str] = Field(description="Rule codes of the order's open review issues")


class ResolveIn(Schema):
    resolution: PlainText = Field(..., min_length=1, max_length=300)
    mark_invalid: bool = Field(..., description="True: the finding is confirmed and the order is invalid")


class IgnoreIn(Schema):
    reason: PlainText = Field("", max_length=300)


class IssueWrittenOut(Schema):
    id: int
    order_id: int
    rule: str
    message: str
    marks_invalid: bool
    status: IssueStatus
    resolution: str
    resolved_at: DateTimeOut | None


def _order_in_scope(request: HttpRequest, order_id: int) -> Order:
    return queries.order_in_scope(acting_user(request), order_id)


def _issue_in_scope(request: HttpRequest, issue_id: int) -> OrderIssue:
    return queries.issue_in_scope(acting_user(request), issue_id)


def _serialized(request: HttpRequest, order: Order) -> dict[str, Any]:
    return OrderWrittenOut.model_validate(order, context={"request": request}).model_dump(mode="json")


def _order_input(payload: OrderCreateIn) -> OrderInput:
    paid_at = payload.paid_at
    placed_at = payload.placed_at or timezone.now()
    if payload.status not in (OrderStatus.PENDING_PAYMENT, OrderStatus.PAID):
        raise InvalidInput("新订单只能是待付款或已付款", fields={"status": "pending_payment 或 paid"})
    if payload.status == OrderStatus.PAID and paid_at is None:
        paid_at = placed_at
    return OrderInput(
        external_id=payload.external_id,
        placed_at=placed_at,
        status=payload.status,
        order_type=payload.order_type,
        lines=[
            LineInput(
                quantity=line.quantity,
                unit_price=line.unit_price,
                sku_id=line.sku_id,
                merchant_code=line.merchant_code,
                discount=line.discount,
                title=line.title,
            )
            for line in payload.lines
        ],
        paid_at=paid_at,
        shipping_fee=payload.shipping_fee,
        shop_discount=payload.shop_discount,
        buyer_id=payload.buyer_id,
        buyer_nick=payload.buyer_nick,
        buyer_email=payload.buyer_email,
        buyer_message=payload.buyer_message,
        receiver_name=payload.receiver_name,
        receiver_phone=payload.receiver_phone,
        receiver_province=payload.receiver_province,
        receiver_city=payload.receiver_city,
        receiver_district=payload.receiver_district,
        receiver_address=payload.receiver_address,
        receiver_postcode=payload.receiver_postcode,
    )


@router.post("/orders", response={200: OrderWrittenOut, 201: OrderWrittenOut, **ERROR_RESPONSES})
@requires("orders.change_order")
def create_order(
    request: HttpRequest,
    payload: OrderCreateIn,
    idempotency_key_header: str | None = Header(None, alias="Idempotency-Key", max_length=200),
) -> HttpResponse:
    """Create an order of the own web shop. 201 created; 200 when the shop already had this external id;
    a retry with the same Idempotency-Key and body replays the first answer (header Idempotent-Replayed)."""
    user = acting_user(request)
    key = idempotency_key(idempotency_key_header, required=True)

    def create() -> tuple[int, dict[str, Any], str]:
        shop = channel_queries.shop_in_scope(user, payload.shop_id, field="shop_id")
        if shop.platform != Platform.OWN:
            raise InvalidInput("只能通过接口为自营网店创建订单", fields={"shop_id": "须为自营网店"})
        existed = Order.objects.filter(shop=shop, external_id=payload.external_id.strip()).exists()
        order = services.create_order(actor=user, shop_id=shop.pk, data=_order_input(payload), via="api")
        return (200 if existed else 201), _serialized(request, order), str(order.pk)

    return run_idempotent(
        user=user, scope=CREATE_SCOPE, key=key, body=payload.model_dump(mode="json"), run=create
    )


@router.post("/orders/{order_id}/transitions", response={200: OrderWrittenOut, **ERROR_RESPONSES})
@requires("orders.change_order")
def transition_order(request: HttpRequest, order_id: ObjectId, payload: TransitionIn) -> Order:
    """Move the order to another status along the allowed transitions (others: 409 illegal_transition)."""
    order = _order_in_scope(request, order_id)
    return services.transition_order(
        actor=acting_user(request),
        order_id=order.pk,
        to_status=payload.to_status,
        reason=payload.reason,
        via="api",
    )


@router.post("/orders/{order_id}/cancel", response={200: OrderWrittenOut, **ERROR_RESPONSES})
@requires("orders.change_order")
def cancel_order(request: HttpRequest, order_id: ObjectId, payload: CancelIn) -> Order:
    """Cancel an unpaid order or close a paid, unshipped one; reserved stock is released."""
    order = _order_in_scope(request, order_id)
    return services.cancel_order(
        actor=acting_user(request), order_id=order.pk, reason=payload.reason, via="api"
    )


@router.patch("/orders/{order_id}/memo", response={200: OrderWrittenOut, **ERROR_RESPONSES})
@requires("orders.change_order")
def update_memo(request: HttpRequest, order_id: ObjectId, payload: MemoIn) -> Order:
    """Change the seller memo (卖家备注) and/or the flag (旗帜)."""
    order = _order_in_scope(request, order_id)
    return services.update_order_memo(
        actor=acting_user(request),
        order_id=order.pk,
        seller_memo=payload.seller_memo,
        flag=payload.flag,
        via="api",
    )


@router.post("/orders/{order_id}/review", response={200: ReviewOut, **ERROR_RESPONSES})
@requires("orders.review_order")
def review_order(request: HttpRequest, order_id: ObjectId) -> dict[str, Any]:
    """Run the review rules (审单) on this order again."""
    order = _order_in_scope(request, order_id)
    found = services.review_orders(order_ids=[order.pk], actor=acting_user(request))
    order.refresh_from_db()
    return {"order": order, "open_issues": found.get(order.pk, [])}


@router.post("/order-issues/{issue_id}/resolve", response={200: IssueWrittenOut, **ERROR_RESPONSES})
@requires("orders.review_order")
def resolve_issue(request: HttpRequest, issue_id: ObjectId, payload: ResolveIn) -> OrderIssue:
    """Settle a review issue: confirmed (mark_invalid, the order is invalid) or handled."""
    issue = _issue_in_scope(request, issue_id)
    return services.resolve_issue(
        actor=acting_user(request),
        issue_id=issue.pk,
        resolution=payload.resolution,
        mark_invalid=payload.mark_invalid,
        via="api",
    )


@router.post("/order-issues/{issue_id}/ignore", response={200: IssueWrittenOut, **ERROR_RESPONSES})
@requires("orders.review_order")
def ignore_issue(request: HttpRequest, issue_id: ObjectId, payload: IgnoreIn) -> OrderIssue:
    """Dismiss a review issue as a false alarm (not raised again for this order)."""
    issue = _issue_in_scope(request, issue_id)
    return services.ignore_issue(
        actor=acting_user(request), issue_id=issue.pk, reason=payload.reason, via="api"
    )
