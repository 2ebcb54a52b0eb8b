"""Buyer ids that are personal data by content (an e-mail, a phone number, an ID card number: Shopify
orders were keyed by the buyer's e-mail) become the keyed hash `customers.services.platform_buyer_id`
now stores, on orders and on customer accounts alike, so a re-import finds the same customer again.

Two accounts of one platform whose ids normalise to the same hash (`Amy@x.com` and `amy@x.com`) keep
the oldest account; the customers stay as they are. Irreversible: a hash does not give the id back.
"""

from typing import Any

from django.db import migrations

from shopops.customers.services import platform_buyer_id

# only ids with a digit or an @ can be an e-mail, a phone or an ID card number
CANDIDATES = r"[0-9@]"


def _renamed(ids: Any) -> dict[str, str]:
    renamed = {}
    for buyer_id in ids:
        stored = platform_buyer_id(buyer_id)
        if stored != buyer_id:
            renamed[buyer_id] = stored
    return renamed


def hash_personal_buyer_ids(apps: Any, schema_editor: Any) -> None:
    order_model = apps.get_model("orders", "Order")
    account_model = apps.get_model("customers", "CustomerAccount")
    orders = order_model.objects.filter(buyer_id__regex=CANDIDATES)
    for old, new in _renamed(list(orders.values_list("buyer_id", flat=True).distinct())).items():
        order_model.objects.filter(buyer_id=old).update(buyer_id=new)
    accounts = account_model.objects.filter(buyer_id__regex=CANDIDATES).order_by("pk")
    for pk, platform, buyer_id in list(accounts.values_list("pk", "platform", "buyer_id")):
        new = platform_buyer_id(buyer_id)
        if new == buyer_id:
            continue
        if account_model.objects.filter(platform=platform, buyer_id=new).exists():
            account_model.objects.filter(pk=pk).delete()  # an older account of the buyer holds the hash
        else:
            account_model.objects.filter(pk=pk).update(buyer_id=new)


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0001_initial"),
        ("orders", "0001_initial"),
    ]

    operations = [migrations.RunPython(hash_personal_buyer_ids, migrations.RunPython.noop, elidable=True)]
