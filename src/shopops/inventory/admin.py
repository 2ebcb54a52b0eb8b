"""Admin for inventory: warehouses, stock levels, the ledger, reservations, bundles, scope and report exports."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db.models import F, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from unfold.admin import TabularInline
from unfold.contrib.filters.admin import (
    ChoicesDropdownFilter,
    DropdownFilter,
    RangeDateTimeFilter,
    TextFilter,
)
from unfold.decorators import action
from unfold.widgets import (
    UnfoldAdminFileFieldWidget,
    UnfoldAdminIntegerFieldWidget,
    UnfoldAdminSelectMultipleWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextareaWidget,
    UnfoldAdminTextInputWidget,
    UnfoldBooleanSwitchWidget,
)

from shopops.catalog import queries as catalog_queries
from shopops.catalog.admin import CategoryTreeFilter
from shopops.catalog.models import Category, Sku
from shopops.channels.models import Shop
from shopops.core.admin_tools import (
    ReadOnlyAdmin,
    ShopOpsModelAdmin,
    action_page,
    adopt_saved,
    money,
    report_refusal,
)
from shopops.core.errors import DomainError
from shopops.inventory import imports as stock_imports
from shopops.inventory import reports
from shopops.inventory import services as inventory_services
from shopops.inventory.models import (
    BundleComponent,
    ChannelStockRule,
    Location,
    MovementType,
    Reservation,
    ReservationStatus,
    StockLevel,
    StockMovement,
    Stocktake,
    StocktakeLine,
    StocktakeScope,
    StocktakeStatus,
    StockThreshold,
    Transfer,
    TransferLine,
    TransferStatus,
    UserWarehouseScope,
    Warehouse,
    WarehouseScopeSetting,
    WriteOffReason,
)
from shopops.inventory.services import CountMode

XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ADJUSTMENT_CHOICES = [
    (MovementType.ADJUST, MovementType.ADJUST.label),
    (MovementType.COUNT_GAIN, MovementType.COUNT_GAIN.label),
    (MovementType.COUNT_LOSS, MovementType.COUNT_LOSS.label),
    (MovementType.DAMAGE, MovementType.DAMAGE.label),
]
TURNOVER_DAYS = 30


def ledger_url(*, merchant_code: str, warehouse_id: int | None = None) -> str:
    """The stock ledger changelist filtered to one SKU (and warehouse)."""
    query: dict[str, Any] = {"sku": merchant_code}
    if warehouse_id is not None:
        query["warehouse"] = warehouse_id
    return f"{reverse('admin:inventory_stockmovement_changelist')}?{urlencode(query)}"


# Filters.


class WarehouseFilter(DropdownFilter):
    """Warehouses the user may see (never lists a warehouse outside the scope)."""

    title = _("仓库")
    parameter_name = "warehouse"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            (str(pk), f"{code} {name}")
            for pk, code, name in Warehouse.objects.for_user(request.user).values_list("pk", "code", "name")
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if not value or not str(value).isdigit():
            return queryset
        return queryset.filter(warehouse_id=int(value))


class SkuCodeFilter(TextFilter):
    title = _("商家编码")
    parameter_name = "sku"

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = (self.value() or "").strip()
        return queryset.filter(sku__merchant_code=value) if value else queryset


class StockCategoryFilter(CategoryTreeFilter):
    lookup_prefix = "sku__product__"


class LowStockFilter(admin.SimpleListFilter):
    title = _("库存预警")
    parameter_name = "low_stock"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("below_safety", _("低于安全库存")), ("none_available", _("无可用库存"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "below_safety":
            return queryset.filter(on_hand__lt=F("reserved") + F("safety_stock"))
        if self.value() == "none_available":
            return queryset.filter(on_hand__lte=F("reserved") + F("safety_stock"))
        return queryset


# Warehouses and locations.


class WarehouseAdmin(ShopOpsModelAdmin):
    list_display = ("code", "name", "kind", "is_active", "receives_purchases", "address")
    list_filter = ("kind", "is_active", "receives_purchases")
    search_fields = ("code", "name")
    fields = ("code", "name", "kind", "is_active", "receives_purchases", "address")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = list(super().get_readonly_fields(request, obj))
        return [*readonly, "code"] if obj is not None else readonly

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # stock and the ledger point at warehouses: deactivate instead

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        data = form.cleaned_data
        if change:
            changes = {
                name: data[name] for name in form.changed_data if name in inventory_services.WAREHOUSE_FIELDS
            }
            saved = inventory_services.update_warehouse(warehouse_id=obj.pk, actor=request.user, **changes)
        else:
            saved = inventory_services.create_warehouse(
                code=data["code"],
                name=data["name"],
                kind=data["kind"],
                address=data["address"],
                actor=request.user,
            )
            # the kind sets whether purchases are received (a store: no) unless the form changed it
            later = {
                name: data[name]
                for name in ("is_active", "receives_purchases")
                if name in form.changed_data and data[name] != getattr(saved, name)
            }
            if later:
                saved = inventory_services.update_warehouse(
                    warehouse_id=saved.pk, actor=request.user, **later
                )
        adopt_saved(obj, saved)


class LocationAdmin(ShopOpsModelAdmin):
    list_display = ("code", "name", "warehouse", "is_active")
    list_filter = (WarehouseFilter, "is_active")
    search_fields = ("code", "name")
    list_select_related = ("warehouse",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).filter(warehouse__in=Warehouse.objects.for_user(request.user))


# Stock levels.


class AdjustForm(forms.Form):
    movement_type = forms.ChoiceField(
        label=_("调整类型"), choices=ADJUSTMENT_CHOICES, widget=UnfoldAdminSelectWidget()
    )
    quantity_delta = forms.IntegerField(
        label=_("调整数量"),
        min_value=-1_000_000,
        max_value=1_000_000,
        help_text=_("正数增加在库，负数减少在库；每个所选库存行各调整这么多"),
        widget=UnfoldAdminIntegerFieldWidget(),
    )
    reason = forms.CharField(label=_("原因"), max_length=300, widget=UnfoldAdminTextInputWidget())

    def clean_quantity_delta(self) -> int:
        value: int = self.cleaned_data["quantity_delta"]
        if value == 0:
            raise forms.ValidationError(_("调整数量不能为 0"))
        return value


class WriteOffForm(forms.Form):
    reason = forms.ChoiceField(
        label=_("报损原因"), choices=WriteOffReason.choices, widget=UnfoldAdminSelectWidget()
    )
    quantity = forms.IntegerField(
        label=_("报损数量"),
        min_value=1,
        max_value=1_000_000,
        help_text=_("每个所选库存行各报损这么多件"),
        widget=UnfoldAdminIntegerFieldWidget(),
    )
    note = forms.CharField(
        label=_("说明"),
        max_length=200,
        required=False,
        widget=UnfoldAdminTextInputWidget(),
        help_text=_("原因为“其他”时必填"),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("reason") == WriteOffReason.OTHER and not (data.get("note") or "").strip():
            self.add_error("note", _("请说明报损原因"))
        return data


class SafetyStockForm(forms.Form):
    safety_stock = forms.IntegerField(
        label=_("安全库存"), min_value=0, max_value=1_000_000, widget=UnfoldAdminIntegerFieldWidget()
    )


def xlsx_response(name: str, params: Any, user: Any) -> HttpResponse:
    buffer = io.BytesIO()
    reports.write_xlsx(name, params, user=user, destination=buffer)
    response = HttpResponse(buffer.getvalue(), content_type=XLSX_CONTENT_TYPE)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.xlsx"'
    return response


def _id_param(request: HttpRequest, name: str) -> int | None:
    value = request.GET.get(name, "")
    return int(value) if value.isdigit() and len(value) < 19 else None


class StockLevelAdmin(ReadOnlyAdmin):
    """Stock per SKU × warehouse; changed only by actions that call the inventory services."""

    list_display = (
        "merchant_code",
        "product_name",
        "warehouse",
        "on_hand",
        "reserved",
        "safety_stock",
        "available_shown",
        "in_transit",
        "value_shown",
        "ledger_link",
    )
    list_display_links = None
    list_filter = (WarehouseFilter, StockCategoryFilter, LowStockFilter)
    search_fields = ("sku__merchant_code", "sku__barcode", "sku__product__name")
    list_select_related = ("sku__product", "warehouse")
    actions = ["adjust_selected", "write_off_selected", "set_safety_stock_selected"]
    actions_list = ["export_stock_on_hand", "export_slow_movers", "export_stock_age", "export_turnover"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset: Any = super().get_queryset(request)
        return queryset.with_available()

    def has_adjust_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("inventory.change_stocklevel")

    def has_view_cost_permission(self, request: HttpRequest) -> bool:
        # the four report exports and the value column are at cost (美工/客服/推广 see quantities only)
        return catalog_queries.can_view_cost(request.user)

    def get_list_display(self, request: HttpRequest) -> Any:
        shown = super().get_list_display(request)
        if self.has_view_cost_permission(request):
            return shown
        return tuple(name for name in shown if name != "value_shown")

    @admin.display(description=_("商家编码"), ordering="sku__merchant_code")
    def merchant_code(self, level: StockLevel) -> str:
        return level.sku.merchant_code

    @admin.display(description=_("商品"), ordering="sku__product__name")
    def product_name(self, level: StockLevel) -> str:
        return level.sku.product.name

    @admin.display(description=_("可用"), ordering="available_quantity")
    def available_shown(self, level: StockLevel) -> Any:
        if level.available < 0:
            return format_html(
                '<span class="text-red-600 font-semibold" data-flag="below">{}</span>', level.available
            )
        return level.available

    @admin.display(description=_("库存金额(成本)"))
    def value_shown(self, level: StockLevel) -> str:
        return money(level.on_hand * level.sku.cost_price)

    @admin.display(description=_("库存流水"))
    def ledger_link(self, level: StockLevel) -> Any:
        url = ledger_url(merchant_code=level.sku.merchant_code, warehouse_id=level.warehouse_id)
        return format_html(
            '<a href="{}" class="text-primary-600" data-testid="ledger-link">{}</a>', url, _("流水")
        )

    @admin.action(description=_("调整库存"), permissions=["adjust"])
    def adjust_selected(self, request: HttpRequest, queryset: QuerySet[StockLevel]) -> HttpResponse | None:
        if request.POST.get("step") == "apply":
            form = AdjustForm(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                done = sum(
                    1
                    for level in queryset
                    if self.call_service(
                        request,
                        inventory_services.adjust_stock,
                        sku_id=level.sku_id,
                        warehouse_id=level.warehouse_id,
                        quantity_delta=data["quantity_delta"],
                        movement_type=data["movement_type"],
                        reason=data["reason"],
                        actor=request.user,
                    )
                )
                messages.success(request, _("已调整 %(count)d 行库存") % {"count": done})
                return None
        else:
            form = AdjustForm(initial={"movement_type": MovementType.ADJUST})
        return action_page(
            self,
            request,
            queryset,
            action_name="adjust_selected",
            title=_("调整库存"),
            form=form,
            next_step="apply",
            submit_label=_("确认调整"),
            description=_("每行调整都会写一条库存流水并记入审计；减少时不能低于已预占数量。"),
        )

    @admin.action(description=_("报损"), permissions=["adjust"])
    def write_off_selected(self, request: HttpRequest, queryset: QuerySet[StockLevel]) -> HttpResponse | None:
        """Damaged, expired or lost units off the shelf (报损): a 报损 ledger row per level, with the reason."""
        if request.POST.get("step") == "apply":
            form = WriteOffForm(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                done = sum(
                    1
                    for level in queryset
                    if self.call_service(
                        request,
                        inventory_services.write_off_stock,
                        sku_id=level.sku_id,
                        warehouse_id=level.warehouse_id,
                        quantity=data["quantity"],
                        reason=data["reason"],
                        note=data["note"],
                        actor=request.user,
                    )
                )
                if done:
                    messages.success(request, _("已报损 %(count)d 行库存") % {"count": done})
                return None
        else:
            form = WriteOffForm()
        return action_page(
            self,
            request,
            queryset,
            action_name="write_off_selected",
            title=_("报损"),
            form=form,
            next_step="apply",
            submit_label=_("确认报损"),
            description=_("报损减少在库并写一条“报损”库存流水（含原因），不能撤销；不能报损已预占的数量。"),
        )

    @admin.action(description=_("设置安全库存"), permissions=["adjust"])
    def set_safety_stock_selected(
        self, request: HttpRequest, queryset: QuerySet[StockLevel]
    ) -> HttpResponse | None:
        if request.POST.get("step") == "apply":
            form = SafetyStockForm(request.POST)
            if form.is_valid():
                done = sum(
                    1
                    for level in queryset
                    if self.call_service(
                        request,
                        inventory_services.set_safety_stock,
                        sku_id=level.sku_id,
                        warehouse_id=level.warehouse_id,
                        safety_stock=form.cleaned_data["safety_stock"],
                        actor=request.user,
                    )
                )
                messages.success(request, _("已设置 %(count)d 行安全库存") % {"count": done})
                return None
        else:
            form = SafetyStockForm()
        return action_page(
            self,
            request,
            queryset,
            action_name="set_safety_stock_selected",
            title=_("设置安全库存"),
            form=form,
            next_step="apply",
            submit_label=_("确认"),
        )

    def _export(
        self, request: HttpRequest, name: str, build: Callable[[int | None, int | None], Any]
    ) -> HttpResponse:
        params = build(_id_param(request, "warehouse"), _id_param(request, "category"))
        return xlsx_response(name, params, request.user)

    @action(
        description=_("导出库存金额"),
        url_path="export-stock-on-hand",
        permissions=["view_cost"],
        icon="download",
    )
    def export_stock_on_hand(self, request: HttpRequest) -> HttpResponse:
        return self._export(
            request,
            "stock-on-hand",
            lambda warehouse, category: reports.StockOnHandParams(
                group_by="warehouse_category", warehouse_id=warehouse, category_id=category
            ),
        )

    @action(
        description=_("导出滞销商品"),
        url_path="export-slow-movers",
        permissions=["view_cost"],
        icon="download",
    )
    def export_slow_movers(self, request: HttpRequest) -> HttpResponse:
        days = _id_param(request, "days") or 30
        return self._export(
            request,
            "slow-movers",
            lambda warehouse, category: reports.SlowMoversParams(
                days=min(days, reports.MAX_DAYS), warehouse_id=warehouse, category_id=category
            ),
        )

    @action(
        description=_("导出库龄"), url_path="export-stock-age", permissions=["view_cost"], icon="download"
    )
    def export_stock_age(self, request: HttpRequest) -> HttpResponse:
        return self._export(
            request,
            "stock-age",
            lambda warehouse, category: reports.StockAgeParams(warehouse_id=warehouse, category_id=category),
        )

    @action(
        description=_("导出库存周转"), url_path="export-turnover", permissions=["view_cost"], icon="download"
    )
    def export_turnover(self, request: HttpRequest) -> HttpResponse:
        end = timezone.now()
        return self._export(
            request,
            "turnover",
            lambda warehouse, category: reports.TurnoverParams(
                start=end - dt.timedelta(days=TURNOVER_DAYS),
                end=end,
                warehouse_id=warehouse,
                category_id=category,
            ),
        )


# The ledger and reservations.


class StockMovementAdmin(ReadOnlyAdmin):
    """The stock ledger (库存流水): read-only for everyone, filterable by SKU, warehouse, type and time."""

    list_display = (
        "created_at",
        "movement_type",
        "merchant_code",
        "warehouse",
        "on_hand_delta",
        "on_hand_after",
        "reserved_delta",
        "reserved_after",
        "reference_type",
        "reference_id",
        "actor",
        "note",
    )
    list_filter = (
        SkuCodeFilter,
        WarehouseFilter,
        ("movement_type", ChoicesDropdownFilter),
        ("created_at", RangeDateTimeFilter),
    )
    list_filter_submit = True
    search_fields = ("reference_id", "sku__merchant_code")
    list_select_related = ("sku", "warehouse", "actor")

    @admin.display(description=_("商家编码"), ordering="sku__merchant_code")
    def merchant_code(self, movement: StockMovement) -> str:
        return movement.sku.merchant_code


class ReservationAdmin(ReadOnlyAdmin):
    list_display = (
        "reference_type",
        "reference",
        "requested_sku",
        "sku",
        "warehouse",
        "quantity",
        "status",
        "expires_at",
        "created_at",
        "closed_at",
    )
    list_filter = (("status", ChoicesDropdownFilter), WarehouseFilter)
    search_fields = ("reference", "sku__merchant_code")
    list_select_related = ("requested_sku", "sku", "warehouse")
    actions = ["release_selected"]

    def has_release_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("inventory.change_reservation")

    @admin.action(description=_("释放预占"), permissions=["release"])
    def release_selected(self, request: HttpRequest, queryset: QuerySet[Reservation]) -> None:
        # a bundle's components are released together: per document and ordered SKU
        requests = sorted(
            set(
                queryset.filter(status=ReservationStatus.ACTIVE).values_list(
                    "reference_type", "reference", "requested_sku_id"
                )
            )
        )
        released = 0
        for reference_type, reference, requested_sku_id in requests:
            result = self.call_service(
                request,
                inventory_services.release_reservation,
                reference=reference,
                reference_type=reference_type,
                sku_id=requested_sku_id,
                actor=request.user,
            )
            released += 0 if result is None else 1
        messages.success(request, _("已释放 %(count)d 个单据的预占") % {"count": released})


class BundleComponentAdmin(ReadOnlyAdmin):
    list_display = ("bundle_sku", "component_sku", "quantity")
    search_fields = ("bundle_sku__merchant_code", "component_sku__merchant_code")
    list_select_related = ("bundle_sku", "component_sku")


# Warehouse scope of users.


class WarehouseScopeForm(forms.ModelForm):
    warehouses = forms.ModelMultipleChoiceField(
        label=_("可访问的仓库"),
        queryset=Warehouse.objects.all(),
        required=False,
        widget=UnfoldAdminSelectMultipleWidget(),
        help_text=_("仅在未勾选“可访问全部仓库”时生效"),
    )

    class Meta:
        model = WarehouseScopeSetting
        fields = ("user", "has_all_warehouses")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.fields["warehouses"].initial = list(
                UserWarehouseScope.objects.filter(user_id=self.instance.user_id).values_list(
                    "warehouse_id", flat=True
                )
            )


class WarehouseScopeSettingAdmin(ShopOpsModelAdmin):
    form = WarehouseScopeForm
    list_display = ("user", "has_all_warehouses", "warehouse_codes")
    list_filter = ("has_all_warehouses",)
    search_fields = ("user__username",)
    list_select_related = ("user",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = list(super().get_readonly_fields(request, obj))
        return [*readonly, "user"] if obj is not None else readonly

    @admin.display(description=_("仓库"))
    def warehouse_codes(self, setting: WarehouseScopeSetting) -> str:
        if setting.has_all_warehouses:
            return str(_("全部"))
        codes = UserWarehouseScope.objects.filter(user_id=setting.user_id).values_list(
            "warehouse__code", flat=True
        )
        return "、".join(sorted(codes)) or "-"

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        data = form.cleaned_data
        user_id = obj.user_id if change else data["user"].pk
        warehouse_ids = None if data["has_all_warehouses"] else [w.pk for w in data["warehouses"]]
        inventory_services.set_warehouse_scope(
            user_id=user_id, warehouse_ids=warehouse_ids, actor=request.user
        )
        adopt_saved(obj, WarehouseScopeSetting.objects.get(user_id=user_id))


# Thresholds, channel rules, stocktakes and transfers: read-mostly; changes go through the services.


class StockThresholdAdmin(ShopOpsModelAdmin):
    list_display = ("sku", "warehouse", "low_stock_quantity", "overstock_quantity", "is_active", "updated_at")
    list_filter = (WarehouseFilter, "is_active")
    search_fields = ("sku__merchant_code",)
    list_select_related = ("sku", "warehouse")
    autocomplete_fields = ("sku",)
    fields = ("sku", "warehouse", "low_stock_quantity", "overstock_quantity", "is_active")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        visible = Warehouse.objects.for_user(request.user)
        return super().get_queryset(request).filter(Q(warehouse__isnull=True) | Q(warehouse__in=visible))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = list(super().get_readonly_fields(request, obj))
        return [*readonly, "sku", "warehouse"] if obj is not None else readonly

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        data = form.cleaned_data
        saved = inventory_services.set_stock_threshold(
            sku_id=obj.sku_id if change else data["sku"].pk,
            warehouse_id=obj.warehouse_id
            if change
            else (data["warehouse"].pk if data["warehouse"] else None),
            low_stock_quantity=data["low_stock_quantity"],
            overstock_quantity=data["overstock_quantity"],
            is_active=data["is_active"],
            actor=request.user,
        )
        adopt_saved(obj, saved)


class ChannelStockRuleAdmin(ShopOpsModelAdmin):
    list_display = ("shop", "buffer_units", "quota_percent", "reserved_units", "is_active", "updated_at")
    list_filter = ("is_active",)
    list_select_related = ("shop",)
    fields = ("shop", "warehouses", "buffer_units", "quota_percent", "reserved_units", "is_active")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).filter(shop__in=Shop.objects.for_user(request.user))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = list(super().get_readonly_fields(request, obj))
        return [*readonly, "shop"] if obj is not None else readonly

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        data = form.cleaned_data
        saved = inventory_services.set_channel_stock_rule(
            shop_id=obj.shop_id if change else data["shop"].pk,
            warehouse_ids=[warehouse.pk for warehouse in data["warehouses"]],
            buffer_units=data["buffer_units"],
            quota_percent=data["quota_percent"],
            reserved_units=data["reserved_units"],
            is_active=data["is_active"],
            actor=request.user,
        )
        adopt_saved(obj, saved)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """The service already set the warehouses (audited); the form must not write them again."""


class ReadOnlyInline(TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# Stocktakes and transfers: designed pages on the inventory services. Every change is a POST with CSRF (the
# GET of an action shows its form or confirmation), every page reads its record through the admin's
# warehouse-scoped queryset (another warehouse's record answers 404), and a detail button is listed only
# for the states its service accepts.

SKU_CODE_MAX = 64
RECENT_SCANS = 10
TRANSFER_FORM_ROWS = 8


def shows_cost(user: Any) -> bool:
    """Cost prices and values at cost only for the roles whose job needs them (catalog's one rule)."""
    return catalog_queries.can_view_cost(user)


def _sku_label(sku: Any) -> str:
    spec = f" {sku.spec}" if getattr(sku, "spec", "") else ""
    return f"{sku.product.name}{spec}"


class WorkflowAdmin(ReadOnlyAdmin):
    """A read-only record whose state changes are detail actions shown only in the states listed here."""

    action_states: dict[str, tuple[str, ...]] = {}
    not_found_message: Any = _("记录不存在或不在你的仓库范围内")

    def get_actions_detail(self, request: HttpRequest, object_id: Any) -> Any:
        actions = super().get_actions_detail(request, object_id)
        obj = self.get_object(request, unquote(str(object_id)))
        if obj is None:
            return []
        return [
            found
            for found in actions
            if obj.status in self.action_states.get(found.method.__name__, (obj.status,))
            and self.allows(request, found.method.__name__, obj)
        ]

    def allows(self, request: HttpRequest, action_name: str, obj: Any) -> bool:
        """Per-record rules beyond the permission (e.g. only the receiving side receives)."""
        return True

    def scoped_object(self, request: HttpRequest, object_id: Any, action_name: str = "") -> Any:
        obj = self.get_object(request, unquote(str(object_id)))
        if obj is None or (action_name and not self.allows(request, action_name, obj)):
            raise Http404(self.not_found_message)
        return obj

    def change_url(self, obj: Any) -> str:
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[obj.pk])

    def render_page(
        self, request: HttpRequest, template: str, *, title: Any, obj: Any = None, **context: Any
    ) -> TemplateResponse:
        return TemplateResponse(
            request,
            template,
            {
                **self.admin_site.each_context(request),
                "title": title,
                "subtitle": None,
                "opts": self.opts,
                "object": obj,
                "back_url": self.change_url(obj)
                if obj is not None
                else reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist"),
                **context,
            },
        )

    def confirm(
        self,
        request: HttpRequest,
        obj: Any,
        *,
        title: Any,
        description: Any,
        submit_label: Any,
        run: Callable[[Any], Any],
        done: Any,
        form: forms.Form | None = None,
        danger: bool = False,
        rows: list[tuple[Any, Any]] | None = None,
    ) -> HttpResponse:
        """GET: a confirmation page (with `form` if the action asks for a reason); POST: run the service."""
        if request.method == "POST" and (form is None or form.is_valid()):
            data = {} if form is None else form.cleaned_data
            if self.call_service(request, lambda: run(data)) is not None:
                messages.success(request, done)
            return HttpResponseRedirect(self.change_url(obj))
        return self.render_page(
            request,
            "admin/inventory/confirm.html",
            title=title,
            obj=obj,
            description=description,
            submit_label=submit_label,
            form=form,
            danger=danger,
            rows=rows or [],
        )

    def call_service(self, request: HttpRequest, function: Callable[..., Any], **kwargs: Any) -> Any:
        try:
            result = function(**kwargs)
        except DomainError as error:
            report_refusal(request, error)
            return None
        return True if result is None else result


class RequiredReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("原因"),
        max_length=300,
        widget=UnfoldAdminTextInputWidget(),
        error_messages={"required": _("请填写原因")},
    )


class OptionalReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("原因"), max_length=300, required=False, widget=UnfoldAdminTextInputWidget()
    )


def _codes(text: str) -> list[str]:
    return [code for code in (part.strip() for part in text.replace(",", "\n").splitlines()) if code]


class StartStocktakeForm(forms.Form):
    warehouse = forms.ModelChoiceField(
        label=_("仓库"), queryset=Warehouse.objects.none(), widget=UnfoldAdminSelectWidget()
    )
    scope = forms.ChoiceField(
        label=_("盘点范围"),
        choices=StocktakeScope.choices,
        initial=StocktakeScope.FULL,
        widget=UnfoldAdminSelectWidget(),
    )
    category = forms.ModelChoiceField(
        label=_("类目"),
        queryset=Category.objects.all(),
        required=False,
        widget=UnfoldAdminSelectWidget(),
        help_text=_("范围为“按类目”时必填，含下级类目"),
    )
    location = forms.ModelChoiceField(
        label=_("库位"),
        queryset=Location.objects.none(),
        required=False,
        widget=UnfoldAdminSelectWidget(),
        help_text=_("范围为“按库位”时必填"),
    )
    sku_codes = forms.CharField(
        label=_("商家编码或条码"),
        required=False,
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 3}),
        help_text=_("范围为“按SKU”时必填，每行一个"),
    )
    is_blind = forms.BooleanField(
        label=_("盲盘"),
        required=False,
        initial=True,
        widget=UnfoldBooleanSwitchWidget(),
        help_text=_("盘点人看不到账面数量"),
    )
    note = forms.CharField(
        label=_("备注"), max_length=300, required=False, widget=UnfoldAdminTextInputWidget()
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        visible = Warehouse.objects.for_user(user).filter(is_active=True)
        self.fields["warehouse"].queryset = visible  # type: ignore[attr-defined]
        self.fields["location"].queryset = Location.objects.filter(  # type: ignore[attr-defined]
            warehouse__in=visible, is_active=True
        ).select_related("warehouse")
        self.sku_ids: list[int] = []

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        scope = data.get("scope")
        if scope == StocktakeScope.CATEGORY and not data.get("category"):
            self.add_error("category", _("请选择类目"))
        if scope == StocktakeScope.LOCATION:
            location = data.get("location")
            if location is None:
                self.add_error("location", _("请选择库位"))
            elif data.get("warehouse") is not None and location.warehouse_id != data["warehouse"].pk:
                self.add_error("location", _("请选择本仓库的库位"))
        if scope == StocktakeScope.SKUS:
            codes = _codes(data.get("sku_codes", ""))
            if not codes:
                self.add_error("sku_codes", _("请填写要盘点的SKU"))
            missing = []
            for code in codes:
                try:
                    self.sku_ids.append(inventory_services.find_sku_by_code(code[:SKU_CODE_MAX]).pk)
                except DomainError:
                    missing.append(code)
            if missing:
                self.add_error("sku_codes", _("找不到这些SKU：%(codes)s") % {"codes": "、".join(missing)})
        return data


class ScanForm(forms.Form):
    code = forms.CharField(
        label=_("条码或商家编码"),
        max_length=SKU_CODE_MAX,
        widget=UnfoldAdminTextInputWidget(
            attrs={"autofocus": True, "autocomplete": "off", "data-testid": "scan-code"}
        ),
        error_messages={"required": _("请扫描或输入条码")},
    )
    quantity = forms.IntegerField(
        label=_("数量"),
        initial=1,
        min_value=-100_000,
        max_value=100_000,
        widget=UnfoldAdminIntegerFieldWidget(attrs={"data-testid": "scan-quantity"}),
    )
    mode = forms.ChoiceField(
        label=_("录入方式"),
        choices=[(CountMode.ADD, _("累加（每扫一次加数量）")), (CountMode.SET, _("覆盖为该数量"))],
        initial=CountMode.ADD,
        widget=UnfoldAdminSelectWidget(attrs={"data-testid": "scan-mode"}),
    )


class CountImportForm(forms.Form):
    file = forms.FileField(
        label=_("盘点表（CSV/XLSX）"),
        widget=UnfoldAdminFileFieldWidget(),
        help_text=_("列：商家编码或条码、数量；文件中的数量覆盖已录入的实盘数，同一SKU多行相加"),
    )


class StocktakeLineInline(ReadOnlyInline):
    model = StocktakeLine
    fields = (
        "sku",
        "product_name",
        "expected_quantity",
        "book_quantity",
        "counted_quantity",
        "variance",
        "unit_cost",
        "posted_quantity",
    )
    readonly_fields = (*fields,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).select_related("sku__product")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None and obj.is_blind and obj.status == StocktakeStatus.COUNTING:
            return ("sku", "product_name", "counted_quantity")  # a blind count shows no book quantities
        fields = self.fields
        return fields if shows_cost(request.user) else tuple(name for name in fields if name != "unit_cost")

    @admin.display(description=_("商品"))
    def product_name(self, line: StocktakeLine) -> str:
        return _sku_label(line.sku)

    @admin.display(description=_("差异"))
    def variance(self, line: StocktakeLine) -> Any:
        return "-" if line.variance is None else line.variance


class StocktakeAdmin(WorkflowAdmin):
    # the 工作台's to-do counts link here with these filters (shopops.dashboard)
    linked_lookups = ("status__in",)
    list_display = (
        "number",
        "warehouse",
        "scope",
        "status",
        "is_blind",
        "started_at",
        "posted_at",
        "approved_by",
    )
    list_display_links = ("number",)
    list_filter = (("status", ChoicesDropdownFilter), ("scope", ChoicesDropdownFilter), WarehouseFilter)
    list_select_related = ("warehouse", "approved_by")
    inlines = (StocktakeLineInline,)
    actions_list = ["start_stocktake"]
    actions_detail = [
        "count_stocktake",
        "submit_stocktake",
        "review_stocktake",
        "reopen_stocktake",
        "cancel_stocktake",
    ]
    action_states = {
        "count_stocktake": (StocktakeStatus.COUNTING,),
        "submit_stocktake": (StocktakeStatus.COUNTING,),
        "review_stocktake": (StocktakeStatus.SUBMITTED,),
        "reopen_stocktake": (StocktakeStatus.SUBMITTED,),
        "cancel_stocktake": (StocktakeStatus.COUNTING, StocktakeStatus.SUBMITTED),
    }
    not_found_message = _("盘点单不存在或不在你的仓库范围内")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).filter(warehouse__in=Warehouse.objects.for_user(request.user))

    def has_start_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("inventory.add_stocktake"))

    def has_count_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return bool(request.user.has_perm("inventory.change_stocktake"))

    def has_approve_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return bool(request.user.has_perm("inventory.approve_stocktake"))

    @admin.display(description=_("盘点单"), ordering="pk")
    def number(self, stocktake: Stocktake) -> str:
        return f"#{stocktake.pk}"

    @action(description=_("开始盘点"), url_path="start", permissions=["start"], icon="add")
    def start_stocktake(self, request: HttpRequest) -> HttpResponse:
        form = StartStocktakeForm(request.POST or None, user=request.user)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            started = self.call_service(
                request,
                inventory_services.start_stocktake,
                warehouse_id=data["warehouse"].pk,
                scope=data["scope"],
                category_id=data["category"].pk if data["category"] else None,
                location_id=data["location"].pk if data["location"] else None,
                sku_ids=form.sku_ids,
                is_blind=data["is_blind"],
                note=data["note"],
                actor=request.user,
            )
            if started is not None:
                messages.success(
                    request,
                    _("盘点单 #%(number)d 已开始，共 %(lines)d 个SKU")
                    % {"number": started.pk, "lines": started.lines.count()},
                )
                return HttpResponseRedirect(
                    reverse("admin:inventory_stocktake_count_stocktake", args=[started.pk])
                )
        return self.render_page(
            request,
            "admin/inventory/form_page.html",
            title=_("开始盘点"),
            form=form,
            submit_label=_("开始盘点"),
            description=_(
                "开始时记录范围内每个SKU的在库数量（快照）；盘点期间库存照常变动，差异按录入时的账面数计算。"
            ),
        )

    @action(description=_("盘点录入"), url_path="count", permissions=["count"], icon="barcode_scanner")
    def count_stocktake(self, request: HttpRequest, object_id: str) -> HttpResponse:
        stocktake = self.scoped_object(request, object_id)
        scan_form = ScanForm(initial={"mode": request.GET.get("mode", CountMode.ADD)})
        import_form = CountImportForm()
        import_result = None
        if request.method == "POST" and "file" in request.FILES:
            import_form = CountImportForm(request.POST, request.FILES)
            if import_form.is_valid():
                upload = import_form.cleaned_data["file"]
                import_result = self.call_service(
                    request,
                    stock_imports.import_stocktake_counts,
                    stocktake_id=stocktake.pk,
                    source=upload,
                    filename=upload.name,
                    actor=request.user,
                )
        elif request.method == "POST":
            scan_form = ScanForm(request.POST)
            if scan_form.is_valid():
                data = scan_form.cleaned_data
                line = self.call_service(
                    request,
                    inventory_services.record_count,
                    stocktake_id=stocktake.pk,
                    barcode_or_code=data["code"],
                    quantity=data["quantity"],
                    mode=data["mode"],
                    actor=request.user,
                )
                if line is not None:
                    line = StocktakeLine.objects.select_related("sku__product").get(pk=line.pk)
                    messages.success(
                        request,
                        _("%(code)s %(name)s：实盘 %(counted)d")
                        % {
                            "code": line.sku.merchant_code,
                            "name": _sku_label(line.sku),
                            "counted": line.counted_quantity,
                        },
                    )
                url = reverse("admin:inventory_stocktake_count_stocktake", args=[stocktake.pk])
                return HttpResponseRedirect(f"{url}?{urlencode({'mode': data['mode']})}")
        stocktake.refresh_from_db()
        lines = list(stocktake.lines.select_related("sku__product").order_by("sku__merchant_code"))
        recent = sorted(
            (line for line in lines if line.counted_at is not None),
            key=lambda line: line.counted_at,
            reverse=True,
        )[:RECENT_SCANS]
        return self.render_page(
            request,
            "admin/inventory/stocktake_count.html",
            title=_("盘点录入：盘点单 #%(number)d") % {"number": stocktake.pk},
            obj=stocktake,
            scan_form=scan_form,
            import_form=import_form,
            import_result=import_result,
            lines=lines,
            recent=recent,
            counted=sum(1 for line in lines if line.is_counted),
            shows_book=not stocktake.is_blind,
            is_counting=stocktake.status == StocktakeStatus.COUNTING,
        )

    @action(description=_("提交审核"), url_path="submit", permissions=["count"], icon="send")
    def submit_stocktake(self, request: HttpRequest, object_id: str) -> HttpResponse:
        stocktake = self.scoped_object(request, object_id)
        lines = stocktake.lines.all()
        counted = lines.filter(counted_quantity__isnull=False).count()
        return self.confirm(
            request,
            stocktake,
            title=_("提交盘点单 #%(number)d 审核") % {"number": stocktake.pk},
            description=_("提交后不能再录入；未盘点的SKU不做调整。审核人须是未参与盘点的人。"),
            rows=[(_("已盘点SKU"), counted), (_("未盘点SKU"), lines.count() - counted)],
            submit_label=_("确认提交"),
            run=lambda data: inventory_services.submit_stocktake(
                stocktake_id=stocktake.pk, actor=request.user
            ),
            done=_("盘点单已提交审核"),
        )

    @action(description=_("审核并过账"), url_path="review", permissions=["approve"], icon="fact_check")
    def review_stocktake(self, request: HttpRequest, object_id: str) -> HttpResponse:
        stocktake = self.scoped_object(request, object_id)
        if request.method == "POST":
            if self.call_service(
                request, inventory_services.post_stocktake, stocktake_id=stocktake.pk, actor=request.user
            ):
                messages.success(request, _("盘点单 #%(number)d 已审核并过账") % {"number": stocktake.pk})
            return HttpResponseRedirect(self.change_url(stocktake))
        report = inventory_services.stocktake_variance(stocktake_id=stocktake.pk)
        names = {
            sku.pk: _sku_label(sku)
            for sku in Sku.objects.filter(pk__in=[line.sku_id for line in report.lines]).select_related(
                "product"
            )
        }
        rows = [(line, names.get(line.sku_id, "")) for line in report.lines]
        rows.sort(key=lambda row: (row[0].variance is None, -abs(row[0].variance or 0), row[0].merchant_code))
        return self.render_page(
            request,
            "admin/inventory/stocktake_review.html",
            title=_("审核盘点单 #%(number)d") % {"number": stocktake.pk},
            obj=stocktake,
            report=report,
            rows=rows,
            shows_cost=shows_cost(request.user),
        )

    @action(description=_("退回重盘"), url_path="reopen", permissions=["count"], icon="undo")
    def reopen_stocktake(self, request: HttpRequest, object_id: str) -> HttpResponse:
        stocktake = self.scoped_object(request, object_id)
        form = OptionalReasonForm(request.POST or None)
        return self.confirm(
            request,
            stocktake,
            title=_("退回盘点单 #%(number)d 重盘") % {"number": stocktake.pk},
            description=_("盘点单回到盘点中，可继续录入，已录入的数量保留。"),
            submit_label=_("确认退回"),
            form=form,
            run=lambda data: inventory_services.reopen_stocktake(
                stocktake_id=stocktake.pk, actor=request.user, reason=data["reason"]
            ),
            done=_("盘点单已退回重盘"),
        )

    @action(description=_("作废盘点单"), url_path="cancel", permissions=["count"], icon="block")
    def cancel_stocktake(self, request: HttpRequest, object_id: str) -> HttpResponse:
        stocktake = self.scoped_object(request, object_id)
        form = RequiredReasonForm(request.POST or None)
        return self.confirm(
            request,
            stocktake,
            title=_("作废盘点单 #%(number)d") % {"number": stocktake.pk},
            description=_("作废后不能恢复，已录入的实盘数不会调整库存。"),
            submit_label=_("确认作废"),
            form=form,
            danger=True,
            run=lambda data: inventory_services.cancel_stocktake(
                stocktake_id=stocktake.pk, actor=request.user, reason=data["reason"]
            ),
            done=_("盘点单已作废"),
        )


