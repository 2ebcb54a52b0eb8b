"""Read models of purchasing: orders with lines, open purchase quantities and replenishment suggestions.

Replenishment, per SKU × warehouse (the warehouses the user may see, active ones only):
- velocity = units sold (销售出库 in the stock ledger) over the last `days` days ÷ `days`;
- lead time = the lead time of the supplier with the lowest price agreement valid today;
- reorder point = velocity × lead time + safety stock;
- position = free stock (on hand − reserved) + open purchase quantity (draft, approved and partly
  received orders, units not yet accepted). Safety stock is added once, on the target side: the
  level's `available` (which already subtracts it) would count it twice;
- suggested = max(0, ⌈velocity × (lead time + review period) + safety stock − position⌉), raised to
  the agreement's minimum quantity when positive. Only positive suggestions are listed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Prefetch, QuerySet, Sum
from django.utils import timezone

from shopops.catalog.models import Sku
from shopops.inventory.models import (
    BundleComponent,
    MovementType,
    StockLevel,
    StockMovement,
    Warehouse,
)
from shopops.purchasing.models import (
    OPEN_STATUSES,
    PurchaseOrder,
    PurchaseOrderEvent,
    PurchaseOrderLine,
    PurchaseReceipt,
    SupplierPrice,
)

DEFAULT_VELOCITY_DAYS = 30
DEFAULT_REVIEW_PERIOD_DAYS = 7
VELOCITY_PLACES = Decimal("0.0001")


def purchase_orders(*, user: Any) -> QuerySet[PurchaseOrder]:
    """Orders in the user's warehouses, with supplier, warehouse, lines and timeline loaded."""
    return (
        PurchaseOrder.objects.for_user(user)
        .select_related("supplier", "warehouse", "created_by")
        .prefetch_related(
            Prefetch("lines", queryset=PurchaseOrderLine.objects.select_related("sku").order_by("pk")),
            Prefetch("events", queryset=PurchaseOrderEvent.objects.select_related("actor").order_by("pk")),
        )
    )


def purchase_receipts(*, user: Any) -> QuerySet[PurchaseReceipt]:
    return (
        PurchaseReceipt.objects.for_user(user)
        .select_related("purchase_order", "warehouse", "received_by")
        .prefetch_related("lines")
    )


def open_purchase_quantities(*, warehouse_id: int | None = None) -> dict[tuple[int, int], int]:
    """Units still expected from open orders, {(sku id, warehouse id): units}: the purchase in transit."""
    rows = PurchaseOrderLine.objects.filter(purchase_order__status__in=OPEN_STATUSES)
    if warehouse_id is not None:
        rows = rows.filter(purchase_order__warehouse_id=warehouse_id)
    totals: dict[tuple[int, int], int] = {}
    for sku_id, order_warehouse_id, quantity, accepted in rows.values_list(
        "sku_id", "purchase_order__warehouse_id", "quantity", "accepted_quantity"
    ):
        key = (sku_id, order_warehouse_id)
        totals[key] = totals.get(key, 0) + max(quantity - accepted, 0)
    return totals


def units_sold(
    *, since: dt.datetime, until: dt.datetime, warehouse_ids: set[int] | None
) -> dict[tuple[int, int], int]:
    """Units shipped (销售出库) per (SKU, warehouse) in [since, until), from the stock ledger."""
    movements = StockMovement.objects.filter(
        movement_type=MovementType.SALE_OUT, created_at__gte=since, created_at__lt=until
    )
    if warehouse_ids is not None:
        movements = movements.filter(warehouse_id__in=warehouse_ids)
    rows = movements.order_by().values("sku_id", "warehouse_id").annotate(total=Sum("on_hand_delta"))
    return {(row["sku_id"], row["warehouse_id"]): -(row["total"] or 0) for row in rows}


@dataclass(frozen=True)
class ReplenishmentSuggestion:
    sku_id: int
    merchant_code: str
    warehouse_id: int
    supplier_id: int
    supplier_price_id: int
    unit_price: Decimal
    lead_time_days: int
    min_quantity: int
    units_sold: int
    velocity: Decimal
    on_hand: int
    reserved: int
    safety_stock: int
    open_quantity: int
    reorder_point: Decimal
    is_below_reorder_point: bool
    suggested_quantity: int


