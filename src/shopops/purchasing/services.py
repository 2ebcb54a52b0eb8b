"""Purchasing actions: suppliers and price agreements, purchase orders, their transitions and receiving.

Receiving posts accepted units to stock through `inventory.services.receive_stock` (采购入库, one ledger
row per SKU, referenced by the receipt number) and moves the SKU cost to the moving average through
`catalog.services.change_price(field="cost_price", source="purchase")`:
new cost = (on hand × old cost + accepted × unit price) / (on hand + accepted), on hand summed over
all warehouses before the receipt, rounded half-up to cents. Rejected units never reach stock.

In transit (`StockLevel.in_transit` at the order's warehouse, through `inventory.services.change_in_transit`):
approval adds the ordered units; a receipt takes off what it settles (accepted units, at most what
the line still expected; rejected units stay owed, so stay in transit); cancelling or closing takes off
what is still open (ordered − accepted per line). A decrease never goes below zero (orders approved
before in transit was posted take off only what is there). Replenishment counts open orders itself
through `queries.open_purchase_quantities()`.

Lock order: purchase order → its lines → SKUs (ascending id) → stock levels (inside inventory).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone

from shopops.catalog import services as catalog_services
from shopops.catalog.models import Sku
from shopops.core import audit
from shopops.core.audit import user_or_none
from shopops.core.errors import Conflict, InvalidInput, NotFound, required_text
from shopops.core.money import CENT, to_money
from shopops.inventory import services as inventory_services
from shopops.inventory.models import MovementType, StockLevel, Warehouse
from shopops.purchasing.models import (
    PURCHASE_ORDER_TRANSITIONS,
    RECEIVABLE_STATUSES,
    PaymentTerms,
    PurchaseOrder,
    PurchaseOrderEvent,
    PurchaseOrderLine,
    PurchaseOrderStatus,
    PurchaseReceipt,
    PurchaseReceiptLine,
    Supplier,
    SupplierPrice,
)

SUPPLIER_FIELDS = (
    "name",
    "contact_name",
    "contact_phone",
    "contact_email",
    "lead_time_days",
    "minimum_order_amount",
    "minimum_order_quantity",
    "payment_terms",
    "is_active",
    "note",
)
SUPPLIER_PRICE_FIELDS = ("price", "min_quantity", "valid_from", "valid_to", "supplier_sku_code")
RECEIPT_REFERENCE_TYPE = "purchase_receipt"
ORDER_REFERENCE_TYPE = "purchase_order"
RUN_KEY_LENGTH = 32
MAX_LEAD_TIME_DAYS = 3650
MAX_AMOUNT = Decimal(10) ** 12


class IllegalPurchaseOrderTransition(Conflict):
    code = "illegal_purchase_order_transition"


class PurchaseOrderNotEditable(Conflict):
    code = "purchase_order_not_editable"


class OverReceipt(Conflict):
    """More accepted units than ordered plus the receiving tolerance."""

    code = "over_receipt"


class BelowSupplierMinimum(InvalidInput):
    code = "below_supplier_minimum"


# Small helpers.


def _count(value: Any, *, field: str, positive: bool) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < (1 if positive else 0):
        message = "须为正整数" if positive else "须为非负整数"
        raise InvalidInput(f"{field} {message}", fields={field: message})
    return value


def _date(value: Any, *, field: str) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise InvalidInput("须为日期", fields={field: "须为日期（YYYY-MM-DD）"})
    return value


def _money(value: Any, *, field: str) -> Decimal:
    amount = to_money(value, field=field)
    if amount < 0:
        raise InvalidInput("金额不能为负", fields={field: "不能为负"})
    return amount


def receiving_tolerance_percent() -> Decimal:
    """How far (in percent of the ordered units) accepted units may exceed an order line (default 0)."""
    return Decimal(str(getattr(settings, "PURCHASING_OVER_RECEIPT_TOLERANCE_PERCENT", 0)))


def max_acceptable(ordered: int) -> int:
    """Ordered units plus the tolerance, rounded down to whole units."""
    limit = Decimal(ordered) * (100 + receiving_tolerance_percent()) / 100
    return int(limit.to_integral_value(ROUND_FLOOR))


def moving_average_cost(
    *, old_quantity: int, old_cost: Decimal, added_quantity: int, unit_price: Decimal
) -> Decimal:
    """(old quantity × old cost + added × unit price) / (old quantity + added), half-up to cents."""
    total = old_quantity + added_quantity
    if total <= 0:
        return old_cost
    value = (Decimal(old_quantity) * old_cost + Decimal(added_quantity) * unit_price) / Decimal(total)
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


# Suppliers.


def _clean_supplier_fields(changes: dict[str, Any]) -> dict[str, Any]:
    unknown = set(changes) - set(SUPPLIER_FIELDS)
    if unknown:
        raise InvalidInput("不能修改这些字段", fields=dict.fromkeys(sorted(unknown), "不可修改"))
    cleaned = dict(changes)
    if "name" in cleaned:
        cleaned["name"] = required_text(cleaned["name"], field="name", label="供应商名称", max_length=100)
    for name in ("lead_time_days", "minimum_order_quantity"):
        if name in cleaned:
            cleaned[name] = _count(cleaned[name], field=name, positive=False)
    if cleaned.get("lead_time_days", 0) > MAX_LEAD_TIME_DAYS:
        raise InvalidInput("采购周期过长", fields={"lead_time_days": f"最多 {MAX_LEAD_TIME_DAYS} 天"})
    if "minimum_order_amount" in cleaned:
        cleaned["minimum_order_amount"] = _money(
            cleaned["minimum_order_amount"], field="minimum_order_amount"
        )
    if "payment_terms" in cleaned and cleaned["payment_terms"] not in PaymentTerms.values:
        raise InvalidInput("结算方式无效", fields={"payment_terms": "无效"})
    for name in ("contact_name", "contact_phone", "contact_email", "note"):
        if name in cleaned:
            cleaned[name] = (cleaned[name] or "").strip()
    return cleaned


def _save_supplier(supplier: Supplier) -> None:
    try:
        with transaction.atomic():
            supplier.save()
    except IntegrityError:
        raise Conflict("供应商编码或名称已存在", fields={"code": "重复"}, code="duplicate_supplier") from None


def create_supplier(*, code: str, name: str, actor: Any, **fields: Any) -> Supplier:
    code = required_text(code, field="code", label="供应商编码", max_length=20)
    cleaned = _clean_supplier_fields({"name": name, **fields})
    with transaction.atomic():
        supplier = Supplier(code=code, **cleaned)
        _save_supplier(supplier)
        audit.record(actor=actor, action="supplier.created", instance=supplier, before={})
    return supplier


def update_supplier(*, supplier_id: int, actor: Any, **changes: Any) -> Supplier:
    cleaned = _clean_supplier_fields(changes)
    with transaction.atomic():
        supplier = Supplier.objects.select_for_update().filter(pk=supplier_id).first()
        if supplier is None:
            raise NotFound("供应商不存在", fields={"supplier_id": "不存在"})
        before = audit.snapshot(supplier)
        for name, value in cleaned.items():
            setattr(supplier, name, value)
        after = audit.snapshot(supplier)
        if before != after:
            _save_supplier(supplier)
            audit.record(
                actor=actor, action="supplier.updated", instance=supplier, before=before, after=after
            )
    return supplier


# Price agreements.


def _clean_price_fields(changes: dict[str, Any]) -> dict[str, Any]:
    cleaned = dict(changes)
    if "price" in cleaned:
        cleaned["price"] = _money(cleaned["price"], field="price")
    if "min_quantity" in cleaned:
        cleaned["min_quantity"] = _count(cleaned["min_quantity"], field="min_quantity", positive=True)
    for name in ("valid_from", "valid_to"):
        if name in cleaned:
            cleaned[name] = _date(cleaned[name], field=name)
    if "supplier_sku_code" in cleaned:
        cleaned["supplier_sku_code"] = (cleaned["supplier_sku_code"] or "").strip()[:64]
    return cleaned


def _check_validity(price: SupplierPrice) -> None:
    if price.valid_from is None:
        raise InvalidInput("生效日期必填", fields={"valid_from": "必填"})
    if price.valid_to is not None and price.valid_to < price.valid_from:
        raise InvalidInput("失效日期不能早于生效日期", fields={"valid_to": "早于生效日期"})


def _save_price(price: SupplierPrice) -> None:
    _check_validity(price)
    try:
        with transaction.atomic():
            price.save()
    except IntegrityError:
        raise Conflict(
            "该供应商此SKU在同一生效日期已有报价",
            fields={"valid_from": "重复"},
            code="duplicate_supplier_price",
        ) from None


def create_supplier_price(
    *,
    supplier_id: int,
    sku_id: int,
    price: Decimal | str | int,
    valid_from: dt.date,
    actor: Any,
    min_quantity: int = 1,
    valid_to: dt.date | None = None,
    supplier_sku_code: str = "",
) -> SupplierPrice:
    cleaned = _clean_price_fields(
        {
            "price": price,
            "min_quantity": min_quantity,
            "valid_from": valid_from,
            "valid_to": valid_to,
            "supplier_sku_code": supplier_sku_code,
        }
    )
    with transaction.atomic():
        if not Supplier.objects.filter(pk=supplier_id).exists():
            raise NotFound("供应商不存在", fields={"supplier_id": "不存在"})
        if not Sku.objects.filter(pk=sku_id).exists():
            raise NotFound("SKU 不存在", fields={"sku_id": "不存在"})
        agreement = SupplierPrice(supplier_id=supplier_id, sku_id=sku_id, **cleaned)
        _save_price(agreement)
        audit.record(actor=actor, action="supplier_price.created", instance=agreement, before={})
    return agreement


def update_supplier_price(*, price_id: int, actor: Any, **changes: Any) -> SupplierPrice:
    unknown = set(changes) - set(SUPPLIER_PRICE_FIELDS)
    if unknown:
        raise InvalidInput("不能修改这些字段", fields=dict.fromkeys(sorted(unknown), "不可修改"))
    cleaned = _clean_price_fields(changes)
    with transaction.atomic():
        agreement = SupplierPrice.objects.select_for_update().filter(pk=price_id).first()
        if agreement is None:
            raise NotFound("报价不存在", fields={"price_id": "不存在"})
        before = audit.snapshot(agreement)
        for name, value in cleaned.items():
            setattr(agreement, name, value)
        after = audit.snapshot(agreement)
        if before != after:
            _save_price(agreement)
            audit.record(
                actor=actor, action="supplier_price.updated", instance=agreement, before=before, after=after
            )
    return agreement


def delete_supplier_price(*, price_id: int, actor: Any) -> None:
    with transaction.atomic():
        agreement = SupplierPrice.objects.select_for_update().filter(pk=price_id).first()
        if agreement is None:
            raise NotFound("报价不存在", fields={"price_id": "不存在"})
        audit.record(
            actor=actor,
            action="supplier_price.deleted",
            instance=agreement,
            before=audit.snapshot(agreement),
            after={},
        )
        agreement.delete()


def best_supplier_price(*, sku_id: int, on: dt.date, supplier_id: int | None = None) -> SupplierPrice | None:
    """The lowest price agreement valid on business day `on` with an active supplier (ties: lowest
    supplier id, then the oldest agreement)."""
    prices = SupplierPrice.objects.filter(
        sku_id=sku_id, supplier__is_active=True, valid_from__lte=on
    ).exclude(valid_to__lt=on)
    if supplier_id is not None:
        prices = prices.filter(supplier_id=supplier_id)
    return prices.select_related("supplier").order_by("price", "supplier_id", "pk").first()


# Purchase orders.


@dataclass(frozen=True)
class _LineInput:
    sku_id: int
    quantity: int
    unit_price: Decimal


def _line_inputs(lines: Iterable[Mapping[str, Any]], *, supplier_id: int) -> list[_LineInput]:
    today = timezone.localdate()
    found: list[_LineInput] = []
    seen: set[int] = set()
    for index, line in enumerate(lines):
        sku_id = line.get("sku_id")
        if isinstance(sku_id, bool) or not isinstance(sku_id, int) or sku_id in seen:
            raise InvalidInput("明细SKU无效或重复", fields={f"lines.{index}.sku_id": "无效或重复"})
        seen.add(sku_id)
        quantity = _count(line.get("quantity"), field=f"lines.{index}.quantity", positive=True)
        price = line.get("unit_price")
        if price is None:
            agreement = best_supplier_price(sku_id=sku_id, on=today, supplier_id=supplier_id)
            if agreement is None:
                raise InvalidInput(
                    "没有该供应商的有效报价，请填写采购单价", fields={f"lines.{index}.unit_price": "必填"}
                )
            price = agreement.price
        found.append(_LineInput(sku_id, quantity, _money(price, field=f"lines.{index}.unit_price")))
    if not found:
        raise InvalidInput("采购单至少需要一行明细", fields={"lines": "不能为空"})
    if Sku.objects.filter(pk__in=seen).count() != len(seen):
        raise InvalidInput("明细含不存在的SKU", fields={"lines": "含不存在的SKU"})
    return found


def _order_snapshot(order: PurchaseOrder) -> dict[str, Any]:
    lines = [
        {"sku_id": line.sku_id, "quantity": line.quantity, "unit_price": str(line.unit_price)}
        for line in order.lines.order_by("pk")
    ]
    return {**audit.snapshot(order), "lines": lines}


def _write_lines(order: PurchaseOrder, lines: list[_LineInput]) -> None:
    total = sum((line.unit_price * line.quantity for line in lines), Decimal("0.00"))
    if total >= MAX_AMOUNT:
        raise InvalidInput("采购金额超出范围", fields={"lines": "金额超出范围"})
    order.lines.all().delete()
    PurchaseOrderLine.objects.bulk_create(
        PurchaseOrderLine(
            purchase_order=order, sku_id=line.sku_id, quantity=line.quantity, unit_price=line.unit_price
        )
        for line in lines
    )
    order.total_amount = total


def _require_warehouse(warehouse_id: int) -> None:
    found = Warehouse.objects.filter(pk=warehouse_id).values_list("is_active", flat=True).first()
    if found is None:
        raise NotFound("仓库不存在", fields={"warehouse_id": "不存在"})
    if not found:
        raise InvalidInput("仓库已停用", fields={"warehouse_id": "已停用"}, code="warehouse_inactive")


def _require_purchase_receiving(warehouse_id: int) -> None:
    warehouse = Warehouse.objects.filter(pk=warehouse_id).only("name", "receives_purchases").first()
    if warehouse is not None and not warehouse.receives_purchases:
        raise InvalidInput(
            f"{warehouse.name}不接收采购入库（可在仓库设置中开启“接收采购入库”）",
            fields={"warehouse_id": "不接收采购"},
            code="warehouse_not_receiving",
        )


def _temporary_number() -> str:
    """A unique placeholder until the row id gives the real number (fits the 30-character column)."""
    return f"~{uuid.uuid4().hex[:28]}"


def _record_event(order: PurchaseOrder, from_status: str, actor: Any, reason: str = "") -> None:
    PurchaseOrderEvent.objects.create(
        purchase_order=order,
        from_status=from_status,
        to_status=order.status,
        actor=user_or_none(actor),
        reason=reason[:300],
    )


def create_purchase_order(
    *,
    supplier_id: int,
    warehouse_id: int,
    lines: Iterable[Mapping[str, Any]],
    actor: Any,
    expected_date: dt.date | None = None,
    note: str = "",
    run_key: str = "",
) -> PurchaseOrder:
    """A draft purchase order; a line without `unit_price` takes the supplier's lowest valid price."""
    expected_date = _date(expected_date, field="expected_date")
    with transaction.atomic():
        supplier = Supplier.objects.filter(pk=supplier_id).first()
        if supplier is None:
            raise NotFound("供应商不存在", fields={"supplier_id": "不存在"})
        if not supplier.is_active:
            raise InvalidInput("供应商已停用", fields={"supplier_id": "已停用"}, code="supplier_inactive")
        _require_warehouse(warehouse_id)
        _require_purchase_receiving(warehouse_id)
        cleaned = _line_inputs(lines, supplier_id=supplier_id)
        order = PurchaseOrder.objects.create(
            number=_temporary_number(),
            supplier=supplier,
            warehouse_id=warehouse_id,
            expected_date=expected_date,
            note=(note or "").strip()[:300],
            run_key=run_key,
            created_by=user_or_none(actor),
        )
        order.number = f"PO{order.pk:08d}"
        _write_lines(order, cleaned)
        order.save(update_fields=["number", "total_amount", "updated_at"])
        _record_event(order, "", actor)
        audit.record(
            actor=actor,
            action="purchase_order.created",
            instance=order,
            before={},
            after=_order_snapshot(order),
        )
    return order


