"""Which backups the schedule keeps: the newest of each of the last N days and of each of the last M weeks."""

from __future__ import annotations

import datetime as dt
import shutil
import time
from pathlib import Path

from shopops.core.backup import archive


def _created(path: Path) -> dt.datetime | None:
    stem = path.name.removeprefix(archive.NAME_PREFIX).split(".", 1)[0]
    stamp, number = stem[:15], stem[15:]  # "YYYYmmdd-HHMMSS", then "" or "-2", "-3"… (same second)
    if number and not (number.startswith("-") and number[1:].isdigit()):
        return None
    try:
        return dt.datetime.strptime(stamp, archive.NAME_FORMAT).replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def to_keep(paths: list[Path], *, daily: int, weekly: int) -> set[Path]:
    """The archives to keep; archives not named by the schedule (a person's FILE) are always kept."""
    dated = sorted(((created, path) for path in paths if (created := _created(path))), reverse=True)
    keep = {path for path in paths if _created(path) is None}
    days: set[dt.date] = set()
    weeks: set[tuple[int, int]] = set()
    for created, path in dated:
        day = created.date()
        week = tuple(day.isocalendar())[:2]
        if day not in days and len(days) < daily:
            days.add(day)
            keep.add(path)
        if week not in weeks and len(weeks) < weekly:
            weeks.add(week)  # type: ignore[arg-type]
            keep.add(path)
    return keep


# what a backup killed mid-way leaves behind (hidden, never listed as a backup), removed once surely dead
STALE_AFTER_SECONDS = 24 * 3600


def _remove_leftovers(folder: Path) -> None:
    if not folder.is_dir():
        return
    cutoff = time.time() - STALE_AFTER_SECONDS
    for path in folder.iterdir():
        is_partial = path.name.startswith(".") and path.name.endswith(archive.PARTIAL_SUFFIX)
        is_workdir = path.name.startswith(".shopops-backup-") and path.is_dir()
        if (is_partial or is_workdir) and path.stat().st_mtime < cutoff:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def prune(*, daily: int, weekly: int) -> list[Path]:
    """Delete the archives the schedule no longer keeps (and day-old leftovers of killed backups)."""
    _remove_leftovers(archive.backup_dir())
    paths = archive.archives()
    keep = to_keep(paths, daily=daily, weekly=weekly)
    deleted = []
    for path in paths:
        if path not in keep:
            path.unlink(missing_ok=True)
            archive.summary_path(path).unlink(missing_ok=True)
            deleted.append(path)
    return deleted
