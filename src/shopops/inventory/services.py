"""Stock actions: receive, issue, adjust, reserve, release, commit, expire; warehouses, bundles, scope;
channel stock rules, stocktakes, transfers, write-offs, thresholds and stock alerts.

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
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from shopops.accounts.roles import role_group_name
from shopops.catalog.models import Category, Sku
from shopops.channels.models import Shop
from shopops.core import audit
from shopops.core.errors import Conflict, InvalidInput, NotFound, PermissionDeniedError
from shopops.core.models import AlertSeverity
from shopops.core.money import to_money
from shopops.core.notifications import open_alert_keys, raise_alert, resolve_alert
from shopops.inventory.ledger import Reference, apply_movement, level_id_for, lock_levels
from shopops.inventory.models import (
    INBOUND_TYPES,
    OUTBOUND_TYPES,
    STOCKTAKE_TRANSITIONS,
    TRANSFER_TRANSITIONS,
    BundleComponent,
    ChannelStockRule,
    Location,
    MovementType,
    Reservation,
    ReservationStatus,
    StockLevel,
    StockMovement,
    Stocktake,
    StocktakeLine,
    StocktakeScope,
    StocktakeStatus,
    StockThreshold,
    Transfer,
    TransferLine,
    TransferStatus,
    UserWarehouseScope,
    Warehouse,
    WarehouseKind,
    WarehouseScopeSetting,
    WriteOffReason,
)
from shopops.inventory.queries import sellable_quantity

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


# Per-channel available-to-sell.


def _active_warehouse_ids() -> set[int]:
    return set(Warehouse.objects.filter(is_active=True).values_list("pk", flat=True))


def _rule_warehouse_ids(rule: ChannelStockRule | None, active: set[int]) -> set[int]:
    """The active warehouses a shop sells from: the rule's choice, or every active one when none is chosen."""
    if rule is None:
        return set(active)
    chosen = {warehouse.pk for warehouse in rule.warehouses.all()}
    return chosen & active if chosen else set(active)


