"""After-sales read models: case lists, refund and return rates by SKU / reason / shop / platform, claims.

Definitions (docs/aftersales.md states them for operators), over a period of whole days
[date_from, date_to] in Asia/Shanghai, default the last 30 days (DOMAIN.md §5: 退款率 over a 30-day window):

- **paid orders**: orders with `paid_at` in the period, test orders excluded; paid amount = Σ `paid_amount`.
- **successful refunds**: cases whose money went back (`refunded_at` in the period); refunded orders =
  distinct orders with such a case; refunded amount = Σ case `refunded_amount` (shipping included).
- **refund rate** = refunded orders ÷ paid orders (by count) and refunded amount ÷ paid amount (by amount).
- **return rate** = units returned ÷ units sold: units returned = Σ units received back on return and
  exchange cases with `received_at` in the period; units sold = Σ line quantities of the paid orders.

By SKU, the paid orders are those containing the SKU, the paid amount Σ of its line amounts, the refunded
amount Σ of its case-line refunds (goods only: shipping belongs to no SKU). By reason, only the numerators
split; each reason is measured against all paid orders / units of the scope. Rates have 4 decimals and are
None when the denominator is 0.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import IO, Any, Literal

from django.db.models import Count, Prefetch, QuerySet, Sum
from django.utils import timezone

from shopops.aftersales.models import (
    RETURN_KINDS,
    ZERO,
    AfterSaleCase,
    AfterSaleLine,
    CaseEvent,
    Inspection,
    InspectionGrade,
)
from shopops.channels.models import Platform, Shop
from shopops.core.errors import InvalidInput
from shopops.core.permissions import shop_ids_for
from shopops.core.scope import get_in_scope
from shopops.core.tabular import write_table
from shopops.orders.models import Order, OrderLine

GroupBy = Literal["sku", "reason", "shop", "platform"]
RATE_PLACES = Decimal("0.0001")
DEFAULT_WINDOW_DAYS = 30
MAX_PERIOD_DAYS = 366


def case_queryset(user: Any) -> QuerySet[AfterSaleCase]:
    """Cases in the user's shops with what the list and the detail show, without N+1."""
    return (
        AfterSaleCase.objects.for_user(user)
        .select_related("shop", "order", "reason", "reason__parent", "return_carrier", "replacement_carrier")
        .prefetch_related(
            Prefetch(
                "lines",
                queryset=AfterSaleLine.objects.select_related("order_line").prefetch_related("inspections"),
            ),
            Prefetch("events", queryset=CaseEvent.objects.select_related("actor")),
        )
    )


def case_in_scope(user: Any, case_id: int) -> AfterSaleCase:
    """One case of the user's shops (with what the detail shows), else the one out-of-scope 404."""
    return get_in_scope(case_queryset(user), user, what="售后单", pk=case_id)


