"""Stock thresholds, days of cover and de-duplicated, self-resolving stock alerts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from shopops.accounts.roles import role_group_name
from shopops.core import audit
from shopops.core.errors import InvalidInput
from shopops.core.models import AlertSeverity
from shopops.core.notifications import open_alert_keys, raise_alert, resolve_alert
from shopops.inventory.models import (
    MovementType,
    StockLevel,
    StockMovement,
    StockThreshold,
)
from shopops.inventory.services.common import (
    _require_stock_keeping_sku,
    _require_warehouse,
)

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
