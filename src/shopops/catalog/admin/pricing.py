"""Admin for price history, scheduled prices, promotional prices and pricing policies."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from unfold.contrib.filters.admin import ChoicesDropdownFilter, RangeDateTimeFilter, RelatedDropdownFilter

from shopops.catalog import services as catalog_services
from shopops.catalog.admin.common import may_change_price
from shopops.catalog.models import PriceHistory, PromoPrice, ScheduledPriceChange
from shopops.core.admin_tools import ReadOnlyAdmin, ShopOpsModelAdmin, acknowledge_field, adopt_saved, money


class PriceHistoryAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "sku",
        "field",
        "old_value_shown",
        "new_value_shown",
        "reason",
        "source",
        "actor",
    )
    list_filter = (
        ("field", ChoicesDropdownFilter),
        "source",
        ("created_at", RangeDateTimeFilter),
        ("actor", RelatedDropdownFilter),
    )
    list_filter_submit = True
    search_fields = ("sku__merchant_code", "sku__product__name", "reason")
    list_select_related = ("sku", "actor")

    @admin.display(description=_("原价"), ordering="old_value")
    def old_value_shown(self, row: PriceHistory) -> str:
        return money(row.old_value)

    @admin.display(description=_("新价"), ordering="new_value")
    def new_value_shown(self, row: PriceHistory) -> str:
        return money(row.new_value)


class ScheduleForm(forms.ModelForm):
    acknowledge_warnings = acknowledge_field()

    class Meta:
        model = ScheduledPriceChange
        fields = ("sku", "new_price", "starts_at", "ends_at", "reason")


class ScheduledPriceChangeAdmin(ShopOpsModelAdmin):
    # the 工作台's to-do counts link here with these filters (shopops.dashboard)
    linked_lookups = ("status__exact", "starts_at__gte", "starts_at__lt")
    list_display = (
        "sku",
        "new_price_shown",
        "starts_at",
        "ends_at",
        "status",
        "previous_price",
        "reason",
        "created_by",
    )
    list_filter = (("status", ChoicesDropdownFilter), ("starts_at", RangeDateTimeFilter))
    search_fields = ("sku__merchant_code", "sku__product__name", "reason")
    list_select_related = ("sku", "created_by")
    autocomplete_fields = ("sku",)
    actions = ["cancel_selected"]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = ScheduleForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ("sku", "new_price", "starts_at", "ends_at", "reason", "acknowledge_warnings")
        return (
            "sku",
            "new_price",
            "starts_at",
            "ends_at",
            "status",
            "previous_price",
            "reason",
            "created_by",
            "created_at",
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return () if obj is None else self.get_fields(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and may_change_price(request)

    @admin.display(description=_("新售价"), ordering="new_price")
    def new_price_shown(self, schedule: ScheduledPriceChange) -> str:
        return money(schedule.new_price)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        data = form.cleaned_data
        saved = catalog_services.schedule_price_change(
            sku_id=data["sku"].pk,
            new_price=data["new_price"],
            starts_at=data["starts_at"],
            ends_at=data.get("ends_at"),
            reason=data.get("reason", ""),
            acknowledge_warnings=bool(data.get("acknowledge_warnings")),
            actor=request.user,
        )
        adopt_saved(obj, saved)

    @admin.action(description=_("取消所选定时调价"), permissions=["change"])
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[ScheduledPriceChange]) -> None:
        cancelled = sum(
            1
            for schedule in queryset
            if self.call_service(
                request,
                catalog_services.cancel_scheduled_price_change,
                schedule_id=schedule.pk,
                actor=request.user,
            )
        )
        messages.success(request, _("已取消 %(count)d 条定时调价") % {"count": cancelled})


class PromoPriceAdmin(ShopOpsModelAdmin):
    # the 工作台's to-do counts link here with these filters (shopops.dashboard)
    linked_lookups = ("is_active__exact", "starts_at__lte", "starts_at__gt", "ends_at__gt")
    list_display = ("name", "sku", "shop", "price_shown", "starts_at", "ends_at", "is_active", "created_by")
    list_filter = ("is_active", ("shop", RelatedDropdownFilter), ("starts_at", RangeDateTimeFilter))
    search_fields = ("name", "sku__merchant_code", "sku__product__name")
    list_select_related = ("sku", "shop", "created_by")
    autocomplete_fields = ("sku",)
    actions = ["deactivate_selected"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ("sku", "shop", "name", "price", "starts_at", "ends_at")
        return (
            "sku",
            "shop",
            "name",
            "price",
            "starts_at",
            "ends_at",
            "is_active",
            "created_by",
            "created_at",
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return () if obj is None else self.get_fields(request, obj)

    @admin.display(description=_("活动价"), ordering="price")
    def price_shown(self, promo: PromoPrice) -> str:
        return money(promo.price)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        data = form.cleaned_data
        saved = catalog_services.create_promo_price(
            sku_id=data["sku"].pk,
            shop_id=data["shop"].pk,
            name=data["name"],
            price=data["price"],
            starts_at=data["starts_at"],
            ends_at=data["ends_at"],
            actor=request.user,
        )
        adopt_saved(obj, saved)

    @admin.action(description=_("停用所选活动价"), permissions=["change"])
    def deactivate_selected(self, request: HttpRequest, queryset: QuerySet[PromoPrice]) -> None:
        for promo in queryset:
            self.call_service(
                request, catalog_services.deactivate_promo_price, promo_id=promo.pk, actor=request.user
            )
        messages.success(request, _("已停用所选活动价"))


class PricingPolicyAdmin(ShopOpsModelAdmin):
    list_display = ("__str__", "category", "min_margin_percent", "mode", "block_below_cost")
    list_filter = ("mode", "block_below_cost")
