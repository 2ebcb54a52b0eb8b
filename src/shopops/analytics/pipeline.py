"""The analytics pipeline: compact collected events, sync the facts, re-roll the affected days — one at a time."""

from __future__ import annotations

import datetime as dt
import fcntl
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from shopops.analytics.warehouse import facts, rollups, tables

logger = logging.getLogger(__name__)


@contextmanager
def pipeline_lock(*, wait: bool) -> Iterator[bool]:
    """An exclusive file lock (across processes: the Huey task, `shopops analytics loop`, the CLI)."""
    folder = tables.analytics_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".pipeline.lock", "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _compact() -> set[dt.date]:
    try:
        from shopops.analytics.collect import compactor
    except ImportError:  # collection not installed in this build
        return set()
    return set(compactor.compact())


def run_once(*, wait: bool = False, full_sync: bool | None = None) -> dict[str, Any]:
    """Compactor → facts sync → rollup refresh of the affected days. Returns what it did.

    `full_sync` None: a full reconciliation of the facts once a day, incremental otherwise. When
    another run holds the lock and `wait` is False, returns at once with `skipped`.
    """
    started = time.perf_counter()
    with pipeline_lock(wait=wait) as locked:
        if not locked:
            return {"skipped": True}
        event_days = _compact()
        full = facts.reconcile_due() if full_sync is None else full_sync
        fact_days = facts.sync(full=full)
        refreshed = rollups.refresh(event_days | fact_days) if event_days or fact_days else set()
    result = {
        "skipped": False,
        "event_days": sorted(event_days),
        "fact_days": sorted(fact_days),
        "refreshed_days": len(refreshed),
        "full_sync": full,
        "seconds": round(time.perf_counter() - started, 3),
    }
    if event_days or fact_days:
        logger.info("analytics pipeline: %s", result)
    return result


def rebuild() -> dict[str, Any]:
    """Compact, sync every fact day, and rebuild every rollup from scratch."""
    with pipeline_lock(wait=True):
        _compact()
        facts.sync(full=True)
        days = rollups.rebuild()
    return {"days": len(days)}


def status() -> dict[str, Any]:
    root = tables.analytics_dir()
    state = facts.load_state()
    sizes: dict[str, int] = {}
    for name in ("events", "facts", "rollups"):
        folder = root / name
        sizes[name] = (
            sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0
        )
    spool = root / "spool"
    pending = sum(1 for p in spool.rglob("*") if p.is_file()) if spool.exists() else 0
    return {
        "analytics_dir": str(root),
        "rollups": rollups.status(),
        "facts_state": {k: v for k, v in state.items() if not k.endswith("_hashes")},
        "bytes": sizes,
        "spool_files": pending,
        "event_days": len(tables.parquet_files("events")),
    }


def loop(every: float, *, stop: Any = None) -> None:
    """Run forever (or until `stop()` is true), one pass every `every` seconds."""
    while stop is None or not stop():
        began = time.monotonic()
        try:
            run_once(wait=False)
        except Exception:  # a bad pass must not end the loop; the next one retries
            logger.exception("analytics pipeline pass failed")
        while (stop is None or not stop()) and time.monotonic() - began < every:
            time.sleep(min(0.5, every))
