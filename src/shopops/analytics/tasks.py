"""Analytics jobs: the pipeline (compact → facts → rollups) every minute; overlapping runs skip."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from shopops.analytics import pipeline
from shopops.core.context import origin

logger = logging.getLogger(__name__)


@db_periodic_task(crontab(minute="*"))
def run_analytics_pipeline() -> None:
    """New events and changed orders reach the rollups; a run already going elsewhere wins."""
    with origin("job"):
        result = pipeline.run_once(wait=False)
    if not result.get("skipped") and result.get("refreshed_days"):
        logger.info("analytics refreshed %d days", result["refreshed_days"])


# the daily and weekly report emails live with the reports; importing them here registers them with Huey
from shopops.analytics.reports import tasks as _report_tasks  # noqa: E402, F401
