"""Catalog jobs: apply scheduled price changes every minute; run product imports queued from the admin."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from shopops.catalog import imports as catalog_imports
from shopops.catalog import services as catalog_services
from shopops.core import jobs as core_jobs
from shopops.core.context import origin

logger = logging.getLogger(__name__)


@db_periodic_task(crontab(minute="*"))
def apply_scheduled_prices() -> None:
    """Start and end due scheduled prices; the service is idempotent, so overlapping runs are harmless."""
    with origin("job"):
        summary = catalog_services.apply_due_price_changes()
    if summary.started or summary.finished or summary.skipped:
        logger.info(
            "scheduled prices: %d started, %d finished, %d skipped",
            len(summary.started),
            len(summary.finished),
            len(summary.skipped),
        )


@db_task()
def run_product_import(job_id: int) -> None:
    """Run a queued product import job (enqueued on commit by the admin); a job runs at most once."""
    with origin("job"):
        core_jobs.run_import_job(job_id=job_id, importer=catalog_imports.import_products)
