import threading

import pytest
from django.db import connection, connections

from shopops.core.errors import DomainError
from shopops.loyalty import services
from shopops.loyalty.models import MemberAccount, PointsEntry
from shopops.loyalty.queries import verify_points
from shopops.loyalty.tests import factories

pytestmark = [pytest.mark.real_clock]
THREADS = 6
ROUNDS = 5


def spend_in_parallel(customer_id: int, points: int) -> list[bool]:
    barrier = threading.Barrier(THREADS)
    results: list[bool] = []
    lock = threading.Lock()

    def spend() -> None:
        try:
            barrier.wait()
            try:
                services.spend_points(customer_id=customer_id, points=points, actor=None, reason="并发消费")
                outcome = True
            except DomainError:
                outcome = False
            with lock:
                results.append(outcome)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=spend) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.django_db(transaction=True)
def test_parallel_spends_never_overdraw_the_balance() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row locks under real concurrency: PostgreSQL (SQLite serialises writers)")
    factories.create_levels()
    factories.set_program(rate="1")
    for _round in range(ROUNDS):
        # given 100 points
        customer = factories.create_customer()
        factories.create_order(customer=customer, paid="100.00")
        services.sync_orders(full=True)

        # when six spends of 40 race
        results = spend_in_parallel(customer.pk, 40)

        # then exactly two succeed, the balance is 20, and the ledger agrees
        assert sorted(results) == [False] * 4 + [True] * 2
        assert MemberAccount.objects.get(customer=customer).balance == 20
        assert PointsEntry.objects.filter(account__customer=customer, kind="spend").count() == 2
    assert verify_points() == []
