"""Stock actions: receive, issue, adjust, reserve, release, commit, expire; warehouses, bundles, scope.

Every change of a stock level is one conditional UPDATE (F() expressions, the rule in its WHERE clause,
the row count checked) followed by one ledger row carrying the level after the change, in the same
transaction. The ledger row is the record of a stock change; `core.audit` additionally records the
decisions people make (warehouses, scopes, bundles, safety stock, manual adjustments).

Best warehouse rule (`reserve_stock` without `warehouse_id`): among active warehouses that can cover
the whole request (for a bundle: every component, in the same warehouse), take the one with the most
available units (for a bundle: the most complete bundles), ties to the lowest warehouse id; when a
concurrent reservation drains it first, the next candidate is tried. A request is never split.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from shopops.catalog.models import Sku
from shopops.core import audit
from shopops.core.errors import Conflict, InvalidInput, NotFound
from shopops.inventory.ledger import Reference, apply_movement, level_id_for, lock_levels
from shopops.inventory.models import (
    INBOUND_TYPES,
    OUTBOUND_TYPES,
    BundleComponent,
    MovementType,
    Reservation,
    ReservationStatus,
    StockLevel,
    StockMovement,
    UserWarehouseScope,
    Warehouse,
    WarehouseKind,
    WarehouseScopeSetting,
)

ADJUSTMENT_TYPES = frozenset(
    {MovementType.ADJUST, MovementType.COUNT_GAIN, MovementType.COUNT_LOSS, MovementType.DAMAGE}
)
WAREHOUSE_FIELDS = ("name", "kind", "is_active", "address")


class InsufficientStock(Conflict):
    code = "insufficient_stock"
    status = 409


class ReservationMismatch(Conflict):
    """The reference already holds a reservation for this SKU with a different quantity."""

    code = "reservation_mismatch"
    status = 409


class StockInconsistent(Conflict):
    """A level no longer covers a reservation it should hold: `shopops stock verify` will show the drift."""

    code = "stock_inconsistent"
    status = 409


class _Shortage(Exception):
    """Raised inside a savepoint so that a partly reserved bundle rolls back as a whole."""


# Helpers shared by the services below.


def _user_or_none(actor: Any) -> Any:
    return actor if getattr(actor, "is_authenticated", False) else None


def _positive_quantity(value: Any, *, field: str = "quantity") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidInput("数量须为正整数", fields={field: "须为正整数"})
    return value


def _required_text(value: str | None, *, field: str, label: str, max_length: int) -> str:
    text = (value or "").strip()
    if not text:
        raise InvalidInput(f"{label}不能为空", fields={field: "必填"})
    if len(text) > max_length:
        raise InvalidInput(
            f"{label}不能超过 {max_length} 个字符", fields={field: f"最多 {max_length} 个字符"}
        )
    return text


def _require_sku(sku_id: int) -> None:
    if not Sku.objects.filter(pk=sku_id).exists():
        raise NotFound("SKU 不存在", fields={"sku_id": "不存在"})


def _require_stock_keeping_sku(sku_id: int) -> None:
    _require_sku(sku_id)
    if BundleComponent.objects.filter(bundle_sku_id=sku_id).exists():
        raise InvalidInput(
            "组合商品没有自己的库存，请操作其子SKU", fields={"sku_id": "组合商品"}, code="bundle_has_no_stock"
        )


def _require_warehouse(warehouse_id: int, *, active: bool = True) -> None:
    found = Warehouse.objects.filter(pk=warehouse_id).values_list("is_active", flat=True).first()
    if found is None:
        raise NotFound("仓库不存在", fields={"warehouse_id": "不存在"})
    if active and not found:
        raise InvalidInput("仓库已停用", fields={"warehouse_id": "已停用"}, code="warehouse_inactive")


def _available_in(sku_id: int, warehouse_id: int) -> int:
    level = StockLevel.objects.filter(sku_id=sku_id, warehouse_id=warehouse_id).first()
    return level.available if level else 0


# Warehouses, scope and bundles.


def create_warehouse(
    *, code: str, name: str, actor: Any, kind: str = WarehouseKind.OWN, address: str = ""
) -> Warehouse:
    code = _required_text(code, field="code", label="仓库编码", max_length=20)
    name = _required_text(name, field="name", label="仓库名称", max_length=60)
    if kind not in WarehouseKind.values:
        raise InvalidInput("仓库类型无效", fields={"kind": "无效"})
    with transaction.atomic():
        if Warehouse.objects.filter(Q(code=code) | Q(name=name)).exists():
            raise Conflict("仓库编码或名称已存在", fields={"code": "重复"}, code="duplicate_warehouse")
        try:
            with transaction.atomic():
                warehouse = Warehouse.objects.create(code=code, name=name, kind=kind, address=address.strip())
        except IntegrityError:
            raise Conflict(
                "仓库编码或名称已存在", fields={"code": "重复"}, code="duplicate_warehouse"
            ) from None
        audit.record(actor=actor, action="warehouse.created", instance=warehouse, before={})
    return warehouse


def update_warehouse(*, warehouse_id: int, actor: Any, **changes: Any) -> Warehouse:
    unknown = set(changes) - set(WAREHOUSE_FIELDS)
    if unknown:
        raise InvalidInput("不能修改这些字段", fields=dict.fromkeys(sorted(unknown), "不可修改"))
    if "kind" in changes and changes["kind"] not in WarehouseKind.values:
        raise InvalidInput("仓库类型无效", fields={"kind": "无效"})
    if "name" in changes:
        changes["name"] = _required_text(changes["name"], field="name", label="仓库名称", max_length=60)
    with transaction.atomic():
        warehouse = Warehouse.objects.select_for_update().filter(pk=warehouse_id).first()
        if warehouse is None:
            raise NotFound("仓库不存在", fields={"warehouse_id": "不存在"})
        before = audit.snapshot(warehouse)
        for name, value in changes.items():
            setattr(warehouse, name, value)
        try:
            with transaction.atomic():
                warehouse.save()
        except IntegrityError:
            raise Conflict("仓库名称已存在", fields={"name": "重复"}, code="duplicate_warehouse") from None
        after = audit.snapshot(warehouse)
        if before != after:
            audit.record(
                actor=actor, action="warehouse.updated", instance=warehouse, before=before, after=after
            )
    return warehouse


def set_warehouse_scope(*, user_id: int, warehouse_ids: Iterable[int] | None, actor: Any) -> None:
    """Limit a user to `warehouse_ids`, or give them every warehouse with None."""
    wanted = None if warehouse_ids is None else sorted(set(warehouse_ids))
    with transaction.atomic():
        if wanted is not None and Warehouse.objects.filter(pk__in=wanted).count() != len(wanted):
            raise InvalidInput("仓库不存在", fields={"warehouse_ids": "含不存在的仓库"})
        setting, _created = WarehouseScopeSetting.objects.select_for_update().get_or_create(user_id=user_id)
        before = {
            "has_all_warehouses": setting.has_all_warehouses if not _created else None,
            "warehouse_ids": sorted(
                UserWarehouseScope.objects.filter(user_id=user_id).values_list("warehouse_id", flat=True)
            ),
        }
        setting.has_all_warehouses = wanted is None
        setting.save(update_fields=["has_all_warehouses"])
        UserWarehouseScope.objects.filter(user_id=user_id).delete()
        UserWarehouseScope.objects.bulk_create(
            [UserWarehouseScope(user_id=user_id, warehouse_id=warehouse_id) for warehouse_id in wanted or []]
        )
        after = {"has_all_warehouses": wanted is None, "warehouse_ids": wanted or []}
        audit.record(
            actor=actor, action="warehouse_scope.changed", instance=setting, before=before, after=after
        )


def _validate_components(bundle_sku_id: int, components: dict[int, int]) -> None:
    if not components:
        raise InvalidInput("组合商品至少需要一个子SKU", fields={"components": "不能为空"})
    for component_id, quantity in components.items():
        _positive_quantity(quantity, field=f"components.{component_id}")
        if component_id == bundle_sku_id:
            raise InvalidInput("组合商品不能包含自己", fields={"components": "包含自己"})
    if Sku.objects.filter(pk__in=components).count() != len(components):
        raise InvalidInput("子SKU不存在", fields={"components": "含不存在的SKU"})
    if BundleComponent.objects.filter(bundle_sku_id__in=components).exists():
        raise InvalidInput("子SKU不能是组合商品", fields={"components": "含组合商品"}, code="nested_bundle")
    if BundleComponent.objects.filter(component_sku_id=bundle_sku_id).exists():
        raise InvalidInput(
            "该SKU已是其他组合的子SKU", fields={"bundle_sku_id": "已是子SKU"}, code="nested_bundle"
        )


def set_bundle_components(
    *, bundle_sku_id: int, components: dict[int, int], actor: Any
) -> list[BundleComponent]:
    """Make a SKU a bundle (组合商品) of `components` ({component SKU id: units per bundle})."""
    with transaction.atomic():
        bundle = Sku.objects.select_for_update().filter(pk=bundle_sku_id).first()
        if bundle is None:
            raise NotFound("SKU 不存在", fields={"bundle_sku_id": "不存在"})
        _validate_components(bundle_sku_id, components)
        if (
            StockLevel.objects.filter(sku_id=bundle_sku_id)
            .filter(Q(on_hand__gt=0) | Q(reserved__gt=0))
            .exists()
        ):
            raise Conflict(
                "该SKU有库存，不能设为组合商品", fields={"bundle_sku_id": "有库存"}, code="bundle_has_stock"
            )
        before = dict(
            BundleComponent.objects.filter(bundle_sku_id=bundle_sku_id).values_list(
                "component_sku_id", "quantity"
            )
        )
        BundleComponent.objects.filter(bundle_sku_id=bundle_sku_id).delete()
        created = BundleComponent.objects.bulk_create(
            [
                BundleComponent(bundle_sku_id=bundle_sku_id, component_sku_id=component_id, quantity=quantity)
                for component_id, quantity in sorted(components.items())
            ]
        )
        audit.record(
            actor=actor,
            action="bundle.changed",
            instance=bundle,
            changes={
                "components": [
                    {str(k): v for k, v in before.items()},
                    {str(k): v for k, v in components.items()},
                ]
            },
        )
    return created


# Stock in, out and adjustments.


def receive_stock(
    *,
    sku_id: int,
    warehouse_id: int,
    quantity: int,
    actor: Any,
    movement_type: str = MovementType.PURCHASE_IN,
    reference_type: str = "",
    reference_id: str = "",
    note: str = "",
) -> StockMovement:
    """Put units on hand (purchase, return, count gain, transfer in, opening stock, adjustment)."""
    quantity = _positive_quantity(quantity)
    if movement_type not in INBOUND_TYPES:
        raise InvalidInput("不是入库类型", fields={"movement_type": "须为入库类型"})
    with transaction.atomic():
        _require_stock_keeping_sku(sku_id)
        _require_warehouse(warehouse_id)
        movement = apply_movement(
            level_id=level_id_for(sku_id, warehouse_id),
            sku_id=sku_id,
            warehouse_id=warehouse_id,
            movement_type=movement_type,
            on_hand_delta=quantity,
            condition=Q(),
            reference=Reference(reference_type, reference_id),
            actor=actor,
            note=note,
        )
        assert movement is not None  # an unconditional update always matches the existing row
    return movement


def issue_stock(
    *,
    sku_id: int,
    warehouse_id: int,
    quantity: int,
    actor: Any,
    movement_type: str = MovementType.SALE_OUT,
    reference_type: str = "",
    reference_id: str = "",
    note: str = "",
) -> StockMovement:
    """Take units off hand that nobody holds a reservation for (sale without reservation, loss, damage…)."""
    quantity = _positive_quantity(quantity)
    if movement_type not in OUTBOUND_TYPES:
        raise InvalidInput("不是出库类型", fields={"movement_type": "须为出库类型"})
    with transaction.atomic():
        _require_stock_keeping_sku(sku_id)
        _require_warehouse(warehouse_id, active=False)
        movement = apply_movement(
            level_id=level_id_for(sku_id, warehouse_id),
            sku_id=sku_id,
            warehouse_id=warehouse_id,
            movement_type=movement_type,
            on_hand_delta=-quantity,
            condition=Q(on_hand__gte=F("reserved") + quantity),
            reference=Reference(reference_type, reference_id),
            actor=actor,
            note=note,
        )
        if movement is None:
            level = StockLevel.objects.get(sku_id=sku_id, warehouse_id=warehouse_id)
            free = level.on_hand - level.reserved
            raise InsufficientStock(
                f"未预占的在库数量不足：需要 {quantity}，可用 {free}",
                fields={"sku_id": str(sku_id), "quantity": str(quantity), "available": str(free)},
            )
    return movement


def adjust_stock(
    *,
    sku_id: int,
    warehouse_id: int,
    quantity_delta: int,
    reason: str,
    actor: Any,
    movement_type: str = MovementType.ADJUST,
    reference_type: str = "",
    reference_id: str = "",
) -> StockMovement:
    """A manual correction of on-hand stock (调整, 盘盈, 盘亏, 报损) with a reason, audited."""
    reason = _required_text(reason, field="reason", label="原因", max_length=300)
    if isinstance(quantity_delta, bool) or not isinstance(quantity_delta, int) or quantity_delta == 0:
        raise InvalidInput("调整数量须为非零整数", fields={"quantity_delta": "须为非零整数"})
    if movement_type not in ADJUSTMENT_TYPES:
        raise InvalidInput("不是调整类型", fields={"movement_type": "须为调整、盘盈、盘亏或报损"})
    if (movement_type == MovementType.COUNT_GAIN and quantity_delta < 0) or (
        movement_type in (MovementType.COUNT_LOSS, MovementType.DAMAGE) and quantity_delta > 0
    ):
        raise InvalidInput("调整方向与类型不符", fields={"quantity_delta": "方向与类型不符"})
    arguments: dict[str, Any] = {
        "sku_id": sku_id,
        "warehouse_id": warehouse_id,
        "quantity": abs(quantity_delta),
        "actor": actor,
        "movement_type": movement_type,
        "reference_type": reference_type,
        "reference_id": reference_id,
        "note": reason,
    }
    with transaction.atomic():
        movement = receive_stock(**arguments) if quantity_delta > 0 else issue_stock(**arguments)
        level = StockLevel.objects.get(sku_id=sku_id, warehouse_id=warehouse_id)
        audit.record(
            actor=actor,
            action="stock.adjusted",
            instance=level,
            changes={
                "on_hand": [movement.on_hand_before, movement.on_hand_after],
                "movement_type": movement_type,
            },
            reason=reason,
        )
    return movement


def set_safety_stock(*, sku_id: int, warehouse_id: int, safety_stock: int, actor: Any) -> StockLevel:
    """Units kept back from reservations (安全库存). Lowering or raising it never touches on hand."""
    if isinstance(safety_stock, bool) or not isinstance(safety_stock, int) or safety_stock < 0:
        raise InvalidInput("安全库存须为非负整数", fields={"safety_stock": "须为非负整数"})
    with transaction.atomic():
        _require_stock_keeping_sku(sku_id)
        _require_warehouse(warehouse_id, active=False)
        level_id = level_id_for(sku_id, warehouse_id)
        level = StockLevel.objects.select_for_update().get(pk=level_id)
        before = level.safety_stock
        if before != safety_stock:
            StockLevel.objects.filter(pk=level_id).update(
                safety_stock=safety_stock, updated_at=timezone.now()
            )
            level.refresh_from_db()
            audit.record(
                actor=actor,
                action="stock.safety_stock_changed",
                instance=level,
                changes={"safety_stock": [before, safety_stock]},
            )
    return level


# Reservations.


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
    for level in StockLevel.objects.filter(sku_id__in=needs, warehouse__is_active=True):
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


def _reserve_in(request: _ReservationRequest, warehouse_id: int) -> list[Reservation]:
    """Reserve every need in one warehouse or nothing (raises _Shortage after rolling back)."""
    level_ids = dict(
        StockLevel.objects.filter(sku_id__in=request.needs, warehouse_id=warehouse_id).values_list(
            "sku_id", "pk"
        )
    )
    if len(level_ids) != len(request.needs):
        raise _Shortage
    ordered = sorted(request.needs, key=lambda sku_id: level_ids[sku_id])
    with transaction.atomic():
        reservations = [
            Reservation.objects.create(
                reference_type=request.reference_type,
                reference=request.reference,
                requested_sku_id=request.requested_sku_id,
                sku_id=sku_id,
                warehouse_id=warehouse_id,
                quantity=request.needs[sku_id],
                expires_at=request.expires_at,
                created_by=_user_or_none(request.actor),
            )
            for sku_id in ordered
        ]
        if len(ordered) > 1:
            lock_levels(level_ids.values())
        for sku_id in ordered:
            units = request.needs[sku_id]
            movement = apply_movement(
                level_id=level_ids[sku_id],
                sku_id=sku_id,
                warehouse_id=warehouse_id,
                movement_type=MovementType.RESERVE,
                reserved_delta=units,
                condition=Q(on_hand__gte=F("reserved") + F("safety_stock") + units),
                reference=Reference(request.reference_type, request.reference),
                actor=request.actor,
            )
            if movement is None:
                raise _Shortage
    return sorted(reservations, key=lambda reservation: reservation.sku_id)


def _validate_reservation_input(quantity: Any, reference: str, expires_at: dt.datetime | None) -> str:
    _positive_quantity(quantity)
    reference = _required_text(reference, field="reference", label="单据号", max_length=64)
    if expires_at is not None and (not isinstance(expires_at, dt.datetime) or timezone.is_naive(expires_at)):
        raise InvalidInput("过期时间须带时区", fields={"expires_at": "须为带时区的时间"})
    return reference


def _shortage_error(
    sku_id: int, quantity: int, needs: dict[int, int], warehouse_id: int | None
) -> InsufficientStock:
    warehouses = [warehouse_id] if warehouse_id is not None else None
    best = 0
    per_unit = _per_unit(needs, quantity)
    for candidate in warehouses or Warehouse.objects.filter(is_active=True).values_list("pk", flat=True):
        best = max(
            best, min(_available_in(component, candidate) // per_unit[component] for component in needs)
        )
    return InsufficientStock(
        f"库存不足：需要 {quantity}，单仓最多可预占 {best}",
        fields={"sku_id": str(sku_id), "quantity": str(quantity), "available": str(max(best, 0))},
    )


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
    _require_sku(sku_id)
    if warehouse_id is not None:
        _require_warehouse(warehouse_id)
    needs = component_needs(sku_id=sku_id, quantity=quantity)
    request = _ReservationRequest(reference_type, reference, sku_id, needs, expires_at, actor)
    try:
        with transaction.atomic():
            existing = _holding(reference_type, reference, sku_id)
            if existing:
                return _same_request(existing, needs)
            candidates = (
                [warehouse_id] if warehouse_id is not None else _candidate_warehouses(needs, quantity)
            )
            for candidate in candidates:
                try:
                    return _reserve_in(request, candidate)
                except _Shortage:
                    continue
    except IntegrityError:
        # A concurrent call with the same reference committed first: return what it reserved.
        existing = _holding(reference_type, reference, sku_id)
        if not existing:
            raise
        return _same_request(existing, needs)
    raise _shortage_error(sku_id, quantity, needs, warehouse_id)


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


def commit_reservation(
    *, reference: str, actor: Any, reference_type: str = "order", sku_id: int | None = None
) -> list[Reservation]:
    """Ship what a document holds: on hand and reserved both go down (销售出库). Idempotent.

    Returns the committed reservations of the reference; refuses when it holds nothing to ship.
    """
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
