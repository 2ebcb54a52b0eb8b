"""Event intake through the real server stack: batch events/s end to end (to Parquet), the single-event
endpoint against a bare Django view on the same stack, the latency from POST to visible in Parquet, and
from POST to visible in the dashboard's numbers.

    .venv/bin/python -m bench.bench_analytics_intake [--events 1000000] [--batch 1000] [--clients 4]
                                                     [--seconds 5] [--connections 16] [--workers 2]
                                                     [--only visibility] [--visibility-events 200]

Setup: a temporary var dir and SQLite database (migrated), one CollectSite, then granian serving
`shopops.wsgi:application` (the `shopops serve` command line; --workers processes × --threads threads)
with this module as its settings module: shopops.settings plus a URLconf that adds `POST /bench/bare`
(a csrf-exempt view answering 204) beside the real URLs — the peer of `POST /collect/e`.

Load generator: `--loadgen`, a separate process of this module: asyncio, raw HTTP/1.1 keep-alive
connections, request bytes built once (it is not the bottleneck: it idles on the server's answers).

(a) batch: N events in NDJSON batches (no client event ids: the server makes them) posted by --clients
    connections while a compactor (`python -m shopops.analytics.collect.compactor --every 1`) runs
    beside; the clock stops when all N events are in the Parquet files. events/s = N / that time.
(b) single: --connections connections post one small JSON event each, for --seconds, to /collect/e and
    then to /bench/bare, --rounds times alternating; ratio = best collect req/s ÷ best bare req/s (goal
    ≥ 0.5). Best-of because other load on the machine only ever slows a round down.
(c) latency: one event with a known id, POST → visible in Parquet, with the default spool rotation
    (2 s) and the compactor every 1 s, repeated a few times.
(d) visibility: the analytics loop started exactly as `shopops serve` does (`python -m shopops.cli analytics
    loop --every 10`, same env and var dir; the (a) compactor is stopped first), one NDJSON batch of
    page_views for a fresh set of visitors at the current time, then `rollups.measures(today, today)` polled
    in this process (same ANALYTICS_DIR) until pv and visitors include the new events; seconds from POST to
    visible, 3 times (goal ≤ 30 s). `--only visibility` runs just this part (no (a)–(c)).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SITE_KEY = "bench-intake-key"
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"

if os.environ.get("SHOPOPS_BENCH_INTAKE_SETTINGS") == "1":
    # This module is the server's settings module (and its URLconf) during the benchmark.
    from shopops.settings import *  # noqa: F403

    ROOT_URLCONF = __name__

    def __getattr__(name: str) -> Any:  # the URLconf, built lazily (settings load before the apps)
        if name != "urlpatterns":
            raise AttributeError(name)
        from django.http import HttpRequest, HttpResponse
        from django.urls import include, path
        from django.views.decorators.csrf import csrf_exempt

        @csrf_exempt
        def bare(request: HttpRequest) -> HttpResponse:
            return HttpResponse(status=204)

        @csrf_exempt
        def bare_read(request: HttpRequest) -> HttpResponse:
            request.read()
            return HttpResponse(status=204)

        return [
            path("bench/bare", bare),
            path("bench/bare-read", bare_read),
            path("", include("shopops.urls")),
        ]


# Load generator (a separate process).


async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes) -> int:
    writer.write(data)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


def _post(path: str, body: bytes, content_type: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: {UA}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    ).encode() + body


async def _fixed_count(port: int, request: bytes, total: int, connections: int) -> dict[str, Any]:
    remaining = [total]
    statuses: dict[int, int] = {}

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while remaining[0] > 0:
            remaining[0] -= 1
            status = await _request(reader, writer, request)
            statuses[status] = statuses.get(status, 0) + 1
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(connections)))
    return {"seconds": time.perf_counter() - started, "statuses": statuses}


async def _fixed_time(port: int, request: bytes, seconds: float, connections: int) -> dict[str, Any]:
    done = [0]
    statuses: dict[int, int] = {}
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.perf_counter() < deadline:
            status = await _request(reader, writer, request)
            statuses[status] = statuses.get(status, 0) + 1
            done[0] += 1
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    return {"requests": done[0], "seconds": elapsed, "rps": done[0] / elapsed, "statuses": statuses}


def batch_body(size: int, seed: int) -> bytes:
    lines = []
    for n in range(size):
        number = seed * size + n
        lines.append(
            json.dumps(
                {
                    "type": "product_view" if n % 4 else "page_view",
                    "ts": int(time.time() * 1000) - n,
                    "visitor_id": f"v{number % 50_000}",
                    "session_id": f"s{number % 90_000}",
                    "url": f"https://shop.example.cn/p/P{n % 500}?utm_source={'baidu' if n % 3 else 'wechat'}",
                    "referrer": "https://www.baidu.com/s?wd=shop" if n % 5 else "",
                    "product": f"P{n % 500}",
                }
            )
        )
    return ("\n".join(lines) + "\n").encode()


def single_body() -> bytes:
    return json.dumps(
        {
            "type": "page_view",
            "visitor_id": "v-single",
            "session_id": "s-single",
            "url": "https://shop.example.cn/p/P1?utm_source=baidu",
            "referrer": "https://www.baidu.com/",
        }
    ).encode()


def loadgen(arguments: argparse.Namespace) -> None:
    port = arguments.port
    if arguments.loadgen == "batch":
        body = batch_body(arguments.batch, 0)
        request = _post(f"/collect/batch?k={SITE_KEY}", body, "application/x-ndjson")
        result = asyncio.run(_fixed_count(port, request, arguments.requests, arguments.clients))
    else:
        paths = {"single": f"/collect/e?k={SITE_KEY}", "bare": "/bench/bare", "bare-read": "/bench/bare-read"}
        path = paths[arguments.loadgen]
        request = _post(path, single_body(), "text/plain")
        result = asyncio.run(_fixed_time(port, request, arguments.seconds, arguments.connections))
    print(json.dumps(result), flush=True)


# The benchmark.


def _env(var: Path, database: str) -> dict[str, str]:
    env = {
        **os.environ,
        "SHOPOPS_VAR_DIR": str(var),
        "SHOPOPS_ANALYTICS_DIR": str(var / "analytics"),
        "DATABASE_URL": database,
        "DJANGO_SETTINGS_MODULE": "bench.bench_analytics_intake",
        "SHOPOPS_BENCH_INTAKE_SETTINGS": "1",
        "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}",
        "DEBUG": "0",
    }
    env.pop("SHOPOPS_COLLECT_KILL_AT", None)
    return env


def _run_loadgen(env: dict[str, str], *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_analytics_intake", *args],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _landed_count(analytics: Path) -> int:
    import pyarrow.parquet as pq

    total = 0
    for path in (analytics / "events").glob("day=*/*.parquet"):
        if not path.name.startswith("."):
            try:
                total += pq.ParquetFile(path).metadata.num_rows
            except OSError:
                pass
    return total


def _has_event(analytics: Path, event_id: str) -> bool:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    for path in (analytics / "events").glob("day=*/*.parquet"):
        if path.name.startswith("."):
            continue
        ids = pq.read_table(path, columns=["event_id"]).column("event_id")
        if pc.any(pc.equal(ids, event_id)).as_py():
            return True
    return False


def _dashboard_today(env: dict[str, str]) -> tuple[Any, Any]:
    """`(today, measures)`: Django set up in this process on the server's database and ANALYTICS_DIR."""
    for name in ("SHOPOPS_VAR_DIR", "SHOPOPS_ANALYTICS_DIR", "DATABASE_URL"):
        os.environ[name] = env[name]
    os.environ["DJANGO_SETTINGS_MODULE"] = "shopops.settings"
    import django

    django.setup()
    from django.utils import timezone

    from shopops.analytics.warehouse.rollups import measures

    return timezone.localdate(), measures


