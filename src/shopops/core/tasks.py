"""Core jobs: delete import uploads no job needs any more, every hour."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from shopops.core import jobs as core_jobs
from shopops.core.context import origin

logger = logging.getLogger(__name__)


@db_periodic_task(crontab(minute="17"))
def delete_expired_import_files() -> None:
    """Uploads of dry runs not confirmed within a day, of finished jobs and of no job; idempotent."""
    with origin("job"):
        deleted = core_jobs.delete_expired_import_files()
    if deleted:
        logger.info("import files deleted: %d", deleted)
