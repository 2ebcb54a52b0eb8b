"""The privacy block of the customer profile: this person's personal-data requests and whether their data
has been anonymised (shown to users who may view the privacy area)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _

from shopops.core.admin_tools import local_time
from shopops.core.panels import Panel
from shopops.customers.models import Customer
from shopops.privacy.models import OPEN_REQUEST_STATUSES, Erasure, ErasureReason, PersonalDataRequest

VIEW_PERMISSION = "privacy.view_personaldatarequest"


def panels(request: HttpRequest, customer: Customer) -> list[Panel]:
    user: Any = request.user
    if not user.has_perm(VIEW_PERMISSION):
        return []
    rows = []
    for row in PersonalDataRequest.objects.filter(customer=customer).order_by("-received_at", "-pk")[:20]:
        status = row.get_status_display()
        if row.status in OPEN_REQUEST_STATUSES:
            status = f"{status} · {_('期限')} {local_time(row.due_at)}"
        rows.append(
            (
                reverse("admin:privacy_personaldatarequest_change", args=[row.pk]),
                row.get_kind_display(),
                local_time(row.received_at),
                status,
            )
        )
    erasure = Erasure.objects.filter(customer=customer).first()
    parts = []
    if erasure is not None:
        parts.append(
            format_html(
                '<p class="text-sm text-red-600 mb-2" data-testid="customer-erased">{}</p>',
                _("个人信息已于 %(time)s 匿名化（%(reason)s）")
                % {"time": local_time(erasure.erased_at), "reason": ErasureReason(erasure.reason).label},
            )
        )
    if rows:
        parts.append(
            format_html(
                '<ul class="flex flex-col gap-1 text-sm" data-testid="privacy-requests">{}</ul>',
                format_html_join(
                    "",
                    '<li><a class="text-primary-600" href="{}">{}</a> · <span class="tabular-nums">{}</span> · {}</li>',
                    rows,
                ),
            )
        )
    if not parts:
        parts.append(format_html('<p class="text-sm text-base-500">{}</p>', _("没有个人信息请求")))
    body = format_html_join("", "{}", ((part,) for part in parts))
    return [Panel(key="privacy", title=_("个人信息请求"), body=body, order=900, side=True)]
