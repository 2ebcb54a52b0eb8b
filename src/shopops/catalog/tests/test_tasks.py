import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connection
from huey.contrib.djhuey import HUEY

from shopops.catalog import services
from shopops.catalog.models import PriceHistory, ScheduledPriceChange, Sku
from shopops.catalog.tasks import apply_scheduled_prices
from shopops.catalog.tests import factories
from shopops.core.models import AuditEntry

T0 = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize("minute", [0, 1, 17, 59])
def test_the_job_is_due_every_minute(minute: int) -> None:
    # given
    timestamp = dt.datetime(2026, 6, 1, 10, minute)
    # when
    due = HUEY.read_periodic(timestamp)
    # then
    assert [task for task in due if isinstance(task, apply_scheduled_prices.task_class)] != []


@pytest.mark.django_db
def test_the_job_applies_due_schedules_as_a_job(admin_user) -> None:
    # given
    sku = factories.create_sku(sale_price="100", cost_price="60")
    hour = dt.timedelta(hours=1)
    schedule = services.schedule_price_change(
        sku_id=sku.pk, new_price="88", starts_at=T0 - hour, actor=admin_user
    )
    # when
    apply_scheduled_prices.call_local()
    apply_scheduled_prices.call_local()
    # then
    assert Sku.objects.get(pk=sku.pk).sale_price == Decimal("88.00")
    assert ScheduledPriceChange.objects.get(pk=schedule.pk).status == "active"
    assert list(PriceHistory.objects.values_list("source", "actor_id")) == [("schedule", None)]
    entry = AuditEntry.objects.get(action="scheduled_price.started")
    assert (entry.source, entry.actor_name) == ("job", "system")


def _run_in_threads(target, count: int) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def run() -> None:
        try:
            barrier.wait()
            target()
        except BaseException as error:  # collected and asserted by the test
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.mark.django_db(transaction=True)
def test_concurrent_job_runs_apply_each_schedule_once() -> None:
    # given
    skus = [factories.create_sku(sale_price="100", cost_price="10") for _ in range(6)]
    for sku in skus:
        services.schedule_price_change(sku_id=sku.pk, new_price="90", starts_at=T0, actor=None)
    summaries: list[services.AppliedSummary] = []
    # when
    errors = _run_in_threads(lambda: summaries.append(services.apply_due_price_changes(now=T0)), 4)
    # then
    assert errors == []
    started = sorted(pk for summary in summaries for pk in summary.started)
    assert started == sorted(ScheduledPriceChange.objects.values_list("pk", flat=True))
    assert PriceHistory.objects.count() == 6
    assert set(Sku.objects.values_list("sale_price", flat=True)) == {Decimal("90.00")}
