"""Admin for the catalog and prices: every save and action goes through the catalog services."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db.models import Count, F, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from unfold.admin import TabularInline
from unfold.contrib.filters.admin import (
    ChoicesDropdownFilter,
    DropdownFilter,
    RangeDateTimeFilter,
    RangeNumericFilter,
    RelatedDropdownFilter,
)
from unfold.decorators import action
from unfold.widgets import UnfoldAdminDecimalFieldWidget, UnfoldAdminSelectWidget

from shopops.catalog import queries as catalog_queries
from shopops.catalog import services as catalog_services
from shopops.catalog.admin_imports import ProductImportExportAdmin
from shopops.catalog.models import (
    LISTING_TRANSITIONS,
    Brand,
    Category,
    ChannelListing,
    CodingRule,
    ListingEvent,
    ListingStatus,
    PriceField,
    PriceHistory,
    PricingPolicy,
    Product,
    ProductImage,
    PromoPrice,
    ScheduledPriceChange,
    Sku,
)
from shopops.core import audit
from shopops.core.admin_tools import (
    ReadOnlyAdmin,
    ReasonForm,
    ShopOpsModelAdmin,
    acknowledge_field,
    action_page,
    adopt_saved,
    changed_values,
    money,
    reason_field,
)
from shopops.core.errors import DomainError

CHANGE_PRICE_PERMISSION = "catalog.change_price"
GUARDED_FIELDS = ("cost_price", "sale_price", "list_price", "min_price")
SKU_EDITABLE = (*catalog_services.SKU_FIELDS, *catalog_services.SKU_PRICE_FIELDS)


def danger_label(text: Any) -> Any:
    return format_html(
        '<span class="inline-block font-semibold rounded-default text-[11px] whitespace-nowrap h-6 leading-6 px-2 '
        'bg-red-100 text-red-700 dark:bg-red-500/20 dark:text-red-400" data-flag="below">{}</span>',
        text,
    )


def may_change_price(request: HttpRequest) -> bool:
    return request.user.has_perm(CHANGE_PRICE_PERMISSION)


class CategoryTreeFilter(DropdownFilter):
    """A category and everything below it."""

    title = _("类目")
    parameter_name = "category"
    lookup_prefix = "product__"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            (str(pk), "　" * depth + name)
            for pk, name, depth in Category.objects.values_list("pk", "name", "depth")
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if not value or not str(value).isdigit():
            return queryset
        ids = catalog_queries.category_with_descendant_ids(int(value))
        return queryset.filter(**{f"{self.lookup_prefix}category_id__in": ids})


class ProductCategoryTreeFilter(CategoryTreeFilter):
    lookup_prefix = ""


class BelowCostFilter(admin.SimpleListFilter):
    title = _("低于成本")
    parameter_name = "below_cost"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("是")), ("no", _("否"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(sale_price__lt=F("cost_price"))
        if self.value() == "no":
            return queryset.filter(sale_price__gte=F("cost_price"))
        return queryset


class CategoryAdmin(ShopOpsModelAdmin):
    list_display = ("indented_name", "code", "path", "sort_order")
    list_display_links = ("indented_name",)
    search_fields = ("name", "code", "path")
    ordering = ("path",)
    fields = ("parent", "name", "code", "sort_order", "path", "depth")
    readonly_fields = ("path", "depth")

    @admin.display(description=_("类目名称"), ordering="path")
    def indented_name(self, category: Category) -> Any:
        return format_html(
            '<span style="padding-left:{}rem">{}{}</span>',
            category.depth * 1.5,
            "└ " if category.depth else "",
            category.name,
        )

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        data = form.cleaned_data
        parent = data.get("parent")
        if change:
            saved = catalog_services.update_category(
                category_id=obj.pk,
                actor=request.user,
                name=data["name"],
                code=data["code"],
                sort_order=data["sort_order"],
                parent_id=parent.pk if parent else None,
                move_to_root=parent is None,
            )
        else:
            saved = catalog_services.create_category(
                name=data["name"],
                code=data["code"],
                actor=request.user,
                parent_id=parent.pk if parent else None,
                sort_order=data["sort_order"],
            )
        adopt_saved(obj, saved)


class BrandAdmin(ShopOpsModelAdmin):
    list_display = ("name", "code", "is_active")
    list_filter = ("is_active",)
    search_fields = ("name", "code")

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:  # renaming a brand has no business rule beyond uniqueness: the audited generic save
            super().save_model(request, obj, form, change)
            return
        saved = catalog_services.create_brand(
            name=form.cleaned_data["name"], code=form.cleaned_data["code"], actor=request.user
        )
        if not form.cleaned_data.get("is_active", True):
            saved.is_active = False
            super().save_model(request, saved, form, True)
        adopt_saved(obj, saved)


class PriceFieldsMixin:
    """Price fields are read-only for users without `catalog.change_price` (e.g. 美工); a blank
    merchant code is generated by the service."""

    price_fields: tuple[str, ...] = GUARDED_FIELDS

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)  # type: ignore[misc]
        if db_field.name == "merchant_code" and formfield is not None:
            formfield.required = False
            formfield.help_text = _("新增时留空则自动生成")
        return formfield

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = list(super().get_readonly_fields(request, obj))  # type: ignore[misc]
        if not may_change_price(request):
            readonly += [name for name in self.price_fields if name not in readonly]
        return readonly


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
        deleted = [
            (image, audit.snapshot(image))
            for image in (form.instance for form in formset.deleted_forms)
            if image.pk
        ]
        for image, before in deleted:
            audit.record(
                actor=request.user, action="product_image.deleted", instance=image, before=before, after={}
            )
        formset.save()
        for image in formset.new_objects:
            audit.record(actor=request.user, action="product_image.created", instance=image, before={})
        for image, fields in formset.changed_objects:
            audit.record(
                actor=request.user, action="product_image.updated", instance=image, changes={"fields": fields}
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
            (_("价格"), {"fields": ("sale_price", "cost_price", "list_price", "min_price")}),
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
        if sku.sale_price < sku.cost_price:
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


class ListingAddForm(forms.ModelForm):
    class Meta:
        model = ChannelListing
        fields = ("product", "shop", "status", "reason")


class ChannelListingAdmin(ShopOpsModelAdmin):
    list_display = ("product", "shop", "status", "external_id", "changed_at", "changed_by", "reason")
    list_filter = (("status", ChoicesDropdownFilter), ("shop", RelatedDropdownFilter))
    search_fields = ("product__name", "product__merchant_code", "external_id")
    list_select_related = ("product", "shop", "changed_by")
    actions = ["list_selected", "delist_selected"]
    actions_detail = ["list_on_shop", "delist_from_shop"]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = ListingAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ("product", "shop", "status", "reason")
        return ("product", "shop", "status", "external_id", "changed_at", "changed_by", "reason")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return () if obj is None else ("product", "shop", "status", "changed_at", "changed_by", "reason")

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        data = form.cleaned_data
        saved = catalog_services.set_listing_status(
            product_id=data["product"].pk,
            shop_id=data["shop"].pk,
            status=data["status"],
            actor=request.user,
            reason=data.get("reason", ""),
        )
        adopt_saved(obj, saved)

    def _change_status(
        self, request: HttpRequest, queryset: QuerySet[ChannelListing], status: str, *, apply: bool = False
    ) -> HttpResponse | None:
        title = _("上架") if status == ListingStatus.LISTED else _("下架")
        if apply or request.POST.get("step") == "apply":
            form = ReasonForm(request.POST)
            if form.is_valid():
                done = 0
                for listing in queryset:
                    if self.call_service(
                        request,
                        catalog_services.set_listing_status,
                        product_id=listing.product_id,
                        shop_id=listing.shop_id,
                        status=status,
                        actor=request.user,
                        reason=form.cleaned_data["reason"],
                    ):
                        done += 1
                messages.success(
                    request, _("%(action)s完成：%(count)d 条") % {"action": title, "count": done}
                )
                return None
        else:
            form = ReasonForm()
        return action_page(
            self,
            request,
            queryset,
            action_name="list_selected" if status == ListingStatus.LISTED else "delist_selected",
            title=title,
            form=form,
            next_step="apply",
            submit_label=title,
            description=_("下架须填写原因；原因会记入上下架记录和审计记录。"),
        )

    @admin.action(description=_("上架"), permissions=["change"])
    def list_selected(self, request: HttpRequest, queryset: QuerySet[ChannelListing]) -> HttpResponse | None:
        return self._change_status(request, queryset, ListingStatus.LISTED)

    @admin.action(description=_("下架"), permissions=["change"])
    def delist_selected(
        self, request: HttpRequest, queryset: QuerySet[ChannelListing]
    ) -> HttpResponse | None:
        return self._change_status(request, queryset, ListingStatus.DELISTED)

    def _detail_status(self, request: HttpRequest, object_id: str, status: str) -> HttpResponse:
        listing = self.get_object(request, unquote(object_id))
        if listing is None:
            raise Http404
        queryset = self.get_queryset(request).filter(pk=listing.pk)
        if request.method == "POST":
            response = self._change_status(request, queryset, status, apply=True)
            if response is not None:
                return response
            back = request.GET.get("next", "")
            if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
                back = reverse("admin:catalog_product_change", args=[listing.product_id])
            return HttpResponseRedirect(back)
        return self._change_status(request, queryset, status)  # type: ignore[return-value]

    @action(description=_("上架"), url_path="list-on-shop", permissions=["change"], icon="publish")
    def list_on_shop(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._detail_status(request, object_id, ListingStatus.LISTED)

    @action(description=_("下架"), url_path="delist-from-shop", permissions=["change"], icon="unpublished")
    def delist_from_shop(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._detail_status(request, object_id, ListingStatus.DELISTED)


class ListingEventAdmin(ReadOnlyAdmin):
    list_display = ("listing", "from_status", "to_status", "reason", "actor", "created_at")
    list_filter = (("to_status", ChoicesDropdownFilter), ("created_at", RangeDateTimeFilter))
    list_select_related = ("listing__product", "listing__shop", "actor")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        shops = ChannelListing.objects.for_user(request.user).values("pk")
        return super().get_queryset(request).filter(listing__in=shops)


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


class CodingRuleForm(forms.ModelForm):
    class Meta:
        model = CodingRule
        fields = ("name", "pattern", "is_active")

    def clean_pattern(self) -> str:
        pattern = self.cleaned_data["pattern"]
        try:
            catalog_services.validate_coding_pattern(pattern)
        except DomainError as error:
            raise forms.ValidationError(error.message) from None
        return pattern


class CodingRuleAdmin(ShopOpsModelAdmin):
    form = CodingRuleForm
    list_display = ("name", "pattern", "is_active")


admin.site.register(Category, CategoryAdmin)
admin.site.register(Brand, BrandAdmin)
admin.site.register(Product, ProductAdmin)
admin.site.register(Sku, SkuAdmin)
admin.site.register(ChannelListing, ChannelListingAdmin)
admin.site.register(ListingEvent, ListingEventAdmin)
admin.site.register(PriceHistory, PriceHistoryAdmin)
admin.site.register(ScheduledPriceChange, ScheduledPriceChangeAdmin)
admin.site.register(PromoPrice, PromoPriceAdmin)
admin.site.register(PricingPolicy, PricingPolicyAdmin)
admin.site.register(CodingRule, CodingRuleAdmin)
