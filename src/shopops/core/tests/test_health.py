"""GET /healthz: the database and the job queue, answered without login and without secrets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from huey import SqliteHuey
from huey.contrib import djhuey

pytestmark = pytest.mark.django_db


def test_healthz_answers_ok_with_each_check_and_nothing_else() -> None:
    # given an anonymous client (a load balancer)
    response = Client().get("/healthz")
    # then the database and the configured queue both answer
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "queue": "ok"}}
    assert "no-cache" in response["Cache-Control"]


def test_healthz_is_read_only() -> None:
    # a GET or HEAD only: anything else is refused before any check runs
    assert Client().post("/healthz").status_code == 405
    assert Client().head("/healthz").status_code == 200


def test_a_broken_queue_answers_503_naming_the_check_without_its_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    # given a real SQLite queue whose file was then overwritten by something that is not a database
    queue_file = tmp_path / "huey.sqlite3"
    broken = SqliteHuey("shopops", filename=str(queue_file))
    queue_file.write_bytes(b"this is not a SQLite database" * 200)
    monkeypatch.setattr(djhuey, "HUEY", broken)
    # when a monitor asks
    with caplog.at_level("WARNING", logger="shopops.core.health"):
        response = Client().get("/healthz")
    # then it hears 503, which check failed, and no exception text, path or version
    assert response.status_code == 503
    assert response.json() == {"status": "error", "checks": {"database": "ok", "queue": "error"}}
    assert str(tmp_path) not in response.content.decode()
    # and the log says which check failed, in one line without a traceback
    failures = [record for record in caplog.records if record.name == "shopops.core.health"]
    assert [record.getMessage() for record in failures] == ["health check queue failed: DatabaseError"]
    assert failures[0].exc_info is None
