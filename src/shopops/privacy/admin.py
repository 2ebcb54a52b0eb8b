"""Admin for personal-data requests: the list (due and overdue), the request page with its workflow steps
(each a confirmation page and a POST), the copy's download, the registration form and the retention
rule's count; every step calls privacy.services."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from unfold.contrib.filters.admin import ChoicesDropdownFilter
from unfold.decorators import action
from unfold.widgets import (
    UnfoldAdminDateWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminSplitDateTimeWidget,
    UnfoldAdminTextInputWidget,
)

from shopops.core import audit
from shopops.core.admin_tools import ReasonForm, ShopOpsModelAdmin, action_page, local_time
from shopops.core.errors import DomainError, NotFound
from shopops.core.pii import can_view_pii, mask
from shopops.customers.queries import visible_customers
from shopops.privacy import services
from shopops.privacy.models import (
    OPEN_REQUEST_STATUSES,
    REQUEST_TRANSITIONS,
    Erasure,
    PersonalDataRequest,
    RequestChannel,
    RequestKind,
    RequestStatus,
)

CHANGE_PERMISSION = "privacy.change_personaldatarequest"
ADD_PERMISSION = "privacy.add_personaldatarequest"
SOON_DAYS = 3
STEP_ACTIONS = {
    "personal_data_request.received": _("受理请求"),
    "personal_data_request.verifying": _("开始核验身份"),
    "personal_data_request.identity_verified": _("身份核验通过"),
    "personal_data_request.completed": _("处理完成"),
    "personal_data_request.rejected": _("拒绝请求"),
    "personal_data_request.export_downloaded": _("下载个人信息副本"),
}
# which status each step leads to (the page shows a step only when the request may take it)
STEP_TARGETS = {
    "verify": RequestStatus.VERIFYING,
    "identity": RequestStatus.PROCESSING,
    "complete": RequestStatus.COMPLETED,
    "reject": RequestStatus.REJECTED,
}
COMPLETE_DESCRIPTIONS = {
    RequestKind.ACCESS: _(
        "将汇总该客户在各模块的个人信息，生成 JSON 与 Excel 副本（zip），供下载后提供给本人。"
    ),
    RequestKind.CORRECT: _("将按请求更正客户档案中的个人信息，完成后请求中不再保留新值。"),
    RequestKind.DELETE: _(
        "将匿名化该客户的个人信息：姓名、手机号、邮箱、生日清空，平台买家ID替换为不可逆标识，"
        "订单收货人改为“已删除”、地址只保留省市。订单号、金额、时间、商品明细按电子商务法保留，统计数据不变。"
        "此操作不可撤销。"
    ),
}


def result_text(request_row: PersonalDataRequest) -> Any:
    """What completing the request did, in the reader's language (the stored `result` is the record)."""
    if request_row.kind == RequestKind.ACCESS:
        return _("已生成个人信息副本")
    if request_row.kind == RequestKind.CORRECT:
        labels = {"name": _("姓名"), "phone": _("手机号"), "email": _("邮箱"), "birthday": _("生日")}
        fields = "、".join(str(labels.get(key, key)) for key in request_row.corrections)
        return _("已更正：%(fields)s") % {"fields": fields or "-"}
    erasure = Erasure.objects.filter(request=request_row).first()
    rows = erasure.rows_changed if erasure else 0
    return _("已匿名化 %(rows)d 条记录，交易记录与统计数据保留") % {"rows": rows}


