"""Read models of stock: levels with available, the ledger per SKU, sellable quantities, the ledger check."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Sum

from shopops.core.scope import get_in_scope, require_in_scope
from shopops.inventory.models import (
    BundleComponent,
    Reservation,
    ReservationStatus,
    StockLevel,
    StockLevelQuerySet,
    StockMovement,
    StockMovementQuerySet,
    Warehouse,
)


def warehouse_in_scope(user: Any, warehouse_id: int, *, field: str | None = "warehouse_id") -> Warehouse:
    """The warehouse with this id in the user's scope, else the one out-of-scope 404 (on `field`)."""
    return get_in_scope(Warehouse, user, what="仓库", field=field, pk=warehouse_id)


def require_warehouse_in_scope(user: Any, warehouse_id: int | None, *, field: str = "warehouse_id") -> None:
    """Refuse a warehouse id outside the user's scope (None, "not given", passes)."""
    if warehouse_id is not None:
        require_in_scope(Warehouse, user, what="仓库", field=field, pk=warehouse_id)


def stock_levels(
    *, user: Any, sku_id: int | None = None, warehouse_id: int | None = None
) -> StockLevelQuerySet:
    """Levels the user may see, with `available_quantity` annotated and SKU and warehouse joined."""
    levels = StockLevel.objects.for_user(user).with_available().select_related("sku", "warehouse")
    if sku_id is not None:
        levels = levels.filter(sku_id=sku_id)
    if warehouse_id is not None:
        levels = levels.filter(warehouse_id=warehouse_id)
    return levels


def ledger_for_sku(*, user: Any, sku_id: int, warehouse_id: int | None = None) -> StockMovementQuerySet:
    """The stock ledger (库存流水) of one SKU, newest first, within the user's warehouses."""
    movements = (
        StockMovement.objects.for_user(user).filter(sku_id=sku_id).select_related("warehouse", "actor")
    )
    if warehouse_id is not None:
        movements = movements.filter(warehouse_id=warehouse_id)
    return movements.order_by("-id")


def sellable_quantity(*, sku_id: int, warehouse_id: int | None = None) -> int:
    """Units of a SKU (or complete bundles) that can still be reserved, over active warehouses.

    A bundle counts per warehouse (its components are never split across warehouses), then summed.
    """
    components = dict(
        BundleComponent.objects.filter(bundle_sku_id=sku_id).values_list("component_sku_id", "quantity")
    )
    per_unit = components or {sku_id: 1}
    levels = StockLevel.objects.filter(sku_id__in=per_unit, warehouse__is_active=True)
    if warehouse_id is not None:
        levels = levels.filter(warehouse_id=warehouse_id)
    by_warehouse: dict[int, dict[int, int]] = {}
    for level in levels:
        by_warehouse.setdefault(level.warehouse_id, {})[level.sku_id] = max(level.available, 0)
    return sum(
        min(available.get(component, 0) // units for component, units in per_unit.items())
        for available in by_warehouse.values()
    )


@dataclass(frozen=True)
class Drift:
    """A stock level that differs from its ledger sums or from its active reservations."""

    sku_id: int
    warehouse_id: int
    on_hand: int
    ledger_on_hand: int
    reserved: int
    ledger_reserved: int
    reserved_by_reservations: int


def _sums(rows: Iterable[tuple[int, int, int | None, int | None]]) -> dict[tuple[int, int], tuple[int, int]]:
    return {(sku_id, warehouse_id): (first or 0, second or 0) for sku_id, warehouse_id, first, second in rows}


def _collect_drift() -> list[Drift]:
    levels = _sums(StockLevel.objects.values_list("sku_id", "warehouse_id", "on_hand", "reserved"))
    ledger = _sums(
        StockMovement.objects.order_by()
        .values("sku_id", "warehouse_id")
        .annotate(on_hand=Sum("on_hand_delta"), reserved=Sum("reserved_delta"))
        .values_list("sku_id", "warehouse_id", "on_hand", "reserved")
    )
    holding = {
        key: value
        for key, (value, _unused) in _sums(
            Reservation.objects.filter(status=ReservationStatus.ACTIVE)
            .order_by()
            .values("sku_id", "warehouse_id")
            .annotate(total=Sum("quantity"))
            .values_list("sku_id", "warehouse_id", "total", "total")
        ).items()
    }
    drifts = []
    for key in sorted(set(levels) | set(ledger) | set(holding)):
        on_hand, reserved = levels.get(key, (0, 0))
        ledger_on_hand, ledger_reserved = ledger.get(key, (0, 0))
        held = holding.get(key, 0)
        if (on_hand, reserved) != (ledger_on_hand, ledger_reserved) or reserved != held:
            drifts.append(Drift(key[0], key[1], on_hand, ledger_on_hand, reserved, ledger_reserved, held))
    return drifts


def verify_stock() -> list[Drift]:
    """Every level against the sum of its ledger rows and its active reservations; [] when consistent.

    Reads one snapshot (REPEATABLE READ on PostgreSQL) so that writes running meanwhile never show
    up as false drift.
    """
    if connection.in_atomic_block:
        return _collect_drift()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        return _collect_drift()
