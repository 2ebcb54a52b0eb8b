"""Where the rollups live: one Parquet file per rollup table and day, written atomically, plus a version.

Readers (the web server) never open the writer's DuckDB file, so they never meet its lock: they read
``rollups/<table>/day=YYYY-MM-DD.parquet`` with pyarrow and cache what they read, keyed by the
store version that every refresh bumps last.
"""

from __future__ import annotations

import os
import threading
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pyroaring import BitMap, BitMap64

from shopops.analytics.warehouse import tables

ROLLUP_TABLES = (
    "traffic",
    "traffic_product",
    "traffic_sets",
    "traffic_product_sets",
    "orders",
    "order_sets",
    "marketing",
    "platform",
)


def rollups_dir(root: Path | None = None) -> Path:
    return (root if root is not None else tables.analytics_dir()) / "rollups"


def day_file(table: str, day: date, root: Path | None = None) -> Path:
    return rollups_dir(root) / table / f"day={day.isoformat()}.parquet"


def write_atomic(table: pa.Table, path: Path, *, durable: bool = False) -> None:
    """Write a Parquet file beside its final name and rename it over: readers see old or new, whole.

    `durable` also fsyncs before the rename (facts, whose sync state moves on after them); rollups
    skip it: a power cut at worst loses files that `rebuild` makes again.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    pq.write_table(table, temporary, compression="zstd")
    if durable:
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
    os.replace(temporary, path)


def version_file(root: Path | None = None) -> Path:
    return rollups_dir(root) / "VERSION"


def read_version(root: Path | None = None) -> int:
    try:
        return int(version_file(root).read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def bump_version(root: Path | None = None) -> int:
    version = read_version(root) + 1
    path = version_file(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.parent / f".VERSION.{uuid.uuid4().hex}.tmp"
    temporary.write_text(str(version))
    os.replace(temporary, path)
    return version


def stored_days(table: str, root: Path | None = None) -> list[date]:
    folder = rollups_dir(root) / table
    if not folder.exists():
        return []
    return sorted(
        date.fromisoformat(p.name[4:14]) for p in folder.glob("day=*.parquet") if not p.name.startswith(".")
    )


@dataclass
class DayData:
    """One day of one rollup table as read: the rows, and for set tables the bitmaps (lazy)."""

    mtime_ns: int
    table: pa.Table
    wide: bool = False
    row_index: list[tuple[Any, ...]] | None = None
    _bitmaps: dict[int, Any] = field(default_factory=dict)
    _columns: dict[str, list[Any]] = field(default_factory=dict)

    def column(self, name: str) -> list[Any]:
        """A column as Python values, converted once."""
        found = self._columns.get(name)
        if found is None:
            found = self._columns[name] = self.table.column(name).to_pylist()
        return found

    def bitmap(self, row: int) -> Any:
        """The row's bitmap: BitMap (dense int32 ids) or BitMap64 (buyers)."""
        found = self._bitmaps.get(row)
        if found is None:
            kind = BitMap64 if self.wide else BitMap
            found = kind.deserialize(self.table.column("bitmap")[row].as_py())
            self._bitmaps[row] = found
        return found


class Reader:
    """In-process cache of the rollup files, re-checked when the store version changes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.version = -1
        self.lock = threading.Lock()
        self.days: dict[tuple[str, date], DayData | None] = {}
        self.memo: dict[Any, Any] = {}

    def refresh(self) -> int:
        version = read_version(self.root)
        if version != self.version:
            with self.lock:
                for key, data in list(self.days.items()):
                    path = day_file(key[0], key[1], self.root)
                    try:
                        mtime = path.stat().st_mtime_ns
                    except FileNotFoundError:
                        mtime = -1
                    if data is None or data.mtime_ns != mtime:
                        del self.days[key]
                self.memo.clear()
                self.version = version
        return version

    def day(self, table: str, day: date) -> DayData | None:
        key = (table, day)
        if key in self.days:
            return self.days[key]
        path = day_file(table, day, self.root)
        try:
            mtime = path.stat().st_mtime_ns
            data: DayData | None = DayData(mtime, pq.read_table(path), wide=table == "order_sets")
        except FileNotFoundError:
            data = None
        self.days[key] = data
        return data


_readers: dict[Path, Reader] = {}
_readers_lock = threading.Lock()


def reader(root: Path | None = None) -> Reader:
    path = (root if root is not None else tables.analytics_dir()).resolve()
    with _readers_lock:
        found = _readers.get(path)
        if found is None:
            found = _readers[path] = Reader(path)
    found.refresh()
    return found
