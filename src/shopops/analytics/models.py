"""The analytics app's OLTP side: collection sites, imported platform traffic and ad spend, report subscriptions.

Events, facts and rollups do not live here: they are Parquet datasets and DuckDB tables under
`settings.ANALYTICS_DIR` (see analytics/warehouse).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from shopops.channels.models import Shop
from shopops.core.permissions import ScopedQuerySet


class IPMode(models.TextChoices):
    HASH = "hash", _("加密哈希（可精确去重）")
    TRUNCATE = "truncate", _("截断（IPv4 保留前三段）")


class CollectSite(models.Model):
    """A first-party collection site: the public key the JS snippet and the batch endpoint send with."""

    SCOPE_SHOP_FIELD = "shop"

    shop = models.ForeignKey(
        Shop, verbose_name=_("店铺"), on_delete=models.PROTECT, related_name="collect_sites"
    )
    name = models.CharField(_("名称"), max_length=100)
    key = models.CharField(_("站点密钥"), max_length=40, unique=True)
    allowed_origins = models.TextField(_("允许的来源"), blank=True, help_text=_("每行一个，留空表示不限"))
    ip_mode = models.CharField(_("IP 存储方式"), max_length=10, choices=IPMode.choices, default=IPMode.HASH)
    honour_dnt = models.BooleanField(_("遵守 Do-Not-Track"), default=True)
    require_consent = models.BooleanField(_("需要用户同意"), default=False)
    is_active = models.BooleanField(_("启用"), default=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    objects = ScopedQuerySet["CollectSite"].as_manager()

    class Meta:
        verbose_name = _("采集站点")
        verbose_name_plural = _("采集站点")
        ordering = ("shop", "name")

    def __str__(self) -> str:
        return f"{self.name} ({self.key})"


class TrafficReport(models.Model):
    """One day of a platform's traffic report (生意参谋-style export), for the shop or one product."""

    SCOPE_SHOP_FIELD = "shop"

    shop = models.ForeignKey(
        Shop, verbose_name=_("店铺"), on_delete=models.PROTECT, related_name="traffic_reports"
    )
    day = models.DateField(_("日期"), db_index=True)
    product_code = models.CharField(
        _("商品编码"), max_length=64, blank=True, default="", help_text=_("留空表示全店")
    )
    product_name = models.CharField(_("商品名称"), max_length=200, blank=True)
    visitors = models.PositiveIntegerField(_("访客数"), default=0)
    page_views = models.PositiveIntegerField(_("浏览量"), default=0)
    add_to_cart_buyers = models.PositiveIntegerField(_("加购人数"), null=True, blank=True)
    paying_buyers = models.PositiveIntegerField(_("支付买家数"), default=0)
    paid_orders = models.PositiveIntegerField(_("支付订单数"), null=True, blank=True)
    paid_units = models.PositiveIntegerField(_("支付件数"), null=True, blank=True)
    paid_amount = models.DecimalField(_("支付金额"), max_digits=14, decimal_places=2, default=0)
    bounce_rate = models.DecimalField(_("跳失率"), max_digits=7, decimal_places=4, null=True, blank=True)
    avg_stay_seconds = models.DecimalField(
        _("平均停留时长（秒）"), max_digits=10, decimal_places=2, null=True, blank=True
    )
    import_job = models.ForeignKey(
        "core.ImportJob", verbose_name=_("导入批次"), on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    objects = ScopedQuerySet["TrafficReport"].as_manager()

    class Meta:
        verbose_name = _("平台流量报表")
        verbose_name_plural = _("平台流量报表")
        ordering = ("-day", "shop", "product_code")
        constraints = [
            models.UniqueConstraint(
                fields=["shop", "day", "product_code"], name="analytics_traffic_unique_day"
            )
        ]
        permissions = [
            ("view_datacenter", "查看数据中心"),
            ("export_datacenter", "导出数据中心报表"),
        ]

    def __str__(self) -> str:
        return f"{self.shop_id} {self.day} {self.product_code or '全店'}"


class AdSpend(models.Model):
    """Marketing spend of one campaign on one day (直通车, 万相台, 京东快车, 多多搜索, 巨量千川, …)."""

    SCOPE_SHOP_FIELD = "shop"

    shop = models.ForeignKey(Shop, verbose_name=_("店铺"), on_delete=models.PROTECT, related_name="ad_spend")
    day = models.DateField(_("日期"), db_index=True)
    ad_channel = models.CharField(_("推广渠道"), max_length=40)
    campaign = models.CharField(_("推广计划"), max_length=120, blank=True, default="")
    spend = models.DecimalField(_("花费"), max_digits=14, decimal_places=2)
    impressions = models.PositiveBigIntegerField(_("展现量"), null=True, blank=True)
    clicks = models.PositiveIntegerField(_("点击量"), null=True, blank=True)
    attributed_orders = models.PositiveIntegerField(_("成交订单数"), null=True, blank=True)
    attributed_revenue = models.DecimalField(
        _("成交金额"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    import_job = models.ForeignKey(
        "core.ImportJob", verbose_name=_("导入批次"), on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    objects = ScopedQuerySet["AdSpend"].as_manager()

    class Meta:
        verbose_name = _("推广花费")
        verbose_name_plural = _("推广花费")
        ordering = ("-day", "shop", "ad_channel", "campaign")
        constraints = [
            models.UniqueConstraint(
                fields=["shop", "day", "ad_channel", "campaign"], name="analytics_adspend_unique_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.shop_id} {self.day} {self.ad_channel} {self.campaign}"


class ReportKind(models.TextChoices):
    DAILY = "daily", _("日报")
    WEEKLY = "weekly", _("周报")


class ReportSubscription(models.Model):
    """Who receives the daily or weekly report by email, for which shops."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("接收人"),
        on_delete=models.CASCADE,
        related_name="report_subscriptions",
    )
    kind = models.CharField(_("报表"), max_length=10, choices=ReportKind.choices)
    shops = models.ManyToManyField(
        Shop, verbose_name=_("店铺"), blank=True, help_text=_("留空表示其可见的全部店铺")
    )
    is_active = models.BooleanField(_("启用"), default=True)
    last_period_sent = models.DateField(_("最近发送的周期"), null=True, blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("报表订阅")
        verbose_name_plural = _("报表订阅")
        constraints = [models.UniqueConstraint(fields=["user", "kind"], name="analytics_subscription_unique")]

    def __str__(self) -> str:
        return f"{self.user} {self.kind}"


class DataCenter(TrafficReport):
    """数据中心: the report pages (overview, trends, sources, products, customers, campaigns) in the admin.

    A proxy without permissions of its own: it only gives the pages an admin home
    (/admin/analytics/datacenter/); they need `analytics.view_datacenter`."""

    class Meta:
        proxy = True
        default_permissions = ()
        verbose_name = _("数据中心")
        verbose_name_plural = _("数据中心")


class ExchangeRate(models.Model):
    """A day's rate of a currency into the reporting currency (settings.ANALYTICS_CURRENCY, CNY): 数据中心 converts
    each order in another currency at the rate of its paid day (unpaid: its placed day) in its shop's zone,
    taking the latest rate of the 7 days before when that day has none (weekends and holidays publish none).
    An order with no such rate is left out of the amounts and the reports say so; currencies are never added
    as they are."""

    day = models.DateField(_("日期"))
    currency = models.CharField(_("币种"), max_length=3, help_text=_("ISO 4217 代码，如 USD"))
    rate = models.DecimalField(
        _("汇率"), max_digits=18, decimal_places=8, help_text=_("1 单位该币种折合多少报表币种（人民币）")
    )
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("汇率")
        verbose_name_plural = _("汇率")
        ordering = ["-day", "currency"]
        constraints = [
            models.UniqueConstraint(fields=["day", "currency"], name="analytics_exchange_rate_unique"),
            models.CheckConstraint(condition=models.Q(rate__gt=0), name="analytics_exchange_rate_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.currency} {self.rate}"
