"""Demo tags and segments: 高客单 / 30 天未复购 / 退货多 automatic tags, a manual VIP tag, and the segments
高价值客户, 沉睡客户 (30 天未复购) and 新客, all refreshed on the demo orders."""

from __future__ import annotations

from typing import Any, TextIO

from shopops.catalog.demo_data import DEMO_ACTOR
from shopops.customers.models import Customer
from shopops.segments import services
from shopops.segments.models import (
    CustomerMetrics,
    CustomerTag,
    RfmChange,
    Segment,
    SegmentEvent,
    SegmentMember,
    Tag,
)


def _group(op: str, *items: dict[str, Any]) -> dict[str, Any]:
    return {"op": op, "items": list(items)}


def _condition(field: str, operator: str, value: str) -> dict[str, Any]:
    return {"field": field, "operator": operator, "value": value}


TAGS = [
    ("高客单", "客单价 1000 元及以上", _group("and", _condition("average_order_value", "gte", "1000"))),
    ("30 天未复购", "最近一次付款在 30 天前", _group("and", _condition("last_order_days", "gte", "30"))),
    ("退货多", "两笔及以上订单有退款", _group("and", _condition("refund_order_count", "gte", "2"))),
]
SEGMENTS = [
    (
        "高价值客户",
        "重要价值客户，或净消费 5000 元以上且 60 天内买过",
        _group(
            "or",
            _condition("rfm_class", "eq", "important_value"),
            _group("and", _condition("net_spend", "gte", "5000"), _condition("last_order_days", "lte", "60")),
        ),
    ),
    (
        "沉睡客户",
        "30 天未复购、买过两次以上且不在黑名单",
        _group(
            "and",
            _condition("last_order_days", "gte", "30"),
            _condition("paid_order_count", "gte", "2"),
            _condition("blacklisted", "eq", "no"),
        ),
    ),
    ("新客", "首次付款在 30 天内", _group("and", _condition("first_order_days", "lte", "30"))),
]


def is_empty() -> bool:
    return not Segment.objects.exists()


def load(*, seed: int, days: int, stdout: TextIO) -> dict[str, int]:
    """Tags and segments on the demo customers; adds nothing when segments exist or there are no customers."""
    if Segment.objects.exists() or not Customer.objects.exists():
        return {}
    services.refresh_metrics(actor=DEMO_ACTOR)
    for name, description, rule in TAGS:
        services.create_tag(name=name, description=description, rule=rule, actor=DEMO_ACTOR)
    vip = services.create_tag(name="VIP 老客", description="客服手动标记", actor=DEMO_ACTOR)
    for metrics in CustomerMetrics.objects.order_by("-net_spend", "customer_id")[:8]:
        services.add_customer_tag(customer_id=metrics.customer_id, tag_id=vip.pk, actor=DEMO_ACTOR)
    for name, description, rule in SEGMENTS:
        services.create_segment(name=name, description=description, rule=rule, actor=DEMO_ACTOR)
    return {
        "tags": Tag.objects.count(),
        "customer_tags": CustomerTag.objects.count(),
        "segments": Segment.objects.count(),
        "segment_members": SegmentMember.objects.count(),
    }


def finish() -> None:
    """Metrics, tags and segments over every demo order, including those later apps added."""
    if Segment.objects.exists():
        services.refresh_all(actor=DEMO_ACTOR)


def reset() -> None:
    SegmentEvent.objects.all().delete()
    SegmentMember.objects.all().delete()
    Segment.objects.all().delete()
    CustomerTag.objects.all().delete()
    Tag.objects.all().delete()
    RfmChange.objects.all().delete()
    CustomerMetrics.objects.all().delete()