class DueFilter(admin.SimpleListFilter):
    title = _("处理期限")
    parameter_name = "due"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("overdue", _("已超期")), ("soon", _("3 天内到期")), ("open", _("未办结"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        now = timezone.now()
        open_requests = queryset.filter(status__in=OPEN_REQUEST_STATUSES)
        if self.value() == "overdue":
            return open_requests.filter(due_at__lt=now)
        if self.value() == "soon":
            return open_requests.filter(due_at__gte=now, due_at__lt=now + dt.timedelta(days=SOON_DAYS))
        if self.value() == "open":
            return open_requests
        return queryset


class RequestCreateForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("请求类型"), choices=RequestKind.choices, widget=UnfoldAdminSelectWidget()
    )
    channel = forms.ChoiceField(
        label=_("受理渠道"), choices=RequestChannel.choices, widget=UnfoldAdminSelectWidget()
    )
    requester = forms.CharField(label=_("请求人"), max_length=100, widget=UnfoldAdminTextInputWidget())
    requester_contact = forms.CharField(
        label=_("请求人联系方式"), max_length=100, required=False, widget=UnfoldAdminTextInputWidget()
    )
    phone = forms.CharField(
        label=_("客户手机号"),
        max_length=30,
        required=False,
        widget=UnfoldAdminTextInputWidget(),
        help_text=_("按手机号摘要查找客户；也可填平台买家ID或客户编号"),
    )
    buyer_id = forms.CharField(
        label=_("平台买家ID"), max_length=100, required=False, widget=UnfoldAdminTextInputWidget()
    )
    customer_id = forms.IntegerField(
        label=_("客户编号"), required=False, min_value=1, widget=UnfoldAdminTextInputWidget()
    )
    received_at = forms.SplitDateTimeField(
        label=_("受理时间"),
        required=False,
        widget=UnfoldAdminSplitDateTimeWidget(),
        help_text=_("留空为现在"),
    )
    new_name = forms.CharField(
        label=_("更正后的姓名"), max_length=100, required=False, widget=UnfoldAdminTextInputWidget()
    )
    new_phone = forms.CharField(
        label=_("更正后的手机号"), max_length=30, required=False, widget=UnfoldAdminTextInputWidget()
    )
    new_email = forms.CharField(
        label=_("更正后的邮箱"), max_length=200, required=False, widget=UnfoldAdminTextInputWidget()
    )
    new_birthday = forms.DateField(label=_("更正后的生日"), required=False, widget=UnfoldAdminDateWidget())
    note = forms.CharField(
        label=_("备注"), max_length=500, required=False, widget=UnfoldAdminTextInputWidget()
    )

    def corrections(self) -> dict[str, Any]:
        data = self.cleaned_data
        values = {
            "name": data.get("new_name"),
            "phone": data.get("new_phone"),
            "email": data.get("new_email"),
            "birthday": data["new_birthday"].isoformat() if data.get("new_birthday") else "",
        }
        return {key: value for key, value in values.items() if value}

    def show_refusal(self, error: DomainError) -> None:
        names = {
            "customer": "phone",
            "corrections": "new_name",
            "name": "new_name",
            "birthday": "new_birthday",
        }
        for name, text in error.fields.items():
            field = names.get(name, name)
            if field in self.fields:
                self.add_error(field, text)
        self.add_error(None, error.message)


class IdentityForm(forms.Form):
    method = forms.CharField(
        label=_("身份核验方式"),
        max_length=200,
        widget=UnfoldAdminTextInputWidget(),
        help_text=_("例如：下单手机号短信验证码、平台旺旺账号确认"),
    )


@admin.register(PersonalDataRequest)
class PersonalDataRequestAdmin(ShopOpsModelAdmin):
    list_display = (
        "id",
        "kind",
        "customer_shown",
        "requester",
        "channel",
        "status",
        "received_shown",
        "due_shown",
    )
    list_filter = (DueFilter, ("status", ChoicesDropdownFilter), ("kind", ChoicesDropdownFilter))
    list_before_template = "admin/privacy/personaldatarequest/retention.html"
    search_fields = ("=id",)
    fieldsets = (
        (
            _("个人信息请求"),
            {
                "fields": (
                    "kind",
                    "status",
                    "customer_shown",
                    "requester",
                    "requester_contact",
                    "channel",
                    "received_shown",
                    "due_shown",
                    "note",
                )
            },
        ),
        (
            _("处理"),
            {
                "fields": (
                    "identity_shown",
                    "corrections_shown",
                    "result_shown",
                    "completed_shown",
                    "download_shown",
                )
            },
        ),
        (_("处理记录"), {"fields": ("timeline_shown",)}),
    )
    readonly_fields = (
        "customer_shown",
        "received_shown",
        "due_shown",
        "identity_shown",
        "corrections_shown",
        "result_shown",
        "completed_shown",
        "download_shown",
        "timeline_shown",
    )
    actions_detail = [
        "verify_request",
        "identity_request",
        "complete_request",
        "reject_request",
        "download_export",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[PersonalDataRequest]:
        queryset = (
            super().get_queryset(request).select_related("customer", "identity_verified_by", "handled_by")
        )
        return queryset.filter(customer__in=visible_customers(request.user))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(ADD_PERMISSION)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # every change is a workflow step, never a form edit

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("客户"))
    def customer_shown(self, request_row: PersonalDataRequest) -> Any:
        customer = request_row.customer
        name = customer.name if can_view_pii(self._viewer) else mask("name", customer.name)
        text = f"{name or _('（无姓名）')} · #{customer.pk}"
        if not self._viewer or not self._viewer.has_perm("customers.view_customer"):
            return text
        return format_html(
            '<a class="text-primary-600" href="{}">{}</a>',
            reverse("admin:customers_customer_change", args=[customer.pk]),
            text,
        )

    @admin.display(description=_("受理时间"), ordering="received_at")
    def received_shown(self, request_row: PersonalDataRequest) -> str:
        return local_time(request_row.received_at)

    @admin.display(description=_("处理期限"), ordering="due_at")
    def due_shown(self, request_row: PersonalDataRequest) -> Any:
        shown = local_time(request_row.due_at)
        if request_row.status not in OPEN_REQUEST_STATUSES:
            return shown
        left = request_row.due_at - timezone.now()
        if left < dt.timedelta(0):
            return format_html(
                '<span class="text-red-600 font-semibold" data-testid="overdue">{} {}</span>',
                shown,
                _("已超期"),
            )
        if left < dt.timedelta(days=SOON_DAYS):
            return format_html(
                '<span class="text-orange-600 font-semibold">{} {}</span>', shown, _("即将到期")
            )
        return shown

    @admin.display(description=_("身份核验"))
    def identity_shown(self, request_row: PersonalDataRequest) -> str:
        if request_row.identity_verified_at is None:
            return str(_("尚未核验"))
        who = (
            request_row.identity_verified_by.get_username() if request_row.identity_verified_by else _("系统")
        )
        return f"{local_time(request_row.identity_verified_at)} · {request_row.identity_method} · {who}"

    @admin.display(description=_("更正内容"))
    def corrections_shown(self, request_row: PersonalDataRequest) -> Any:
        if request_row.kind != RequestKind.CORRECT:
            return "-"
        labels = {"name": _("姓名"), "phone": _("手机号"), "email": _("邮箱"), "birthday": _("生日")}
        kinds = {"name": "name", "phone": "phone", "email": "email"}
        rows = []
        for key, value in request_row.corrections.items():
            shown = value if can_view_pii(self._viewer) or key not in kinds else mask(kinds[key], value)
            rows.append((labels.get(key, key), shown or _("（已更正，新值只保存在客户档案）")))
        return format_html_join("", "<div>{}：{}</div>", rows) or "-"

    @admin.display(description=_("处理结果"))
    def result_shown(self, request_row: PersonalDataRequest) -> str:
        if request_row.status == RequestStatus.REJECTED:
            return f"{_('拒绝原因')}：{request_row.rejection_reason}"
        if request_row.status != RequestStatus.COMPLETED:
            return "-"
        return str(result_text(request_row))

    @admin.display(description=_("完成时间"))
    def completed_shown(self, request_row: PersonalDataRequest) -> str:
        return local_time(request_row.completed_at)

    @admin.display(description=_("个人信息副本"))
    def download_shown(self, request_row: PersonalDataRequest) -> Any:
        if not request_row.export_file:
            return "-"
        if not self._viewer or not self._viewer.has_perm(CHANGE_PERMISSION):
            return _("已生成（下载需处理权限）")
        url = reverse("admin:privacy_personaldatarequest_download_export", args=[request_row.pk])
        return format_html(
            '<a class="text-primary-600" href="{}" data-testid="download-export">{}</a>',
            url,
            _("下载副本（zip）"),
        )

    @admin.display(description=_("处理记录"))
    def timeline_shown(self, request_row: PersonalDataRequest) -> Any:
        rows = []
        for entry in audit.history(request_row).order_by("created_at", "pk"):
            who = entry.actor.get_username() if entry.actor else _("系统")
            rows.append(
                (
                    local_time(entry.created_at),
                    STEP_ACTIONS.get(entry.action, entry.action),
                    who,
                    entry.reason,
                )
            )
        if not rows:
            return "-"
        return format_html(
            '<ol class="flex flex-col gap-1" data-testid="request-timeline">{}</ol>',
            format_html_join(
                "", '<li><span class="tabular-nums text-base-500">{}</span> · <b>{}</b> · {} {}</li>', rows
            ),
        )

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: Any = None,
    ) -> HttpResponse:
        self._viewer = request.user  # masking and links depend on who looks
        return super().changeform_view(request, object_id, form_url, extra_context)

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        self._viewer = request.user
        extra = {
            "retention_days": services.retention_days(),
            "retention_due": services.retention_candidates().count(),
            "erased_count": Erasure.objects.count(),
            "may_run_retention": request.user.has_perm(CHANGE_PERMISSION),
            "retention_url": reverse("admin:privacy_personaldatarequest_retention"),
        }
        return super().changelist_view(request, {**extra, **(extra_context or {})})

    _viewer: Any = None

    def get_urls(self) -> list[Any]:
        custom = [
            path(
                "retention/",
                self.admin_site.admin_view(self.retention_view),
                name="privacy_personaldatarequest_retention",
            )
        ]
        return custom + super().get_urls()

    # Permission of each detail step: the change permission and, on a request page, the request's state.
    def _may(self, request: HttpRequest, step: str, object_id: Any) -> bool:
        if not request.user.has_perm(CHANGE_PERMISSION):
            return False
        if object_id is None:
            return True
        row = self.get_queryset(request).filter(pk=str(object_id)).first()
        if row is None:
            return True  # an unknown request answers 404 in the view
        if step == "download":
            return bool(row.export_file) and row.status == RequestStatus.COMPLETED
        return STEP_TARGETS[step] in REQUEST_TRANSITIONS[row.status]

    def has_verify_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return self._may(request, "verify", object_id)

    def has_identity_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return self._may(request, "identity", object_id)

    def has_complete_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return self._may(request, "complete", object_id)

    def has_reject_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return self._may(request, "reject", object_id)

    def has_download_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return self._may(request, "download", object_id)

    def _back(self, row: PersonalDataRequest) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:privacy_personaldatarequest_change", args=[row.pk]))

    def _form_step(
        self,
        request: HttpRequest,
        object_id: str,
        *,
        name: str,
        title: Any,
        form: forms.Form,
        run: Callable[[PersonalDataRequest], Any],
        done: Any,
        description: Any = "",
    ) -> HttpResponse:
        """A step's confirmation page (GET) and its POST: nothing changes until the form is posted."""
        row = self.get_object_or_404(request, object_id)
        if request.method == "POST" and request.POST.get("step") == "apply" and form.is_valid():
            if self.call_service(request, lambda: run(row)) is not None:
                messages.success(request, done)
            return self._back(row)
        return action_page(
            self,
            request,
            self.get_queryset(request).filter(pk=row.pk),
            action_name=name,
            title=title,
            form=form,
            next_step="apply",
            submit_label=title,
            description=description,
        )

    @action(description=_("开始核验身份"), url_path="verify", permissions=["verify"], icon="badge")
    def verify_request(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._form_step(
            request,
            object_id,
            name="verify_request",
            title=_("开始核验身份"),
            form=forms.Form(request.POST or None),
            run=lambda row: services.start_verification(actor=request.user, request_id=row.pk),
            done=_("已开始核验身份"),
            description=_("请核对请求人是否为客户本人（如向下单手机号发送验证码），核验通过后再处理请求。"),
        )

    @action(
        description=_("身份核验通过"), url_path="identity", permissions=["identity"], icon="verified_user"
    )
    def identity_request(self, request: HttpRequest, object_id: str) -> HttpResponse:
        form = IdentityForm(request.POST or None)
        return self._form_step(
            request,
            object_id,
            name="identity_request",
            title=_("身份核验通过"),
            form=form,
            run=lambda row: services.confirm_identity(
                actor=request.user, request_id=row.pk, method=form.cleaned_data["method"]
            ),
            done=_("身份已核验，请求进入处理中"),
        )

    @action(description=_("完成处理"), url_path="complete", permissions=["complete"], icon="task_alt")
    def complete_request(self, request: HttpRequest, object_id: str) -> HttpResponse:
        row = self.get_object_or_404(request, object_id)
        description = str(COMPLETE_DESCRIPTIONS[RequestKind(row.kind)])
        block = services.deletion_block(row.customer) if row.kind == RequestKind.DELETE else None
        if block is not None:
            description = f"{description} {block.message}"
        return self._form_step(
            request,
            object_id,
            name="complete_request",
            title=_("完成处理"),
            form=forms.Form(request.POST or None),
            run=lambda row: services.complete_request(actor=request.user, request_id=row.pk),
            done=_("请求已处理完成"),
            description=description,
        )

    @action(description=_("拒绝请求"), url_path="reject", permissions=["reject"], icon="block")
    def reject_request(self, request: HttpRequest, object_id: str) -> HttpResponse:
        form = ReasonForm(request.POST or None)
        form.fields["reason"].required = True
        form.fields["reason"].label = _("拒绝原因（将告知请求人）")
        return self._form_step(
            request,
            object_id,
            name="reject_request",
            title=_("拒绝请求"),
            form=form,
            run=lambda row: services.reject_request(
                actor=request.user, request_id=row.pk, reason=form.cleaned_data["reason"]
            ),
            done=_("请求已拒绝"),
        )

    @action(description=_("下载副本"), url_path="download", permissions=["download"], icon="download")
    def download_export(self, request: HttpRequest, object_id: str) -> HttpResponseBase:
        row = self.get_object_or_404(request, object_id)
        try:
            handle, filename = services.open_export(actor=request.user, request_id=row.pk)
        except DomainError as error:
            messages.error(request, error.message)
            return self._back(row)
        return FileResponse(handle, as_attachment=True, filename=filename, content_type="application/zip")

    def retention_view(self, request: HttpRequest) -> HttpResponse:
        """The retention rule run now: a confirmation page with the count (GET), then the run (POST)."""
        if not request.user.has_perm(CHANGE_PERMISSION):
            raise PermissionDenied
        changelist = reverse("admin:privacy_personaldatarequest_changelist")
        if request.method == "POST" and request.POST.get("step") == "apply":
            result = self.call_service(request, lambda: services.apply_retention(actor=request.user))
            if result is not None:
                messages.success(
                    request,
                    _("已匿名化 %(done)d 位超过保存期限的客户（%(skipped)d 位因有未完结业务暂缓）")
                    % {"done": result.anonymised, "skipped": result.skipped},
                )
            return HttpResponseRedirect(changelist)
        due = services.retention_candidates().count()
        context = {
            **self.admin_site.each_context(request),
            "title": _("按保存期限匿名化"),
            "opts": self.opts,
            "due": due,
            "days": services.retention_days(),
            "changelist_url": changelist,
        }
        return TemplateResponse(request, "admin/privacy/personaldatarequest/retention_confirm.html", context)

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = RequestCreateForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                customer = services.find_customer(
                    customer_id=data.get("customer_id"),
                    phone=data.get("phone") or "",
                    buyer_id=data.get("buyer_id") or "",
                )
                if not visible_customers(request.user).filter(pk=customer.pk).exists():
                    raise NotFound("没有找到这位客户", fields={"customer": "不存在"})
                row = services.create_request(
                    actor=request.user,
                    kind=data["kind"],
                    channel=data["channel"],
                    requester=data["requester"],
                    requester_contact=data.get("requester_contact") or "",
                    customer=customer,
                    received_at=data.get("received_at"),
                    corrections=form.corrections(),
                    note=data.get("note") or "",
                )
            except DomainError as error:
                form.show_refusal(error)
            else:
                messages.success(
                    request,
                    _("个人信息请求 %(id)s 已受理，处理期限 %(due)s")
                    % {"id": row.pk, "due": local_time(row.due_at)},
                )
                return self._back(row)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("登记个人信息请求"),
            "form": form,
            "changelist_url": reverse("admin:privacy_personaldatarequest_changelist"),
            "due_days": services.due_days(),
        }
        return TemplateResponse(request, "admin/privacy/personaldatarequest/create.html", context)


@admin.register(Erasure)
class ErasureAdmin(ShopOpsModelAdmin):
    list_display = ("id", "customer", "reason", "rows_changed", "erased_at")
    list_filter = (("reason", ChoicesDropdownFilter),)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
