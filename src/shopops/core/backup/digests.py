"""Row counts and a deterministic checksum of every table, the same function before backup and after restore.

A table's checksum is the sha256 of its rows read in primary-key order, each value written in one
canonical text form. Both sides read with the same driver (sqlite3 on a database file, psycopg through
Django on PostgreSQL), so equal data gives equal digests; the manifest keeps them per table.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

BATCH = 2000


@dataclass(frozen=True)
class TableDigest:
    rows: int
    sha256: str


def _text(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, bytes | bytearray | memoryview):
        return "x" + bytes(value).hex()
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return str(value)


def _digest(rows: Iterable[tuple[Any, ...]]) -> TableDigest:
    hasher = hashlib.sha256()
    count = 0
    for row in rows:
        hasher.update("\x1f".join(_text(value) for value in row).encode("utf-8", "surrogatepass"))
        hasher.update(b"\x1e")
        count += 1
    return TableDigest(count, hasher.hexdigest())


def _fetch_all(cursor: Any) -> Iterable[tuple[Any, ...]]:
    while True:
        batch = cursor.fetchmany(BATCH)
        if not batch:
            return
        yield from batch


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sqlite_file_digests(path: str) -> dict[str, TableDigest]:
    """Every table of a SQLite database file (read-only, plain sqlite3: no Django type converters)."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        cursor = connection.cursor()
        tables = [
            name
            for (name,) in cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            ).fetchall()
        ]
        digests = {}
        for table in tables:
            columns = cursor.execute(f"PRAGMA table_info({_quote(table)})").fetchall()
            keys = [column[1] for column in sorted(columns, key=lambda column: column[5]) if column[5]]
            order = ", ".join(_quote(key) for key in keys) if keys else "rowid"
            cursor.execute(f"SELECT * FROM {_quote(table)} ORDER BY {order}")  # noqa: S608 - names from the schema
            digests[table] = _digest(_fetch_all(cursor))
        return digests
    finally:
        connection.close()


def postgres_digests(cursor: Any) -> dict[str, TableDigest]:
    """Every table of the current schema, read through `cursor` (inside the caller's snapshot)."""
    cursor.execute(
        "SELECT table_name FROM information_schema.tables"
        " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name"
    )
    tables = [name for (name,) in cursor.fetchall()]
    digests = {}
    for table in tables:
        cursor.execute(
            "SELECT a.attname FROM pg_index i"
            " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
            " WHERE i.indrelid = %s::regclass AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)",
            [_quote(table)],
        )
        keys = [name for (name,) in cursor.fetchall()]
        if keys:
            order = ", ".join(_quote(key) for key in keys)
        else:
            cursor.execute(f"SELECT * FROM {_quote(table)} LIMIT 0")  # noqa: S608 - names from the schema
            order = ", ".join(str(position) for position in range(1, len(cursor.description) + 1))
        cursor.execute(f"SELECT * FROM {_quote(table)} ORDER BY {order}")  # noqa: S608 - names from the schema
        digests[table] = _digest(_fetch_all(cursor))
    return digests


def as_manifest(digests: dict[str, TableDigest]) -> dict[str, dict[str, Any]]:
    return {
        table: {"rows": digest.rows, "sha256": digest.sha256} for table, digest in sorted(digests.items())
    }


def compare(expected: dict[str, dict[str, Any]], actual: dict[str, TableDigest]) -> list[str]:
    """What differs between the manifest's tables and a database's; [] when every table matches."""
    problems = []
    for table in sorted(set(expected) | set(actual)):
        if table not in actual:
            problems.append(f"表 {table} 缺失（备份中 {expected[table]['rows']} 行）")
            continue
        if table not in expected:
            problems.append(f"表 {table} 不在备份清单中（{actual[table].rows} 行）")
            continue
        want, got = expected[table], actual[table]
        if want["rows"] != got.rows:
            problems.append(f"表 {table} 行数不一致：备份 {want['rows']}，恢复后 {got.rows}")
        elif want["sha256"] != got.sha256:
            problems.append(f"表 {table} 校验和不一致（行数相同 {got.rows}）")
    return problems
