"""Customer name, phone and e-mail encrypted at rest (core.crypto), in place and in batches; reversible.

The last four digits of the phone and a keyed hash of the e-mail get their own columns, so that "search by
last four" keeps working and customers can still be matched by e-mail."""

import shopops.core.crypto
from django.db import migrations, models

from shopops.core.crypto import migration_operations

FIELDS = {"customer": ["name", "phone", "email"]}
encrypt_fields, decrypt_fields = migration_operations("customers", FIELDS)


def fill_search_columns(apps, schema_editor):
    from shopops.customers.services import email_hash, phone_last4

    Customer = apps.get_model("customers", "Customer")
    customers = Customer.objects.using(schema_editor.connection.alias).only("pk", "phone", "email")
    last_pk = 0
    while batch := list(customers.filter(pk__gt=last_pk).order_by("pk")[:1000]):
        for customer in batch:
            customer.phone_last4 = phone_last4(customer.phone)
            customer.email_hash = email_hash(customer.email)
        Customer.objects.using(schema_editor.connection.alias).bulk_update(batch, ["phone_last4", "email_hash"])
        last_pk = batch[-1].pk


class Migration(migrations.Migration):

    dependencies = [
        ('customers', '0003_profiles'),
    ]

    operations = [
        migrations.AddField(
            model_name="customer",
            name="email_hash",
            field=models.CharField(blank=True, db_index=True, max_length=64, verbose_name="邮箱摘要"),
        ),
        migrations.AddField(
            model_name='customer',
            name='phone_last4',
            field=models.CharField(blank=True, db_index=True, max_length=4, verbose_name='手机号后四位'),
        ),
        migrations.AlterField(
            model_name='customer',
            name='email',
            field=shopops.core.crypto.EncryptedCharField(blank=True, max_length=200, verbose_name='邮箱'),
        ),
        migrations.AlterField(
            model_name='customer',
            name='name',
            field=shopops.core.crypto.EncryptedCharField(blank=True, max_length=100, verbose_name='姓名/昵称'),
        ),
        migrations.AlterField(
            model_name='customer',
            name='phone',
            field=shopops.core.crypto.EncryptedCharField(blank=True, max_length=30, verbose_name='手机号'),
        ),
        migrations.RunPython(encrypt_fields, decrypt_fields),
        migrations.RunPython(fill_search_columns, migrations.RunPython.noop),
    ]
