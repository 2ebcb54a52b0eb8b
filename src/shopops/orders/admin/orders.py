"""Admin order list (filters operators use daily, bulk actions) and read-only order pages with lines,
timeline and issues."""

from __future__ import annotations

import tempfile
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.contrib.filters.admin import (
    ChoicesDropdownFilter,
    RelatedDropdownFilter,
)
from unfold.decorators import action
from unfold.widgets import UnfoldAdminSelectWidget, UnfoldAdminTextInputWidget, UnfoldBooleanSwitchWidget

from shopops.core.admin_tools import (
    ReadOnlyAdmin,
    RevealPersonalDataMixin,
    action_page,
    money,
)
from shopops.core.errors import DomainError
from shopops.core.ratelimit import RateLimited, spend_phone_search
from shopops.orders import queries, services
from shopops.orders.admin import common, workspace
from shopops.orders.admin.common import (
    EXPORT_CONTENT_TYPES,
    EXPORT_PERMISSION,
    FLAG_CHOICES,
    REVIEW_PERMISSION,
    SHIP_PERMISSION,
    FlagFilter,
    LocalDateRangeFilter,
    OpenIssuesFilter,
    SavedFilterListFilter,
    flag_badge,
    local_time,
)
from shopops.orders.admin.imports import OrderImportAdminMixin
from shopops.orders.models import (
    Order,
    SavedFilter,
)
from shopops.orders.services import filters as filter_services


class MemoForm(forms.Form):
    flag = forms.TypedChoiceField(
        label=_("旗帜"), choices=FLAG_CHOICES, coerce=int, widget=UnfoldAdminSelectWidget()
    )
    seller_memo = forms.CharField(
        label=_("卖家备注"),
        max_length=500,
        required=False,
        widget=UnfoldAdminTextInputWidget(),
        help_text=_("留空则不修改备注"),
    )


PHONE_REFUSAL_ATTRIBUTE = "_shopops_phone_search_refusal"


class SaveFilterForm(forms.Form):
    name = forms.CharField(label=_("名称"), max_length=60, widget=UnfoldAdminTextInputWidget())
    is_shared = forms.BooleanField(label=_("团队共享"), required=False, widget=UnfoldBooleanSwitchWidget())


