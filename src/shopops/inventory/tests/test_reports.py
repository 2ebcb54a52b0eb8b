import datetime as dt
import io
import random
from collections import deque
from decimal import Decimal

import openpyxl
import pytest
from django.db.models import F

from shopops.catalog.models import Category, Product, Sku
from shopops.core.errors import InvalidInput
from shopops.inventory import reports
from shopops.inventory import services as inventory_services
from shopops.inventory.models import MovementType, StockLevel, StockMovement
from shopops.inventory.tests.factories import create_warehouse

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
INBOUND = [
    MovementType.PURCHASE_IN,
    MovementType.RETURN_IN,
    MovementType.TRANSFER_IN,
    MovementType.COUNT_GAIN,
]
OUTBOUND = [MovementType.SALE_OUT, MovementType.SALE_OUT, MovementType.DAMAGE, MovementType.TRANSFER_OUT]


def make_sku(code: str, *, cost: str, category: Category) -> Sku:
    product = Product.objects.create(name=f"商品{code}", merchant_code=f"P-{code}", category=category)
    return Sku.objects.create(
        product=product, merchant_code=code, cost_price=Decimal(cost), sale_price=Decimal("99")
    )


def category(name: str, code: str) -> Category:
    return Category.objects.create(name=name, code=code, path=name)


def post(sku: Sku, warehouse, movement_type: str, delta: int, *, day: float) -> StockMovement:
    """A ledger row at T0 + `day` days, its level kept equal to the ledger sum (the time is the edge we set)."""
    level, _created = StockLevel.objects.get_or_create(sku=sku, warehouse=warehouse)
    StockLevel.objects.filter(pk=level.pk).update(on_hand=F("on_hand") + delta)
    level.refresh_from_db()
    return StockMovement.objects.create(
        sku=sku,
        warehouse=warehouse,
        movement_type=movement_type,
        on_hand_delta=delta,
        on_hand_after=level.on_hand,
        reserved_after=level.reserved,
        created_at=T0 + dt.timedelta(days=day),
    )


def at(day: float) -> dt.datetime:
    return T0 + dt.timedelta(days=day)


def random_ledger(seed: int):
    """Three SKUs in two categories and two warehouses, 120 days of random movements (never negative)."""
    rng = random.Random(seed)
    tops, cups = category("上衣", "TOP"), category("杯子", "CUP")
    skus = [
        make_sku("TEE", cost="12.50", category=tops),
        make_sku("SHIRT", cost="30.00", category=tops),
        make_sku("MUG", cost="7.35", category=cups),
    ]
    warehouses = [create_warehouse(code="HZ"), create_warehouse(code="SH")]
    on_hand = {(sku.pk, warehouse.pk): 0 for sku in skus for warehouse in warehouses}
    day = 0.0
    for _step in range(160):
        day += rng.uniform(0.1, 1.2)
        sku, warehouse = rng.choice(skus), rng.choice(warehouses)
        key = (sku.pk, warehouse.pk)
        if on_hand[key] and rng.random() < 0.6:
            delta = -rng.randint(1, on_hand[key])
            movement_type = rng.choice(OUTBOUND)
        else:
            delta = rng.randint(1, 20)
            movement_type = rng.choice(INBOUND)
        on_hand[key] += delta
        post(sku, warehouse, movement_type, delta, day=day)
    return skus, warehouses, day


def ledger_rows():
    return list(
        StockMovement.objects.order_by("created_at", "id").values_list(
            "sku_id", "warehouse_id", "movement_type", "on_hand_delta", "created_at"
        )
    )


def costs():
    return dict(Sku.objects.values_list("pk", "cost_price"))


# independent computations: plain Python over the ledger rows


def expected_slow_movers(
    days: int, as_of: dt.datetime
) -> dict[tuple[int, int], tuple[int, dt.datetime | None]]:
    on_hand: dict[tuple[int, int], int] = {}
    last_sale: dict[tuple[int, int], dt.datetime] = {}
    for sku_id, warehouse_id, movement_type, delta, created_at in ledger_rows():
        if created_at > as_of:
            continue
        key = (sku_id, warehouse_id)
        on_hand[key] = on_hand.get(key, 0) + delta
        if movement_type == MovementType.SALE_OUT:
            last_sale[key] = created_at
    since = as_of - dt.timedelta(days=days)
    return {
        key: (units, last_sale.get(key))
        for key, units in on_hand.items()
        if units > 0 and (key not in last_sale or last_sale[key] < since)
    }


