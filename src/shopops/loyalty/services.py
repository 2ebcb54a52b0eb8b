"""Every write of loyalty: points earned, spent, expired, adjusted and reversed; levels reviewed.

The balance changes only in `_post`: one conditional UPDATE of the account plus its ledger row, in the
caller's transaction, so that balance = ledger sum always (`queries.verify_points` proves it).

Rules, written down once:
- earning: ⌊paid amount × points per ¥⌋ points per order (rounded down to whole points), once per order
  (a unique constraint), when the order is paid or completed as the program says; the lot expires
  `expiry_days` after it was earned.
- refunds: the points reversed for an order are always round-half-up(earned × refunded ÷ paid) in total;
  each reconciliation writes the difference to what was already reversed, so it is idempotent and a
  full refund leaves exactly 0 points from that order, however many partial refunds led there.
- points already spent are not clawed back from the purchase: the reversal may take the balance below
  zero (积分欠款), shown as such; spending is refused until later earnings cover the debt.
- expiry: lots are used up first-in-first-out by expiry date; a lot's remainder at its expiry expires.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from shopops.core import audit
from shopops.core.audit import user_or_none
from shopops.core.errors import Conflict, InvalidInput, NotFound, required_text
from shopops.core.permissions import check_permission
from shopops.customers.models import Customer
from shopops.loyalty.models import (
    EarnOn,
    EntryKind,
    LevelChange,
    MemberAccount,
    MemberLevel,
    PointsEntry,
    PointsProgram,
)
from shopops.orders.models import Order, OrderStatus

# Statuses in which an order's points are earned, by the program's choice.
EARNING_STATUSES: dict[str, frozenset[str]] = {
    EarnOn.PAID: frozenset(
        {
            OrderStatus.PAID,
            OrderStatus.PARTIALLY_SHIPPED,
            OrderStatus.SHIPPED,
            OrderStatus.DELIVERED,
            OrderStatus.COMPLETED,
        }
    ),
    EarnOn.COMPLETED: frozenset({OrderStatus.COMPLETED}),
}
# Orders whose facts may still change are scanned again this far behind the watermark.
SCAN_OVERLAP = timedelta(minutes=5)
MAX_ADJUST = 10_000_000
# Why a level changed, stored as these texts and shown through `LEVEL_CHANGE_REASONS` in the reader's language.
REASON_UPGRADE = "达到升级条件"
REASON_REVIEW_UP = "等级复核升级"
REASON_REVIEW_DOWN = "等级复核降级"
LEVEL_CHANGE_REASONS = {
    REASON_UPGRADE: _("达到升级条件"),
    REASON_REVIEW_UP: _("等级复核升级"),
    REASON_REVIEW_DOWN: _("等级复核降级"),
}


class InsufficientPoints(Conflict):
    code = "insufficient_points"


def _require(actor: Any, permission: str) -> None:
    """People must hold `permission`; system actors (None, "cli:…", jobs) are trusted callers."""
    user = user_or_none(actor)
    if user is not None:
        check_permission(user, permission)


def program() -> PointsProgram:
    """The program's one row, created with the defaults on first use."""
    found, _created = PointsProgram.objects.get_or_create(pk=1)
    return found


def base_level() -> MemberLevel:
    level = MemberLevel.objects.order_by("rank").first()
    if level is None:
        level = MemberLevel.objects.create(name="普通会员", rank=0)
    return level


def account_for(customer_id: int) -> MemberAccount:
    """The customer's live account (following merges), opened at the base level on first use."""
    found = MemberAccount.objects.filter(customer_id=customer_id).first()
    if found is None:
        if not Customer.objects.filter(pk=customer_id).exists():
            raise NotFound("客户不存在", fields={"customer_id": "不存在"})
        try:
            with transaction.atomic():
                found = MemberAccount.objects.create(customer_id=customer_id, level=base_level())
        except IntegrityError:
            found = MemberAccount.objects.get(customer_id=customer_id)
    return live_account(found)


