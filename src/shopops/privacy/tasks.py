"""Privacy jobs: every night, anonymise the customers whose data is past the retention period."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from shopops.core.context import origin
from shopops.privacy import services

logger = logging.getLogger(__name__)


@db_periodic_task(crontab(hour="3", minute="40"))
def apply_retention() -> None:
    """Idempotent: a customer once anonymised is not a candidate again."""
    with origin("job"):
        result = services.apply_retention(actor="job:privacy-retention")
    if result.due:
        logger.info(
            "retention: %d due, %d anonymised, %d skipped (open business)",
            result.due,
            result.anonymised,
            result.skipped,
        )