def _locked_order(po_id: int) -> PurchaseOrder:
    order = PurchaseOrder.objects.select_for_update().filter(pk=po_id).first()
    if order is None:
        raise NotFound("采购单不存在", fields={"po_id": "不存在"})
    return order


def update_purchase_order(*, po_id: int, actor: Any, **changes: Any) -> PurchaseOrder:
    """Change a draft: `expected_date`, `note`, `lines` (replaces every line)."""
    unknown = set(changes) - {"expected_date", "note", "lines"}
    if unknown:
        raise InvalidInput("不能修改这些字段", fields=dict.fromkeys(sorted(unknown), "不可修改"))
    with transaction.atomic():
        order = _locked_order(po_id)
        if order.status != PurchaseOrderStatus.DRAFT:
            raise PurchaseOrderNotEditable("只有草稿状态的采购单可以修改", fields={"status": order.status})
        before = _order_snapshot(order)
        if "expected_date" in changes:
            order.expected_date = _date(changes["expected_date"], field="expected_date")
        if "note" in changes:
            order.note = (changes["note"] or "").strip()[:300]
        if changes.get("lines") is not None:
            _write_lines(order, _line_inputs(changes["lines"], supplier_id=order.supplier_id))
        order.save()
        after = _order_snapshot(order)
        if before != after:
            audit.record(
                actor=actor, action="purchase_order.updated", instance=order, before=before, after=after
            )
    return order


