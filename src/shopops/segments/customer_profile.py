"""The customer profile's 标签与人群 panel: tags (add/remove), RFM class and its history, segments."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from shopops.core.money import format_cny
from shopops.core.panels import Panel
from shopops.segments import queries
from shopops.segments.models import Tag


def _time(value: Any) -> str:
    return date_format(timezone.localtime(value), "Y-m-d H:i") if value else "—"


def panels(request: HttpRequest, customer: Any) -> list[Panel]:
    user = request.user
    if not user.has_perm("segments.view_customertag"):
        return []
    tags = queries.tags_of(customer)
    metrics = queries.metrics_of(customer)
    can_tag = user.has_perm("segments.add_customertag")
    can_untag = user.has_perm("segments.delete_customertag")
    carried = {row.tag_id for row in tags}
    context = {
        "customer": customer,
        "tags": [
            {
                "name": row.tag.name,
                "is_automatic": row.tag.is_automatic,
                "source": row.get_source_display(),
                "remove_url": reverse("admin:segments_tag_untag", args=[customer.pk, row.tag_id])
                if can_untag and not row.tag.is_automatic
                else "",
            }
            for row in tags
        ],
        "is_blacklisted": customer.is_blacklisted,
        "addable": list(
            Tag.objects.filter(is_active=True, rule__isnull=True).exclude(pk__in=carried).order_by("name")
        )
        if can_tag
        else [],
        "add_url": reverse("admin:segments_tag_tag", args=[customer.pk]),
        "next": request.get_full_path(),
        "metrics": metrics,
        "rfm_class": queries.rfm_class_label(metrics.rfm_class) if metrics else "",
        "net_spend": format_cny(metrics.net_spend) if metrics else "—",
        "average_order_value": format_cny(metrics.average_order_value) if metrics else "—",
        "computed_at": _time(metrics.computed_at) if metrics else "—",
        "history": [
            {
                "at": _time(change.changed_at),
                "from": f"{queries.rfm_class_label(change.from_class)} {change.from_code}".strip()
                or _("（首次评定）"),
                "to": f"{queries.rfm_class_label(change.to_class)} {change.to_code}".strip(),
            }
            for change in queries.rfm_history(customer, limit=10)
        ],
        "segments": [
            {"name": member.segment.name, "since": _time(member.entered_at)}
            for member in queries.segments_of(customer)
        ]
        if user.has_perm("segments.view_segment")
        else [],
    }
    body = render_to_string("admin/segments/profile_panel.html", context, request=request)
    return [Panel(key="segments", title=_("标签与人群"), body=body, order=40, side=True)]
