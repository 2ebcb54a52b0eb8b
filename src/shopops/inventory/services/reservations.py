"""Reservations: reserve, release, commit and expire, atomic and idempotent per reference.

Best warehouse rule (`reserve_stock` without `warehouse_id`): among active warehouses that can cover
the whole request (for a bundle: every component, in the same warehouse), take the one with the most
available units (for a bundle: the most complete bundles), ties to the lowest warehouse id; when a
concurrent reservation drains it first, the next candidate is tried. A request is never split.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from shopops.catalog.models import Sku
from shopops.core.audit import user_or_none
from shopops.core.errors import InvalidInput, NotFound, required_text
from shopops.inventory.ledger import Reference, apply_movement, lock_levels, movement_row, reserve_units
from shopops.inventory.models import (
    BundleComponent,
    MovementType,
    Reservation,
    ReservationStatus,
    StockLevel,
    StockMovement,
    Warehouse,
    WarehouseKind,
)
from shopops.inventory.services.common import (
    InsufficientStock,
    ReservationMismatch,
    StockInconsistent,
    _available_in,
    _positive_quantity,
    _require_warehouse,
    _Shortage,
)


def component_needs(*, sku_id: int, quantity: int) -> dict[int, int]:
    """Units per stock-keeping SKU that `quantity` of `sku_id` consumes (a bundle: its components)."""
    components = dict(
        BundleComponent.objects.filter(bundle_sku_id=sku_id).values_list("component_sku_id", "quantity")
    )
    if not components:
        return {sku_id: quantity}
    return {component_id: per_bundle * quantity for component_id, per_bundle in components.items()}


def _per_unit(needs: dict[int, int], quantity: int) -> dict[int, int]:
    return {sku_id: units // quantity for sku_id, units in needs.items()}


def _candidate_warehouses(needs: dict[int, int], quantity: int) -> list[int]:
    """Active warehouses that can cover every need, the most coverable first (ties: lowest id)."""
    per_unit = _per_unit(needs, quantity)
    by_warehouse: dict[int, dict[int, int]] = {}
    levels = StockLevel.objects.filter(sku_id__in=needs, warehouse__is_active=True).exclude(
        warehouse__kind=WarehouseKind.DEFECTIVE  # graded returns (残次品仓) are never sold from
    )
    for level in levels:
        by_warehouse.setdefault(level.warehouse_id, {})[level.sku_id] = level.available
    scored = []
    for warehouse_id, available in by_warehouse.items():
        if all(available.get(sku_id, 0) >= units for sku_id, units in needs.items()):
            coverable = min(available[sku_id] // per_unit[sku_id] for sku_id in needs)
            scored.append((-coverable, warehouse_id))
    return [warehouse_id for _score, warehouse_id in sorted(scored)]


def _holding(reference_type: str, reference: str, requested_sku_id: int) -> list[Reservation]:
    return list(
        Reservation.objects.filter(
            reference_type=reference_type,
            reference=reference,
            requested_sku_id=requested_sku_id,
            status__in=(ReservationStatus.ACTIVE, ReservationStatus.COMMITTED),
        ).order_by("sku_id")
    )


def _same_request(existing: list[Reservation], needs: dict[int, int]) -> list[Reservation]:
    if {reservation.sku_id: reservation.quantity for reservation in existing} != needs:
        raise ReservationMismatch(
            "该单据已预占此SKU，数量不同",
            fields={"reference": "已预占", "quantity": str(sum(r.quantity for r in existing))},
        )
    return existing


@dataclass(frozen=True)
class _ReservationRequest:
    reference_type: str
    reference: str
    requested_sku_id: int
    needs: dict[int, int]
    expires_at: dt.datetime | None
    actor: Any


def _level_ids(needs: dict[int, int], warehouse_id: int) -> dict[int, int]:
    """{SKU id: level id} of the needs in one warehouse; refuses an unknown or inactive warehouse.

    Hand-written SQL (a hot path of `reserve_stock`): the levels joined with their warehouse.
    """
    level_table = connection.ops.quote_name(StockLevel._meta.db_table)
    warehouse_table = connection.ops.quote_name(Warehouse._meta.db_table)
    sku_ids = list(needs)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT level.sku_id, level.id, warehouse.is_active, warehouse.kind FROM {level_table} level "
            f"JOIN {warehouse_table} warehouse ON warehouse.id = level.warehouse_id "
            f"WHERE level.warehouse_id = %s AND level.sku_id IN ({', '.join(['%s'] * len(sku_ids))})",
            [warehouse_id, *sku_ids],
        )
        rows = cursor.fetchall()
    if not rows or not all(active for _sku_id, _level_id, active, _kind in rows):
        _require_warehouse(warehouse_id)  # raises for an unknown or inactive warehouse
    kinds = {kind for _sku_id, _level_id, _active, kind in rows} or set(
        Warehouse.objects.filter(pk=warehouse_id).values_list("kind", flat=True)
    )
    if WarehouseKind.DEFECTIVE in kinds:
        raise InvalidInput(
            "残次品仓的库存不能预占销售", fields={"warehouse_id": "残次品仓"}, code="warehouse_not_sellable"
        )
    return {sku_id: level_id for sku_id, level_id, _active, _kind in rows}


def _reserve_in(
    request: _ReservationRequest, warehouse_id: int, *, savepoint: bool = True
) -> list[Reservation]:
    """Reserve every need in one warehouse or nothing (raises _Shortage; the changes roll back).

    One INSERT of the reservation rows (the unique holding constraint makes a repeated reference fail
    here), one conditional UPDATE … RETURNING per SKU in level-id order, one INSERT of the ledger rows.
    Without `savepoint` the caller's transaction must end with the _Shortage.
    """
    level_ids = _level_ids(request.needs, warehouse_id)
    if len(level_ids) != len(request.needs):
        raise _Shortage
    ordered = sorted(request.needs, key=lambda sku_id: level_ids[sku_id])
    reference = Reference(request.reference_type, request.reference)
    created_by = user_or_none(request.actor)
    with transaction.atomic(savepoint=savepoint):
        reservations = Reservation.objects.bulk_create(
            Reservation(
                reference_type=request.reference_type,
                reference=request.reference,
                requested_sku_id=request.requested_sku_id,
                sku_id=sku_id,
                warehouse_id=warehouse_id,
                quantity=request.needs[sku_id],
                expires_at=request.expires_at,
                created_by=created_by,
            )
            for sku_id in ordered
        )
        if len(ordered) > 1:
            lock_levels(level_ids.values())
        movements = []
        for sku_id in ordered:
            units = request.needs[sku_id]
            after = reserve_units(level_id=level_ids[sku_id], units=units)
            if after is None:
                raise _Shortage
            movements.append(
                movement_row(
                    sku_id=sku_id,
                    warehouse_id=warehouse_id,
                    movement_type=MovementType.RESERVE,
                    after=after,
                    reserved_delta=units,
                    reference=reference,
                    actor=request.actor,
                )
            )
        StockMovement.objects.bulk_create(movements)
    return sorted(reservations, key=lambda reservation: reservation.sku_id)


def _validate_reservation_input(quantity: Any, reference: str, expires_at: dt.datetime | None) -> str:
    _positive_quantity(quantity)
    reference = required_text(reference, field="reference", label="单据号", max_length=64)
    if expires_at is not None and (not isinstance(expires_at, dt.datetime) or timezone.is_naive(expires_at)):
        raise InvalidInput("过期时间须带时区", fields={"expires_at": "须为带时区的时间"})
    return reference


def _shortage_error(
    sku_id: int, quantity: int, needs: dict[int, int], warehouse_id: int | None
) -> InsufficientStock:
    warehouses = [warehouse_id] if warehouse_id is not None else None
    best = 0
    per_unit = _per_unit(needs, quantity)
    sellable = Warehouse.objects.filter(is_active=True).exclude(kind=WarehouseKind.DEFECTIVE)
    for candidate in warehouses or sellable.values_list("pk", flat=True):
        best = max(
            best, min(_available_in(component, candidate) // per_unit[component] for component in needs)
        )
    return InsufficientStock(
        f"库存不足：需要 {quantity}，单仓最多可预占 {best}",
        fields={"sku_id": str(sku_id), "quantity": str(quantity), "available": str(max(best, 0))},
    )


def _needs_of(sku_id: int, quantity: int) -> dict[int, int]:
    """component_needs and the SKU's existence in one hand-written query (LEFT JOIN on the components)."""
    sku_table = connection.ops.quote_name(Sku._meta.db_table)
    component_table = connection.ops.quote_name(BundleComponent._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT component.component_sku_id, component.quantity FROM {sku_table} sku "
            f"LEFT JOIN {component_table} component ON component.bundle_sku_id = sku.id WHERE sku.id = %s",
            [sku_id],
        )
        rows = cursor.fetchall()
    if not rows:
        raise NotFound("SKU 不存在", fields={"sku_id": "不存在"})
    if rows[0][0] is None:
        return {sku_id: quantity}
    return {component_id: per_bundle * quantity for component_id, per_bundle in rows}


