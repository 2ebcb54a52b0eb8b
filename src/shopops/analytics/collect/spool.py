"""Spool segments: the durable, append-only intake between an accepted request and Parquet.

Each process appends to its own current segment `spool/<host>-<pid>-<start>-<token>.<seq>.open`, holding
an exclusive `flock` on it for as long as it writes there. A request's events are appended with one
`write()` of whole NDJSON lines BEFORE the response is sent, so once a client has its 2xx the lines are in
the kernel's page cache: they survive a kill -9 of the process (not a power loss — see `FSYNC`).

A segment is closed when it passes MAX_BYTES or MAX_AGE seconds (checked on append and by a small
background thread, so an idle process still hands its last events over): fsync, rename `.open` →
`.ready`, fsync of the folder. The segment of a process that died is still `.open`, but its flock is free
— that is how the compactor tells it from a live one (no pid guessing), and why a torn last line can only
appear at the end of a dead process's segment.

Settings (all optional; the first two also as environment variables SHOPOPS_ANALYTICS_SPOOL_MAX_BYTES /
SHOPOPS_ANALYTICS_SPOOL_MAX_AGE): ANALYTICS_SPOOL_MAX_BYTES (default 32 MiB), ANALYTICS_SPOOL_MAX_AGE (seconds,
default 2), ANALYTICS_SPOOL_FSYNC (default False: fsync at rotation only; True: fsync every append before
the response, power-loss safe and much slower).

Crash points for the crash-safety tests: SHOPOPS_COLLECT_KILL_AT="name" (or "name@N", the N-th time)
makes the process SIGKILL itself at `crash_point(name)`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings

OPEN = ".open"
READY = ".ready"
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
DEFAULT_MAX_AGE = 2.0
STAT_NAMES = ("accepted", "rejected", "bots", "dnt_dropped", "consent_dropped", "requests")

_crash_hits: Counter[str] = Counter()
_KILL_AT = os.environ.get("SHOPOPS_COLLECT_KILL_AT", "")  # read once: crash_point runs on every append


def crash_point(name: str) -> None:
    """Kill this process with SIGKILL here when SHOPOPS_COLLECT_KILL_AT names this point (tests only)."""
    target = _KILL_AT
    if not target:
        return
    point, _, nth = target.partition("@")
    if point != name:
        return
    _crash_hits[name] += 1
    if _crash_hits[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)


def _setting(name: str, default: float) -> float:
    """A Django setting, else the environment variable SHOPOPS_<name>, else the default."""
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(f"SHOPOPS_{name}") or default
    return float(value)


def analytics_dir() -> Path:
    return Path(settings.ANALYTICS_DIR)


def spool_dir() -> Path:
    return analytics_dir() / "spool"


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class SpoolWriter:
    """The current segment of this process. Thread-safe; re-created after a fork."""

    def __init__(self, directory: Path | None = None, *, prefix: str = "") -> None:
        self.root_setting = settings.ANALYTICS_DIR
        self.directory = directory or spool_dir()
        self.limit_bytes = DEFAULT_MAX_BYTES
        self.limit_age = DEFAULT_MAX_AGE
        self.fsync_each = False
        self.prefix = prefix
        self.pid = os.getpid()
        self.name = (
            f"{prefix}{socket.gethostname().replace('-', '_').replace('.', '_')[:20]}-{self.pid}-"
            f"{time.time_ns()}-{secrets.token_hex(3)}"
        )
        self.sequence = 0
        self.fd: int | None = None
        self.path: Path | None = None
        self.size = 0
        self.opened_at = 0.0
        self.lock = threading.Lock()
        self.stats: Counter[str] = Counter()
        self._stats_dirty = False
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def folder(self) -> Path:
        return self.directory

    def max_bytes(self) -> int:
        return int(_setting("ANALYTICS_SPOOL_MAX_BYTES", DEFAULT_MAX_BYTES))

    def max_age(self) -> float:
        return float(_setting("ANALYTICS_SPOOL_MAX_AGE", DEFAULT_MAX_AGE))

    def _open(self) -> int:
        folder = self.folder
        folder.mkdir(parents=True, exist_ok=True)
        self.sequence += 1
        path = folder / f"{self.name}.{self.sequence:06d}{OPEN}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o640)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.fd, self.path, self.size, self.opened_at = fd, path, 0, time.monotonic()
        # settings read once per segment, not per request
        self.limit_bytes, self.limit_age = self.max_bytes(), self.max_age()
        self.fsync_each = bool(getattr(settings, "ANALYTICS_SPOOL_FSYNC", False))
        if self._thread is None and self.max_age() > 0:
            self._thread = threading.Thread(target=self._tick, name="spool-rotate", daemon=True)
            self._thread.start()
        return fd

    def append(self, data: bytes) -> None:
        """Append whole NDJSON lines (one write); durable against a kill -9 when this returns."""
        if not data:
            return
        with self.lock:
            fd = self.fd if self.fd is not None else self._open()
            written = os.write(fd, data)
            while written < len(data):  # a regular file only writes short on a full disk or a signal
                written += os.write(fd, data[written:])
            if self.fsync_each:
                os.fdatasync(fd)
            self.size += written
            if _KILL_AT:
                crash_point("spool.after_write")
            if self.size >= self.limit_bytes or time.monotonic() - self.opened_at >= self.limit_age:
                self._rotate()

    def count(self, name: str, n: int = 1) -> None:
        self.stats[name] += n
        self._stats_dirty = True

    def _rotate(self) -> None:
        """Close the current segment: fsync, rename to .ready, fsync the folder (caller holds the lock)."""
        if self.fd is None or self.path is None:
            return
        fd, path = self.fd, self.path
        self.fd, self.path = None, None
        os.fsync(fd)
        crash_point("spool.before_ready")
        os.rename(path, path.with_suffix(READY))
        os.close(fd)
        fsync_dir(path.parent)
        self._write_stats()

    def rotate(self) -> None:
        with self.lock:
            self._rotate()

    def rotate_if_old(self, now: float | None = None) -> None:
        with self.lock:
            if self.fd is not None and (now or time.monotonic()) - self.opened_at >= self.max_age():
                self._rotate()

    def _write_stats(self) -> None:
        if not self._stats_dirty:
            return
        self._stats_dirty = False
        folder = self.folder / "stats"
        folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / f".{self.name}.tmp"
        temporary.write_text(json.dumps(dict(self.stats)))
        os.replace(temporary, folder / f"{self.name}.json")

    def _tick(self) -> None:
        while not self._stop.wait(min(1.0, max(self.max_age() / 4, 0.05))):
            if os.getpid() != self.pid:
                return
            try:
                self.rotate_if_old()
                with self.lock:
                    self._write_stats()
            except OSError:  # pragma: no cover - disk full or folder removed; next tick retries
                pass

    def close(self) -> None:
        self._stop.set()
        self.rotate()
        with self.lock:
            self._write_stats()


_writer: SpoolWriter | None = None
_writer_lock = threading.Lock()


def writer() -> SpoolWriter:
    """This process's writer (a new one after a fork, or after ANALYTICS_DIR changed in tests)."""
    global _writer
    current = _writer
    root = settings.ANALYTICS_DIR
    if current is not None and current.root_setting is root and current.pid == os.getpid():
        return current
    with _writer_lock:
        current = _writer
        if current is None or current.pid != os.getpid() or current.folder != spool_dir():
            if current is not None and current.pid == os.getpid():
                current.close()
            current = SpoolWriter()
            _writer = current
        current.root_setting = root
        return current


def flush() -> None:
    """Close this process's current segment now (tests, the access-log import, shutdown)."""
    if _writer is not None and _writer.pid == os.getpid():
        _writer.rotate()
        with _writer.lock:
            _writer._write_stats()


def stats(directory: Path | None = None) -> dict[str, int]:
    """The intake counters of every process that ever wrote here (cumulative)."""
    total: Counter[str] = Counter(dict.fromkeys(STAT_NAMES, 0))
    folder = (directory or spool_dir()) / "stats"
    if _writer is not None and _writer.pid == os.getpid():
        with _writer.lock:
            _writer._write_stats()
    for path in folder.glob("*.json") if folder.is_dir() else ():
        with contextlib.suppress(OSError, ValueError):
            total.update(json.loads(path.read_text()))
    return dict(total)


def segments(directory: Path | None = None) -> Iterator[Path]:
    folder = directory or spool_dir()
    if not folder.is_dir():
        return iter(())
    return iter(sorted(p for p in folder.iterdir() if p.suffix in (OPEN, READY) and p.is_file()))
