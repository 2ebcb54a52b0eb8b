"""Database helpers shared by migrations: append-only tables enforced by a trigger per vendor."""

from __future__ import annotations

from typing import Any

from django.db import migrations


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
    """
    return migrations.RunPython(_run(_forward(table, message)), _run(_backward(table)), elidable=False)
