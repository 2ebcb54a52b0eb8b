"""Loyalty's block on the customer profile page: level, balance (or points debt), expiring points and the
latest ledger rows, linking to the member's page."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _

from shopops.core.panels import Panel
from shopops.loyalty import queries
from shopops.loyalty.models import PointsEntry

VIEW = "loyalty.view_memberaccount"
LATEST_ROWS = 5


def panels(request: HttpRequest, customer: Any) -> list[Panel]:
    if not request.user.has_perm(VIEW):
        return []
    summary = queries.member_summary(customer.pk)
    context: dict[str, Any] = {"summary": summary}
    if summary is not None:
        account = summary.account
        context.update(
            balance=account.balance,
            debt=-account.balance if account.balance < 0 else 0,
            entries=list(
                PointsEntry.objects.filter(account=account)
                .select_related("order")
                .order_by("-id")[:LATEST_ROWS]
            ),
            member_url=reverse("admin:loyalty_memberaccount_change", args=[account.pk]),
            merged_into=account.merged_into.customer_id if account.merged_into is not None else None,
        )
    body = render_to_string("loyalty/customer_panel.html", context, request=request)
    return [Panel(key="loyalty", title=_("会员与积分"), body=body, order=50, side=True)]