def channel_available(*, sku_id: int, shop_id: int) -> int:
    """Units of a SKU (or complete bundles) a shop may show as stock: the figure a marketplace sync pushes.

    The rule (`ChannelStockRule`): pool = Σ over the shop's warehouses of available units (on hand −
    reserved − safety stock, never below 0; a bundle counts complete bundles per warehouse); then
    result = min(pool − units other shops keep for themselves − buffer, ⌊pool × quota% / 100⌋), never
    below 0. "Other shops keep" sums `reserved_units` of every other active rule of an active shop whose
    warehouses overlap this shop's. A shop without an active rule sells from every active warehouse with
    no buffer and a 100 % quota (others' keep-backs still apply); an inactive shop sells nothing.
    """
    is_active = Shop.objects.filter(pk=shop_id).values_list("is_active", flat=True).first()
    if is_active is None:
        raise NotFound("店铺不存在", fields={"shop_id": "不存在"})
    _require_sku(sku_id)
    if not is_active:
        return 0
    rules = {
        rule.shop_id: rule
        for rule in ChannelStockRule.objects.filter(is_active=True, shop__is_active=True).prefetch_related(
            "warehouses"
        )
    }
    active = _active_warehouse_ids()
    own_rule = rules.get(shop_id)
    mine = _rule_warehouse_ids(own_rule, active)
    pool = sum(sellable_quantity(sku_id=sku_id, warehouse_id=warehouse_id) for warehouse_id in sorted(mine))
    kept_for_others = sum(
        rule.reserved_units
        for other_shop_id, rule in rules.items()
        if other_shop_id != shop_id and rule.reserved_units and _rule_warehouse_ids(rule, active) & mine
    )
    buffer_units = own_rule.buffer_units if own_rule else 0
    quota_percent = own_rule.quota_percent if own_rule else 100
    return max(min(pool - kept_for_others - buffer_units, pool * quota_percent // 100), 0)


def set_channel_stock_rule(
    *,
    shop_id: int,
    actor: Any,
    warehouse_ids: Iterable[int] = (),
    buffer_units: int = 0,
    quota_percent: int = 100,
    reserved_units: int = 0,
    is_active: bool = True,
) -> ChannelStockRule:
    """Create or replace a shop's channel stock rule (see `channel_available` for how it is applied)."""
    for field, value in (("buffer_units", buffer_units), ("reserved_units", reserved_units)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidInput("须为非负整数", fields={field: "须为非负整数"})
    if isinstance(quota_percent, bool) or not isinstance(quota_percent, int) or not 0 <= quota_percent <= 100:
        raise InvalidInput("占比须为 0–100 的整数", fields={"quota_percent": "须为 0–100"})
    wanted = sorted(set(warehouse_ids))
    with transaction.atomic():
        if not Shop.objects.filter(pk=shop_id).exists():
            raise NotFound("店铺不存在", fields={"shop_id": "不存在"})
        if Warehouse.objects.filter(pk__in=wanted).count() != len(wanted):
            raise InvalidInput("仓库不存在", fields={"warehouse_ids": "含不存在的仓库"})
        rule = ChannelStockRule.objects.select_for_update().filter(shop_id=shop_id).first()
        before = _rule_snapshot(rule)
        if rule is None:
            rule = ChannelStockRule(shop_id=shop_id)
        rule.buffer_units, rule.quota_percent = buffer_units, quota_percent
        rule.reserved_units, rule.is_active = reserved_units, is_active
        rule.save()
        rule.warehouses.set(wanted)
        audit.record(
            actor=actor,
            action="channel_stock_rule.changed",
            instance=rule,
            before=before,
            after=_rule_snapshot(rule),
        )
    return rule


def _rule_snapshot(rule: ChannelStockRule | None) -> dict[str, Any]:
    if rule is None:
        return {}
    data = audit.snapshot(rule)
    data.pop("updated_at", None)
    data["warehouse_ids"] = sorted(rule.warehouses.values_list("pk", flat=True))
    return data


# Stocktake (盘点).
#
# Rule for movements during a count: each line keeps the on hand at the snapshot (expected) and the
# on hand at its last count entry (book = snapshot + every movement posted in between, because a level
# always equals its ledger sum). Variance = counted − book. Posting adds the variance to the level as it
# is then, so movements between the count entry and posting stay untouched. A count entered in several
# scans (mode "add") takes the book at its last scan. Lines never counted are not adjusted; they are
# reported as uncounted. A SKU found on the shelf but not in the snapshot gets a line whose snapshot is
# the on hand at its first entry.


class StocktakeNotCounting(Conflict):
    code = "stocktake_not_counting"
    status = 409


class CountMode:
    SET = "set"
    ADD = "add"


def _category_and_descendants(category_id: int) -> set[int]:
    children: dict[int | None, list[int]] = {}
    for pk, parent_id in Category.objects.values_list("pk", "parent_id"):
        children.setdefault(parent_id, []).append(pk)
    found = {category_id}
    frontier = [category_id]
    while frontier:
        for child in children.get(frontier.pop(), []):
            if child not in found:
                found.add(child)
                frontier.append(child)
    return found


def _stock_keeping(sku_ids: Iterable[int]) -> list[int]:
    wanted = set(sku_ids)
    bundles = set(
        BundleComponent.objects.filter(bundle_sku_id__in=wanted).values_list("bundle_sku_id", flat=True)
    )
    return sorted(wanted - bundles)


def _stocktake_sku_ids(
    *, warehouse_id: int, scope: str, category_id: int | None, location_id: int | None, sku_ids: Iterable[int]
) -> list[int]:
    levels = StockLevel.objects.filter(warehouse_id=warehouse_id)
    if scope == StocktakeScope.FULL:
        return _stock_keeping(levels.values_list("sku_id", flat=True))
    if scope == StocktakeScope.CATEGORY:
        if category_id is None or not Category.objects.filter(pk=category_id).exists():
            raise InvalidInput("请选择类目", fields={"category_id": "必填"})
        categories = _category_and_descendants(category_id)
        return _stock_keeping(
            levels.filter(sku__product__category_id__in=categories).values_list("sku_id", flat=True)
        )
    if scope == StocktakeScope.LOCATION:
        if (
            location_id is None
            or not Location.objects.filter(pk=location_id, warehouse_id=warehouse_id).exists()
        ):
            raise InvalidInput("请选择本仓库的库位", fields={"location_id": "必填"})
        return _stock_keeping(levels.filter(location_id=location_id).values_list("sku_id", flat=True))
    wanted = sorted(set(sku_ids))
    if not wanted:
        raise InvalidInput("请选择要盘点的SKU", fields={"sku_ids": "不能为空"})
    if Sku.objects.filter(pk__in=wanted).count() != len(wanted):
        raise InvalidInput("SKU 不存在", fields={"sku_ids": "含不存在的SKU"})
    if _stock_keeping(wanted) != wanted:
        raise InvalidInput(
            "组合商品没有自己的库存", fields={"sku_ids": "含组合商品"}, code="bundle_has_no_stock"
        )
    return wanted


def _on_hand(sku_id: int, warehouse_id: int) -> int:
    found = StockLevel.objects.filter(sku_id=sku_id, warehouse_id=warehouse_id).values_list(
        "on_hand", flat=True
    )
    return found.first() or 0


def start_stocktake(
    *,
    warehouse_id: int,
    scope: str,
    actor: Any,
    category_id: int | None = None,
    location_id: int | None = None,
    sku_ids: Iterable[int] = (),
    is_blind: bool = True,
    note: str = "",
) -> Stocktake:
    """Open a count of one warehouse and snapshot the on hand of every SKU in its scope.

    Full: every SKU with a level in the warehouse; category: those of the category and its
    sub-categories; location: those whose level sits at the location; SKU list: exactly those.
    """
    if scope not in StocktakeScope.values:
        raise InvalidInput("盘点范围无效", fields={"scope": "无效"})
    with transaction.atomic():
        _require_warehouse(warehouse_id)
        in_scope = _stocktake_sku_ids(
            warehouse_id=warehouse_id,
            scope=scope,
            category_id=category_id,
            location_id=location_id,
            sku_ids=sku_ids,
        )
        stocktake = Stocktake.objects.create(
            warehouse_id=warehouse_id,
            scope=scope,
            category_id=category_id if scope == StocktakeScope.CATEGORY else None,
            location_id=location_id if scope == StocktakeScope.LOCATION else None,
            is_blind=is_blind,
            note=note.strip()[:300],
            created_by=_user_or_none(actor),
            started_at=timezone.now(),
        )
        on_hand = dict(
            StockLevel.objects.filter(warehouse_id=warehouse_id, sku_id__in=in_scope).values_list(
                "sku_id", "on_hand"
            )
        )
        costs = dict(Sku.objects.filter(pk__in=in_scope).values_list("pk", "cost_price"))
        StocktakeLine.objects.bulk_create(
            [
                StocktakeLine(
                    stocktake=stocktake,
                    sku_id=sku_id,
                    expected_quantity=on_hand.get(sku_id, 0),
                    unit_cost=costs[sku_id],
                )
                for sku_id in in_scope
            ]
        )
        audit.record(
            actor=actor,
            action="stocktake.started",
            instance=stocktake,
            changes={"scope": scope, "lines": len(in_scope), "is_blind": is_blind},
        )
    return stocktake


def _locked_stocktake(stocktake_id: int, *, statuses: Iterable[str]) -> Stocktake:
    stocktake = Stocktake.objects.select_for_update().filter(pk=stocktake_id).first()
    if stocktake is None:
        raise NotFound("盘点单不存在", fields={"stocktake_id": "不存在"})
    if stocktake.status not in set(statuses):
        raise StocktakeNotCounting(
            f"盘点单状态为{stocktake.get_status_display()}，不能执行此操作",
            fields={"status": stocktake.status},
        )
    return stocktake


def find_sku_by_code(code: str) -> Sku:
    """The SKU whose barcode (条码) or merchant code (商家编码) is `code`; the barcode wins."""
    text = (code or "").strip()
    if not text:
        raise InvalidInput("请输入条码或商家编码", fields={"barcode_or_code": "必填"})
    sku = Sku.objects.filter(barcode=text).first() or Sku.objects.filter(merchant_code=text).first()
    if sku is None:
        raise NotFound(
            f"找不到条码或商家编码为 {text} 的SKU", fields={"barcode_or_code": "不存在"}, code="sku_not_found"
        )
    return sku


def record_count(
    *,
    stocktake_id: int,
    barcode_or_code: str,
    quantity: int,
    actor: Any,
    mode: str = CountMode.SET,
) -> StocktakeLine:
    """Enter a count for one SKU found by barcode or merchant code (scanner-friendly).

    mode "set" replaces the counted quantity; mode "add" adds to it (one scan = +1; a negative number
    corrects a mis-scan), never below zero. The line's book quantity is the on hand at this entry.
    """
    if mode not in (CountMode.SET, CountMode.ADD):
        raise InvalidInput("录入方式须为 set 或 add", fields={"mode": "须为 set 或 add"})
    if (
        isinstance(quantity, bool)
        or not isinstance(quantity, int)
        or (mode == CountMode.SET and quantity < 0)
    ):
        raise InvalidInput("数量须为非负整数", fields={"quantity": "须为非负整数"})
    with transaction.atomic():
        stocktake = _locked_stocktake(stocktake_id, statuses=[StocktakeStatus.COUNTING])
        sku = find_sku_by_code(barcode_or_code)
        _require_stock_keeping_sku(sku.pk)
        on_hand = _on_hand(sku.pk, stocktake.warehouse_id)
        line = StocktakeLine.objects.filter(stocktake=stocktake, sku=sku).first()
        if line is None:
            line = StocktakeLine(
                stocktake=stocktake, sku=sku, expected_quantity=on_hand, unit_cost=sku.cost_price
            )
        counted = quantity if mode == CountMode.SET else (line.counted_quantity or 0) + quantity
        if counted < 0:
            raise InvalidInput("实盘数不能小于 0", fields={"quantity": f"累计为 {counted}"})
        line.counted_quantity = counted
        line.book_quantity = on_hand
        line.counted_at = timezone.now()
        line.counted_by = _user_or_none(actor)
        line.save()
    return line


def submit_stocktake(*, stocktake_id: int, actor: Any) -> Stocktake:
    """Counting is done: hand the stocktake to an approver. At least one line must be counted."""
    with transaction.atomic():
        stocktake = _locked_stocktake(stocktake_id, statuses=[StocktakeStatus.COUNTING])
        if not stocktake.lines.filter(counted_quantity__isnull=False).exists():
            raise InvalidInput("还没有录入任何实盘数", fields={"lines": "未盘点"}, code="stocktake_empty")
        return _move_stocktake(stocktake, StocktakeStatus.SUBMITTED, actor=actor, submitted_at=timezone.now())


def reopen_stocktake(*, stocktake_id: int, actor: Any, reason: str = "") -> Stocktake:
    """Send a submitted stocktake back to counting (e.g. the approver asks for a recount)."""
    with transaction.atomic():
        stocktake = _locked_stocktake(stocktake_id, statuses=[StocktakeStatus.SUBMITTED])
        return _move_stocktake(
            stocktake, StocktakeStatus.COUNTING, actor=actor, reason=reason, submitted_at=None
        )


def cancel_stocktake(*, stocktake_id: int, actor: Any, reason: str = "") -> Stocktake:
    """Abandon a stocktake that is not posted; nothing is adjusted."""
    with transaction.atomic():
        stocktake = _locked_stocktake(
            stocktake_id, statuses=[StocktakeStatus.COUNTING, StocktakeStatus.SUBMITTED]
        )
        return _move_stocktake(stocktake, StocktakeStatus.CANCELLED, actor=actor, reason=reason)


def _move_stocktake(
    stocktake: Stocktake, status: str, *, actor: Any, reason: str = "", **fields: Any
) -> Stocktake:
    assert status in STOCKTAKE_TRANSITIONS[stocktake.status]
    before = stocktake.status
    stocktake.status = status
    for name, value in fields.items():
        setattr(stocktake, name, value)
    stocktake.save()
    audit.record(
        actor=actor,
        action=f"stocktake.{status}",
        instance=stocktake,
        changes={"status": [before, status]},
        reason=reason,
    )
    return stocktake


def post_stocktake(*, stocktake_id: int, actor: Any) -> Stocktake:
    """Approve a submitted stocktake and post every variance to the ledger (盘盈 / 盘亏).

    Segregation of duties: the approver must be a signed-in user who entered none of its counts.
    A loss larger than the unreserved units refuses the whole posting (release reservations first).
    """
    if not getattr(actor, "is_authenticated", False):
        raise PermissionDeniedError("审核须由登录用户执行", code="not_authenticated")
    with transaction.atomic():
        stocktake = _locked_stocktake(stocktake_id, statuses=[StocktakeStatus.SUBMITTED])
        counters = set(stocktake.lines.exclude(counted_by=None).values_list("counted_by_id", flat=True))
        if actor.pk in counters:
            raise PermissionDeniedError(
                "盘点人不能审核自己参与的盘点单", fields={"actor": "是盘点人"}, code="approver_is_counter"
            )
        reference = f"{stocktake.pk}"
        for line in stocktake.lines.filter(counted_quantity__isnull=False).order_by("sku_id"):
            variance = line.variance or 0
            if variance:
                adjust_stock(
                    sku_id=line.sku_id,
                    warehouse_id=stocktake.warehouse_id,
                    quantity_delta=variance,
                    reason=f"盘点单 #{stocktake.pk}",
                    actor=actor,
                    movement_type=MovementType.COUNT_GAIN if variance > 0 else MovementType.COUNT_LOSS,
                    reference_type="stocktake",
                    reference_id=reference,
                )
            StocktakeLine.objects.filter(pk=line.pk).update(posted_quantity=variance)
        return _move_stocktake(
            stocktake, StocktakeStatus.POSTED, actor=actor, posted_at=timezone.now(), approved_by=actor
        )


@dataclass(frozen=True)
class VarianceLine:
    """One line of the variance report; quantities in units, values in yuan at the snapshot cost."""

    sku_id: int
    merchant_code: str
    expected_quantity: int
    movement_quantity: int | None
    book_quantity: int | None
    counted_quantity: int | None
    variance: int | None
    unit_cost: Decimal
    variance_value: Decimal | None


@dataclass(frozen=True)
class VarianceReport:
    """The variance of a stocktake (盘点差异) by quantity and by value, with gains and losses apart."""

    stocktake_id: int
    lines: list[VarianceLine]
    counted_lines: int
    uncounted_lines: int
    gain_quantity: int
    loss_quantity: int
    gain_value: Decimal
    loss_value: Decimal

    @property
    def net_quantity(self) -> int:
        return self.gain_quantity - self.loss_quantity

    @property
    def net_value(self) -> Decimal:
        return self.gain_value - self.loss_value


def stocktake_variance(*, stocktake_id: int) -> VarianceReport:
    """Counted − book per line (see the rule above), valued at the cost price captured at the snapshot."""
    if not Stocktake.objects.filter(pk=stocktake_id).exists():
        raise NotFound("盘点单不存在", fields={"stocktake_id": "不存在"})
    lines = []
    for line in (
        StocktakeLine.objects.filter(stocktake_id=stocktake_id).select_related("sku").order_by("sku_id")
    ):
        variance = line.variance
        lines.append(
            VarianceLine(
                sku_id=line.sku_id,
                merchant_code=line.sku.merchant_code,
                expected_quantity=line.expected_quantity,
                movement_quantity=line.movement_quantity,
                book_quantity=line.book_quantity,
                counted_quantity=line.counted_quantity,
                variance=variance,
                unit_cost=line.unit_cost,
                variance_value=None if variance is None else to_money(line.unit_cost * variance),
            )
        )
    counted = [line for line in lines if line.variance is not None]
    return VarianceReport(
        stocktake_id=stocktake_id,
        lines=lines,
        counted_lines=len(counted),
        uncounted_lines=len(lines) - len(counted),
        gain_quantity=sum(line.variance or 0 for line in counted if (line.variance or 0) > 0),
        loss_quantity=-sum(line.variance or 0 for line in counted if (line.variance or 0) < 0),
        gain_value=sum(
            (line.variance_value or Decimal(0) for line in counted if (line.variance or 0) > 0),
            Decimal("0.00"),
        ),
        loss_value=-sum(
            (line.variance_value or Decimal(0) for line in counted if (line.variance or 0) < 0),
            Decimal("0.00"),
        ),
    )


# Transfers (调拨) and write-offs (报损).


class TransferStateError(Conflict):
    code = "transfer_invalid_state"
    status = 409


def _locked_transfer(transfer_id: int, *, statuses: Iterable[str]) -> Transfer:
    transfer = Transfer.objects.select_for_update().filter(pk=transfer_id).first()
    if transfer is None:
        raise NotFound("调拨单不存在", fields={"transfer_id": "不存在"})
    if transfer.status not in set(statuses):
        raise TransferStateError(
            f"调拨单状态为{transfer.get_status_display()}，不能执行此操作", fields={"status": transfer.status}
        )
    return transfer


def _move_transfer(
    transfer: Transfer,
    status: str,
    *,
    actor: Any,
    reason: str = "",
    differences: dict[str, int] | None = None,
    **fields: Any,
) -> Transfer:
    assert status in TRANSFER_TRANSITIONS[transfer.status]
    before = transfer.status
    transfer.status = status
    for name, value in fields.items():
        setattr(transfer, name, value)
    transfer.save()
    changes: dict[str, Any] = {"status": [before, status]}
    if differences is not None:
        changes["differences"] = differences
    audit.record(actor=actor, action=f"transfer.{status}", instance=transfer, changes=changes, reason=reason)
    return transfer


def create_transfer(
    *, source_id: int, destination_id: int, lines: dict[int, int], actor: Any, note: str = ""
) -> Transfer:
    """A draft transfer of `lines` ({SKU id: units}) from one warehouse to another."""
    if source_id == destination_id:
        raise InvalidInput("调出仓与调入仓不能相同", fields={"destination_id": "与调出仓相同"})
    if not lines:
        raise InvalidInput("调拨单至少需要一个SKU", fields={"lines": "不能为空"})
    for sku_id, quantity in lines.items():
        _positive_quantity(quantity, field=f"lines.{sku_id}")
    with transaction.atomic():
        _require_warehouse(source_id)
        _require_warehouse(destination_id)
        for sku_id in lines:
            _require_stock_keeping_sku(sku_id)
        transfer = Transfer.objects.create(
            source_id=source_id,
            destination_id=destination_id,
            note=note.strip()[:300],
            created_by=_user_or_none(actor),
        )
        TransferLine.objects.bulk_create(
            [
                TransferLine(transfer=transfer, sku_id=sku_id, quantity=quantity)
                for sku_id, quantity in sorted(lines.items())
            ]
        )
        audit.record(
            actor=actor,
            action="transfer.created",
            instance=transfer,
            changes={"lines": {str(sku_id): quantity for sku_id, quantity in sorted(lines.items())}},
        )
    return transfer


def _change_in_transit(*, sku_id: int, warehouse_id: int, delta: int) -> None:
    level_id = level_id_for(sku_id, warehouse_id)
    updated = StockLevel.objects.filter(pk=level_id, in_transit__gte=-delta if delta < 0 else 0).update(
        in_transit=F("in_transit") + delta, updated_at=timezone.now()
    )
    if not updated:
        raise StockInconsistent("在途数量与调拨单不一致", fields={"sku_id": str(sku_id)})


def ship_transfer(*, transfer_id: int, actor: Any) -> Transfer:
    """Take every line off the source (调拨出, unreserved units only) and count it in transit at the destination."""
    with transaction.atomic():
        transfer = _locked_transfer(transfer_id, statuses=[TransferStatus.DRAFT])
        _require_warehouse(transfer.destination_id)
        for line in transfer.lines.order_by("sku_id"):
            issue_stock(
                sku_id=line.sku_id,
                warehouse_id=transfer.source_id,
                quantity=line.quantity,
                actor=actor,
                movement_type=MovementType.TRANSFER_OUT,
                reference_type="transfer",
                reference_id=str(transfer.pk),
            )
            _change_in_transit(sku_id=line.sku_id, warehouse_id=transfer.destination_id, delta=line.quantity)
            TransferLine.objects.filter(pk=line.pk).update(shipped_quantity=line.quantity)
        return _move_transfer(transfer, TransferStatus.SHIPPED, actor=actor, shipped_at=timezone.now())


def receive_transfer(*, transfer_id: int, quantities: dict[int, int], actor: Any) -> Transfer:
    """Put received units on hand at the destination (调拨入); partial receipts are allowed.

    `quantities` is {SKU id: units received now}; more than is still in transit is refused.
    """
    if not quantities:
        raise InvalidInput("请填写收货数量", fields={"quantities": "不能为空"})
    for sku_id, quantity in quantities.items():
        _positive_quantity(quantity, field=f"quantities.{sku_id}")
    with transaction.atomic():
        transfer = _locked_transfer(
            transfer_id, statuses=[TransferStatus.SHIPPED, TransferStatus.PARTIALLY_RECEIVED]
        )
        lines = {line.sku_id: line for line in transfer.lines.select_for_update().order_by("pk")}
        for sku_id, quantity in sorted(quantities.items()):
            line = lines.get(sku_id)
            if line is None:
                raise InvalidInput("该SKU不在调拨单中", fields={f"quantities.{sku_id}": "不在调拨单中"})
            if quantity > line.in_transit_quantity:
                raise InvalidInput(
                    f"收货数量超过在途数量 {line.in_transit_quantity}",
                    fields={f"quantities.{sku_id}": f"最多 {line.in_transit_quantity}"},
                    code="over_receipt",
                )
            receive_stock(
                sku_id=sku_id,
                warehouse_id=transfer.destination_id,
                quantity=quantity,
                actor=actor,
                movement_type=MovementType.TRANSFER_IN,
                reference_type="transfer",
                reference_id=str(transfer.pk),
            )
            _change_in_transit(sku_id=sku_id, warehouse_id=transfer.destination_id, delta=-quantity)
            line.received_quantity += quantity
            line.save(update_fields=["received_quantity"])
        is_complete = all(line.in_transit_quantity == 0 for line in lines.values())
        status = TransferStatus.RECEIVED if is_complete else TransferStatus.PARTIALLY_RECEIVED
        closed_at = timezone.now() if is_complete else None
        return _move_transfer(transfer, status, actor=actor, closed_at=closed_at)


def transfer_differences(*, transfer_id: int) -> dict[int, int]:
    """{SKU id: units shipped but not received} for the lines that differ (empty when all arrived)."""
    return {
        sku_id: shipped - received
        for sku_id, shipped, received in TransferLine.objects.filter(transfer_id=transfer_id)
        .order_by("sku_id")
        .values_list("sku_id", "shipped_quantity", "received_quantity")
        if shipped != received
    }


def close_transfer(*, transfer_id: int, actor: Any, reason: str) -> dict[int, int]:
    """Finish a transfer whose remaining units will not arrive: clear them from in transit and record the
    differences (lost in transit) on the transfer's audit entry. Returns the differences."""
    reason = _required_text(reason, field="reason", label="原因", max_length=300)
    with transaction.atomic():
        transfer = _locked_transfer(
            transfer_id, statuses=[TransferStatus.SHIPPED, TransferStatus.PARTIALLY_RECEIVED]
        )
        differences = transfer_differences(transfer_id=transfer.pk)
        for sku_id, missing in differences.items():
            _change_in_transit(sku_id=sku_id, warehouse_id=transfer.destination_id, delta=-missing)
        _move_transfer(
            transfer,
            TransferStatus.CLOSED,
            actor=actor,
            reason=reason,
            closed_at=timezone.now(),
            differences={str(sku_id): missing for sku_id, missing in differences.items()},
        )
    return differences


def cancel_transfer(*, transfer_id: int, actor: Any, reason: str = "") -> Transfer:
    """Drop a draft transfer; nothing moved yet."""
    with transaction.atomic():
        transfer = _locked_transfer(transfer_id, statuses=[TransferStatus.DRAFT])
        return _move_transfer(transfer, TransferStatus.CANCELLED, actor=actor, reason=reason)


def write_off_stock(
    *, sku_id: int, warehouse_id: int, quantity: int, reason: str, actor: Any, note: str = ""
) -> StockMovement:
    """Write damaged or lost units off (报损): a `damage` ledger row with the reason, audited.

    `reason` is a `WriteOffReason` value; `note` says more (required for "other").
    """
    quantity = _positive_quantity(quantity)
    if reason not in WriteOffReason.values:
        raise InvalidInput("报损原因无效", fields={"reason": "无效"})
    note = note.strip()
    if reason == WriteOffReason.OTHER and not note:
        raise InvalidInput("请说明报损原因", fields={"note": "必填"})
    label = str(WriteOffReason(reason).label)
    return adjust_stock(
        sku_id=sku_id,
        warehouse_id=warehouse_id,
        quantity_delta=-quantity,
        reason=f"{label}：{note}" if note else label,
        actor=actor,
        movement_type=MovementType.DAMAGE,
        reference_type="write_off",
        reference_id=reason,
    )


# Thresholds, days of cover and stock alerts.

LOW_STOCK_KIND = "inventory.low_stock"
OVERSTOCK_KIND = "inventory.overstock"
ALERT_ROLES: dict[str, tuple[str, ...]] = {
    LOW_STOCK_KIND: ("warehouse", "operations"),
    OVERSTOCK_KIND: ("warehouse", "operations"),
}
VELOCITY_DAYS = 30


def set_stock_threshold(
    *,
    sku_id: int,
    actor: Any,
    warehouse_id: int | None = None,
    low_stock_quantity: int | None = None,
    overstock_quantity: int | None = None,
    is_active: bool = True,
) -> StockThreshold:
    """Set the low-stock line (reorder point) and the overstock line of a SKU, per warehouse or overall."""
    for field, value in (
        ("low_stock_quantity", low_stock_quantity),
        ("overstock_quantity", overstock_quantity),
    ):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise InvalidInput("须为非负整数", fields={field: "须为非负整数"})
    if (
        low_stock_quantity is not None
        and overstock_quantity is not None
        and overstock_quantity <= low_stock_quantity
    ):
        raise InvalidInput("超储线须高于低库存线", fields={"overstock_quantity": "须高于低库存线"})
    with transaction.atomic():
        _require_stock_keeping_sku(sku_id)
        if warehouse_id is not None:
            _require_warehouse(warehouse_id, active=False)
        threshold = (
            StockThreshold.objects.select_for_update()
            .filter(sku_id=sku_id)
            .filter(Q(warehouse_id=warehouse_id) if warehouse_id is not None else Q(warehouse__isnull=True))
            .first()
        )
        before = audit.snapshot(threshold)
        if threshold is None:
            threshold = StockThreshold(sku_id=sku_id, warehouse_id=warehouse_id)
        threshold.low_stock_quantity = low_stock_quantity
        threshold.overstock_quantity = overstock_quantity
        threshold.is_active = is_active
        threshold.save()
        after = audit.snapshot(threshold)
        before.pop("updated_at", None)
        after.pop("updated_at", None)
        if before != after:
            audit.record(
                actor=actor, action="stock_threshold.changed", instance=threshold, before=before, after=after
            )
    return threshold


def _free_quantities(sku_ids: Iterable[int]) -> dict[tuple[int, int | None], int]:
    """Free stock (on hand − reserved) per (SKU, warehouse) and per (SKU, None) over active warehouses."""
    free: dict[tuple[int, int | None], int] = {}
    for sku_id, warehouse_id, on_hand, reserved in StockLevel.objects.filter(
        sku_id__in=list(sku_ids), warehouse__is_active=True
    ).values_list("sku_id", "warehouse_id", "on_hand", "reserved"):
        free[(sku_id, warehouse_id)] = on_hand - reserved
        free[(sku_id, None)] = free.get((sku_id, None), 0) + on_hand - reserved
    return free


def _units_sold(
    sku_ids: Iterable[int], *, since: dt.datetime, until: dt.datetime
) -> dict[tuple[int, int | None], int]:
    """Units shipped (销售出库) per (SKU, warehouse) and per (SKU, None) in [since, until)."""
    sold: dict[tuple[int, int | None], int] = {}
    rows = (
        StockMovement.objects.filter(
            sku_id__in=list(sku_ids),
            movement_type=MovementType.SALE_OUT,
            created_at__gte=since,
            created_at__lt=until,
        )
        .order_by()
        .values("sku_id", "warehouse_id")
        .annotate(total=Sum("on_hand_delta"))
        .values_list("sku_id", "warehouse_id", "total")
    )
    for sku_id, warehouse_id, total in rows:
        units = -(total or 0)
        sold[(sku_id, warehouse_id)] = units
        sold[(sku_id, None)] = sold.get((sku_id, None), 0) + units
    return sold


def _cover(free: int, sold: int, days: int) -> Decimal | None:
    if sold <= 0:
        return None
    return (Decimal(max(free, 0)) * days / sold).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def days_of_cover(
    *, sku_id: int, warehouse_id: int | None = None, days: int = VELOCITY_DAYS, now: dt.datetime | None = None
) -> Decimal | None:
    """How many days the free stock lasts at the sales pace of the last `days` days; None without sales.

    Velocity = units shipped (销售出库 rows) in the window ÷ `days`; cover = free stock ÷ velocity,
    rounded to one decimal. Without a warehouse: all active warehouses together.
    """
    now = now or timezone.now()
    sold = _units_sold([sku_id], since=now - dt.timedelta(days=days), until=now).get(
        (sku_id, warehouse_id), 0
    )
    free = _free_quantities([sku_id]).get((sku_id, warehouse_id), 0)
    return _cover(free, sold, days)


def _alert_key(kind: str, threshold: StockThreshold) -> str:
    return f"{kind}:{threshold.sku_id}:{threshold.warehouse_id or 'all'}"


@dataclass(frozen=True)
class AlertCheck:
    """What one run of `check_stock_alerts` did."""

    raised: int
    resolved: int
    open: int


def _where(threshold: StockThreshold) -> str:
    return threshold.warehouse.name if threshold.warehouse else "全部仓库"


def _evaluate(
    threshold: StockThreshold, free: int, cover: Decimal | None, now: dt.datetime
) -> tuple[list[str], list[str]]:
    """Raise what is out of range for one threshold; returns (keys out of range, keys newly raised)."""
    sku = threshold.sku
    cover_text = "无近期销量" if cover is None else f"约可售 {cover} 天"
    checks = [
        (
            LOW_STOCK_KIND,
            threshold.low_stock_quantity is not None and free <= threshold.low_stock_quantity,
            AlertSeverity.CRITICAL if free <= 0 else AlertSeverity.WARNING,
            f"低库存：{sku.merchant_code}（{_where(threshold)}）",
            f"可用库存 {free} 件，低于或等于补货点 {threshold.low_stock_quantity} 件，{cover_text}。",
        ),
        (
            OVERSTOCK_KIND,
            threshold.overstock_quantity is not None and free > threshold.overstock_quantity,
            AlertSeverity.INFO,
            f"超储：{sku.merchant_code}（{_where(threshold)}）",
            f"可用库存 {free} 件，高于超储线 {threshold.overstock_quantity} 件，{cover_text}。",
        ),
    ]
    out_of_range, raised = [], []
    for kind, is_out, severity, title, message in checks:
        if not is_out:
            continue
        key = _alert_key(kind, threshold)
        out_of_range.append(key)
        result = raise_alert(
            kind=kind,
            key=key,
            title=title,
            message=message,
            severity=severity,
            groups=[role_group_name(role) for role in ALERT_ROLES[kind]],
            instance=sku,
            link=f"/admin/inventory/stocklevel/?sku__id__exact={sku.pk}",
            now=now,
        )
        if result.is_new:
            raised.append(key)
    return out_of_range, raised


def check_stock_alerts(*, now: dt.datetime | None = None, days: int = VELOCITY_DAYS) -> AlertCheck:
    """Raise low-stock / overstock alerts for active thresholds out of range; resolve the rest.

    Measured on free stock (on hand − reserved) over active warehouses. Alerts are de-duplicated by key
    (`inventory.low_stock:<sku>:<warehouse|all>`), so running this every few minutes never repeats an
    open alert; an alert whose threshold is back in range, deactivated or deleted is resolved.
    """
    now = now or timezone.now()
    thresholds = list(
        StockThreshold.objects.filter(is_active=True).select_related("sku", "warehouse").order_by("pk")
    )
    sku_ids = {threshold.sku_id for threshold in thresholds}
    free = _free_quantities(sku_ids)
    sold = _units_sold(sku_ids, since=now - dt.timedelta(days=days), until=now)
    out_of_range: set[str] = set()
    raised = 0
    for threshold in thresholds:
        level_key = (threshold.sku_id, threshold.warehouse_id)
        cover = _cover(free.get(level_key, 0), sold.get(level_key, 0), days)
        keys, new = _evaluate(threshold, free.get(level_key, 0), cover, now)
        out_of_range.update(keys)
        raised += len(new)
    resolved = 0
    for key in sorted(open_alert_keys(kinds=ALERT_ROLES) - out_of_range):
        if resolve_alert(key=key, now=now) is not None:
            resolved += 1
    return AlertCheck(raised=raised, resolved=resolved, open=len(out_of_range))
