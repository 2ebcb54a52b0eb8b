import multiprocessing
import time
from collections import Counter

import pytest
from django.db import connection

from shopops.inventory.models import StockLevel
from shopops.inventory.queries import verify_stock
from shopops.inventory.tests.factories import create_sku, create_warehouse
from shopops.purchasing.models import PurchaseOrder, PurchaseOrderStatus
from shopops.purchasing.tests.concurrency_workers import receive_once, setup_worker
from shopops.purchasing.tests.factories import create_purchase_order, create_supplier

PROCESSES = 4
ROUNDS = 3

# The worker processes start at a wall-clock moment the test sets: they and the test keep the real clock.
pytestmark = [pytest.mark.xdist_group("purchasing_concurrency"), pytest.mark.real_clock]


@pytest.fixture(scope="module")
def worker_pool(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        database_name = connection.settings_dict["NAME"]
    context = multiprocessing.get_context("spawn")
    pool = context.Pool(PROCESSES, initializer=setup_worker, initargs=(database_name,))
    try:
        yield pool
    finally:
        pool.close()
        pool.join()


@pytest.mark.django_db(transaction=True)
def test_parallel_receipts_never_over_receive(worker_pool) -> None:
    for _round in range(ROUNDS):
        # given an approved order of 10 units and four processes each accepting 4 at the same moment
        warehouse, sku = create_warehouse(), create_sku()
        order = create_purchase_order(
            supplier=create_supplier(), warehouse=warehouse, lines=[(sku, 10, "5.00")], approved=True
        )
        line = order.lines.get()
        start_at = time.time() + 0.2
        tasks = [{"po_id": order.pk, "line_id": line.pk, "accepted": 4, "start_at": start_at}] * PROCESSES
        # when they run
        outcomes = Counter(worker_pool.map(receive_once, tasks))
        # then exactly two fit (8 ≤ 10), the rest are refused, and stock equals what was accepted
        assert outcomes == Counter({"ok": 2, "over_receipt": 2})
        line.refresh_from_db()
        assert line.accepted_quantity == 8
        assert StockLevel.objects.get(sku=sku, warehouse=warehouse).on_hand == 8
        assert PurchaseOrder.objects.get(pk=order.pk).status == PurchaseOrderStatus.PARTIALLY_RECEIVED
    assert verify_stock() == []