def _transition(order: PurchaseOrder, to_status: str, *, actor: Any, reason: str = "") -> None:
    """Move a locked order to `to_status` if the transition table allows it; timeline and audit."""
    from_status = order.status
    if to_status not in PURCHASE_ORDER_TRANSITIONS[from_status]:
        raise IllegalPurchaseOrderTransition(
            f"采购单不能从“{PurchaseOrderStatus(from_status).label}”变为“{PurchaseOrderStatus(to_status).label}”",
            fields={"status": from_status},
        )
    order.status = to_status
    order.save(update_fields=["status", "updated_at"])
    _record_event(order, from_status, actor, reason)
    audit.record(
        actor=actor,
        action=f"purchase_order.{to_status}",
        instance=order,
        changes={"status": [from_status, to_status]},
        reason=reason,
    )


def _post_in_transit(
    order: PurchaseOrder, deltas: Mapping[int, int], *, actor: Any, reference_type: str, reference_id: str
) -> None:
    """Move the in-transit units at the order's warehouse by `deltas` ({SKU id: ±units}, in SKU order).

    A decrease is capped at what the level holds (locked first), so it never goes below zero.
    """
    for sku_id, delta in sorted(deltas.items()):
        if delta < 0:
            held = (
                StockLevel.objects.select_for_update()
                .filter(sku_id=sku_id, warehouse_id=order.warehouse_id)
                .values_list("in_transit", flat=True)
                .first()
            )
            delta = -min(-delta, held or 0)
        if delta:
            inventory_services.change_in_transit(
                sku_id=sku_id,
                warehouse_id=order.warehouse_id,
                quantity_delta=delta,
                actor=actor,
                reference_type=reference_type,
                reference_id=reference_id,
            )