def _reserve_anywhere(request: _ReservationRequest, quantity: int) -> list[Reservation]:
    """Try the best-warehouse candidates in order, each in its own savepoint (raises _Shortage)."""
    for candidate in _candidate_warehouses(request.needs, quantity):
        try:
            return _reserve_in(request, candidate)
        except _Shortage:
            continue
    raise _Shortage


def reserve_stock(
    *,
    sku_id: int,
    quantity: int,
    reference: str,
    actor: Any,
    warehouse_id: int | None = None,
    expires_at: dt.datetime | None = None,
    reference_type: str = "order",
) -> list[Reservation]:
    """Promise `quantity` of a SKU (or a bundle: all its components, or none) to a document.

    Idempotent per (reference_type, reference, SKU): repeating the call returns the reservations
    already held (active or committed) without reserving again. Refuses with `InsufficientStock`
    when no single warehouse can cover the request (see the best-warehouse rule above).
    """
    reference = _validate_reservation_input(quantity, reference, expires_at)
    needs = _needs_of(sku_id, quantity)
    request = _ReservationRequest(reference_type, reference, sku_id, needs, expires_at, actor)
    try:
        with transaction.atomic():
            if warehouse_id is not None:
                return _reserve_in(request, warehouse_id, savepoint=False)
            return _reserve_anywhere(request, quantity)
    except _Shortage:
        # Nothing could be reserved; a reference that already holds this SKU still gets its reservations.
        existing = _holding(reference_type, reference, sku_id)
        if not existing:
            raise _shortage_error(sku_id, quantity, needs, warehouse_id) from None
    except IntegrityError:
        # The unique holding constraint refused the reservation row: the reference already holds this
        # SKU (possibly since a concurrent call with the same reference committed first).
        existing = _holding(reference_type, reference, sku_id)
        if not existing:
            raise
    return _same_request(existing, needs)


