"""The order workspace (订单工作台): the order page an operator lives in, and how higher apps add to it.

The page is built from panels. Orders supplies the header, lines with stock, buyer and receiver, review
issues and the timeline; a higher app (fulfillment: parcels; after-sales: cases) adds its panels and
actions from a module `shopops.<app>.order_workspace` that the page discovers at run time (the same
mechanism as `demo_data` and `imports`: a lower app never imports a higher one). Such a module defines

    def panels(request, order) -> list[Panel]          # panels to show, already rendered
    ACTIONS: dict[str, WorkspaceAction]                  # POST-only actions by name (prefix with the app)

Every action is a POST with CSRF to `admin:orders_order_workspace_action` (order id + action name), runs
only for an order in the user's scope (else 404) and for a user holding its permission (else 403), and
reports the service's refusal (`DomainError`, in Chinese) as an error message on the page.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from types import ModuleType
from typing import Any

from django import forms
from django.apps import apps
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from unfold.widgets import UnfoldAdminSelectWidget, UnfoldAdminTextInputWidget

from shopops.core.admin_tools import money
from shopops.core.errors import DomainError
from shopops.core.panels import Panel
from shopops.core.pii import can_view_pii, mask, pii_fields
from shopops.inventory import queries as inventory_queries
from shopops.orders import services, timeline
from shopops.orders.admin.common import FLAG_CHOICES, FLAG_COLOURS, REVIEW_PERMISSION
from shopops.orders.models import IssueStatus, Order, OrderIssue, OrderLine, ReviewStatus
from shopops.orders.queries import is_on_hold
from shopops.orders.services.lifecycle import cancel_target, hold_order, hold_refusal, release_order

EXTENSION_MODULE = "order_workspace"
MEMO_PERMISSION = "orders.change_order"
CANCEL_PERMISSION = "orders.change_order"
ACTION_URL_NAME = "admin:orders_order_workspace_action"


@dataclass(frozen=True)
class WorkspaceAction:
    """A POST-only action on one order: the permission it needs and what it does. `run` returns the
    success message; a `DomainError` it raises becomes the error message."""

    permission: str
    run: Callable[[HttpRequest, Order], str]


@dataclass
class Workspace:
    panels: list[Panel] = field(default_factory=list)


def action_url(order: Order, name: str) -> str:
    return reverse(ACTION_URL_NAME, args=[order.pk, name])


@cache
def extensions() -> tuple[ModuleType, ...]:
    """The `order_workspace` modules of the installed shopops apps, in app order."""
    found = []
    for config in apps.get_app_configs():
        if not config.name.startswith("shopops."):
            continue
        name = f"{config.name}.{EXTENSION_MODULE}"
        try:
            found.append(importlib.import_module(name))
        except ModuleNotFoundError as error:
            if error.name != name:
                raise
    return tuple(found)


def all_actions() -> dict[str, WorkspaceAction]:
    actions = dict(ACTIONS)
    for module in extensions():
        actions.update(getattr(module, "ACTIONS", {}))
    return actions


def run_action(request: HttpRequest, order: Order, name: str) -> None:
    """Run one workspace action for an order already checked to be in the user's scope."""
    action = all_actions().get(name)
    if action is None:
        raise PermissionDenied
    if not request.user.has_perm(action.permission):
        raise PermissionDenied
    try:
        done = action.run(request, order)
    except DomainError as error:
        messages.error(request, error.message)
        return
    if done:
        messages.success(request, done)


# Forms (rendered by the page, read back by the actions).


class MemoForm(forms.Form):
    flag = forms.TypedChoiceField(
        label=gettext_lazy("旗帜"), choices=FLAG_CHOICES, coerce=int, widget=UnfoldAdminSelectWidget()
    )
    seller_memo = forms.CharField(
        label=gettext_lazy("卖家备注"), max_length=500, required=False, widget=UnfoldAdminTextInputWidget()
    )


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("原因"),
        max_length=300,
        widget=UnfoldAdminTextInputWidget(),
        error_messages={"required": gettext_lazy("请填写原因")},
    )


def _required(request: HttpRequest, name: str, label: str) -> str:
    value = str(request.POST.get(name, "")).strip()
    if not value:
        raise DomainError(_("请填写%(label)s") % {"label": label}, fields={name: _("必填")})
    return value


