"""Reproducible demo after-sales: cases of every kind in every stage on delivered and completed orders,
returns inspected into the sellable and the defective (残次品) warehouse through the ledger."""

from __future__ import annotations

import random
from typing import TextIO

from django.db import connection
from django.db.models import F

from shopops.aftersales import services
from shopops.aftersales.models import (
    AfterSaleCase,
    AfterSaleLine,
    CaseEvent,
    CaseKind,
    Inspection,
    InspectionGrade,
)
from shopops.catalog.demo_data import DEMO_ACTOR
from shopops.inventory import services as inventory_services
from shopops.inventory.demo_data import MAIN_WAREHOUSE
from shopops.inventory.models import StockLevel, Warehouse, WarehouseKind
from shopops.orders.models import Order, OrderStatus, RefundStatus, StockState

DEFECTIVE_WAREHOUSE = "HZ-DEF"
CASE_SHARE = 0.05
REASONS = {
    CaseKind.REFUND_ONLY: ["logistics.not_received", "merchant.late_shipment", "buyer.changed_mind"],
    CaseKind.RETURN_REFUND: ["buyer.size", "buyer.seven_days", "quality.workmanship", "quality.damaged"],
    CaseKind.EXCHANGE: ["buyer.size", "quality.malfunction"],
    CaseKind.RESHIP: ["logistics.missing_item", "logistics.damaged_in_transit"],
}
# How far each planned case gets: the last step it reaches.
STAGES = ["applied", "approved", "received", "inspected", "refunded", "closed", "closed", "closed"]


def is_empty() -> bool:
    return not AfterSaleCase.objects.exists()


def load(*, seed: int, days: int, stdout: TextIO) -> dict[str, int]:
    """After-sales cases on the demo orders; adds nothing when cases exist or orders are missing."""
    main = Warehouse.objects.filter(code=MAIN_WAREHOUSE).first()
    if AfterSaleCase.objects.exists() or main is None or not Order.objects.exists():
        return {}
    generator = random.Random(seed * 15485863 + 5)
    defective = Warehouse.objects.filter(
        code=DEFECTIVE_WAREHOUSE
    ).first() or inventory_services.create_warehouse(
        actor=DEMO_ACTOR, code=DEFECTIVE_WAREHOUSE, name="杭州残次品仓", kind=WarehouseKind.DEFECTIVE
    )
    orders = list(
        Order.objects.filter(
            status__in=[OrderStatus.DELIVERED, OrderStatus.COMPLETED],
            refund_status=RefundStatus.NONE,
            is_valid=True,
        )
        .exclude(stock_state=StockState.UNTRACKED, status=OrderStatus.DELIVERED)
        .order_by("pk")
    )
    picked = [order for order in orders if generator.random() < CASE_SHARE]
    for order in picked:
        _play(order, generator, main=main, defective=defective)
    return {"aftersale_cases": AfterSaleCase.objects.count(), "inspections": Inspection.objects.count()}


def reset() -> None:
    Inspection.objects.all().delete()
    with connection.cursor() as cursor:
        # the case timeline is append-only; a demo reset is the one exception
        cursor.execute(f"DELETE FROM {connection.ops.quote_name(CaseEvent._meta.db_table)}")
    AfterSaleLine.objects.all().delete()
    AfterSaleCase.objects.all().delete()


def _play(order: Order, generator: random.Random, *, main: Warehouse, defective: Warehouse) -> None:
    kind = generator.choice(
        [CaseKind.RETURN_REFUND] * 4 + [CaseKind.REFUND_ONLY] * 3 + [CaseKind.EXCHANGE, CaseKind.RESHIP]
    )
    line = generator.choice(list(order.lines.all()))
    case = services.apply_case(
        actor=DEMO_ACTOR,
        order_id=order.pk,
        kind=kind,
        reason_code=generator.choice(REASONS[kind]),
        lines={line.pk: 1},
        description="买家申请售后（演示数据）",
        via="demo",
    )
    last = generator.choice(STAGES)
    if last == "applied":
        return
    if last == "approved" and generator.random() < 0.2:
        services.reject_case(actor=DEMO_ACTOR, case_id=case.pk, reason="商品已影响二次销售", via="demo")
        return
    services.approve_case(actor=DEMO_ACTOR, case_id=case.pk, via="demo")
    if last == "approved":
        return
    if kind in (CaseKind.RETURN_REFUND, CaseKind.EXCHANGE):
        if not _return_and_inspect(case, generator, last=last, main=main, defective=defective):
            return
    if kind in (CaseKind.RESHIP, CaseKind.EXCHANGE):
        source = _warehouse_with(line.sku_id, exclude=defective)
        if source is None:
            return
        services.ship_replacement(actor=DEMO_ACTOR, case_id=case.pk, warehouse_id=source, via="demo")
    else:
        services.refund_case(actor=DEMO_ACTOR, case_id=case.pk, via="demo")
    if last == "closed" or kind == CaseKind.RESHIP:
        services.close_case(actor=DEMO_ACTOR, case_id=case.pk, via="demo")


def _return_and_inspect(
    case: AfterSaleCase, generator: random.Random, *, last: str, main: Warehouse, defective: Warehouse
) -> bool:
    """The buyer's parcel comes back and is graded; False when the case stops before the refund."""
    services.set_return_tracking(
        actor=DEMO_ACTOR, case_id=case.pk, tracking_number=f"YT{generator.randrange(10**13):013d}", via="demo"
    )
    case_line = case.lines.get()
    services.receive_return(
        actor=DEMO_ACTOR, case_id=case.pk, lines={case_line.pk: 1}, warehouse_id=main.pk, via="demo"
    )
    if last == "received":
        return False
    grade = generator.choice([InspectionGrade.A] * 3 + [InspectionGrade.B])
    extra = {"warehouse_id": defective.pk} if grade == InspectionGrade.B else {}
    services.inspect_return(
        actor=DEMO_ACTOR, case_id=case.pk, results=[(case_line.pk, grade, 1, extra)], via="demo"
    )
    return last != "inspected"


def _warehouse_with(sku_id: int | None, *, exclude: Warehouse) -> int | None:
    """A sellable warehouse with a free unit of the SKU for the replacement parcel, if any."""
    if sku_id is None:
        return None
    level = (
        StockLevel.objects.filter(sku_id=sku_id, on_hand__gt=F("reserved") + F("safety_stock"))
        .exclude(warehouse=exclude)
        .order_by("warehouse_id")
        .first()
    )
    return None if level is None else level.warehouse_id
