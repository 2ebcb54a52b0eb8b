"""Reads of loyalty: balances against the ledger, a member's summary, level benefits for promotions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from shopops.loyalty.models import MemberAccount, MemberLevel, PointsEntry
from shopops.loyalty.services import expiring_points

EXPIRING_SOON = timedelta(days=30)


@dataclass(frozen=True)
class PointsDrift:
    """An account whose balance differs from its ledger (or whose last row disagrees with the balance)."""

    account_id: int
    customer_id: int
    balance: int
    ledger_sum: int
    last_balance_after: int | None


def verify_points() -> list[PointsDrift]:
    """Every account whose balance is not the sum of its ledger; [] when the ledger is sound."""
    ledger = PointsEntry.objects.filter(account_id=OuterRef("pk")).order_by().values("account_id")
    rows = MemberAccount.objects.annotate(
        ledger_sum=Coalesce(Subquery(ledger.annotate(total=Sum("points")).values("total")), 0),
        last_after=Subquery(
            PointsEntry.objects.filter(account_id=OuterRef("pk")).order_by("-id").values("balance_after")[:1]
        ),
    ).values_list("pk", "customer_id", "balance", "ledger_sum", "last_after")
    return [
        PointsDrift(
            account_id=pk, customer_id=customer, balance=balance, ledger_sum=total, last_balance_after=last
        )
        for pk, customer, balance, total, last in rows.order_by("pk")
        if balance != total or (last is not None and last != balance)
    ]


@dataclass(frozen=True)
class Benefits:
    """What a member's level grants, for promotions: discount in ‰ off and free shipping."""

    level_name: str
    discount_permille: int
    free_shipping: bool


def benefits_for(customer_id: int) -> Benefits | None:
    """The level benefits of a customer (None when they hold no account yet: the base level applies)."""
    account = MemberAccount.objects.select_related("level").filter(customer_id=customer_id).first()
    level = account.level if account is not None else MemberLevel.objects.order_by("rank").first()
    if level is None:
        return None
    return Benefits(
        level_name=level.name, discount_permille=level.discount_permille, free_shipping=level.free_shipping
    )


@dataclass(frozen=True)
class MemberSummary:
    account: MemberAccount
    expiring: int
    expiring_before: datetime
    earned_total: int
    reversed_total: int
    spent_total: int


def member_summary(customer_id: int, *, now: datetime | None = None) -> MemberSummary | None:
    account = (
        MemberAccount.objects.select_related("level", "merged_into").filter(customer_id=customer_id).first()
    )
    if account is None:
        return None
    before = (now or timezone.now()) + EXPIRING_SOON
    totals = PointsEntry.objects.filter(account=account).aggregate(
        earned=Coalesce(Sum("points", filter=Q(kind="earn")), 0),
        reversed=Coalesce(Sum("points", filter=Q(kind="reverse")), 0),
        spent=Coalesce(Sum("points", filter=Q(kind="spend")), 0),
    )
    return MemberSummary(
        account=account,
        expiring=expiring_points(account.pk, before=before),
        expiring_before=before,
        earned_total=totals["earned"],
        reversed_total=-totals["reversed"],
        spent_total=-totals["spent"],
    )


def level_member_counts() -> dict[int, int]:
    """Live members per level id."""
    rows = (
        MemberAccount.objects.filter(merged_into__isnull=True)
        .order_by()
        .values("level_id")
        .annotate(members=Count("pk"))
        .values_list("level_id", "members")
    )
    return dict(rows)