def live_account(account: MemberAccount) -> MemberAccount:
    seen = {account.pk}
    while account.merged_into_id is not None and account.merged_into_id not in seen:
        seen.add(account.merged_into_id)
        account = MemberAccount.objects.get(pk=account.merged_into_id)
    return account


def _lock(account_id: int) -> MemberAccount:
    """Lock the account row until commit (a no-op on SQLite, whose IMMEDIATE transactions serialise)."""
    return MemberAccount.objects.select_for_update().get(pk=account_id)


def _post(
    *,
    account_id: int,
    kind: str,
    points: int,
    actor: Any,
    order_id: int | None = None,
    expires_at: datetime | None = None,
    reason: str = "",
    at: datetime | None = None,
    must_cover: bool = False,
) -> PointsEntry | None:
    """Change one balance and append its ledger row; None when `must_cover` and the balance is short.

    Runs inside the caller's transaction, so the balance and its row commit together."""
    queryset = MemberAccount.objects.filter(pk=account_id)
    if must_cover:
        queryset = queryset.filter(balance__gte=-points)
    if not queryset.update(balance=F("balance") + points, updated_at=timezone.now()):
        return None
    balance = MemberAccount.objects.values_list("balance", flat=True).get(pk=account_id)
    entry = PointsEntry(
        account_id=account_id,
        kind=kind,
        points=points,
        balance_after=balance,
        order_id=order_id,
        expires_at=expires_at,
        reason=reason[:300],
        actor=user_or_none(actor),
        created_at=at or timezone.now(),
    )
    entry.save()
    return entry


def points_for_amount(amount: Decimal, rate: Decimal) -> int:
    """⌊amount × rate⌋: whole points, rounded down (¥99.99 at 1 point per ¥ earns 99)."""
    return int((amount * rate).to_integral_value(rounding=ROUND_FLOOR))


def reversal_target(*, earned: int, refunded: Decimal, paid: Decimal) -> int:
    """Points of an order to reverse in total: round-half-up(earned × refunded ÷ paid), exact in Decimal."""
    if paid <= 0 or refunded <= 0:
        return 0
    if refunded >= paid:
        return earned
    return int((Decimal(earned) * refunded / paid).to_integral_value(rounding=ROUND_HALF_UP))


def earn_for_order(*, order_id: int, actor: Any = None) -> PointsEntry | None:
    """Credit an order's points once, if it is eligible now; then reconcile any refund already made."""
    settings = program()
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        if (
            order.customer_id is None
            or order.is_test
            or order.paid_amount <= 0
            or order.status not in EARNING_STATUSES[settings.earn_on]
            or PointsEntry.objects.filter(order_id=order.pk, kind=EntryKind.EARN).exists()
        ):
            return None
        points = points_for_amount(order.paid_amount, settings.points_per_yuan)
        if points <= 0:
            return None
        account = _lock(account_for(order.customer_id).pk)
        now = timezone.now()
        expires = now + timedelta(days=settings.expiry_days) if settings.expiry_days else None
        entry = _post(
            account_id=account.pk,
            kind=EntryKind.EARN,
            points=points,
            actor=actor,
            order_id=order.pk,
            expires_at=expires,
            reason=f"订单 {order.external_id} 实付 ¥{order.paid_amount}",
        )
        _upgrade(account, actor=actor, now=now)
        _reconcile(order, actor=actor)
    return entry


