"""Catalog: categories, brands, products (SPU), SKUs, channel listings, prices and their history."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from shopops.core.money import MONEY_DECIMAL_PLACES, MONEY_LIMIT, MONEY_MAX_DIGITS
from shopops.core.permissions import ScopedQuerySet

MONEY: dict[str, Any] = {"max_digits": MONEY_MAX_DIGITS, "decimal_places": MONEY_DECIMAL_PLACES}


def price_in_range(
    name: str, field: str, *, nullable: bool = False, lower: bool = True
) -> models.CheckConstraint:
    """A price column holds 0 ≤ price < 10¹², what DecimalField(14, 2) holds: PostgreSQL's numeric
    enforces the upper bound by itself, SQLite stores any number (and the pages reading it then fail).
    `lower=False` where an older constraint already keeps the price ≥ 0."""
    in_range = Q(**{f"{field}__lt": MONEY_LIMIT})
    if lower:
        in_range &= Q(**{f"{field}__gte": 0})
    condition = Q(**{f"{field}__isnull": True}) | in_range if nullable else in_range
    return models.CheckConstraint(condition=condition, name=name)


class Category(models.Model):
    """A node of the multi-level category tree (类目), e.g. 女装 › 连衣裙."""

    parent = models.ForeignKey(
        "self",
        verbose_name=_("上级类目"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    name = models.CharField(_("类目名称"), max_length=60)
    code = models.CharField(
        _("类目编码"), max_length=20, unique=True, help_text=_("用于商家编码规则的 {category}")
    )
    path = models.CharField(_("完整路径"), max_length=500, editable=False, default="", db_index=True)
    depth = models.PositiveSmallIntegerField(_("层级"), default=0, editable=False)
    sort_order = models.IntegerField(_("排序"), default=0)

    class Meta:
        verbose_name = _("类目")
        verbose_name_plural = _("类目")
        ordering = ["path"]
        constraints = [
            models.UniqueConstraint(
                fields=["parent", "name"], name="catalog_category_unique_name_per_parent"
            ),
        ]

    def __str__(self) -> str:
        return self.path or self.name


class Brand(models.Model):
    """A brand (品牌) products are sold under."""

    name = models.CharField(_("品牌名称"), max_length=60, unique=True)
    code = models.CharField(
        _("品牌编码"), max_length=20, unique=True, help_text=_("用于商家编码规则的 {brand}")
    )
    is_active = models.BooleanField(_("启用"), default=True)

    class Meta:
        verbose_name = _("品牌")
        verbose_name_plural = _("品牌")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ProductStatus(models.TextChoices):
    ACTIVE = "active", _("在售")
    ARCHIVED = "archived", _("已归档")


class Product(models.Model):
    """A product (SPU, 商品): what a customer sees as one listing; sold as one or more SKUs."""

    name = models.CharField(_("商品名称"), max_length=200, db_index=True)
    merchant_code = models.CharField(_("商家编码"), max_length=64, unique=True)
    category = models.ForeignKey(
        Category, verbose_name=_("类目"), on_delete=models.PROTECT, related_name="products"
    )
    brand = models.ForeignKey(
        Brand,
        verbose_name=_("品牌"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="products",
    )
    description = models.TextField(_("描述"), blank=True)
    status = models.CharField(
        _("状态"), max_length=20, choices=ProductStatus.choices, default=ProductStatus.ACTIVE
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("商品")
        verbose_name_plural = _("商品")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.merchant_code} {self.name}"


class ProductImage(models.Model):
    """A picture of a product, kept in Django storage (local files by default)."""

    product = models.ForeignKey(
        Product, verbose_name=_("商品"), on_delete=models.CASCADE, related_name="images"
    )
    image = models.ImageField(_("图片"), upload_to="products/%Y/%m/")
    alt_text = models.CharField(_("说明"), max_length=200, blank=True)
    sort_order = models.IntegerField(_("排序"), default=0)

    class Meta:
        verbose_name = _("商品图片")
        verbose_name_plural = _("商品图片")
        ordering = ["product", "sort_order", "id"]

    def __str__(self) -> str:
        return self.image.name


class Sku(models.Model):
    """A sellable variant (SKU) of a product, told apart by attributes such as 颜色/尺码."""

    product = models.ForeignKey(
        Product, verbose_name=_("商品"), on_delete=models.CASCADE, related_name="skus"
    )
    merchant_code = models.CharField(_("商家编码"), max_length=64, unique=True)
    barcode = models.CharField(_("条码"), max_length=64, null=True, blank=True, unique=True)
    attributes = models.JSONField(
        _("规格属性"), default=dict, blank=True, help_text=_('例如 {"颜色": "黑色", "尺码": "M"}')
    )
    spec = models.CharField(_("规格"), max_length=200, blank=True, help_text=_("如 颜色:黑色;尺码:M"))
    weight_grams = models.PositiveIntegerField(_("重量(克)"), null=True, blank=True)
    cost_price = models.DecimalField(_("成本价"), **MONEY, validators=[MinValueValidator(Decimal(0))])
    sale_price = models.DecimalField(_("售价"), **MONEY, validators=[MinValueValidator(Decimal(0))])
    list_price = models.DecimalField(
        _("划线价"), **MONEY, null=True, blank=True, validators=[MinValueValidator(Decimal(0))]
    )
    min_price = models.DecimalField(
        _("最低售价"), **MONEY, null=True, blank=True, help_text=_("价格保护：低于此价时警告或阻止")
    )
    is_active = models.BooleanField(_("启用"), default=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("SKU")
        verbose_name_plural = _("SKU")
        ordering = ["product_id", "merchant_code"]
        permissions = [("change_price", _("可调整价格")), ("view_cost", _("可查看成本价与毛利"))]
        constraints = [
            models.CheckConstraint(
                condition=Q(cost_price__gte=0), name="catalog_sku_cost_price_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(sale_price__gte=0), name="catalog_sku_sale_price_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(list_price__isnull=True) | Q(list_price__gte=0),
                name="catalog_sku_list_price_not_negative",
            ),
            price_in_range("catalog_sku_cost_price_in_range", "cost_price", lower=False),
            price_in_range("catalog_sku_sale_price_in_range", "sale_price", lower=False),
            price_in_range("catalog_sku_list_price_in_range", "list_price", nullable=True, lower=False),
            price_in_range("catalog_sku_min_price_in_range", "min_price", nullable=True),
        ]

    def __str__(self) -> str:
        return f"{self.merchant_code} {self.spec}".strip()


class CodingRule(models.Model):
    """How new merchant codes are made, e.g. `{category}{brand}-{seq:05d}`; the active rule is used."""

    name = models.CharField(_("名称"), max_length=60, unique=True)
    pattern = models.CharField(
        _("编码规则"),
        max_length=100,
        help_text=_("可用占位符：{category} 类目编码、{brand} 品牌编码、{seq:05d} 流水号、{yyyy} {mm}"),
    )
    is_active = models.BooleanField(_("使用中"), default=False)

    class Meta:
        verbose_name = _("商家编码规则")
        verbose_name_plural = _("商家编码规则")
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=Q(is_active=True), name="catalog_one_active_coding_rule"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name}: {self.pattern}"


class CodeSequence(models.Model):
    """The next sequence number per rendered code prefix, incremented atomically."""

    key = models.CharField(max_length=100, unique=True)
    last_value = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("编码流水号")
        verbose_name_plural = _("编码流水号")

    def __str__(self) -> str:
        return f"{self.key}={self.last_value}"


class ListingStatus(models.TextChoices):
    DRAFT = "draft", _("草稿")
    LISTED = "listed", _("已上架")
    DELISTED = "delisted", _("已下架")


LISTING_TRANSITIONS: dict[str, set[str]] = {
    ListingStatus.DRAFT: {ListingStatus.LISTED},
    ListingStatus.LISTED: {ListingStatus.DELISTED},
    ListingStatus.DELISTED: {ListingStatus.LISTED},
}


class ChannelListingQuerySet(ScopedQuerySet["ChannelListing"]):
    pass


class ChannelListing(models.Model):
    """A product's presence on one shop: draft, listed (上架) or delisted (下架)."""

    SCOPE_SHOP_FIELD = "shop"

    product = models.ForeignKey(
        Product, verbose_name=_("商品"), on_delete=models.CASCADE, related_name="listings"
    )
    shop = models.ForeignKey(
        "channels.Shop", verbose_name=_("店铺"), on_delete=models.PROTECT, related_name="listings"
    )
    status = models.CharField(
        _("状态"), max_length=20, choices=ListingStatus.choices, default=ListingStatus.DRAFT
    )
    external_id = models.CharField(_("平台商品ID"), max_length=64, blank=True)
    changed_at = models.DateTimeField(_("变更时间"), null=True, blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("变更人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    reason = models.CharField(_("原因"), max_length=300, blank=True)

    objects = ChannelListingQuerySet.as_manager()

    class Meta:
        verbose_name = _("渠道上下架")
        verbose_name_plural = _("渠道上下架")
        ordering = ["product_id", "shop_id"]
        constraints = [
            models.UniqueConstraint(fields=["product", "shop"], name="catalog_listing_unique_product_shop")
        ]

    def __str__(self) -> str:
        return f"{self.product} @ {self.shop}: {self.get_status_display()}"


class ListingEvent(models.Model):
    """One status change of a channel listing: who, when, why."""

    listing = models.ForeignKey(
        ChannelListing, verbose_name=_("上下架"), on_delete=models.CASCADE, related_name="events"
    )
    from_status = models.CharField(_("原状态"), max_length=20, choices=ListingStatus.choices)
    to_status = models.CharField(_("新状态"), max_length=20, choices=ListingStatus.choices)
    reason = models.CharField(_("原因"), max_length=300, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("操作人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("上下架记录")
        verbose_name_plural = _("上下架记录")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.from_status} → {self.to_status}"


class PriceField(models.TextChoices):
    SALE = "sale_price", _("售价")
    COST = "cost_price", _("成本价")
    LIST = "list_price", _("划线价")


class PriceSource(models.TextChoices):
    """Where a price change came from (shown by name in the price history, kept as a code in the API)."""

    MANUAL = "manual", _("手工修改")
    BULK = "bulk", _("批量改价")
    IMPORT = "import", _("文件导入")
    SCHEDULE = "schedule", _("定时改价生效")
    SCHEDULE_END = "schedule_end", _("定时改价到期恢复")
    SCHEDULE_CANCELLED = "schedule_cancelled", _("定时改价取消恢复")
    PURCHASE = "purchase", _("采购入库（移动加权成本）")
    DEMO = "demo", _("演示数据")


class PriceHistory(models.Model):
    """One change of one price of one SKU, with reason and author. Append-only."""

    sku = models.ForeignKey(
        Sku, verbose_name=_("SKU"), on_delete=models.CASCADE, related_name="price_history"
    )
    field = models.CharField(_("价格类型"), max_length=20, choices=PriceField.choices)
    old_value = models.DecimalField(_("原价"), **MONEY, null=True, blank=True)
    new_value = models.DecimalField(_("新价"), **MONEY, null=True, blank=True)
    reason = models.CharField(_("原因"), max_length=300, blank=True)
    source = models.CharField(
        _("来源"), max_length=30, choices=PriceSource.choices, default=PriceSource.MANUAL
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("操作人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("时间"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("价格历史")
        verbose_name_plural = _("价格历史")
        ordering = ["-created_at", "-id"]
        constraints = [
            price_in_range("catalog_price_history_old_value_in_range", "old_value", nullable=True),
            price_in_range("catalog_price_history_new_value_in_range", "new_value", nullable=True),
        ]

    def __str__(self) -> str:
        return f"{self.sku_id} {self.field}: {self.old_value} → {self.new_value}"


class ScheduledPriceStatus(models.TextChoices):
    PENDING = "pending", _("待生效")
    ACTIVE = "active", _("生效中")
    FINISHED = "finished", _("已结束")
    CANCELLED = "cancelled", _("已取消")


class ScheduledPriceChange(models.Model):
    """A sale price that starts at a time and (optionally) reverts at an end time; applied by a job."""

    sku = models.ForeignKey(
        Sku, verbose_name=_("SKU"), on_delete=models.CASCADE, related_name="scheduled_prices"
    )
    new_price = models.DecimalField(_("新售价"), **MONEY, validators=[MinValueValidator(Decimal(0))])
    starts_at = models.DateTimeField(_("开始时间"))
    ends_at = models.DateTimeField(_("结束时间"), null=True, blank=True)
    previous_price = models.DecimalField(_("生效前售价"), **MONEY, null=True, blank=True, editable=False)
    status = models.CharField(
        _("状态"), max_length=20, choices=ScheduledPriceStatus.choices, default=ScheduledPriceStatus.PENDING
    )
    reason = models.CharField(_("原因"), max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("创建人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("定时调价")
        verbose_name_plural = _("定时调价")
        ordering = ["starts_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__isnull=True) | Q(ends_at__gt=models.F("starts_at")),
                name="catalog_scheduled_price_ends_after_start",
            ),
            price_in_range("catalog_scheduled_price_new_price_in_range", "new_price"),
            price_in_range(
                "catalog_scheduled_price_previous_price_in_range", "previous_price", nullable=True
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku_id} → {self.new_price} @ {self.starts_at:%Y-%m-%d %H:%M}"


class PromoPriceQuerySet(ScopedQuerySet["PromoPrice"]):
    pass


class PromoPrice(models.Model):
    """A promotional price of a SKU on one shop within a time window (活动价)."""

    SCOPE_SHOP_FIELD = "shop"

    sku = models.ForeignKey(Sku, verbose_name=_("SKU"), on_delete=models.CASCADE, related_name="promo_prices")
    shop = models.ForeignKey(
        "channels.Shop", verbose_name=_("店铺"), on_delete=models.PROTECT, related_name="promo_prices"
    )
    name = models.CharField(_("活动名称"), max_length=100)
    price = models.DecimalField(_("活动价"), **MONEY, validators=[MinValueValidator(Decimal(0))])
    starts_at = models.DateTimeField(_("开始时间"))
    ends_at = models.DateTimeField(_("结束时间"))
    is_active = models.BooleanField(_("启用"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("创建人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    objects = PromoPriceQuerySet.as_manager()

    class Meta:
        verbose_name = _("活动价")
        verbose_name_plural = _("活动价")
        ordering = ["-starts_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="catalog_promo_ends_after_start"
            ),
            models.CheckConstraint(condition=Q(price__gte=0), name="catalog_promo_price_not_negative"),
            price_in_range("catalog_promo_price_in_range", "price", lower=False),
        ]

    def __str__(self) -> str:
        return f"{self.name}: {self.sku_id} {self.price}"


class GuardMode(models.TextChoices):
    WARN = "warn", _("警告")
    BLOCK = "block", _("阻止")


class PricingPolicy(models.Model):
    """The price guard: below cost or below the minimum margin, a price change warns or is blocked.

    One row per category (or the default row with no category); the most specific one applies.
    """

    category = models.OneToOneField(
        Category,
        verbose_name=_("类目"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="pricing_policy",
    )
    min_margin_percent = models.DecimalField(
        _("最低毛利率(%)"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        help_text=_("(售价-成本)/售价 低于此值触发价格保护"),
    )
    mode = models.CharField(_("处理方式"), max_length=10, choices=GuardMode.choices, default=GuardMode.WARN)
    block_below_cost = models.BooleanField(_("低于成本时阻止"), default=True)

    class Meta:
        verbose_name = _("价格保护策略")
        verbose_name_plural = _("价格保护策略")
        constraints = [
            models.UniqueConstraint(
                fields=["category"], condition=Q(category__isnull=True), name="catalog_one_default_policy"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.category or '默认'}: ≥{self.min_margin_percent}% ({self.get_mode_display()})"
