"""Catalog jobs: apply scheduled price changes every minute."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from shopops.catalog import services as catalog_services
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
