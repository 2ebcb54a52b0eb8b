"""Reproducible demo loyalty: the four levels, the points rule, members earning on the demo orders (their
refunds reversed), a few spends and one goodwill adjustment, then a level review."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import TextIO

from django.db import connection, transaction

from shopops.catalog.demo_data import DEMO_ACTOR
from shopops.loyalty import services
from shopops.loyalty.models import (
    EarnOn,
    EntryKind,
    LevelChange,
    MemberAccount,
    MemberLevel,
    PointsEntry,
    PointsProgram,
)
from shopops.orders.models import Order

LEVELS = [
    {"name": "普通会员", "rank": 0},
    {"name": "银卡", "rank": 1, "min_spend": Decimal("1500.00"), "min_orders": 5, "discount_permille": 20},
    {"name": "金卡", "rank": 2, "min_spend": Decimal("5000.00"), "min_orders": 12, "discount_permille": 50},
    {
        "name": "至尊VIP",
        "rank": 3,
        "min_spend": Decimal("12000.00"),
        "discount_permille": 100,
        "free_shipping": True,
    },
]


def is_empty() -> bool:
    return not PointsEntry.objects.exists() and not MemberLevel.objects.exists()


def load(*, seed: int, days: int, stdout: TextIO) -> dict[str, int]:
    """Levels and points for the demo customers; adds nothing when loyalty holds data or orders are missing."""
    if not is_empty() or not Order.objects.filter(customer__isnull=False).exists():
        return {}
    generator = random.Random(seed * 7919 + 12)
    for level in LEVELS:
        MemberLevel.objects.create(**level)
    PointsProgram.objects.update_or_create(
        pk=1, defaults={"points_per_yuan": Decimal("1"), "earn_on": EarnOn.COMPLETED, "expiry_days": 365}
    )
    services.sync_orders(actor=DEMO_ACTOR, full=True)
    accounts = list(
        MemberAccount.objects.filter(balance__gt=0).order_by("pk").values_list("customer_id", "balance")
    )
    for customer_id, balance in accounts:
        if generator.random() < 0.2:
            services.spend_points(
                customer_id=customer_id,
                points=max(1, balance // 2),
                actor=DEMO_ACTOR,
                reason="积分抵现（演示数据）",
            )
    if accounts:
        services.adjust_points(
            customer_id=accounts[0][0], points=200, reason="物流延误补偿（演示数据）", actor=DEMO_ACTOR
        )
    services.review_levels(actor=DEMO_ACTOR)
    return {
        "member_accounts": MemberAccount.objects.count(),
        "points_entries": PointsEntry.objects.count(),
        "points_reversals": PointsEntry.objects.filter(kind=EntryKind.REVERSE).count(),
    }


def finish() -> None:
    """Points for the demo orders later apps added (idempotent: one earning per order)."""
    services.sync_orders(actor=DEMO_ACTOR, full=True)


def reset() -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        table = connection.ops.quote_name(PointsEntry._meta.db_table)
        # the ledger refuses deletes, in the database too; a demo reset is the one exception
        if connection.vendor == "postgresql":
            # TRUNCATE fires no row trigger; it refuses while deferred foreign-key checks are pending
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"TRUNCATE {table}")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        else:
            cursor.execute("INSERT INTO core_auditentry_flushing (id) VALUES (1)")
            cursor.execute(f"DELETE FROM {table}")
            cursor.execute("DELETE FROM core_auditentry_flushing")
    LevelChange.objects.all().delete()
    MemberAccount.objects.filter(merged_into__isnull=False).update(merged_into=None)
    MemberAccount.objects.all().delete()
    MemberLevel.objects.all().delete()
    PointsProgram.objects.all().delete()
