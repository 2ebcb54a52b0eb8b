"""The one place that changes stock levels: a conditional UPDATE plus its ledger row, and row locking."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

from django.db import IntegrityError, connection, connections, transaction
from django.db.models import F, Q
from django.db.models.sql import UpdateQuery
from django.utils import timezone

from shopops.core.audit import user_or_none
from shopops.inventory.models import StockLevel, StockMovement


@dataclass(frozen=True)
class Reference:
    """The document a movement belongs to (order, purchase receipt, stocktake…)."""

    reference_type: str
    reference_id: str


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


def change_level(
    *, level_id: int, condition: Q, on_hand_delta: int = 0, reserved_delta: int = 0
) -> tuple[int, int] | None:
    """One conditional UPDATE of a level; (on hand, reserved) after it, or None when `condition` refused.

    PostgreSQL and SQLite ≥ 3.35 return the new figures from the UPDATE itself (`RETURNING`); other
    databases read them back, which is exact too: the UPDATE keeps the row locked until commit.
    """
    queryset = StockLevel.objects.filter(pk=level_id).filter(condition)
    values = {
        "on_hand": F("on_hand") + on_hand_delta,
        "reserved": F("reserved") + reserved_delta,
        "updated_at": timezone.now(),
    }
    database = connections[queryset.db]
    if not _returning_supported(database.vendor):
        if not queryset.update(**values):
            return None
        return StockLevel.objects.values_list("on_hand", "reserved").get(pk=level_id)
    query = cast(UpdateQuery, queryset.query.chain(UpdateQuery))
    query.add_update_values(values)
    sql, params = query.get_compiler(queryset.db).as_sql()
    with database.cursor() as cursor:
        cursor.execute(f"{sql} RETURNING {_RETURNED_COLUMNS}", params)
        row = cursor.fetchone()
    return None if row is None else (row[0], row[1])


_RETURNED_COLUMNS = "on_hand, reserved"


def _returning_supported(vendor: str) -> bool:
    if vendor == "postgresql":
        return True
    return vendor == "sqlite" and sqlite3.sqlite_version_info >= (3, 35)


_RESERVE_SQL = (
    "UPDATE {table} SET reserved = reserved + %s, updated_at = %s "
    "WHERE id = %s AND on_hand >= reserved + safety_stock + %s RETURNING on_hand, reserved"
)


def reserve_units(*, level_id: int, units: int) -> tuple[int, int] | None:
    """`change_level` for a reservation (reserved += units while on hand ≥ reserved + safety stock + units),
    as one hand-written, parameterised UPDATE … RETURNING: the hot path builds no ORM query."""
    if not _returning_supported(connection.vendor):
        return change_level(
            level_id=level_id,
            condition=Q(on_hand__gte=F("reserved") + F("safety_stock") + units),
            reserved_delta=units,
        )
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(
            _RESERVE_SQL.format(table=connection.ops.quote_name(StockLevel._meta.db_table)),
            [units, now, level_id, units],
        )
        row = cursor.fetchone()
    return None if row is None else (row[0], row[1])


def movement_row(
    *,
    sku_id: int,
    warehouse_id: int,
    movement_type: str,
    after: tuple[int, int],
    on_hand_delta: int = 0,
    reserved_delta: int = 0,
    reference: Reference,
    actor: Any,
    note: str = "",
) -> StockMovement:
    """The (unsaved) ledger row of a change that left the level at `after` = (on hand, reserved)."""
    return StockMovement(
        sku_id=sku_id,
        warehouse_id=warehouse_id,
        movement_type=movement_type,
        on_hand_delta=on_hand_delta,
        reserved_delta=reserved_delta,
        on_hand_after=after[0],
        reserved_after=after[1],
        reference_type=reference.reference_type[:30],
        reference_id=reference.reference_id[:64],
        actor=user_or_none(actor),
        note=note[:300],
    )


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

    Must run inside a transaction, so that the level and its ledger row commit together.
    """
    after = change_level(
        level_id=level_id, condition=condition, on_hand_delta=on_hand_delta, reserved_delta=reserved_delta
    )
    if after is None:
        return None
    movement = movement_row(
        sku_id=sku_id,
        warehouse_id=warehouse_id,
        movement_type=movement_type,
        after=after,
        on_hand_delta=on_hand_delta,
        reserved_delta=reserved_delta,
        reference=reference,
        actor=actor,
        note=note,
    )
    movement.save()
    return movement
