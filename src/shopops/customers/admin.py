"""Admin for customers: the masked list, the profile page (客户档案), merge suggestions (合并建议),
blacklist actions and the customer import.

The profile page replaces the change form (GET only): a header with masked personal fields (reveal
audited), identities, notes (added by POST), merge history with unmerge (POST after a confirmation), then
the panels other apps contribute through their `customer_profile` module
(`panels(request, customer) -> list[Panel]`, discovered with core.extensions: customers never imports
them). Every POST checks scope (404) and permission (403) and reports a service's refusal as a message.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.formats import date_format
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import TabularInline
from unfold.decorators import action
from unfold.widgets import UnfoldAdminTextInputWidget

from shopops.core.admin_imports import ImportJobAdminMixin, import_action
from shopops.core.admin_tools import ReadOnlyAdmin, RevealPersonalDataMixin, action_page, local_time, money
from shopops.core.errors import DomainError
from shopops.core.extensions import modules
from shopops.core.panels import Panel
from shopops.core.pii import can_view_pii, mask, shown
from shopops.core.ratelimit import RateLimited, spend_phone_search
from shopops.customers import imports as customer_imports
from shopops.customers import profiles, queries, services
from shopops.customers import tasks as customer_tasks
from shopops.customers.models import Customer, CustomerAccount, MergeSuggestion, SuggestionStatus

CHANGE_PERMISSION = "customers.change_customer"
MERGE_PERMISSION = "customers.merge_customer"
PROFILE_MODULE = "customer_profile"
PROFILE_TEMPLATE = "admin/customers/customer/profile.html"
PHONE_SEARCH_SPENT = "_shopops_phone_search_spent"
PHONE_SEARCH_REFUSED = "_shopops_phone_search_refused"


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


class CustomerAdmin(ImportJobAdminMixin, RevealPersonalDataMixin, ReadOnlyAdmin):
    list_display = (
        "id",
        "name",
        "phone",
        "identity_count_shown",
        "order_count_shown",
        "paid_total_shown",
        "last_order_shown",
        "is_blacklisted",
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
    actions_list = ["import_customers"]
    import_kind = "customers"
    import_title = _("导入客户")
    import_permissions = ("customers.add_customer", "customers.change_customer")
    import_task = customer_tasks.run_customer_import
    import_action_name = "import_customers"
    import_file_help = _(
        "CSV（UTF-8 或 GB18030）或 XLSX，中文表头：姓名、手机号、邮箱、平台、买家账号、生日、备注"
    )
    import_headers = customer_imports.HEADERS
    import_preview_key_label = _("客户")
    import_customers = import_action(_("导入客户"), icon="upload")

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

    @admin.display(description=_("身份数"), ordering="identity_count")
    def identity_count_shown(self, customer: Customer) -> int:
        return int(getattr(customer, "identity_count", 0))

    @admin.display(description=_("支付金额"), ordering="paid_total")
    def paid_total_shown(self, customer: Customer) -> str:
        return money(getattr(customer, "paid_total", None))

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

    # The profile page (客户档案) and its POST actions.

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        own = [
            path("<int:customer_id>/notes/", view(self.add_note_view), name="customers_customer_add_note"),
            path(
                "merges/<int:merge_id>/unmerge/",
                view(self.unmerge_view),
                name="customers_customer_unmerge",
            ),
        ]
        return own + super().get_urls()

    def _profile(self, request: HttpRequest, object_id: Any) -> Customer:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return queries.profile_for(request.user, int(object_id))

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if request.method != "GET":
            return HttpResponseNotAllowed(["GET"])
        if not str(object_id).isdigit():
            return HttpResponseRedirect(reverse(f"{self.admin_site.name}:customers_customer_changelist"))
        customer = self._profile(request, object_id)
        site = self.admin_site.name
        reveal_url = None
        if self.hides_pii(request) and self.has_reveal_permission(request, customer.pk):
            reveal_url = reverse(f"{site}:customers_customer_reveal_personal_data", args=[customer.pk])
        context = {
            **self.admin_site.each_context(request),
            **profile_context(request, customer),
            "title": gettext("客户档案 #%(id)s") % {"id": customer.pk},
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "changelist_url": reverse(f"{site}:customers_customer_changelist"),
            "history_url": reverse(f"{site}:customers_customer_history", args=[customer.pk]),
            "reveal_url": reveal_url,
            **(extra_context or {}),
        }
        request.current_app = site
        return TemplateResponse(request, PROFILE_TEMPLATE, context)

    def _back(self, customer_id: int) -> HttpResponseRedirect:
        return HttpResponseRedirect(
            reverse(f"{self.admin_site.name}:customers_customer_change", args=[customer_id])
        )

    def add_note_view(self, request: HttpRequest, customer_id: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        customer = self._profile(request, customer_id)
        if not request.user.has_perm(CHANGE_PERMISSION):
            raise PermissionDenied
        try:
            profiles.add_note(
                actor=request.user, customer_id=customer.pk, text=str(request.POST.get("text", ""))
            )
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, gettext("备注已添加"))
        return self._back(customer.pk)

    def unmerge_view(self, request: HttpRequest, merge_id: int) -> HttpResponse:
        merge = queries.merges_for(request.user).filter(pk=merge_id).first()
        if merge is None:
            raise queries.out_of_scope("合并记录")
        if not request.user.has_perm(MERGE_PERMISSION):
            raise PermissionDenied
        if request.method == "POST":
            try:
                profiles.unmerge(
                    actor=request.user, merge_id=merge.pk, reason=str(request.POST.get("reason", ""))
                )
            except DomainError as error:
                messages.error(request, error.message)
            else:
                messages.success(
                    request,
                    gettext("已撤销合并：客户 #%(source)s 恢复为独立档案") % {"source": merge.source_id},
                )
            return self._back(merge.target_id)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("撤销合并"),
            "opts": self.opts,
            "merge": merge,
            "back_url": reverse(f"{self.admin_site.name}:customers_customer_change", args=[merge.target_id]),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/customers/customer/unmerge_confirm.html", context)


def _masked(user: Any, customer: Customer, field: str) -> str:
    return str(shown(user, customer, field) or "") or "-"


def identity_rows(user: Any, customer: Customer) -> list[dict[str, Any]]:
    show = can_view_pii(user)
    rows = []
    for account in customer.accounts.order_by("kind", "platform", "pk"):
        buyer_id = account.buyer_id
        if buyer_id.startswith(("phone-", "email-", "idno-")):
            value = gettext("（已摘要存储）")
        else:
            value = buyer_id if show else str(mask(CustomerAccount.PII_FIELDS["buyer_id"], buyer_id))
        rows.append(
            {
                "kind": account.get_kind_display(),
                "platform": account.platform,
                "value": value,
                "added": local_time(account.created_at),
            }
        )
    return rows


def merge_rows(request: HttpRequest, customer: Customer) -> list[dict[str, Any]]:
    can_merge = request.user.has_perm(MERGE_PERMISSION)
    rows = []
    for merge in queries.merges_of(customer):
        moved = {key: len(ids) for key, ids in merge.moved.items()}
        rows.append(
            {
                "merge": merge,
                "into_this": merge.target_id == customer.pk,
                "merged_at": local_time(merge.merged_at),
                "unmerged_at": local_time(merge.unmerged_at) if merge.unmerged_at else "",
                "merged_by": merge.merged_by.get_username() if merge.merged_by else gettext("系统"),
                "orders": moved.get("orders.order", 0),
                "identities": moved.get(profiles.ACCOUNTS_KEY, 0),
                "notes": moved.get(profiles.NOTES_KEY, 0),
                "can_unmerge": can_merge and merge.unmerged_at is None and merge.target_id == customer.pk,
                "unmerge_url": reverse("admin:customers_customer_unmerge", args=[merge.pk]),
                "other_url": reverse(
                    "admin:customers_customer_change",
                    args=[merge.source_id if merge.target_id == customer.pk else merge.target_id],
                ),
            }
        )
    return rows


def suggestion_rows(customer: Customer) -> list[dict[str, Any]]:
    rows = []
    for suggestion in queries.pending_suggestions_of(customer):
        other = suggestion.customer_b if suggestion.customer_a_id == customer.pk else suggestion.customer_a
        rows.append(
            {
                "suggestion": suggestion,
                "other": other,
                "evidence": "、".join(
                    profiles.evidence_label(item["kind"], item.get("label", ""))
                    for item in suggestion.evidence
                ),
                "url": reverse("admin:customers_mergesuggestion_change", args=[suggestion.pk]),
            }
        )
    return rows


def profile_context(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    """The profile page for this user: header facts, customers' own blocks and every app's panels."""
    user = request.user
    panels: list[Panel] = []
    for module in modules(PROFILE_MODULE):
        panels.extend(module.panels(request, customer))
    panels.sort(key=lambda panel: (panel.order, panel.key))
    notes = [
        {
            "note": note,
            "author": note.author.get_username() if note.author else gettext("系统"),
            "at": local_time(note.created_at),
        }
        for note in customer.notes.select_related("author")[:50]
    ]
    return {
        "customer": customer,
        "facts": [
            (gettext("姓名/昵称"), _masked(user, customer, "name")),
            (gettext("手机号"), _masked(user, customer, "phone")),
            (gettext("邮箱"), _masked(user, customer, "email")),
            (gettext("生日"), date_format(customer.birthday, "Y-m-d") if customer.birthday else "-"),
            (gettext("建档时间"), local_time(customer.created_at)),
        ],
        "identities": identity_rows(user, customer),
        "notes": notes,
        "can_note": user.has_perm(CHANGE_PERMISSION) and customer.merged_into_id is None,
        "note_url": reverse("admin:customers_customer_add_note", args=[customer.pk]),
        "merges": merge_rows(request, customer),
        "suggestions": suggestion_rows(customer) if customer.merged_into_id is None else [],
        "merged_into_url": (
            reverse("admin:customers_customer_change", args=[customer.merged_into_id])
            if customer.merged_into_id
            else ""
        ),
        "main_panels": [panel for panel in panels if not panel.side],
        "side_panels": [panel for panel in panels if panel.side],
    }


admin.site.register(Customer, CustomerAdmin)


class SuggestionStatusFilter(admin.SimpleListFilter):
    """Status, 待处理 unless another (or 全部) is chosen: the list is a to-do list."""

    title = _("状态")
    parameter_name = "status"
    ALL = "all"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [*SuggestionStatus.choices, (self.ALL, _("全部"))]

    def choices(self, changelist: Any) -> Any:
        current = self.value() or SuggestionStatus.PENDING
        for value, label in self.lookup_choices:
            yield {
                "selected": current == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value() or SuggestionStatus.PENDING
        if value == self.ALL:
            return queryset
        return queryset.filter(status=value)


class MergeSuggestionAdmin(ReadOnlyAdmin):
    """合并建议: the list to review, a review page per pair (accept: merge; reject with a reason), and
    "生成合并建议" (a confirmation page, then a POST)."""

    list_display = ("id", "profile_a", "profile_b", "evidence_shown", "status", "created_at_shown")
    list_filter = (SuggestionStatusFilter,)
    list_display_links = ("id",)
    actions_list = ["generate_suggestions"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[MergeSuggestion]:
        return queries.suggestions_for(request.user, status=None)

    def _name(self, request: HttpRequest, customer: Customer) -> str:
        return f"#{customer.pk} {shown(request.user, customer, 'name') or ''}".strip()

    @admin.display(description=_("档案 A"))
    def profile_a(self, suggestion: MergeSuggestion) -> str:
        return self._name(self._request, suggestion.customer_a)

    @admin.display(description=_("档案 B"))
    def profile_b(self, suggestion: MergeSuggestion) -> str:
        return self._name(self._request, suggestion.customer_b)

    @admin.display(description=_("依据"))
    def evidence_shown(self, suggestion: MergeSuggestion) -> str:
        return "、".join(
            profiles.evidence_label(item["kind"], item.get("label", "")) for item in suggestion.evidence
        )

    @admin.display(description=_("创建时间"), ordering="created_at")
    def created_at_shown(self, suggestion: MergeSuggestion) -> str:
        return local_time(suggestion.created_at)

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> Any:
        self._request = request  # masking depends on who looks
        return super().get_changelist(request, **kwargs)

    def has_generate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(MERGE_PERMISSION)

    @action(description=_("生成合并建议"), url_path="generate", permissions=["generate"], icon="join_inner")
    def generate_suggestions(self, request: HttpRequest) -> HttpResponse:
        changelist = reverse(f"{self.admin_site.name}:customers_mergesuggestion_changelist")
        if request.method == "POST":
            counts = profiles.generate_suggestions(actor=request.user)
            messages.success(
                request,
                gettext("已生成合并建议：新增 %(created)d 条，更新 %(refreshed)d 条") % counts,
            )
            return HttpResponseRedirect(changelist)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("生成合并建议"),
            "opts": self.opts,
            "back_url": changelist,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/customers/mergesuggestion/generate_confirm.html", context)

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        own = [
            path(
                "<int:suggestion_id>/accept/", view(self.accept_view), name="customers_mergesuggestion_accept"
            ),
            path(
                "<int:suggestion_id>/reject/", view(self.reject_view), name="customers_mergesuggestion_reject"
            ),
        ]
        return own + super().get_urls()

    def _suggestion(self, request: HttpRequest, suggestion_id: Any) -> MergeSuggestion:
        if not self.has_view_permission(request):
            raise PermissionDenied
        suggestion = self.get_queryset(request).filter(pk=int(suggestion_id)).first()
        if suggestion is None:
            raise queries.out_of_scope("合并建议")
        return suggestion

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if request.method != "GET":
            return HttpResponseNotAllowed(["GET"])
        if not str(object_id).isdigit():
            return HttpResponseRedirect(
                reverse(f"{self.admin_site.name}:customers_mergesuggestion_changelist")
            )
        suggestion = self._suggestion(request, object_id)
        user = request.user
        sides = []
        for customer in (suggestion.customer_a, suggestion.customer_b):
            figures = queries.order_figures(user, customer)
            sides.append(
                {
                    "customer": customer,
                    "url": reverse("admin:customers_customer_change", args=[customer.pk]),
                    "facts": [
                        (gettext("姓名/昵称"), _masked(user, customer, "name")),
                        (gettext("手机号"), _masked(user, customer, "phone")),
                        (gettext("邮箱"), _masked(user, customer, "email")),
                        (gettext("订单数"), figures.orders),
                        (gettext("支付金额"), money(figures.paid)),
                        (gettext("最近下单"), local_time(figures.last_order_at)),
                        (gettext("黑名单"), gettext("是") if customer.is_blacklisted else gettext("否")),
                    ],
                    "identities": identity_rows(user, customer),
                }
            )
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("合并建议 #%(id)s") % {"id": suggestion.pk},
            "opts": self.opts,
            "suggestion": suggestion,
            "evidence": [
                profiles.evidence_label(item["kind"], item.get("label", "")) for item in suggestion.evidence
            ],
            "sides": sides,
            "decided_at": local_time(suggestion.decided_at) if suggestion.decided_at else "",
            "can_decide": user.has_perm(MERGE_PERMISSION) and suggestion.status == SuggestionStatus.PENDING,
            "accept_url": reverse("admin:customers_mergesuggestion_accept", args=[suggestion.pk]),
            "reject_url": reverse("admin:customers_mergesuggestion_reject", args=[suggestion.pk]),
            "changelist_url": reverse("admin:customers_mergesuggestion_changelist"),
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/customers/mergesuggestion/review.html", context)

    def _decide(self, request: HttpRequest, suggestion_id: int) -> MergeSuggestion:
        suggestion = self._suggestion(request, suggestion_id)
        if not request.user.has_perm(MERGE_PERMISSION):
            raise PermissionDenied
        return suggestion

    def accept_view(self, request: HttpRequest, suggestion_id: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        suggestion = self._decide(request, suggestion_id)
        keep = str(request.POST.get("keep", ""))
        try:
            merge = profiles.accept_suggestion(
                actor=request.user, suggestion_id=suggestion.pk, keep_id=int(keep) if keep.isdigit() else None
            )
        except DomainError as error:
            messages.error(request, error.message)
            return HttpResponseRedirect(
                reverse("admin:customers_mergesuggestion_change", args=[suggestion.pk])
            )
        messages.success(
            request,
            gettext("已合并：客户 #%(source)s 并入 #%(target)s")
            % {"source": merge.source_id, "target": merge.target_id},
        )
        return HttpResponseRedirect(reverse("admin:customers_customer_change", args=[merge.target_id]))

    def reject_view(self, request: HttpRequest, suggestion_id: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        suggestion = self._decide(request, suggestion_id)
        try:
            profiles.reject_suggestion(
                actor=request.user, suggestion_id=suggestion.pk, reason=str(request.POST.get("reason", ""))
            )
        except DomainError as error:
            messages.error(request, error.message)
            return HttpResponseRedirect(
                reverse("admin:customers_mergesuggestion_change", args=[suggestion.pk])
            )
        messages.success(request, gettext("已驳回合并建议，这两个档案不会再被建议合并"))
        return HttpResponseRedirect(reverse("admin:customers_mergesuggestion_changelist"))


admin.site.register(MergeSuggestion, MergeSuggestionAdmin)
