"""Care reads: a send's counts and its measured effect (sent vs held-out customers)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Sum
from django.utils import timezone

from shopops.care import stats
from shopops.care.models import Message, MessageStatus, Send
from shopops.orders.models import Order, OrderStatus

WINDOWS = (7, 30)
SENT_STATES = (MessageStatus.SENT, MessageStatus.DELIVERED)


def status_counts(send: Send) -> dict[str, int]:
    rows = Message.objects.filter(send=send).values("status").annotate(n=Count("pk"))
    return {row["status"]: row["n"] for row in rows}


def total_cost(send: Send) -> Decimal:
    return Message.objects.filter(send=send).aggregate(total=Sum("cost"))["total"] or Decimal("0")


@dataclass(frozen=True)
class GroupOutcome:
    customers: int
    buyers: int
    gmv: Decimal

    @property
    def rate(self) -> float | None:
        return self.buyers / self.customers if self.customers else None

    @property
    def gmv_per_customer(self) -> Decimal | None:
        return (self.gmv / self.customers).quantize(Decimal("0.01")) if self.customers else None


@dataclass(frozen=True)
class WindowResult:
    days: int
    sent: GroupOutcome
    holdout: GroupOutcome
    rate_lift: stats.Interval | None
    gmv_lift: stats.Interval | None
    is_complete: bool


def recipients(send: Send) -> tuple[list[tuple[int, dt.datetime]], list[tuple[int, dt.datetime]]]:
    """(customer, start of the effect window) of the sent and of the held-out recipients."""
    rows = Message.objects.filter(send=send, reference_at__isnull=False).values_list(
        "customer_id", "reference_at", "is_holdout", "status"
    )
    sent: list[tuple[int, dt.datetime]] = []
    held: list[tuple[int, dt.datetime]] = []
    for customer_id, reference_at, is_holdout, status in rows:
        if reference_at is None:
            continue
        if is_holdout:
            held.append((customer_id, reference_at))
        elif status in SENT_STATES:
            sent.append((customer_id, reference_at))
    return sent, held


def _spend(people: list[tuple[int, dt.datetime]], days: int) -> list[Decimal]:
    """Each person's paid amount of valid orders paid within `days` after their window start."""
    if not people:
        return []
    orders: dict[int, list[tuple[dt.datetime, Decimal]]] = defaultdict(list)
    ids = sorted({customer_id for customer_id, _ in people})
    earliest = min(start for _, start in people)
    for start_index in range(0, len(ids), 500):
        for customer_id, paid_at, amount in (
            Order.objects.filter(
                customer_id__in=ids[start_index : start_index + 500],
                is_valid=True,
                paid_at__gt=earliest,
            )
            .exclude(status=OrderStatus.CANCELLED)
            .values_list("customer_id", "paid_at", "paid_amount")
        ):
            if paid_at is not None:
                orders[customer_id].append((paid_at, amount))
    window = dt.timedelta(days=days)
    return [
        sum((a for paid_at, a in orders[c] if start < paid_at <= start + window), Decimal("0"))
        for c, start in people
    ]


def _outcome(spend: list[Decimal]) -> GroupOutcome:
    return GroupOutcome(
        customers=len(spend), buyers=sum(1 for s in spend if s > 0), gmv=sum(spend, Decimal("0"))
    )


def send_result(send: Send, *, now: dt.datetime | None = None) -> list[WindowResult]:
    """Repurchase rate and GMV per customer of sent vs held-out recipients over 7 and 30 days; the lift
    with 95 % intervals (two-proportion normal approximation; Welch's t for GMV per customer)."""
    now = now or timezone.now()
    sent, held = recipients(send)
    latest = max((start for _, start in sent + held), default=None)
    results = []
    for days in WINDOWS:
        sent_spend, held_spend = _spend(sent, days), _spend(held, days)
        sent_outcome, held_outcome = _outcome(sent_spend), _outcome(held_spend)
        results.append(
            WindowResult(
                days=days,
                sent=sent_outcome,
                holdout=held_outcome,
                rate_lift=stats.proportion_difference(
                    sent_outcome.buyers, sent_outcome.customers, held_outcome.buyers, held_outcome.customers
                ),
                gmv_lift=stats.welch_difference(
                    [float(s) for s in sent_spend], [float(s) for s in held_spend]
                ),
                is_complete=latest is not None and latest + dt.timedelta(days=days) <= now,
            )
        )
    return results
