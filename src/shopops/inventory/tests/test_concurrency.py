import multiprocessing
import time

import pytest
from django.db import connection

from shopops.inventory import queries as inventory_queries
from shopops.inventory.models import Reservation, ReservationStatus, StockLevel
from shopops.inventory.tests.concurrency_workers import reserve_attempts, setup_worker
from shopops.inventory.tests.factories import create_bundle, create_sku, create_warehouse, stock

PROCESSES = 8
ATTEMPTS = 3
ROUNDS = 8

# One xdist worker runs both tests, so one pool of processes serves them (`--dist loadgroup`).
# The worker processes start at a wall-clock moment the test sets: they and the test keep the real clock.
pytestmark = [pytest.mark.xdist_group("inventory_concurrency"), pytest.mark.real_clock]


@pytest.fixture(scope="module")
def worker_pool(django_db_setup, django_db_blocker):
    """Eight OS processes (spawned, so each runs django.setup() itself) on the same test database,
    shared by the tests of this module because starting them is the slow part."""
    with django_db_blocker.unblock():
        database_name = connection.settings_dict["NAME"]
    context = multiprocessing.get_context("spawn")
    pool = context.Pool(PROCESSES, initializer=setup_worker, initargs=(database_name,))
    try:
        yield pool
    finally:
        pool.close()
        pool.join()


def run_round(pool, tasks):
    start_at = time.time() + 0.1
    results = pool.map(reserve_attempts, [{**task, "start_at": start_at} for task in tasks])
    return [row for rows in results for row in rows]


def level(sku, warehouse):
    found = StockLevel.objects.get(sku=sku, warehouse=warehouse)
    return found.on_hand, found.reserved, found.available


@pytest.mark.django_db(transaction=True)
def test_last_units_are_reserved_exactly_once_by_parallel_processes(worker_pool) -> None:
    for round_number in range(ROUNDS):
        # given 10 available units: 12 on hand less 2 safety stock in one warehouse (even rounds),
        # or 6 + 4 in two warehouses reserved by the best-warehouse rule (odd rounds)
        sku = create_sku()
        first, second = create_warehouse(), create_warehouse()
        best_warehouse = round_number % 2 == 1
        if best_warehouse:
            stock(sku=sku, warehouse=first, on_hand=6)
            stock(sku=sku, warehouse=second, on_hand=5, safety_stock=1)
        else:
            stock(sku=sku, warehouse=first, on_hand=12, safety_stock=2)
        tasks = [
            {
                "sku_id": sku.pk,
                "warehouse_id": None if best_warehouse else first.pk,
                "watch_sku_ids": [sku.pk],
                "references": [f"R{round_number}-{process}-{attempt}" for attempt in range(ATTEMPTS)],
            }
            for process in range(PROCESSES)
        ]
        # when 8 processes try 3 single-unit reservations each (24 attempts for 10 units)
        results = run_round(worker_pool, tasks)
        # then exactly 10 succeed, available never went below zero, and the ledger agrees
        succeeded = sorted(reference for reference, reserved, _lowest in results if reserved)
        assert len(succeeded) == 10
        assert min(lowest for _reference, _reserved, lowest in results) == 0
        assert (
            sorted(
                Reservation.objects.filter(sku=sku, status=ReservationStatus.ACTIVE).values_list(
                    "reference", flat=True
                )
            )
            == succeeded
        )
        if best_warehouse:
            assert (level(sku, first), level(sku, second)) == ((6, 6, 0), (5, 4, 0))
        else:
            assert level(sku, first) == (12, 10, 0)
        assert inventory_queries.verify_stock() == []


@pytest.mark.django_db(transaction=True)
def test_a_bundle_and_a_single_sku_sharing_a_component_never_oversell_it(worker_pool) -> None:
    for round_number in range(ROUNDS):
        # given 10 cups and 10 saucers; a set is 2 cups + 1 saucer
        cup, saucer, warehouse = create_sku(), create_sku(), create_warehouse()
        stock(sku=cup, warehouse=warehouse, on_hand=10)
        stock(sku=saucer, warehouse=warehouse, on_hand=10)
        bundle = create_bundle(components={cup: 2, saucer: 1})
        tasks = [
            {
                "sku_id": bundle.pk if process % 2 else cup.pk,
                "watch_sku_ids": [cup.pk, saucer.pk],
                "references": [f"B{round_number}-{process}-{attempt}" for attempt in range(ATTEMPTS)],
            }
            for process in range(PROCESSES)
        ]
        # when 4 processes reserve single cups and 4 reserve sets, 3 attempts each
        results = run_round(worker_pool, tasks)
        # then the cups reserved are exactly singles + 2 × sets, within the 10, and the refusals were right
        singles = sum(
            1 for reference, reserved, _ in results if reserved and int(reference.split("-")[1]) % 2 == 0
        )
        sets = sum(
            1 for reference, reserved, _ in results if reserved and int(reference.split("-")[1]) % 2 == 1
        )
        refused_single = any(not reserved and int(ref.split("-")[1]) % 2 == 0 for ref, reserved, _ in results)
        refused_set = any(not reserved and int(ref.split("-")[1]) % 2 == 1 for ref, reserved, _ in results)
        cups_left = 10 - singles - 2 * sets
        assert cups_left >= 0
        assert min(lowest for _reference, _reserved, lowest in results) >= 0
        assert level(cup, warehouse) == (10, singles + 2 * sets, cups_left)
        assert level(saucer, warehouse) == (10, sets, 10 - sets)
        assert not refused_single or cups_left == 0
        assert not refused_set or cups_left < 2
        assert cups_left < 2  # 36 cups were asked for: the supply ran out
        held = Reservation.objects.filter(status=ReservationStatus.ACTIVE)
        assert held.filter(sku=cup).count() == singles + sets
        assert held.filter(sku=saucer, requested_sku=bundle).count() == sets
        assert inventory_queries.verify_stock() == []
