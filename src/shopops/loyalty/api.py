"""REST API of loyalty: a member's balance and level, their points ledger, adjustments and spending."""

from typing import Annotated

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Field, Router, Schema
from ninja.pagination import paginate

from shopops.core.api import (
    ERROR_RESPONSES,
    DateTimeOut,
    ObjectId,
    Pagination,
    PlainText,
    acting_user,
    requires,
)
from shopops.core.errors import NotFound
from shopops.customers.models import Customer
from shopops.loyalty import queries, services
from shopops.loyalty.models import PointsEntry

router = Router(tags=["loyalty"])

MAX_POINTS = services.MAX_ADJUST
Points = Annotated[int, Field(ge=1, le=MAX_POINTS)]
SignedPoints = Annotated[int, Field(ge=-MAX_POINTS, le=MAX_POINTS)]


def _customer(customer_id: int) -> Customer:
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None:
        raise NotFound("客户不存在", fields={"customer_id": "不存在"})
    return customer


class LoyaltyMemberOut(Schema):
    customer_id: int
    level: str
    level_since: DateTimeOut | None
    balance: int
    expiring_30_days: int
    discount_permille: int
    free_shipping: bool
    is_in_debt: bool


class PointsEntryOut(Schema):
    id: int
    kind: str
    kind_label: str
    points: int
    balance_after: int
    order_external_id: str | None
    expires_at: DateTimeOut | None
    reason: str
    created_at: DateTimeOut

    @staticmethod
    def resolve_kind_label(obj: PointsEntry) -> str:
        return str(obj.get_kind_display())

    @staticmethod
    def resolve_order_external_id(obj: PointsEntry) -> str | None:
        return obj.order.external_id if obj.order is not None else None


class PointsAdjustIn(Schema):
    points: SignedPoints
    reason: PlainText = Field(..., min_length=1, max_length=300)


class PointsSpendIn(Schema):
    points: Points
    reason: PlainText = Field("", max_length=300)


def _member(customer: Customer) -> LoyaltyMemberOut:
    summary = queries.member_summary(customer.pk)
    if summary is None:
        services.account_for(customer.pk)
        summary = queries.member_summary(customer.pk)
    assert summary is not None
    account = summary.account
    return LoyaltyMemberOut(
        customer_id=customer.pk,
        level=account.level.name,
        level_since=account.level_since,
        balance=account.balance,
        expiring_30_days=summary.expiring,
        discount_permille=account.level.discount_permille,
        free_shipping=account.level.free_shipping,
        is_in_debt=account.balance < 0,
    )


@router.get("/loyalty/members/{customer_id}", response={200: LoyaltyMemberOut, **ERROR_RESPONSES})
@requires("loyalty.view_memberaccount")
def member(request: HttpRequest, customer_id: ObjectId) -> LoyaltyMemberOut:
    """A customer's level, benefits and points balance (a negative balance is a points debt, 积分欠款)."""
    customer = _customer(customer_id)
    if not hasattr(customer, "member_account"):
        # reading opens nothing: a customer without an account holds the base level and 0 points
        benefits = queries.benefits_for(customer.pk)
        return LoyaltyMemberOut(
            customer_id=customer.pk,
            level=benefits.level_name if benefits else "",
            level_since=None,
            balance=0,
            expiring_30_days=0,
            discount_permille=benefits.discount_permille if benefits else 0,
            free_shipping=benefits.free_shipping if benefits else False,
            is_in_debt=False,
        )
    return _member(customer)


@router.get("/loyalty/members/{customer_id}/entries", response={200: list[PointsEntryOut], **ERROR_RESPONSES})
@requires("loyalty.view_pointsentry")
@paginate(Pagination)
def entries(request: HttpRequest, customer_id: ObjectId) -> QuerySet[PointsEntry]:
    """The customer's points ledger, newest first."""
    _customer(customer_id)
    return (
        PointsEntry.objects.filter(account__customer_id=customer_id).select_related("order").order_by("-id")
    )


@router.post("/loyalty/members/{customer_id}/adjust", response={200: LoyaltyMemberOut, **ERROR_RESPONSES})
@requires("loyalty.adjust_points")
def adjust(request: HttpRequest, customer_id: ObjectId, payload: PointsAdjustIn) -> LoyaltyMemberOut:
    """Add (positive) or remove (negative) points with a reason (调整积分)."""
    customer = _customer(customer_id)
    services.adjust_points(
        customer_id=customer.pk, points=payload.points, reason=payload.reason, actor=acting_user(request)
    )
    return _member(customer)


@router.post("/loyalty/members/{customer_id}/spend", response={200: LoyaltyMemberOut, **ERROR_RESPONSES})
@requires("loyalty.change_memberaccount")
def spend(request: HttpRequest, customer_id: ObjectId, payload: PointsSpendIn) -> LoyaltyMemberOut:
    """Use points of the balance; 409 `insufficient_points` when the balance does not cover them."""
    customer = _customer(customer_id)
    services.spend_points(
        customer_id=customer.pk, points=payload.points, reason=payload.reason, actor=acting_user(request)
    )
    return _member(customer)
