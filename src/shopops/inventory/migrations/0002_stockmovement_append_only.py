"""Stock movements (the ledger) are append-only in the database too: a trigger refuses every UPDATE.

DELETE stays possible at database level so that test databases can be flushed; the ORM refuses it.
Hand-written because the trigger syntax differs per database vendor.
"""

from django.db import migrations

MESSAGE = "stock movements are append-only"

FORWARD = {
    "sqlite": [
        f"""
        CREATE TRIGGER inventory_stockmovement_refuse_update
        BEFORE UPDATE ON inventory_stockmovement
        BEGIN
            SELECT RAISE(ABORT, '{MESSAGE}');
        END;
        """,
    ],
    "postgresql": [
        f"""
        CREATE OR REPLACE FUNCTION inventory_stockmovement_refuse_update() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'restrict_violation';
        END;
        $$;
        """,
        """
        CREATE TRIGGER inventory_stockmovement_refuse_update
        BEFORE UPDATE ON inventory_stockmovement
        FOR EACH ROW EXECUTE FUNCTION inventory_stockmovement_refuse_update();
        """,
    ],
}

BACKWARD = {
    "sqlite": ["DROP TRIGGER IF EXISTS inventory_stockmovement_refuse_update;"],
    "postgresql": [
        "DROP TRIGGER IF EXISTS inventory_stockmovement_refuse_update ON inventory_stockmovement;",
        "DROP FUNCTION IF EXISTS inventory_stockmovement_refuse_update();",
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
        ("inventory", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(run_for_vendor(FORWARD), run_for_vendor(BACKWARD), elidable=False),
    ]
