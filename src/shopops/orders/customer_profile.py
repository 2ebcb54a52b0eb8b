"""Orders' part of the customer profile page (customers discovers this module; it may not import orders):
totals over the customer's orders in the user's shops (orders, paid, refunded, 客单价, first/last order,
purchase interval) and the latest orders, each linking to its order workspace."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _

from shopops.core.admin_tools import money
from shopops.core.panels import Panel
from shopops.core.scope import scoped
from shopops.customers import queries as customer_queries
from shopops.orders.admin.common import shop_time
from shopops.orders.models import Order

VIEW = "orders.view_order"
LATEST = 20


def figure_rows(figures: customer_queries.OrderFigures, user: Any) -> list[tuple[str, Any]]:
    zone = "Asia/Shanghai"
    interval = (
        _("%(days)s 天") % {"days": figures.interval_days} if figures.interval_days is not None else "-"
    )
    return [
        (_("订单数"), figures.orders),
        (_("有效订单"), figures.valid_orders),
        (_("支付金额"), money(figures.paid)),
        (_("已退款"), money(figures.refunded)),
        (_("客单价"), money(figures.aov)),
        (_("首单时间"), shop_time(figures.first_order_at, zone)),
        (_("最近下单"), shop_time(figures.last_order_at, zone)),
        (_("平均购买间隔"), interval),
    ]


def panels(request: HttpRequest, customer: Any) -> list[Panel]:
    user = request.user
    if not user.has_perm(VIEW):
        return []
    figures = customer_queries.order_figures(user, customer)
    orders = list(
        scoped(Order, user)
        .filter(customer=customer)
        .select_related("shop")
        .order_by("-placed_at", "-pk")[: LATEST + 1]
    )
    rows = [
        {
            "order": order,
            "url": reverse("admin:orders_order_change", args=[order.pk]),
            "placed": shop_time(order.placed_at, order.shop.timezone),
            "paid": money(order.paid_amount),
            "refunded": money(order.refunded_amount),
        }
        for order in orders[:LATEST]
    ]
    body = render_to_string(
        "admin/customers/profile/orders.html",
        {"figures": figure_rows(figures, user), "rows": rows, "more": len(orders) > LATEST, "shown": LATEST},
        request=request,
    )
    return [Panel(key="orders", title=_("订单"), body=body, order=10)]
