"""After-sales jobs: every 15 minutes, one overdue-case alert per shop (raised or resolved)."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from shopops.aftersales import services as aftersales_services
from shopops.core.context import origin

logger = logging.getLogger(__name__)


@db_periodic_task(crontab(minute="*/15"))
def check_overdue_cases() -> None:
    """Raise / resolve the per-shop overdue alerts; de-duplicated, so overlapping runs are harmless."""
    with origin("job"):
        result = aftersales_services.check_overdue_cases()
    if result.raised or result.resolved:
        logger.info(
            "overdue after-sales alerts: %d raised, %d resolved, %d open",
            result.raised,
            result.resolved,
            result.open,
        )
