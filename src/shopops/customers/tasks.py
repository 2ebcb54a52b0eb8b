"""Customer jobs: every night at 03:20, merge suggestions from the day's new evidence; customer imports."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from shopops.core import jobs as core_jobs
from shopops.core.context import origin
from shopops.customers import imports as customer_imports
from shopops.customers import profiles

logger = logging.getLogger(__name__)


@db_periodic_task(crontab(hour="3", minute="20"))
def generate_merge_suggestions() -> None:
    """New and refreshed merge suggestions (a rejected pair is never suggested again)."""
    with origin("job"):
        counts = profiles.generate_suggestions(actor="job:merge_suggestions")
    if counts["created"] or counts["refreshed"]:
        logger.info("merge suggestions: %d new, %d refreshed", counts["created"], counts["refreshed"])


@db_task()
def run_customer_import(job_id: int) -> None:
    """Run a queued customer import job (enqueued on commit by the admin); a job runs at most once."""
    with origin("job"):
        core_jobs.run_import_job(job_id=job_id, importer=customer_imports.import_customers)
