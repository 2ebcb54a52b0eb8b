"""Personal data segments holds about a customer: tags, segments, RFM history (for PIPL requests)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from django.utils.formats import date_format

from shopops.segments import queries
from shopops.segments.models import CustomerTag, TagSource


def _time(value: Any) -> str:
    return date_format(timezone.localtime(value), "Y-m-d H:i") if value else ""


def export(customer: Any) -> dict[str, list[dict[str, Any]]]:
    metrics = queries.metrics_of(customer)
    return {
        "客户标签": [
            {"标签": row.tag.name, "来源": str(row.get_source_display()), "添加时间": _time(row.added_at)}
            for row in queries.tags_of(customer)
        ],
        "所在人群": [
            {"人群": member.segment.name, "进入时间": _time(member.entered_at)}
            for member in queries.segments_of(customer)
        ],
        "RFM 分类": [{"RFM 编码": metrics.rfm_code, "分类": queries.rfm_class_label(metrics.rfm_class)}]
        if metrics
        else [],
    }


def anonymise(customer: Any) -> int:
    """Manual tags are what people wrote about the person: removed. Metrics and segments stay (figures)."""
    deleted, _rows = CustomerTag.objects.filter(customer=customer, source=TagSource.MANUAL).delete()
    return int(deleted)