def expected_unit_ages(as_of: dt.datetime) -> dict[tuple[int, int], list[int]]:
    """Every unit on hand as its own entry in a queue: in at the back, out from the front."""
    units: dict[tuple[int, int], deque[dt.datetime]] = {}
    for sku_id, warehouse_id, _type, delta, created_at in ledger_rows():
        if created_at > as_of:
            continue
        queue = units.setdefault((sku_id, warehouse_id), deque())
        if delta > 0:
            queue.extend([created_at] * delta)
        else:
            for _unit in range(-delta):
                queue.popleft()
    return {key: [(as_of - received).days for received in queue] for key, queue in units.items() if queue}


def expected_turnover(start: dt.datetime, end: dt.datetime) -> tuple[Decimal, Decimal, Decimal, int]:
    cost = costs()
    cogs = opening = closing = Decimal(0)
    sold = 0
    for sku_id, _warehouse_id, movement_type, delta, created_at in ledger_rows():
        if created_at < start:
            opening += delta * cost[sku_id]
        if created_at < end:
            closing += delta * cost[sku_id]
        if start <= created_at < end and movement_type == MovementType.SALE_OUT:
            sold -= delta
            cogs -= delta * cost[sku_id]
    return cogs, opening, closing, sold


# stock on hand


def test_stock_on_hand_by_warehouse_and_category_with_value_at_cost(admin_user):
    # given two categories in two warehouses
    tops, cups = category("上衣", "TOP"), category("杯子", "CUP")
    tee, mug = make_sku("TEE", cost="12.50", category=tops), make_sku("MUG", cost="7.35", category=cups)
    hangzhou, shanghai = create_warehouse(code="HZ"), create_warehouse(code="SH")
    post(tee, hangzhou, MovementType.OPENING, 10, day=0)
    post(mug, hangzhou, MovementType.OPENING, 3, day=0)
    post(mug, shanghai, MovementType.OPENING, 4, day=0)
    # when grouped by warehouse and category
    rows = reports.stock_on_hand(reports.StockOnHandParams(group_by="warehouse_category"), user=admin_user)
    by_warehouse = reports.stock_on_hand(reports.StockOnHandParams(), user=admin_user)
    by_category = reports.stock_on_hand(reports.StockOnHandParams(group_by="category"), user=admin_user)
    # then values are units × cost, exactly
    assert [(row.warehouse_code, row.category_path, row.on_hand, row.value) for row in rows] == [
        ("HZ", "上衣", 10, Decimal("125.00")),
        ("HZ", "杯子", 3, Decimal("22.05")),
        ("SH", "杯子", 4, Decimal("29.40")),
    ]
    assert [(row.warehouse_code, row.sku_count, row.value) for row in by_warehouse] == [
        ("HZ", 2, Decimal("147.05")),
        ("SH", 1, Decimal("29.40")),
    ]
    assert [(row.category_path, row.on_hand, row.value) for row in by_category] == [
        ("上衣", 10, Decimal("125.00")),
        ("杯子", 7, Decimal("51.45")),
    ]


def test_stock_on_hand_matches_the_levels_for_a_random_ledger(admin_user):
    # given a random ledger
    random_ledger(seed=7)
    cost = costs()
    # when the report is run per warehouse
    rows = reports.stock_on_hand(reports.StockOnHandParams(), user=admin_user)
    # then each warehouse's value is the sum over its levels of on hand × cost
    expected: dict[str, Decimal] = {}
    for code, sku_id, units in StockLevel.objects.values_list("warehouse__code", "sku_id", "on_hand"):
        if units:
            expected[code] = expected.get(code, Decimal(0)) + units * cost[sku_id]
    assert {row.warehouse_code: row.value for row in rows} == expected


def test_stock_on_hand_follows_the_warehouse_scope(make_user):
    # given stock in two warehouses and a user limited to one
    cups = category("杯子", "CUP")
    mug = make_sku("MUG", cost="7.35", category=cups)
    hangzhou, shanghai = create_warehouse(code="HZ"), create_warehouse(code="SH")
    post(mug, hangzhou, MovementType.OPENING, 3, day=0)
    post(mug, shanghai, MovementType.OPENING, 4, day=0)
    user = make_user("warehouse")
    inventory_services.set_warehouse_scope(user_id=user.pk, warehouse_ids=[shanghai.pk], actor=None)
    # when the user runs the report
    rows = reports.stock_on_hand(reports.StockOnHandParams(), user=user)
    # then only their warehouse
    assert [(row.warehouse_code, row.on_hand) for row in rows] == [("SH", 4)]


# slow movers


