"""Customers API: customers and their platform accounts (personal data masked by policy)."""

from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
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
from shopops.core.pii import shown
from shopops.customers import queries, services
from shopops.customers.models import Customer, CustomerAccount

router = Router(tags=["customers"])


def _user(context: dict[str, Any]) -> Any:
    return context["request"].auth


class CustomerOut(Schema):
    id: int
    name: str = Field(description="Masked (张**) unless the user holds core.view_pii")
    phone: str = Field(description="Masked (138****1234) unless the user holds core.view_pii")
    email: str = Field(description="Masked (d***@x.com) unless the user holds core.view_pii")
    is_blacklisted: bool
    blacklist_reason: str
    order_count: int = Field(description="Orders of this customer in the user's shops")
    first_order_at: DateTimeOut | None = Field(description="First order in the user's shops")
    last_order_at: DateTimeOut | None = Field(description="Latest order in the user's shops")
    created_at: DateTimeOut

    @staticmethod
    def resolve_name(obj: Customer, context: dict[str, Any]) -> Any:
        return shown(_user(context), obj, "name")

    @staticmethod
    def resolve_phone(obj: Customer, context: dict[str, Any]) -> Any:
        return shown(_user(context), obj, "phone")

    @staticmethod
    def resolve_email(obj: Customer, context: dict[str, Any]) -> Any:
        return shown(_user(context), obj, "email")

    @staticmethod
    def resolve_order_count(obj: Customer) -> int:
        return int(getattr(obj, "order_count", 0))

    @staticmethod
    def resolve_first_order_at(obj: Customer) -> Any:
        return queries.first_order_seen(obj)

    @staticmethod
    def resolve_last_order_at(obj: Customer) -> Any:
        return queries.last_order_seen(obj)


class CustomerAccountOut(Schema):
    id: int
    platform: str
    buyer_id: str = Field(description="Masked unless the user holds core.view_pii")
    created_at: DateTimeOut

    @staticmethod
    def resolve_buyer_id(obj: CustomerAccount, context: dict[str, Any]) -> Any:
        return shown(_user(context), obj, "buyer_id")


class CustomerDetailOut(CustomerOut):
    accounts: list[CustomerAccountOut]


class CustomerFilters(Schema):
    search: PlainText | None = Field(
        None,
        max_length=100,
        description="Platform buyer id (exact), full mobile number, or its last 4 digits",
    )
    is_blacklisted: bool | None = None


@router.get("/customers", response={200: list[CustomerOut], **ERROR_RESPONSES})
@paginate(Pagination)
@requires("customers.view_customer")
def list_customers(request: HttpRequest, filters: Query[CustomerFilters]) -> QuerySet[Customer]:
    """Customers who ordered in the user's shops, newest first; personal data masked without core.view_pii."""
    return queries.customers_for(
        acting_user(request), search=filters.search or "", is_blacklisted=filters.is_blacklisted
    )


@router.get("/customers/{customer_id}", response={200: CustomerDetailOut, **ERROR_RESPONSES})
@requires("customers.view_customer")
def get_customer(request: HttpRequest, customer_id: ObjectId) -> Customer:
    """One customer with their platform buyer accounts."""
    return queries.customer_detail(acting_user(request), customer_id)


class BlacklistIn(Schema):
    reason: PlainText = Field(..., min_length=1, max_length=200, description="Why (shown to reviewers)")


class UnblacklistIn(Schema):
    reason: PlainText = Field("", max_length=200)


@router.post("/customers/{customer_id}/blacklist", response={200: CustomerDetailOut, **ERROR_RESPONSES})
@requires("customers.change_customer")
def blacklist_customer(request: HttpRequest, customer_id: ObjectId, payload: BlacklistIn) -> Customer:
    """Put a customer on the blacklist: their new orders get a `blacklisted_buyer` review issue (audited)."""
    user = acting_user(request)
    queries.customer_detail(user, customer_id)  # 404 outside the user's scope
    services.blacklist_customer(actor=user, customer_id=customer_id, reason=payload.reason)
    return queries.customer_detail(user, customer_id)


@router.post("/customers/{customer_id}/unblacklist", response={200: CustomerDetailOut, **ERROR_RESPONSES})
@requires("customers.change_customer")
def unblacklist_customer(request: HttpRequest, customer_id: ObjectId, payload: UnblacklistIn) -> Customer:
    """Take a customer off the blacklist (audited)."""
    user = acting_user(request)
    queries.customer_detail(user, customer_id)
    services.unblacklist_customer(actor=user, customer_id=customer_id, reason=payload.reason)
    return queries.customer_detail(user, customer_id)
