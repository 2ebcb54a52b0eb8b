"""Database helpers: append-only tables enforced by a trigger per vendor (migrations), a busy database
told apart from a broken one, and whether the database has one write lock for everything (SQLite)."""

from __future__ import annotations

from typing import Any

from django.db import OperationalError, connection, migrations

# How long a client should wait before retrying a request the database was too busy for.
RETRY_AFTER_SECONDS = 3
SQLITE_BUSY_MESSAGES = ("database is locked", "database table is locked", "database is busy")
# PostgreSQL: lock_not_available (lock_timeout, NOWAIT), serialization_failure, deadlock_detected.
POSTGRESQL_BUSY_STATES = frozenset({"55P03", "40001", "40P01"})


def is_database_busy(error: BaseException) -> bool:
    """Whether `error` means "the database is busy, try again" rather than a bug or an outage."""
    if not isinstance(error, OperationalError):
        return False
    if str(error).strip().lower() in SQLITE_BUSY_MESSAGES:
        return True
    return getattr(error.__cause__, "sqlstate", None) in POSTGRESQL_BUSY_STATES


def has_single_writer() -> bool:
    """SQLite lets one transaction write at a time, for the whole database: a long write transaction
    (an import) makes every other writer wait, so imports there write in short transactions."""
    return connection.vendor == "sqlite"


def _forward(table: str, message: str) -> dict[str, list[str]]:
    name = f"{table}_refuse_update"
    return {
        "sqlite": [
            f"CREATE TRIGGER {name} BEFORE UPDATE ON {table} BEGIN SELECT RAISE(ABORT, '{message}'); END;",
        ],
        "postgresql": [
            f"""
            CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '{message}' USING ERRCODE = 'restrict_violation';
            END;
            $$;
            """,
            f"CREATE TRIGGER {name} BEFORE UPDATE ON {table} FOR EACH ROW EXECUTE FUNCTION {name}();",
        ],
    }


def _backward(table: str) -> dict[str, list[str]]:
    name = f"{table}_refuse_update"
    return {
        "sqlite": [f"DROP TRIGGER IF EXISTS {name};"],
        "postgresql": [f"DROP TRIGGER IF EXISTS {name} ON {table};", f"DROP FUNCTION IF EXISTS {name}();"],
    }


def _run(statements: dict[str, list[str]]) -> Any:
    def run(apps: Any, schema_editor: Any) -> None:
        vendor = schema_editor.connection.vendor
        if vendor not in statements:
            raise NotImplementedError(f"no append-only trigger for database vendor {vendor!r}")
        for statement in statements[vendor]:
            schema_editor.execute(statement, params=None)

    return run


def refuse_updates(table: str, message: str) -> migrations.RunPython:
    """A migration operation: the database refuses every UPDATE of `table` (history stays as written).

    DELETE stays possible at database level so test databases can be flushed; the ORM refuses it.
    Audit entries refuse DELETE in the database too (core 0010), a whole-database flush excepted.
    """
    return migrations.RunPython(_run(_forward(table, message)), _run(_backward(table)), elidable=False)
