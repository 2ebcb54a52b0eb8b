"""After-sales' part of the order workspace (orders.admin.workspace discovers this module): the order's
cases with their kind, status and amounts, each linking to its case page, and "新建售后单" for users who
may create one (the case page takes `?order=<pk>`)."""

from __future__ import annotations

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _

from shopops.aftersales.models import AfterSaleCase
from shopops.core.admin_tools import money
from shopops.orders.admin.workspace import Panel, WorkspaceAction
from shopops.orders.models import Order

VIEW = "aftersales.view_aftersalecase"
ADD = "aftersales.add_aftersalecase"

ACTIONS: dict[str, WorkspaceAction] = {}


def panels(request: HttpRequest, order: Order) -> list[Panel]:
    user = request.user
    if not user.has_perm(VIEW):
        return []
    cases = list(
        AfterSaleCase.objects.for_user(user)
        .filter(order=order)
        .select_related("reason")
        .order_by("-created_at", "-pk")
    )
    rows = [
        {
            "case": case,
            "url": reverse("admin:aftersales_aftersalecase_change", args=[case.pk]),
            "requested": money(case.requested_amount),
            "refunded": money(case.refunded_amount),
        }
        for case in cases
    ]
    add_url = None
    if user.has_perm(ADD):
        try:
            add_url = reverse("admin:aftersales_aftersalecase_add") + f"?order={order.pk}"
        except NoReverseMatch:
            add_url = None
    body = render_to_string(
        "admin/aftersales/order_workspace/cases.html", {"rows": rows, "add_url": add_url}, request=request
    )
    return [Panel(key="aftersales", title=_("售后"), body=body, order=40)]