def best_prices(*, sku_ids: set[int], on: dt.date) -> dict[int, SupplierPrice]:
    """Per SKU the lowest price agreement valid on `on` with an active supplier (ties: supplier id)."""
    prices = (
        SupplierPrice.objects.filter(sku_id__in=sku_ids, supplier__is_active=True, valid_from__lte=on)
        .exclude(valid_to__lt=on)
        .select_related("supplier")
        .order_by("sku_id", "price", "supplier_id", "pk")
    )
    best: dict[int, SupplierPrice] = {}
    for price in prices:
        best.setdefault(price.sku_id, price)
    return best


def _ceil_division(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def _suggest(
    *,
    sold: int,
    days: int,
    review_period_days: int,
    level: tuple[int, int, int],
    open_quantity: int,
    price: SupplierPrice,
) -> tuple[Decimal, int]:
    """(reorder point, suggested units), computed in whole numbers so no rounding creeps in."""
    on_hand, reserved, safety = level
    lead_time = price.supplier.lead_time_days
    reorder_point = Decimal(sold * lead_time) / days + safety
    position = on_hand - reserved + open_quantity
    # ⌈sold × (L + R) / days + safety − position⌉ with integers only
    needed = _ceil_division(sold * (lead_time + review_period_days) + days * (safety - position), days)
    suggested = max(needed, 0)
    if suggested:
        suggested = max(suggested, price.min_quantity)
    return reorder_point.quantize(VELOCITY_PLACES), suggested


def replenishment_suggestions(
    *,
    user: Any,
    days: int = DEFAULT_VELOCITY_DAYS,
    review_period_days: int = DEFAULT_REVIEW_PERIOD_DAYS,
    warehouse_id: int | None = None,
    now: dt.datetime | None = None,
) -> list[ReplenishmentSuggestion]:
    """What to order now, per SKU × warehouse (see the module docstring), by warehouse then SKU."""
    now = now or timezone.now()
    # stores and other warehouses that take no purchase orders are stocked by transfers, not suggested POs
    warehouses = Warehouse.objects.for_user(user).filter(is_active=True, receives_purchases=True)
    if warehouse_id is not None:
        warehouses = warehouses.filter(pk=warehouse_id)
    warehouse_ids = set(warehouses.values_list("pk", flat=True))
    sold = units_sold(since=now - dt.timedelta(days=days), until=now, warehouse_ids=warehouse_ids)
    levels = {
        (sku_id, level_warehouse_id): (on_hand, reserved, safety)
        for sku_id, level_warehouse_id, on_hand, reserved, safety in StockLevel.objects.filter(
            warehouse_id__in=warehouse_ids
        ).values_list("sku_id", "warehouse_id", "on_hand", "reserved", "safety_stock")
    }
    open_quantities = {
        key: units for key, units in open_purchase_quantities().items() if key[1] in warehouse_ids
    }
    pairs = set(sold) | set(levels) | set(open_quantities)
    bundles = set(BundleComponent.objects.values_list("bundle_sku_id", flat=True))
    active = set(
        Sku.objects.filter(pk__in={sku for sku, _w in pairs}, is_active=True).values_list("pk", flat=True)
    )
    sku_ids = active - bundles
    prices = best_prices(sku_ids=sku_ids, on=timezone.localdate(now))
    codes = dict(Sku.objects.filter(pk__in=prices).values_list("pk", "merchant_code"))
    suggestions = []
    for sku_id, pair_warehouse_id in sorted(pairs, key=lambda pair: (pair[1], pair[0])):
        price = prices.get(sku_id)
        if price is None:
            continue  # no supplier to order from
        key = (sku_id, pair_warehouse_id)
        level = levels.get(key, (0, 0, 0))
        units = sold.get(key, 0)
        open_quantity = open_quantities.get(key, 0)
        reorder_point, suggested = _suggest(
            sold=units,
            days=days,
            review_period_days=review_period_days,
            level=level,
            open_quantity=open_quantity,
            price=price,
        )
        if suggested <= 0:
            continue
        suggestions.append(
            ReplenishmentSuggestion(
                sku_id=sku_id,
                merchant_code=codes[sku_id],
                warehouse_id=pair_warehouse_id,
                supplier_id=price.supplier_id,
                supplier_price_id=price.pk,
                unit_price=price.price,
                lead_time_days=price.supplier.lead_time_days,
                min_quantity=price.min_quantity,
                units_sold=units,
                velocity=(Decimal(units) / days).quantize(VELOCITY_PLACES),
                on_hand=level[0],
                reserved=level[1],
                safety_stock=level[2],
                open_quantity=open_quantity,
                reorder_point=reorder_point,
                is_below_reorder_point=level[0] - level[1] + open_quantity <= reorder_point,
                suggested_quantity=suggested,
            )
        )
    return suggestions