def _level_ids_for(reservations: list[Reservation]) -> dict[tuple[int, int], int]:
    pairs = Q()
    for reservation in reservations:
        pairs |= Q(sku_id=reservation.sku_id, warehouse_id=reservation.warehouse_id)
    return {
        (sku_id, warehouse_id): pk
        for pk, sku_id, warehouse_id in StockLevel.objects.filter(pairs).values_list(
            "pk", "sku_id", "warehouse_id"
        )
    }


def _close(reservations: list[Reservation], *, to_status: str, actor: Any, note: str = "") -> int:
    """Move active reservations to `to_status` and give their units back (or ship them). Returns the count."""
    if not reservations:
        return 0
    level_ids = _level_ids_for(reservations)
    shipping = to_status == ReservationStatus.COMMITTED
    closed = 0
    now = timezone.now()
    for reservation in sorted(reservations, key=lambda item: level_ids[(item.sku_id, item.warehouse_id)]):
        claimed = Reservation.objects.filter(pk=reservation.pk, status=ReservationStatus.ACTIVE).update(
            status=to_status, closed_at=now
        )
        if not claimed:
            continue  # closed meanwhile by a concurrent call
        units = reservation.quantity
        movement = apply_movement(
            level_id=level_ids[(reservation.sku_id, reservation.warehouse_id)],
            sku_id=reservation.sku_id,
            warehouse_id=reservation.warehouse_id,
            movement_type=MovementType.SALE_OUT if shipping else MovementType.RELEASE,
            on_hand_delta=-units if shipping else 0,
            reserved_delta=-units,
            condition=Q(reserved__gte=units, on_hand__gte=units),
            reference=Reference(reservation.reference_type, reservation.reference),
            actor=actor,
            note=note,
        )
        if movement is None:
            raise StockInconsistent(
                "库存预占与预占记录不一致", fields={"reservation_id": str(reservation.pk)}
            )
        closed += 1
    return closed


def _reservations_of(reference_type: str, reference: str, sku_id: int | None) -> Any:
    queryset = Reservation.objects.filter(reference_type=reference_type, reference=reference)
    return queryset if sku_id is None else queryset.filter(requested_sku_id=sku_id)


def release_reservation(
    *, reference: str, actor: Any, reference_type: str = "order", sku_id: int | None = None
) -> list[Reservation]:
    """Give back the units a document holds (e.g. the order was cancelled). Idempotent.

    Returns the released reservations of the reference (of `sku_id` only, when given).
    """
    with transaction.atomic():
        active = list(
            _reservations_of(reference_type, reference, sku_id).filter(status=ReservationStatus.ACTIVE)
        )
        _close(active, to_status=ReservationStatus.RELEASED, actor=actor)
    return list(_reservations_of(reference_type, reference, sku_id).filter(status=ReservationStatus.RELEASED))