def reconcile_order_refund(*, order_id: int, actor: Any = None) -> int:
    """Bring the points reversed for an order to what its refunded amount asks; the points reversed now."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        return _reconcile(order, actor=actor)


def _reconcile(order: Order, *, actor: Any) -> int:
    earn = PointsEntry.objects.filter(order_id=order.pk, kind=EntryKind.EARN).first()
    if earn is None:
        return 0
    account = _lock(live_account(earn.account).pk)
    target = reversal_target(earned=earn.points, refunded=order.refunded_amount, paid=order.paid_amount)
    done = -(
        PointsEntry.objects.filter(order_id=order.pk, kind=EntryKind.REVERSE).aggregate(total=Sum("points"))[
            "total"
        ]
        or 0
    )
    delta = target - done
    if delta == 0:
        return 0
    _post(
        account_id=account.pk,
        kind=EntryKind.REVERSE,
        points=-delta,
        actor=actor,
        order_id=order.pk,
        reason=f"订单 {order.external_id} 已退款 ¥{order.refunded_amount} / 实付 ¥{order.paid_amount}",
    )
    return delta


def spend_points(
    *, customer_id: int, points: int, actor: Any, reason: str = "", order_id: int | None = None
) -> PointsEntry:
    """Use `points` of the balance (积分抵扣/兑换); refused when the balance does not cover them."""
    _require(actor, "loyalty.change_memberaccount")
    if isinstance(points, bool) or not isinstance(points, int) or points <= 0:
        raise InvalidInput("消费积分须为正整数", fields={"points": "须为正整数"})
    with transaction.atomic():
        account = _lock(account_for(customer_id).pk)
        entry = _post(
            account_id=account.pk,
            kind=EntryKind.SPEND,
            points=-points,
            actor=actor,
            order_id=order_id,
            reason=reason or "积分消费",
            must_cover=True,
        )
        if entry is None:
            raise InsufficientPoints(
                f"积分不足：余额 {account.balance}，需要 {points}",
                fields={"points": f"最多 {max(account.balance, 0)}"},
            )
        audit.record(
            actor=actor,
            action="points.spent",
            instance=account,
            changes={"points": -points, "balance": entry.balance_after},
            reason=reason,
        )
    return entry


def adjust_points(*, customer_id: int, points: int, reason: str, actor: Any) -> PointsEntry:
    """Add or remove points by hand (人工调整) with a reason; added points expire like earned ones."""
    _require(actor, "loyalty.adjust_points")
    reason = required_text(reason, field="reason", label="调整原因", max_length=300)
    if isinstance(points, bool) or not isinstance(points, int) or points == 0 or abs(points) > MAX_ADJUST:
        raise InvalidInput("调整积分须为非零整数", fields={"points": "须为非零整数"})
    settings = program()
    with transaction.atomic():
        account = _lock(account_for(customer_id).pk)
        now = timezone.now()
        expires = now + timedelta(days=settings.expiry_days) if points > 0 and settings.expiry_days else None
        entry = _post(
            account_id=account.pk,
            kind=EntryKind.ADJUST,
            points=points,
            actor=actor,
            expires_at=expires,
            reason=reason,
        )
        assert entry is not None
        audit.record(
            actor=actor,
            action="points.adjusted",
            instance=account,
            changes={"points": points, "balance": entry.balance_after},
            reason=reason,
        )
    return entry


@dataclass(frozen=True)
class Lot:
    """What is left of one credit: its points and expiry (None: never)."""

    expires_at: datetime | None
    remaining: int


def lots(account_id: int) -> list[Lot]:
    """The account's credits with what each still holds, debits taken first-in-first-out by expiry."""
    credits = list(
        PointsEntry.objects.filter(account_id=account_id, points__gt=0)
        .order_by("id")
        .values_list("expires_at", "points")
    )
    debit = -(
        PointsEntry.objects.filter(account_id=account_id, points__lt=0).aggregate(t=Sum("points"))["t"] or 0
    )
    far = datetime.max.replace(tzinfo=UTC)  # "never" sorts last; UTC so no offset can overflow it
    credits.sort(key=lambda row: row[0] or far)
    result = []
    for expires_at, points in credits:
        used = min(points, debit)
        debit -= used
        result.append(Lot(expires_at=expires_at, remaining=points - used))
    return result


def expiring_points(account_id: int, *, before: datetime) -> int:
    """Points that will expire by `before` unless spent first."""
    return sum(
        lot.remaining for lot in lots(account_id) if lot.expires_at is not None and lot.expires_at <= before
    )


