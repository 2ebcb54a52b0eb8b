"""Read models of customers: the customer list a user may see (by shop of their orders) and lookups by buyer."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Count, F, IntegerField, Max, Min, OuterRef, Prefetch, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce

from shopops.core.permissions import shop_ids_for
from shopops.core.ratelimit import spend_phone_search
from shopops.core.scope import out_of_scope
from shopops.customers.models import (
    Customer,
    CustomerAccount,
    CustomerMerge,
    MergeSuggestion,
    SuggestionStatus,
)
from shopops.customers.services import phone_hash, platform_buyer_id

MOBILE_DIGITS = 11
LAST_DIGITS = 4


def visible_customers(user: Any) -> QuerySet[Customer]:
    """Every live profile (not merged away) for users who see all shops; otherwise those who ordered in one
    of the user's shops."""
    customers = Customer.objects.filter(merged_into__isnull=True)
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
    valid = Q(orders__is_valid=True)
    if allowed is None:
        figures = customers.annotate(
            order_count=Count("orders"),
            paid_total=Sum("orders__paid_amount", filter=valid),
            first_order_in_scope=F("first_order_at"),
            last_order_in_scope=F("last_order_at"),
        )
    else:
        in_scope = Q(orders__shop_id__in=allowed)
        figures = customers.annotate(
            order_count=Count("orders", filter=in_scope),
            paid_total=Sum("orders__paid_amount", filter=in_scope & valid),
            first_order_in_scope=Min("orders__placed_at", filter=in_scope),
            last_order_in_scope=Max("orders__placed_at", filter=in_scope),
        )
    identities = (
        CustomerAccount.objects.filter(customer=OuterRef("pk"))
        .order_by()
        .values("customer")
        .annotate(n=Count("pk"))
        .values("n")
    )
    figures = figures.annotate(identity_count=Coalesce(Subquery(identities, output_field=IntegerField()), 0))
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


def profile_for(user: Any, customer_id: int) -> Customer:
    """A profile for its page: a live one in the user's scope, or a merged-away one whose kept profile is
    (users who see every shop see every profile); NotFound otherwise."""
    customer = Customer.objects.select_related("merged_into").filter(pk=customer_id).first()
    if customer is None:
        raise out_of_scope("客户")
    if shop_ids_for(user) is None:
        return customer
    shown = customer.merged_into_id or customer.pk
    if not visible_customers(user).filter(pk=shown).exists():
        raise out_of_scope("客户")
    return customer


@dataclass(frozen=True)
class OrderFigures:
    """A profile's orders in the user's shops. 客单价 here is paid ÷ valid orders (one buyer);
    the purchase interval is the mean gap between consecutive valid orders, in days."""

    orders: int
    valid_orders: int
    paid: Decimal
    refunded: Decimal
    aov: Decimal | None
    first_order_at: dt.datetime | None
    last_order_at: dt.datetime | None
    interval_days: Decimal | None


def order_figures(user: Any, customer: Customer) -> OrderFigures:
    """Totals over the customer's orders (through the reverse relation: customers never imports orders)."""
    orders = customer.orders.all()
    allowed = shop_ids_for(user)
    if allowed is not None:
        orders = orders.filter(shop_id__in=allowed)
    valid = Q(is_valid=True)
    totals = orders.aggregate(
        orders=Count("pk"),
        valid=Count("pk", filter=valid),
        paid=Sum("paid_amount", filter=valid),
        refunded=Sum("refunded_amount"),
        first=Min("placed_at", filter=valid),
        last=Max("placed_at", filter=valid),
    )
    count = int(totals["valid"] or 0)
    paid = totals["paid"] or Decimal("0.00")
    aov = (paid / count).quantize(Decimal("0.01"), ROUND_HALF_UP) if count else None
    interval = None
    if count >= 2 and totals["first"] and totals["last"]:
        seconds = Decimal((totals["last"] - totals["first"]).total_seconds())
        interval = (seconds / Decimal(86400) / (count - 1)).quantize(Decimal("0.1"), ROUND_HALF_UP)
    return OrderFigures(
        orders=int(totals["orders"] or 0),
        valid_orders=count,
        paid=paid,
        refunded=totals["refunded"] or Decimal("0.00"),
        aov=aov,
        first_order_at=totals["first"],
        last_order_at=totals["last"],
        interval_days=interval,
    )


def merges_of(customer: Customer) -> QuerySet[CustomerMerge]:
    """Merges into this profile (and the one that merged it away), newest first."""
    return (
        CustomerMerge.objects.filter(Q(target=customer) | Q(source=customer))
        .select_related("source", "target", "merged_by", "unmerged_by")
        .order_by("-merged_at", "-pk")
    )


def pending_suggestions_of(customer: Customer) -> QuerySet[MergeSuggestion]:
    return MergeSuggestion.objects.filter(
        Q(status=SuggestionStatus.PENDING) & (Q(customer_a=customer) | Q(customer_b=customer))
    ).select_related("customer_a", "customer_b")


def suggestions_for(user: Any, *, status: str | None = SuggestionStatus.PENDING) -> QuerySet[MergeSuggestion]:
    """Suggestions whose two profiles the user may both see, best evidence first."""
    suggestions = MergeSuggestion.objects.select_related("customer_a", "customer_b", "decided_by")
    if status:
        suggestions = suggestions.filter(status=status)
    if shop_ids_for(user) is not None:
        visible = visible_customers(user).values("pk")
        suggestions = suggestions.filter(customer_a__in=visible, customer_b__in=visible)
    return suggestions.order_by("-score", "-pk")


def merges_for(user: Any) -> QuerySet[CustomerMerge]:
    """Merge records whose kept profile the user may see."""
    merges = CustomerMerge.objects.select_related("source", "target")
    if shop_ids_for(user) is not None:
        merges = merges.filter(target__in=visible_customers(user).values("pk"))
    return merges
