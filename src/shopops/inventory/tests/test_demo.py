import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.db.models import Count, F, Q, Sum
from django.test import override_settings
from django.utils import timezone

from shopops.core.models import Alert
from shopops.inventory import services
from shopops.inventory.models import (
    BundleComponent,
    MovementType,
    Reservation,
    ReservationStatus,
    StockLevel,
    StockMovement,
    Stocktake,
    StocktakeStatus,
    StockThreshold,
    Transfer,
    TransferStatus,
    Warehouse,
    WarehouseKind,
)
from shopops.inventory.queries import verify_stock

# one xdist worker loads the demo once for every test of the module
pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("demo_inventory")]
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
# The demo is made relative to now: it is loaded at a year end in Shanghai, while UTC is still in the old year.
CLOCKS = [dt.datetime(2026, 12, 31, 23, 30, tzinfo=SHANGHAI)]


def run_demo(*options: str) -> str:
    out = StringIO()
    call_command("demo", *options, stdout=out)
    return out.getvalue()


@pytest.fixture(scope="module")
def demo(
    module_clock: dt.datetime, module_db: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    var = tmp_path_factory.mktemp("var")
    with override_settings(VAR_DIR=var, ANALYTICS_DIR=var / "analytics", ANALYTICS_DEMO=False):
        yield run_demo("--seed", "42", "--days", "30")


def stock_fingerprint() -> tuple[list[tuple], list[tuple]]:
    """Levels and the ledger (in posting order) by merchant code and warehouse code, to compare runs."""
    levels = sorted(
        StockLevel.objects.values_list(
            "sku__merchant_code", "warehouse__code", "on_hand", "reserved", "safety_stock", "in_transit"
        )
    )
    ledger = list(
        StockMovement.objects.order_by("id").values_list(
            "sku__merchant_code", "warehouse__code", "movement_type", "on_hand_delta", "on_hand_after"
        )
    )
    return levels, ledger


def test_demo_makes_an_own_a_third_party_and_a_store_warehouse(demo: str) -> None:
    # given the demo
    # when its warehouses are read
    warehouses = dict(Warehouse.objects.values_list("name", "kind"))
    # then there is the own 杭州仓, the 3PL 广州仓, a store, and the after-sales demo's 残次品仓 for B-grade returns
    assert warehouses == {
        "杭州仓": WarehouseKind.OWN,
        "广州仓": WarehouseKind.THIRD_PARTY,
        "上海静安门店": WarehouseKind.STORE,
        "杭州残次品仓": WarehouseKind.DEFECTIVE,
    }
    assert "warehouses 3" in demo


def test_demo_stock_equals_its_ledger_and_every_row_chains(demo: str) -> None:
    # given the demo stock
    # when every level's rows are walked in posting order
    running: dict[tuple[int, int], tuple[int, int]] = defaultdict(lambda: (0, 0))
    broken = []
    for movement in StockMovement.objects.order_by("id"):
        key = (movement.sku_id, movement.warehouse_id)
        on_hand, reserved = running[key]
        on_hand, reserved = on_hand + movement.on_hand_delta, reserved + movement.reserved_delta
        if (on_hand, reserved) != (movement.on_hand_after, movement.reserved_after) or on_hand < 0:
            broken.append(movement.pk)
        running[key] = (on_hand, reserved)
    levels = {
        (sku_id, warehouse_id): (on_hand, reserved)
        for sku_id, warehouse_id, on_hand, reserved in StockLevel.objects.values_list(
            "sku_id", "warehouse_id", "on_hand", "reserved"
        )
    }
    # then each row's level-after follows from the one before, the levels end there, and verify agrees
    assert broken == []
    assert dict(running.items()) == {key: value for key, value in levels.items() if key in running}
    assert all(value == (0, 0) for key, value in levels.items() if key not in running)
    assert verify_stock() == []


def test_demo_sales_cover_the_whole_period_with_fast_and_slow_movers(demo: str) -> None:
    # given the demo rebuilt with its default 90 days of sales
    run_demo("--seed", "42", "--reset")
    now = timezone.now()
    sales = StockMovement.objects.filter(movement_type=MovementType.SALE_OUT)
    # when the sales are split into three 30-day windows and per SKU
    windows = [
        sales.filter(created_at__gte=now - dt.timedelta(days=30 * (index + 1)))
        .filter(created_at__lt=now - dt.timedelta(days=30 * index))
        .count()
        for index in range(3)
    ]
    recent = set(
        sales.filter(created_at__gte=now - dt.timedelta(days=30)).values_list("sku_id", flat=True).distinct()
    )
    stocked = set(StockLevel.objects.filter(on_hand__gt=0).values_list("sku_id", flat=True))
    best = sales.values("sku_id").annotate(units=Sum("on_hand_delta")).order_by("units", "sku_id").first()
    # then every window has sales, some stocked SKUs have not sold for 30 days, and a best seller has cover
    assert all(count > 1000 for count in windows)
    assert sales.filter(created_at__lt=now - dt.timedelta(days=90)).count() == 0
    assert len(stocked - recent) >= 50
    assert best is not None
    assert best["units"] <= -100
    assert services.days_of_cover(sku_id=best["sku_id"]) is not None


def test_demo_has_safety_stock_bundles_a_transfer_in_transit_and_a_posted_stocktake(demo: str) -> None:
    # given the demo stock
    # when its documents are read
    in_transit = Transfer.objects.get(status=TransferStatus.SHIPPED)
    transit_lines = dict(in_transit.lines.values_list("sku_id", "shipped_quantity"))
    transit_levels = dict(
        StockLevel.objects.filter(warehouse=in_transit.destination, in_transit__gt=0).values_list(
            "sku_id", "in_transit"
        )
    )
    stocktake = Stocktake.objects.get()
    variances = [line.variance for line in stocktake.lines.all()]
    posted = dict(
        StockMovement.objects.filter(reference_type="stocktake", reference_id=str(stocktake.pk))
        .values("sku_id")
        .annotate(total=Sum("on_hand_delta"))
        .values_list("sku_id", "total")
    )
    # then each piece is there and consistent with the ledger
    assert StockLevel.objects.filter(safety_stock__gt=0).count() >= 20
    assert BundleComponent.objects.values("bundle_sku").distinct().count() == 3
    assert StockLevel.objects.filter(sku__in=BundleComponent.objects.values("bundle_sku")).count() == 0
    assert transit_lines == transit_levels
    assert Transfer.objects.filter(status=TransferStatus.RECEIVED).count() == 1
    assert stocktake.status == StocktakeStatus.POSTED
    assert posted == {line.sku_id: line.variance for line in stocktake.lines.all() if line.variance}
    assert any(variance and variance > 0 for variance in variances)
    assert any(variance and variance < 0 for variance in variances)


def test_demo_holds_active_reservations_and_raises_stock_alerts(demo: str) -> None:
    # given the demo stock
    # when reservations, thresholds and alerts are read
    held = (
        Reservation.objects.filter(status=ReservationStatus.ACTIVE)
        .values("sku_id", "warehouse_id")
        .annotate(total=Sum("quantity"))
    )
    reserved = {(row["sku_id"], row["warehouse_id"]): row["total"] for row in held}
    levels = {
        (sku_id, warehouse_id): value
        for sku_id, warehouse_id, value in StockLevel.objects.filter(reserved__gt=0).values_list(
            "sku_id", "warehouse_id", "reserved"
        )
    }
    alerts = dict(
        Alert.objects.filter(status="open").values("kind").annotate(n=Count("id")).values_list("kind", "n")
    )
    # then orders hold stock (a bundle among them) and both kinds of alerts are open
    assert (
        Reservation.objects.filter(status=ReservationStatus.ACTIVE).values("reference").distinct().count()
        >= 2
    )
    assert Reservation.objects.exclude(requested_sku=F("sku")).exists()
    assert reserved == levels
    assert (
        StockThreshold.objects.filter(Q(low_stock_quantity__gt=0) | Q(overstock_quantity__gt=0)).count() >= 20
    )
    assert alerts.get("inventory.low_stock", 0) >= 1
    assert alerts.get("inventory.overstock", 0) >= 1


def test_demo_stock_is_reproducible_for_a_seed_and_added_only_once(
    demo: str, module_clock: dt.datetime
) -> None:
    # given the demo rebuilt with seed 7 (each run starts at the same instant: the demo follows the date)
    with time_machine.travel(module_clock, tick=True):
        run_demo("--seed", "7", "--days", "7", "--reset")
    first = stock_fingerprint()
    # when it runs again, is rebuilt with the same seed, then with another
    again = run_demo("--seed", "7", "--days", "7")
    unchanged = stock_fingerprint()
    with time_machine.travel(module_clock, tick=True):
        run_demo("--seed", "7", "--days", "7", "--reset")
    second = stock_fingerprint()
    with time_machine.travel(module_clock, tick=True):
        run_demo("--seed", "8", "--days", "7", "--reset")
    third = stock_fingerprint()
    # then a second run adds nothing, the same seed gives the same stock and ledger, another seed differs
    assert "no demo data added" in again
    assert unchanged == first
    assert second == first
    assert third != first
    assert verify_stock() == []