class OrderAdmin(OrderImportAdminMixin, RevealPersonalDataMixin, ReadOnlyAdmin):
    # the 工作台's to-do counts link here with these filters (shopops.dashboard)
    linked_lookups = (
        "status__exact",
        "review_status__exact",
        "buyer_message__gt",
        "pay_deadline__gt",
        "pay_deadline__lte",
    )
    list_display = (
        "external_id",
        "shop",
        "status",
        "refund_status",
        "review_status",
        "is_valid",
        "paid_shown",
        "receiver_name",
        "receiver_phone",
        "placed_shown",
        "flag_shown",
    )
    list_filter = (
        ("shop", RelatedDropdownFilter),
        ("shop__platform", ChoicesDropdownFilter),
        ("status", ChoicesDropdownFilter),
        ("refund_status", ChoicesDropdownFilter),
        ("review_status", ChoicesDropdownFilter),
        "is_valid",
        FlagFilter,
        OpenIssuesFilter,
        SavedFilterListFilter,
        ("placed_at", LocalDateRangeFilter),
        ("paid_at", LocalDateRangeFilter),
        ("shipped_at", LocalDateRangeFilter),
    )
    list_filter_submit = True
    list_select_related = ("shop",)
    search_fields = ("external_id",)
    search_help_text = _(
        "订单号 / 买家ID或昵称 / 运单号 / 收货人手机号（完整；后四位须同时筛选店铺和不超过31天的日期）/ 商家编码"
    )
    show_full_result_count = False
    actions = [
        "mark_selected",
        "ship_selected",
        "rerun_review",
        "export_selected_csv",
        "export_selected_xlsx",
    ]
    actions_detail = ["reveal_personal_data"]
    actions_list = ["import_orders", "save_current_filter"]
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "shop",
                    "external_id",
                    "order_type",
                    "source",
                    "status",
                    "platform_status",
                    "refund_status",
                    "review_status",
                    "is_valid",
                    "stock_state",
                    "warehouse",
                    "flag",
                    "seller_memo",
                    "buyer_message",
                )
            },
        ),
        (
            _("买家与收货人"),
            {
                "fields": (
                    "customer",
                    "buyer_id",
                    "buyer_nick",
                    "buyer_email",
                    "receiver_name",
                    "receiver_phone",
                    "receiver_province",
                    "receiver_city",
                    "receiver_district",
                    "receiver_address",
                    "receiver_postcode",
                    "receiver_country",
                )
            },
        ),
        (
            _("金额"),
            {
                "fields": (
                    "currency",
                    "goods_amount",
                    "shipping_fee",
                    "shop_discount",
                    "platform_discount",
                    "paid_amount",
                    "merchant_received",
                    "refunded_amount",
                )
            },
        ),
        (
            _("时间与物流"),
            {
                "fields": (
                    "placed_at",
                    "paid_at",
                    "pay_deadline",
                    "shipped_at",
                    "delivered_at",
                    "completed_at",
                    "cancelled_at",
                    "close_reason",
                    "carrier_name",
                    "tracking_number",
                )
            },
        ),
    )

    @admin.display(description=_("实付金额"), ordering="paid_amount")
    def paid_shown(self, order: Order) -> str:
        return money(order.paid_amount)

    @admin.display(description=_("下单时间"), ordering="placed_at")
    def placed_shown(self, order: Order) -> str:
        return local_time(order.placed_at)

    @admin.display(description=_("旗帜"), ordering="flag")
    def flag_shown(self, order: Order) -> Any:
        return flag_badge(order.flag)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        """One box for everything operators paste: order no, buyer, tracking no, phone, merchant code.

        A phone follows the API's rules (a refusal is shown as an error instead of phone matches): the last
        four digits or a masked number only with a narrowing filter, and every phone search, typed or from a
        saved filter, spends one of the user's phone searches; past the budget the list is empty."""
        term = search_term.strip()
        refusal = self._phone_search_refusal(request, term)
        if isinstance(refusal, RateLimited):
            return queryset.none(), False
        if not term:
            return queryset, False
        condition = queries.text_condition(term) | queries.sku_condition(term)
        if refusal is None and queries.looks_like_phone(term):
            condition |= queries.phone_condition(term)
        return queryset.filter(condition), False

    def _phone_search_refusal(self, request: HttpRequest, term: str) -> DomainError | None:
        """Why this request may not search by phone, or None; decided once per request (an action's POST
        builds the list twice) and shown as an error message."""
        if hasattr(request, PHONE_REFUSAL_ATTRIBUTE):
            return getattr(request, PHONE_REFUSAL_ATTRIBUTE)
        refusal: DomainError | None = None
        typed = queries.looks_like_phone(term)
        if typed:
            try:
                common.search_from_changelist(request.user, request.GET)  # refuses a partial phone too broad
            except DomainError as error:
                refusal = error
        if refusal is None and (typed or self._saved_filter_has_phone(request)):
            try:
                spend_phone_search(request.user)
            except RateLimited as error:
                refusal = error
        if refusal is not None:
            messages.error(request, refusal.message)
        setattr(request, PHONE_REFUSAL_ATTRIBUTE, refusal)
        return refusal

    def _saved_filter_has_phone(self, request: HttpRequest) -> bool:
        saved = str(request.GET.get("saved_filter", ""))
        if not saved.isdigit():
            return False
        try:
            return queries.is_phone_search(queries.saved_search(request.user, int(saved)))
        except DomainError:
            return False  # the saved-filter list filter shows the refusal and lists nothing

    # The order workspace (订单工作台): the order page, its panels and its in-place actions.

    def get_urls(self) -> list[URLPattern]:
        extra = [
            path(
                "<int:order_id>/workspace/<slug:action_name>/",
                self.admin_site.admin_view(self.workspace_action),
                name="orders_order_workspace_action",
            )
        ]
        return extra + super().get_urls()

    def _order_in_scope(self, request: HttpRequest, object_id: str) -> Order:
        """The order, if it exists within the user's shops (else 404, the same as a missing one)."""
        order = self.get_object_or_404(request, object_id)
        if not self.has_view_or_change_permission(request, order):
            raise PermissionDenied
        return order

    def workspace_action(self, request: HttpRequest, order_id: int, action_name: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        order = self._order_in_scope(request, str(order_id))
        workspace.run_action(request, order, action_name)
        return HttpResponseRedirect(reverse(f"{self.admin_site.name}:orders_order_change", args=[order.pk]))

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if request.method != "GET":
            return HttpResponseNotAllowed(["GET"])
        order = self._order_in_scope(request, object_id)
        site = self.admin_site.name
        reveal_url = None
        if self.hides_pii(request) and self.has_reveal_permission(request, order.pk):
            reveal_url = reverse(f"{site}:orders_order_reveal_personal_data", args=[order.pk])
        context = {
            **self.admin_site.each_context(request),
            **workspace.build(request, order, reveal_url=reveal_url),
            "title": gettext("订单 %(number)s") % {"number": order.external_id},
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "changelist_url": reverse(f"{site}:orders_order_changelist"),
            "header_buttons": [
                {
                    "label": gettext("变更历史"),
                    "icon": "history",
                    "url": reverse(f"{site}:orders_order_history", args=[order.pk]),
                }
            ],
            "placed": common.shop_time(order.placed_at, order.shop.timezone),
            "paid_at": common.shop_time(order.paid_at, order.shop.timezone) if order.paid_at else "",
            "shipped_at": common.shop_time(order.shipped_at, order.shop.timezone) if order.shipped_at else "",
            **(extra_context or {}),
        }
        request.current_app = site
        return TemplateResponse(request, "admin/orders/order/workspace.html", context)

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Any:
        queryset = self.get_queryset(request).select_related("shop", "warehouse")
        try:
            return queryset.get(pk=int(object_id))
        except (Order.DoesNotExist, ValueError, TypeError):
            return None

    def has_memo_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("orders.change_order")

    def has_review_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(REVIEW_PERMISSION)

    def has_export_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(EXPORT_PERMISSION)

    def has_save_filter_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("orders.add_savedfilter")

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        """ "保存当前筛选" carries the list's filters and search."""
        response = super().changelist_view(request, extra_context)
        query = request.GET.urlencode()
        context = getattr(response, "context_data", None)
        if query and context:
            save_path = reverse(f"{self.admin_site.name}:orders_order_save_current_filter")
            for entry in context.get("actions_list", []):
                if isinstance(entry, dict) and entry.get("path") == save_path:
                    entry["path"] = f"{save_path}?{query}"
        return response

    @action(
        description=_("保存当前筛选"),
        url_path="save-filter",
        permissions=["save_filter"],
        icon="bookmark_add",
    )
    def save_current_filter(self, request: HttpRequest) -> HttpResponse:
        changelist = reverse(f"{self.admin_site.name}:orders_order_changelist")
        try:
            search = common.search_from_changelist(request.user, request.GET)
        except DomainError as error:
            messages.error(request, error.message)
            return HttpResponseRedirect(changelist)
        form = SaveFilterForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            saved = self.call_service(
                request,
                filter_services.create_saved_filter,
                actor=request.user,
                name=form.cleaned_data["name"],
                params=search,
                is_shared=form.cleaned_data["is_shared"],
            )
            if saved is not None:
                messages.success(request, _("已保存常用筛选“%(name)s”") % {"name": saved.name})
                return HttpResponseRedirect(f"{changelist}?saved_filter={saved.pk}")
        conditions = queries.params_text(self._conditions_shown(request, search))
        return action_page(
            self,
            request,
            Order.objects.none(),
            action_name="save_current_filter",
            title=_("保存当前筛选"),
            form=form,
            next_step="apply",
            submit_label=_("保存"),
            description=_("筛选条件：%(conditions)s") % {"conditions": conditions or _("（全部订单）")},
        )

    def _conditions_shown(self, request: HttpRequest, search: queries.OrderSearch) -> dict[str, Any]:
        """The search to save as this user may see it: started from someone else's shared filter, its
        personal values stay masked."""
        params = search.to_dict()
        saved_id = str(request.GET.get("saved_filter", ""))
        if saved_id.isdigit():
            saved = queries.saved_filter_for(request.user, int(saved_id))
            masked = SavedFilter(owner_id=saved.owner_id, params=params)
            return queries.saved_params_shown(request.user, masked)
        return params

    def has_ship_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(SHIP_PERMISSION) and common.ship_url() is not None

    @admin.action(description=_("标记旗帜/备注"), permissions=["memo"])
    def mark_selected(self, request: HttpRequest, queryset: QuerySet[Order]) -> HttpResponse | None:
        if request.POST.get("step") == "apply":
            form = MemoForm(request.POST)
            if form.is_valid():
                memo = form.cleaned_data["seller_memo"] or None
                done = sum(
                    1
                    for order in queryset
                    if self.call_service(
                        request,
                        services.update_order_memo,
                        actor=request.user,
                        order_id=order.pk,
                        flag=form.cleaned_data["flag"],
                        seller_memo=memo,
                        via="admin",
                    )
                )
                messages.success(request, _("已标记 %(count)d 张订单") % {"count": done})
                return None
        else:
            form = MemoForm()
        return action_page(
            self,
            request,
            queryset,
            action_name="mark_selected",
            title=_("标记旗帜/备注"),
            form=form,
            next_step="apply",
            submit_label=_("确认标记"),
            description=_("旗帜和备注的修改记入订单动态和审计。"),
        )

    @admin.action(description=_("发货"), permissions=["ship"])
    def ship_selected(self, request: HttpRequest, queryset: QuerySet[Order]) -> HttpResponse | None:
        url = common.ship_url()
        if url is None:
            messages.error(request, _("发货功能尚未启用"))
            return None
        ids = ",".join(str(pk) for pk in queryset.order_by("pk").values_list("pk", flat=True))
        return HttpResponseRedirect(f"{url}?orders={ids}")

    @admin.action(description=_("重新审单"), permissions=["review"])
    def rerun_review(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        result = self.call_service(request, services.review_orders, order_ids=ids, actor=request.user)
        if result is not None:
            flagged = sum(1 for rules in result.values() if rules)
            messages.success(
                request,
                _("已重新审单 %(count)d 张，其中 %(flagged)d 张有异常")
                % {"count": len(ids), "flagged": flagged},
            )

    @admin.action(description=_("导出所选（CSV）"), permissions=["export"])
    def export_selected_csv(self, request: HttpRequest, queryset: QuerySet[Order]) -> HttpResponseBase:
        return self._export(request, queryset, "csv")

    @admin.action(description=_("导出所选（Excel）"), permissions=["export"])
    def export_selected_xlsx(self, request: HttpRequest, queryset: QuerySet[Order]) -> HttpResponseBase:
        return self._export(request, queryset, "xlsx")

    def _export(self, request: HttpRequest, queryset: QuerySet[Order], file_format: str) -> HttpResponseBase:
        handle = tempfile.TemporaryFile()  # closed by FileResponse
        try:
            filter_services.export_orders(
                actor=request.user,
                destination=handle,
                file_format=file_format,
                selection=queryset,
                via="admin",
            )
        except DomainError as error:
            handle.close()
            raise PermissionDenied(error.message) from error
        handle.seek(0)
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        return FileResponse(
            handle,
            as_attachment=True,
            filename=f"orders-{stamp}.{file_format}",
            content_type=EXPORT_CONTENT_TYPES[file_format],
        )
