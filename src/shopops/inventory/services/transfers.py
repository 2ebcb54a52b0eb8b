"""Transfers between warehouses (调拨), in-transit quantities and write-offs (报损)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from shopops.core import audit
from shopops.core.audit import user_or_none
from shopops.core.errors import Conflict, InvalidInput, NotFound, required_text
from shopops.inventory.ledger import level_id_for
from shopops.inventory.models import (
    TRANSFER_TRANSITIONS,
    MovementType,
    StockLevel,
    StockMovement,
    Transfer,
    TransferLine,
    TransferStatus,
    WriteOffReason,
)
from shopops.inventory.services.common import (
    StockInconsistent,
    _positive_quantity,
    _require_stock_keeping_sku,
    _require_warehouse,
)
from shopops.inventory.services.stock import (
    adjust_stock,
    issue_stock,
    receive_stock,
)


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
            created_by=user_or_none(actor),
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


def change_in_transit(
    *,
    sku_id: int,
    warehouse_id: int,
    quantity_delta: int,
    actor: Any,
    reference_type: str = "",
    reference_id: str = "",
) -> StockLevel:
    """Count units as on their way to a warehouse (+, e.g. an approved purchase order) or no longer (−).

    In transit is not on hand, so no ledger row is written; the change is audited with its reference.
    Refuses a decrease below zero (`StockInconsistent`).
    """
    if isinstance(quantity_delta, bool) or not isinstance(quantity_delta, int) or quantity_delta == 0:
        raise InvalidInput("在途变动须为非零整数", fields={"quantity_delta": "须为非零整数"})
    with transaction.atomic():
        _require_stock_keeping_sku(sku_id)
        _require_warehouse(warehouse_id, active=False)
        _change_in_transit(sku_id=sku_id, warehouse_id=warehouse_id, delta=quantity_delta)
        level = StockLevel.objects.get(sku_id=sku_id, warehouse_id=warehouse_id)
        audit.record(
            actor=actor,
            action="stock.in_transit_changed",
            instance=level,
            changes={
                "in_transit": [level.in_transit - quantity_delta, level.in_transit],
                "reference": f"{reference_type}:{reference_id}" if reference_type or reference_id else "",
            },
        )
    return level


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
    reason = required_text(reason, field="reason", label="原因", max_length=300)
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
