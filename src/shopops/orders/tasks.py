"""Order jobs: close unpaid orders past their deadline every minute; retry short reservations every 10 minutes."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from shopops.core.context import origin
from shopops.orders import services

logger = logging.getLogger(__name__)


@db_periodic_task(crontab(minute="*"))
def close_unpaid_orders() -> None:
    """Cancel pending orders past their pay deadline; idempotent, so overlapping runs are harmless."""
    with origin("job"):
        closed = services.close_unpaid_orders()
    if closed:
        logger.info("unpaid orders closed: %d", closed)


@db_periodic_task(crontab(minute="*/10"))
def retry_out_of_stock_orders() -> None:
    """Try again to reserve stock for orders marked short (out_of_stock); safe to overlap."""
    with origin("job"):
        fixed = services.retry_short_orders()
    if fixed:
        logger.info("short orders now reserved: %d", fixed)


@db_task()
def sync_order_stock(order_id: int) -> None:
    """Bring one order's stock effects in line with its status (enqueue on commit); idempotent."""
    with origin("job"):
        services.sync_order_stock(actor=None, order_id=order_id)


@db_task()
def review_orders(order_ids: list[int]) -> None:
    """Re-run the review rules over these orders (e.g. after a bulk change); idempotent."""
    with origin("job"):
        services.review_orders(order_ids=order_ids)


@db_task()
def run_order_import(job_id: int) -> None:
    """Run a queued order import job (enqueued on commit by the admin or the API); runs at most once.
    The job's options name the shop and the platform format ("" = detect from the header)."""
    import functools  # here, not at the top: one additive block for the order import jobs

    from shopops.core import jobs as core_jobs
    from shopops.core.models import ImportJob
    from shopops.orders.imports import import_orders

    options = ImportJob.objects.filter(pk=job_id).values_list("options", flat=True).first() or {}
    importer = functools.partial(
        import_orders, shop=options.get("shop", 0), format=options.get("format") or None
    )
    with origin("job"):
        core_jobs.run_import_job(job_id=job_id, importer=importer)
