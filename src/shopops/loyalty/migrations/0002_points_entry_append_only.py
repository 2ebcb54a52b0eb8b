"""Points entries cannot be changed or deleted in the database either: triggers refuse UPDATE and DELETE.

As for audit entries (core 0010): PostgreSQL flushes tables with TRUNCATE, which fires no row trigger;
SQLite flushes with DELETE, so there the delete trigger lets rows go while `core_auditentry_flushing`
holds a row, which only the `flush` command writes, inside its own transaction.
The SQL is kept here rather than in a shared helper so that this migration keeps doing what it did.
"""

from django.db import migrations

MESSAGE = "points entries are append-only"

SQLITE_FORWARD = [
    f"""
    CREATE TRIGGER loyalty_pointsentry_refuse_update BEFORE UPDATE ON loyalty_pointsentry
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END;
    """,
    f"""
    CREATE TRIGGER loyalty_pointsentry_refuse_delete BEFORE DELETE ON loyalty_pointsentry
    WHEN NOT EXISTS (SELECT 1 FROM core_auditentry_flushing)
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END;
    """,
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS loyalty_pointsentry_refuse_update;",
    "DROP TRIGGER IF EXISTS loyalty_pointsentry_refuse_delete;",
]
POSTGRESQL_FORWARD = [
    f"""
    CREATE OR REPLACE FUNCTION loyalty_pointsentry_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'restrict_violation';
    END;
    $$;
    """,
    "CREATE TRIGGER loyalty_pointsentry_refuse_change BEFORE UPDATE OR DELETE ON loyalty_pointsentry "
    "FOR EACH ROW EXECUTE FUNCTION loyalty_pointsentry_refuse_change();",
]
POSTGRESQL_BACKWARD = [
    "DROP TRIGGER IF EXISTS loyalty_pointsentry_refuse_change ON loyalty_pointsentry;",
    "DROP FUNCTION IF EXISTS loyalty_pointsentry_refuse_change();",
]


def _run(statements):
    def run(apps, schema_editor):
        vendor = schema_editor.connection.vendor
        if vendor not in statements:
            raise NotImplementedError(f"no points ledger trigger for database vendor {vendor!r}")
        for statement in statements[vendor]:
            schema_editor.execute(statement, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0010_audit_delete_trigger"),
        ("loyalty", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_FORWARD, "postgresql": POSTGRESQL_FORWARD}),
            _run({"sqlite": SQLITE_BACKWARD, "postgresql": POSTGRESQL_BACKWARD}),
            elidable=False,
        )
    ]
