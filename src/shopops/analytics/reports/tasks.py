"""Analytics jobs: platform traffic and ad spend imports queued by the admin or the API; daily and weekly
report emails (08:00 and Monday 08:30 Asia/Shanghai) to the active subscriptions."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import zoneinfo
from collections.abc import Callable
from typing import Any

from huey import crontab
from huey.contrib.djhuey import HUEY, db_periodic_task, db_task

from shopops.analytics import imports as analytics_imports
from shopops.core import jobs as core_jobs
from shopops.core.context import origin
from shopops.core.models import ImportJob

logger = logging.getLogger(__name__)

REPORT_ZONE = zoneinfo.ZoneInfo("Asia/Shanghai")
TRAFFIC_IMPORT_KIND = "traffic-report"
AD_SPEND_IMPORT_KIND = "ad-spend"


def shanghai_crontab(**fields: str) -> Callable[[dt.datetime], bool]:
    """A Huey crontab read in Asia/Shanghai. Huey hands periodic checks a naive time: UTC when it runs
    with utc=True (its default), else the process's local time."""
    matches = crontab(**fields)

    def validate(timestamp: dt.datetime) -> bool:
        if timestamp.tzinfo is not None:
            aware = timestamp
        elif HUEY.utc:
            aware = timestamp.replace(tzinfo=dt.UTC)
        else:
            aware = timestamp.astimezone()
        return bool(matches(aware.astimezone(REPORT_ZONE).replace(tzinfo=None)))

    return validate


def _options(job_id: int) -> dict[str, Any]:
    return ImportJob.objects.filter(pk=job_id).values_list("options", flat=True).first() or {}


@db_task()
def run_traffic_report_import(job_id: int) -> None:
    """Run a queued traffic report import job (enqueued on commit); its options name the shop."""
    options = _options(job_id)
    importer = functools.partial(
        analytics_imports.import_traffic_report, shop=options.get("shop", 0), import_job_id=job_id
    )
    with origin("job"):
        core_jobs.run_import_job(job_id=job_id, importer=importer)


@db_task()
def run_ad_spend_import(job_id: int) -> None:
    """Run a queued ad spend import job; its options name the shop and maybe the ad channel."""
    options = _options(job_id)
    importer = functools.partial(
        analytics_imports.import_ad_spend,
        shop=options.get("shop", 0),
        ad_channel=str(options.get("ad_channel") or ""),
        import_job_id=job_id,
    )
    with origin("job"):
        core_jobs.run_import_job(job_id=job_id, importer=importer)


# 08:00, then every hour until 23:00 as a catch-up when the worker was down: sending is idempotent per period
@db_periodic_task(shanghai_crontab(hour="8-23", minute="0"))
def send_daily_reports() -> None:
    """Yesterday's report to every active daily subscription; idempotent per day (last_period_sent)."""
    from shopops.analytics.reports import emails

    with origin("job"):
        sent = emails.send_due_reports(kind="daily")
    if sent:
        logger.info("daily analytics reports sent: %d", sent)


@db_periodic_task(shanghai_crontab(day_of_week="1", hour="8-23", minute="30"))
def send_weekly_reports() -> None:
    """Last week's report (Mon–Sun) to every active weekly subscription; idempotent per week."""
    from shopops.analytics.reports import emails

    with origin("job"):
        sent = emails.send_due_reports(kind="weekly")
    if sent:
        logger.info("weekly analytics reports sent: %d", sent)
