"""Read models of customers: the customer list a user may see (by shop of their orders) and lookups by buyer."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.db.models import Count, F, Max, Min, Prefetch, Q, QuerySet

from shopops.core.permissions import shop_ids_for
from shopops.core.ratelimit import spend_phone_search
from shopops.core.scope import out_of_scope
from shopops.customers.models import Customer, CustomerAccount
from shopops.customers.services import phone_hash, platform_buyer_id

MOBILE_DIGITS = 11
LAST_DIGITS = 4


def visible_customers(user: Any) -> QuerySet[Customer]:
    """Every customer for users who see all shops; otherwise those who ordered in one of the user's shops."""
    customers = Customer.objects.all()
    allowed = shop_ids_for(user)
    if allowed is None:
        return customers
    # through the reverse relation of orders.Order.customer: customers sit below orders and never import it
    return customers.filter(pk__in=Customer.objects.filter(orders__shop_id__in=allowed).values("pk"))


def search_condition(text: str) -> Q:
    """A platform buyer id (exact; an e-mail or phone buyer id by its stored hash), a full mobile number
    (by hash) or its last four digits."""
    value = text.strip()
    condition = Q(accounts__buyer_id=value) | Q(accounts__buyer_id=platform_buyer_id(value))
    digits = re.sub(r"\D", "", value)
    if len(digits) == MOBILE_DIGITS + 2 and digits.startswith("86"):
        digits = digits[2:]
    if len(digits) == MOBILE_DIGITS:
        condition |= Q(phone_hash=phone_hash(digits))
    elif len(digits) == LAST_DIGITS and digits == value:
        condition |= Q(phone_last4=digits)  # the phone is encrypted at rest
    return condition


def is_phone_search(text: str) -> bool:
    """Whether `search_condition` looks this text up as a phone (a full number or its last four digits)."""
    value = text.strip()
    digits = re.sub(r"\D", "", value)
    if len(digits) == MOBILE_DIGITS + 2 and digits.startswith("86"):
        digits = digits[2:]
    return len(digits) == MOBILE_DIGITS or (len(digits) == LAST_DIGITS and digits == value)


def customers_for(user: Any, *, search: str = "", is_blacklisted: bool | None = None) -> QuerySet[Customer]:
    """Customers the user may see, newest first, with their order count; optional search and blacklist filter.

    The order count and the first/last order (`first_order_in_scope`, `last_order_in_scope`) are of the orders
    in the user's shops: a user limited to some shops learns nothing of the others' orders. A search by phone
    spends one of the user's phone searches (shared with the order search)."""
    customers = visible_customers(user)
    if search and is_phone_search(search):
        spend_phone_search(user, field="search")
    if search:
        customers = customers.filter(pk__in=Customer.objects.filter(search_condition(search)).values("pk"))
    if is_blacklisted is not None:
        customers = customers.filter(is_blacklisted=is_blacklisted)
    allowed = shop_ids_for(user)
    if allowed is None:
        figures = customers.annotate(
            order_count=Count("orders"),
            first_order_in_scope=F("first_order_at"),
            last_order_in_scope=F("last_order_at"),
        )
    else:
        in_scope = Q(orders__shop_id__in=allowed)
        figures = customers.annotate(
            order_count=Count("orders", filter=in_scope),
            first_order_in_scope=Min("orders__placed_at", filter=in_scope),
            last_order_in_scope=Max("orders__placed_at", filter=in_scope),
        )
    return figures.order_by("-pk")


def first_order_seen(customer: Customer) -> dt.datetime | None:
    """The customer's first order as `customers_for` lets the reader see it (their shops only)."""
    return getattr(customer, "first_order_in_scope", None)


def last_order_seen(customer: Customer) -> dt.datetime | None:
    return getattr(customer, "last_order_in_scope", None)


def customer_detail(user: Any, customer_id: int) -> Customer:
    """One customer with their platform accounts and order count, or NotFound outside the user's scope."""
    customer = (
        customers_for(user)
        .prefetch_related(Prefetch("accounts", queryset=CustomerAccount.objects.order_by("platform", "pk")))
        .filter(pk=customer_id)
        .first()
    )
    if customer is None:
        raise out_of_scope("客户")
    return customer
