"""Admin for purchasing: suppliers, price agreements, purchase orders (lines, transitions, receiving), receipts."""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from unfold.admin import TabularInline
from unfold.contrib.filters.admin import ChoicesDropdownFilter, RelatedDropdownFilter
from unfold.decorators import action
from unfold.widgets import UnfoldAdminIntegerFieldWidget, UnfoldAdminSelectWidget, UnfoldAdminTextInputWidget

from shopops.catalog import queries as catalog_queries
from shopops.catalog.models import Sku
from shopops.core.admin_tools import (
    ReadOnlyAdmin,
    ReasonForm,
    RevealPersonalDataMixin,
    ShopOpsModelAdmin,
    action_page,
    adopt_saved,
    changed_values,
    money,
)
from shopops.inventory.models import Warehouse
from shopops.purchasing import queries, services
from shopops.purchasing.models import (
    PURCHASE_ORDER_TRANSITIONS,
    RECEIVABLE_STATUSES,
    PurchaseOrder,
    PurchaseOrderEvent,
    PurchaseOrderLine,
    PurchaseOrderStatus,
    PurchaseReceipt,
    PurchaseReceiptLine,
    Supplier,
    SupplierPrice,
)

APPROVE_PERMISSION = "purchasing.approve_purchaseorder"
RECEIVE_PERMISSION = "purchasing.receive_purchaseorder"


