"""Shared pieces of the stock services: errors, input checks and small lookups."""

from __future__ import annotations

from typing import Any

from shopops.catalog.models import Sku
from shopops.core.errors import Conflict, InvalidInput, NotFound
from shopops.inventory.models import (
    BundleComponent,
    MovementType,
    StockLevel,
    Warehouse,
)

ADJUSTMENT_TYPES = frozenset(
    {MovementType.ADJUST, MovementType.COUNT_GAIN, MovementType.COUNT_LOSS, MovementType.DAMAGE}
)
WAREHOUSE_FIELDS = ("name", "kind", "is_active", "receives_purchases", "address")


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


def _positive_quantity(value: Any, *, field: str = "quantity") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidInput("数量须为正整数", fields={field: "须为正整数"})
    return value


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
