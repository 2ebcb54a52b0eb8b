"""Returned goods: receiving the buyer's parcel and the quality re-inspection (质量回检), each grade a ledger row.

Grades: A → 退货入库 (`return_in`) into a sellable warehouse; B → `return_in` into a defective-goods
warehouse (残次品仓); scrap → `return_in` then a 报损 (`damage`) row of the same units, so the ledger shows
both and stock is unchanged; supplier claim → `return_in` into a defective-goods warehouse with the
supplier and the claimed amount kept on the inspection. Every row carries reference aftersale + case id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from shopops.aftersales.models import (
    ZERO,
    AfterSaleCase,
    AfterSaleLine,
    CaseStatus,
    Inspection,
    InspectionGrade,
)
from shopops.aftersales.services.common import (
    REFERENCE_TYPE,
    InspectionMismatch,
    WarehouseNotDefective,
    clean_via,
    lock_case,
    move,
    require_status,
)
from shopops.aftersales.services.permissions import require_permission
from shopops.core.audit import user_or_none
from shopops.core.errors import InvalidInput, NotFound
from shopops.core.money import to_money
from shopops.inventory import services as inventory_services
from shopops.inventory.models import MovementType, Warehouse, WarehouseKind
from shopops.purchasing.models import Supplier

# (line id, grade, units, {"warehouse_id", "supplier_id", "claim_amount", "note"})
InspectionResult = tuple[int, str, int, Mapping[str, Any]]


def _warehouse(warehouse_id: Any, *, field: str) -> Warehouse:
    if isinstance(warehouse_id, bool) or not isinstance(warehouse_id, int):
        raise InvalidInput("请选择仓库", fields={field: "必填"})
    warehouse = Warehouse.objects.filter(pk=warehouse_id).first()
    if warehouse is None:
        raise NotFound("仓库不存在", fields={field: "不存在"})
    if not warehouse.is_active:
        raise InvalidInput("仓库已停用", fields={field: "已停用"}, code="warehouse_inactive")
    return warehouse


def _units(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidInput("数量须为正整数", fields={field: "须为正整数"})
    return value


def receive_return(
    *,
    actor: Any,
    case_id: int,
    lines: Mapping[int, int],
    warehouse_id: int,
    via: str = "admin",
    note: str = "",
) -> AfterSaleCase:
    """The buyer's parcel arrived at `warehouse_id`: units per case line ({line_id: units}), at most the
    units of the case. Stock does not move yet: the inspection decides where each unit goes."""
    require_permission(actor, "aftersales.inspect_aftersalecase")
    via = clean_via(via)
    with transaction.atomic():
        case, order = lock_case(case_id)
        require_status(case, {CaseStatus.AWAITING_RETURN}, "收货")
        warehouse = _warehouse(warehouse_id, field="warehouse_id")
        case_lines = {line.pk: line for line in case.lines.all()}
        if not lines or not any(lines.values()):
            raise InvalidInput("请填写收到的数量", fields={"lines": "不能为空"})
        for line_id, units in sorted(lines.items()):
            line = case_lines.get(line_id)
            if line is None:
                raise InvalidInput("明细不属于该售后单", fields={f"lines.{line_id}": "不属于该售后单"})
            if isinstance(units, bool) or not isinstance(units, int) or units < 0:
                raise InvalidInput("数量须为非负整数", fields={f"lines.{line_id}": "须为非负整数"})
            if units > line.quantity:
                raise InvalidInput(
                    f"收货数量超过售后数量 {line.quantity}",
                    fields={f"lines.{line_id}": f"最多 {line.quantity}"},
                )
        for line_id, units in lines.items():
            AfterSaleLine.objects.filter(pk=line_id).update(received_quantity=units)
        now = timezone.now()
        case.return_warehouse = warehouse
        case.received_at, case.received_by = now, user_or_none(actor)
        move(
            case,
            CaseStatus.RECEIVED,
            order=order,
            actor=actor,
            via=via,
            action="aftersale_case.received",
            message=(note or f"{warehouse.name} 收到退货 {sum(lines.values())} 件").strip()[:300],
            now=now,
            changes={"received": {str(line_id): units for line_id, units in sorted(lines.items())}},
        )
    return case


def _target(case: AfterSaleCase, grade: str, extra: Mapping[str, Any], field: str) -> Warehouse:
    """The warehouse a grade goes to: A sellable (default: where it was received), B / claim defective."""
    default = case.return_warehouse_id if grade in (InspectionGrade.A, InspectionGrade.SCRAP) else None
    warehouse = _warehouse(extra.get("warehouse_id") or default, field=field)
    is_defective = warehouse.kind == WarehouseKind.DEFECTIVE
    if grade in (InspectionGrade.B, InspectionGrade.SUPPLIER_CLAIM) and not is_defective:
        raise WarehouseNotDefective(
            f"{InspectionGrade(grade).label}须入残次品仓，「{warehouse.name}」不是残次品仓",
            fields={field: "须为残次品仓"},
        )
    if grade == InspectionGrade.A and is_defective:
        raise InvalidInput(
            "良品须回可售仓，不能入残次品仓", fields={field: "残次品仓"}, code="warehouse_not_sellable"
        )
    return warehouse


def _claim(grade: str, extra: Mapping[str, Any], field: str) -> tuple[Supplier | None, Decimal]:
    if grade != InspectionGrade.SUPPLIER_CLAIM:
        return None, ZERO
    supplier_id: Any = extra.get("supplier_id")
    valid_id = isinstance(supplier_id, int) and not isinstance(supplier_id, bool)
    supplier = Supplier.objects.filter(pk=supplier_id).first() if valid_id else None
    if supplier is None:
        raise InvalidInput("请选择索赔的供应商", fields={field: "供应商必填"})
    amount = to_money(extra.get("claim_amount", ZERO), field=field)
    if amount < 0:
        raise InvalidInput("索赔金额不能为负", fields={field: "不能为负"})
    return supplier, amount


def _check_totals(case_lines: dict[int, AfterSaleLine], results: list[InspectionResult]) -> None:
    inspected: dict[int, int] = {}
    for index, (line_id, grade, units, _extra) in enumerate(results):
        if line_id not in case_lines:
            raise InvalidInput("明细不属于该售后单", fields={f"results.{index}": "不属于该售后单"})
        if grade not in InspectionGrade.values:
            raise InvalidInput("质检等级无效", fields={f"results.{index}": "等级无效"})
        inspected[line_id] = inspected.get(line_id, 0) + _units(units, f"results.{index}")
    for line_id, line in sorted(case_lines.items()):
        if inspected.get(line_id, 0) != line.received_quantity:
            raise InspectionMismatch(
                f"明细 {line_id} 收到 {line.received_quantity} 件，质检了 {inspected.get(line_id, 0)} 件",
                fields={f"lines.{line_id}": f"须为 {line.received_quantity} 件"},
            )


def _post_stock(
    case: AfterSaleCase, line: AfterSaleLine, grade: str, units: int, warehouse: Warehouse, actor: Any
) -> None:
    sku_id = line.order_line.sku_id
    if sku_id is None:
        raise InvalidInput("订单明细未关联SKU，无法入库", fields={f"lines.{line.pk}": "无SKU"})
    label = str(InspectionGrade(grade).label)
    needs = inventory_services.component_needs(sku_id=sku_id, quantity=units)
    for component_id, component_units in sorted(needs.items()):
        inventory_services.receive_stock(
            sku_id=component_id,
            warehouse_id=warehouse.pk,
            quantity=component_units,
            actor=actor,
            movement_type=MovementType.RETURN_IN,
            reference_type=REFERENCE_TYPE,
            reference_id=str(case.pk),
            note=f"售后质检：{label}",
        )
        if grade == InspectionGrade.SCRAP:
            inventory_services.adjust_stock(
                sku_id=component_id,
                warehouse_id=warehouse.pk,
                quantity_delta=-component_units,
                reason=f"售后质检报废（售后单 {case.pk}）",
                actor=actor,
                movement_type=MovementType.DAMAGE,
                reference_type=REFERENCE_TYPE,
                reference_id=str(case.pk),
            )


def inspect_return(
    *, actor: Any, case_id: int, results: Iterable[InspectionResult], via: str = "admin"
) -> AfterSaleCase:
    """Grade every received unit (质量回检): [(line_id, grade, units, {warehouse_id | supplier_id,
    claim_amount, note})]. The units inspected per line must equal the units received."""
    require_permission(actor, "aftersales.inspect_aftersalecase")
    via = clean_via(via)
    results = list(results)
    with transaction.atomic():
        case, order = lock_case(case_id)
        require_status(case, {CaseStatus.RECEIVED}, "质检")
        case_lines = {line.pk: line for line in case.lines.select_related("order_line")}
        _check_totals(case_lines, results)
        user = user_or_none(actor)
        summary: dict[str, int] = {}
        for index, (line_id, grade, units, extra) in enumerate(results):
            field = f"results.{index}"
            warehouse = _target(case, grade, extra, field)
            supplier, claim_amount = _claim(grade, extra, field)
            line = case_lines[line_id]
            _post_stock(case, line, grade, units, warehouse, actor)
            Inspection.objects.create(
                line=line,
                grade=grade,
                quantity=units,
                warehouse=warehouse,
                supplier=supplier,
                claim_amount=claim_amount,
                note=str(extra.get("note", "") or "")[:300],
                inspected_by=user,
            )
            summary[grade] = summary.get(grade, 0) + units
        now = timezone.now()
        case.inspected_at, case.inspected_by = now, user
        text = "，".join(f"{InspectionGrade(grade).label} {units} 件" for grade, units in summary.items())
        move(
            case,
            CaseStatus.INSPECTED,
            order=order,
            actor=actor,
            via=via,
            action="aftersale_case.inspected",
            message=f"质检：{text}",
            now=now,
            changes={"grades": summary},
        )
    return case
