"""`shopops serve`: check the installation, then run granian (WSGI) with static files and the job worker.

The embedded mode has no separate process manager, so serve starts the Huey consumer (scheduled prices,
imports, alerts) and the analytics loop (`shopops analytics loop --every 10`) beside the web server and
stops them when the web server stops; `--no-worker` leaves both to separately run `shopops worker` and
`shopops analytics loop` (production).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from shopops.accounts.management.commands.setup import ADMIN_USERNAME, admin_login_box
from shopops.accounts.models import User


def pending_migrations() -> int:
    executor = MigrationExecutor(connection)
    return len(executor.migration_plan(executor.loader.graph.leaf_nodes()))


def display_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def granian_command(*, host: str, port: int, workers: int, threads: int) -> list[str]:
    """The granian command line: WSGI app, collected static files and uploads served by granian itself."""
    return [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "wsgi",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--blocking-threads",
        str(threads),
        "--no-ws",
        "--static-path-route",
        "/" + settings.STATIC_URL.strip("/"),
        "--static-path-mount",
        str(settings.STATIC_ROOT),
        "--static-path-route",
        "/" + settings.MEDIA_URL.strip("/"),
        "--static-path-mount",
        str(settings.MEDIA_ROOT),
        "shopops.wsgi:application",
    ]


class Command(BaseCommand):
    help = "启动 Web 服务（granian）；首次运行会自动执行 setup。--dev 使用 Django 开发服务器。"
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--host", default="127.0.0.1", help="address to bind (0.0.0.0 for every interface)"
        )
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "1")))
        parser.add_argument("--threads", type=int, default=8, help="request threads per worker process")
        parser.add_argument("--dev", action="store_true", help="Django's auto-reloading runserver (DEBUG on)")
        parser.add_argument(
            "--no-worker",
            action="store_true",
            help="do not start the job worker (run `shopops worker` yourself)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        host, port = options["host"], options["port"]
        url = f"http://{display_host(host)}:{port}/admin/"
        if pending_migrations() or not User.objects.filter(username=ADMIN_USERNAME).exists():
            call_command("setup", url=url, stdout=self.stdout)
        else:
            if not options["dev"]:
                call_command("collectstatic", interactive=False, verbosity=0)
            self.stdout.write(admin_login_box(url))
        self.stdout.flush()
        if options["dev"]:
            # the reloader's child process reads settings again, with DEBUG on
            os.environ["DEBUG"] = "1"
            call_command("runserver", f"{host}:{port}", insecure_serving=True)
            return
        Path(settings.MEDIA_ROOT).mkdir(parents=True, exist_ok=True)
        command = granian_command(
            host=host, port=port, workers=options["workers"], threads=options["threads"]
        )
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shopops.settings")
        connection.close()
        helpers: list[subprocess.Popen[bytes]] = []
        if not options["no_worker"]:
            helpers.append(subprocess.Popen([sys.executable, "-m", "shopops.cli", "worker"]))
            # new events and changed orders reach the 数据中心 within seconds (the Huey task runs per minute)
            helpers.append(
                subprocess.Popen([sys.executable, "-m", "shopops.cli", "analytics", "loop", "--every", "10"])
            )
        web = subprocess.Popen(command)
        try:
            code = web.wait()
        except KeyboardInterrupt:
            web.send_signal(signal.SIGINT)
            code = web.wait()
        finally:
            for helper in helpers:
                if helper.poll() is None:
                    helper.terminate()
            for helper in helpers:
                helper.wait(timeout=30)
        raise SystemExit(code)
