"""Buyer and receiver personal fields encrypted at rest (core.crypto), in place and in batches; reversible.

The buyer nick gets a keyed hash so that the order search still finds a nick (exactly)."""

import shopops.core.crypto
from django.db import migrations, models

from shopops.core.crypto import migration_operations

FIELDS = {"order": ["buyer_nick", "buyer_email", "receiver_name", "receiver_phone", "receiver_address"]}
encrypt_fields, decrypt_fields = migration_operations("orders", FIELDS)


def fill_buyer_nick_hash(apps, schema_editor):
    from shopops.customers.services import nick_hash

    Order = apps.get_model("orders", "Order")
    orders = Order.objects.using(schema_editor.connection.alias).exclude(buyer_nick="").only("pk", "buyer_nick")
    last_pk = 0
    while batch := list(orders.filter(pk__gt=last_pk).order_by("pk")[:1000]):
        for order in batch:
            order.buyer_nick_hash = nick_hash(order.buyer_nick)
        Order.objects.using(schema_editor.connection.alias).bulk_update(batch, ["buyer_nick_hash"])
        last_pk = batch[-1].pk


class Migration(migrations.Migration):

    dependencies = [
        ('orders', '0004_sku_mapping'),
    ]

    operations = [
        migrations.AddField(
            model_name='order',
            name='buyer_nick_hash',
            field=models.CharField(blank=True, db_index=True, help_text='按买家昵称精确查找用', max_length=64, verbose_name='买家昵称摘要'),
        ),
        migrations.AlterField(
            model_name='order',
            name='buyer_email',
            field=shopops.core.crypto.EncryptedCharField(blank=True, max_length=200, verbose_name='买家邮箱'),
        ),
        migrations.AlterField(
            model_name='order',
            name='buyer_nick',
            field=shopops.core.crypto.EncryptedCharField(blank=True, max_length=100, verbose_name='买家昵称'),
        ),
        migrations.AlterField(
            model_name='order',
            name='receiver_address',
            field=shopops.core.crypto.EncryptedCharField(blank=True, help_text='详细地址', max_length=300, verbose_name='收货地址'),
        ),
        migrations.AlterField(
            model_name='order',
            name='receiver_name',
            field=shopops.core.crypto.EncryptedCharField(blank=True, max_length=100, verbose_name='收货人'),
        ),
        migrations.AlterField(
            model_name='order',
            name='receiver_phone',
            field=shopops.core.crypto.EncryptedCharField(blank=True, max_length=40, verbose_name='收货人电话'),
        ),
        migrations.RunPython(encrypt_fields, decrypt_fields),
        migrations.RunPython(fill_buyer_nick_hash, migrations.RunPython.noop),
    ]