def test_slow_movers_exact(admin_user):
    # given a tee sold on day 10 and a mug never sold
    tops = category("上衣", "TOP")
    tee, mug = make_sku("TEE", cost="12.50", category=tops), make_sku("MUG", cost="7.00", category=tops)
    warehouse = create_warehouse(code="HZ")
    post(tee, warehouse, MovementType.PURCHASE_IN, 10, day=0)
    post(mug, warehouse, MovementType.PURCHASE_IN, 5, day=1)
    post(tee, warehouse, MovementType.SALE_OUT, -4, day=10)
    # when asked on day 45 for 30 and for 40 days
    slow_30 = reports.slow_movers(reports.SlowMoversParams(days=30, as_of=at(45)), user=admin_user)
    slow_40 = reports.slow_movers(reports.SlowMoversParams(days=40, as_of=at(45)), user=admin_user)
    # then
    assert [
        (row.merchant_code, row.on_hand, row.value, row.last_sale_at, row.days_since_last_sale)
        for row in slow_30
    ] == [
        ("TEE", 6, Decimal("75.00"), at(10), 35),
        ("MUG", 5, Decimal("35.00"), None, None),
    ]
    assert [row.merchant_code for row in slow_40] == ["MUG"]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(("days", "as_of_day"), [(7, 60), (14, 100), (30, 200)])
def test_slow_movers_match_an_independent_computation(admin_user, seed, days, as_of_day):
    # given a random ledger
    random_ledger(seed=seed)
    as_of = at(as_of_day)
    # when the report runs
    rows = reports.slow_movers(reports.SlowMoversParams(days=days, as_of=as_of), user=admin_user)
    # then it lists exactly the positions the plain computation finds
    assert {
        (row.sku_id, row.warehouse_id): (row.on_hand, row.last_sale_at) for row in rows
    } == expected_slow_movers(days, as_of)


def test_slow_movers_refuses_zero_days(admin_user):
    with pytest.raises(InvalidInput):
        reports.slow_movers(reports.SlowMoversParams(days=0), user=admin_user)


# stock age


def test_stock_age_consumes_the_oldest_inbound_first(admin_user):
    # given 10 in on day 0, 5 in on day 50, 12 out on day 60 (all of the first lot, 2 of the second)
    tops = category("上衣", "TOP")
    tee = make_sku("TEE", cost="10.00", category=tops)
    warehouse = create_warehouse(code="HZ")
    post(tee, warehouse, MovementType.PURCHASE_IN, 10, day=0)
    post(tee, warehouse, MovementType.PURCHASE_IN, 5, day=50)
    post(tee, warehouse, MovementType.SALE_OUT, -12, day=60)
    post(tee, warehouse, MovementType.RETURN_IN, 4, day=95)
    # when aged on day 100
    (row,) = reports.stock_age(reports.StockAgeParams(as_of=at(100)), user=admin_user)
    # then 3 units from day 50 (50 days old) and 4 from day 95 (5 days old)
    assert (row.on_hand, row.value, row.oldest_inbound_at, row.oldest_age_days) == (
        7,
        Decimal("70.00"),
        at(50),
        50,
    )
    assert row.bucket_quantities == (4, 3, 0, 0)
    assert row.average_age_days == Decimal("24.3")  # (3 × 50 + 4 × 5) / 7


@pytest.mark.parametrize("seed", [4, 5, 6])
@pytest.mark.parametrize("as_of_day", [40, 90, 400])
def test_stock_age_matches_a_unit_by_unit_queue(admin_user, seed, as_of_day):
    # given a random ledger
    random_ledger(seed=seed)
    as_of = at(as_of_day)
    # when the report runs
    rows = reports.stock_age(reports.StockAgeParams(as_of=as_of, bucket_days=(15, 45)), user=admin_user)
    # then every position's units and ages equal the unit-by-unit computation
    expected = expected_unit_ages(as_of)
    assert {(row.sku_id, row.warehouse_id) for row in rows} == set(expected)
    for row in rows:
        ages = expected[(row.sku_id, row.warehouse_id)]
        assert row.on_hand == len(ages)
        assert row.oldest_age_days == max(ages)
        assert row.average_age_days == (Decimal(sum(ages)) / len(ages)).quantize(Decimal("0.1"))
        assert row.bucket_quantities == (
            sum(1 for age in ages if age <= 15),
            sum(1 for age in ages if 15 < age <= 45),
            sum(1 for age in ages if age > 45),
        )


def test_stock_age_refuses_unordered_buckets(admin_user):
    with pytest.raises(InvalidInput):
        reports.stock_age(reports.StockAgeParams(bucket_days=(60, 30)), user=admin_user)


# turnover


