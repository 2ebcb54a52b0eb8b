"""Helpers the collect tests and the intake benchmark share: a site, a real server in a subprocess, the
landed Parquet as plain Python."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shopops.analytics.models import CollectSite
    from shopops.channels.models import Shop


def make_site(
    *, shop: Shop | None = None, key: str | None = None, platform: str = "own", **fields: Any
) -> CollectSite:
    """A collection site (and its own-web-shop Shop unless given). Models imported here: the benchmark
    imports this module without Django set up."""
    from shopops.analytics.models import CollectSite
    from shopops.channels.models import Shop

    if shop is None:
        code = f"web-{secrets.token_hex(3)}"
        shop = Shop.objects.create(code=code, name=f"网店{code}", platform=platform)
    return CollectSite.objects.create(
        shop=shop, name=fields.pop("name", "官网"), key=key or secrets.token_hex(12), **fields
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30.0, process: subprocess.Popen[Any] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")


def granian_server(
    *,
    port: int,
    env: dict[str, str],
    workers: int = 1,
    threads: int = 8,
    module: str = "shopops.wsgi:application",
) -> subprocess.Popen[bytes]:
    """granian serving the WSGI app (the same command line as `shopops serve`, minus static files)."""
    command = [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "wsgi",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--blocking-threads",
        str(threads),
        "--no-ws",
        "--log-level",
        "warning",
        module,
    ]
    return subprocess.Popen(command, env=env, start_new_session=True)


def server_env(**extra: str) -> dict[str, str]:
    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, **extra}
    env.setdefault("DJANGO_SETTINGS_MODULE", "shopops.settings")
    env["PYTHONPATH"] = os.pathsep.join([str(root), str(root.parent), env.get("PYTHONPATH", "")])
    return env


@contextlib.contextmanager
def running_server(env: dict[str, str], **options: Any) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    process = granian_server(port=port, env=env, **options)
    try:
        wait_for_port(port, process=process)
        yield process, port
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def landed_rows(root: Path, columns: list[str] | None = None) -> list[dict[str, Any]]:
    """Every landed event as a dict (plain pyarrow read, no DuckDB)."""
    import pyarrow.parquet as pq

    rows: list[dict[str, Any]] = []
    for path in sorted((root / "events").glob("day=*/*.parquet")):
        if path.name.startswith("."):
            continue
        rows.extend(pq.read_table(path, columns=columns).to_pylist())
    return rows
