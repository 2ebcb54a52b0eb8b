"""Audit entries cannot be deleted in the database either: a trigger refuses every row DELETE.

Emptying the whole database stays possible, as the test runner does after each transactional test:
PostgreSQL flushes with TRUNCATE, which fires no row trigger; SQLite flushes with DELETE, so there the
trigger lets a delete through while `core_auditentry_flushing` holds a row, which only the `flush`
command writes, inside its own transaction (core/management/commands/flush.py).

A later migration that rebuilds core_auditentry on SQLite (adding or altering a column) drops its triggers:
it must create this one again, as 0008 does for the UPDATE trigger. The SQL is kept here rather than in a
shared helper so that this migration keeps doing what it did when it ran.
"""

from django.db import migrations

MESSAGE = "audit entries are append-only"

SQLITE_FORWARD = [
    "CREATE TABLE core_auditentry_flushing (id integer NOT NULL PRIMARY KEY);",
    f"""
    CREATE TRIGGER core_auditentry_refuse_delete BEFORE DELETE ON core_auditentry
    WHEN NOT EXISTS (SELECT 1 FROM core_auditentry_flushing)
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END;
    """,
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS core_auditentry_refuse_delete;",
    "DROP TABLE IF EXISTS core_auditentry_flushing;",
]
POSTGRESQL_FORWARD = [
    f"""
    CREATE OR REPLACE FUNCTION core_auditentry_refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'restrict_violation';
    END;
    $$;
    """,
    "CREATE TRIGGER core_auditentry_refuse_delete BEFORE DELETE ON core_auditentry "
    "FOR EACH ROW EXECUTE FUNCTION core_auditentry_refuse_delete();",
]
POSTGRESQL_BACKWARD = [
    "DROP TRIGGER IF EXISTS core_auditentry_refuse_delete ON core_auditentry;",
    "DROP FUNCTION IF EXISTS core_auditentry_refuse_delete();",
]


def _run(statements):
    def run(apps, schema_editor):
        vendor = schema_editor.connection.vendor
        if vendor not in statements:
            raise NotImplementedError(f"no audit delete trigger for database vendor {vendor!r}")
        for statement in statements[vendor]:
            schema_editor.execute(statement, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0009_import_job_heartbeat"),
    ]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_FORWARD, "postgresql": POSTGRESQL_FORWARD}),
            _run({"sqlite": SQLITE_BACKWARD, "postgresql": POSTGRESQL_BACKWARD}),
            elidable=False,
        )
    ]