class SupplierAdmin(RevealPersonalDataMixin, ShopOpsModelAdmin):
    list_display = (
        "code",
        "name",
        "contact_name",
        "contact_phone",
        "lead_time_days",
        "payment_terms",
        "is_active",
    )
    list_filter = ("is_active", ("payment_terms", ChoicesDropdownFilter))
    search_fields = ("code", "name")
    fieldsets = (
        (None, {"fields": ("code", "name", "is_active", "note")}),
        (_("联系人"), {"fields": ("contact_name", "contact_phone", "contact_email")}),
        (
            _("采购条件"),
            {"fields": ("lead_time_days", "minimum_order_amount", "minimum_order_quantity", "payment_terms")},
        ),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = list(super().get_readonly_fields(request, obj))
        return [*readonly, "code"] if obj is not None else readonly

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        names = [name for name in services.SUPPLIER_FIELDS if name in form.cleaned_data]
        if change:
            saved = services.update_supplier(
                supplier_id=obj.pk, actor=request.user, **changed_values(form, names)
            )
        else:
            values = {name: form.cleaned_data[name] for name in names}
            saved = services.create_supplier(code=form.cleaned_data["code"], actor=request.user, **values)
        adopt_saved(obj, saved)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        messages.error(request, _("供应商不能删除，请停用"))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SupplierPriceAdmin(ShopOpsModelAdmin):
    list_display = (
        "sku",
        "supplier",
        "price_shown",
        "min_quantity",
        "valid_from",
        "valid_to",
        "supplier_sku_code",
    )
    list_filter = (("supplier", RelatedDropdownFilter),)
    search_fields = ("sku__merchant_code", "supplier__name", "supplier_sku_code")
    list_select_related = ("sku", "supplier")
    autocomplete_fields = ("sku",)
    fields = ("supplier", "sku", "price", "min_quantity", "valid_from", "valid_to", "supplier_sku_code")

    @admin.display(description=_("采购价"), ordering="price")
    def price_shown(self, price: SupplierPrice) -> str:
        return money(price.price)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = list(super().get_readonly_fields(request, obj))
        return [*readonly, "supplier", "sku"] if obj is not None else readonly

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        data = form.cleaned_data
        if change:
            saved = services.update_supplier_price(
                price_id=obj.pk, actor=request.user, **changed_values(form, services.SUPPLIER_PRICE_FIELDS)
            )
        else:
            saved = services.create_supplier_price(
                supplier_id=data["supplier"].pk,
                sku_id=data["sku"].pk,
                actor=request.user,
                **{name: data[name] for name in services.SUPPLIER_PRICE_FIELDS},
            )
        adopt_saved(obj, saved)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        services.delete_supplier_price(price_id=obj.pk, actor=request.user)


class PurchaseOrderLineInline(TabularInline):
    model = PurchaseOrderLine
    fields = ("sku", "quantity", "unit_price", "received_quantity", "accepted_quantity", "rejected_quantity")
    readonly_fields = ("received_quantity", "accepted_quantity", "rejected_quantity")
    autocomplete_fields = ("sku",)
    extra = 0

    def _is_draft(self, obj: Any) -> bool:
        return obj is None or obj.status == PurchaseOrderStatus.DRAFT

    def get_extra(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> int:
        return 1 if obj is None else 0

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._is_draft(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._is_draft(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._is_draft(obj) and super().has_delete_permission(request, obj)


class PurchaseOrderEventInline(TabularInline):
    model = PurchaseOrderEvent
    fields = ("created_at", "from_status", "to_status", "actor", "reason")
    readonly_fields = fields
    extra = 0
    can_delete = False
    tab = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReceiveForm(forms.Form):
    """One accepted and one rejected count per open order line, the warehouse and a note."""

    def __init__(self, *args: Any, lines: list[PurchaseOrderLine], warehouses: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lines = lines
        self.fields["warehouse"] = forms.ModelChoiceField(
            label=_("入库仓库"), queryset=warehouses, widget=UnfoldAdminSelectWidget()
        )
        for line in lines:
            for kind, label in (("accepted", _("合格")), ("rejected", _("不合格"))):
                self.fields[f"{kind}_{line.pk}"] = forms.IntegerField(
                    label=f"{line.sku.merchant_code} {line.sku.product.name} {label}",
                    min_value=0,
                    max_value=2**31 - 1,
                    initial=line.open_quantity if kind == "accepted" else 0,
                    widget=UnfoldAdminIntegerFieldWidget(),
                )
        self.fields["note"] = forms.CharField(
            label=_("备注"), max_length=300, required=False, widget=UnfoldAdminTextInputWidget()
        )

    def receipt_lines(self) -> list[dict[str, int]]:
        found = []
        for line in self.lines:
            accepted = self.cleaned_data[f"accepted_{line.pk}"]
            rejected = self.cleaned_data[f"rejected_{line.pk}"]
            if accepted or rejected:
                found.append(
                    {
                        "line_id": line.pk,
                        "received": accepted + rejected,
                        "accepted": accepted,
                        "rejected": rejected,
                    }
                )
        return found


class ReplenishmentForm(forms.Form):
    """The parameters of a replenishment run (sent in the address, so the page can be bookmarked)."""

    days = forms.IntegerField(
        label=_("销量统计天数"),
        min_value=1,
        max_value=365,
        initial=queries.DEFAULT_VELOCITY_DAYS,
        widget=UnfoldAdminIntegerFieldWidget(),
    )
    review_period_days = forms.IntegerField(
        label=_("补货周期(天)"),
        min_value=0,
        max_value=365,
        initial=queries.DEFAULT_REVIEW_PERIOD_DAYS,
        widget=UnfoldAdminIntegerFieldWidget(),
    )

    def __init__(self, *args: Any, warehouses: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["warehouse"] = forms.ModelChoiceField(
            label=_("仓库"), queryset=warehouses, required=False, widget=UnfoldAdminSelectWidget()
        )

    def parameters(self) -> dict[str, Any]:
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        warehouse = data.get("warehouse")
        return {
            "days": data.get("days") or queries.DEFAULT_VELOCITY_DAYS,
            "review_period_days": data.get("review_period_days", queries.DEFAULT_REVIEW_PERIOD_DAYS),
            "warehouse_id": warehouse.pk if warehouse is not None else None,
        }


class PurchaseOrderAdmin(ShopOpsModelAdmin):
    # the 工作台's to-do counts link here with these filters (shopops.dashboard)
    linked_lookups = ("status__exact", "status__in", "expected_date__lt")
    list_display = ("number", "supplier", "warehouse", "status", "expected_date", "total_shown", "created_at")
    list_filter = (
        ("status", ChoicesDropdownFilter),
        ("supplier", RelatedDropdownFilter),
        ("warehouse", RelatedDropdownFilter),
    )
    search_fields = ("number", "supplier__name", "supplier__code")
    list_select_related = ("supplier", "warehouse")
    inlines = (PurchaseOrderLineInline, PurchaseOrderEventInline)
    actions = ["approve_selected", "cancel_selected", "close_selected"]
    actions_detail = ["approve_order", "cancel_order", "close_order", "receive_order"]
    actions_list = ["replenishment"]

    @admin.display(description=_("采购金额"), ordering="total_amount")
    def total_shown(self, order: PurchaseOrder) -> str:
        return money(order.total_amount)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ("supplier", "warehouse", "expected_date", "note")
        return (
            "number",
            "supplier",
            "warehouse",
            "status",
            "expected_date",
            "note",
            "total_shown",
            "run_key",
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ()
        fixed = ["number", "supplier", "warehouse", "status", "total_shown", "run_key"]
        return fixed if obj.status == PurchaseOrderStatus.DRAFT else [*fixed, "expected_date", "note"]

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "warehouse":
            kwargs["queryset"] = Warehouse.objects.for_user(request.user).filter(is_active=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # orders are cancelled, never deleted

    def has_approve_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return request.user.has_perm(APPROVE_PERMISSION)

    def has_receive_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return request.user.has_perm(RECEIVE_PERMISSION)

    # Saving: header and lines go to the service together, after the inline forms are valid.

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        """Deferred to `save_related`: a purchase order is created with its lines in one service call."""

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        lines: list[dict[str, Any]] = []
        lines_changed = False
        for formset in formsets:
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
            if formset.model is not PurchaseOrderLine:
                continue
            lines_changed = any(line_form.has_changed() for line_form in formset.forms) or bool(
                formset.deleted_forms
            )
            for line_form in formset.forms:
                data = getattr(line_form, "cleaned_data", None)
                if data and data.get("sku") and not data.get("DELETE"):
                    lines.append(
                        {
                            "sku_id": data["sku"].pk,
                            "quantity": data["quantity"],
                            "unit_price": data["unit_price"],
                        }
                    )
        obj = form.instance
        if change:
            if obj.status != PurchaseOrderStatus.DRAFT:
                return
            changes = changed_values(form, ("expected_date", "note"))
            if lines_changed:
                changes["lines"] = lines
            saved = services.update_purchase_order(po_id=obj.pk, actor=request.user, **changes)
        else:
            data = form.cleaned_data
            saved = services.create_purchase_order(
                supplier_id=data["supplier"].pk,
                warehouse_id=data["warehouse"].pk,
                lines=lines,
                expected_date=data.get("expected_date"),
                note=data.get("note", ""),
                actor=request.user,
            )
        adopt_saved(obj, saved)

    # Transitions.

    def _apply_to_selected(
        self,
        request: HttpRequest,
        queryset: QuerySet[PurchaseOrder],
        function: Callable[..., Any],
        label: Any,
    ) -> None:
        done = sum(
            1
            for order in queryset
            if self.call_service(request, function, po_id=order.pk, actor=request.user)
        )
        messages.success(request, _("%(action)s完成：%(count)d 张采购单") % {"action": label, "count": done})

    @admin.action(description=_("审核所选采购单"), permissions=["approve"])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[PurchaseOrder]) -> None:
        self._apply_to_selected(request, queryset, services.approve_purchase_order, _("审核"))

    @admin.action(description=_("取消所选采购单"), permissions=["approve"])
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[PurchaseOrder]) -> None:
        self._apply_to_selected(request, queryset, services.cancel_purchase_order, _("取消"))

    @admin.action(description=_("关闭所选采购单"), permissions=["approve"])
    def close_selected(self, request: HttpRequest, queryset: QuerySet[PurchaseOrder]) -> None:
        self._apply_to_selected(request, queryset, services.close_purchase_order, _("关闭"))

    def _change_url(self, order: PurchaseOrder) -> str:
        return reverse("admin:purchasing_purchaseorder_change", args=[order.pk])

    def _order_or_404(self, request: HttpRequest, object_id: str) -> PurchaseOrder:
        order = self.get_object(request, unquote(object_id))
        if order is None:
            raise Http404
        return order

    def _detail_transition(
        self, request: HttpRequest, object_id: str, *, target: str, function: Callable[..., Any], label: Any
    ) -> HttpResponse:
        order = self._order_or_404(request, object_id)
        if target not in PURCHASE_ORDER_TRANSITIONS[order.status]:
            messages.error(
                request,
                _("“%(status)s”状态的采购单不能%(action)s")
                % {"status": order.get_status_display(), "action": label},
            )
            return HttpResponseRedirect(self._change_url(order))
        form = ReasonForm(request.POST or None)
        if request.method == "POST" and request.POST.get("step") == "apply" and form.is_valid():
            arguments: dict[str, Any] = {"po_id": order.pk, "actor": request.user}
            if target != PurchaseOrderStatus.APPROVED:
                arguments["reason"] = form.cleaned_data["reason"]
            if self.call_service(request, function, **arguments):
                messages.success(
                    request, _("%(order)s 已%(action)s") % {"order": order.number, "action": label}
                )
            return HttpResponseRedirect(self._change_url(order))
        return action_page(
            self,
            request,
            self.get_queryset(request).filter(pk=order.pk),
            action_name=f"{target}_order",
            title=_("%(action)s采购单 %(order)s") % {"action": label, "order": order.number},
            form=form,
            next_step="apply",
            submit_label=label,
        )

    @action(description=_("审核"), url_path="approve", permissions=["approve"], icon="task_alt")
    def approve_order(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._detail_transition(
            request,
            object_id,
            target=PurchaseOrderStatus.APPROVED,
            function=services.approve_purchase_order,
            label=_("审核"),
        )

    @action(description=_("取消"), url_path="cancel", permissions=["approve"], icon="cancel")
    def cancel_order(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._detail_transition(
            request,
            object_id,
            target=PurchaseOrderStatus.CANCELLED,
            function=services.cancel_purchase_order,
            label=_("取消"),
        )

    @action(description=_("关闭"), url_path="close", permissions=["approve"], icon="block")
    def close_order(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._detail_transition(
            request,
            object_id,
            target=PurchaseOrderStatus.CLOSED,
            function=services.close_purchase_order,
            label=_("关闭"),
        )

    @action(description=_("收货"), url_path="receive", permissions=["receive"], icon="move_to_inbox")
    def receive_order(self, request: HttpRequest, object_id: str) -> HttpResponse:
        order = self._order_or_404(request, object_id)
        if order.status not in RECEIVABLE_STATUSES:
            messages.error(
                request, _("“%(status)s”状态的采购单不能收货") % {"status": order.get_status_display()}
            )
            return HttpResponseRedirect(self._change_url(order))
        lines = list(order.lines.select_related("sku__product").order_by("pk"))
        warehouses = Warehouse.objects.for_user(request.user).filter(is_active=True)
        form = ReceiveForm(
            request.POST or None,
            lines=lines,
            warehouses=warehouses,
            initial={"warehouse": order.warehouse_id},
        )
        if request.method == "POST" and request.POST.get("step") == "apply" and form.is_valid():
            receipt = self.call_service(
                request,
                services.receive_purchase_order,
                po_id=order.pk,
                lines=form.receipt_lines(),
                warehouse_id=form.cleaned_data["warehouse"].pk,
                note=form.cleaned_data["note"],
                actor=request.user,
            )
            if receipt is not None:
                messages.success(request, _("已收货，入库单 %(number)s") % {"number": receipt.number})
                return HttpResponseRedirect(self._change_url(order))
        preview = {
            "headers": [_("SKU"), _("商品"), _("采购数量"), _("已合格入库"), _("不合格"), _("待收")],
            "rows": [
                [
                    line.sku.merchant_code,
                    f"{line.sku.product.name} {line.sku.spec}".strip(),
                    line.quantity,
                    line.accepted_quantity,
                    line.rejected_quantity,
                    line.open_quantity,
                ]
                for line in lines
            ],
        }
        return action_page(
            self,
            request,
            self.get_queryset(request).filter(pk=order.pk),
            action_name="receive_order",
            title=_("采购收货 %(order)s") % {"order": order.number},
            form=form,
            next_step="apply",
            submit_label=_("确认收货"),
            description=_("合格数量入库（采购入库）并按移动加权平均更新成本；不合格数量不入库，仍计为待收。"),
            preview=preview,
        )

    @action(
        description=_("补货建议"), url_path="replenishment", permissions=["add"], icon="add_shopping_cart"
    )
    def replenishment(self, request: HttpRequest) -> HttpResponse:
        """Suggestions for the parameters in the address; the chosen rows, with their edited quantities,
        become drafts (added to an open draft of the same supplier and warehouse when there is one)."""
        warehouses = Warehouse.objects.for_user(request.user).filter(is_active=True, receives_purchases=True)
        form = ReplenishmentForm(request.GET or None, warehouses=warehouses)
        suggestions = queries.replenishment_suggestions(user=request.user, **form.parameters())
        by_key = {f"{item.sku_id}-{item.warehouse_id}": item for item in suggestions}
        entered: dict[str, str] = {}
        errors: dict[str, str] = {}
        picked = set(by_key)
        if request.method == "POST":
            picked = set(request.POST.getlist("pick")) & set(by_key)
            chosen = []
            for key in sorted(picked):
                item = by_key[key]
                text = entered[key] = request.POST.get(f"quantity-{key}", "").strip()
                if not text.isdigit() or not 0 < int(text) < 10**9:
                    errors[key] = str(_("须为正整数"))
                    continue
                chosen.append(
                    {
                        "sku_id": item.sku_id,
                        "warehouse_id": item.warehouse_id,
                        "supplier_id": item.supplier_id,
                        "quantity": int(text),
                        "unit_price": item.unit_price,
                    }
                )
            if not picked:
                messages.error(request, _("请勾选要采购的SKU"))
            elif not errors:
                orders = self.call_service(
                    request,
                    services.create_draft_pos_from_suggestions,
                    suggestions=chosen,
                    actor=request.user,
                )
                if orders:
                    messages.success(
                        request,
                        _("已生成或补充 %(count)d 张草稿采购单：%(numbers)s")
                        % {"count": len(orders), "numbers": "、".join(order.number for order in orders)},
                    )
                    return HttpResponseRedirect(
                        reverse("admin:purchasing_purchaseorder_changelist") + "?status__exact=draft"
                    )
        skus = {
            sku.pk: sku
            for sku in Sku.objects.filter(pk__in={item.sku_id for item in suggestions}).select_related(
                "product"
            )
        }
        supplier_names = dict(
            Supplier.objects.filter(pk__in={item.supplier_id for item in suggestions}).values_list(
                "pk", "name"
            )
        )
        warehouse_names = dict(
            Warehouse.objects.filter(pk__in={item.warehouse_id for item in suggestions}).values_list(
                "pk", "name"
            )
        )
        drafts = {
            (supplier_id, warehouse_id): number
            for supplier_id, warehouse_id, number in PurchaseOrder.objects.filter(
                status=PurchaseOrderStatus.DRAFT
            )
            .order_by("-pk")
            .values_list("supplier_id", "warehouse_id", "number")
        }
        rows = []
        for key, item in by_key.items():
            sku = skus.get(item.sku_id)
            rows.append(
                {
                    "key": key,
                    "item": item,
                    "name": f"{sku.product.name} {sku.spec}".strip() if sku is not None else "",
                    "supplier": supplier_names.get(item.supplier_id, ""),
                    "warehouse": warehouse_names.get(item.warehouse_id, ""),
                    "velocity": item.velocity.quantize(Decimal("0.01")),
                    "reorder_point": math.ceil(item.reorder_point),
                    "quantity": entered.get(key, str(item.suggested_quantity)),
                    "error": errors.get(key, ""),
                    "picked": key in picked,
                    "draft": drafts.get((item.supplier_id, item.warehouse_id), ""),
                }
            )
        return TemplateResponse(
            request,
            "admin/purchasing/replenishment.html",
            {
                **self.admin_site.each_context(request),
                "title": _("补货建议"),
                "subtitle": None,
                "opts": self.opts,
                "form": form,
                "rows": rows,
                "shows_cost": catalog_queries.can_view_cost(request.user),
                "query": request.GET.urlencode(),
            },
        )


class PurchaseReceiptLineInline(TabularInline):
    model = PurchaseReceiptLine
    fields = (
        "order_line",
        "received_quantity",
        "accepted_quantity",
        "rejected_quantity",
        "unit_cost",
        "cost_before",
        "cost_after",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class PurchaseReceiptAdmin(ReadOnlyAdmin):
    list_display = ("number", "purchase_order", "warehouse", "received_by", "received_at")
    list_filter = (("warehouse", RelatedDropdownFilter),)
    search_fields = ("number", "purchase_order__number")
    list_select_related = ("purchase_order", "warehouse", "received_by")
    inlines = (PurchaseReceiptLineInline,)


admin.site.register(Supplier, SupplierAdmin)
admin.site.register(SupplierPrice, SupplierPriceAdmin)
admin.site.register(PurchaseOrder, PurchaseOrderAdmin)
admin.site.register(PurchaseReceipt, PurchaseReceiptAdmin)
