"""Logs an operator can read: each job once, a refused page in one line."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

STARTED = "Huey consumer started"


@pytest.mark.django_db
def test_a_refused_page_is_logged_in_one_line_without_traceback(make_user: Any, caplog: Any) -> None:
    # given a back-office user without the permission to see users
    clerk = make_user(None, is_staff=True)
    client = Client()
    client.force_login(clerk)
    # when the page refuses them
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.get("/admin/accounts/user/")
    # then one warning names the page, with no exception (so no traceback) attached
    assert response.status_code == 403
    refused = [record for record in caplog.records if record.name == "django.request"]
    assert [record.getMessage() for record in refused] == [
        "Forbidden (Permission denied): /admin/accounts/user/"
    ]
    assert refused[0].exc_info is None
    assert caplog.text.count("Traceback") == 0


@pytest.mark.django_db
def test_a_server_error_keeps_its_traceback() -> None:
    # the filter only quiets 4xx: a 500 record still carries its exception
    from shopops.core.logs import ClientErrorsWithoutTraceback

    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.getLogger("django.request").makeRecord(
            "django.request", logging.ERROR, __file__, 1, "Internal Server Error", (), sys.exc_info()
        )
    record.status_code = 500
    assert ClientErrorsWithoutTraceback().filter(record)
    assert record.exc_info is not None
    assert record.exc_info[0] is RuntimeError


def test_the_worker_logs_each_line_once(tmp_path: Path) -> None:
    # given `shopops worker` in a process of its own, with the project's logging
    env = {
        **{key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "HUEY_IMMEDIATE")},
        "SHOPOPS_VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'shopops.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "shopops.settings",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "shopops.cli", "worker", "--workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    started = threading.Event()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line.rstrip("\n"))
            if STARTED in line:
                started.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        # when the consumer has started (and announced its periodic tasks)
        assert started.wait(timeout=300), "\n".join(lines)
        time.sleep(0.5)  # the lines the consumer prints right after the first one
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
        reader.join(timeout=10)
    # then each of its lines was written once, not once by Huey's handler and again by ours
    assert sum(STARTED in line for line in lines) == 1, "\n".join(lines)
    periodic = [line for line in lines if "Periodic tasks are" in line]
    assert len(periodic) == 1, "\n".join(lines)