# Orders' own actions.


def _memo(request: HttpRequest, order: Order) -> str:
    form = MemoForm(request.POST)
    if not form.is_valid():
        raise DomainError(_("旗帜或备注无效"), fields={"flag": _("无效")})
    services.update_order_memo(
        actor=request.user,
        order_id=order.pk,
        flag=form.cleaned_data["flag"],
        seller_memo=form.cleaned_data["seller_memo"],
        via="admin",
    )
    return _("已保存旗帜和卖家备注")


def _cancel(request: HttpRequest, order: Order) -> str:
    reason = _required(request, "reason", _("取消原因"))
    done = services.cancel_order(actor=request.user, order_id=order.pk, reason=reason, via="admin")
    return _("订单已%(status)s") % {"status": done.get_status_display()}


def _hold(request: HttpRequest, order: Order) -> str:
    reason = _required(request, "reason", _("暂停原因"))
    hold_order(actor=request.user, order_id=order.pk, reason=reason, via="admin")
    return _("订单已暂停发货")


def _release(request: HttpRequest, order: Order) -> str:
    release_order(actor=request.user, order_id=order.pk, reason=str(request.POST.get("reason", "")).strip())
    return _("订单已恢复发货")


def _issue(request: HttpRequest, order: Order) -> OrderIssue:
    issue_id = str(request.POST.get("issue", ""))
    issue = order.issues.filter(pk=int(issue_id)).first() if issue_id.isdigit() else None
    if issue is None:
        raise DomainError(_("审单异常不存在"), fields={"issue": _("不存在")})
    return issue


def _resolve(request: HttpRequest, order: Order) -> str:
    issue = _issue(request, order)
    resolution = _required(request, "resolution", _("处理说明"))
    mark_invalid = request.POST.get("outcome") == "invalid"
    services.resolve_issue(
        actor=request.user, issue_id=issue.pk, resolution=resolution, mark_invalid=mark_invalid
    )
    order.refresh_from_db()
    if mark_invalid:
        return _("异常「%(rule)s」已处理，订单判为无效") % {"rule": timeline.rule_label(issue.rule)}
    return _("异常「%(rule)s」已处理，审单状态：%(status)s") % {
        "rule": timeline.rule_label(issue.rule),
        "status": order.get_review_status_display(),
    }


def _ignore(request: HttpRequest, order: Order) -> str:
    issue = _issue(request, order)
    reason = _required(request, "resolution", _("忽略原因"))
    services.ignore_issue(actor=request.user, issue_id=issue.pk, reason=reason)
    order.refresh_from_db()
    return _("异常「%(rule)s」已忽略，审单状态：%(status)s") % {
        "rule": timeline.rule_label(issue.rule),
        "status": order.get_review_status_display(),
    }


def _rereview(request: HttpRequest, order: Order) -> str:
    services.review_orders(order_ids=[order.pk], actor=request.user)
    order.refresh_from_db()
    return _("已重新审单：%(status)s") % {"status": order.get_review_status_display()}


ACTIONS: dict[str, WorkspaceAction] = {
    "memo": WorkspaceAction(MEMO_PERMISSION, _memo),
    "cancel": WorkspaceAction(CANCEL_PERMISSION, _cancel),
    "hold": WorkspaceAction(MEMO_PERMISSION, _hold),
    "release": WorkspaceAction(MEMO_PERMISSION, _release),
    "resolve_issue": WorkspaceAction(REVIEW_PERMISSION, _resolve),
    "ignore_issue": WorkspaceAction(REVIEW_PERMISSION, _ignore),
    "review": WorkspaceAction(REVIEW_PERMISSION, _rereview),
}


# Reads for the page.


@dataclass(frozen=True)
class LineRow:
    line: OrderLine
    code: str
    name: str
    image: str
    stock: str
    stock_short: bool
    unit_price: str
    discount: str
    amount: str


def _image_url(line: OrderLine) -> str:
    if line.sku is None:
        return ""
    images = list(line.sku.product.images.all())
    try:
        return images[0].image.url if images else ""
    except ValueError:  # a row without a file
        return ""


