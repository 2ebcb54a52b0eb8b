"""Scheduled refresh of customer metrics, automatic tags and segments."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from shopops.segments import services


@db_periodic_task(crontab(minute="20"))
def refresh_segments() -> None:
    """Every hour: metrics and RFM, then automatic tags, then the segments refreshed on schedule."""
    services.refresh_all(actor="system:segments")
