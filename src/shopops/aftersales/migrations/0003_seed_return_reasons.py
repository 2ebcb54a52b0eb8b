"""The after-sales reason taxonomy (售后原因): five groups, two levels; `is_quality` on product faults."""

from typing import Any

from django.db import migrations

# (code, name, is_quality, [(code, name, is_quality)])
REASONS: list[tuple[str, str, bool, list[tuple[str, str, bool]]]] = [
    (
        "quality",
        "质量问题",
        True,
        [
            ("quality.workmanship", "做工问题", True),
            ("quality.damaged", "商品破损", True),
            ("quality.malfunction", "功能故障", True),
            ("quality.not_as_described", "与描述不符", True),
        ],
    ),
    (
        "logistics",
        "物流问题",
        False,
        [
            ("logistics.not_received", "未收到货", False),
            ("logistics.damaged_in_transit", "运输破损", False),
            ("logistics.wrong_item", "发错货", False),
            ("logistics.missing_item", "漏发", False),
        ],
    ),
    (
        "buyer",
        "买家原因",
        False,
        [
            ("buyer.changed_mind", "不想要了", False),
            ("buyer.wrong_order", "拍错了", False),
            ("buyer.size", "尺码不合适", False),
            ("buyer.seven_days", "七天无理由退换", False),
        ],
    ),
    (
        "merchant",
        "商家原因",
        False,
        [
            ("merchant.out_of_stock", "缺货", False),
            ("merchant.late_shipment", "发货慢", False),
        ],
    ),
    ("other", "其他", False, []),
]


def seed(apps: Any, schema_editor: Any) -> None:
    reason_model = apps.get_model("aftersales", "ReturnReason")
    for group_order, (code, name, is_quality, children) in enumerate(REASONS, start=1):
        parent, _created = reason_model.objects.get_or_create(
            code=code, defaults={"name": name, "is_quality": is_quality, "sort_order": group_order * 10}
        )
        for child_order, (child_code, child_name, child_quality) in enumerate(children, start=1):
            reason_model.objects.get_or_create(
                code=child_code,
                defaults={
                    "name": child_name,
                    "parent": parent,
                    "is_quality": child_quality,
                    "sort_order": group_order * 10 + child_order,
                },
            )


def unseed(apps: Any, schema_editor: Any) -> None:
    reason_model = apps.get_model("aftersales", "ReturnReason")
    codes = [code for code, _name, _quality, _children in REASONS]
    codes += [child for _code, _name, _quality, children in REASONS for child, _n, _q in children]
    reason_model.objects.filter(code__in=codes, cases__isnull=True, parent__isnull=False).delete()
    reason_model.objects.filter(code__in=codes, cases__isnull=True, children__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("aftersales", "0002_case_steps_and_refunds"),
    ]

    operations = [migrations.RunPython(seed, unseed)]
