"""Case events (the after-sales timeline) are append-only in the database too: a trigger refuses UPDATE."""

from django.db import migrations

from shopops.core.db import refuse_updates


class Migration(migrations.Migration):
    dependencies = [
        ("aftersales", "0003_seed_return_reasons"),
    ]

    operations = [refuse_updates("aftersales_caseevent", "case events are append-only")]
