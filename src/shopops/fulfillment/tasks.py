"""Fulfillment jobs: parcels for platform-shipped orders, and shipping-promise alerts, every ten minutes."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from shopops.core.context import origin
from shopops.fulfillment import services

logger = logging.getLogger(__name__)


@db_periodic_task(crontab(minute="*/10"))
def ensure_platform_shipments() -> None:
    """Give orders shipped on the platform a parcel (no stock effect) so their scans can attach; idempotent."""
    with origin("job"):
        created = services.ensure_platform_shipments()
    if created:
        logger.info("platform parcels recorded: %d", created)


@db_periodic_task(crontab(minute="*/10"))
def check_ship_overdue() -> None:
    """Raise one alert per shop with orders past the shipping promise; resolve the rest. De-duplicated."""
    with origin("job"):
        result = services.check_ship_overdue()
    if result.raised or result.resolved:
        logger.info(
            "ship-overdue alerts: %d raised, %d resolved, %d open",
            result.raised,
            result.resolved,
            result.open,
        )
