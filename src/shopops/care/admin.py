"""Care admin: the consent ledger, templates with a preview, sends (create → confirm with counts →
send), messages, journeys, and each send's result page (效果)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Value
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from unfold.contrib.filters.admin import ChoicesDropdownFilter
from unfold.decorators import action
from unfold.widgets import (
    UnfoldAdminIntegerFieldWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextareaWidget,
    UnfoldAdminTextInputWidget,
)

from shopops.care import audience, queries, services, tasks
from shopops.care.models import (
    Channel,
    ConsentEvent,
    Journey,
    Message,
    MessageStatus,
    MessageTemplate,
    Send,
)
from shopops.core.admin_tools import ReadOnlyAdmin, ShopOpsModelAdmin, money, report_refusal
from shopops.core.errors import DomainError
from shopops.core.pii import can_view_pii, mask
from shopops.customers.models import Customer

SAMPLE_CUSTOMER_NAME = "张小花"


def local(value: Any) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else "-"


def customer_label(customer: Customer, sees_pii: bool) -> str:
    name = customer.name if sees_pii else mask("name", customer.name)
    return f"{name or '-'}（#{customer.pk}）"


class ConsentForm(forms.ModelForm):
    customer_number = forms.IntegerField(
        label=gettext_lazy("客户编号"), min_value=1, widget=UnfoldAdminIntegerFieldWidget()
    )

    class Meta:
        model = ConsentEvent
        fields = ("channel", "action", "source", "evidence")


@admin.register(ConsentEvent)
class ConsentEventAdmin(ShopOpsModelAdmin):
    """The ledger is append-only: events are added (through the service), never edited or deleted."""

    form = ConsentForm
    list_display = (
        "customer_shown",
        "channel",
        "action",
        "source",
        "evidence",
        "occurred_shown",
        "recorded_by",
    )
    list_filter = (
        ("channel", ChoicesDropdownFilter),
        ("action", ChoicesDropdownFilter),
        ("source", ChoicesDropdownFilter),
    )
    linked_lookups = ("customer__id__exact",)
    list_select_related = ("customer", "recorded_by")
    fields = ("customer_number", "channel", "action", "source", "evidence")

    @admin.display(description=gettext_lazy("客户"))
    def customer_shown(self, event: ConsentEvent) -> str:
        return customer_label(event.customer, getattr(event, "sees_pii", False))

    @admin.display(description=gettext_lazy("发生时间"), ordering="occurred_at")
    def occurred_shown(self, event: ConsentEvent) -> str:
        return local(event.occurred_at)

    def get_queryset(self, request: HttpRequest) -> Any:
        # whether this request's user may read personal data, carried on each row (admin instances are
        # shared between requests, so it cannot live on self)
        return super().get_queryset(request).annotate(sees_pii=Value(can_view_pii(request.user)))

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: ConsentEvent, form: Any, change: bool) -> None:
        saved = services.record_consent(
            actor=request.user,
            customer_id=form.cleaned_data["customer_number"],
            channel=obj.channel,
            action=obj.action,
            source=obj.source,
            evidence=obj.evidence,
        )
        obj.pk = saved.pk


class TemplateForm(forms.ModelForm):
    class Meta:
        model = MessageTemplate
        fields = (
            "name",
            "channel",
            "purpose",
            "subject",
            "body",
            "signature",
            "provider_template",
            "is_active",
        )


@admin.register(MessageTemplate)
class MessageTemplateAdmin(ShopOpsModelAdmin):
    form = TemplateForm
    list_display = ("name", "channel", "purpose", "is_active", "updated_shown")
    list_filter = (("channel", ChoicesDropdownFilter), ("purpose", ChoicesDropdownFilter), "is_active")
    readonly_fields = ("preview",)
    fields = (
        "name",
        "channel",
        "purpose",
        "subject",
        "body",
        "signature",
        "provider_template",
        "is_active",
        "preview",
    )

    @admin.display(description=gettext_lazy("更新时间"), ordering="updated_at")
    def updated_shown(self, template: MessageTemplate) -> str:
        return local(template.updated_at)

    @admin.display(description=gettext_lazy("预览（示例客户）"))
    def preview(self, template: MessageTemplate) -> str:
        if template.pk is None:
            return _("保存后显示预览")
        sample = Customer(pk=0, name=SAMPLE_CUSTOMER_NAME, last_order_at=timezone.now())
        rendered = services.render(template, sample)
        subject = (
            format_html("<div class='font-semibold'>{}</div>", rendered.subject)
            if template.channel == Channel.EMAIL
            else ""
        )
        return format_html(
            "<div data-testid='template-preview'>{}<div style='white-space: pre-wrap'>{}</div></div>",
            subject,
            rendered.body,
        )


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = (
        "send",
        "customer_shown",
        "channel",
        "purpose",
        "status",
        "reason_shown",
        "recipient_shown",
        "cost_shown",
        "sent_shown",
    )
    list_filter = (
        ("status", ChoicesDropdownFilter),
        ("channel", ChoicesDropdownFilter),
        ("purpose", ChoicesDropdownFilter),
        "is_holdout",
    )
    linked_lookups = ("send__id__exact", "customer__id__exact")
    list_select_related = ("send", "customer")
    fields = (
        "send",
        "customer_shown",
        "channel",
        "purpose",
        "status",
        "reason_shown",
        "recipient_shown",
        "body_shown",
        "cost_shown",
        "error",
        "sent_shown",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> Any:
        # whether this request's user may read personal data, carried on each row (admin instances are
        # shared between requests, so it cannot live on self)
        return super().get_queryset(request).annotate(sees_pii=Value(can_view_pii(request.user)))

    @admin.display(description=gettext_lazy("客户"))
    def customer_shown(self, message: Message) -> str:
        return customer_label(message.customer, getattr(message, "sees_pii", False))

    @admin.display(description=gettext_lazy("拦截原因"))
    def reason_shown(self, message: Message) -> str:
        return message.get_block_reason_display() if message.block_reason else "-"

    @admin.display(description=gettext_lazy("收件人"))
    def recipient_shown(self, message: Message) -> str:
        if not message.recipient:
            return "-"
        if getattr(message, "sees_pii", False):
            return message.recipient
        return str(mask("phone" if message.channel == Channel.SMS else "email", message.recipient))

    @admin.display(description=gettext_lazy("发送内容"))
    def body_shown(self, message: Message) -> str:
        # the text carries the customer's name ({姓名}); masked like the name itself
        name = message.customer.name
        if not name or getattr(message, "sees_pii", False):
            return message.body
        return message.body.replace(name, str(mask("name", name)))

    @admin.display(description=gettext_lazy("费用"), ordering="cost")
    def cost_shown(self, message: Message) -> str:
        # SMS parts cost fractions of a fen (¥0.045), so three places
        return f"¥{message.cost:.3f}" if message.cost else "-"

    @admin.display(description=gettext_lazy("发送时间"), ordering="sent_at")
    def sent_shown(self, message: Message) -> str:
        return local(message.sent_at)


class NewSendForm(forms.Form):
    name = forms.CharField(
        label=gettext_lazy("任务名称"), max_length=100, widget=UnfoldAdminTextInputWidget()
    )
    template = forms.ModelChoiceField(
        label=gettext_lazy("消息模板"),
        queryset=MessageTemplate.objects.filter(is_active=True),
        widget=UnfoldAdminSelectWidget(),
    )
    segment = forms.ChoiceField(label=gettext_lazy("人群"), required=False, widget=UnfoldAdminSelectWidget())
    customers = forms.CharField(
        label=gettext_lazy("或：客户编号/手机号"),
        required=False,
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 3}),
        help_text=gettext_lazy("每行一个，也可用逗号分隔"),
    )
    holdout_percent = forms.IntegerField(
        label=gettext_lazy("对照组比例（%）"),
        min_value=0,
        max_value=90,
        initial=10,
        widget=UnfoldAdminIntegerFieldWidget(),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        segment = self.fields["segment"]
        assert isinstance(segment, forms.ChoiceField)
        segment.choices = [("", "---------"), *audience.segment_choices()]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("segment") and not str(data.get("customers", "")).strip():
            raise forms.ValidationError(_("请选择人群或填写客户"))
        return data

    def recipients(self) -> tuple[str, list[int], list[str]]:
        data = self.cleaned_data
        if data.get("segment"):
            name, ids = audience.segment_members(int(data["segment"]))
            return _("人群：%(name)s") % {"name": name}, ids, []
        ids, unknown = audience.listed_customers(data["customers"])
        return _("指定客户 %(count)d 人") % {"count": len(ids)}, ids, unknown


@admin.register(Send)
class SendAdmin(ShopOpsModelAdmin):
    list_display = (
        "name",  # the list links it to the send's page (a link of its own would nest one <a> in another)
        "template",
        "audience",
        "status",
        "holdout_percent",
        "sent_count",
        "created_shown",
    )
    list_filter = (("status", ChoicesDropdownFilter),)
    list_select_related = ("template",)
    actions_list = ["new_send"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # created through 新建发送任务 (with its confirmation page)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=gettext_lazy("已发送"))
    def sent_count(self, send: Send) -> int:
        counts = queries.status_counts(send)
        return counts.get(MessageStatus.SENT, 0) + counts.get(MessageStatus.DELIVERED, 0)

    @admin.display(description=gettext_lazy("开始时间"), ordering="confirmed_at")
    def created_shown(self, send: Send) -> str:
        return local(send.confirmed_at or send.created_at)

    @admin.display(description=gettext_lazy("对照组比例"), ordering="holdout_percent")
    def holdout_shown(self, send: Send) -> str:
        return f"{send.holdout_percent}%"

    @action(description=gettext_lazy("新建发送任务"), url_path="new", permissions=["new_send"], icon="send")
    def new_send(self, request: HttpRequest) -> HttpResponse:
        """Step 1 (GET): the form. Step 2 (POST step=preview): counts to confirm. Step 3 (POST
        step=confirm): create the send, queue its messages and start the sending job."""
        form = NewSendForm(request.POST or None)
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "title": _("新建发送任务"),
            "opts": self.opts,
            "form": form,
        }
        if request.method == "POST" and form.is_valid():
            label, ids, unknown = form.recipients()
            template = form.cleaned_data["template"]
            holdout = form.cleaned_data["holdout_percent"]
            seed = int(request.POST.get("seed") or timezone.now().timestamp())
            if request.POST.get("step") == "confirm":
                try:
                    send = services.create_send(
                        actor=request.user,
                        name=form.cleaned_data["name"],
                        template_id=template.pk,
                        customer_ids=ids,
                        audience=label,
                        holdout_percent=holdout,
                        seed=seed,
                    )
                except DomainError as error:
                    report_refusal(request, error)
                else:
                    transaction.on_commit(lambda: tasks.send_messages(send.pk))
                    messages.success(request, _("发送任务「%(name)s」已开始发送") % {"name": send.name})
                    return HttpResponseRedirect(reverse("admin:care_send_change", args=[send.pk]))
            plan = services.plan_send(
                template=template, customer_ids=ids, holdout_percent=holdout, seed=seed, now=timezone.now()
            )
            context.update(
                {
                    "confirm": True,
                    "seed": seed,
                    "audience": label,
                    "unknown": unknown[:20],
                    "template": template,
                    "counts": [
                        (_("人群人数"), plan.members),
                        (_("未授权营销或已退订"), len(plan.no_consent)),
                        (_("无手机号/邮箱"), len(plan.no_address)),
                        (_("超过频次上限"), len(plan.capped)),
                        (_("对照组（不发送）"), len(plan.holdout)),
                        (_("将发送"), len(plan.to_send)),
                    ],
                    "to_send": len(plan.to_send),
                }
            )
        return TemplateResponse(request, "admin/care/new_send.html", context)

    def has_new_send_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("care.add_send"))

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        """The send's page: its counts and cost, then its effect (效果) against the holdout group."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        send = self.get_object_or_404(request, object_id)
        counts = queries.status_counts(send)
        results = queries.send_result(send)
        context = {
            **self.admin_site.each_context(request),
            "title": _("发送任务：%(name)s") % {"name": send.name},
            "opts": self.opts,
            "send": send,
            "created": local(send.confirmed_at or send.created_at),
            "counts": [(label, counts.get(value, 0)) for value, label in MessageStatus.choices],
            "cost": money(queries.total_cost(send)),
            "messages_url": reverse("admin:care_message_changelist") + f"?send__id__exact={send.pk}",
            "results": [result_row(result) for result in results],
        }
        return TemplateResponse(request, "admin/care/send_result.html", context)


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def points(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:+.1f}"


