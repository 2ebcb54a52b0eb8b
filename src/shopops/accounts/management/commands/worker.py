"""`shopops worker`: run the Huey job consumer (SQLite queue by default, Redis when REDIS_URL is set).

Before consuming, and every minute while it runs, it fails the import jobs whose process died (a killed or
crashed worker, a restarted machine): they would stay `running` for ever; failed, they can be re-run.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db import DatabaseError, connection

from shopops.core import jobs as core_jobs
from shopops.core.context import origin

logger = logging.getLogger(__name__)

WATCH_SECONDS = 60


def queue_description() -> str:
    huey = settings.HUEY
    if huey.get("huey_class") == "huey.RedisHuey":
        return "Redis"
    return f"SQLite {huey.get('filename', '')}"


def fail_interrupted_jobs() -> list[int]:
    """One round; a busy database only postpones it to the next."""
    try:
        with origin("job"):
            return core_jobs.fail_interrupted_import_jobs()
    except DatabaseError:
        logger.warning("interrupted import jobs not checked (database busy)", exc_info=True)
        return []
    finally:
        connection.close()


def watch_interrupted_jobs(stop: threading.Event, every: float = WATCH_SECONDS) -> None:
    while not stop.wait(every):
        fail_interrupted_jobs()


class Command(BaseCommand):
    help = "运行后台任务进程（Huey）：定时任务、提醒、报表、消息发送。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workers", type=int, default=2, help="number of worker threads (default 2)")
        parser.add_argument(
            "--worker-type", choices=["thread", "process", "greenlet"], default="thread", help="worker model"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(
            f"worker: {options['workers']} {options['worker_type']}(s), queue: {queue_description()}"
        )
        failed = fail_interrupted_jobs()
        if failed:
            self.stdout.write(
                f"导入任务 {', '.join(f'#{pk}' for pk in failed)}：导入进程意外中止，已标记为失败"
            )
        self.stdout.flush()
        stop = threading.Event()
        watch = threading.Thread(target=watch_interrupted_jobs, args=(stop,), name="job-watch", daemon=True)
        watch.start()
        try:
            call_command("run_huey", workers=options["workers"], worker_type=options["worker_type"])
        finally:
            stop.set()
