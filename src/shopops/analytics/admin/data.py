"""Platform traffic reports and ad spend (lists with 导入 buttons) and report subscriptions in the admin."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from unfold.contrib.filters.admin import RangeDateFilter, RelatedDropdownFilter
from unfold.widgets import UnfoldAdminTextInputWidget

from shopops.analytics.imports import AD_SPEND_PERMISSIONS, TRAFFIC_PERMISSIONS
from shopops.analytics.models import AdSpend, ReportSubscription, TrafficReport
from shopops.analytics.reports import tasks as report_tasks
from shopops.channels.models import Shop
from shopops.core.admin_imports import ImportJobAdminMixin, ImportUploadForm, import_action
from shopops.core.admin_tools import ShopOpsModelAdmin, money


class ShopScopedAdmin(ShopOpsModelAdmin):
    """Rows of the shops in the user's scope only (the models' querysets know their shop field)."""

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).select_related("shop")


@admin.register(TrafficReport)
class TrafficReportAdmin(ImportJobAdminMixin, ShopScopedAdmin):
    list_display = (
        "day",
        "shop",
        "product_shown",
        "visitors",
        "page_views",
        "paying_buyers",
        "amount_shown",
        "add_to_cart_buyers",
        "paid_units",
    )
    list_filter = (("shop", RelatedDropdownFilter), ("day", RangeDateFilter))
    list_filter_submit = True
    search_fields = ("product_code", "product_name")
    search_help_text = _("商品编码 / 商品名称")
    date_hierarchy = None
    readonly_fields = ("import_job", "created_at", "updated_at")
    actions_list = ["import_traffic"]

    import_kind = report_tasks.TRAFFIC_IMPORT_KIND
    import_title = _("导入平台流量报表")
    import_permissions = TRAFFIC_PERMISSIONS
    import_task = report_tasks.run_traffic_report_import
    import_action_name = "import_traffic"
    import_shop_field = "shop"
    import_intro = _(
        "生意参谋、京东商智、拼多多后台导出的流量日报（全店或按商品）：按 店铺 + 日期 + 商品 匹配，"
        "已有的更新、新的创建；同一文件重复导入不会改变任何数据。"
    )
    import_headers = (
        "日期",
        "商品编码",
        "商品名称",
        "访客数",
        "浏览量",
        "支付买家数",
        "支付金额",
        "加购人数",
        "支付件数",
        "跳失率",
        "平均停留时长",
    )
    import_preview_key_label = _("日期 / 商品")

    import_traffic = import_action(_("导入流量报表"))

    @admin.display(description=_("商品"), ordering="product_code")
    def product_shown(self, report: TrafficReport) -> str:
        if not report.product_code:
            return str(_("全店"))
        return f"{report.product_code} {report.product_name}".strip()

    @admin.display(description=_("支付金额"), ordering="paid_amount")
    def amount_shown(self, report: TrafficReport) -> str:
        return money(report.paid_amount)


class AdSpendUploadForm(ImportUploadForm):
    ad_channel = forms.CharField(
        label=_("推广渠道"),
        max_length=40,
        required=False,
        widget=UnfoldAdminTextInputWidget(),
        help_text=_("文件中没有“推广渠道”列时填写，如 直通车、万相台、京东快车、多多搜索、巨量千川"),
    )

    def extra_options(self) -> dict[str, Any]:
        options = super().extra_options()
        channel = (self.cleaned_data.get("ad_channel") or "").strip()
        if channel:
            options["ad_channel"] = channel
        return options


@admin.register(AdSpend)
class AdSpendAdmin(ImportJobAdminMixin, ShopScopedAdmin):
    list_display = (
        "day",
        "shop",
        "ad_channel",
        "campaign",
        "spend_shown",
        "impressions",
        "clicks",
        "attributed_orders",
        "revenue_shown",
    )
    list_filter = (("shop", RelatedDropdownFilter), ("day", RangeDateFilter), "ad_channel")
    list_filter_submit = True
    search_fields = ("campaign", "ad_channel")
    search_help_text = _("推广计划 / 推广渠道")
    readonly_fields = ("import_job", "created_at", "updated_at")
    actions_list = ["import_ad_spend"]

    import_kind = report_tasks.AD_SPEND_IMPORT_KIND
    import_title = _("导入推广花费")
    import_permissions = AD_SPEND_PERMISSIONS
    import_task = report_tasks.run_ad_spend_import
    import_action_name = "import_ad_spend"
    import_shop_field = "shop"
    import_intro = _(
        "直通车、万相台、京东快车、多多搜索、巨量千川等推广报表（按天 × 计划）：按 店铺 + 日期 + 渠道 + 计划 匹配，"
        "用于计算新顾客成本（CAC）与 ROI；同一文件重复导入不会改变任何数据。"
    )
    import_headers = ("日期", "推广渠道", "推广计划", "花费", "展现量", "点击量", "成交订单数", "成交金额")
    import_preview_key_label = _("日期 / 渠道 / 计划")

    import_ad_spend = import_action(_("导入推广花费"))

    @admin.display(description=_("花费"), ordering="spend")
    def spend_shown(self, spend: AdSpend) -> str:
        return money(spend.spend)

    @admin.display(description=_("成交金额"), ordering="attributed_revenue")
    def revenue_shown(self, spend: AdSpend) -> str:
        return money(spend.attributed_revenue) if spend.attributed_revenue is not None else "-"

    def import_form(self, request: HttpRequest) -> ImportUploadForm:
        return AdSpendUploadForm(
            request.POST or None,
            request.FILES or None,
            shops=self.import_shops(request),
            formats=None,
            file_help=str(self.import_file_help),
        )

    def job_details(self, job: Any) -> list[tuple[Any, str]]:
        details = super().job_details(job)
        if job.options.get("ad_channel"):
            details.append((_("推广渠道"), str(job.options["ad_channel"])))
        return details


@admin.register(ReportSubscription)
class ReportSubscriptionAdmin(ShopOpsModelAdmin):
    list_display = ("user", "kind", "shops_shown", "is_active", "last_period_sent", "created_at")
    list_filter = ("kind", "is_active")
    search_fields = ("user__username", "user__email")
    list_select_related = ("user",)
    autocomplete_fields = ()
    filter_horizontal = ("shops",)
    readonly_fields = ("last_period_sent", "created_at")
    fields = ("user", "kind", "shops", "is_active", "last_period_sent", "created_at")

    @admin.display(description=_("店铺"))
    def shops_shown(self, subscription: ReportSubscription) -> str:
        names = [shop.code for shop in subscription.shops.all()]
        return "、".join(names) if names else str(_("其可见的全部店铺"))

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).prefetch_related("shops")

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "shops":
            kwargs["queryset"] = Shop.objects.for_user(request.user).order_by("code")
        return super().formfield_for_manytomany(db_field, request, **kwargs)
