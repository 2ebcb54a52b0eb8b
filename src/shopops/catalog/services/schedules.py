"""Scheduled price changes (applied by a job) and promotional prices per shop."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from shopops.catalog.models import (
    PromoPrice,
    ScheduledPriceChange,
    ScheduledPriceStatus,
)
from shopops.catalog.services.common import (
    AppliedSummary,
    PriceGuardBlocked,
    _locked_sku,
    _price,
    _require_aware,
    logger,
)
from shopops.catalog.services.pricing import (
    PolicyResolver,
    _apply_prices,
    _raise_for_issues,
    price_issues,
)
from shopops.channels.models import Shop
from shopops.core import audit
from shopops.core.audit import user_or_none
from shopops.core.errors import Conflict, InvalidInput, NotFound, required_text

OPEN_SCHEDULE_STATUSES = (ScheduledPriceStatus.PENDING, ScheduledPriceStatus.ACTIVE)


def _overlapping(starts_at: dt.datetime, ends_at: dt.datetime | None) -> Q:
    """Rows whose [starts_at, ends_at) window meets [starts_at, ends_at); a missing end is open-ended."""
    condition = Q(ends_at__isnull=True) | Q(ends_at__gt=starts_at)
    if ends_at is not None:
        condition &= Q(starts_at__lt=ends_at)
    return condition


def schedule_price_change(
    *,
    sku_id: int,
    new_price: Decimal | str | int,
    starts_at: dt.datetime,
    actor: Any,
    ends_at: dt.datetime | None = None,
    reason: str = "",
    acknowledge_warnings: bool = False,
) -> ScheduledPriceChange:
    """Plan a sale price from `starts_at` (until `ends_at`, then back to the price before it)."""
    price = _price(new_price, field="new_price")
    _require_aware(starts_at, field="starts_at")
    if ends_at is not None and _require_aware(ends_at, field="ends_at") <= starts_at:
        raise InvalidInput("结束时间须晚于开始时间", fields={"ends_at": "须晚于开始时间"})
    with transaction.atomic():
        sku = _locked_sku(sku_id)
        clash = sku.scheduled_prices.filter(status__in=OPEN_SCHEDULE_STATUSES).filter(
            _overlapping(starts_at, ends_at)
        )
        if clash.exists():
            raise Conflict(
                "该 SKU 在此时间段已有定时调价",
                fields={"starts_at": "与已有定时调价重叠"},
                code="schedule_overlap",
            )
        _raise_for_issues(
            price_issues(PolicyResolver(), sku, {"sale_price": price}),
            acknowledge_warnings=acknowledge_warnings,
        )
        schedule = ScheduledPriceChange.objects.create(
            sku=sku,
            new_price=price,
            starts_at=starts_at,
            ends_at=ends_at,
            reason=reason,
            created_by=user_or_none(actor),
        )
        audit.record(
            actor=actor, action="scheduled_price.created", instance=schedule, before={}, reason=reason
        )
    return schedule


def _revert_schedule(schedule: ScheduledPriceChange, *, actor: Any, source: str) -> None:
    """Put back the price from before the schedule, unless someone changed the price meanwhile
    (then the later manual decision wins). Reverting is never blocked by the guard."""
    sku = _locked_sku(schedule.sku_id)
    if schedule.previous_price is None or sku.sale_price != schedule.new_price:
        return
    _apply_prices(
        sku,
        {"sale_price": schedule.previous_price},
        actor=actor,
        reason=schedule.reason or "定时调价结束",
        source=source,
        acknowledge_warnings=True,
        enforce_guard=False,
    )


def cancel_scheduled_price_change(*, schedule_id: int, actor: Any) -> ScheduledPriceChange:
    with transaction.atomic():
        schedule = ScheduledPriceChange.objects.select_for_update().filter(pk=schedule_id).first()
        if schedule is None:
            raise NotFound("定时调价不存在", fields={"schedule_id": "不存在"})
        if schedule.status not in OPEN_SCHEDULE_STATUSES:
            raise Conflict(
                f"定时调价已{schedule.get_status_display()}，不能取消",
                fields={"status": schedule.status},
                code="schedule_not_cancellable",
            )
        before = audit.snapshot(schedule)
        if schedule.status == ScheduledPriceStatus.ACTIVE:
            _revert_schedule(schedule, actor=actor, source="schedule_cancelled")
        schedule.status = ScheduledPriceStatus.CANCELLED
        schedule.save(update_fields=["status"])
        audit.record(actor=actor, action="scheduled_price.cancelled", instance=schedule, before=before)
    return schedule


def _finish_schedule(schedule_id: int, *, now: dt.datetime, actor: Any) -> bool:
    with transaction.atomic():
        schedule = (
            ScheduledPriceChange.objects.select_for_update()
            .filter(pk=schedule_id, status=ScheduledPriceStatus.ACTIVE, ends_at__lte=now)
            .first()
        )
        if schedule is None:  # another run got there first
            return False
        before = audit.snapshot(schedule)
        _revert_schedule(schedule, actor=actor, source="schedule_end")
        schedule.status = ScheduledPriceStatus.FINISHED
        schedule.save(update_fields=["status"])
        audit.record(actor=actor, action="scheduled_price.finished", instance=schedule, before=before)
    return True


def _start_schedule(schedule_id: int, *, now: dt.datetime, actor: Any) -> str | None:
    """Start one due schedule; returns "started", "skipped" or None when there was nothing to do."""
    with transaction.atomic():
        schedule = (
            ScheduledPriceChange.objects.select_for_update()
            .filter(pk=schedule_id, status=ScheduledPriceStatus.PENDING, starts_at__lte=now)
            .first()
        )
        if schedule is None:
            return None
        before = audit.snapshot(schedule)
        if schedule.ends_at is not None and schedule.ends_at <= now:
            schedule.status = ScheduledPriceStatus.FINISHED
            schedule.save(update_fields=["status"])
            audit.record(actor=actor, action="scheduled_price.expired", instance=schedule, before=before)
            return "skipped"
        sku = _locked_sku(schedule.sku_id)
        previous_price = sku.sale_price
        try:
            _apply_prices(
                sku,
                {"sale_price": schedule.new_price},
                actor=actor,
                reason=schedule.reason or "定时调价",
                source="schedule",
                acknowledge_warnings=True,
            )
        except PriceGuardBlocked as error:
            logger.warning("scheduled price %s blocked by the price guard: %s", schedule.pk, error.message)
            schedule.status = ScheduledPriceStatus.CANCELLED
            schedule.save(update_fields=["status"])
            audit.record(
                actor=actor,
                action="scheduled_price.blocked",
                instance=schedule,
                before=before,
                reason=error.message,
            )
            return "skipped"
        schedule.previous_price = previous_price
        schedule.status = ScheduledPriceStatus.ACTIVE
        schedule.save(update_fields=["previous_price", "status"])
        audit.record(actor=actor, action="scheduled_price.started", instance=schedule, before=before)
    return "started"


def apply_due_price_changes(*, now: dt.datetime | None = None, actor: Any = None) -> AppliedSummary:
    """The job: end due active schedules, then start due pending ones. Each schedule is handled in its
    own transaction under a row lock that re-checks its state, so running twice or concurrently is safe.
    Ends go first so a schedule starting when another ends sees the restored price as its previous one."""
    now = _require_aware(now or timezone.now(), field="now")
    due_ends = ScheduledPriceChange.objects.filter(status=ScheduledPriceStatus.ACTIVE, ends_at__lte=now)
    finished = [
        pk
        for pk in due_ends.order_by("ends_at", "pk").values_list("pk", flat=True)
        if _finish_schedule(pk, now=now, actor=actor)
    ]
    started: list[int] = []
    skipped: list[int] = []
    due_starts = ScheduledPriceChange.objects.filter(status=ScheduledPriceStatus.PENDING, starts_at__lte=now)
    for pk in due_starts.order_by("starts_at", "pk").values_list("pk", flat=True):
        outcome = _start_schedule(pk, now=now, actor=actor)
        if outcome == "started":
            started.append(pk)
        elif outcome == "skipped":
            skipped.append(pk)
    return AppliedSummary(started=tuple(started), finished=tuple(finished), skipped=tuple(skipped))


# Promotional prices.


def create_promo_price(
    *,
    sku_id: int,
    shop_id: int,
    name: str,
    price: Decimal | str | int,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    actor: Any,
) -> PromoPrice:
    """An activity price of a SKU on one shop; refused when it overlaps another or the guard blocks it."""
    name = required_text(name, field="name", label="活动名称", max_length=100)
    amount = _price(price, field="price")
    _require_aware(starts_at, field="starts_at")
    if _require_aware(ends_at, field="ends_at") <= starts_at:
        raise InvalidInput("结束时间须晚于开始时间", fields={"ends_at": "须晚于开始时间"})
    with transaction.atomic():
        sku = _locked_sku(sku_id)
        shop = Shop.objects.filter(pk=shop_id).first()
        if shop is None:
            raise InvalidInput("店铺不存在", fields={"shop_id": "不存在"})
        clash = PromoPrice.objects.filter(sku=sku, shop=shop, is_active=True).filter(
            _overlapping(starts_at, ends_at)
        )
        if clash.exists():
            raise Conflict(
                "该 SKU 在此店铺此时间段已有活动价",
                fields={"starts_at": "与已有活动价重叠"},
                code="promo_overlap",
            )
        issues = price_issues(PolicyResolver(), sku, {"sale_price": amount})
        _raise_for_issues(
            [issue for issue in issues if issue.blocking], acknowledge_warnings=True, field="price"
        )
        promo = PromoPrice.objects.create(
            sku=sku,
            shop=shop,
            name=name,
            price=amount,
            starts_at=starts_at,
            ends_at=ends_at,
            created_by=user_or_none(actor),
        )
        audit.record(actor=actor, action="promo_price.created", instance=promo, before={})
    return promo


def deactivate_promo_price(*, promo_id: int, actor: Any) -> PromoPrice:
    with transaction.atomic():
        promo = PromoPrice.objects.select_for_update().filter(pk=promo_id).first()
        if promo is None:
            raise NotFound("活动价不存在", fields={"promo_id": "不存在"})
        if promo.is_active:
            before = audit.snapshot(promo)
            promo.is_active = False
            promo.save(update_fields=["is_active"])
            audit.record(actor=actor, action="promo_price.deactivated", instance=promo, before=before)
    return promo
