"""Audit entries are append-only in the database too: a trigger refuses every UPDATE."""

from django.db import migrations

from shopops.core.db import refuse_updates


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_initial"),
    ]

    operations = [refuse_updates("core_auditentry", "audit entries are append-only")]
