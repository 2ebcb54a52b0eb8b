"""The one place that changes stock levels: a conditional UPDATE plus its ledger row, and row locking."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from shopops.inventory.models import StockLevel, StockMovement


@dataclass(frozen=True)
class Reference:
    """The document a movement belongs to (order, purchase receipt, stocktake…)."""

    reference_type: str
    reference_id: str


def _user_or_none(actor: Any) -> Any:
    return actor if getattr(actor, "is_authenticated", False) else None


def lock_levels(level_ids: Iterable[int]) -> None:
    """Lock several level rows in ascending id order, so that two writers never wait on each other in a
    cycle. On SQLite this is a no-op: IMMEDIATE transactions already serialise writers."""
    list(StockLevel.objects.filter(pk__in=list(level_ids)).order_by("pk").select_for_update())


def level_id_for(sku_id: int, warehouse_id: int) -> int:
    """The id of the level row, created empty on first use (a concurrent creator wins harmlessly)."""
    found = (
        StockLevel.objects.filter(sku_id=sku_id, warehouse_id=warehouse_id)
        .values_list("pk", flat=True)
        .first()
    )
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return StockLevel.objects.create(sku_id=sku_id, warehouse_id=warehouse_id).pk
    except IntegrityError:
        return StockLevel.objects.values_list("pk", flat=True).get(sku_id=sku_id, warehouse_id=warehouse_id)


def apply_movement(
    *,
    level_id: int,
    sku_id: int,
    warehouse_id: int,
    movement_type: str,
    on_hand_delta: int = 0,
    reserved_delta: int = 0,
    condition: Q,
    reference: Reference,
    actor: Any,
    note: str = "",
) -> StockMovement | None:
    """Change one level if `condition` holds, and append its ledger row; None when the rule refused.

    Must run inside a transaction: the UPDATE keeps the row locked until commit, so the level read
    back right after it is exactly the level this change produced.
    """
    updated = (
        StockLevel.objects.filter(pk=level_id)
        .filter(condition)
        .update(
            on_hand=F("on_hand") + on_hand_delta,
            reserved=F("reserved") + reserved_delta,
            updated_at=timezone.now(),
        )
    )
    if not updated:
        return None
    on_hand_after, reserved_after = StockLevel.objects.values_list("on_hand", "reserved").get(pk=level_id)
    return StockMovement.objects.create(
        sku_id=sku_id,
        warehouse_id=warehouse_id,
        movement_type=movement_type,
        on_hand_delta=on_hand_delta,
        reserved_delta=reserved_delta,
        on_hand_after=on_hand_after,
        reserved_after=reserved_after,
        reference_type=reference.reference_type[:30],
        reference_id=reference.reference_id[:64],
        actor=_user_or_none(actor),
        note=note[:300],
    )
