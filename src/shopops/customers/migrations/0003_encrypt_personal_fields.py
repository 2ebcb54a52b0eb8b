"""Customer name, phone and e-mail encrypted at rest (core.crypto), in place and in batches; reversible.

The last four digits of the phone get their own column so that "search by last four" keeps working."""

import shopops.core.crypto
from django.db import migrations, models

from shopops.core.crypto import migration_operations

FIELDS = {"customer": ["name", "phone", "email"]}
encrypt_fields, decrypt_fields = migration_operations("customers", FIELDS)


def fill_phone_last4(apps, schema_editor):
    from shopops.customers.models import phone_last4

    Customer = apps.get_model("customers", "Customer")
    customers = Customer.objects.using(schema_editor.connection.alias).exclude(phone="").only("pk", "phone")
    last_pk = 0
    while batch := list(customers.filter(pk__gt=last_pk).order_by("pk")[:1000]):
        for customer in batch:
            customer.phone_last4 = phone_last4(customer.phone)
        Customer.objects.using(schema_editor.connection.alias).bulk_update(batch, ["phone_last4"])
        last_pk = batch[-1].pk


class Migration(migrations.Migration):

    dependencies = [
        ('customers', '0002_birthday'),
    ]

    operations = [
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
        migrations.RunPython(fill_phone_last4, migrations.RunPython.noop),
    ]