def yuan(value: float | None) -> str:
    return "-" if value is None else f"{'-' if value < 0 else ''}¥{abs(value):,.2f}"


def result_row(result: queries.WindowResult) -> dict[str, Any]:
    rate, gmv = result.rate_lift, result.gmv_lift
    return {
        "days": result.days,
        "complete": result.is_complete,
        "sent": result.sent,
        "holdout": result.holdout,
        "sent_rate": percent(result.sent.rate),
        "holdout_rate": percent(result.holdout.rate),
        "sent_gmv": money(result.sent.gmv_per_customer),
        "holdout_gmv": money(result.holdout.gmv_per_customer),
        "rate_lift": points(rate.difference) if rate else "-",
        "rate_interval": f"{points(rate.low)} ~ {points(rate.high)}"
        if rate and rate.low is not None
        else "-",
        "gmv_lift": yuan(gmv.difference) if gmv else "-",
        "gmv_interval": f"{yuan(gmv.low)} ~ {yuan(gmv.high)}" if gmv else "-",
        "significant": bool(
            rate and rate.low is not None and rate.high is not None and (rate.low > 0 or rate.high < 0)
        ),
    }


@admin.register(Journey)
class JourneyAdmin(ShopOpsModelAdmin):
    list_display = ("name", "trigger", "days", "template", "holdout_percent", "is_active", "result_link")
    list_filter = (("trigger", ChoicesDropdownFilter), "is_active")
    fields = ("name", "trigger", "days", "template", "holdout_percent", "is_active")

    @admin.display(description=gettext_lazy("效果"))
    def result_link(self, journey: Journey) -> str:
        send = Send.objects.filter(journey=journey).first()
        if send is None:
            return "-"
        return format_html(
            "<a class='text-primary-600' href='{}'>{}</a>",
            reverse("admin:care_send_change", args=[send.pk]),
            _("查看效果"),
        )
