"""Admin for products and SKUs, with the SKU bulk price adjustment."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _
from unfold.admin import TabularInline
from unfold.contrib.filters.admin import ChoicesDropdownFilter, RangeNumericFilter, RelatedDropdownFilter
from unfold.widgets import UnfoldAdminDecimalFieldWidget, UnfoldAdminSelectWidget

from shopops.catalog import queries as catalog_queries
from shopops.catalog import services as catalog_services
from shopops.catalog.admin.common import (
    GUARDED_FIELDS,
    BelowCostFilter,
    CategoryTreeFilter,
    PriceFieldsMixin,
    ProductCategoryTreeFilter,
    danger_label,
    may_change_price,
    without_cost,
)
from shopops.catalog.admin.imports import ProductImportExportAdmin
from shopops.catalog.models import (
    LISTING_TRANSITIONS,
    ChannelListing,
    ListingStatus,
    PriceField,
    Product,
    ProductImage,
    Sku,
)
from shopops.core.admin_tools import (
    ShopOpsModelAdmin,
    acknowledge_field,
    action_page,
    adopt_saved,
    changed_values,
    money,
    reason_field,
)
from shopops.core.context import current_request
from shopops.core.errors import DomainError

SKU_EDITABLE = (*catalog_services.SKU_FIELDS, *catalog_services.SKU_PRICE_FIELDS)


class SkuInline(PriceFieldsMixin, TabularInline):
    model = Sku
    fields = (
        "merchant_code",
        "spec",
        "barcode",
        "cost_price",
        "sale_price",
        "list_price",
        "min_price",
        "is_active",
    )
    price_fields = GUARDED_FIELDS
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # a new SKU always sets prices
        return super().has_add_permission(request, obj) and may_change_price(request)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return without_cost(request, super().get_fields(request, obj))


class ProductImageInline(TabularInline):
    model = ProductImage
    fields = ("image", "alt_text", "sort_order")
    extra = 0
    tab = True


class ChannelListingInline(TabularInline):
    model = ChannelListing
    fields = ("shop", "status", "changed_at", "reason", "listing_buttons")
    readonly_fields = fields
    extra = 0
    can_delete = False
    tab = True

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).for_user(request.user).select_related("shop")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("操作"))
    def listing_buttons(self, listing: ChannelListing) -> Any:
        request = current_request()
        if request is not None and not request.user.has_perm("catalog.change_channellisting"):
            return "-"  # no 上架/下架 button for a person who may not change listings
        buttons = []
        if ListingStatus.LISTED in LISTING_TRANSITIONS.get(listing.status, set()):
            buttons.append(
                (reverse("admin:catalog_channellisting_list_on_shop", args=[listing.pk]), _("上架"))
            )
        if ListingStatus.DELISTED in LISTING_TRANSITIONS.get(listing.status, set()):
            buttons.append(
                (reverse("admin:catalog_channellisting_delist_from_shop", args=[listing.pk]), _("下架"))
            )
        return (
            format_html_join(" ", '<a class="text-primary-600 font-medium" href="{}">{}</a>', buttons) or "-"
        )


class ProductForm(forms.ModelForm):
    price_reason = reason_field()
    acknowledge_warnings = acknowledge_field()

    class Meta:
        model = Product
        fields = ("name", "merchant_code", "category", "brand", "description", "status")


class ProductAdmin(ShopOpsModelAdmin):
    form = ProductForm
    # the 工作台's to-do counts link here with these filters (shopops.dashboard)
    linked_lookups = ("status__exact", "images__isnull")
    list_display = (
        "merchant_code",
        "name",
        "category",
        "brand",
        "status",
        "sku_count",
        "listed_count",
        "created_at",
    )
    list_display_links = ("merchant_code", "name")
    list_filter = (
        ProductCategoryTreeFilter,
        ("brand", RelatedDropdownFilter),
        ("status", ChoicesDropdownFilter),
    )
    list_filter_submit = True
    search_fields = ("name", "merchant_code", "skus__merchant_code", "skus__barcode")
    list_select_related = ("category", "brand")
    inlines = (SkuInline, ProductImageInline, ChannelListingInline)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        main = (None, {"fields": ("name", "merchant_code", "category", "brand", "status", "description")})
        if not may_change_price(request):
            return (main,)
        return (main, (_("SKU 调价"), {"fields": ("price_reason", "acknowledge_warnings")}))

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form_class = super().get_form(request, obj, change=change, **kwargs)
        if obj is None and "merchant_code" in form_class.base_fields:
            form_class.base_fields["merchant_code"].required = False
            form_class.base_fields["merchant_code"].help_text = _("留空则按商家编码规则自动生成")
        return form_class

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        listed = Count("listings", filter=Q(listings__status=ListingStatus.LISTED), distinct=True)
        return (
            super()
            .get_queryset(request)
            .annotate(sku_total=Count("skus", distinct=True), listed_total=listed)
        )

    @admin.display(description=_("SKU 数"), ordering="sku_total")
    def sku_count(self, product: Any) -> int:
        return int(product.sku_total)

    @admin.display(description=_("已上架店铺"), ordering="listed_total")
    def listed_count(self, product: Any) -> int:
        return int(product.listed_total)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        data = form.cleaned_data
        values = {
            "name": data["name"],
            "category_id": data["category"].pk,
            "brand_id": data["brand"].pk if data.get("brand") else None,
            "description": data.get("description", ""),
            "status": data["status"],
            "merchant_code": data.get("merchant_code") or None,
        }
        if change:
            names = {"category": "category_id", "brand": "brand_id"}
            changed = {names.get(name, name) for name in form.changed_data}
            saved = catalog_services.update_product(
                product_id=obj.pk,
                actor=request.user,
                **{key: value for key, value in values.items() if key in changed},
            )
        else:
            saved = catalog_services.create_product(actor=request.user, **values)
        adopt_saved(obj, saved)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is Sku:
            self._save_skus(request, form, formset)
        elif formset.model is ProductImage:
            self._save_images(request, formset)
        else:
            formset.save()

    def _save_skus(self, request: HttpRequest, form: Any, formset: Any) -> None:
        reason = form.cleaned_data.get("price_reason", "")
        acknowledge = bool(form.cleaned_data.get("acknowledge_warnings"))
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for sku_form in formset.forms:
            if not sku_form.has_changed():
                continue
            if sku_form.instance.pk is None:
                sku = create_sku_from_form(
                    request, sku_form, product_id=formset.instance.pk, reason=reason, acknowledge=acknowledge
                )
                formset.new_objects.append(sku)
            else:
                changes = changed_values(sku_form, SKU_EDITABLE)
                sku = catalog_services.update_sku(
                    sku_id=sku_form.instance.pk,
                    actor=request.user,
                    reason=reason,
                    acknowledge_warnings=acknowledge,
                    **changes,
                )
                formset.changed_objects.append((sku, list(changes)))

    def _save_images(self, request: HttpRequest, formset: Any) -> None:
        formset.save(commit=False)  # the forms' instances; the service writes and audits them
        catalog_services.save_product_images(
            actor=request.user,
            product_id=formset.instance.pk,
            added=list(formset.new_objects),
            changed=list(formset.changed_objects),
            deleted=list(formset.deleted_objects),
        )


def create_sku_from_form(
    request: HttpRequest, form: Any, *, product_id: int, reason: str, acknowledge: bool
) -> Sku:
    data = form.cleaned_data
    return catalog_services.create_sku(
        product_id=product_id,
        actor=request.user,
        sale_price=data["sale_price"],
        cost_price=data["cost_price"],
        list_price=data.get("list_price"),
        min_price=data.get("min_price"),
        merchant_code=data.get("merchant_code") or None,
        barcode=data.get("barcode") or None,
        attributes=data.get("attributes") or None,
        spec=data.get("spec") or None,
        weight_grams=data.get("weight_grams"),
        acknowledge_warnings=acknowledge,
        reason=reason,
    )


class SkuForm(forms.ModelForm):
    price_reason = reason_field()
    acknowledge_warnings = acknowledge_field()

    class Meta:
        model = Sku
        fields = (
            "product",
            "merchant_code",
            "barcode",
            "attributes",
            "spec",
            "weight_grams",
            "cost_price",
            "sale_price",
            "list_price",
            "min_price",
            "is_active",
        )


class BulkPriceForm(forms.Form):
    mode = forms.ChoiceField(
        label=_("调价方式"),
        choices=[
            ("percent", _("按百分比（-10 表示降价 10%）")),
            ("amount", _("按金额（-5 表示降 5 元）")),
            ("set", _("统一设为")),
        ],
        widget=UnfoldAdminSelectWidget(),
    )
    value = forms.DecimalField(
        label=_("数值"), max_digits=14, decimal_places=2, widget=UnfoldAdminDecimalFieldWidget()
    )
    field = forms.ChoiceField(
        label=_("价格类型"),
        choices=PriceField.choices,
        initial=PriceField.SALE,
        widget=UnfoldAdminSelectWidget(),
    )
    rounding = forms.ChoiceField(
        label=_("取整"),
        choices=[("cent", _("到分")), ("yuan", _("到元")), ("x9", _("尾数 .9"))],
        widget=UnfoldAdminSelectWidget(),
    )
    reason = reason_field(required=True)


class BulkPriceConfirmForm(BulkPriceForm):
    acknowledge_warnings = acknowledge_field()


class SkuAdmin(PriceFieldsMixin, ProductImportExportAdmin):
    form = SkuForm
    # the 工作台's to-do counts link here with these filters (shopops.dashboard)
    linked_lookups = ("is_active__exact", "sale_price__exact")
    list_display = (
        "merchant_code",
        "product",
        "spec",
        "sale_price_shown",
        "cost_price_shown",
        "list_price_shown",
        "margin",
        "below_cost_flag",
        "is_active",
    )
    list_display_links = ("merchant_code",)
    list_filter = (
        CategoryTreeFilter,
        ("product__brand", RelatedDropdownFilter),
        "is_active",
        BelowCostFilter,
        ("sale_price", RangeNumericFilter),
    )
    list_filter_submit = True
    search_fields = ("merchant_code", "barcode", "product__name", "product__merchant_code")
    list_select_related = ("product",)
    actions = ["bulk_adjust_prices"]
    readonly_fields = ("created_at", "updated_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        # a new SKU always sets prices
        return super().has_add_permission(request) and may_change_price(request)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = list(super().get_readonly_fields(request, obj))
        return [*readonly, "product"] if obj is not None else readonly

    def get_list_display(self, request: HttpRequest) -> Any:
        return without_cost(request, super().get_list_display(request))

    def get_list_filter(self, request: HttpRequest) -> Any:
        return without_cost(request, super().get_list_filter(request))

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets: list[Any] = [
            (
                None,
                {
                    "fields": (
                        "product",
                        "merchant_code",
                        "barcode",
                        "spec",
                        "attributes",
                        "weight_grams",
                        "is_active",
                    )
                },
            ),
            (
                _("价格"),
                {"fields": without_cost(request, ("sale_price", "cost_price", "list_price", "min_price"))},
            ),
        ]
        if may_change_price(request):
            fieldsets.append((_("调价"), {"fields": ("price_reason", "acknowledge_warnings")}))
        if obj is not None:
            fieldsets.append((_("时间"), {"fields": ("created_at", "updated_at")}))
        return fieldsets

    @admin.display(description=_("售价"), ordering="sale_price")
    def sale_price_shown(self, sku: Sku) -> str:
        return money(sku.sale_price)

    @admin.display(description=_("成本价"), ordering="cost_price")
    def cost_price_shown(self, sku: Sku) -> str:
        return money(sku.cost_price)

    @admin.display(description=_("划线价"), ordering="list_price")
    def list_price_shown(self, sku: Sku) -> str:
        return money(sku.list_price)

    @admin.display(description=_("毛利率"))
    def margin(self, sku: Sku) -> str:
        value = catalog_services.margin_percent(sale_price=sku.sale_price, cost_price=sku.cost_price)
        return "-" if value is None else f"{value.quantize(Decimal('0.1'))}%"

    @admin.display(description=_("价格提醒"))
    def below_cost_flag(self, sku: Sku) -> Any:
        # only listed for users who may see costs (without_cost drops it for the others)
        if catalog_queries.is_below_cost(sku.sale_price, sku.cost_price):
            return danger_label(_("低于成本"))
        if sku.min_price is not None and sku.sale_price < sku.min_price:
            return danger_label(_("低于最低售价"))
        return ""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        reason = form.cleaned_data.get("price_reason", "")
        acknowledge = bool(form.cleaned_data.get("acknowledge_warnings"))
        if change:
            changes = changed_values(form, SKU_EDITABLE)
            saved = catalog_services.update_sku(
                sku_id=obj.pk, actor=request.user, reason=reason, acknowledge_warnings=acknowledge, **changes
            )
        else:
            saved = create_sku_from_form(
                request,
                form,
                product_id=form.cleaned_data["product"].pk,
                reason=reason,
                acknowledge=acknowledge,
            )
        adopt_saved(obj, saved)

    @admin.action(description=_("批量调价"), permissions=["change_price"])
    def bulk_adjust_prices(self, request: HttpRequest, queryset: QuerySet[Sku]) -> HttpResponse | None:
        step = request.POST.get("step", "")
        if step == "apply":
            form: BulkPriceForm = BulkPriceConfirmForm(request.POST)
            if form.is_valid() and self._apply_bulk(request, queryset, form.cleaned_data):
                return None
            return self._bulk_preview(request, queryset, form)
        if step == "preview":
            form = BulkPriceForm(request.POST)
            if form.is_valid():
                return self._bulk_preview(request, queryset, BulkPriceConfirmForm(request.POST))
        else:
            form = BulkPriceForm(initial={"field": PriceField.SALE, "rounding": "cent"})
        return action_page(
            self,
            request,
            queryset,
            action_name="bulk_adjust_prices",
            title=_("批量调价"),
            form=form,
            next_step="preview",
            submit_label=_("预览"),
            description=_("先预览每个 SKU 的新价格和价格保护提醒，确认后才会调整。"),
        )

    def has_change_price_permission(self, request: HttpRequest) -> bool:
        return may_change_price(request)

    def _bulk_preview(
        self, request: HttpRequest, queryset: QuerySet[Sku], form: BulkPriceForm
    ) -> HttpResponse:
        form.is_valid()
        data = form.cleaned_data
        try:
            rows = catalog_services.preview_bulk_price_adjustment(
                sku_ids=list(queryset.values_list("pk", flat=True)),
                mode=data["mode"],
                value=data["value"],
                field=data["field"],
                rounding=data["rounding"],
            )
        except DomainError as error:
            form.add_error(None, error.message)
            rows = []
        preview = {
            "headers": [_("商家编码"), _("商品"), _("原价"), _("新价"), _("价格保护")],
            "rows": [
                [
                    row.merchant_code,
                    row.name,
                    money(row.old_value),
                    money(row.new_value),
                    "；".join(issue.message for issue in row.issues) or "-",
                ]
                for row in rows
            ],
        }
        has_issues = any(row.issues for row in rows)
        hidden = ["mode", "value", "field", "rounding", "reason"] + (
            [] if has_issues else ["acknowledge_warnings"]
        )
        return action_page(
            self,
            request,
            queryset,
            action_name="bulk_adjust_prices",
            title=_("确认批量调价"),
            form=form,
            next_step="apply",
            submit_label=_("确认调价"),
            description=_(
                "以下是将要调整的 SKU。确认后一次性全部调整；任一 SKU 被价格保护阻止则全部不调整。"
            ),
            preview=preview,
            hidden_fields=hidden,
        )

    def _apply_bulk(self, request: HttpRequest, queryset: QuerySet[Sku], data: dict[str, Any]) -> bool:
        result = self.call_service(
            request,
            catalog_services.apply_bulk_price_adjustment,
            sku_ids=list(queryset.values_list("pk", flat=True)),
            mode=data["mode"],
            value=data["value"],
            field=data["field"],
            rounding=data["rounding"],
            reason=data["reason"],
            actor=request.user,
            acknowledge_warnings=bool(data.get("acknowledge_warnings")),
        )
        if result is None:
            return False
        messages.success(request, _("已调整 %(count)d 个 SKU 的价格") % {"count": len(result.changes)})
        return True