def line_rows(user: Any, order: Order) -> list[LineRow]:
    """Lines with SKU code, product name, thumbnail and stock (reserved where, available there): three
    queries whatever the number of lines."""
    lines = list(
        order.lines.select_related("sku__product")
        .prefetch_related("sku__product__images")
        .order_by("line_no")
    )
    reserved = services.line_warehouses(order_id=order.pk)
    sku_ids = {line.sku_id for line in lines if line.sku_id is not None}
    levels: dict[tuple[int, int], Any] = {}
    totals: dict[int, int] = {}
    if sku_ids:
        for level in inventory_queries.stock_levels(user=user).filter(sku_id__in=sku_ids):
            levels[(level.sku_id, level.warehouse_id)] = level
            available: int = level.available_quantity  # type: ignore[attr-defined]  # annotated by the query
            totals[level.sku_id] = totals.get(level.sku_id, 0) + max(available, 0)
    rows = []
    for line in lines:
        stock, short = _stock_text(line, reserved.get(line.pk), levels, totals)
        rows.append(
            LineRow(
                line=line,
                code=line.sku.merchant_code if line.sku else line.merchant_code,
                name=line.sku.product.name if line.sku else line.title,
                image=_image_url(line),
                stock=stock,
                stock_short=short,
                unit_price=money(line.unit_price),
                discount=money(line.discount),
                amount=money(line.amount),
            )
        )
    return rows


def _stock_text(
    line: OrderLine, warehouse_id: int | None, levels: dict[tuple[int, int], Any], totals: dict[int, int]
) -> tuple[str, bool]:
    if line.sku_id is None:
        return _("未匹配SKU"), True
    open_units = services.open_units(line)
    if warehouse_id is not None:
        level = levels.get((line.sku_id, warehouse_id))
        where = level.warehouse.name if level is not None else _("仓库")
        available = max(level.available_quantity, 0) if level is not None else 0
        return _("已预占 %(units)d 件 · %(warehouse)s（可用 %(available)d）") % {
            "units": open_units,
            "warehouse": where,
            "available": available,
        }, False
    if open_units == 0:
        return _("无待发"), False
    available = totals.get(line.sku_id, 0)
    return _("未预占 · 各仓可用 %(available)d") % {"available": available}, available < open_units


def person_rows(user: Any, order: Order) -> list[tuple[str, str]]:
    """Buyer and receiver, masked unless the user may see personal data."""
    kinds = pii_fields(Order)
    show = can_view_pii(user)

    def value(name: str) -> str:
        raw = getattr(order, name) or ""
        return str(raw if show or name not in kinds else mask(kinds[name], raw)) or "-"

    region = " ".join(
        part for part in (order.receiver_province, order.receiver_city, order.receiver_district) if part
    )
    rows = [
        (_("买家"), value("buyer_nick") if order.buyer_nick else value("buyer_id")),
        (_("收货人"), value("receiver_name")),
        (_("电话"), value("receiver_phone")),
        (_("地区"), region or "-"),
        (_("地址"), value("receiver_address")),
    ]
    if order.buyer_email:
        rows.append((_("邮箱"), value("buyer_email")))
    if order.buyer_message:
        rows.append((_("买家留言"), order.buyer_message))
    return rows


def amount_rows(order: Order) -> list[tuple[str, str]]:
    discount = order.shop_discount + order.platform_discount
    rows = [
        (_("商品总额"), money(order.goods_amount)),
        (_("优惠"), "-" + money(discount) if discount else money(discount)),
        (_("运费"), money(order.shipping_fee)),
        (_("实付金额"), money(order.paid_amount)),
        (_("已退款"), money(order.refunded_amount)),
    ]
    if order.currency and order.currency != "CNY":
        rows.append((_("币种"), order.currency))
    return rows


def flag_info(order: Order) -> tuple[str, str] | None:
    if order.flag not in FLAG_COLOURS:
        return None
    colour, label = FLAG_COLOURS[order.flag]
    return colour, str(label)


