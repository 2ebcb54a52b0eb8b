"""Test factories for inventory: warehouses, SKUs with stock, bundles."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

from shopops.catalog.models import Category, Product, Sku
from shopops.inventory import services as inventory_services
from shopops.inventory.models import MovementType, StockLevel, Warehouse, WarehouseKind

_sequence = itertools.count(1)


def create_warehouse(
    *, code: str | None = None, kind: str = WarehouseKind.OWN, is_active: bool = True
) -> Warehouse:
    number = next(_sequence)
    return Warehouse.objects.create(
        code=code or f"WH{number:03d}", name=f"仓库{code or number}", kind=kind, is_active=is_active
    )


def create_sku(*, merchant_code: str | None = None) -> Sku:
    number = next(_sequence)
    category, _created = Category.objects.get_or_create(
        code="INV", defaults={"name": "库存测试", "path": "库存测试"}
    )
    product = Product.objects.create(
        name=f"商品{number}", merchant_code=f"P-INV-{number:05d}", category=category
    )
    return Sku.objects.create(
        product=product,
        merchant_code=merchant_code or f"S-INV-{number:05d}",
        cost_price=Decimal("10.00"),
        sale_price=Decimal("20.00"),
    )


def stock(
    *, sku: Sku, warehouse: Warehouse, on_hand: int, safety_stock: int = 0, actor: Any = None
) -> StockLevel:
    """Opening stock through the service, so the ledger holds it."""
    if on_hand:
        inventory_services.receive_stock(
            sku_id=sku.pk,
            warehouse_id=warehouse.pk,
            quantity=on_hand,
            actor=actor,
            movement_type=MovementType.OPENING,
        )
    if safety_stock:
        inventory_services.set_safety_stock(
            sku_id=sku.pk, warehouse_id=warehouse.pk, safety_stock=safety_stock, actor=actor
        )
    level, _created = StockLevel.objects.get_or_create(sku=sku, warehouse=warehouse)
    return level


def create_bundle(*, components: dict[Sku, int], actor: Any = None) -> Sku:
    bundle = create_sku()
    inventory_services.set_bundle_components(
        bundle_sku_id=bundle.pk, components={sku.pk: units for sku, units in components.items()}, actor=actor
    )
    return bundle
