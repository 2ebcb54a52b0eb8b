"""Core jobs: delete import uploads no job needs any more, every hour; the nightly backup and the weekly drill."""

from __future__ import annotations

import logging

from django.conf import settings
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from shopops.core import jobs as core_jobs
from shopops.core.backup import archive, crypto, drill, retention
from shopops.core.context import origin

logger = logging.getLogger(__name__)


@db_periodic_task(crontab(minute="17"))
def delete_expired_import_files() -> None:
    """Uploads of dry runs not confirmed within a day, of finished jobs and of no job; idempotent."""
    with origin("job"):
        deleted = core_jobs.delete_expired_import_files()
    if deleted:
        logger.info("import files deleted: %d", deleted)


@db_periodic_task(crontab(hour="3", minute="10"))
def scheduled_backup() -> None:
    """The nightly backup (encrypted when BACKUP_ENCRYPT and a key are set), then the retention prune."""
    passphrase = crypto.passphrase_from_environment() if settings.BACKUP_ENCRYPT else ""
    if settings.BACKUP_ENCRYPT and not passphrase:
        logger.error("backup not encrypted: BACKUP_ENCRYPT is on but %s is empty", crypto.KEY_ENVIRONMENT)
    with origin("job"):
        backup = archive.create_backup(passphrase=passphrase)
        deleted = retention.prune(daily=settings.BACKUP_KEEP_DAILY, weekly=settings.BACKUP_KEEP_WEEKLY)
    logger.info("backup written: %s; %d old archive(s) deleted", backup.path.name, len(deleted))


@db_periodic_task(crontab(day_of_week="0", hour="4", minute="40"))
def scheduled_restore_drill() -> None:
    """Every Sunday: drill the latest backup; a failure raises a critical alert to the admins."""
    with origin("job"):
        result = drill.run_drill(passphrase=crypto.passphrase_from_environment())
    logger.info("restore drill %s: %s", result.archive, result.status)