def _release_open_in_transit(order: PurchaseOrder, *, actor: Any) -> None:
    """Take every line's still-open units off in transit (the order is cancelled or closed)."""
    deltas = {line.sku_id: -line.open_quantity for line in order.lines.select_for_update().order_by("pk")}
    _post_in_transit(
        order, deltas, actor=actor, reference_type=ORDER_REFERENCE_TYPE, reference_id=order.number
    )


def _check_supplier_minimum(order: PurchaseOrder) -> None:
    supplier = order.supplier
    quantity = order.lines.aggregate(total=Sum("quantity"))["total"] or 0
    if order.total_amount < supplier.minimum_order_amount:
        raise BelowSupplierMinimum(
            f"采购金额 {order.total_amount} 低于供应商最低起订金额 {supplier.minimum_order_amount}",
            fields={"total_amount": "低于最低起订金额"},
        )
    if quantity < supplier.minimum_order_quantity:
        raise BelowSupplierMinimum(
            f"采购数量 {quantity} 低于供应商最低起订数量 {supplier.minimum_order_quantity}",
            fields={"lines": "低于最低起订数量"},
        )


def approve_purchase_order(*, po_id: int, actor: Any) -> PurchaseOrder:
    """草稿 → 已审核: the supplier must be active and the order must reach its minimums."""
    with transaction.atomic():
        order = _locked_order(po_id)
        if order.status == PurchaseOrderStatus.DRAFT:
            if not order.supplier.is_active:
                raise InvalidInput("供应商已停用", fields={"supplier_id": "已停用"}, code="supplier_inactive")
            _check_supplier_minimum(order)
        _transition(order, PurchaseOrderStatus.APPROVED, actor=actor)
        _post_in_transit(
            order,
            {line.sku_id: line.quantity for line in order.lines.order_by("pk")},
            actor=actor,
            reference_type=ORDER_REFERENCE_TYPE,
            reference_id=order.number,
        )
    return order


