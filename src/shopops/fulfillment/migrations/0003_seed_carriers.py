"""Seed the carriers merchants use, with their 快递100 / 快递鸟 codes, number hints and export aliases."""

from typing import Any

from django.db import migrations

# (code, name, kuaidi100, kdniao, tracking pattern (a hint: a mismatch only warns), aliases seen in exports)
CARRIERS: list[tuple[str, str, str, str, str, list[str]]] = [
    ("SF", "顺丰速运", "shunfeng", "SF", r"^SF\d{13}$", ["顺丰", "顺丰快递", "顺丰物流", "SF Express", "SF"]),
    ("ZTO", "中通快递", "zhongtong", "ZTO", r"^7[3-68]\d{12}$", ["中通", "中通速递", "ZTO Express"]),
    ("YTO", "圆通速递", "yuantong", "YTO", r"^YT\d{13}$", ["圆通", "圆通快递", "YTO Express"]),
    ("YD", "韵达快递", "yunda", "YD", r"^[34]\d{14}$", ["韵达", "韵达速递", "Yunda"]),
    ("STO", "申通快递", "shentong", "STO", "", ["申通", "申通速递", "STO Express"]),
    ("JD", "京东物流", "jd", "JD", r"^JD[A-Z0-9]{2}\d{11}$", ["京东", "京东快递", "京东配送", "JD Logistics"]),
    ("EMS", "EMS", "ems", "EMS", "", ["中国邮政EMS", "邮政EMS", "EMS快递", "EMS经济快递"]),
    ("YZPY", "邮政包裹", "youzhengguonei", "YZPY", "", ["邮政", "中国邮政", "邮政快递包裹", "邮政国内小包"]),
    ("JTSD", "极兔速递", "jtexpress", "JTSD", r"^JT\d{13}$", ["极兔", "极兔快递", "J&T", "J&T Express"]),
    ("DBL", "德邦快递", "debangkuaidi", "DBL", "", ["德邦", "德邦物流", "Deppon"]),
    ("HTKY", "百世快递", "huitongkuaidi", "HTKY", "", ["百世", "百世汇通", "汇通快递", "Best Express"]),
    ("ZJS", "宅急送", "zhaijisong", "ZJS", "", ["宅急送快运", "ZJS Express"]),
]


def seed(apps: Any, schema_editor: Any) -> None:
    carrier_model = apps.get_model("fulfillment", "Carrier")
    for code, name, kuaidi100, kdniao, pattern, aliases in CARRIERS:
        carrier_model.objects.update_or_create(
            code=code,
            defaults={
                "name": name,
                "kuaidi100_code": kuaidi100,
                "kdniao_code": kdniao,
                "tracking_pattern": pattern,
                "aliases": aliases,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("fulfillment", "0002_shipment_source_problem_warnings")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