def _visibility(env: dict[str, str], port: int, size: int, repeats: int) -> list[float]:
    """(d) POST a batch of page_views of fresh visitors → seen by `rollups.measures` (the analytics loop
    running as `shopops serve` runs it)."""
    import http.client

    today, measures = _dashboard_today(env)

    def seen() -> tuple[int, int]:
        rows = measures(today, today)
        return (int(rows[0]["pv"]), int(rows[0]["visitors"])) if rows else (0, 0)

    loop = subprocess.Popen(
        [sys.executable, "-m", "shopops.cli", "analytics", "loop", "--every", "10"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    latencies: list[float] = []
    try:
        for attempt in range(repeats):
            time.sleep(1 + attempt * 3.3)  # POSTs at varied phases of the 10-second loop
            pv, visitors = seen()
            stamp = time.time_ns()
            now_ms = int(time.time() * 1000)
            body = (
                "\n".join(
                    json.dumps(
                        {
                            "type": "page_view",
                            "ts": now_ms - n,
                            "visitor_id": f"vis-{attempt}-{stamp}-{n}",
                            "session_id": f"ses-{attempt}-{stamp}-{n}",
                            "url": f"https://shop.example.cn/p/P{n % 50}?utm_source=baidu",
                        }
                    )
                    for n in range(size)
                )
                + "\n"
            ).encode()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            sent = time.perf_counter()
            connection.request(
                "POST",
                f"/collect/batch?k={SITE_KEY}",
                body=body,
                headers={"User-Agent": UA, "Content-Type": "application/x-ndjson"},
            )
            response = connection.getresponse()
            response.read()
            if response.status >= 300:
                raise RuntimeError(f"batch POST answered {response.status}")
            while True:
                now_pv, now_visitors = seen()
                if now_pv >= pv + size and now_visitors >= visitors + size:
                    break
                if loop.poll() is not None:
                    raise RuntimeError(f"analytics loop exited with {loop.returncode}")
                if time.perf_counter() - sent > 120:
                    raise TimeoutError("events not visible in rollups.measures within 120 s")
                time.sleep(0.1)
            latencies.append(time.perf_counter() - sent)
    finally:
        loop.terminate()
        loop.wait(timeout=60)
    return latencies


def _intake(
    arguments: argparse.Namespace, env: dict[str, str], port: int, analytics: Path, processes: list[Any]
) -> dict[str, Any]:
    """(a)–(c); the compactor it starts goes into `processes` (the caller stops it)."""
    # warm-up (site cache, imports, connections)
    _run_loadgen(env, "--loadgen", "single", "--port", str(port), "--seconds", "1", "--connections", "4")
    _run_loadgen(env, "--loadgen", "bare", "--port", str(port), "--seconds", "1", "--connections", "4")

    # (b) single event vs bare view: alternating rounds, best of each (other load on the machine
    # only ever slows a round down)
    runs: dict[str, list[dict[str, Any]]] = {"single": [], "bare": []}
    for _ in range(arguments.rounds):
        for mode in ("single", "bare"):
            runs[mode].append(
                _run_loadgen(
                    env,
                    "--loadgen",
                    mode,
                    "--port",
                    str(port),
                    "--seconds",
                    str(arguments.seconds),
                    "--connections",
                    str(arguments.connections),
                )
            )
    single = max(runs["single"], key=lambda run: float(run["rps"]))
    bare = max(runs["bare"], key=lambda run: float(run["rps"]))
    time.sleep(3)  # let the spool rotate
    subprocess.run(
        [sys.executable, "-m", "shopops.analytics.collect.compactor"],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    baseline = _landed_count(analytics)

    # (a) batch events/s, end to end
    requests = max(1, arguments.events // arguments.batch)
    total_events = requests * arguments.batch
    body_size = len(batch_body(arguments.batch, 0))
    compactor = subprocess.Popen(
        [sys.executable, "-m", "shopops.analytics.collect.compactor", "--every", "1"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    processes.append(compactor)
    clock = time.perf_counter()
    posted = _run_loadgen(
        env,
        "--loadgen",
        "batch",
        "--port",
        str(port),
        "--batch",
        str(arguments.batch),
        "--requests",
        str(requests),
        "--clients",
        str(arguments.clients),
    )
    post_seconds = time.perf_counter() - clock
    while _landed_count(analytics) - baseline < total_events:
        if time.perf_counter() - clock > 600:
            raise TimeoutError("events did not land within 10 minutes")
        time.sleep(0.1)
    end_to_end = time.perf_counter() - clock

    # (c) latency POST → visible in Parquet
    import http.client

    latencies: list[float] = []
    for attempt in range(3):
        event_id = f"latency-{attempt}-{time.time_ns()}"
        body = json.dumps(
            {
                "type": "page_view",
                "event_id": event_id,
                "visitor_id": "lat",
                "url": "https://s.cn/",
            }
        )
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        sent = time.perf_counter()
        connection.request("POST", f"/collect/e?k={SITE_KEY}", body=body, headers={"User-Agent": UA})
        assert connection.getresponse().status == 204
        while not _has_event(analytics, event_id):
            time.sleep(0.05)
        latencies.append(time.perf_counter() - sent)
    return {
        "runs": runs,
        "single": single,
        "bare": bare,
        "requests": requests,
        "total_events": total_events,
        "body_size": body_size,
        "posted": posted,
        "post_seconds": post_seconds,
        "end_to_end": end_to_end,
        "latencies": latencies,
    }


def _print_intake(arguments: argparse.Namespace, results: dict[str, Any], parquet_bytes: int) -> None:
    runs, single, bare = results["runs"], results["single"], results["bare"]
    total_events, requests, body_size = results["total_events"], results["requests"], results["body_size"]
    posted, post_seconds, end_to_end = results["posted"], results["post_seconds"], results["end_to_end"]
    latencies = results["latencies"]
    print(
        f"(a) batch endpoint, end to end to Parquet: {total_events:,} events in {requests:,} batches of "
        f"{arguments.batch} ({body_size / 1024:.0f} KiB NDJSON each), {arguments.clients} clients"
    )
    print(
        f"    statuses {posted['statuses']}; posting took {post_seconds:.2f} s "
        f"({total_events / post_seconds:,.0f} events/s accepted into the spool)"
    )
    print(
        f"    all in Parquet after {end_to_end:.2f} s → {total_events / end_to_end:,.0f} events/s end to end "
        f"(goal ≥ 50,000; ratio to goal {total_events / end_to_end / 50_000:.2f}); Parquet {parquet_bytes / 1e6:.1f} MB"
    )
    ratio = single["rps"] / bare["rps"]
    print(
        f"(b) single event POST /collect/e: {single['rps']:,.0f} req/s {single['statuses']}; "
        f"bare Django view POST /bench/bare: {bare['rps']:,.0f} req/s {bare['statuses']}; "
        f"{arguments.connections} connections, best of {arguments.rounds} alternating rounds of "
        f"{arguments.seconds:.0f} s (all rounds: collect "
        + ", ".join(f"{run['rps']:,.0f}" for run in runs["single"])
        + "; bare "
        + ", ".join(f"{run['rps']:,.0f}" for run in runs["bare"])
        + ")"
    )
    print(f"    ratio collect / bare = {ratio:.2f} (goal ≥ 0.5)")
    print(
        "(c) POST → visible in Parquet (spool rotation 2 s, compactor every 1 s): "
        + ", ".join(f"{value:.1f} s" for value in latencies)
        + " (goal ≤ 30 s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3, help="alternating single/bare rounds (best of each)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--only", choices=("visibility",), help="run one measurement alone")
    parser.add_argument("--visibility-events", type=int, default=200, help="(d) page_views per batch")
    parser.add_argument("--loadgen", choices=("batch", "single", "bare", "bare-read"))
    parser.add_argument("--port", type=int)
    parser.add_argument("--requests", type=int)
    arguments = parser.parse_args()
    if arguments.loadgen:
        loadgen(arguments)
        return

    from bench.common import machine

    sys.path.insert(0, str(ROOT / "src"))
    from shopops.analytics.collect.testing import free_port, granian_server, wait_for_port

    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as scratch:
        var = Path(scratch) / "var"
        var.mkdir()
        env = _env(var, f"sqlite:///{Path(scratch) / 'bench.sqlite3'}")
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "django", "migrate", "--verbosity", "0"], env=env, cwd=ROOT, check=True
        )
        setup = (
            "from shopops.channels.models import Shop; from shopops.analytics.models import CollectSite;"
            "shop = Shop.objects.create(code='bench-web', name='官网', platform='own');"
            f"CollectSite.objects.create(shop=shop, name='官网', key='{SITE_KEY}')"
        )
        subprocess.run(
            [sys.executable, "-m", "django", "shell", "--no-imports", "-c", setup],
            env=env,
            cwd=ROOT,
            check=True,
        )
        print(f"setup (migrate + site): {time.perf_counter() - started:.1f} s")
        analytics = var / "analytics"
        port = free_port()
        server = granian_server(port=port, env=env, workers=arguments.workers, threads=arguments.threads)
        processes: list[Any] = []
        try:
            wait_for_port(port, timeout=60, process=server)
            print(
                f"server: granian WSGI, {arguments.workers} worker(s) × {arguments.threads} threads; "
                "load: asyncio raw keep-alive HTTP/1.1 client in a separate process"
            )
            results: dict[str, Any] = {}
            if arguments.only is None:
                results = _intake(arguments, env, port, analytics, processes)
            # (d) POST → visible in the dashboard's numbers, with the analytics loop as `shopops serve` runs it
            while processes:
                stopping = processes.pop()
                stopping.terminate()
                stopping.wait()
            visible = _visibility(env, port, arguments.visibility_events, 3)
        finally:
            for process in processes:
                process.terminate()
                process.wait()
            server.terminate()
            server.wait(timeout=30)
        parquet_bytes = sum(p.stat().st_size for p in (analytics / "events").glob("day=*/*.parquet"))

    print()
    if results:
        _print_intake(arguments, results, parquet_bytes)
    ordered = sorted(visible)
    print(
        f"(d) POST → visible in rollups.measures(today, today) (batch of {arguments.visibility_events} page_views "
        "of fresh visitors; analytics loop `python -m shopops.cli analytics loop --every 10` as `shopops serve` "
        f"starts it): {', '.join(f'{value:.1f} s' for value in visible)} → min {ordered[0]:.1f} s, "
        f"median {ordered[len(ordered) // 2]:.1f} s, max {ordered[-1]:.1f} s (goal ≤ 30 s; ratio max/goal "
        f"{ordered[-1] / 30:.2f})"
    )


if __name__ == "__main__":
    main()