def cancel_purchase_order(*, po_id: int, actor: Any, reason: str = "") -> PurchaseOrder:
    """草稿/已审核 → 已取消 (nothing received yet); an approved order's units leave in transit."""
    with transaction.atomic():
        order = _locked_order(po_id)
        was_approved = order.status == PurchaseOrderStatus.APPROVED
        _transition(order, PurchaseOrderStatus.CANCELLED, actor=actor, reason=reason)
        if was_approved:
            _release_open_in_transit(order, actor=actor)
    return order


def close_purchase_order(*, po_id: int, actor: Any, reason: str = "") -> PurchaseOrder:
    """部分收货/已收货 → 已关闭: the rest is no longer expected, so it leaves in transit."""
    with transaction.atomic():
        order = _locked_order(po_id)
        _transition(order, PurchaseOrderStatus.CLOSED, actor=actor, reason=reason)
        _release_open_in_transit(order, actor=actor)
    return order


# Receiving.


@dataclass(frozen=True)
class _ReceiptInput:
    line_id: int
    received: int
    accepted: int
    rejected: int


def _receipt_inputs(lines: Iterable[Mapping[str, Any]]) -> list[_ReceiptInput]:
    found: list[_ReceiptInput] = []
    seen: set[int] = set()
    for index, line in enumerate(lines):
        line_id = line.get("line_id")
        if isinstance(line_id, bool) or not isinstance(line_id, int) or line_id in seen:
            raise InvalidInput("收货明细无效或重复", fields={f"lines.{index}.line_id": "无效或重复"})
        seen.add(line_id)
        received = _count(line.get("received"), field=f"lines.{index}.received", positive=True)
        accepted = _count(line.get("accepted"), field=f"lines.{index}.accepted", positive=False)
        rejected = _count(line.get("rejected", 0), field=f"lines.{index}.rejected", positive=False)
        if accepted + rejected != received:
            raise InvalidInput(
                "到货数量须等于合格数量加不合格数量", fields={f"lines.{index}.received": "≠ 合格 + 不合格"}
            )
        found.append(_ReceiptInput(line_id, received, accepted, rejected))
    if not found:
        raise InvalidInput("收货至少需要一行明细", fields={"lines": "不能为空"})
    return found


