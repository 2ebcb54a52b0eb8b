"""`shopops serve`: check the installation, then run granian (WSGI) with static files and the job worker.

The embedded mode has no separate process manager, so serve is one: it starts the Huey consumer (scheduled
prices, imports, alerts) and the analytics loop (`shopops analytics loop --every 10`) beside the web server,
restarts either when it dies (after 1 s, then longer while it keeps dying), and on SIGTERM, SIGINT or SIGHUP
stops all three — each with everything it started, as its own process group — waiting up to `--stop-timeout`
seconds before SIGKILL. When granian itself dies, serve stops the rest and exits non-zero. `--no-worker`
leaves the worker and the loop to separately run `shopops worker` and `shopops analytics loop` (production).
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from shopops.accounts.management.commands.setup import ADMIN_USERNAME, admin_login_box
from shopops.accounts.models import User

logger = logging.getLogger("shopops.serve")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
POLL_SECONDS = 0.2
# seconds before the 1st, 2nd, … restart of a child that keeps dying; a run of STEADY_SECONDS resets it
RESTART_DELAYS = (1, 2, 5, 10, 30, 60)
STEADY_SECONDS = 60
PR_SET_PDEATHSIG = 1


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


def _die_with_parent() -> None:
    """In the child before exec (Linux): SIGTERM when serve dies, even by SIGKILL, so nothing outlives it."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


@dataclass
class Child:
    """One process serve keeps running: `command` started in its own session (process group), so a
    signal to the group reaches what it started too (granian's workers)."""

    name: str
    command: list[str]
    is_essential: bool = False  # granian: serve ends when it ends
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts_in_a_row: int = 0
    restart_at: float | None = None

    def start(self) -> None:
        preexec = _die_with_parent if sys.platform == "linux" else None
        self.process = subprocess.Popen(self.command, start_new_session=True, preexec_fn=preexec)
        self.started_at = time.monotonic()
        self.restart_at = None
        logger.info("%s started (pid %d)", self.name, self.process.pid)

    def signal_group(self, signum: int) -> None:
        """`signum` to the child's process group: the child and whatever it started (and left behind)."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signum)
        except (ProcessLookupError, PermissionError):
            return  # nothing of the group is left


class Supervisor:
    """Runs the children until a stop signal or the essential child's end; restarts the others."""

    def __init__(self, children: list[Child], *, stop_timeout: float) -> None:
        self.children = children
        self.stop_timeout = stop_timeout
        self.stop_signal: int | None = None

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop_signal = signum

    def run(self) -> int:
        previous = {signum: signal.signal(signum, self._on_signal) for signum in STOP_SIGNALS}
        code = 0
        try:
            for child in self.children:
                if self.stop_signal is None:
                    child.start()
            while self.stop_signal is None:
                ended = self._tend()
                if ended is not None:
                    code = ended
                    break
                time.sleep(POLL_SECONDS)
            if self.stop_signal is not None:
                logger.info("%s received: stopping", signal.Signals(self.stop_signal).name)
        finally:
            self.stop()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return code

    def _tend(self) -> int | None:
        """Restart what died; the essential child's exit code (never 0) when it ended."""
        now = time.monotonic()
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    child.start()
                continue
            assert child.process is not None
            code = child.process.poll()
            if code is None:
                continue
            if child.is_essential:
                logger.error("%s exited with code %s: stopping", child.name, code)
                return code or 1
            if now - child.started_at >= STEADY_SECONDS:
                child.restarts_in_a_row = 0
            delay = RESTART_DELAYS[min(child.restarts_in_a_row, len(RESTART_DELAYS) - 1)]
            child.restarts_in_a_row += 1
            child.restart_at = now + delay
            child.signal_group(signal.SIGKILL)  # what the dead child started dies with it
            logger.warning("%s exited with code %s: restarting in %d s", child.name, code, delay)
        return None

    def stop(self) -> None:
        """SIGTERM to every child's process group, then SIGKILL to what is left after stop_timeout."""
        # a child waiting for its restart was stopped with its group already
        running = [child for child in self.children if child.restart_at is None]
        for child in running:
            child.signal_group(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for child in running:
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=max(deadline - time.monotonic(), 0))
            except subprocess.TimeoutExpired:
                logger.warning("%s did not stop within %s s: killed", child.name, self.stop_timeout)
        for child in running:
            # the leader may be gone while something it started still runs
            child.signal_group(signal.SIGKILL)
            if child.process is not None:
                child.process.wait()


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
        parser.add_argument(
            "--stop-timeout",
            type=float,
            default=10.0,
            help="seconds the processes get to stop on SIGTERM before they are killed",
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
        children = [Child("granian", command, is_essential=True)]
        if not options["no_worker"]:
            children.append(Child("worker", [sys.executable, "-m", "shopops.cli", "worker"]))
            # new events and changed orders reach the 数据中心 within seconds (the Huey task runs per minute)
            children.append(
                Child(
                    "analytics loop",
                    [sys.executable, "-m", "shopops.cli", "analytics", "loop", "--every", "10"],
                )
            )
        raise SystemExit(Supervisor(children, stop_timeout=options["stop_timeout"]).run())
