"""After-sales' part of the customer profile page (customers discovers this module): the customer's
cases in the user's shops, newest first, each linking to its case page."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _

from shopops.aftersales.models import AfterSaleCase
from shopops.core.admin_tools import money
from shopops.core.panels import Panel
from shopops.orders.admin.common import shop_time

VIEW = "aftersales.view_aftersalecase"
LATEST = 20


def panels(request: HttpRequest, customer: Any) -> list[Panel]:
    user = request.user
    if not user.has_perm(VIEW):
        return []
    cases = list(
        AfterSaleCase.objects.for_user(user)
        .filter(order__customer=customer)
        .select_related("reason", "order", "shop")
        .order_by("-created_at", "-pk")[:LATEST]
    )
    rows = [
        {
            "case": case,
            "url": reverse("admin:aftersales_aftersalecase_change", args=[case.pk]),
            "requested": money(case.requested_amount),
            "refunded": money(case.refunded_amount),
            "created": shop_time(case.created_at, case.shop.timezone),
        }
        for case in cases
    ]
    body = render_to_string("admin/customers/profile/cases.html", {"rows": rows}, request=request)
    return [Panel(key="aftersales", title=_("售后记录"), body=body, order=20)]
