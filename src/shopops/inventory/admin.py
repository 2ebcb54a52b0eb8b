"""Admin for inventory: warehouses, stock levels, the ledger, reservations, bundles, scope and report exports."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import F, Q, QuerySet
from django.http import HttpRequest, HttpResponse
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
    UnfoldAdminIntegerFieldWidget,
    UnfoldAdminSelectMultipleWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextInputWidget,
)

from shopops.catalog.admin import CategoryTreeFilter
from shopops.channels.models import Shop
from shopops.core.admin_tools import ReadOnlyAdmin, ShopOpsModelAdmin, action_page, adopt_saved, money
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
    StocktakeStatus,
    StockThreshold,
    Transfer,
    TransferLine,
    UserWarehouseScope,
    Warehouse,
    WarehouseScopeSetting,
)

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
    list_display = ("code", "name", "kind", "is_active", "address")
    list_filter = ("kind", "is_active")
    search_fields = ("code", "name")
    fields = ("code", "name", "kind", "is_active", "address")

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
            if not data["is_active"]:
                saved = inventory_services.update_warehouse(
                    warehouse_id=saved.pk, actor=request.user, is_active=False
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
    actions = ["adjust_selected", "set_safety_stock_selected"]
    actions_list = ["export_stock_on_hand", "export_slow_movers", "export_stock_age", "export_turnover"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset: Any = super().get_queryset(request)
        return queryset.with_available()

    def has_adjust_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("inventory.change_stocklevel")

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
        description=_("导出库存金额"), url_path="export-stock-on-hand", permissions=["view"], icon="download"
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
        description=_("导出滞销商品"), url_path="export-slow-movers", permissions=["view"], icon="download"
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

    @action(description=_("导出库龄"), url_path="export-stock-age", permissions=["view"], icon="download")
    def export_stock_age(self, request: HttpRequest) -> HttpResponse:
        return self._export(
            request,
            "stock-age",
            lambda warehouse, category: reports.StockAgeParams(warehouse_id=warehouse, category_id=category),
        )

    @action(description=_("导出库存周转"), url_path="export-turnover", permissions=["view"], icon="download")
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


class StocktakeLineInline(ReadOnlyInline):
    model = StocktakeLine
    fields = (
        "sku",
        "expected_quantity",
        "counted_quantity",
        "book_quantity",
        "variance",
        "unit_cost",
        "posted_quantity",
    )
    readonly_fields = fields

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None and obj.is_blind and obj.status == StocktakeStatus.COUNTING:
            return ("sku", "counted_quantity")  # a blind count shows no book quantities while counting
        return self.fields

    @admin.display(description=_("差异"))
    def variance(self, line: StocktakeLine) -> Any:
        return "-" if line.variance is None else line.variance


class StocktakeAdmin(ReadOnlyAdmin):
    list_display = (
        "__str__",
        "warehouse",
        "scope",
        "status",
        "is_blind",
        "started_at",
        "posted_at",
        "approved_by",
    )
    list_filter = (("status", ChoicesDropdownFilter), ("scope", ChoicesDropdownFilter), WarehouseFilter)
    list_select_related = ("warehouse", "approved_by")
    inlines = (StocktakeLineInline,)
    actions = ["post_selected"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).filter(warehouse__in=Warehouse.objects.for_user(request.user))

    def has_approve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("inventory.approve_stocktake")

    @admin.action(description=_("审核并过账"), permissions=["approve"])
    def post_selected(self, request: HttpRequest, queryset: QuerySet[Stocktake]) -> None:
        posted = sum(
            1
            for stocktake_id in queryset.values_list("pk", flat=True)
            if self.call_service(
                request, inventory_services.post_stocktake, stocktake_id=stocktake_id, actor=request.user
            )
        )
        messages.success(request, _("已过账 %(count)d 张盘点单") % {"count": posted})


class TransferLineInline(ReadOnlyInline):
    model = TransferLine
    fields = ("sku", "quantity", "shipped_quantity", "received_quantity", "in_transit")
    readonly_fields = fields

    @admin.display(description=_("在途"))
    def in_transit(self, line: TransferLine) -> int:
        return line.in_transit_quantity


class TransferAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "source", "destination", "status", "created_at", "shipped_at", "closed_at")
    list_filter = (("status", ChoicesDropdownFilter),)
    list_select_related = ("source", "destination")
    inlines = (TransferLineInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        visible = Warehouse.objects.for_user(request.user)
        return super().get_queryset(request).filter(Q(source__in=visible) | Q(destination__in=visible))


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