def _check_quantities(wanted: list[_ReceiptInput], order_lines: dict[int, PurchaseOrderLine]) -> None:
    for index, item in enumerate(wanted):
        line = order_lines.get(item.line_id)
        if line is None:
            raise InvalidInput("明细不属于该采购单", fields={f"lines.{index}.line_id": "不属于该采购单"})
        limit = max_acceptable(line.quantity)
        if line.accepted_quantity + item.accepted > limit:
            raise OverReceipt(
                f"超收：采购 {line.quantity}，已入库 {line.accepted_quantity}，本次合格 {item.accepted}，最多 {limit}",
                fields={f"lines.{index}.accepted": f"最多还可入库 {max(limit - line.accepted_quantity, 0)}"},
            )


def _on_hand_everywhere(sku_id: int) -> int:
    return StockLevel.objects.filter(sku_id=sku_id).aggregate(total=Sum("on_hand"))["total"] or 0


def _receive_line(
    receipt: PurchaseReceipt, line: PurchaseOrderLine, item: _ReceiptInput, sku: Sku, *, actor: Any
) -> PurchaseReceiptLine:
    cost_before = sku.cost_price
    cost_after = cost_before
    if item.accepted:
        cost_after = moving_average_cost(
            old_quantity=_on_hand_everywhere(sku.pk),
            old_cost=cost_before,
            added_quantity=item.accepted,
            unit_price=line.unit_price,
        )
        inventory_services.receive_stock(
            sku_id=sku.pk,
            warehouse_id=receipt.warehouse_id,
            quantity=item.accepted,
            actor=actor,
            movement_type=MovementType.PURCHASE_IN,
            reference_type=RECEIPT_REFERENCE_TYPE,
            reference_id=receipt.number,
            note=receipt.purchase_order.number,
        )
        catalog_services.change_price(
            sku_id=sku.pk,
            actor=actor,
            new_value=cost_after,
            field="cost_price",
            reason=f"采购入库 {receipt.number}（移动加权平均）",
            source="purchase",
        )
    PurchaseOrderLine.objects.filter(pk=line.pk).update(
        received_quantity=F("received_quantity") + item.received,
        accepted_quantity=F("accepted_quantity") + item.accepted,
        rejected_quantity=F("rejected_quantity") + item.rejected,
    )
    return PurchaseReceiptLine.objects.create(
        receipt=receipt,
        order_line=line,
        received_quantity=item.received,
        accepted_quantity=item.accepted,
        rejected_quantity=item.rejected,
        unit_cost=line.unit_price,
        cost_before=cost_before,
        cost_after=cost_after,
    )