class TransferLineInline(ReadOnlyInline):
    model = TransferLine
    fields = ("sku", "product_name", "quantity", "shipped_quantity", "received_quantity", "in_transit")
    readonly_fields = (*fields,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).select_related("sku__product")

    @admin.display(description=_("商品"))
    def product_name(self, line: TransferLine) -> str:
        return _sku_label(line.sku)

    @admin.display(description=_("在途"))
    def in_transit(self, line: TransferLine) -> int:
        return line.in_transit_quantity


class TransferForm(forms.Form):
    source = forms.ModelChoiceField(
        label=_("调出仓"), queryset=Warehouse.objects.none(), widget=UnfoldAdminSelectWidget()
    )
    destination = forms.ModelChoiceField(
        label=_("调入仓"), queryset=Warehouse.objects.none(), widget=UnfoldAdminSelectWidget()
    )
    note = forms.CharField(
        label=_("备注"), max_length=300, required=False, widget=UnfoldAdminTextInputWidget()
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["source"].queryset = Warehouse.objects.for_user(user).filter(  # type: ignore[attr-defined]
            is_active=True
        )
        self.fields["destination"].queryset = Warehouse.objects.filter(is_active=True)  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("source") is not None and data.get("source") == data.get("destination"):
            self.add_error("destination", _("调出仓与调入仓不能相同"))
        return data


class TransferLineForm(forms.Form):
    code = forms.CharField(
        label=_("条码或商家编码"),
        max_length=SKU_CODE_MAX,
        required=False,
        widget=UnfoldAdminTextInputWidget(),
    )
    quantity = forms.IntegerField(
        label=_("数量"),
        min_value=1,
        max_value=1_000_000,
        required=False,
        widget=UnfoldAdminIntegerFieldWidget(),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        code = (data.get("code") or "").strip()
        if code and not data.get("quantity") and "quantity" not in self.errors:
            self.add_error("quantity", _("请填写数量"))
        if data.get("quantity") and not code:
            self.add_error("code", _("请填写SKU"))
        if code:
            try:
                data["sku"] = inventory_services.find_sku_by_code(code)
            except DomainError as error:
                self.add_error("code", error.message)
        return data


TransferLineFormSet = forms.formset_factory(TransferLineForm, extra=TRANSFER_FORM_ROWS, max_num=200)


class TransferAdmin(WorkflowAdmin):
    # the 工作台's to-do counts link here with these filters (shopops.dashboard)
    linked_lookups = ("status__in",)
    list_display = ("number", "source", "destination", "status", "created_at", "shipped_at", "closed_at")
    list_display_links = ("number",)
    list_filter = (("status", ChoicesDropdownFilter),)
    list_select_related = ("source", "destination")
    inlines = (TransferLineInline,)
    actions_list = ["create_transfer"]
    actions_detail = ["ship_transfer", "receive_transfer", "close_transfer", "cancel_transfer"]
    open_states = (TransferStatus.SHIPPED, TransferStatus.PARTIALLY_RECEIVED)
    action_states = {
        "ship_transfer": (TransferStatus.DRAFT,),
        "cancel_transfer": (TransferStatus.DRAFT,),
        "receive_transfer": open_states,
        "close_transfer": open_states,
    }
    not_found_message = _("调拨单不存在或不在你的仓库范围内")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        visible = Warehouse.objects.for_user(request.user)
        return super().get_queryset(request).filter(Q(source__in=visible) | Q(destination__in=visible))

    def allows(self, request: HttpRequest, action_name: str, obj: Any) -> bool:
        """The source side ships and cancels, the destination side receives and closes."""
        visible = Warehouse.objects.for_user(request.user)
        side = obj.source_id if action_name in ("ship_transfer", "cancel_transfer") else obj.destination_id
        return visible.filter(pk=side).exists()

    def has_create_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("inventory.add_transfer"))

    def has_move_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return bool(request.user.has_perm("inventory.change_transfer"))

    @admin.display(description=_("调拨单"), ordering="pk")
    def number(self, transfer: Transfer) -> str:
        return f"#{transfer.pk}"

    @action(description=_("新建调拨单"), url_path="create", permissions=["create"], icon="add")
    def create_transfer(self, request: HttpRequest) -> HttpResponse:
        form = TransferForm(request.POST or None, user=request.user)
        lines = TransferLineFormSet(request.POST or None, prefix="lines")
        if request.method == "POST" and form.is_valid() and lines.is_valid():
            quantities: dict[int, int] = {}
            for row in lines.cleaned_data:
                if row.get("sku") is not None:
                    quantities[row["sku"].pk] = quantities.get(row["sku"].pk, 0) + row["quantity"]
            if not quantities:
                messages.error(request, _("调拨单至少需要一个SKU"))
            else:
                data = form.cleaned_data
                created = self.call_service(
                    request,
                    inventory_services.create_transfer,
                    source_id=data["source"].pk,
                    destination_id=data["destination"].pk,
                    lines=quantities,
                    note=data["note"],
                    actor=request.user,
                )
                if created is not None:
                    messages.success(request, _("调拨单 #%(number)d 已创建") % {"number": created.pk})
                    return HttpResponseRedirect(self.change_url(created))
        return self.render_page(
            request,
            "admin/inventory/transfer_form.html",
            title=_("新建调拨单"),
            form=form,
            lines=lines,
        )

    @action(description=_("发出"), url_path="ship", permissions=["move"], icon="local_shipping")
    def ship_transfer(self, request: HttpRequest, object_id: str) -> HttpResponse:
        transfer = self.scoped_object(request, object_id, "ship_transfer")
        return self.confirm(
            request,
            transfer,
            title=_("发出调拨单 #%(number)d") % {"number": transfer.pk},
            description=_("从 %(source)s 扣减每行数量（调拨出），在 %(destination)s 记为在途。")
            % {"source": transfer.source, "destination": transfer.destination},
            rows=[
                (f"{line.sku.merchant_code} {_sku_label(line.sku)}", line.quantity)
                for line in transfer.lines.select_related("sku__product")
            ],
            submit_label=_("确认发出"),
            run=lambda data: inventory_services.ship_transfer(transfer_id=transfer.pk, actor=request.user),
            done=_("调拨单已发出"),
        )

    @action(description=_("收货"), url_path="receive", permissions=["move"], icon="inventory")
    def receive_transfer(self, request: HttpRequest, object_id: str) -> HttpResponse:
        transfer = self.scoped_object(request, object_id, "receive_transfer")
        lines = list(transfer.lines.select_related("sku__product").order_by("sku__merchant_code"))
        errors: dict[int, str] = {}
        entered: dict[int, str] = {}
        if request.method == "POST":
            quantities: dict[int, int] = {}
            for line in lines:
                text = request.POST.get(f"received-{line.pk}", "").strip()
                entered[line.pk] = text
                if not text or text == "0":
                    continue
                if not text.isdigit() or len(text) > 9:
                    errors[line.pk] = str(_("须为非负整数"))
                elif int(text) > line.in_transit_quantity:
                    errors[line.pk] = str(_("最多 %(count)d") % {"count": line.in_transit_quantity})
                else:
                    quantities[line.sku_id] = int(text)
            if not errors and not quantities:
                messages.error(request, _("请填写本次收货数量"))
            elif not errors:
                received = self.call_service(
                    request,
                    inventory_services.receive_transfer,
                    transfer_id=transfer.pk,
                    quantities=quantities,
                    actor=request.user,
                )
                if received is not None:
                    if received.status == TransferStatus.RECEIVED:
                        messages.success(request, _("已全部收货，调拨单完成"))
                    else:
                        messages.success(
                            request,
                            _("已收货 %(units)d 件，其余仍在途") % {"units": sum(quantities.values())},
                        )
                    return HttpResponseRedirect(self.change_url(transfer))
        rows = [
            (
                line,
                _sku_label(line.sku),
                entered.get(line.pk, str(line.in_transit_quantity)),
                errors.get(line.pk, ""),
            )
            for line in lines
        ]
        return self.render_page(
            request,
            "admin/inventory/transfer_receive.html",
            title=_("调拨单 #%(number)d 收货") % {"number": transfer.pk},
            obj=transfer,
            rows=rows,
        )

    @action(
        description=_("关闭（差异作丢失）"), url_path="close", permissions=["move"], icon="do_not_disturb_on"
    )
    def close_transfer(self, request: HttpRequest, object_id: str) -> HttpResponse:
        transfer = self.scoped_object(request, object_id, "close_transfer")
        form = RequiredReasonForm(request.POST or None)
        missing = [
            (f"{line.sku.merchant_code} {_sku_label(line.sku)}", line.in_transit_quantity)
            for line in transfer.lines.select_related("sku__product")
            if line.in_transit_quantity
        ]
        return self.confirm(
            request,
            transfer,
            title=_("关闭调拨单 #%(number)d") % {"number": transfer.pk},
            description=_("仍在途的数量不再收货，记为调拨差异（在途丢失），不能恢复。"),
            rows=missing,
            submit_label=_("确认关闭"),
            form=form,
            danger=True,
            run=lambda data: inventory_services.close_transfer(
                transfer_id=transfer.pk, actor=request.user, reason=data["reason"]
            ),
            done=_("调拨单已关闭，差异已记录"),
        )

    @action(description=_("取消调拨单"), url_path="cancel", permissions=["move"], icon="block")
    def cancel_transfer(self, request: HttpRequest, object_id: str) -> HttpResponse:
        transfer = self.scoped_object(request, object_id, "cancel_transfer")
        form = OptionalReasonForm(request.POST or None)
        return self.confirm(
            request,
            transfer,
            title=_("取消调拨单 #%(number)d") % {"number": transfer.pk},
            description=_("草稿调拨单尚未发出，取消后不能恢复。"),
            submit_label=_("确认取消"),
            form=form,
            danger=True,
            run=lambda data: inventory_services.cancel_transfer(
                transfer_id=transfer.pk, actor=request.user, reason=data["reason"]
            ),
            done=_("调拨单已取消"),
        )


admin.site.register(Warehouse, WarehouseAdmin)
admin.site.register(Location, LocationAdmin)
admin.site.register(StockLevel, StockLevelAdmin)
admin.site.register(StockMovement, StockMovementAdmin)
admin.site.register(Reservation, ReservationAdmin)
admin.site.register(BundleComponent, BundleComponentAdmin)
admin.site.register(WarehouseScopeSetting, WarehouseScopeSettingAdmin)
admin.site.register(StockThreshold, StockThresholdAdmin)
admin.site.register(ChannelStockRule, ChannelStockRuleAdmin)
admin.site.register(Stocktake, StocktakeAdmin)
admin.site.register(Transfer, TransferAdmin)
