"""Stock movements (the ledger) are append-only in the database too: a trigger refuses every UPDATE."""

from django.db import migrations

from shopops.core.db import refuse_updates


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0001_initial"),
    ]

    operations = [refuse_updates("inventory_stockmovement", "stock movements are append-only")]