def _commit_part(
    *, reference_type: str, reference: str, sku_id: int | None, quantity: int, actor: Any
) -> list[Reservation]:
    """Ship `quantity` units of the requested SKU out of what the reference holds (see commit_reservation)."""
    _positive_quantity(quantity)
    if sku_id is None:
        raise InvalidInput("部分出库须指定 SKU", fields={"sku_id": "必填"})
    with transaction.atomic():
        active = list(
            _reservations_of(reference_type, reference, sku_id)
            .filter(status=ReservationStatus.ACTIVE)
            .select_for_update()
            .order_by("sku_id")
        )
        if not active:
            raise NotFound(
                "该单据没有可出库的预占", fields={"reference": "无预占"}, code="reservation_not_found"
            )
        needs = component_needs(sku_id=sku_id, quantity=quantity)
        held = {reservation.sku_id: reservation.quantity for reservation in active}
        if set(needs) != set(held) or any(needs[component] > held[component] for component in needs):
            raise ReservationMismatch(
                "出库数量超过该单据的预占", fields={"quantity": str(quantity), "reference": "预占不足"}
            )
        if needs == held:
            _close(active, to_status=ReservationStatus.COMMITTED, actor=actor)
            return list(
                _reservations_of(reference_type, reference, sku_id).filter(pk__in=[r.pk for r in active])
            )
        level_ids = _level_ids_for(active)
        for reservation in sorted(active, key=lambda item: level_ids[(item.sku_id, item.warehouse_id)]):
            units = needs[reservation.sku_id]
            shrunk = Reservation.objects.filter(
                pk=reservation.pk, status=ReservationStatus.ACTIVE, quantity__gt=units
            ).update(quantity=F("quantity") - units)
            if not shrunk:
                raise ReservationMismatch("预占已被并发修改", fields={"reservation_id": str(reservation.pk)})
            movement = apply_movement(
                level_id=level_ids[(reservation.sku_id, reservation.warehouse_id)],
                sku_id=reservation.sku_id,
                warehouse_id=reservation.warehouse_id,
                movement_type=MovementType.SALE_OUT,
                on_hand_delta=-units,
                reserved_delta=-units,
                condition=Q(reserved__gte=units, on_hand__gte=units),
                reference=Reference(reference_type, reference),
                actor=actor,
            )
            if movement is None:
                raise StockInconsistent(
                    "库存预占与预占记录不一致", fields={"reservation_id": str(reservation.pk)}
                )
        return list(
            Reservation.objects.filter(pk__in=[reservation.pk for reservation in active]).order_by("sku_id")
        )


def commit_reservation(
    *,
    reference: str,
    actor: Any,
    reference_type: str = "order",
    sku_id: int | None = None,
    quantity: int | None = None,
) -> list[Reservation]:
    """Ship what a document holds: on hand and reserved both go down (销售出库). Idempotent.

    Returns the committed reservations of the reference; refuses when it holds nothing to ship.
    With `quantity` (units of the requested `sku_id`, required then) only part ships (a partial
    shipment of an order line): the active reservations shrink by those units and stay active, or are
    committed when that is all they hold. A partial commit is not idempotent; its caller guards it
    (orders count shipped units under the order's lock). Returns the touched reservations then.
    """
    if quantity is not None:
        return _commit_part(
            reference_type=reference_type, reference=reference, sku_id=sku_id, quantity=quantity, actor=actor
        )
    with transaction.atomic():
        holding = _reservations_of(reference_type, reference, sku_id)
        active = list(holding.filter(status=ReservationStatus.ACTIVE))
        _close(active, to_status=ReservationStatus.COMMITTED, actor=actor)
        committed = list(holding.filter(status=ReservationStatus.COMMITTED))
        if not committed:
            raise NotFound(
                "该单据没有可出库的预占", fields={"reference": "无预占"}, code="reservation_not_found"
            )
    return committed


def expire_reservations(*, now: dt.datetime | None = None, actor: Any = None) -> int:
    """Release every active reservation whose expiry has passed (a periodic job). Returns how many."""
    now = now or timezone.now()
    due = list(
        Reservation.objects.filter(status=ReservationStatus.ACTIVE, expires_at__lte=now)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    expired = 0
    for reservation_id in due:
        with transaction.atomic():
            reservation = Reservation.objects.filter(
                pk=reservation_id, status=ReservationStatus.ACTIVE
            ).first()
            if reservation is not None:
                expired += _close(
                    [reservation], to_status=ReservationStatus.EXPIRED, actor=actor, note="预占过期"
                )
    return expired
