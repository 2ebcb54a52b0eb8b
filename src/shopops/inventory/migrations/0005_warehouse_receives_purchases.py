"""Warehouse.receives_purchases: stores and defective-goods warehouses take no purchase orders unless switched on."""

from typing import Any

from django.db import migrations, models


def stores_receive_no_purchases(apps: Any, schema_editor: Any) -> None:
    Warehouse = apps.get_model("inventory", "Warehouse")
    Warehouse.objects.filter(kind__in=["store", "defective"]).update(receives_purchases=False)


class Migration(migrations.Migration):
    dependencies = [("inventory", "0004_warehouse_kind_defective")]

    operations = [
        migrations.AddField(
            model_name="warehouse",
            name="receives_purchases",
            field=models.BooleanField(
                default=True,
                help_text="门店和残次品仓默认不接收采购单；补货建议只为接收采购的仓库生成",
                verbose_name="接收采购入库",
            ),
        ),
        migrations.RunPython(stores_receive_no_purchases, migrations.RunPython.noop),
    ]
