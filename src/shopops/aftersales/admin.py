"""Admin for after-sales: the reason taxonomy, cases (overdue highlighted) with their workflow actions and the
inspection (质量回检) form page; every action calls the after-sales services."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from unfold.admin import TabularInline
from unfold.contrib.filters.admin import ChoicesDropdownFilter, RelatedDropdownFilter
from unfold.decorators import action
from unfold.widgets import (
    UnfoldAdminDecimalFieldWidget,
    UnfoldAdminIntegerFieldWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextInputWidget,
)

from shopops.aftersales import services
from shopops.aftersales.models import (
    OPEN_CASE_STATUSES,
    AfterSaleCase,
    AfterSaleLine,
    CaseEvent,
    CaseKind,
    CaseStatus,
    InspectionGrade,
    ReturnReason,
)
from shopops.aftersales.services.refunds import REFUND_READY
from shopops.core.admin_tools import ReasonForm, ShopOpsModelAdmin, action_page, money
from shopops.core.errors import DomainError
from shopops.core.scope import get_in_scope, out_of_scope
from shopops.fulfillment.models import Carrier
from shopops.inventory.models import Warehouse, WarehouseKind
from shopops.orders.models import Order, OrderLine, OrderStatus
from shopops.purchasing.models import Supplier

APPROVE_PERMISSION = "aftersales.approve_aftersalecase"
REFUND_PERMISSION = "aftersales.refund_aftersalecase"
INSPECT_PERMISSION = "aftersales.inspect_aftersalecase"
CHANGE_PERMISSION = "aftersales.change_aftersalecase"
GRADES = (
    (InspectionGrade.A, "a"),
    (InspectionGrade.B, "b"),
    (InspectionGrade.SCRAP, "scrap"),
    (InspectionGrade.SUPPLIER_CLAIM, "claim"),
)


@admin.register(ReturnReason)
class ReturnReasonAdmin(ShopOpsModelAdmin):
    list_display = ("code", "name", "parent", "is_quality", "is_active", "sort_order")
    list_filter = ("is_quality", "is_active", ("parent", RelatedDropdownFilter))
    search_fields = ("code", "name")
    list_select_related = ("parent",)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # cases keep pointing at their reason; deactivate instead


class AfterSaleLineInline(TabularInline):
    model = AfterSaleLine
    fields = ("item_shown", "quantity", "refund_shown", "refunded_shown", "received_quantity")
    readonly_fields = fields
    extra = 0
    can_delete = False
    hide_title = True  # a row's title would be the line's ids

    @admin.display(description=_("退款金额"))
    def refund_shown(self, line: AfterSaleLine) -> str:
        return money(line.refund_amount)

    @admin.display(description=_("已退金额"))
    def refunded_shown(self, line: AfterSaleLine) -> str:
        return money(line.refunded_amount)

    @admin.display(description=_("商品"))
    def item_shown(self, line: AfterSaleLine) -> str:
        return line_label(line.order_line)

    def get_queryset(self, request: HttpRequest) -> QuerySet[AfterSaleLine]:
        return super().get_queryset(request).select_related("order_line")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class OverdueFilter(admin.SimpleListFilter):
    title = _("是否超时")
    parameter_name = "overdue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("已超时")), ("no", _("未超时"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        overdue = AfterSaleCase.objects.overdue(timezone.now()).values("pk")
        if self.value() == "yes":
            return queryset.filter(pk__in=overdue)
        if self.value() == "no":
            return queryset.exclude(pk__in=overdue)
        return queryset


class ReceiveForm(forms.Form):
    """Units received per case line and the warehouse the parcel arrived at."""

    def __init__(self, *args: Any, lines: list[AfterSaleLine], warehouses: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lines = lines
        self.fields["warehouse"] = forms.ModelChoiceField(
            label=_("收货仓库"), queryset=warehouses, widget=UnfoldAdminSelectWidget()
        )
        for line in lines:
            self.fields[f"units_{line.pk}"] = forms.IntegerField(
                label=_("%(item)s 收到数量") % {"item": line_label(line.order_line)},
                min_value=0,
                max_value=line.quantity,
                initial=line.quantity,
                widget=UnfoldAdminIntegerFieldWidget(),
            )

    def units(self) -> dict[int, int]:
        return {line.pk: self.cleaned_data[f"units_{line.pk}"] for line in self.lines}


class InspectForm(forms.Form):
    """Units per grade for every received line, where A / B go, and the supplier claim."""

    def __init__(self, *args: Any, lines: list[AfterSaleLine], warehouses: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lines = lines
        active = warehouses.filter(is_active=True)
        self.fields["sellable_warehouse"] = forms.ModelChoiceField(
            label=_("良品/报废仓"),
            queryset=active.exclude(kind=WarehouseKind.DEFECTIVE),
            widget=UnfoldAdminSelectWidget(),
        )
        self.fields["defective_warehouse"] = forms.ModelChoiceField(
            label=_("残次品仓"),
            queryset=active.filter(kind=WarehouseKind.DEFECTIVE),
            required=False,
            widget=UnfoldAdminSelectWidget(),
        )
        for line in lines:
            for grade, prefix in GRADES:
                self.fields[f"{prefix}_{line.pk}"] = forms.IntegerField(
                    label=f"{line_label(line.order_line)} {InspectionGrade(grade).label}",
                    min_value=0,
                    max_value=line.received_quantity,
                    initial=line.received_quantity if grade == InspectionGrade.A else 0,
                    widget=UnfoldAdminIntegerFieldWidget(),
                )
        self.fields["supplier"] = forms.ModelChoiceField(
            label=_("索赔供应商"),
            queryset=Supplier.objects.all(),
            required=False,
            widget=UnfoldAdminSelectWidget(),
        )
        self.fields["claim_amount"] = forms.DecimalField(
            label=_("索赔金额"),
            min_value=Decimal(0),
            max_digits=14,
            decimal_places=2,
            initial=Decimal("0.00"),
            widget=UnfoldAdminDecimalFieldWidget(),
        )
        self.fields["note"] = forms.CharField(
            label=_("质检备注"), max_length=300, required=False, widget=UnfoldAdminTextInputWidget()
        )

    def results(self) -> list[services.InspectionResult]:
        data = self.cleaned_data
        defective = data.get("defective_warehouse")
        found: list[services.InspectionResult] = []
        for line in self.lines:
            for grade, prefix in GRADES:
                units = data[f"{prefix}_{line.pk}"]
                if not units:
                    continue
                extra: dict[str, Any] = {"note": data["note"]}
                if grade in (InspectionGrade.A, InspectionGrade.SCRAP):
                    extra["warehouse_id"] = data["sellable_warehouse"].pk
                else:
                    extra["warehouse_id"] = defective.pk if defective else None
                if grade == InspectionGrade.SUPPLIER_CLAIM:
                    supplier = data.get("supplier")
                    extra["supplier_id"] = supplier.pk if supplier else None
                    extra["claim_amount"] = data["claim_amount"]
                found.append((line.pk, grade, units, extra))
        return found


class RefundForm(forms.Form):
    amount = forms.DecimalField(
        label=_("退款金额"),
        min_value=Decimal("0.01"),
        max_digits=14,
        decimal_places=2,
        widget=UnfoldAdminDecimalFieldWidget(),
    )
    note = forms.CharField(
        label=_("备注"), max_length=300, required=False, widget=UnfoldAdminTextInputWidget()
    )


class NoteForm(forms.Form):
    """The optional note a confirmation keeps on the case's timeline."""

    note = forms.CharField(
        label=_("备注"), max_length=300, required=False, widget=UnfoldAdminTextInputWidget()
    )


