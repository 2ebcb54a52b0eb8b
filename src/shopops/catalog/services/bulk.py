"""Bulk price adjustment: preview, then all-or-nothing apply."""

from __future__ import annotations

from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from django.db import transaction

from shopops.catalog.models import (
    PriceField,
    Sku,
)
from shopops.catalog.services.common import (
    BULK_MODES,
    BULK_ROUNDINGS,
    BulkPriceResult,
    BulkPriceRow,
    PriceChange,
    PriceGuardBlocked,
    PriceGuardWarning,
    PriceOutOfRange,
)
from shopops.catalog.services.pricing import (
    PolicyResolver,
    _apply_prices,
    _price_field,
    price_issues,
)
from shopops.core.errors import InvalidInput, required_text
from shopops.core.money import CENT, format_cny, money_range_error, to_money


def round_price(amount: Decimal, rounding: str) -> Decimal:
    """cent: to 0.01 (half up); yuan: to whole yuan (half up); x9: to the nearest amount ending in .9
    (89.91 → 89.90, 90.00 → 89.90, 90.50 → 90.90; a tie goes to the lower one; never below 0.90)."""
    if rounding == "cent":
        return amount.quantize(CENT, rounding=ROUND_HALF_UP)
    if rounding == "yuan":
        return amount.quantize(Decimal(1), rounding=ROUND_HALF_UP).quantize(CENT)
    nine = Decimal("0.9")
    lower = (amount - nine).to_integral_value(rounding=ROUND_FLOOR) + nine
    upper = lower + 1
    chosen = upper if lower < 0 or upper - amount < amount - lower else lower
    return chosen.quantize(CENT)


def _bulk_value(mode: str, value: Any, field: str, rounding: str) -> Decimal:
    if mode not in BULK_MODES:
        raise InvalidInput(f"未知调价方式：{mode}", fields={"mode": "须为 percent、amount 或 set"})
    if rounding not in BULK_ROUNDINGS:
        raise InvalidInput(f"未知取整方式：{rounding}", fields={"rounding": "须为 cent、yuan 或 x9"})
    _price_field(field)
    amount = to_money(value, field="value")
    if mode == "set" and amount < 0:
        raise InvalidInput("价格不能为负数", fields={"value": "不能为负数"})
    return amount


def _adjusted(old: Decimal | None, *, mode: str, value: Decimal, rounding: str) -> Decimal | str:
    """The new price, or the reason there is none."""
    if mode == "set":
        raw = value
    elif old is None:
        return "无原价，不能按比例或金额调整"
    elif mode == "percent":
        raw = old * (100 + value) / 100
    else:
        raw = old + value
    if raw < 0:
        return f"调整后价格为负数（{raw.quantize(CENT, rounding=ROUND_HALF_UP)}）"
    return round_price(raw, rounding)


def _bulk_rows(
    skus: list[Sku], *, mode: str, value: Decimal, field: str, rounding: str
) -> list[BulkPriceRow]:
    resolver = PolicyResolver()
    rows: list[BulkPriceRow] = []
    refused: dict[str, str] = {}
    out_of_range: dict[str, str] = {}
    for sku in skus:
        old = getattr(sku, field)
        new = _adjusted(old, mode=mode, value=value, rounding=rounding)
        if isinstance(new, str):
            refused[str(sku.pk)] = f"{sku.merchant_code}：{new}"
            continue
        if (range_error := money_range_error(new)) is not None:
            out_of_range[str(sku.pk)] = f"{sku.merchant_code}：调整后价格 {format_cny(new)} {range_error}"
            continue
        issues = price_issues(resolver, sku, {field: new}) if new != old else ()
        name = f"{sku.product.name} {sku.spec}".strip()
        rows.append(BulkPriceRow(sku.pk, sku.merchant_code, name, old, new, issues))
    if out_of_range:
        count = len(refused) + len(out_of_range)
        raise PriceOutOfRange(
            f"{count} 个 SKU 无法调价：调整后价格超出范围", fields={**refused, **out_of_range}
        )
    if refused:
        raise InvalidInput(f"{len(refused)} 个 SKU 无法调价", fields=refused)
    return rows


