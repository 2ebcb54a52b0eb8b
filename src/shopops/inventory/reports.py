"""Inventory reports: stock on hand with value, slow movers, stock age (FIFO) and turnover; read-only.

Each report takes a frozen dataclass of parameters and the user (whose warehouse scope limits the
rows) and returns typed rows; nothing is written. Conventions, documented here once:

- **Value at cost** is quantity × the SKU's current `cost_price` (kept as a moving average by
  purchasing); there is no cost history, so past positions are valued at today's cost.
- **Stock on hand** groups the current levels; a group lists only levels holding or expecting stock.
- **Slow movers** are SKU × warehouse positions with stock at `as_of` and no 销售出库 (`sale_out`)
  in the `days` before `as_of`. Each warehouse counts alone: a sale elsewhere does not move this stock.
- **Stock age** walks the ledger first in, first out: every inbound row (on-hand delta > 0: purchase,
  return, count gain, transfer in, opening, positive adjustment) opens a layer; every outbound row
  consumes the oldest layers. What is left at `as_of` is the stock with the time it came in; a
  transfer starts a new layer in the receiving warehouse (its age restarts there).
- **Turnover** = COGS ÷ average inventory value over [start, end): COGS = units sold (`sale_out`)
  in the period × cost; average inventory value = (value at start + value at end) ÷ 2, each position
  taken from the ledger at that instant. Days of inventory = period days ÷ turnover.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import IO, Any, Literal

from django.db.models import Max, Q, Sum
from django.utils import timezone

from shopops.catalog import queries as catalog_queries
from shopops.catalog.models import Sku
from shopops.core.errors import InvalidInput
from shopops.core.money import CENT
from shopops.core.tabular import write_table
from shopops.inventory.models import MovementType, StockLevel, StockMovement, Warehouse

GroupBy = Literal["warehouse", "category", "warehouse_category"]
TurnoverGroupBy = Literal["warehouse", "category", "total"]
ONE_DAY = Decimal(86400)
MAX_DAYS = 3650


def _money(amount: Decimal) -> Decimal:
    return amount.quantize(CENT)


def _now_or(value: dt.datetime | None) -> dt.datetime:
    if value is None:
        return timezone.now()
    if timezone.is_naive(value):
        raise InvalidInput("时间须带时区", fields={"as_of": "须为带时区的时间"})
    return value


def _scoped_movements(user: Any, warehouse_id: int | None, category_id: int | None) -> Any:
    movements = StockMovement.objects.for_user(user).order_by()
    if warehouse_id is not None:
        movements = movements.filter(warehouse_id=warehouse_id)
    if category_id is not None:
        movements = movements.filter(
            sku__product__category_id__in=catalog_queries.category_with_descendant_ids(category_id)
        )
    return movements


@dataclass(frozen=True)
class _SkuFacts:
    merchant_code: str
    product_name: str
    category_id: int | None
    category_path: str
    cost_price: Decimal


def _sku_facts(sku_ids: Iterable[int]) -> dict[int, _SkuFacts]:
    rows = Sku.objects.filter(pk__in=set(sku_ids)).values_list(
        "pk",
        "merchant_code",
        "product__name",
        "product__category_id",
        "product__category__path",
        "cost_price",
    )
    return {
        pk: _SkuFacts(code, name, category_id, path or "", cost)
        for pk, code, name, category_id, path, cost in rows
    }


def _warehouse_codes(warehouse_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    return {
        pk: (code, name)
        for pk, code, name in Warehouse.objects.filter(pk__in=set(warehouse_ids)).values_list(
            "pk", "code", "name"
        )
    }


# Stock on hand.


@dataclass(frozen=True)
class StockOnHandParams:
    group_by: GroupBy = "warehouse"
    warehouse_id: int | None = None
    category_id: int | None = None


@dataclass(frozen=True)
class StockOnHandRow:
    warehouse_id: int | None
    warehouse_code: str
    category_id: int | None
    category_path: str
    sku_count: int
    on_hand: int
    reserved: int
    available: int
    in_transit: int
    value: Decimal


def stock_on_hand(params: StockOnHandParams, *, user: Any) -> list[StockOnHandRow]:
    """Current stock per warehouse, per category or per both, with its value at cost."""
    levels = StockLevel.objects.for_user(user).filter(Q(on_hand__gt=0) | Q(in_transit__gt=0)).order_by()
    if params.warehouse_id is not None:
        levels = levels.filter(warehouse_id=params.warehouse_id)
    if params.category_id is not None:
        levels = levels.filter(
            sku__product__category_id__in=catalog_queries.category_with_descendant_ids(params.category_id)
        )
    positions = list(
        levels.values_list("sku_id", "warehouse_id", "on_hand", "reserved", "safety_stock", "in_transit")
    )
    facts = _sku_facts(position[0] for position in positions)
    warehouses = _warehouse_codes(position[1] for position in positions)
    totals: dict[tuple[int | None, int | None], list[Any]] = {}
    for sku_id, warehouse_id, on_hand, reserved, safety_stock, in_transit in positions:
        category_id = facts[sku_id].category_id
        key = (
            None if params.group_by == "category" else warehouse_id,
            None if params.group_by == "warehouse" else category_id,
        )
        total = totals.setdefault(key, [0, 0, 0, 0, 0, Decimal(0)])
        total[0] += 1
        total[1] += on_hand
        total[2] += reserved
        total[3] += on_hand - reserved - safety_stock
        total[4] += in_transit
        total[5] += on_hand * facts[sku_id].cost_price
    paths = {facts_row.category_id: facts_row.category_path for facts_row in facts.values()}
    rows = [
        StockOnHandRow(
            warehouse_id=warehouse_id,
            warehouse_code=warehouses[warehouse_id][0] if warehouse_id is not None else "",
            category_id=category_id,
            category_path=paths.get(category_id, "") if category_id is not None else "",
            sku_count=total[0],
            on_hand=total[1],
            reserved=total[2],
            available=total[3],
            in_transit=total[4],
            value=_money(total[5]),
        )
        for (warehouse_id, category_id), total in totals.items()
    ]
    return sorted(rows, key=lambda row: (row.warehouse_code, row.category_path))


# Slow movers.


@dataclass(frozen=True)
class SlowMoversParams:
    days: int = 30
    as_of: dt.datetime | None = None
    warehouse_id: int | None = None
    category_id: int | None = None


@dataclass(frozen=True)
class SlowMoverRow:
    sku_id: int
    merchant_code: str
    product_name: str
    warehouse_id: int
    warehouse_code: str
    on_hand: int
    value: Decimal
    last_sale_at: dt.datetime | None
    days_since_last_sale: int | None


def _check_days(days: int, name: str = "days") -> None:
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise InvalidInput(f"天数须在 1 到 {MAX_DAYS} 之间", fields={name: f"须为 1–{MAX_DAYS}"})


def slow_movers(params: SlowMoversParams, *, user: Any) -> list[SlowMoverRow]:
    """Positions holding stock at `as_of` without a sale in the `days` before it; most value first."""
    _check_days(params.days)
    as_of = _now_or(params.as_of)
    since = as_of - dt.timedelta(days=params.days)
    positions = (
        _scoped_movements(user, params.warehouse_id, params.category_id)
        .filter(created_at__lte=as_of)
        .values("sku_id", "warehouse_id")
        .annotate(
            on_hand=Sum("on_hand_delta"),
            last_sale_at=Max("created_at", filter=Q(movement_type=MovementType.SALE_OUT)),
        )
        .filter(on_hand__gt=0)
        .filter(Q(last_sale_at__isnull=True) | Q(last_sale_at__lt=since))
        .values_list("sku_id", "warehouse_id", "on_hand", "last_sale_at")
    )
    positions = list(positions)
    facts = _sku_facts(position[0] for position in positions)
    warehouses = _warehouse_codes(position[1] for position in positions)
    rows = [
        SlowMoverRow(
            sku_id=sku_id,
            merchant_code=facts[sku_id].merchant_code,
            product_name=facts[sku_id].product_name,
            warehouse_id=warehouse_id,
            warehouse_code=warehouses[warehouse_id][0],
            on_hand=on_hand,
            value=_money(on_hand * facts[sku_id].cost_price),
            last_sale_at=last_sale_at,
            days_since_last_sale=None if last_sale_at is None else (as_of - last_sale_at).days,
        )
        for sku_id, warehouse_id, on_hand, last_sale_at in positions
    ]
    return sorted(rows, key=lambda row: (-row.value, row.merchant_code, row.warehouse_code))


# Stock age.


@dataclass(frozen=True)
class StockAgeParams:
    as_of: dt.datetime | None = None
    warehouse_id: int | None = None
    category_id: int | None = None
    bucket_days: tuple[int, ...] = (30, 60, 90)


@dataclass(frozen=True)
class StockAgeRow:
    sku_id: int
    merchant_code: str
    warehouse_id: int
    warehouse_code: str
    on_hand: int
    value: Decimal
    oldest_inbound_at: dt.datetime
    oldest_age_days: int
    average_age_days: Decimal
    bucket_quantities: tuple[int, ...]  # units aged ≤ bucket_days[0], …, > bucket_days[-1]


def fifo_layers(movements: Iterable[tuple[dt.datetime, int]]) -> list[list[Any]]:
    """[[received_at, units], …] still on hand after `movements` ((time, on-hand delta), in order)."""
    layers: list[list[Any]] = []
    for created_at, delta in movements:
        if delta > 0:
            layers.append([created_at, delta])
            continue
        remaining = -delta
        while remaining and layers:
            taken = min(remaining, layers[0][1])
            layers[0][1] -= taken
            remaining -= taken
            if not layers[0][1]:
                layers.pop(0)
    return layers


def _bucket_of(age_days: int, bucket_days: tuple[int, ...]) -> int:
    for position, limit in enumerate(bucket_days):
        if age_days <= limit:
            return position
    return len(bucket_days)


def _check_buckets(bucket_days: tuple[int, ...]) -> None:
    ordered = list(bucket_days)
    if not ordered or ordered != sorted(set(ordered)) or ordered[0] < 1 or ordered[-1] > MAX_DAYS:
        raise InvalidInput("账龄分段须为递增的正整数天数", fields={"bucket_days": "须递增且为正"})


def _age_row(
    key: tuple[int, int], layers: list[list[Any]], as_of: dt.datetime, params: StockAgeParams, facts: Any
) -> StockAgeRow:
    sku_id, warehouse_id = key
    sku_facts, warehouse_code = facts
    on_hand = sum(units for _at, units in layers)
    buckets = [0] * (len(params.bucket_days) + 1)
    weighted = 0
    for received_at, units in layers:
        age = (as_of - received_at).days
        buckets[_bucket_of(age, params.bucket_days)] += units
        weighted += age * units
    return StockAgeRow(
        sku_id=sku_id,
        merchant_code=sku_facts.merchant_code,
        warehouse_id=warehouse_id,
        warehouse_code=warehouse_code,
        on_hand=on_hand,
        value=_money(on_hand * sku_facts.cost_price),
        oldest_inbound_at=layers[0][0],
        oldest_age_days=(as_of - layers[0][0]).days,
        average_age_days=(Decimal(weighted) / on_hand).quantize(Decimal("0.1")),
        bucket_quantities=tuple(buckets),
    )


def stock_age(params: StockAgeParams, *, user: Any) -> list[StockAgeRow]:
    """How long the stock at `as_of` has been in (FIFO over the ledger); oldest first."""
    _check_buckets(params.bucket_days)
    as_of = _now_or(params.as_of)
    movements = (
        _scoped_movements(user, params.warehouse_id, params.category_id)
        .filter(created_at__lte=as_of)
        .exclude(on_hand_delta=0)
        .order_by("sku_id", "warehouse_id", "created_at", "id")
        .values_list("sku_id", "warehouse_id", "created_at", "on_hand_delta")
    )
    by_position: dict[tuple[int, int], list[tuple[dt.datetime, int]]] = {}
    for sku_id, warehouse_id, created_at, delta in movements.iterator(chunk_size=5000):
        by_position.setdefault((sku_id, warehouse_id), []).append((created_at, delta))
    layers = {key: fifo_layers(rows) for key, rows in by_position.items()}
    layers = {key: remaining for key, remaining in layers.items() if remaining}
    facts = _sku_facts(key[0] for key in layers)
    warehouses = _warehouse_codes(key[1] for key in layers)
    rows = [
        _age_row(key, remaining, as_of, params, (facts[key[0]], warehouses[key[1]][0]))
        for key, remaining in layers.items()
    ]
    return sorted(rows, key=lambda row: (row.oldest_inbound_at, row.merchant_code, row.warehouse_code))


# Turnover.


@dataclass(frozen=True)
class TurnoverParams:
    start: dt.datetime
    end: dt.datetime
    group_by: TurnoverGroupBy = "warehouse"
    warehouse_id: int | None = None
    category_id: int | None = None


@dataclass(frozen=True)
class TurnoverRow:
    warehouse_id: int | None
    warehouse_code: str
    category_id: int | None
    category_path: str
    units_sold: int
    cogs: Decimal
    opening_value: Decimal
    closing_value: Decimal
    average_value: Decimal
    turnover: Decimal | None
    days_of_inventory: Decimal | None


def _check_period(params: TurnoverParams) -> None:
    for name in ("start", "end"):
        if timezone.is_naive(getattr(params, name)):
            raise InvalidInput("时间须带时区", fields={name: "须为带时区的时间"})
    if params.end <= params.start:
        raise InvalidInput("结束时间须晚于开始时间", fields={"end": "须晚于开始时间"})


def _turnover_row(
    key: tuple[int | None, int | None], total: list[Any], labels: Any, days: Decimal
) -> TurnoverRow:
    warehouses, paths = labels
    units_sold, cogs, opening, closing = total
    average = (opening + closing) / 2
    turnover = (cogs / average).quantize(CENT) if average else None
    return TurnoverRow(
        warehouse_id=key[0],
        warehouse_code=warehouses[key[0]][0] if key[0] is not None else "",
        category_id=key[1],
        category_path=paths.get(key[1], "") if key[1] is not None else "",
        units_sold=units_sold,
        cogs=_money(cogs),
        opening_value=_money(opening),
        closing_value=_money(closing),
        average_value=_money(average),
        turnover=turnover,
        days_of_inventory=(days * average / cogs).quantize(Decimal("0.1")) if cogs else None,
    )


def turnover(params: TurnoverParams, *, user: Any) -> list[TurnoverRow]:
    """COGS, average inventory value and turnover over [start, end), per warehouse, category or total."""
    _check_period(params)
    positions = list(
        _scoped_movements(user, params.warehouse_id, params.category_id)
        .filter(created_at__lt=params.end)
        .values("sku_id", "warehouse_id")
        .annotate(
            opening=Sum("on_hand_delta", filter=Q(created_at__lt=params.start), default=0),
            closing=Sum("on_hand_delta", default=0),
            sold=Sum(
                "on_hand_delta",
                filter=Q(created_at__gte=params.start, movement_type=MovementType.SALE_OUT),
                default=0,
            ),
        )
        .values_list("sku_id", "warehouse_id", "opening", "closing", "sold")
    )
    facts = _sku_facts(position[0] for position in positions)
    warehouses = _warehouse_codes(position[1] for position in positions)
    totals: dict[tuple[int | None, int | None], list[Any]] = {}
    if params.group_by == "total":  # the total is one row even when nothing moved
        totals[(None, None)] = [0, Decimal(0), Decimal(0), Decimal(0)]
    for sku_id, warehouse_id, opening, closing, sold in positions:
        cost = facts[sku_id].cost_price
        key = (
            warehouse_id if params.group_by == "warehouse" else None,
            facts[sku_id].category_id if params.group_by == "category" else None,
        )
        total = totals.setdefault(key, [0, Decimal(0), Decimal(0), Decimal(0)])
        total[0] += -sold
        total[1] += -sold * cost
        total[2] += opening * cost
        total[3] += closing * cost
    paths = {row.category_id: row.category_path for row in facts.values()}
    days = Decimal((params.end - params.start).total_seconds()) / ONE_DAY
    rows = [_turnover_row(key, total, (warehouses, paths), days) for key, total in totals.items()]
    return sorted(rows, key=lambda row: (row.warehouse_code, row.category_path))


# Export.


def _cell(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")
    return value


HEADERS: dict[type, dict[str, str]] = {
    StockOnHandRow: {
        "warehouse_code": "仓库",
        "category_path": "类目",
        "sku_count": "SKU数",
        "on_hand": "在库",
        "reserved": "预占",
        "available": "可用",
        "in_transit": "在途",
        "value": "库存金额(成本)",
    },
    SlowMoverRow: {
        "merchant_code": "商家编码",
        "product_name": "商品",
        "warehouse_code": "仓库",
        "on_hand": "在库",
        "value": "库存金额(成本)",
        "last_sale_at": "最近销售时间",
        "days_since_last_sale": "未销售天数",
    },
    StockAgeRow: {
        "merchant_code": "商家编码",
        "warehouse_code": "仓库",
        "on_hand": "在库",
        "value": "库存金额(成本)",
        "oldest_inbound_at": "最早入库时间",
        "oldest_age_days": "最长库龄(天)",
        "average_age_days": "平均库龄(天)",
    },
    TurnoverRow: {
        "warehouse_code": "仓库",
        "category_path": "类目",
        "units_sold": "销售出库数量",
        "cogs": "销售成本",
        "opening_value": "期初库存金额",
        "closing_value": "期末库存金额",
        "average_value": "平均库存金额",
        "turnover": "周转次数",
        "days_of_inventory": "周转天数",
    },
}


def _age_bucket_headers(bucket_days: Sequence[int]) -> list[str]:
    lower = [0, *[limit + 1 for limit in bucket_days]]
    return [f"{start}-{end}天" for start, end in zip(lower, bucket_days, strict=False)] + [
        f">{bucket_days[-1]}天"
    ]


def table_of(
    rows: Sequence[Any], row_type: type, *, bucket_days: Sequence[int] = ()
) -> tuple[list[str], list[list[Any]]]:
    """Headers and cells for a spreadsheet: the report's columns in Chinese, datetimes in Asia/Shanghai."""
    names = list(HEADERS[row_type])
    headers = [HEADERS[row_type][name] for name in names]
    if row_type is StockAgeRow:
        headers += _age_bucket_headers(bucket_days)
    cells = []
    for row in rows:
        values = asdict(row)
        line = [_cell(values[name]) for name in names]
        if row_type is StockAgeRow:
            line += list(row.bucket_quantities)
        cells.append(line)
    return headers, cells


REPORTS: dict[str, tuple[Callable[..., list[Any]], type, str]] = {
    "stock-on-hand": (stock_on_hand, StockOnHandRow, "库存金额"),
    "slow-movers": (slow_movers, SlowMoverRow, "滞销商品"),
    "stock-age": (stock_age, StockAgeRow, "库龄"),
    "turnover": (turnover, TurnoverRow, "库存周转"),
}


def write_xlsx(name: str, params: Any, *, user: Any, destination: IO[bytes]) -> int:
    """Run report `name` (a key of REPORTS) and write it as XLSX; returns the number of rows."""
    run, row_type, title = REPORTS[name]
    rows = run(params, user=user)
    headers, cells = table_of(rows, row_type, bucket_days=getattr(params, "bucket_days", ()))
    return write_table(destination, headers=headers, rows=cells, file_format="xlsx", sheet_name=title)
