"""Admin for after-sales: the reason taxonomy, cases (overdue highlighted) with their workflow actions and the
inspection (质量回检) form page; every action calls the after-sales services."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
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
    CaseStatus,
    InspectionGrade,
    ReturnReason,
)
from shopops.core.admin_tools import ReasonForm, ShopOpsModelAdmin, action_page, money
from shopops.inventory.models import Warehouse, WarehouseKind
from shopops.purchasing.models import Supplier

APPROVE_PERMISSION = "aftersales.approve_aftersalecase"
REFUND_PERMISSION = "aftersales.refund_aftersalecase"
INSPECT_PERMISSION = "aftersales.inspect_aftersalecase"
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
    fields = ("order_line", "quantity", "refund_amount", "refunded_amount", "received_quantity")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class CaseEventInline(TabularInline):
    model = CaseEvent
    fields = ("created_at", "from_status", "to_status", "actor", "via", "message")
    readonly_fields = fields
    extra = 0
    can_delete = False
    tab = True

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
                label=f"{line.order_line.merchant_code or line.order_line_id} 收到数量",
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
                    label=f"{line.order_line.merchant_code or line.order_line_id} {InspectionGrade(grade).label}",
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


@admin.register(AfterSaleCase)
class AfterSaleCaseAdmin(ShopOpsModelAdmin):
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
    inlines = (AfterSaleLineInline, CaseEventInline)
    readonly_fields = ("inspections_shown",)
    actions = ["approve_selected", "refund_selected"]
    actions_detail = [
        "approve_case",
        "reject_case",
        "receive_case",
        "inspect_case",
        "refund_case",
        "close_case",
    ]

    @admin.display(description=_("申请退款"), ordering="requested_amount")
    def requested_shown(self, case: AfterSaleCase) -> str:
        return money(case.requested_amount + case.refund_shipping)

    @admin.display(description=_("当前步骤时限"), ordering="sla_due_at")
    def deadline_shown(self, case: AfterSaleCase) -> Any:
        if case.sla_due_at is None:
            return "-"
        shown = timezone.localtime(case.sla_due_at).strftime("%Y-%m-%d %H:%M")
        if case.status in OPEN_CASE_STATUSES and case.sla_due_at < timezone.now():
            return format_html('<span class="text-red-600 font-semibold">{} {}</span>', shown, _("已超时"))
        return shown

    @admin.display(description=_("质检结果"))
    def inspections_shown(self, case: AfterSaleCase) -> Any:
        lines = case.lines.select_related("order_line").prefetch_related("inspections__warehouse")
        rows = [
            (
                line.order_line,
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

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # cases are opened through the API (platform imports, customer service)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # every change is a workflow step (the actions), never a form edit

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_approve_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return request.user.has_perm(APPROVE_PERMISSION)

    def has_refund_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return request.user.has_perm(REFUND_PERMISSION)

    def has_inspect_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return request.user.has_perm(INSPECT_PERMISSION)

    def has_close_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return request.user.has_perm("aftersales.change_aftersalecase")

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
    def refund_selected(self, request: HttpRequest, queryset: QuerySet[AfterSaleCase]) -> None:
        self._apply_to_selected(request, queryset, services.refund_case, _("退款"))

    def _case_or_404(self, request: HttpRequest, object_id: str) -> AfterSaleCase:
        case = self.get_object(request, unquote(object_id))
        if case is None:
            raise Http404
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
    ) -> HttpResponse:
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
            submit_label=title,
            description=description,
        )

    @action(description=_("同意"), url_path="approve", permissions=["approve"], icon="task_alt")
    def approve_case(self, request: HttpRequest, object_id: str) -> HttpResponse:
        case = self._case_or_404(request, object_id)
        if self.call_service(request, services.approve_case, case_id=case.pk, actor=request.user) is not None:
            messages.success(request, _("售后单 %(id)s 已同意") % {"id": case.pk})
        return self._back(case)

    @action(description=_("拒绝"), url_path="reject", permissions=["approve"], icon="block")
    def reject_case(self, request: HttpRequest, object_id: str) -> HttpResponse:
        case = self._case_or_404(request, object_id)
        form = ReasonForm(request.POST or None)
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

    @action(description=_("收货"), url_path="receive", permissions=["inspect"], icon="move_to_inbox")
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
            title=_("退货收货"),
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

    @action(description=_("质检"), url_path="inspect", permissions=["inspect"], icon="fact_check")
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
        )

    @action(description=_("退款"), url_path="refund", permissions=["refund"], icon="payments")
    def refund_case(self, request: HttpRequest, object_id: str) -> HttpResponse:
        case = self._case_or_404(request, object_id)
        form = RefundForm(
            request.POST or None, initial={"amount": case.requested_amount + case.refund_shipping}
        )
        return self._form_step(
            request,
            case,
            name="refund_case",
            title=_("退款"),
            form=form,
            run=lambda: services.refund_case(
                actor=request.user,
                case_id=case.pk,
                amount=form.cleaned_data["amount"],
                note=form.cleaned_data["note"],
            ),
            done=_("已退款"),
            description=_("可部分退款；不超过申请金额及订单实付减已退。"),
        )

    @action(description=_("关闭"), url_path="close", permissions=["close"], icon="check_circle")
    def close_case(self, request: HttpRequest, object_id: str) -> HttpResponse:
        case = self._case_or_404(request, object_id)
        if case.status not in (
            CaseStatus.REFUNDED,
            CaseStatus.EXCHANGE_SHIPPED,
            CaseStatus.REJECTED,
            CaseStatus.INSPECTED,
        ):
            messages.error(request, _("“%(status)s”的售后单不能关闭") % {"status": case.get_status_display()})
            return self._back(case)
        if self.call_service(request, services.close_case, case_id=case.pk, actor=request.user) is not None:
            messages.success(request, _("售后单 %(id)s 已关闭") % {"id": case.pk})
        return self._back(case)