def _bulk_skus(sku_ids: list[int], *, lock: bool) -> list[Sku]:
    wanted = list(dict.fromkeys(sku_ids))
    if not wanted:
        raise InvalidInput("请选择 SKU", fields={"sku_ids": "必填"})
    queryset = Sku.objects.select_related("product").filter(pk__in=wanted).order_by("pk")
    skus = list(queryset.select_for_update(of=("self",)) if lock else queryset)
    missing = sorted(set(wanted) - {sku.pk for sku in skus})
    if missing:
        raise InvalidInput(
            f"SKU 不存在：{', '.join(map(str, missing))}",
            fields={"sku_ids": f"不存在：{', '.join(map(str, missing))}"},
        )
    return skus


def preview_bulk_price_adjustment(
    *,
    sku_ids: list[int],
    mode: str,
    value: Decimal | str | int,
    field: str = "sale_price",
    rounding: str = "cent",
) -> list[BulkPriceRow]:
    """What a bulk adjustment would do, row by row, with guard issues; writes nothing.

    mode "percent": value −10 → 10% cheaper; "amount": value −5 → ¥5 cheaper; "set": value is the price.
    Rounding: see `round_price`. A negative result, or one past the price columns' range
    (`money_range_error`), refuses the whole request."""
    amount = _bulk_value(mode, value, field, rounding)
    return _bulk_rows(
        _bulk_skus(sku_ids, lock=False), mode=mode, value=amount, field=field, rounding=rounding
    )


def _per_sku_issues(rows: list[BulkPriceRow], *, blocking_only: bool) -> dict[str, str]:
    return {
        str(row.sku_id): f"{row.merchant_code}：" + "；".join(issue.message for issue in issues)
        for row in rows
        if (issues := [issue for issue in row.issues if issue.blocking or not blocking_only])
    }


def apply_bulk_price_adjustment(
    *,
    sku_ids: list[int],
    mode: str,
    value: Decimal | str | int,
    actor: Any,
    reason: str,
    field: str = "sale_price",
    rounding: str = "cent",
    acknowledge_warnings: bool = False,
) -> BulkPriceResult:
    """Apply a bulk adjustment all-or-nothing: rows are recomputed under lock exactly as in the preview;
    any blocked row (or unacknowledged warning) refuses the whole batch, naming each SKU in `fields`."""
    amount = _bulk_value(mode, value, field, rounding)
    reason = required_text(reason, field="reason", label="调价原因", max_length=300)
    with transaction.atomic():
        skus = _bulk_skus(sku_ids, lock=True)
        rows = _bulk_rows(skus, mode=mode, value=amount, field=field, rounding=rounding)
        if field == PriceField.SALE:
            all_issues = [issue for row in rows for issue in row.issues]
            blocked = _per_sku_issues(rows, blocking_only=True)
            if blocked:
                raise PriceGuardBlocked(
                    f"价格保护阻止了 {len(blocked)} 个 SKU 的调价", fields=blocked, issues=all_issues
                )
            if all_issues and not acknowledge_warnings:
                warned = _per_sku_issues(rows, blocking_only=False)
                raise PriceGuardWarning(
                    f"{len(warned)} 个 SKU 触发价格保护提醒，确认后可继续", fields=warned, issues=all_issues
                )
        resolver = PolicyResolver()
        changes: list[PriceChange] = []
        for sku, row in zip(skus, rows, strict=True):
            changes += _apply_prices(
                sku,
                {field: row.new_value},
                actor=actor,
                reason=reason,
                source="bulk",
                acknowledge_warnings=True,
                resolver=resolver,
            )
    return BulkPriceResult(rows=tuple(rows), changes=tuple(changes))
