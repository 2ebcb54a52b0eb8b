"""Loyalty jobs: earn and reverse order points (every 10 minutes), expire points and review levels (daily)."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from shopops.core.context import origin
from shopops.loyalty import services as loyalty_services

logger = logging.getLogger(__name__)


@db_periodic_task(crontab(minute="*/10"))
def sync_order_points() -> None:
    """Orders changed since the last run earn their points; refunds reverse them (idempotent)."""
    with origin("job"):
        result = loyalty_services.sync_orders(actor="job")
    if result["earned_orders"] or result["reversed_points"]:
        logger.info(
            "points: %d order(s) earned, %d point(s) reversed",
            result["earned_orders"],
            result["reversed_points"],
        )


@db_periodic_task(crontab(minute="20", hour="3"))
def expire_and_review() -> None:
    """Expire points whose date has passed, then review every member's level (downgrades happen here)."""
    with origin("job"):
        expired = loyalty_services.expire_points(actor="job")
        changed = loyalty_services.review_levels(actor="job")
    logger.info("points: %d expired; levels: %d changed on review", expired, changed)
