"""Spool segments → `events/day=YYYY-MM-DD/part-NNNNN.parquet`, exactly once, whatever crashes.

One compactor at a time (flock on `spool/.compactor.lock`). A run:

1. removes temporary files a crashed run left (`events/day=*/.*.tmp`);
2. claims the segments: every `.ready` one, and every `.open` one whose writer's flock is free (the
   process died; its last line may be torn and is ignored — it was never acknowledged, since the write
   that tore is the one the process died in);
3. reads them (pyarrow's JSON reader), keeps the first line of each `event_id`, and drops the ids that
   already landed in that day's Parquet files;
4. per day, appends the new rows to the day's tail part: the tail (or a new part when the tail holds
   TAIL_MAX_ROWS) is rewritten to a temporary file, fsynced and renamed over the old name — a reader
   sees either the old part or the new one, never both, never half;
5. fsyncs the day folders, and only then deletes the segments.

Why nothing is lost or duplicated: a segment is deleted only after its rows are durable in Parquet
(step 5 after 4). A crash before that leaves the segment, and the re-run reads it again; its rows that
already landed are filtered out by event_id (step 3), so the re-run adds exactly the missing ones. The
part names are deterministic (the day's tail), so no run can leave an extra copy behind; a temporary
file is never read. Event ids are unique across the dataset: a client retry of an acknowledged event
(same event_id) is dropped here too.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import io
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from shopops.analytics.collect import spool
from shopops.analytics.collect.schema import EVENTS_SCHEMA
from shopops.analytics.collect.spool import OPEN, READY, crash_point, fsync_dir, try_lock

TAIL_MAX_ROWS = 50_000  # a tail this small is cheap to rewrite; bigger appends start a new part
GROUP_MAX_BYTES = 256 * 1024 * 1024
PART_PREFIX = "part-"
ID_CACHE_PARTS = 64  # parts whose event ids a long-running compactor keeps in memory (recently used)

# The spool line as pyarrow reads it, before the casts to the Parquet schema.
RAW_SCHEMA = pa.schema(
    [
        (
            f.name,
            pa.int64()
            if f.name in ("ts", "received_at")
            else pa.string()
            if f.name in ("day", "amount")
            else f.type,
        )
        for f in EVENTS_SCHEMA
    ]
)


@dataclass
class Claimed:
    path: Path
    fd: int | None = None  # the flock held on a dead writer's .open segment


@dataclass
class CompactionReport:
    days: set[dt.date] = field(default_factory=set)
    segments: int = 0
    lines: int = 0
    written: int = 0
    duplicates: int = 0
    torn: int = 0


def events_dir(root: Path | None = None) -> Path:
    return (root or spool.analytics_dir()) / "events"


@contextlib.contextmanager
def compactor_lock(wait: bool = True) -> Iterator[bool]:
    folder = spool.spool_dir()
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / ".compactor.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
    try:
        if wait:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield True
        else:
            yield try_lock(fd)
    finally:
        os.close(fd)


def compact(now: dt.datetime | None = None, *, wait: bool = True) -> set[dt.date]:
    """Compact every closed or orphaned segment; the days whose Parquet changed.

    This process's own current segment is closed first when it is older than the spool's max age. `now`
    is accepted for the job signature; segments are taken by state (ready, or orphaned), not by time.
    """
    return run(now, wait=wait).days


def run(now: dt.datetime | None = None, *, wait: bool = True) -> CompactionReport:
    current = spool._writer
    if current is not None and current.pid == os.getpid() and current.folder == spool.spool_dir():
        current.rotate_if_old()
    report = CompactionReport()
    with compactor_lock(wait) as locked:
        if not locked:
            return report
        _remove_temporaries()
        claimed = _claim()
        try:
            for group in _groups(claimed):
                _compact_group(group, report)
        finally:
            for item in claimed:
                if item.fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(item.fd)
    return report


def _remove_temporaries() -> None:
    folder = events_dir()
    if not folder.is_dir():
        return
    for path in folder.glob("day=*/.*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _claim() -> list[Claimed]:
    claimed: list[Claimed] = []
    for path in spool.segments():
        if path.suffix == READY:
            claimed.append(Claimed(path))
            continue
        assert path.suffix == OPEN
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:  # rotated meanwhile: the next run takes the .ready
            continue
        if try_lock(fd):
            if path.exists():  # the writer did not rename it just before unlocking
                claimed.append(Claimed(path, fd))
                continue
        os.close(fd)
    return claimed


def _groups(claimed: list[Claimed]) -> Iterator[list[Claimed]]:
    group: list[Claimed] = []
    size = 0
    for item in claimed:
        try:
            item_size = item.path.stat().st_size
        except FileNotFoundError:
            continue
        if group and size + item_size > GROUP_MAX_BYTES:
            yield group
            group, size = [], 0
        group.append(item)
        size += item_size
    if group:
        yield group


def _read_group(group: list[Claimed], report: CompactionReport) -> pa.Table | None:
    chunks: list[bytes] = []
    for item in group:
        data = item.path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            report.torn += 1  # an unterminated last line: the writer died inside that write()
        if end:
            chunks.append(data[:end])
    report.segments += len(group)
    if not chunks:
        return None
    data = b"".join(chunks)
    try:
        raw = pa_json.read_json(
            io.BytesIO(data),
            read_options=pa_json.ReadOptions(block_size=16 * 1024 * 1024),
            parse_options=pa_json.ParseOptions(
                explicit_schema=RAW_SCHEMA, unexpected_field_behavior="ignore", newlines_in_values=False
            ),
        )
    except pa.ArrowInvalid:
        raw = _read_lenient(data, report)
    report.lines += raw.num_rows
    return _to_events(raw)


def _read_lenient(data: bytes, report: CompactionReport) -> pa.Table:
    """Line by line, skipping lines that do not parse (never written by us; a damaged disk block)."""
    good: list[bytes] = []
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            pa_json.read_json(
                io.BytesIO(line + b"\n"),
                parse_options=pa_json.ParseOptions(
                    explicit_schema=RAW_SCHEMA, unexpected_field_behavior="ignore"
                ),
            )
        except pa.ArrowInvalid:
            report.torn += 1
            continue
        good.append(line + b"\n")
    if not good:
        return RAW_SCHEMA.empty_table()
    return pa_json.read_json(
        io.BytesIO(b"".join(good)),
        parse_options=pa_json.ParseOptions(explicit_schema=RAW_SCHEMA, unexpected_field_behavior="ignore"),
    )


def _to_events(raw: pa.Table) -> pa.Table:
    columns = []
    for name in EVENTS_SCHEMA.names:
        column = raw.column(name)
        target = EVENTS_SCHEMA.field(name).type
        if column.type != target:
            column = pc.cast(column, target)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=EVENTS_SCHEMA)


def _first_per_id(table: pa.Table) -> pa.Table:
    """Keep the first row of each event_id (a retried request spooled twice), in input order."""
    if table.num_rows == 0:
        return table
    ids = table.column("event_id")
    unique = pc.unique(ids)
    if len(unique) == table.num_rows:
        return table
    firsts = pc.index_in(unique, value_set=ids)  # the index of each id's first occurrence
    return table.take(pc.take(firsts, pc.sort_indices(firsts)))


def day_folder(day: dt.date, root: Path | None = None) -> Path:
    return events_dir(root) / f"day={day.isoformat()}"


def day_parts(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob(f"{PART_PREFIX}*.parquet") if not p.name.startswith("."))


_id_cache: dict[Path, tuple[tuple[int, int, int], pa.ChunkedArray]] = {}


def _part_ids(part: Path) -> pa.ChunkedArray:
    """The event_id column of one part, cached by (inode, mtime, size): a part changes only by a rename over it,
    under the compactor lock, so a long-running compactor re-reads only the day's tail."""
    stat = part.stat()
    signature = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
    cached = _id_cache.get(part)
    if cached is not None and cached[0] == signature:
        _id_cache[part] = _id_cache.pop(part)  # most recently used last
        return cached[1]
    ids = pq.read_table(part, columns=["event_id"]).column("event_id")
    _id_cache[part] = (signature, ids)
    while len(_id_cache) > ID_CACHE_PARTS:
        _id_cache.pop(next(iter(_id_cache)))
    return ids


