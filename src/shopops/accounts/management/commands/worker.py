"""`shopops worker`: run the Huey job consumer (SQLite queue by default, Redis when REDIS_URL is set)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser


def queue_description() -> str:
    huey = settings.HUEY
    if huey.get("huey_class") == "huey.RedisHuey":
        return "Redis"
    return f"SQLite {huey.get('filename', '')}"


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
        call_command("run_huey", workers=options["workers"], worker_type=options["worker_type"])