def test_turnover_exact(admin_user):
    # given 100 units at 10.00 on day 0, 40 sold on day 10, 20 more received on day 20
    tops = category("上衣", "TOP")
    tee = make_sku("TEE", cost="10.00", category=tops)
    warehouse = create_warehouse(code="HZ")
    post(tee, warehouse, MovementType.PURCHASE_IN, 100, day=0)
    post(tee, warehouse, MovementType.SALE_OUT, -40, day=10)
    post(tee, warehouse, MovementType.PURCHASE_IN, 20, day=20)
    # when turnover over days 5 to 35 (30 days)
    (row,) = reports.turnover(reports.TurnoverParams(start=at(5), end=at(35)), user=admin_user)
    # then COGS 400, average (1000 + 800) / 2 = 900, turnover 0.44, 30 × 900 / 400 = 67.5 days
    assert (row.units_sold, row.cogs, row.opening_value, row.closing_value, row.average_value) == (
        40,
        Decimal("400.00"),
        Decimal("1000.00"),
        Decimal("800.00"),
        Decimal("900.00"),
    )
    assert (row.turnover, row.days_of_inventory) == (Decimal("0.44"), Decimal("67.5"))


def test_turnover_without_stock_or_sales_has_no_ratio(admin_user):
    # given stock received after the period
    tee = make_sku("TEE", cost="10.00", category=category("上衣", "TOP"))
    post(tee, create_warehouse(code="HZ"), MovementType.PURCHASE_IN, 5, day=50)
    # when the period is before it
    (row,) = reports.turnover(
        reports.TurnoverParams(start=at(0), end=at(10), group_by="total"), user=admin_user
    )
    # then no division by zero: the ratios are empty
    assert (row.cogs, row.average_value, row.turnover, row.days_of_inventory) == (
        Decimal("0.00"),
        Decimal("0.00"),
        None,
        None,
    )


@pytest.mark.parametrize("seed", [8, 9])
@pytest.mark.parametrize(("start_day", "end_day"), [(0, 30), (20, 80), (50, 51)])
def test_turnover_matches_an_independent_computation(admin_user, seed, start_day, end_day):
    # given a random ledger
    random_ledger(seed=seed)
    start, end = at(start_day), at(end_day)
    # when the total turnover is computed
    (row,) = reports.turnover(reports.TurnoverParams(start=start, end=end, group_by="total"), user=admin_user)
    by_warehouse = reports.turnover(reports.TurnoverParams(start=start, end=end), user=admin_user)
    by_category = reports.turnover(
        reports.TurnoverParams(start=start, end=end, group_by="category"), user=admin_user
    )
    # then it equals the plain computation, and the groups add up to the total
    cogs, opening, closing, sold = expected_turnover(start, end)
    average = (opening + closing) / 2
    assert (row.units_sold, row.cogs, row.opening_value, row.closing_value) == (
        sold,
        cogs.quantize(Decimal("0.01")),
        opening.quantize(Decimal("0.01")),
        closing.quantize(Decimal("0.01")),
    )
    assert row.turnover == ((cogs / average).quantize(Decimal("0.01")) if average else None)
    for grouped in (by_warehouse, by_category):
        assert sum(item.units_sold for item in grouped) == sold
        assert sum(item.cogs for item in grouped) == row.cogs


def test_turnover_refuses_an_empty_period(admin_user):
    with pytest.raises(InvalidInput):
        reports.turnover(reports.TurnoverParams(start=at(1), end=at(1)), user=admin_user)


# export


def test_stock_age_export_has_bucket_columns(admin_user):
    # given one aged position
    tee = make_sku("TEE", cost="10.00", category=category("上衣", "TOP"))
    post(tee, create_warehouse(code="HZ"), MovementType.PURCHASE_IN, 6, day=0)
    buffer = io.BytesIO()
    # when exported
    count = reports.write_xlsx(
        "stock-age", reports.StockAgeParams(as_of=at(70)), user=admin_user, destination=buffer
    )
    # then one row with the bucket columns named by their days
    rows = list(openpyxl.load_workbook(io.BytesIO(buffer.getvalue())).active.iter_rows(values_only=True))
    assert count == 1
    assert rows == [
        (
            "商家编码",
            "仓库",
            "在库",
            "库存金额(成本)",
            "最早入库时间",
            "最长库龄(天)",
            "平均库龄(天)",
            "0-30天",
            "31-60天",
            "61-90天",
            ">90天",
        ),
        ("TEE", "HZ", 6, 60, "2026-01-01 08:00:00", 70, 70, 0, 0, 6, 0),
    ]