def receive_purchase_order(
    *,
    po_id: int,
    lines: Iterable[Mapping[str, Any]],
    actor: Any,
    warehouse_id: int | None = None,
    note: str = "",
) -> PurchaseReceipt:
    """Receive a delivery: `lines=[{line_id, received, accepted, rejected}]` into `warehouse_id`
    (default: the order's warehouse). Accepted units go to stock (采购入库) and into the moving-average
    cost; rejected units do not. Accepted units may not exceed ordered + tolerance per line.
    The order becomes 已收货 when every line is fully accepted, else 部分收货."""
    wanted = _receipt_inputs(lines)
    with transaction.atomic():
        order = _locked_order(po_id)
        if order.status not in RECEIVABLE_STATUSES:
            raise IllegalPurchaseOrderTransition(
                f"“{PurchaseOrderStatus(order.status).label}”状态的采购单不能收货",
                fields={"status": order.status},
            )
        warehouse_id = warehouse_id or order.warehouse_id
        _require_warehouse(warehouse_id)
        order_lines = {line.pk: line for line in order.lines.select_for_update().order_by("pk")}
        _check_quantities(wanted, order_lines)
        skus = {
            sku.pk: sku
            for sku in Sku.objects.filter(pk__in={order_lines[item.line_id].sku_id for item in wanted})
            .order_by("pk")
            .select_for_update()
        }
        receipt = PurchaseReceipt.objects.create(
            number=_temporary_number(),
            purchase_order=order,
            warehouse_id=warehouse_id,
            note=(note or "").strip()[:300],
            received_by=user_or_none(actor),
        )
        receipt.number = f"GR{receipt.pk:08d}"
        receipt.save(update_fields=["number"])
        ordered = sorted(wanted, key=lambda item: order_lines[item.line_id].sku_id)
        settled: dict[int, int] = {}
        for item in ordered:
            line = order_lines[item.line_id]
            settled[line.sku_id] = -min(item.accepted, line.open_quantity)
            _receive_line(receipt, line, item, skus[line.sku_id], actor=actor)
        _post_in_transit(
            order, settled, actor=actor, reference_type=RECEIPT_REFERENCE_TYPE, reference_id=receipt.number
        )
        open_lines = order.lines.filter(accepted_quantity__lt=F("quantity")).exists()
        to_status = PurchaseOrderStatus.PARTIALLY_RECEIVED if open_lines else PurchaseOrderStatus.RECEIVED
        _transition(order, to_status, actor=actor, reason=f"收货 {receipt.number}")
        audit.record(
            actor=actor,
            action="purchase_receipt.created",
            instance=receipt,
            changes={
                "purchase_order": order.number,
                "lines": [
                    {
                        "line_id": item.line_id,
                        "received": item.received,
                        "accepted": item.accepted,
                        "rejected": item.rejected,
                    }
                    for item in ordered
                ],
            },
        )
    return receipt


# Draft orders from replenishment suggestions.


@dataclass(frozen=True)
class SuggestedLine:
    """One line of a replenishment run to order: SKU, destination warehouse, supplier, quantity."""

    sku_id: int
    warehouse_id: int
    supplier_id: int
    quantity: int
    unit_price: Decimal | None = None


def _suggested(item: Any) -> SuggestedLine:
    get: Callable[..., Any] = (
        item.get if isinstance(item, Mapping) else (lambda name, default=None: getattr(item, name, default))
    )
    quantity = get("quantity", None)
    if quantity is None:
        quantity = get("suggested_quantity", None)
    price = get("unit_price", None)
    try:
        return SuggestedLine(
            sku_id=int(get("sku_id")),
            warehouse_id=int(get("warehouse_id")),
            supplier_id=int(get("supplier_id")),
            quantity=_count(quantity, field="quantity", positive=True),
            unit_price=None if price is None else _money(price, field="unit_price"),
        )
    except (TypeError, ValueError):
        raise InvalidInput(
            "补货建议无效", fields={"suggestions": "缺少 sku_id/warehouse_id/supplier_id"}
        ) from None