def expire_points(*, now: datetime | None = None, actor: Any = None) -> int:
    """Expire what is left of every lot whose date has passed (到期清零); the points expired in total."""
    now = now or timezone.now()
    account_ids = list(
        PointsEntry.objects.filter(points__gt=0, expires_at__lte=now)
        .values_list("account_id", flat=True)
        .distinct()
    )
    total = 0
    for account_id in sorted(account_ids):
        with transaction.atomic():
            _lock(account_id)
            due = expiring_points(account_id, before=now)
            if due > 0:
                _post(
                    account_id=account_id, kind=EntryKind.EXPIRE, points=-due, actor=actor, reason="积分到期"
                )
                total += due
    return total


def _facts(customer_id: int, *, window_days: int, now: datetime) -> tuple[Decimal, int]:
    """(spend = paid − refunded, valid order count) of a customer's valid orders paid within the window."""
    rows = Order.objects.filter(
        customer_id=customer_id,
        is_valid=True,
        paid_at__gt=now - timedelta(days=window_days),
        paid_at__lte=now,
    ).aggregate(paid=Sum("paid_amount"), refunded=Sum("refunded_amount"))
    count = Order.objects.filter(
        customer_id=customer_id,
        is_valid=True,
        paid_at__gt=now - timedelta(days=window_days),
        paid_at__lte=now,
    ).count()
    return (rows["paid"] or Decimal(0)) - (rows["refunded"] or Decimal(0)), count


def qualified_level(customer_id: int, *, now: datetime) -> MemberLevel:
    """The highest level whose spend or order-count rule the customer meets now."""
    levels = list(MemberLevel.objects.order_by("-rank"))
    if not levels:
        return base_level()
    for level in levels[:-1]:
        spend, count = _facts(customer_id, window_days=level.window_days, now=now)
        if (level.min_spend is not None and spend >= level.min_spend) or (
            level.min_orders is not None and level.min_orders > 0 and count >= level.min_orders
        ):
            return level
    return levels[-1]


def _set_level(account: MemberAccount, level: MemberLevel, *, reason: str, actor: Any, now: datetime) -> None:
    LevelChange.objects.create(
        account=account,
        from_level=account.level,
        to_level=level,
        reason=reason,
        actor=user_or_none(actor),
        changed_at=now,
    )
    MemberAccount.objects.filter(pk=account.pk).update(level=level, level_since=now, updated_at=now)
    audit.record(
        actor=actor,
        action="member_level.changed",
        instance=account,
        changes={"level": [account.level.name, level.name]},
        reason=reason,
    )
    account.level, account.level_since = level, now


def _upgrade(account: MemberAccount, *, actor: Any, now: datetime) -> None:
    level = qualified_level(account.customer_id, now=now)
    if level.rank > account.level.rank:
        _set_level(account, level, reason=REASON_UPGRADE, actor=actor, now=now)


def review_level(*, account_id: int, actor: Any, now: datetime | None = None) -> MemberAccount:
    """Review one member (等级复核): up or down to the level the rules give today."""
    _require(actor, "loyalty.change_memberaccount")
    now = now or timezone.now()
    with transaction.atomic():
        account = _lock(account_id)
        level = qualified_level(account.customer_id, now=now)
        if level.pk != account.level_id:
            reason = REASON_REVIEW_UP if level.rank > account.level.rank else REASON_REVIEW_DOWN
            _set_level(account, level, reason=reason, actor=actor, now=now)
    return account


def review_levels(*, actor: Any = None, now: datetime | None = None) -> int:
    """Review every live member (the periodic job); the number whose level changed."""
    changed = 0
    for account_id in (
        MemberAccount.objects.filter(merged_into__isnull=True).order_by("pk").values_list("pk", flat=True)
    ):
        before = MemberAccount.objects.values_list("level_id", flat=True).get(pk=account_id)
        if review_level(account_id=account_id, actor=actor, now=now).level_id != before:
            changed += 1
    return changed