def landed_ids(day: dt.date, root: Path | None = None) -> pa.Array:
    """The event ids already in that day's Parquet."""
    parts = day_parts(day_folder(day, root))
    if not parts:
        return pa.array([], type=pa.string())
    chunks = [chunk for part in parts for chunk in _part_ids(part).chunks]
    return pa.chunked_array(chunks, type=pa.string()).combine_chunks()


def _compact_group(group: list[Claimed], report: CompactionReport) -> None:
    table = _read_group(group, report)
    if table is not None and table.num_rows:
        unique = _first_per_id(table)
        report.duplicates += table.num_rows - unique.num_rows
        days = pc.unique(unique.column("day")).to_pylist()
        for day in sorted(days):
            rows = unique.filter(pc.equal(unique.column("day"), pa.scalar(day, pa.date32())))
            landed = landed_ids(day)
            if len(landed):
                fresh = rows.filter(pc.invert(pc.is_in(rows.column("event_id"), value_set=landed)))
                report.duplicates += rows.num_rows - fresh.num_rows
                rows = fresh
            if rows.num_rows:
                _append_day(day, rows)
                report.written += rows.num_rows
                report.days.add(day)
    crash_point("compact.before_delete")
    for item in group:
        with contextlib.suppress(FileNotFoundError):
            item.path.unlink()
        crash_point("compact.after_delete_one")
    fsync_dir(spool.spool_dir())


