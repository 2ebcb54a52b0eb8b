"""Audit entries are append-only in the database too: a trigger refuses every UPDATE.

DELETE stays possible at database level so that test databases can be flushed; the ORM refuses it.
Hand-written because the trigger syntax differs per database vendor.
"""

from django.db import migrations

MESSAGE = "audit entries are append-only"

FORWARD = {
    "sqlite": [
        f"""
        CREATE TRIGGER core_auditentry_refuse_update
        BEFORE UPDATE ON core_auditentry
        BEGIN
            SELECT RAISE(ABORT, '{MESSAGE}');
        END;
        """,
    ],
    "postgresql": [
        f"""
        CREATE OR REPLACE FUNCTION core_auditentry_refuse_update() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'restrict_violation';
        END;
        $$;
        """,
        """
        CREATE TRIGGER core_auditentry_refuse_update
        BEFORE UPDATE ON core_auditentry
        FOR EACH ROW EXECUTE FUNCTION core_auditentry_refuse_update();
        """,
    ],
}

BACKWARD = {
    "sqlite": ["DROP TRIGGER IF EXISTS core_auditentry_refuse_update;"],
    "postgresql": [
        "DROP TRIGGER IF EXISTS core_auditentry_refuse_update ON core_auditentry;",
        "DROP FUNCTION IF EXISTS core_auditentry_refuse_update();",
    ],
}


def run_for_vendor(statements):
    def run(apps, schema_editor):
        vendor = schema_editor.connection.vendor
        if vendor not in statements:
            raise NotImplementedError(f"no append-only trigger for database vendor {vendor!r}")
        for statement in statements[vendor]:
            schema_editor.execute(statement, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(run_for_vendor(FORWARD), run_for_vendor(BACKWARD), elidable=False),
    ]
