"""Stocktakes (盘点): snapshot, count entry, approval, posting and the variance report."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from shopops.catalog.models import Category, Sku
from shopops.core import audit
from shopops.core.audit import user_or_none
from shopops.core.errors import Conflict, InvalidInput, NotFound, PermissionDeniedError
from shopops.core.money import to_money
from shopops.inventory.models import (
    STOCKTAKE_TRANSITIONS,
    BundleComponent,
    Location,
    MovementType,
    StockLevel,
    Stocktake,
    StocktakeLine,
    StocktakeScope,
    StocktakeStatus,
)
from shopops.inventory.services.common import (
    _require_stock_keeping_sku,
    _require_warehouse,
)
from shopops.inventory.services.stock import (
    adjust_stock,
)

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
            created_by=user_or_none(actor),
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
        line.counted_by = user_or_none(actor)
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