def _append_day(day: dt.date, rows: pa.Table) -> None:
    folder = day_folder(day)
    folder.mkdir(parents=True, exist_ok=True)
    rows = rows.sort_by([("ts", "ascending")])
    parts = day_parts(folder)
    if parts and pq.ParquetFile(parts[-1]).metadata.num_rows < TAIL_MAX_ROWS:
        target = parts[-1]
        rows = pa.concat_tables([pq.read_table(target, schema=EVENTS_SCHEMA), rows])
    else:
        number = int(parts[-1].stem.removeprefix(PART_PREFIX)) + 1 if parts else 0
        target = folder / f"{PART_PREFIX}{number:05d}.parquet"
    temporary = folder / f".{target.name}.{os.getpid()}.tmp"
    pq.write_table(rows, temporary, compression="zstd", row_group_size=128 * 1024)
    crash_point("compact.after_write_tmp")
    fd = os.open(temporary, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, target)
    crash_point("compact.after_rename")
    fsync_dir(folder)
    fsync_dir(folder.parent)


def wait_idle(timeout: float = 10.0) -> None:  # pragma: no cover - a helper for scripts
    """Block until no compactor runs (for scripts that read Parquet right after writing)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with compactor_lock(wait=False) as locked:
            if locked:
                return
        time.sleep(0.05)


def main() -> None:  # pragma: no cover - run as `python -m shopops.analytics.collect.compactor`
    """Compact once (or every N seconds with --every N) and print what was done."""
    import argparse
    import json

    parser = argparse.ArgumentParser(description="spool segments → events Parquet")
    parser.add_argument("--every", type=float, default=0.0, help="repeat every N seconds")
    arguments = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shopops.settings")  # settings only: no apps, no DB
    while True:
        report = run()
        summary = {
            "days": sorted(day.isoformat() for day in report.days),
            "segments": report.segments,
            "lines": report.lines,
            "written": report.written,
            "duplicates": report.duplicates,
            "torn": report.torn,
        }
        if report.segments or not arguments.every:
            sys.stdout.write(json.dumps(summary) + "\n")
            sys.stdout.flush()
        if not arguments.every:
            return
        if not report.segments:  # busy: go on at once; idle: wait
            time.sleep(arguments.every)


if __name__ == "__main__":  # pragma: no cover
    main()
