"""Orders: one order per shop and external id, its lines, its timeline, review issues and saved filters.

The normalized status follows ORDER_TRANSITIONS (data, enforced by `orders.services`); the refund status
is kept apart (none / partial / full), and the raw platform status string sits beside both.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from shopops.core.crypto import EncryptedCharField
from shopops.core.permissions import ScopedQuerySet
from shopops.core.pii import PIIKind, mask

MONEY: dict[str, Any] = {"max_digits": 14, "decimal_places": 2}
ZERO = Decimal("0.00")


class OrderStatus(models.TextChoices):
    PENDING_PAYMENT = "pending_payment", _("待付款")
    PAID = "paid", _("待发货")
    PARTIALLY_SHIPPED = "partially_shipped", _("部分发货")
    SHIPPED = "shipped", _("已发货")
    DELIVERED = "delivered", _("已签收")
    COMPLETED = "completed", _("交易成功")
    CANCELLED = "cancelled", _("已取消")
    CLOSED = "closed", _("交易关闭")


# Allowed moves of the normalized status. A platform file may skip steps (an order first seen as
# completed); `orders.services` treats an import as evidence and follows IMPORT_REACHABLE instead.
ORDER_TRANSITIONS: dict[str, frozenset[str]] = {
    OrderStatus.PENDING_PAYMENT: frozenset({OrderStatus.PAID, OrderStatus.CANCELLED}),
    OrderStatus.PAID: frozenset({OrderStatus.PARTIALLY_SHIPPED, OrderStatus.SHIPPED, OrderStatus.CLOSED}),
    OrderStatus.PARTIALLY_SHIPPED: frozenset({OrderStatus.SHIPPED, OrderStatus.CLOSED}),
    OrderStatus.SHIPPED: frozenset({OrderStatus.DELIVERED, OrderStatus.COMPLETED, OrderStatus.CLOSED}),
    OrderStatus.DELIVERED: frozenset({OrderStatus.COMPLETED, OrderStatus.CLOSED}),
    OrderStatus.COMPLETED: frozenset({OrderStatus.CLOSED}),
    OrderStatus.CANCELLED: frozenset(),
    OrderStatus.CLOSED: frozenset(),
}

OPEN_STATUSES = frozenset({OrderStatus.PENDING_PAYMENT, OrderStatus.PAID, OrderStatus.PARTIALLY_SHIPPED})
FINAL_STATUSES = frozenset({OrderStatus.CANCELLED, OrderStatus.CLOSED})


class RefundStatus(models.TextChoices):
    NONE = "none", _("无退款")
    PARTIAL = "partial", _("部分退款")
    FULL = "full", _("全额退款")


class OrderType(models.TextChoices):
    NORMAL = "normal", _("普通订单")
    FLASH_SALE = "flash_sale", _("秒杀订单")
    PRESALE = "presale", _("预售订单")


class OrderSource(models.TextChoices):
    IMPORT = "import", _("平台导出文件")
    API = "api", _("接口")
    MANUAL = "manual", _("手工录入")
    DEMO = "demo", _("演示数据")


class ReviewStatus(models.TextChoices):
    PENDING = "pending", _("待审核")
    PASSED = "passed", _("审核通过")
    EXCEPTION = "exception", _("异常待处理")
    INVALID = "invalid", _("无效订单")


class StockState(models.TextChoices):
    UNTRACKED = "untracked", _("不联动库存")  # history from before stock tracking started for the shop
    NONE = "none", _("未预占")
    RESERVED = "reserved", _("已预占")
    PARTIAL = "partial", _("部分出库")
    DEDUCTED = "deducted", _("已出库")
    RELEASED = "released", _("已释放")
    SHORT = "short", _("缺货")


class OrderQuerySet(ScopedQuerySet["Order"]):
    def valid(self) -> OrderQuerySet:
        """The one definition of a valid order (订单有效): paid, not cancelled, not judged invalid
        (test, duplicate, fake). Analytics counts these."""
        return self.filter(is_valid=True)


class Order(models.Model):
    """A customer's order (订单) from one shop, identified by the platform's order number (external id)."""

    SCOPE_SHOP_FIELD = "shop"
    # buyer_id: a platform account name points at a person (an e-mail or phone id is stored hashed)
    PII_FIELDS = {
        "buyer_id": PIIKind.NAME,
        "buyer_nick": PIIKind.NAME,
        "receiver_name": PIIKind.NAME,
        "receiver_phone": PIIKind.PHONE,
        "receiver_address": PIIKind.ADDRESS,
        "buyer_email": PIIKind.EMAIL,
    }

    shop = models.ForeignKey(
        "channels.Shop", verbose_name=_("店铺"), on_delete=models.PROTECT, related_name="orders"
    )
    external_id = models.CharField(_("平台订单号"), max_length=64)
    order_type = models.CharField(
        _("订单类型"), max_length=20, choices=OrderType.choices, default=OrderType.NORMAL
    )
    source = models.CharField(
        _("来源"), max_length=10, choices=OrderSource.choices, default=OrderSource.IMPORT
    )
    is_test = models.BooleanField(_("测试订单"), default=False)

    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("客户"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="orders",
    )
    buyer_id = models.CharField(_("平台买家ID"), max_length=100, blank=True, db_index=True)
    buyer_nick = EncryptedCharField(
        _("买家昵称"),
        max_length=100,
        blank=True,
        derived={"buyer_nick_hash": "shopops.customers.services.nick_hash"},
    )
    buyer_nick_hash = models.CharField(
        _("买家昵称摘要"), max_length=64, blank=True, db_index=True, help_text=_("按买家昵称精确查找用")
    )
    buyer_email = EncryptedCharField(_("买家邮箱"), max_length=200, blank=True)

    receiver_name = EncryptedCharField(_("收货人"), max_length=100, blank=True)
    receiver_phone = EncryptedCharField(_("收货人电话"), max_length=40, blank=True)
    receiver_phone_hash = models.CharField(_("电话摘要"), max_length=64, blank=True, db_index=True)
    receiver_phone_last4 = models.CharField(_("电话后四位"), max_length=4, blank=True, db_index=True)
    receiver_province = models.CharField(_("省"), max_length=30, blank=True)
    receiver_city = models.CharField(_("市"), max_length=30, blank=True)
    receiver_district = models.CharField(_("区县"), max_length=30, blank=True)
    receiver_address = EncryptedCharField(_("收货地址"), max_length=300, blank=True, help_text=_("详细地址"))
    receiver_postcode = models.CharField(_("邮编"), max_length=10, blank=True)
    receiver_country = models.CharField(_("国家/地区"), max_length=40, blank=True)
    receiver_hash = models.CharField(
        _("收货人摘要"),
        max_length=64,
        blank=True,
        db_index=True,
        help_text=_("同一收货人（姓名+电话+地址）合并发货用"),
    )

    currency = models.CharField(_("币种"), max_length=3, default="CNY")
    goods_amount = models.DecimalField(_("商品总额"), **MONEY, default=ZERO)
    shipping_fee = models.DecimalField(_("运费"), **MONEY, default=ZERO)
    shop_discount = models.DecimalField(_("店铺优惠"), **MONEY, default=ZERO)
    platform_discount = models.DecimalField(_("平台优惠"), **MONEY, default=ZERO)
    paid_amount = models.DecimalField(_("实付金额"), **MONEY, default=ZERO)
    merchant_received = models.DecimalField(_("商家实收"), **MONEY, default=ZERO)
    refunded_amount = models.DecimalField(_("已退款金额"), **MONEY, default=ZERO)

    status = models.CharField(
        _("订单状态"), max_length=20, choices=OrderStatus.choices, default=OrderStatus.PENDING_PAYMENT
    )
    platform_status = models.CharField(_("平台原始状态"), max_length=60, blank=True)
    refund_status = models.CharField(
        _("退款状态"), max_length=10, choices=RefundStatus.choices, default=RefundStatus.NONE
    )
    review_status = models.CharField(
        _("审单状态"), max_length=10, choices=ReviewStatus.choices, default=ReviewStatus.PENDING
    )
    is_valid = models.BooleanField(
        _("有效订单"), default=False, db_index=True, help_text=_("已付款、未取消、非测试/重复/刷单")
    )
    stock_state = models.CharField(
        _("库存状态"), max_length=10, choices=StockState.choices, default=StockState.NONE
    )
    warehouse = models.ForeignKey(
        "inventory.Warehouse",
        verbose_name=_("发货仓"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="orders",
    )

    placed_at = models.DateTimeField(_("下单时间"), db_index=True)
    paid_at = models.DateTimeField(_("付款时间"), null=True, blank=True, db_index=True)
    shipped_at = models.DateTimeField(_("发货时间"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("签收时间"), null=True, blank=True)
    completed_at = models.DateTimeField(_("完成时间"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("取消/关闭时间"), null=True, blank=True)
    close_reason = models.CharField(_("关闭原因"), max_length=200, blank=True)
    pay_deadline = models.DateTimeField(
        _("付款截止"), null=True, blank=True, db_index=True, help_text=_("超时未付款自动关闭")
    )

    carrier_name = models.CharField(
        _("平台物流公司"), max_length=40, blank=True, help_text=_("平台导出文件中的物流公司")
    )
    tracking_number = models.CharField(_("平台运单号"), max_length=40, blank=True, db_index=True)

    buyer_message = models.CharField(_("买家留言"), max_length=500, blank=True)
    seller_memo = models.CharField(_("卖家备注"), max_length=500, blank=True)
    flag = models.PositiveSmallIntegerField(_("旗帜"), default=0, help_text=_("0 无，1–5 颜色等级"))
    tags = models.JSONField(_("标签"), default=list, blank=True)

    import_sha256 = models.CharField(_("最近导入文件"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    objects = OrderQuerySet.as_manager()

    class Meta:
        verbose_name = _("订单")
        verbose_name_plural = _("订单")
        ordering = ["-placed_at", "-id"]
        permissions = [
            ("review_order", _("审单")),
            ("export_order", _("导出订单")),
        ]
        constraints = [
            models.UniqueConstraint(fields=["shop", "external_id"], name="orders_order_shop_external_uniq"),
            models.CheckConstraint(condition=Q(flag__lte=5), name="orders_order_flag_range"),
            models.CheckConstraint(condition=Q(paid_amount__gte=0), name="orders_order_paid_not_negative"),
            models.CheckConstraint(
                condition=Q(refunded_amount__gte=0) & Q(refunded_amount__lte=F("paid_amount")),
                name="orders_order_refund_within_paid",
            ),
        ]
        indexes = [
            models.Index(fields=["shop", "status", "placed_at"], name="orders_shop_status_placed_idx"),
            models.Index(fields=["review_status", "placed_at"], name="orders_review_placed_idx"),
            models.Index(fields=["status", "paid_at"], name="orders_status_paid_idx"),
        ]

    def __str__(self) -> str:
        return self.external_id


class OrderLine(models.Model):
    """One line of an order (子订单): a SKU, its quantity, price and share of the order's discounts."""

    order = models.ForeignKey(Order, verbose_name=_("订单"), on_delete=models.CASCADE, related_name="lines")
    line_no = models.PositiveIntegerField(_("行号"))
    external_line_id = models.CharField(_("平台子订单号"), max_length=64, blank=True)
    sku = models.ForeignKey(
        "catalog.Sku",
        verbose_name=_("SKU"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="order_lines",
    )
    merchant_code = models.CharField(_("商家编码"), max_length=64, blank=True, db_index=True)
    title = models.CharField(_("商品标题"), max_length=200, blank=True)
    spec = models.CharField(_("规格"), max_length=200, blank=True)
    quantity = models.PositiveIntegerField(_("数量"))
    unit_price = models.DecimalField(_("单价"), **MONEY, default=ZERO)
    discount = models.DecimalField(_("优惠分摊"), **MONEY, default=ZERO)
    amount = models.DecimalField(_("应付金额"), **MONEY, default=ZERO, help_text=_("单价×数量−优惠分摊"))
    shipped_quantity = models.PositiveIntegerField(_("已发数量"), default=0)
    refunded_quantity = models.PositiveIntegerField(_("已退数量"), default=0)
    refunded_amount = models.DecimalField(_("已退金额"), **MONEY, default=ZERO)
    platform_status = models.CharField(_("平台原始状态"), max_length=60, blank=True)
    is_gift = models.BooleanField(_("赠品"), default=False)

    class Meta:
        verbose_name = _("订单明细")
        verbose_name_plural = _("订单明细")
        ordering = ["order", "line_no"]
        constraints = [
            models.UniqueConstraint(fields=["order", "line_no"], name="orders_line_order_no_uniq"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="orders_line_quantity_positive"),
            models.CheckConstraint(
                condition=Q(shipped_quantity__lte=F("quantity")), name="orders_line_shipped_within_quantity"
            ),
            models.CheckConstraint(
                condition=Q(refunded_quantity__lte=F("quantity")), name="orders_line_refunded_within_quantity"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.order_id}#{self.line_no}"


class OrderEventKind(models.TextChoices):
    CREATED = "created", _("创建")
    IMPORTED = "imported", _("导入更新")
    STATUS = "status", _("状态变更")
    REVIEWED = "reviewed", _("审单")
    ISSUE = "issue", _("异常")
    MEMO = "memo", _("备注/旗帜")
    STOCK = "stock", _("库存")
    SHIPMENT = "shipment", _("发货")
    REFUND = "refund", _("退款")
    MERGED = "merged", _("合并发货")
    SPLIT = "split", _("拆分发货")
    AFTERSALE = "aftersale", _("售后")


class OrderEvent(models.Model):
    """One entry of an order's timeline: what happened, who did it, when, why and from where. Append-only."""

    order = models.ForeignKey(Order, verbose_name=_("订单"), on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(_("类型"), max_length=12, choices=OrderEventKind.choices)
    from_status = models.CharField(_("原状态"), max_length=20, blank=True)
    to_status = models.CharField(_("新状态"), max_length=20, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("操作人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    via = models.CharField(_("来源"), max_length=20, blank=True, help_text=_("admin / api / import / system"))
    message = models.CharField(_("说明"), max_length=500, blank=True)
    changes = models.JSONField(_("变更"), default=dict, blank=True)
    created_at = models.DateTimeField(_("时间"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("订单动态")
        verbose_name_plural = _("订单动态")
        ordering = ["order", "created_at", "id"]

    def __str__(self) -> str:
        return f"{self.order_id} {self.kind}"


class IssueStatus(models.TextChoices):
    OPEN = "open", _("待处理")
    RESOLVED = "resolved", _("已处理")
    IGNORED = "ignored", _("已忽略")


class OrderIssue(models.Model):
    """A review finding (审单异常) on an order: which rule, what it saw, and how an operator settled it."""

    order = models.ForeignKey(Order, verbose_name=_("订单"), on_delete=models.CASCADE, related_name="issues")
    rule = models.CharField(_("规则"), max_length=40, db_index=True)
    message = models.CharField(_("说明"), max_length=300)
    marks_invalid = models.BooleanField(_("判为无效"), default=False)
    status = models.CharField(
        _("状态"), max_length=10, choices=IssueStatus.choices, default=IssueStatus.OPEN, db_index=True
    )
    created_at = models.DateTimeField(_("发现时间"), auto_now_add=True)
    resolved_at = models.DateTimeField(_("处理时间"), null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("处理人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    resolution = models.CharField(_("处理说明"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("审单异常")
        verbose_name_plural = _("审单异常")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "rule"],
                condition=Q(status="open"),
                name="orders_issue_one_open_per_rule",
            )
        ]

    def __str__(self) -> str:
        return f"{self.order_id} {self.rule}"


MASKED_PHONE_MARKS = ("*", "x", "X")
PHONE_HASH_SHOWN = "（完整号码，仅存摘要）"


def masked_search_params(params: Any) -> dict[str, Any]:
    """Saved search parameters with their personal values masked: `q` (it may be a buyer's nick, id or
    e-mail) and a partial `phone`; a full phone is stored only as `phone_hash`, never shown."""
    shown = dict(params) if isinstance(params, dict) else {}
    text = shown.get("q")
    if isinstance(text, str) and text:
        shown["q"] = mask(PIIKind.EMAIL if "@" in text else PIIKind.NAME, text)
    phone = shown.get("phone")
    if isinstance(phone, str) and phone and not any(mark in phone for mark in MASKED_PHONE_MARKS):
        shown["phone"] = mask(PIIKind.PHONE, phone)
    if shown.get("phone_hash"):
        shown["phone_hash"] = PHONE_HASH_SHOWN
    return shown


class SavedFilter(models.Model):
    """A named order search an operator keeps (常用筛选), private or shared with the team.

    `params` are OrderSearch parameters; a full phone number is kept only as its keyed hash (`phone_hash`),
    so a shared filter still finds the orders without showing the number. The other personal values are
    masked for everyone but the owner (and core.view_pii), and always in the audit."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("创建人"), on_delete=models.CASCADE, related_name="+"
    )
    name = models.CharField(_("名称"), max_length=60)
    params = models.JSONField(_("筛选条件"), default=dict)
    is_shared = models.BooleanField(_("团队共享"), default=False)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("常用筛选")
        verbose_name_plural = _("常用筛选")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="orders_savedfilter_owner_name_uniq")
        ]

    def __str__(self) -> str:
        return self.name

    def audit_values(self, data: dict[str, Any]) -> dict[str, Any]:
        """What the audit keeps: every auditor reads it, so the search's personal values are masked."""
        return {**data, "params": masked_search_params(data.get("params"))} if "params" in data else data


class SkuMappingQuerySet(ScopedQuerySet["SkuMapping"]):
    pass


class SkuMapping(models.Model):
    """An operator's choice of SKU for a platform line nobody could match (商品对应关系), per shop.

    The key is the line's 商家编码 when it has one, else its title and spec: a Taobao listing whose outer id
    differs from our SKU codes (or has none) is mapped once, and every later import of that shop uses it.
    """

    SCOPE_SHOP_FIELD = "shop"

    shop = models.ForeignKey(
        "channels.Shop", verbose_name=_("店铺"), on_delete=models.CASCADE, related_name="sku_mappings"
    )
    merchant_code = models.CharField(_("平台商家编码"), max_length=64, blank=True)
    title = models.CharField(_("平台商品标题"), max_length=200, blank=True)
    spec = models.CharField(_("平台规格"), max_length=200, blank=True)
    sku = models.ForeignKey(
        "catalog.Sku", verbose_name=_("对应SKU"), on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("对应人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("对应时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    objects = SkuMappingQuerySet.as_manager()

    class Meta:
        verbose_name = _("商品对应")
        verbose_name_plural = _("商品对应")
        ordering = ["shop_id", "merchant_code", "title", "spec"]
        constraints = [
            models.UniqueConstraint(
                fields=["shop", "merchant_code", "title", "spec"], name="orders_skumapping_shop_key_uniq"
            ),
            # a coded line is keyed by its code alone, so title and spec stay blank
            models.CheckConstraint(
                condition=Q(merchant_code="") | (Q(title="") & Q(spec="")),
                name="orders_skumapping_code_or_title",
            ),
            models.CheckConstraint(
                condition=~(Q(merchant_code="") & Q(title="") & Q(spec="")),
                name="orders_skumapping_key_not_blank",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.merchant_code or self.title} → {self.sku_id}"