def default_period(today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    today = today or timezone.localdate()
    return today - dt.timedelta(days=DEFAULT_WINDOW_DAYS - 1), today


@dataclass(frozen=True)
class RateParams:
    """A rate report: the period (whole local days, both inclusive), the grouping, optionally one shop."""

    date_from: dt.date
    date_to: dt.date
    group_by: GroupBy = "sku"
    shop_id: int | None = None


@dataclass(frozen=True)
class RateRow:
    key: str
    label: str
    paid_orders: int
    refunded_orders: int
    refund_rate: Decimal | None
    paid_amount: Decimal
    refunded_amount: Decimal
    refund_amount_rate: Decimal | None
    units_sold: int
    units_returned: int
    return_rate: Decimal | None


def _bounds(date_from: dt.date, date_to: dt.date) -> tuple[dt.datetime, dt.datetime]:
    if date_to < date_from:
        raise InvalidInput("结束日期不能早于开始日期", fields={"date_to": "早于开始日期"})
    if (date_to - date_from).days >= MAX_PERIOD_DAYS:
        raise InvalidInput(f"统计区间最长 {MAX_PERIOD_DAYS} 天", fields={"date_from": "区间过长"})
    zone = timezone.get_default_timezone()
    start = dt.datetime.combine(date_from, dt.time.min, tzinfo=zone)
    end = dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
    return start, end


def _rate(numerator: Decimal | int, denominator: Decimal | int) -> Decimal | None:
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(RATE_PLACES, rounding=ROUND_HALF_UP)


@dataclass
class _Tally:
    label: str = ""
    paid_orders: int = 0
    refunded_orders: set[int] = field(default_factory=set)
    paid_amount: Decimal = ZERO
    refunded_amount: Decimal = ZERO
    units_sold: int = 0
    units_returned: int = 0


def _scoped(queryset: QuerySet[Any], user: Any, shop_id: int | None, shop_field: str) -> QuerySet[Any]:
    allowed = shop_ids_for(user)
    if allowed is not None:
        queryset = queryset.filter(**{f"{shop_field}__in": allowed})
    if shop_id is not None:
        queryset = queryset.filter(**{shop_field: shop_id})
    return queryset


def _shop_labels(shop_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    return {
        pk: (name, platform)
        for pk, name, platform in Shop.objects.filter(pk__in=set(shop_ids)).values_list(
            "pk", "name", "platform"
        )
    }


def _order_key(group_by: GroupBy, shop_id: int, shops: dict[int, tuple[str, str]]) -> tuple[str, str]:
    name, platform = shops.get(shop_id, ("", ""))
    if group_by == "shop":
        return str(shop_id), name
    return platform, str(Platform(platform).label) if platform in Platform.values else platform


def _by_channel(params: RateParams, user: Any, start: dt.datetime, end: dt.datetime) -> dict[str, _Tally]:
    tallies: dict[str, _Tally] = {}
    orders = _scoped(
        Order.objects.filter(paid_at__gte=start, paid_at__lt=end, is_test=False),
        user,
        params.shop_id,
        "shop_id",
    )
    cases = _scoped(
        AfterSaleCase.objects.filter(refunded_at__gte=start, refunded_at__lt=end),
        user,
        params.shop_id,
        "shop_id",
    )
    returns = _scoped(
        AfterSaleLine.objects.filter(
            case__kind__in=RETURN_KINDS, case__received_at__gte=start, case__received_at__lt=end
        ),
        user,
        params.shop_id,
        "case__shop_id",
    )
    order_rows = list(
        orders.order_by()
        .values("shop_id")
        .annotate(count=Count("pk"), amount=Sum("paid_amount"))
        .values_list("shop_id", "count", "amount")
    )
    case_rows = list(cases.values_list("order_id", "shop_id", "refunded_amount"))
    return_rows = list(returns.values_list("case__shop_id", "received_quantity"))
    sold = list(
        OrderLine.objects.filter(order__in=orders.values("pk"))
        .order_by()
        .values("order__shop_id")
        .annotate(units=Sum("quantity"))
        .values_list("order__shop_id", "units")
    )
    shop_ids = (
        {row[0] for row in order_rows} | {row[1] for row in case_rows} | {row[0] for row in return_rows}
    )
    shops = _shop_labels(shop_ids)

    def tally(shop_id: int) -> _Tally:
        key, label = _order_key(params.group_by, shop_id, shops)
        return tallies.setdefault(key, _Tally(label=label))

    for shop_id, count, paid in order_rows:
        entry = tally(shop_id)
        entry.paid_orders += count
        entry.paid_amount += paid
    for shop_id, quantity in sold:
        tally(shop_id).units_sold += quantity
    for order_id, shop_id, refunded in case_rows:
        entry = tally(shop_id)
        entry.refunded_orders.add(order_id)
        entry.refunded_amount += refunded
    for shop_id, received in return_rows:
        tally(shop_id).units_returned += received
    return tallies


def _by_sku(params: RateParams, user: Any, start: dt.datetime, end: dt.datetime) -> dict[str, _Tally]:
    tallies: dict[str, _Tally] = {}

    def tally(sku_id: int | None, code: str) -> _Tally:
        return tallies.setdefault(str(sku_id or ""), _Tally(label=code))

    lines = _scoped(
        OrderLine.objects.filter(order__paid_at__gte=start, order__paid_at__lt=end, order__is_test=False),
        user,
        params.shop_id,
        "order__shop_id",
    )
    paid = (
        lines.order_by()
        .values("sku_id", "sku__merchant_code")
        .annotate(orders=Count("order_id", distinct=True), amount=Sum("amount"), units=Sum("quantity"))
        .values_list("sku_id", "sku__merchant_code", "orders", "amount", "units")
    )
    for sku_id, code, orders, amount, units in paid:
        entry = tally(sku_id, code or "")
        entry.paid_orders += orders
        entry.paid_amount += amount
        entry.units_sold += units
    case_lines = _scoped(AfterSaleLine.objects.all(), user, params.shop_id, "case__shop_id")
    for order_id, sku_id, code, refunded in case_lines.filter(
        case__refunded_at__gte=start, case__refunded_at__lt=end
    ).values_list(
        "case__order_id", "order_line__sku_id", "order_line__sku__merchant_code", "refunded_amount"
    ):
        entry = tally(sku_id, code or "")
        entry.refunded_orders.add(order_id)
        entry.refunded_amount += refunded
    for sku_id, code, received in case_lines.filter(
        case__kind__in=RETURN_KINDS, case__received_at__gte=start, case__received_at__lt=end
    ).values_list("order_line__sku_id", "order_line__sku__merchant_code", "received_quantity"):
        tally(sku_id, code or "").units_returned += received
    return tallies


def _by_reason(params: RateParams, user: Any, start: dt.datetime, end: dt.datetime) -> dict[str, _Tally]:
    totals = _by_channel(
        RateParams(params.date_from, params.date_to, "shop", params.shop_id), user, start, end
    )
    paid_orders = sum(entry.paid_orders for entry in totals.values())
    paid_amount = sum((entry.paid_amount for entry in totals.values()), ZERO)
    units_sold = sum(entry.units_sold for entry in totals.values())
    tallies: dict[str, _Tally] = {}

    def tally(code: str, name: str, parent: str | None) -> _Tally:
        label = f"{parent} / {name}" if parent else name
        return tallies.setdefault(
            code, _Tally(label=label, paid_orders=paid_orders, paid_amount=paid_amount, units_sold=units_sold)
        )

    cases = _scoped(
        AfterSaleCase.objects.filter(refunded_at__gte=start, refunded_at__lt=end),
        user,
        params.shop_id,
        "shop_id",
    )
    for order_id, code, name, parent, refunded in cases.values_list(
        "order_id", "reason__code", "reason__name", "reason__parent__name", "refunded_amount"
    ):
        entry = tally(code, name, parent)
        entry.refunded_orders.add(order_id)
        entry.refunded_amount += refunded
    returns = _scoped(
        AfterSaleLine.objects.filter(
            case__kind__in=RETURN_KINDS, case__received_at__gte=start, case__received_at__lt=end
        ),
        user,
        params.shop_id,
        "case__shop_id",
    )
    for code, name, parent, received in returns.values_list(
        "case__reason__code", "case__reason__name", "case__reason__parent__name", "received_quantity"
    ):
        tally(code, name, parent).units_returned += received
    return tallies


def rates(params: RateParams, *, user: Any) -> list[RateRow]:
    """Refund and return rates of the period grouped by `params.group_by`, sorted by key."""
    start, end = _bounds(params.date_from, params.date_to)
    if params.group_by == "sku":
        tallies = _by_sku(params, user, start, end)
    elif params.group_by == "reason":
        tallies = _by_reason(params, user, start, end)
    elif params.group_by in ("shop", "platform"):
        tallies = _by_channel(params, user, start, end)
    else:
        raise InvalidInput("分组方式无效", fields={"group_by": "须为 sku / reason / shop / platform"})
    return [
        RateRow(
            key=key,
            label=entry.label,
            paid_orders=entry.paid_orders,
            refunded_orders=len(entry.refunded_orders),
            refund_rate=_rate(len(entry.refunded_orders), entry.paid_orders),
            paid_amount=entry.paid_amount,
            refunded_amount=entry.refunded_amount,
            refund_amount_rate=_rate(entry.refunded_amount, entry.paid_amount),
            units_sold=entry.units_sold,
            units_returned=entry.units_returned,
            return_rate=_rate(entry.units_returned, entry.units_sold),
        )
        for key, entry in sorted(tallies.items())
    ]


RATE_HEADERS = (
    "分组",
    "名称",
    "支付订单数",
    "退款订单数",
    "退款率(笔数)",
    "支付金额",
    "退款金额",
    "退款率(金额)",
    "销售件数",
    "退货件数",
    "退货率",
)


def write_rates(
    params: RateParams, *, user: Any, destination: str | IO[bytes], file_format: Literal["csv", "xlsx"]
) -> int:
    """The rate report as CSV or XLSX (`core.tabular.write_table`); returns the row count."""
    rows = (
        (
            row.key,
            row.label,
            row.paid_orders,
            row.refunded_orders,
            row.refund_rate if row.refund_rate is not None else "",
            row.paid_amount,
            row.refunded_amount,
            row.refund_amount_rate if row.refund_amount_rate is not None else "",
            row.units_sold,
            row.units_returned,
            row.return_rate if row.return_rate is not None else "",
        )
        for row in rates(params, user=user)
    )
    return write_table(
        destination, headers=RATE_HEADERS, rows=rows, file_format=file_format, sheet_name="售后退款退货率"
    )


@dataclass(frozen=True)
class ClaimParams:
    """Supplier claims (退供应商索赔) recorded at inspection in the period, optionally of one supplier."""

    date_from: dt.date
    date_to: dt.date
    supplier_id: int | None = None


@dataclass(frozen=True)
class ClaimRow:
    inspection_id: int
    case_id: int
    shop_id: int
    order_external_id: str
    sku_id: int | None
    merchant_code: str
    supplier_id: int
    supplier_name: str
    units: int
    claim_amount: Decimal
    warehouse_id: int | None
    note: str
    inspected_at: dt.datetime


def supplier_claims(params: ClaimParams, *, user: Any) -> list[ClaimRow]:
    """Units graded "supplier claim", with the supplier and the amount to claim, oldest first."""
    start, end = _bounds(params.date_from, params.date_to)
    inspections = _scoped(
        Inspection.objects.filter(
            grade=InspectionGrade.SUPPLIER_CLAIM, inspected_at__gte=start, inspected_at__lt=end
        ),
        user,
        None,
        "line__case__shop_id",
    ).select_related("line__case__order", "line__order_line__sku", "supplier")
    if params.supplier_id is not None:
        inspections = inspections.filter(supplier_id=params.supplier_id)
    return [
        ClaimRow(
            inspection_id=inspection.pk,
            case_id=inspection.line.case_id,
            shop_id=inspection.line.case.shop_id,
            order_external_id=inspection.line.case.order.external_id,
            sku_id=inspection.line.order_line.sku_id,
            merchant_code=inspection.line.order_line.merchant_code,
            supplier_id=inspection.supplier_id or 0,
            supplier_name=inspection.supplier.name if inspection.supplier else "",
            units=inspection.quantity,
            claim_amount=inspection.claim_amount,
            warehouse_id=inspection.warehouse_id,
            note=inspection.note,
            inspected_at=inspection.inspected_at,
        )
        for inspection in inspections.order_by("inspected_at", "pk")
    ]