class ReturnTrackingForm(forms.Form):
    carrier = forms.ModelChoiceField(
        label=_("退货快递"),
        queryset=Carrier.objects.filter(is_active=True).order_by("name"),
        required=False,
        widget=UnfoldAdminSelectWidget(),
    )
    tracking_number = forms.CharField(
        label=_("退货运单号"), max_length=40, widget=UnfoldAdminTextInputWidget()
    )


class ReplacementForm(forms.Form):
    def __init__(self, *args: Any, warehouses: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["warehouse"] = forms.ModelChoiceField(
            label=_("发货仓库"),
            queryset=warehouses.filter(is_active=True).exclude(kind=WarehouseKind.DEFECTIVE),
            widget=UnfoldAdminSelectWidget(),
        )
        self.fields["carrier"] = forms.ModelChoiceField(
            label=_("快递公司"),
            queryset=Carrier.objects.filter(is_active=True).order_by("name"),
            required=False,
            widget=UnfoldAdminSelectWidget(),
        )
        self.fields["tracking_number"] = forms.CharField(
            label=_("运单号"), max_length=40, required=False, widget=UnfoldAdminTextInputWidget()
        )


class OrderLookupForm(forms.Form):
    order_number = forms.CharField(
        label=_("订单号"), max_length=64, widget=UnfoldAdminTextInputWidget(), help_text=_("平台订单号")
    )


class CaseCreateForm(forms.Form):
    """A new case on one order: kind, reason, units per line (at most what is still refundable), money."""

    def __init__(
        self, *args: Any, order: Order, lines: list[tuple[OrderLine, int]], refundable: Decimal, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.order = order
        self.lines = lines
        kinds = [(value, label) for value, label in CaseKind.choices]
        if order.status not in SHIPPED_FOR_RETURN:
            kinds = [(CaseKind.REFUND_ONLY.value, CaseKind.REFUND_ONLY.label)]
        self.fields["kind"] = forms.ChoiceField(
            label=_("售后类型"), choices=kinds, widget=UnfoldAdminSelectWidget()
        )
        reasons = (
            ReturnReason.objects.filter(is_active=True)
            .select_related("parent")
            .order_by("sort_order", "code")
        )
        self.fields["reason"] = forms.ModelChoiceField(
            label=_("售后原因"), queryset=reasons, widget=UnfoldAdminSelectWidget()
        )
        self.fields["reason"].label_from_instance = (  # type: ignore[attr-defined]
            lambda reason: f"{reason.parent.name} / {reason.name}" if reason.parent_id else reason.name
        )
        for line, available in lines:
            self.fields[f"units_{line.pk}"] = forms.IntegerField(
                label=_("%(item)s（可申请 %(count)d 件）") % {"item": line_label(line), "count": available},
                min_value=0,
                max_value=available,
                initial=available if len(lines) == 1 else 0,
                widget=UnfoldAdminIntegerFieldWidget(),
            )
        self.fields["requested_amount"] = forms.DecimalField(
            label=_("申请退款金额"),
            min_value=Decimal(0),
            max_value=refundable,
            max_digits=14,
            decimal_places=2,
            required=False,
            widget=UnfoldAdminDecimalFieldWidget(),
            help_text=_("留空按所选商品的实付分摊计算；最多 %(amount)s；换货/补发不退款")
            % {"amount": money(refundable)},
        )
        self.fields["refund_shipping"] = forms.DecimalField(
            label=_("退运费"),
            min_value=Decimal(0),
            max_digits=14,
            decimal_places=2,
            initial=Decimal("0.00"),
            widget=UnfoldAdminDecimalFieldWidget(),
        )
        self.fields["description"] = forms.CharField(
            label=_("问题描述与凭证说明"),
            max_length=500,
            required=False,
            widget=forms.Textarea(attrs={"rows": 3, "class": TEXTAREA_CLASSES}),
        )

    def units(self) -> dict[int, int]:
        return {
            line.pk: self.cleaned_data[f"units_{line.pk}"]
            for line, _available in self.lines
            if self.cleaned_data.get(f"units_{line.pk}")
        }

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not self.errors and not self.units():
            raise forms.ValidationError(_("请至少为一件商品填写售后数量"))
        if cleaned.get("kind") in (CaseKind.EXCHANGE, CaseKind.RESHIP):
            cleaned["requested_amount"] = Decimal("0.00")
            cleaned["refund_shipping"] = Decimal("0.00")
        return cleaned

    def show_refusal(self, error: DomainError) -> None:
        for name, text in error.fields.items():
            field = {"requested_amount": "requested_amount", "refund_shipping": "refund_shipping"}.get(name)
            if name.startswith("lines."):
                field = f"units_{name.removeprefix('lines.')}"
            if field in self.fields:
                self.add_error(field, str(text))
        self.add_error(None, error.message)


TEXTAREA_CLASSES = (
    "border border-base-200 bg-white font-medium min-w-20 placeholder-base-400 rounded-default shadow-xs "
    "text-font-default-light text-sm focus:outline-2 focus:-outline-offset-2 focus:outline-primary-600 "
    "px-3 py-2 w-full max-w-2xl dark:bg-base-900 dark:border-base-700 dark:text-font-default-dark"
)
SHIPPED_FOR_RETURN = frozenset(
    {OrderStatus.SHIPPED, OrderStatus.PARTIALLY_SHIPPED, OrderStatus.DELIVERED, OrderStatus.COMPLETED}
)
VIA_LABELS = {
    "admin": _("后台"),
    "api": _("接口"),
    "import": _("导入"),
    "system": _("系统"),
    "demo": _("演示数据"),
}


def line_label(line: OrderLine) -> str:
    """商家编码 · 标题 · 规格 of an order line, never its id."""
    parts = [line.merchant_code, line.title, line.spec]
    return " · ".join(part for part in parts if part) or _("第 %(no)d 行") % {"no": line.line_no}


def status_text(code: str) -> str:
    try:
        return str(CaseStatus(code).label)
    except ValueError:
        return code or "-"


# Which detail steps a case offers: the permission it needs and the states (status, and kind where it
# matters) it is valid in. The buttons, the permission checks and the pages all read this one table.
def _step_valid(step: str, case: AfterSaleCase) -> bool:
    status, kind = case.status, case.kind
    valid = {
        "approve": status == CaseStatus.APPLIED,
        "reject": status == CaseStatus.APPLIED,
        "tracking": status == CaseStatus.AWAITING_RETURN,
        "receive": status == CaseStatus.AWAITING_RETURN,
        "inspect": status == CaseStatus.RECEIVED,
        "refund": REFUND_READY.get(kind) == status,
        "ship": (kind, status)
        in ((CaseKind.EXCHANGE, CaseStatus.INSPECTED), (CaseKind.RESHIP, CaseStatus.APPROVED)),
        "cancel": status in (CaseStatus.APPLIED, CaseStatus.APPROVED, CaseStatus.AWAITING_RETURN),
        "close": status
        in (CaseStatus.REFUNDED, CaseStatus.EXCHANGE_SHIPPED, CaseStatus.REJECTED, CaseStatus.INSPECTED),
    }
    return valid.get(step, False)


STEP_PERMISSIONS = {
    "approve": APPROVE_PERMISSION,
    "reject": APPROVE_PERMISSION,
    "tracking": CHANGE_PERMISSION,
    "receive": INSPECT_PERMISSION,
    "inspect": INSPECT_PERMISSION,
    "refund": REFUND_PERMISSION,
    "ship": CHANGE_PERMISSION,
    "cancel": CHANGE_PERMISSION,
    "close": CHANGE_PERMISSION,
}


@admin.register(AfterSaleCase)
class AfterSaleCaseAdmin(ShopOpsModelAdmin):
    # the 工作台's to-do counts link here with these filters (shopops.dashboard)
    linked_lookups = ("status__exact", "kind__exact", "status__in", "sla_due_at__lt")
    list_display = (
        "id",
        "shop",
        "order",
        "kind",
        "stage",
        "status",
        "reason",
        "requested_shown",
        "deadline_shown",
        "applied_at",
    )
    list_filter = (
        OverdueFilter,
        ("status", ChoicesDropdownFilter),
        ("kind", ChoicesDropdownFilter),
        ("stage", ChoicesDropdownFilter),
        ("shop", RelatedDropdownFilter),
        ("reason", RelatedDropdownFilter),
    )
    search_fields = ("order__external_id", "external_id")
    list_select_related = ("shop", "order", "reason")
    inlines = (AfterSaleLineInline,)
    fieldsets = (
        (
            _("售后单"),
            {
                "fields": (
                    "order_shown",
                    "shop",
                    "external_id",
                    "kind",
                    "stage",
                    "status",
                    "deadline_shown",
                    "reason",
                    "description",
                    "decision_note",
                )
            },
        ),
        (
            _("金额"),
            {
                "fields": (
                    "requested_money",
                    "refund_shipping_money",
                    "refunded_money",
                    "refunded_shipping_money",
                )
            },
        ),
        (
            _("退货与换货物流"),
            {
                "fields": (
                    "return_carrier",
                    "return_tracking_number",
                    "return_warehouse",
                    "replacement_warehouse",
                    "replacement_carrier",
                    "replacement_tracking_number",
                )
            },
        ),
        (_("质检"), {"fields": ("inspections_shown",)}),
        (_("处理记录"), {"fields": ("timeline_shown",)}),
    )
    readonly_fields = (
        "order_shown",
        "deadline_shown",
        "inspections_shown",
        "timeline_shown",
        "requested_money",
        "refund_shipping_money",
        "refunded_money",
        "refunded_shipping_money",
    )
    actions = ["approve_selected", "refund_selected"]
    actions_detail = [
        "approve_case",
        "reject_case",
        "return_tracking_case",
        "receive_case",
        "inspect_case",
        "refund_case",
        "ship_replacement_case",
        "cancel_case",
        "close_case",
    ]

    @admin.display(description=_("申请退款"), ordering="requested_amount")
    def requested_shown(self, case: AfterSaleCase) -> str:
        return money(case.requested_amount + case.refund_shipping)

    @admin.display(description=_("申请退款金额"))
    def requested_money(self, case: AfterSaleCase) -> str:
        return money(case.requested_amount)

    @admin.display(description=_("退运费"))
    def refund_shipping_money(self, case: AfterSaleCase) -> str:
        return money(case.refund_shipping)

    @admin.display(description=_("实际退款金额"))
    def refunded_money(self, case: AfterSaleCase) -> str:
        return money(case.refunded_amount)

    @admin.display(description=_("已退运费"))
    def refunded_shipping_money(self, case: AfterSaleCase) -> str:
        return money(case.refunded_shipping)

    @admin.display(description=_("当前步骤时限"), ordering="sla_due_at")
    def deadline_shown(self, case: AfterSaleCase) -> Any:
        if case.sla_due_at is None:
            return "-"
        shown = timezone.localtime(case.sla_due_at).strftime("%Y-%m-%d %H:%M")
        if case.status in OPEN_CASE_STATUSES and case.sla_due_at < timezone.now():
            return format_html('<span class="text-red-600 font-semibold">{} {}</span>', shown, _("已超时"))
        return shown

    @admin.display(description=_("订单"))
    def order_shown(self, case: AfterSaleCase) -> Any:
        order = case.order
        return format_html(
            '<a class="text-primary-600" href="{}">{}</a>（{}）',
            reverse("admin:orders_order_change", args=[order.pk]),
            order.external_id,
            _("%(status)s，实付 %(paid)s，已退 %(refunded)s")
            % {
                "status": order.get_status_display(),
                "paid": money(order.paid_amount),
                "refunded": money(order.refunded_amount),
            },
        )

    @admin.display(description=_("质检结果"))
    def inspections_shown(self, case: AfterSaleCase) -> Any:
        lines = case.lines.select_related("order_line").prefetch_related("inspections__warehouse")
        rows = [
            (
                line_label(line.order_line),
                inspection.get_grade_display(),
                inspection.quantity,
                inspection.warehouse or "-",
            )
            for line in lines
            for inspection in line.inspections.all()
        ]
        if not rows:
            return "-"
        return format_html_join(mark_safe("<br>"), "{}：{} × {}（{}）", rows)

    @admin.display(description=_("处理记录"))
    def timeline_shown(self, case: AfterSaleCase) -> Any:
        events = CaseEvent.objects.filter(case=case).select_related("actor").order_by("created_at", "pk")
        rows = []
        for event in events:
            if event.from_status and event.to_status and event.from_status != event.to_status:
                step = f"{status_text(event.from_status)} → {status_text(event.to_status)}"
            else:
                step = status_text(event.to_status or event.from_status)
            who = event.actor.get_full_name() or event.actor.get_username() if event.actor else _("系统")
            rows.append(
                (
                    timezone.localtime(event.created_at).strftime("%Y-%m-%d %H:%M"),
                    step,
                    f"{who}（{VIA_LABELS.get(event.via, event.via or '-')}）",
                    event.message or "",
                )
            )
        if not rows:
            return "-"
        return format_html(
            '<ol class="flex flex-col gap-1" data-testid="case-timeline">{}</ol>',
            format_html_join(
                "",
                '<li><span class="tabular-nums text-base-500">{}</span> · <b>{}</b> · {} {}</li>',
                rows,
            ),
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("aftersales.add_aftersalecase")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # every change is a workflow step (the actions), never a form edit

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    # Permission of each detail step: the user's permission and, on a case page, the case's state.
    def _may(self, request: HttpRequest, step: str, object_id: Any) -> bool:
        if not request.user.has_perm(STEP_PERMISSIONS[step]):
            return False
        if object_id is None:
            return True
        case = self.get_queryset(request).filter(pk=unquote(str(object_id))).first()
        return case is None or _step_valid(step, case)  # an unknown case answers 404 in the view

    def has_approve_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return self._may(request, "approve", object_id)

    def has_reject_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return self._may(request, "reject", object_id)

    def has_tracking_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return self._may(request, "tracking", object_id)

    def has_receive_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return self._may(request, "receive", object_id)

    def has_inspect_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return self._may(request, "inspect", object_id)

    def has_refund_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return self._may(request, "refund", object_id)

    def has_ship_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return self._may(request, "ship", object_id)

    def has_cancel_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return self._may(request, "cancel", object_id)

    def has_close_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return self._may(request, "close", object_id)

    def _apply_to_selected(
        self,
        request: HttpRequest,
        queryset: QuerySet[AfterSaleCase],
        function: Callable[..., Any],
        label: Any,
    ) -> None:
        done = sum(
            1
            for case in queryset
            if self.call_service(request, function, case_id=case.pk, actor=request.user)
        )
        messages.success(request, _("%(action)s完成：%(count)d 个售后单") % {"action": label, "count": done})

    @admin.action(description=_("同意所选售后"), permissions=["approve"])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[AfterSaleCase]) -> None:
        self._apply_to_selected(request, queryset, services.approve_case, _("同意"))

    @admin.action(description=_("按申请金额退款"), permissions=["refund"])
    def refund_selected(self, request: HttpRequest, queryset: QuerySet[AfterSaleCase]) -> HttpResponse | None:
        if request.POST.get("step") != "apply":  # money leaves: show what will be paid first
            total = sum((case.requested_amount + case.refund_shipping for case in queryset), Decimal(0))
            return action_page(
                self,
                request,
                queryset,
                action_name="refund_selected",
                title=_("确认按申请金额退款"),
                form=forms.Form(),
                next_step="apply",
                submit_label=_("确认退款"),
                description=_("将向 %(count)d 个售后单按申请金额退款，合计 %(total)s。")
                % {"count": queryset.count(), "total": money(total)},
            )
        self._apply_to_selected(request, queryset, services.refund_case, _("退款"))
        return None

    def _case_or_404(self, request: HttpRequest, object_id: str) -> AfterSaleCase:
        case = self.get_object_or_404(request, object_id)
        return case

    def _back(self, case: AfterSaleCase) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:aftersales_aftersalecase_change", args=[case.pk]))

    def _form_step(
        self,
        request: HttpRequest,
        case: AfterSaleCase,
        *,
        name: str,
        title: Any,
        form: forms.Form,
        run: Callable[[], Any],
        done: Any,
        description: Any = "",
        submit_label: Any = None,
    ) -> HttpResponse:
        """A step's confirmation page (GET) and its POST: nothing changes until the form is posted."""
        if request.method == "POST" and request.POST.get("step") == "apply" and form.is_valid():
            if self.call_service(request, lambda: run()) is not None:
                messages.success(request, done)
            return self._back(case)
        return action_page(
            self,
            request,
            self.get_queryset(request).filter(pk=case.pk),
            action_name=name,
            title=title,
            form=form,
            next_step="apply",
            submit_label=submit_label or title,
            description=description,
        )

    @action(description=_("同意售后"), url_path="approve", permissions=["approve"], icon="task_alt")
    def approve_case(self, request: HttpRequest, object_id: str) -> HttpResponse:
        case = self._case_or_404(request, object_id)
        form = NoteForm(request.POST or None)
        return self._form_step(
            request,
            case,
            name="approve_case",
            title=_("同意售后"),
            form=form,
            run=lambda: services.approve_case(
                actor=request.user, case_id=case.pk, note=form.cleaned_data["note"]
            ),
            done=_("售后单 %(id)s 已同意") % {"id": case.pk},
            description=_("同意后：退货/换货等待买家寄回，仅退款等待退款，补发等待发货。"),
        )

    @action(description=_("拒绝售后"), url_path="reject", permissions=["reject"], icon="block")
    def reject_case(self, request: HttpRequest, object_id: str) -> HttpResponse:
        case = self._case_or_404(request, object_id)
        form = ReasonForm(request.POST or None)
        form.fields["reason"].required = True
        form.fields["reason"].label = _("拒绝原因（买家可见）")
        return self._form_step(
            request,
            case,
            name="reject_case",
            title=_("拒绝售后"),
            form=form,
            run=lambda: services.reject_case(
                actor=request.user, case_id=case.pk, reason=form.cleaned_data["reason"]
            ),
            done=_("已拒绝"),
        )

    @action(
        description=_("登记退货单号"),
        url_path="return-tracking",
        permissions=["tracking"],
        icon="local_shipping",
    )
    def return_tracking_case(self, request: HttpRequest, object_id: str) -> HttpResponse:
        case = self._case_or_404(request, object_id)
        form = ReturnTrackingForm(
            request.POST or None,
            initial={"carrier": case.return_carrier_id, "tracking_number": case.return_tracking_number},
        )
        return self._form_step(
            request,
            case,
            name="return_tracking_case",
            title=_("登记买家退货单号"),
            form=form,
            run=lambda: services.set_return_tracking(
                actor=request.user,
                case_id=case.pk,
                tracking_number=form.cleaned_data["tracking_number"],
                carrier_id=form.cleaned_data["carrier"].pk if form.cleaned_data["carrier"] else None,
            ),
            done=_("已登记退货单号"),
            submit_label=_("保存退货单号"),
        )

    @action(description=_("确认收到退货"), url_path="receive", permissions=["receive"], icon="move_to_inbox")
    def receive_case(self, request: HttpRequest, object_id: str) -> HttpResponse:
        case = self._case_or_404(request, object_id)
        lines = list(case.lines.select_related("order_line").order_by("pk"))
        form = ReceiveForm(
            request.POST or None,
            lines=lines,
            warehouses=Warehouse.objects.for_user(request.user).filter(is_active=True),
        )
        return self._form_step(
            request,
            case,
            name="receive_case",
            title=_("确认收到退货"),
            form=form,
            run=lambda: services.receive_return(
                actor=request.user,
                case_id=case.pk,
                lines=form.units(),
                warehouse_id=form.cleaned_data["warehouse"].pk,
            ),
            done=_("已收货，请质检"),
            description=_("收货不动库存；质检后按等级入库。"),
        )

    @action(description=_("质检入库"), url_path="inspect", permissions=["inspect"], icon="fact_check")
    def inspect_case(self, request: HttpRequest, object_id: str) -> HttpResponse:
        case = self._case_or_404(request, object_id)
        lines = [
            line for line in case.lines.select_related("order_line").order_by("pk") if line.received_quantity
        ]
        form = InspectForm(
            request.POST or None,
            lines=lines,
            warehouses=Warehouse.objects.for_user(request.user),
            initial={"sellable_warehouse": case.return_warehouse_id},
        )
        return self._form_step(
            request,
            case,
            name="inspect_case",
            title=_("质量回检"),
            form=form,
            run=lambda: services.inspect_return(actor=request.user, case_id=case.pk, results=form.results()),
            done=_("质检完成，已按等级入库"),
            description=_(
                "A 良品回可售仓；B 入残次品仓；报废先退货入库再报损；退供应商索赔入残次品仓并记录索赔金额。"
                "每行质检数量之和须等于收到数量。"
            ),
            submit_label=_("确认质检结果"),
        )

    @action(description=_("确认退款"), url_path="refund", permissions=["refund"], icon="payments")
    def refund_case(self, request: HttpRequest, object_id: str) -> HttpResponse:
        case = self._case_or_404(request, object_id)
        form = RefundForm(
            request.POST or None, initial={"amount": case.requested_amount + case.refund_shipping}
        )
        return self._form_step(
            request,
            case,
            name="refund_case",
            title=_("确认退款"),
            form=form,
            run=lambda: services.refund_case(
                actor=request.user,
                case_id=case.pk,
                amount=form.cleaned_data["amount"],
                note=form.cleaned_data["note"],
            ),
            done=_("已退款"),
            description=_("可部分退款；不超过申请金额 %(requested)s 及订单实付减已退。")
            % {"requested": money(case.requested_amount + case.refund_shipping)},
        )

    @action(
        description=_("发出换货/补发"),
        url_path="ship-replacement",
        permissions=["ship"],
        icon="local_shipping",
    )
    def ship_replacement_case(self, request: HttpRequest, object_id: str) -> HttpResponse:
        case = self._case_or_404(request, object_id)
        form = ReplacementForm(request.POST or None, warehouses=Warehouse.objects.for_user(request.user))
        return self._form_step(
            request,
            case,
            name="ship_replacement_case",
            title=_("发出换货/补发"),
            form=form,
            run=lambda: services.ship_replacement(
                actor=request.user,
                case_id=case.pk,
                warehouse_id=form.cleaned_data["warehouse"].pk,
                carrier_id=form.cleaned_data["carrier"].pk if form.cleaned_data["carrier"] else None,
                tracking_number=form.cleaned_data["tracking_number"],
            ),
            done=_("已发出换货/补发"),
            description=_("所选仓库按售后商品出库。"),
        )

    @action(description=_("买家撤销"), url_path="cancel", permissions=["cancel"], icon="undo")
    def cancel_case(self, request: HttpRequest, object_id: str) -> HttpResponse:
        case = self._case_or_404(request, object_id)
        form = ReasonForm(request.POST or None)
        return self._form_step(
            request,
            case,
            name="cancel_case",
            title=_("登记买家撤销售后"),
            form=form,
            run=lambda: services.cancel_case(
                actor=request.user, case_id=case.pk, reason=form.cleaned_data["reason"]
            ),
            done=_("已登记买家撤销"),
            submit_label=_("确认买家撤销"),
        )

    @action(description=_("关闭售后单"), url_path="close", permissions=["close"], icon="check_circle")
    def close_case(self, request: HttpRequest, object_id: str) -> HttpResponse:
        case = self._case_or_404(request, object_id)
        form = NoteForm(request.POST or None)
        return self._form_step(
            request,
            case,
            name="close_case",
            title=_("关闭售后单"),
            form=form,
            run=lambda: services.close_case(
                actor=request.user, case_id=case.pk, note=form.cleaned_data["note"]
            ),
            done=_("售后单 %(id)s 已关闭") % {"id": case.pk},
            description=_("关闭后售后单结束，不能再操作。"),
        )

    # Creating a case: from the list (look the order up) or from the order page (?order=<pk>).
    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        raw = request.GET.get("order", "")
        context = {**self.admin_site.each_context(request), "opts": self.opts, "title": _("新建售后单")}
        context["changelist_url"] = reverse("admin:aftersales_aftersalecase_changelist")
        if not raw:
            lookup = OrderLookupForm(request.GET if "order_number" in request.GET else None)
            if lookup.is_valid():
                number = lookup.cleaned_data["order_number"].strip()
                found = Order.objects.for_user(request.user).filter(external_id=number).order_by("pk").first()
                if found is not None:
                    return HttpResponseRedirect(f"{request.path}?order={found.pk}")
                lookup.add_error("order_number", _("没有找到这个订单号（或不在您的店铺范围内）"))
            return TemplateResponse(
                request, "admin/aftersales/aftersalecase/create.html", {**context, "lookup": lookup}
            )
        if not raw.isdigit():
            raise out_of_scope("订单")
        order = get_in_scope(Order.objects.select_related("shop"), request.user, what="订单", pk=int(raw))
        claims = services.order_claims(order.pk)
        lines = [
            (line, line.quantity - line.refunded_quantity - claims.units.get(line.pk, 0))
            for line in order.lines.order_by("line_no")
        ]
        open_lines = [(line, available) for line, available in lines if available > 0]
        refundable = max(order.paid_amount - order.refunded_amount - claims.pending_money, Decimal("0.00"))
        form = CaseCreateForm(
            request.POST if request.method == "POST" else None,
            order=order,
            lines=open_lines,
            refundable=refundable,
        )
        if request.method == "POST" and open_lines and form.is_valid():
            data = form.cleaned_data
            try:
                case = services.apply_case(
                    actor=request.user,
                    order_id=order.pk,
                    kind=data["kind"],
                    reason_code=data["reason"].code,
                    lines=form.units(),
                    requested_amount=data.get("requested_amount"),
                    refund_shipping=data.get("refund_shipping") or Decimal("0.00"),
                    description=data.get("description", ""),
                )
            except DomainError as error:
                form.show_refusal(error)
            else:
                messages.success(request, _("售后单 %(id)s 已创建，等待审核") % {"id": case.pk})
                return self._back(case)
        return TemplateResponse(
            request,
            "admin/aftersales/aftersalecase/create.html",
            {
                **context,
                "order": order,
                "order_url": reverse("admin:orders_order_change", args=[order.pk]),
                "lines": lines,
                "refundable": money(refundable),
                "form": form if open_lines else None,
                "paid": money(order.paid_amount),
                "refunded": money(order.refunded_amount),
            },
        )
