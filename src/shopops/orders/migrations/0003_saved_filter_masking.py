"""Saved filters keep a full phone number only as its keyed hash (`phone_hash`): stored ones are converted.

Irreversible: a hash does not give the number back (the search still finds the same orders).
"""

from typing import Any

from django.db import migrations


def hash_saved_phones(apps: Any, schema_editor: Any) -> None:
    # the one rule for what counts as a full number and how it is hashed (PHONE_HASH_KEY)
    from shopops.orders.queries import full_phone_hash

    SavedFilter = apps.get_model("orders", "SavedFilter")
    for saved in SavedFilter.objects.filter(params__has_key="phone").order_by("pk").iterator():
        phone = saved.params.get("phone")
        hashed = full_phone_hash(phone) if isinstance(phone, str) else ""
        if hashed:
            saved.params = {
                **{key: value for key, value in saved.params.items() if key != "phone"},
                "phone_hash": hashed,
            }
            saved.save(update_fields=["params"])


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0002_buyer_ids_not_personal"),
    ]

    operations = [migrations.RunPython(hash_saved_phones, migrations.RunPython.noop)]
