"""Admin for customers: masked list, platform accounts inline, blacklist and un-blacklist actions."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _
from unfold.admin import TabularInline
from unfold.widgets import UnfoldAdminTextInputWidget

from shopops.core.admin_tools import ReadOnlyAdmin, RevealPersonalDataMixin, action_page
from shopops.core.pii import can_view_pii, mask
from shopops.core.ratelimit import RateLimited, spend_phone_search
from shopops.customers import queries, services
from shopops.customers.models import Customer, CustomerAccount

CHANGE_PERMISSION = "customers.change_customer"
PHONE_SEARCH_SPENT = "_shopops_phone_search_spent"
PHONE_SEARCH_REFUSED = "_shopops_phone_search_refused"


def local_time(value: dt.datetime | None) -> str:
    return date_format(timezone.localtime(value), "Y-m-d H:i") if value else "-"


class CustomerAccountInline(TabularInline):
    model = CustomerAccount
    fields = ("platform", "buyer_id_shown", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    @admin.display(description=_("平台买家ID"))
    def buyer_id_shown(self, account: CustomerAccount) -> str:
        request = getattr(self, "_request", None)
        if request is not None and can_view_pii(request.user):
            return account.buyer_id
        return str(mask(CustomerAccount.PII_FIELDS["buyer_id"], account.buyer_id))

    def get_queryset(self, request: HttpRequest) -> QuerySet[CustomerAccount]:
        self._request = request  # masking depends on who looks
        return super().get_queryset(request)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class BlacklistForm(forms.Form):
    reason = forms.CharField(label=_("拉黑原因"), max_length=200, widget=UnfoldAdminTextInputWidget())


class CustomerAdmin(RevealPersonalDataMixin, ReadOnlyAdmin):
    list_display = (
        "id",
        "name",
        "phone",
        "is_blacklisted",
        "order_count_shown",
        "first_order_shown",
        "last_order_shown",
    )
    list_filter = ("is_blacklisted",)
    search_fields = ("accounts__buyer_id",)
    search_help_text = _("平台买家ID / 完整手机号 / 手机后四位")
    # fieldsets, not fields: the base admin swaps personal-data fields for masked ones only in fieldsets
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "name",
                    "phone",
                    "email",
                    "is_blacklisted",
                    "blacklist_reason",
                    "order_count_shown",
                    "first_order_shown",
                    "last_order_shown",
                    "created_at",
                )
            },
        ),
    )
    # the order figures are of the orders in the user's shops (customers_for), not the record's own dates
    readonly_fields = ("order_count_shown", "first_order_shown", "last_order_shown")
    inlines = (CustomerAccountInline,)
    actions = ["blacklist_selected", "unblacklist_selected"]
    actions_detail = ["reveal_personal_data"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Customer]:
        return queries.customers_for(request.user)

    def get_search_fields(self, request: HttpRequest) -> Any:
        # the box runs search_condition (a whole buyer id, a whole phone number by its hash, or the last four
        # digits the mask shows anyway), never a partial match on personal data, so everyone keeps it
        return self.search_fields

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        if not search_term.strip():
            return queryset, False
        if queries.is_phone_search(search_term) and not getattr(request, PHONE_SEARCH_SPENT, False):
            # the list is built twice on an action's POST: one search, one spend
            setattr(request, PHONE_SEARCH_SPENT, True)
            try:
                spend_phone_search(request.user)
            except RateLimited as error:
                messages.error(request, error.message)
                setattr(request, PHONE_SEARCH_REFUSED, True)
        if getattr(request, PHONE_SEARCH_REFUSED, False):
            return queryset.none(), False
        matching = Customer.objects.filter(queries.search_condition(search_term)).values("pk")
        return queryset.filter(pk__in=matching), False

    @admin.display(description=_("订单数"), ordering="order_count")
    def order_count_shown(self, customer: Customer) -> int:
        return int(getattr(customer, "order_count", 0))

    @admin.display(description=_("首单时间"), ordering="first_order_in_scope")
    def first_order_shown(self, customer: Customer) -> str:
        return local_time(queries.first_order_seen(customer))

    @admin.display(description=_("最近下单"), ordering="last_order_in_scope")
    def last_order_shown(self, customer: Customer) -> str:
        return local_time(queries.last_order_seen(customer))

    def has_blacklist_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(CHANGE_PERMISSION)

    @admin.action(description=_("加入黑名单"), permissions=["blacklist"])
    def blacklist_selected(self, request: HttpRequest, queryset: QuerySet[Customer]) -> HttpResponse | None:
        if request.POST.get("step") == "apply":
            form = BlacklistForm(request.POST)
            if form.is_valid():
                done = sum(
                    1
                    for customer in queryset
                    if self.call_service(
                        request,
                        services.blacklist_customer,
                        actor=request.user,
                        customer_id=customer.pk,
                        reason=form.cleaned_data["reason"],
                    )
                )
                messages.success(request, _("已拉黑 %(count)d 位客户") % {"count": done})
                return None
        else:
            form = BlacklistForm()
        return action_page(
            self,
            request,
            queryset,
            action_name="blacklist_selected",
            title=_("加入黑名单"),
            form=form,
            next_step="apply",
            submit_label=_("确认拉黑"),
            description=_("黑名单客户的新订单在审单时进入异常队列。"),
        )

    @admin.action(description=_("移出黑名单"), permissions=["blacklist"])
    def unblacklist_selected(self, request: HttpRequest, queryset: QuerySet[Customer]) -> None:
        done = sum(
            1
            for customer in queryset.filter(is_blacklisted=True)
            if self.call_service(
                request, services.unblacklist_customer, actor=request.user, customer_id=customer.pk
            )
        )
        messages.success(request, _("已移出黑名单 %(count)d 位客户") % {"count": done})


admin.site.register(Customer, CustomerAdmin)
