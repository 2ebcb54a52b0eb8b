"""Admin exception queue (审单异常): open issues first; operators resolve, ignore or mark orders invalid."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from unfold.contrib.filters.admin import (
    ChoicesDropdownFilter,
    RelatedDropdownFilter,
)
from unfold.widgets import UnfoldAdminTextInputWidget

from shopops.core.admin_tools import (
    ReadOnlyAdmin,
    action_page,
)
from shopops.orders import queries, services
from shopops.orders.admin.common import REVIEW_PERMISSION
from shopops.orders.models import (
    IssueStatus,
    OrderIssue,
)


class ResolveForm(forms.Form):
    resolution = forms.CharField(
        label=_("处理说明"), max_length=300, required=True, widget=UnfoldAdminTextInputWidget()
    )


class OrderIssueAdmin(ReadOnlyAdmin):
    """The exception queue: open issues first, oldest first; operators settle them one way or another."""

    list_display = (
        "order_link",
        "shop_shown",
        "rule",
        "message_shown",
        "status",
        "marks_invalid",
        "created_at",
        "resolved_by",
    )
    list_filter = (
        ("status", ChoicesDropdownFilter),
        "rule",
        ("order__shop", RelatedDropdownFilter),
    )
    list_filter_submit = True
    # the order number is the link (to the order workspace, where issues are settled in place); a row link of
    # the admin's own around it would nest one <a> in another
    list_display_links = None
    list_select_related = ("order", "order__shop", "resolved_by")
    search_fields = ("order__external_id",)
    actions = ["resolve_selected", "ignore_selected", "mark_invalid_selected"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[OrderIssue]:
        return queries.issues_for(request.user).annotate(open_first=queries.OPEN_FIRST)

    def get_ordering(self, request: HttpRequest) -> Any:
        return ("open_first", "created_at", "pk")

    @admin.display(description=_("订单"), ordering="order__external_id")
    def order_link(self, issue: OrderIssue) -> Any:
        return format_html(
            '<a class="text-primary-600" href="{}">{}</a>',
            reverse("admin:orders_order_change", args=[issue.order_id]),
            issue.order.external_id,
        )

    @admin.display(description=_("说明"))
    def message_shown(self, issue: OrderIssue) -> Any:
        if issue.rule != "sku_unmatched" or issue.status != IssueStatus.OPEN:
            return issue.message
        return format_html(
            '{} <a class="text-primary-600" href="{}?shop={}">{}</a>',
            issue.message,
            reverse("admin:orders_skumapping_unmatched"),
            issue.order.shop_id,
            _("去商品对应"),
        )

    @admin.display(description=_("店铺"))
    def shop_shown(self, issue: OrderIssue) -> str:
        return issue.order.shop.name

    def has_settle_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(REVIEW_PERMISSION)

    def _settle(
        self,
        request: HttpRequest,
        queryset: QuerySet[OrderIssue],
        *,
        action_name: str,
        title: Any,
        mark_invalid: bool,
    ) -> HttpResponse | None:
        open_issues = queryset.filter(status=IssueStatus.OPEN)
        if request.POST.get("step") == "apply":
            form = ResolveForm(request.POST)
            if form.is_valid():
                text = form.cleaned_data["resolution"]
                done = sum(
                    1
                    for issue in open_issues
                    if self.call_service(
                        request,
                        services.resolve_issue,
                        actor=request.user,
                        issue_id=issue.pk,
                        resolution=text,
                        mark_invalid=mark_invalid,
                    )
                )
                messages.success(request, _("已处理 %(count)d 条异常") % {"count": done})
                return None
        else:
            form = ResolveForm()
        return action_page(
            self,
            request,
            open_issues,
            action_name=action_name,
            title=title,
            form=form,
            next_step="apply",
            submit_label=title,
            description=_("只处理所选中的待处理异常；处理结果记入订单动态，订单随即重新审单。"),
        )

    @admin.action(description=_("处理（订单有效）"), permissions=["settle"])
    def resolve_selected(self, request: HttpRequest, queryset: QuerySet[OrderIssue]) -> HttpResponse | None:
        return self._settle(
            request, queryset, action_name="resolve_selected", title=_("处理异常"), mark_invalid=False
        )

    @admin.action(description=_("判为无效订单"), permissions=["settle"])
    def mark_invalid_selected(
        self, request: HttpRequest, queryset: QuerySet[OrderIssue]
    ) -> HttpResponse | None:
        return self._settle(
            request, queryset, action_name="mark_invalid_selected", title=_("判为无效订单"), mark_invalid=True
        )

    @admin.action(description=_("忽略（误报）"), permissions=["settle"])
    def ignore_selected(self, request: HttpRequest, queryset: QuerySet[OrderIssue]) -> None:
        done = sum(
            1
            for issue in queryset.filter(status=IssueStatus.OPEN)
            if self.call_service(request, services.ignore_issue, actor=request.user, issue_id=issue.pk)
        )
        messages.success(request, _("已忽略 %(count)d 条异常") % {"count": done})
