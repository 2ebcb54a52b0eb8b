import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.database_free,  # serve runs on its own SQLite file whatever DATABASE_URL says
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc"),
]

READY_SECONDS = 300  # migrations done: collectstatic and three processes starting on a loaded machine
STEP_SECONDS = 0.5

# run by a helper process on serve's database: an order import job its worker (pid argv[1]) is running
MARK_JOB_RUNNING = """
import io, sys
import django
django.setup()
from django.utils import timezone
from shopops.accounts.models import User
from shopops.core import jobs, processes
from shopops.core.models import ImportJob
job = jobs.create_import_job(kind="orders", upload=io.BytesIO("订单号\\nA1\\n".encode()), filename="订单.csv",
                             mode="all_or_nothing", dry_run=False, actor=User.objects.get(username="admin"))
now = timezone.now()
ImportJob.objects.filter(pk=job.pk).update(status="running", worker=processes.identity(int(sys.argv[1])),
                                            started_at=now, heartbeat_at=now)
print(job.pk)
"""
# run by a helper process: the job's status once it is no longer `running` (or `running` after argv[2] s)
WAIT_FOR_JOB = """
import sys, time
import django
django.setup()
from shopops.core.models import ImportJob
deadline = time.monotonic() + float(sys.argv[2])
job = ImportJob.objects.get(pk=int(sys.argv[1]))
while job.status == "running" and time.monotonic() < deadline:
    time.sleep(0.5)
    job.refresh_from_db()
print(job.status, job.result.get("message", ""), job.result.get("rerunnable", False), sep="|")
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def descendants(root: int) -> dict[int, str]:
    """Every process below `root`, as pid → start time (tells a reused pid apart)."""
    parents: dict[int, list[tuple[int, str]]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := stat_fields(int(entry.name))) is not None:
            parents.setdefault(int(fields[1]), []).append((int(entry.name), fields[19]))
    found: dict[int, str] = {}
    waiting = [root]
    while waiting:
        for pid, started in parents.get(waiting.pop(), []):
            found[pid] = started
            waiting.append(pid)
    return found


def is_alive(pid: int, started: str) -> bool:
    fields = stat_fields(pid)
    return fields is not None and fields[19] == started and fields[0] not in ("Z", "X")


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def children_running(root: int, marker: str) -> list[int]:
    return [pid for pid in descendants(root) if marker in command_line(pid)]


def wait_for(condition: Callable[[], Any], *, seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(STEP_SECONDS)
    raise AssertionError(f"not within {seconds} s: {what}")


def login_page_status(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=10) as response:
            return response.status
    except OSError:
        return 0


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A var/ folder set up once (migrated SQLite database, admin user, static files); tests copy it."""
    var = tmp_path_factory.mktemp("serve-template") / "var"
    subprocess.run(
        [sys.executable, "-m", "shopops.cli", "setup"], env=environment(var), check=True, capture_output=True
    )
    return var


def environment(var: Path) -> dict[str, str]:
    inherited = {
        key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "HUEY_IMMEDIATE")
    }
    return {
        **inherited,
        "SHOPOPS_VAR_DIR": str(var),
        "DATABASE_URL": f"sqlite:///{var / 'shopops.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "shopops.settings",
    }


class Served:
    def __init__(self, process: subprocess.Popen[bytes], port: int, var: Path) -> None:
        self.process, self.port, self.var = process, port, var

    def helper(self, code: str, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", code, *args],
            env=environment(self.var),
            check=True,
            capture_output=True,
            text=True,
        )
        return done.stdout.strip().splitlines()[-1]


@pytest.fixture
def serve(installed: Path, tmp_path: Path) -> Iterator[Served]:
    """`shopops serve` on a free port with its own copy of the installation, ready (200 on the login page,
    worker and analytics loop running); whatever it started is killed at the end, whatever the test did."""
    var = tmp_path / "var"
    shutil.copytree(installed, var)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "shopops.cli", "serve", "--port", str(port)],
        env=environment(var),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own group: the test's cleanup can reach everything it started
    )
    seen: dict[int, str] = {}
    try:
        wait_for(
            lambda: process.poll() is None and login_page_status(port) == 200,
            seconds=READY_SECONDS,
            what="200",
        )
        wait_for(
            lambda: (
                children_running(process.pid, "shopops.cli worker")
                and children_running(process.pid, "shopops.cli analytics loop")
            ),
            seconds=READY_SECONDS,
            what="worker and analytics loop",
        )
        seen.update(descendants(process.pid))
        yield Served(process, port, var)
    finally:
        seen.update(descendants(process.pid))
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        for pid, started in seen.items():
            if is_alive(pid, started):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        process.wait()


def test_sigterm_stops_serve_and_every_process_it_started(serve: Served) -> None:
    # given serve running granian (and its workers), the job worker and the analytics loop
    started = descendants(serve.process.pid)
    assert children_running(serve.process.pid, "granian")
    # when it gets SIGTERM, as from systemd or `docker stop`
    serve.process.send_signal(signal.SIGTERM)
    code = serve.process.wait(timeout=120)
    # then nothing it started is left running, and it stopped cleanly
    assert [command_line(pid) for pid, since in started.items() if is_alive(pid, since)] == []
    assert code == 0


def test_a_killed_worker_is_restarted_and_its_running_job_fails_rerunnable(serve: Served) -> None:
    # given a job the worker is running
    [worker] = children_running(serve.process.pid, "shopops.cli worker")
    job_id = serve.helper(MARK_JOB_RUNNING, str(worker))
    # when the worker is killed
    os.kill(worker, signal.SIGKILL)
    # then serve starts a new one, which fails the job as re-runnable, and the site keeps serving
    replacement = wait_for(
        lambda: [pid for pid in children_running(serve.process.pid, "shopops.cli worker") if pid != worker],
        seconds=120,
        what="a new worker",
    )
    assert len(replacement) == 1
    assert serve.helper(WAIT_FOR_JOB, job_id, "120") == "failed|导入进程意外中止，可重新导入|True"
    assert serve.process.poll() is None
    assert login_page_status(serve.port) == 200