def order_panels(request: HttpRequest, order: Order) -> list[Panel]:
    """Orders' own panels: issues (when any), lines, buyer/receiver, amounts, memo, timeline."""
    user = request.user
    can_review = user.has_perm(REVIEW_PERMISSION)
    issues = list(order.issues.select_related("resolved_by").order_by("status", "-created_at"))
    panels = []
    if issues:
        open_issues = [issue for issue in issues if issue.status == IssueStatus.OPEN]
        panels.append(
            Panel(
                key="issues",
                title=_("审单异常"),
                order=10,
                body=render_to_string(
                    "admin/orders/order/workspace/issues.html",
                    {
                        "order": order,
                        "issues": [(issue, timeline.rule_label(issue.rule)) for issue in issues],
                        "open_count": len(open_issues),
                        "can_review": can_review,
                        "resolve_url": action_url(order, "resolve_issue"),
                        "ignore_url": action_url(order, "ignore_issue"),
                    },
                    request=request,
                ),
            )
        )
    panels.append(
        Panel(
            key="lines",
            title=_("商品明细"),
            order=20,
            body=render_to_string(
                "admin/orders/order/workspace/lines.html",
                {"order": order, "rows": line_rows(user, order)},
                request=request,
            ),
        )
    )
    events = list(order.events.select_related("actor"))
    panels.append(
        Panel(
            key="timeline",
            title=_("订单动态"),
            order=90,
            body=render_to_string(
                "admin/orders/order/workspace/timeline.html",
                {"entries": timeline.entries(events, user, zone=order.shop.timezone)},
                request=request,
            ),
        )
    )
    return panels


def side_panels(request: HttpRequest, order: Order, *, reveal_url: str | None) -> list[Panel]:
    user = request.user
    memo_form = MemoForm(initial={"flag": order.flag, "seller_memo": order.seller_memo})
    return [
        Panel(
            key="people",
            title=_("买家与收货人"),
            order=10,
            side=True,
            body=render_to_string(
                "admin/orders/order/workspace/people.html",
                {"rows": person_rows(user, order), "reveal_url": reveal_url},
                request=request,
            ),
        ),
        Panel(
            key="amounts",
            title=_("金额"),
            order=20,
            side=True,
            body=render_to_string(
                "admin/orders/order/workspace/amounts.html", {"rows": amount_rows(order)}, request=request
            ),
        ),
        Panel(
            key="memo",
            title=_("旗帜与卖家备注"),
            order=30,
            side=True,
            body=render_to_string(
                "admin/orders/order/workspace/memo.html",
                {
                    "order": order,
                    "form": memo_form,
                    "flag": flag_info(order),
                    "can_edit": user.has_perm(MEMO_PERMISSION),
                    "memo_url": action_url(order, "memo"),
                },
                request=request,
            ),
        ),
    ]


def build(request: HttpRequest, order: Order, *, reveal_url: str | None) -> dict[str, Any]:
    """The template context of the workspace for this user."""
    user = request.user
    panels = order_panels(request, order) + side_panels(request, order, reveal_url=reveal_url)
    for module in extensions():
        panels.extend(module.panels(request, order))
    panels.sort(key=lambda panel: (panel.order, panel.key))
    open_issues = [
        timeline.rule_label(rule)
        for rule in order.issues.filter(status=IssueStatus.OPEN).values_list("rule", flat=True)
    ]
    can_cancel = user.has_perm(CANCEL_PERMISSION) and cancel_target(order) is not None
    return {
        "order": order,
        "flag": flag_info(order),
        "open_issue_labels": open_issues,
        "review_ok": order.review_status == ReviewStatus.PASSED,
        "review_bad": order.review_status in (ReviewStatus.EXCEPTION, ReviewStatus.INVALID),
        "main_panels": [panel for panel in panels if not panel.side],
        "side_panels": [panel for panel in panels if panel.side],
        "can_cancel": can_cancel,
        "cancel_label": _("关闭订单") if cancel_target(order) == "closed" else _("取消订单"),
        "cancel_url": action_url(order, "cancel"),
        "on_hold": is_on_hold(order),
        "can_hold": user.has_perm(MEMO_PERMISSION) and hold_refusal(order) is None,
        "can_release": user.has_perm(MEMO_PERMISSION) and is_on_hold(order),
        "hold_url": action_url(order, "hold"),
        "release_url": action_url(order, "release"),
        "can_review": user.has_perm(REVIEW_PERMISSION),
        "review_url": action_url(order, "review"),
        "paid": money(order.paid_amount),
    }
