"""Warehouses, warehouse scope, bundles, and stock in, out and adjustments."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from shopops.catalog.models import Sku
from shopops.core import audit
from shopops.core.errors import Conflict, InvalidInput, NotFound, required_text
from shopops.inventory.ledger import Reference, apply_movement, level_id_for
from shopops.inventory.models import (
    INBOUND_TYPES,
    OUTBOUND_TYPES,
    PURCHASE_RECEIVING_KINDS,
    BundleComponent,
    MovementType,
    StockLevel,
    StockMovement,
    UserWarehouseScope,
    Warehouse,
    WarehouseKind,
    WarehouseScopeSetting,
)
from shopops.inventory.services.common import (
    ADJUSTMENT_TYPES,
    WAREHOUSE_FIELDS,
    InsufficientStock,
    _positive_quantity,
    _require_stock_keeping_sku,
    _require_warehouse,
)


def create_warehouse(
    *, code: str, name: str, actor: Any, kind: str = WarehouseKind.OWN, address: str = ""
) -> Warehouse:
    code = required_text(code, field="code", label="仓库编码", max_length=20)
    name = required_text(name, field="name", label="仓库名称", max_length=60)
    if kind not in WarehouseKind.values:
        raise InvalidInput("仓库类型无效", fields={"kind": "无效"})
    with transaction.atomic():
        if Warehouse.objects.filter(Q(code=code) | Q(name=name)).exists():
            raise Conflict("仓库编码或名称已存在", fields={"code": "重复"}, code="duplicate_warehouse")
        try:
            with transaction.atomic():
                warehouse = Warehouse.objects.create(
                    code=code,
                    name=name,
                    kind=kind,
                    address=address.strip(),
                    receives_purchases=kind in PURCHASE_RECEIVING_KINDS,
                )
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
        changes["name"] = required_text(changes["name"], field="name", label="仓库名称", max_length=60)
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
    reason = required_text(reason, field="reason", label="原因", max_length=300)
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
