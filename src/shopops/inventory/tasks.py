"""Inventory jobs: release expired reservations every minute; check stock thresholds every ten minutes."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from shopops.core.context import origin
from shopops.inventory import services as inventory_services

logger = logging.getLogger(__name__)


@db_periodic_task(crontab(minute="*"))
def expire_reservations() -> None:
    """Release reservations past their expiry; idempotent, so overlapping runs are harmless."""
    with origin("job"):
        expired = inventory_services.expire_reservations()
    if expired:
        logger.info("reservations expired: %d", expired)


@db_periodic_task(crontab(minute="*/10"))
def check_stock_alerts() -> None:
    """Raise low-stock / overstock alerts and resolve those back in range; de-duplicated, so safe to overlap."""
    with origin("job"):
        result = inventory_services.check_stock_alerts()
    if result.raised or result.resolved:
        logger.info(
            "stock alerts: %d raised, %d resolved, %d open", result.raised, result.resolved, result.open
        )