def run_key_for(lines: Iterable[SuggestedLine]) -> str:
    """The same suggestions always give the same key, so converting them twice creates nothing new."""
    canonical = sorted(
        (line.supplier_id, line.warehouse_id, line.sku_id, line.quantity, str(line.unit_price))
        for line in lines
    )
    return hashlib.sha256(json.dumps(canonical).encode()).hexdigest()[:RUN_KEY_LENGTH]


def _group(lines: list[SuggestedLine]) -> dict[tuple[int, int], list[SuggestedLine]]:
    groups: dict[tuple[int, int], list[SuggestedLine]] = {}
    for line in lines:
        groups.setdefault((line.supplier_id, line.warehouse_id), []).append(line)
    for key, members in groups.items():
        if len({line.sku_id for line in members}) != len(members):
            raise InvalidInput(
                "同一供应商与仓库的建议中SKU重复", fields={"suggestions": f"重复：供应商 {key[0]}"}
            )
    return groups


def _add_to_draft(
    order: PurchaseOrder, members: list[SuggestedLine], *, actor: Any, run_key: str
) -> PurchaseOrder:
    """Add suggested units to an existing draft of the same supplier and warehouse (a SKU already on it
    gets the units on top: open drafts count as purchase in transit, so a suggestion is units still
    missing)."""
    current: dict[int, dict[str, Any]] = {
        line.sku_id: {"sku_id": line.sku_id, "quantity": line.quantity, "unit_price": line.unit_price}
        for line in order.lines.order_by("pk")
    }
    for line in members:
        found = current.get(line.sku_id)
        if found is None:
            current[line.sku_id] = {
                "sku_id": line.sku_id,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
            }
        else:
            found["quantity"] += line.quantity
    updated = update_purchase_order(po_id=order.pk, actor=actor, lines=list(current.values()))
    # the draft now answers for this run (a repeated call returns it instead of adding again)
    PurchaseOrder.objects.filter(pk=order.pk).update(run_key=run_key)
    updated.run_key = run_key
    return updated


def create_draft_pos_from_suggestions(
    *, suggestions: Iterable[Any], actor: Any, run_key: str | None = None
) -> list[PurchaseOrder]:
    """One draft purchase order per supplier (and destination warehouse: an order delivers to one
    warehouse) from replenishment suggestions. Idempotent per run key (by default derived from the
    suggestions): a second call with the same run returns the orders the first one created.

    No second draft for the same supplier and warehouse: when a draft exists, the suggested units are
    added to it (the oldest such draft) instead of opening another, and it takes the run key."""
    lines = [_suggested(item) for item in suggestions]
    if not lines:
        raise InvalidInput("没有可转换的补货建议", fields={"suggestions": "不能为空"})
    key = (run_key or run_key_for(lines)).strip()[:64]
    groups = _group(lines)
    existing = list(PurchaseOrder.objects.filter(run_key=key).order_by("pk"))
    if existing:
        return existing
    today = timezone.localdate()
    try:
        with transaction.atomic():
            created = []
            for (supplier_id, warehouse_id), members in sorted(groups.items()):
                draft = (
                    PurchaseOrder.objects.select_for_update()
                    .filter(
                        supplier_id=supplier_id, warehouse_id=warehouse_id, status=PurchaseOrderStatus.DRAFT
                    )
                    .order_by("pk")
                    .first()
                )
                if draft is not None:
                    created.append(_add_to_draft(draft, members, actor=actor, run_key=key))
                    continue
                supplier = Supplier.objects.filter(pk=supplier_id).first()
                lead_time = supplier.lead_time_days if supplier is not None else 0
                created.append(
                    create_purchase_order(
                        supplier_id=supplier_id,
                        warehouse_id=warehouse_id,
                        lines=[
                            {"sku_id": line.sku_id, "quantity": line.quantity, "unit_price": line.unit_price}
                            for line in sorted(members, key=lambda line: line.sku_id)
                        ],
                        actor=actor,
                        expected_date=today + dt.timedelta(days=lead_time),
                        note="补货建议生成",
                        run_key=key,
                    )
                )
    except IntegrityError:
        # A concurrent conversion of the same run committed first: hand back what it created.
        existing = list(PurchaseOrder.objects.filter(run_key=key).order_by("pk"))
        if not existing:
            raise
        return existing
    return created
