"""Crash safety of the intake: servers and compactors killed with SIGKILL lose and duplicate nothing.

The truth is what the clients were told: every event of a batch that got a 202 must be in Parquet exactly
once. Clients retry a batch that got no answer (same event ids), as the snippet does, so in the end every
event was acknowledged and Parquet must hold exactly the sent events, each once, with the sent content.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from shopops.analytics.collect import spool
from shopops.analytics.collect.testing import landed_rows, make_site, running_server, server_env

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("collect_crash")]

UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 Safari/605.1.15"
KILL_POINTS = [
    "compact.after_write_tmp",
    "compact.after_rename",
    "compact.before_delete",
    "compact.after_delete_one",
]


def database_url() -> str:
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    user = settings.get("USER") or "postgres"
    password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{settings.get('HOST') or '127.0.0.1'}:{settings.get('PORT') or 5432}/{settings['NAME']}"


def env_for(root: Path, **extra: str) -> dict[str, str]:
    return server_env(
        SHOPOPS_ANALYTICS_DIR=str(root),
        DATABASE_URL=database_url(),
        SHOPOPS_ANALYTICS_SPOOL_MAX_BYTES="20000",
        SHOPOPS_ANALYTICS_SPOOL_MAX_AGE="0.3",
        **extra,
    )


def compactor(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "shopops.analytics.collect.compactor"],
        env=env,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )


def event(number: int, batch: int) -> dict[str, Any]:
    return {
        "type": "product_view" if number % 3 else "page_view",
        "event_id": f"b{batch}-e{number}",
        "visitor_id": f"v{number % 17}",
        "session_id": f"s{number % 29}",
        "url": f"https://shop.example.cn/p/P{number % 11}?utm_source=baidu",
        "product": f"P{number % 11}",
    }


def send(port: int, key: str, body: bytes) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request(
            "POST",
            f"/collect/batch?k={key}",
            body=body,
            headers={"User-Agent": UA, "Content-Type": "application/x-ndjson"},
        )
        response = conn.getresponse()
        response.read()
        conn.close()
        return response.status == 202
    except (OSError, http.client.HTTPException):
        return False


def expected_rows(batches: dict[int, list[dict[str, Any]]]) -> dict[str, tuple[str, str, str]]:
    return {
        e["event_id"]: (e["type"], e["visitor_id"], e["product"])
        for events in batches.values()
        for e in events
    }


def check_landed(root: Path, batches: dict[int, list[dict[str, Any]]]) -> None:
    rows = landed_rows(root, columns=["event_id", "type", "visitor_id", "product", "source"])
    counts = Counter(row["event_id"] for row in rows)
    assert [event_id for event_id, n in counts.items() if n > 1] == []  # nothing twice
    got = {row["event_id"]: (row["type"], row["visitor_id"], row["product"]) for row in rows}
    assert got == expected_rows(batches)  # nothing lost, nothing invented, content intact
    assert {row["source"] for row in rows} == {"baidu"}


def run_compactor_to_completion(env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "shopops.analytics.collect.compactor"],
        env=env,
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()


@pytest.mark.django_db(transaction=True)
def test_servers_and_compactors_killed_at_random_lose_and_duplicate_nothing(  # noqa: C901 - one scenario
    tmp_path: Path,
) -> None:
    # given a site, a real server, clients retrying unacknowledged batches, compactors running beside
    site = make_site(key="k-crash")
    root = tmp_path / "analytics"
    env = env_for(root)
    rng = random.Random(20261124)
    batches: dict[int, list[dict[str, Any]]] = {}
    pending: list[int] = []
    acknowledged: set[int] = set()
    next_batch = 0
    kills = {"server": 0, "compactor": 0}
    # when the server is killed -9 five times mid-load, and compactors are killed -9 at random moments
    for round_number in range(5):
        inject = {"SHOPOPS_COLLECT_KILL_AT": "spool.after_write@7"} if round_number == 2 else {}
        with running_server({**env, **inject}, threads=4) as (server, port):
            deadline = time.monotonic() + rng.uniform(0.8, 1.6)
            compacting = compactor(env)
            kill_compactor_at = time.monotonic() + rng.uniform(0.05, 0.6)
            while time.monotonic() < deadline and server.poll() is None:
                if not pending:
                    batches[next_batch] = [event(n, next_batch) for n in range(rng.randint(1, 60))]
                    pending.append(next_batch)
                    next_batch += 1
                number = pending[0]
                body = "\n".join(json.dumps(e) for e in batches[number]).encode() + b"\n"
                if send(port, site.key, body):
                    acknowledged.add(number)
                    pending.pop(0)
                if compacting.poll() is None and time.monotonic() > kill_compactor_at:
                    os.killpg(compacting.pid, signal.SIGKILL)
                    kills["compactor"] += 1
                if compacting.poll() is not None:
                    compacting.wait()
                    compacting = compactor(env)
                    kill_compactor_at = time.monotonic() + rng.uniform(0.05, 0.6)
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGKILL)  # granian's main process and its worker
                kills["server"] += 1
            server.wait()
            if compacting.poll() is None:
                os.killpg(compacting.pid, signal.SIGKILL)
                kills["compactor"] += 1
            compacting.wait()
    # then a healthy server takes the batches still unacknowledged (retried with the same ids)
    with running_server(env, threads=4) as (_, port):
        while pending:
            body = "\n".join(json.dumps(e) for e in batches[pending[0]]).encode() + b"\n"
            if send(port, site.key, body):
                acknowledged.add(pending.pop(0))
    run_compactor_to_completion(env)
    # then
    assert kills["server"] >= 4
    assert kills["compactor"] >= 3
    assert acknowledged == set(batches)
    assert not list((root / "spool").glob("*.open"))
    assert not list((root / "spool").glob("*.ready"))
    check_landed(root, batches)
    # and a re-run changes nothing
    before = sorted((p.name, p.stat().st_mtime_ns) for p in (root / "events").glob("day=*/*.parquet"))
    run_compactor_to_completion(env)
    assert sorted((p.name, p.stat().st_mtime_ns) for p in (root / "events").glob("day=*/*.parquet")) == before


def spool_batches(root: Path, settings: Any, batches: dict[int, list[dict[str, Any]]]) -> None:
    """Write segments in-process, as a server would (several segments, retries spooled twice)."""
    from shopops.analytics.collect.intake import RequestContext, encode_lines, normalise, now_us
    from shopops.analytics.collect.schema import decode_event
    from shopops.analytics.collect.sites import SiteInfo

    settings.ANALYTICS_DIR = root
    info = SiteInfo(1, "k", 7, "own", frozenset(), "hash", True, False, True)
    for number, events in batches.items():
        context = RequestContext(info, "192.0.2.1", UA, now_us())
        lines = [normalise(decode_event(json.dumps(e).encode()), context) for e in events]
        spool.writer().append(encode_lines(lines))
        if number % 4 == 0:  # a retry: the same events spooled again
            spool.writer().append(encode_lines(lines))
        if number % 3 == 0:
            spool.flush()
    spool.flush()


@pytest.mark.parametrize(("point", "nth"), [(point, nth) for point in KILL_POINTS for nth in (1, 3)])
def test_compactor_killed_at_each_step_then_rerun_is_exact(
    tmp_path: Path, settings: Any, point: str, nth: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given segments holding 40 batches (some spooled twice), and a first compaction already landed
    root = tmp_path / "analytics"
    rng = random.Random(nth)
    batches = {n: [event(i, n) for i in range(rng.randint(1, 40))] for n in range(40)}
    spool_batches(root, settings, dict(list(batches.items())[:10]))
    monkeypatch.setattr("shopops.analytics.collect.compactor.GROUP_MAX_BYTES", 4000)
    env = server_env(SHOPOPS_ANALYTICS_DIR=str(root), DATABASE_URL="sqlite:///:memory:")
    run_compactor_to_completion(env)
    spool_batches(root, settings, dict(list(batches.items())[10:]))
    # when a compactor dies with SIGKILL at that point, and another one runs after it
    killed = subprocess.run(
        [sys.executable, "-c", _SMALL_GROUPS],
        env={**env, "SHOPOPS_COLLECT_KILL_AT": f"{point}@{nth}"},
        capture_output=True,
        check=False,
    )
    run_compactor_to_completion(env)
    # then
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    check_landed(root, batches)


_SMALL_GROUPS = (
    "import os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'shopops.settings');"
    "from shopops.analytics.collect import compactor; compactor.GROUP_MAX_BYTES = 4000; compactor.compact()"
)


def test_torn_tail_of_a_dead_writers_segment_is_ignored(tmp_path: Path, settings: Any) -> None:
    # given a dead process's open segment whose last write was cut in the middle of a line
    root = tmp_path / "analytics"
    batches = {0: [event(i, 0) for i in range(5)]}
    spool_batches(root, settings, batches)
    ready = next((root / "spool").glob("*.ready"))
    torn = ready.with_name("deadhost-1-1-abc.000001.open")
    torn.write_bytes(ready.read_bytes() + b'{"event_id":"half","type":"page_')
    ready.unlink()
    env = server_env(SHOPOPS_ANALYTICS_DIR=str(root), DATABASE_URL="sqlite:///:memory:")
    # when
    run_compactor_to_completion(env)
    # then
    check_landed(root, batches)
    assert not torn.exists()


def test_open_segment_of_a_live_writer_is_left_alone(tmp_path: Path, settings: Any) -> None:
    # given this process writing (it holds the segment's lock), segments that are not closed yet
    root = tmp_path / "analytics"
    settings.ANALYTICS_DIR = root
    settings.ANALYTICS_SPOOL_MAX_AGE = 3600
    spool_batches_open = {0: [event(i, 0) for i in range(3)]}
    from shopops.analytics.collect import compactor as compactor_module
    from shopops.analytics.collect.intake import RequestContext, encode_lines, normalise, now_us
    from shopops.analytics.collect.schema import decode_event
    from shopops.analytics.collect.sites import SiteInfo

    info = SiteInfo(1, "k", 7, "own", frozenset(), "hash", True, False, True)
    context = RequestContext(info, "192.0.2.1", UA, now_us())
    lines = [normalise(decode_event(json.dumps(e).encode()), context) for e in spool_batches_open[0]]
    spool.writer().append(encode_lines(lines))
    env = server_env(SHOPOPS_ANALYTICS_DIR=str(root), DATABASE_URL="sqlite:///:memory:")
    # when another process compacts
    run_compactor_to_completion(env)
    # then the live segment stays, and lands once it is closed
    assert landed_rows(root) == []
    assert len(list((root / "spool").glob("*.open"))) == 1
    spool.flush()
    compactor_module.compact()
    check_landed(root, spool_batches_open)
