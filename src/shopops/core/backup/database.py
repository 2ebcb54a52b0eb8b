"""The database half of a backup, per vendor: snapshot, restore, digests, and a scratch copy for the drill.

SQLite: the online backup API (`sqlite3.Connection.backup`) both ways, so a copy is consistent while the
application writes and a restore never leaves a stale WAL behind. PostgreSQL: `pg_dump -Fc` of a
snapshot exported by a REPEATABLE READ transaction, whose rows the manifest's digests are read from,
and `pg_restore --clean --if-exists --single-transaction`.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from django.db import connections

from shopops.core.backup import digests

ALIAS = "default"
DUMP_MEMBERS = {"sqlite": "database/db.sqlite3", "postgresql": "database/db.pgdump"}


class DatabaseCommandFailed(Exception):
    """pg_dump, pg_restore or a scratch database statement failed; the message holds its stderr."""


def vendor() -> str:
    return connections[ALIAS].vendor


def _settings() -> dict[str, Any]:
    return connections[ALIAS].settings_dict


def _sqlite_path() -> str:
    return str(_settings()["NAME"])


def _pg_arguments(name: str | None = None) -> tuple[list[str], dict[str, str]]:
    settings = _settings()
    arguments = []
    if settings.get("HOST"):
        arguments += ["-h", str(settings["HOST"])]
    if settings.get("PORT"):
        arguments += ["-p", str(settings["PORT"])]
    if settings.get("USER"):
        arguments += ["-U", str(settings["USER"])]
    arguments += ["-d", name or str(settings["NAME"])]
    environment = dict(os.environ)
    if settings.get("PASSWORD"):
        environment["PGPASSWORD"] = str(settings["PASSWORD"])
    return arguments, environment


def _run(command: list[str], environment: dict[str, str]) -> None:
    result = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise DatabaseCommandFailed(f"{command[0]}: {result.stderr.strip()[-2000:]}")


@contextmanager
def _pg_connection(name: str | None = None, *, autocommit: bool = False) -> Iterator[Any]:
    """A connection of its own (not Django's), in UTC, so that digests read the same on every side."""
    settings = _settings()
    connection = psycopg.connect(
        dbname=name or settings["NAME"],
        user=settings.get("USER") or None,
        password=settings.get("PASSWORD") or None,
        host=settings.get("HOST") or None,
        port=settings.get("PORT") or None,
        autocommit=autocommit,
    )
    try:
        if not autocommit:
            connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        connection.execute("SET TIME ZONE 'UTC'")
        yield connection
    finally:
        connection.close()


def snapshot(target: Path) -> dict[str, digests.TableDigest]:
    """Write a consistent copy of the database to `target`; the digests of exactly that copy."""
    if vendor() == "sqlite":
        source = sqlite3.connect(_sqlite_path(), timeout=30)
        copy = sqlite3.connect(str(target))
        try:
            source.backup(copy)
        finally:
            copy.close()
            source.close()
        return digests.sqlite_file_digests(str(target))
    with _pg_connection() as connection, connection.cursor() as cursor:
        cursor.execute("SELECT pg_export_snapshot()")
        (snapshot_id,) = cursor.fetchone()
        arguments, environment = _pg_arguments()
        _run(
            [
                "pg_dump",
                "-Fc",
                "--no-owner",
                "--no-privileges",
                f"--snapshot={snapshot_id}",
                "-f",
                str(target),
                *arguments,
            ],
            environment,
        )
        found = digests.postgres_digests(cursor)
        connection.rollback()
        return found


def live_digests(name: str | None = None) -> dict[str, digests.TableDigest]:
    """The digests of the database as it is now (or of the scratch database `name`)."""
    if vendor() == "sqlite":
        return digests.sqlite_file_digests(name or _sqlite_path())
    with _pg_connection(name) as connection, connection.cursor() as cursor:
        found = digests.postgres_digests(cursor)
        connection.rollback()
        return found


def _sqlite_copy(source_path: str, target_path: str) -> None:
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
    target = sqlite3.connect(target_path, timeout=30)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()


def restore(dump: Path) -> None:
    """Replace the application's database with the dump (the caller has verified it)."""
    connections.close_all()
    if vendor() == "sqlite":
        _sqlite_copy(str(dump), _sqlite_path())
        return
    arguments, environment = _pg_arguments()
    _run(
        [
            "pg_restore",
            "--clean",
            "--if-exists",
            "--single-transaction",
            "--no-owner",
            "--no-privileges",
            *arguments,
            str(dump),
        ],
        environment,
    )


@contextmanager
def scratch_copy(dump: Path, workdir: Path) -> Iterator[str]:
    """A throwaway database holding the dump; yields its DATABASE_URL and removes it afterwards."""
    if vendor() == "sqlite":
        path = workdir / "scratch.sqlite3"
        _sqlite_copy(str(dump), str(path))
        yield f"sqlite:///{path}"
        return
    name = f"shopops_drill_{secrets.token_hex(6)}"
    with _pg_connection(autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        arguments, environment = _pg_arguments(name)
        _run(
            ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", *arguments, str(dump)],
            environment,
        )
        settings = _settings()
        credentials = quote(str(settings.get("USER") or ""), safe="")
        if settings.get("PASSWORD"):
            credentials += ":" + quote(str(settings["PASSWORD"]), safe="")
        host = str(settings.get("HOST") or "localhost")
        port = f":{settings['PORT']}" if settings.get("PORT") else ""
        yield f"postgres://{credentials}@{host}{port}/{name}"
    finally:
        with _pg_connection(autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
