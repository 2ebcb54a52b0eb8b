"""Care jobs: every 5 minutes, send the due queued messages in batches and queue the journeys' due ones."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from shopops.care import services
from shopops.core.context import origin

logger = logging.getLogger(__name__)


@db_task()
def send_messages(send_id: int) -> None:
    """Work through one send, batch after batch, until nothing due is left (deferred ones wait)."""
    with origin("job"):
        while True:
            result = services.dispatch_send(send_id=send_id)
            if result.paused or result.deferred or not (result.sent or result.failed or result.blocked):
                break


@db_periodic_task(crontab(minute="*/5"))
def run_care() -> None:
    with origin("job"):
        queued = services.run_journeys()
        result = services.dispatch_all()
    if result.sent or result.failed or any(queued.values()):
        logger.info(
            "care: %d sent, %d failed, %d blocked; journeys queued %s",
            result.sent,
            result.failed,
            result.blocked,
            queued,
        )