def sync_orders(*, actor: Any = None, now: datetime | None = None, full: bool = False) -> dict[str, int]:
    """The earning job: orders changed since the watermark (every order when `full`) earn their points,
    and the refunds of orders that earned are reconciled — also those a platform import raised.

    Idempotent: an order earns once (unique per order), reversals are written as deltas."""
    now = now or timezone.now()
    settings = program()
    changed = Order.objects.filter(customer__isnull=False, paid_amount__gt=0)
    if settings.watermark is not None and not full:
        changed = changed.filter(updated_at__gte=settings.watermark - SCAN_OVERLAP)
    candidates = changed.filter(status__in=EARNING_STATUSES[settings.earn_on]).exclude(
        pk__in=PointsEntry.objects.filter(kind=EntryKind.EARN, order__isnull=False).values("order_id")
    )
    earned = reversed_points = 0
    for order_id in candidates.order_by("pk").values_list("pk", flat=True):
        if earn_for_order(order_id=order_id, actor=actor) is not None:
            earned += 1
    refunded = changed.filter(
        refunded_amount__gt=0,
        pk__in=PointsEntry.objects.filter(kind=EntryKind.EARN, order__isnull=False).values("order_id"),
    )
    for order_id in refunded.order_by("pk").values_list("pk", flat=True):
        reversed_points += reconcile_order_refund(order_id=order_id, actor=actor)
    PointsProgram.objects.filter(pk=settings.pk).update(watermark=now)
    return {"earned_orders": earned, "reversed_points": reversed_points}


def move_to(*, source_customer_id: int, target_customer_id: int, actor: Any) -> list[int]:
    """On a customer merge: the source's balance moves to the target lot by lot (expiries kept)."""
    source = MemberAccount.objects.filter(customer_id=source_customer_id).first()
    if source is None:
        return []
    with transaction.atomic():
        target = account_for(target_customer_id)
        first, second = sorted([source.pk, target.pk])
        _lock(first)
        _lock(second)
        source.refresh_from_db()
        written: list[int] = []
        for lot in lots(source.pk):
            if lot.remaining > 0:
                written += _transfer(source, target, lot.remaining, lot.expires_at, actor=actor)
        debt = MemberAccount.objects.values_list("balance", flat=True).get(pk=source.pk)
        if debt < 0:
            written += _transfer(source, target, debt, None, actor=actor)
        MemberAccount.objects.filter(pk=source.pk).update(merged_into=target)
    return written


def move_back(*, source_customer_id: int, target_customer_id: int, entry_ids: list[int], actor: Any) -> None:
    """Undo `move_to`: the transfers written then are written back in reverse (the ledger keeps both)."""
    source = MemberAccount.objects.filter(customer_id=source_customer_id).first()
    if source is None:
        return
    with transaction.atomic():
        target = MemberAccount.objects.get(customer_id=target_customer_id)
        _lock(min(source.pk, target.pk))
        _lock(max(source.pk, target.pk))
        for entry in PointsEntry.objects.filter(
            pk__in=entry_ids, account_id=target.pk, kind=EntryKind.TRANSFER
        ):
            _transfer(target, source, entry.points, entry.expires_at, actor=actor)
        MemberAccount.objects.filter(pk=source.pk).update(merged_into=None)


def _transfer(
    source: MemberAccount, target: MemberAccount, points: int, expires_at: datetime | None, *, actor: Any
) -> list[int]:
    out = _post(
        account_id=source.pk, kind=EntryKind.TRANSFER, points=-points, actor=actor, reason="客户合并转出"
    )
    into = _post(
        account_id=target.pk,
        kind=EntryKind.TRANSFER,
        points=points,
        actor=actor,
        expires_at=expires_at,
        reason="客户合并转入",
    )
    assert out is not None
    assert into is not None
    return [into.pk]
