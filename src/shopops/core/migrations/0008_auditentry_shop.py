"""Audit entries carry the shop of the record they describe; existing entries are filled in from their records."""

from django.db import migrations, models
from django.db.models import BigIntegerField, OuterRef, Subquery
from django.db.models.functions import Cast

from shopops.core.db import refuse_updates

TABLE = "core_auditentry"
# the same operation as 0002: its code creates the UPDATE trigger, its reverse code drops it
APPEND_ONLY = refuse_updates(TABLE, "audit entries are append-only")


def fill_shop_ids(apps, schema_editor):
    # The rule that decides a record's shop (SCOPE_SHOP_FIELD, or that of the record its foreign key points
    # at) lives on the models as they are now, so the current registry is read, not the migration state.
    from django.apps import apps as current_apps

    from shopops.core.audit import shop_path

    AuditEntry = apps.get_model("core", "AuditEntry")
    ContentType = apps.get_model("contenttypes", "ContentType")
    tables = set(schema_editor.connection.introspection.table_names())
    used = AuditEntry.objects.exclude(content_type=None).values("content_type")
    plans = []
    for content_type in ContentType.objects.filter(pk__in=used).order_by("pk"):
        try:
            model = current_apps.get_model(content_type.app_label, content_type.model)
        except LookupError:
            continue
        path = shop_path(model)
        if path is not None and model._meta.db_table in tables:
            plans.append((content_type.pk, model, path))
    if not plans:
        return
    APPEND_ONLY.reverse_code(apps, schema_editor)
    for content_type_id, model, path in plans:
        # ids are compared as numbers so the record's primary key index answers each lookup
        shop = model._base_manager.filter(pk=Cast(OuterRef("object_id"), BigIntegerField())).values(path)[:1]
        entries = AuditEntry._base_manager.filter(
            content_type_id=content_type_id, object_id__regex=r"^[0-9]{1,18}$"
        )
        entries.update(shop_id=Subquery(shop))
    APPEND_ONLY.code(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("core", "0007_move_import_files_private"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditentry",
            name="shop_id",
            field=models.BigIntegerField(blank=True, db_index=True, null=True, verbose_name="店铺ID"),
        ),
        migrations.RunPython(fill_shop_ids, migrations.RunPython.noop, elidable=True),
    ]
