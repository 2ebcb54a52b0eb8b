"""Purchasing: suppliers, their price agreements, purchase orders with lines, timeline and receipts."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from shopops.core.pii import PIIKind
from shopops.inventory.models import warehouse_ids_for

MONEY: dict[str, Any] = {"max_digits": 14, "decimal_places": 2}


class PaymentTerms(models.TextChoices):
    PREPAID = "prepaid", _("预付款")
    ON_DELIVERY = "on_delivery", _("货到付款")
    NET_30 = "net_30", _("月结30天")
    NET_60 = "net_60", _("月结60天")


class Supplier(models.Model):
    """A company we buy goods from (供应商), with its contact person and ordering terms."""

    PII_FIELDS = {
        "contact_name": PIIKind.NAME,
        "contact_phone": PIIKind.PHONE,
        "contact_email": PIIKind.EMAIL,
    }

    code = models.CharField(_("供应商编码"), max_length=20, unique=True)
    name = models.CharField(_("供应商名称"), max_length=100, unique=True)
    contact_name = models.CharField(_("联系人"), max_length=50, blank=True)
    contact_phone = models.CharField(_("联系电话"), max_length=30, blank=True)
    contact_email = models.CharField(_("联系邮箱"), max_length=100, blank=True)
    lead_time_days = models.PositiveIntegerField(_("采购周期(天)"), default=7)
    minimum_order_amount = models.DecimalField(_("最低起订金额"), **MONEY, default=Decimal("0.00"))
    minimum_order_quantity = models.PositiveIntegerField(_("最低起订数量"), default=0)
    payment_terms = models.CharField(
        _("结算方式"), max_length=20, choices=PaymentTerms.choices, default=PaymentTerms.NET_30
    )
    is_active = models.BooleanField(_("启用"), default=True)
    note = models.CharField(_("备注"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("供应商")
        verbose_name_plural = _("供应商")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(minimum_order_amount__gte=0),
                name="purchasing_supplier_minimum_amount_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class SupplierPrice(models.Model):
    """A price agreement (采购协议价): what one supplier charges for one SKU from a minimum quantity,
    valid from one business day (Asia/Shanghai) until another (open-ended when empty)."""

    supplier = models.ForeignKey(
        Supplier, verbose_name=_("供应商"), on_delete=models.CASCADE, related_name="prices"
    )
    sku = models.ForeignKey(
        "catalog.Sku", verbose_name=_("SKU"), on_delete=models.PROTECT, related_name="supplier_prices"
    )
    price = models.DecimalField(_("采购价"), **MONEY)
    min_quantity = models.PositiveIntegerField(_("起订量"), default=1)
    valid_from = models.DateField(_("生效日期"))
    valid_to = models.DateField(_("失效日期"), null=True, blank=True, help_text=_("含当天；为空表示长期有效"))
    supplier_sku_code = models.CharField(_("供应商货号"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("供应商报价")
        verbose_name_plural = _("供应商报价")
        ordering = ["sku_id", "price", "supplier_id", "valid_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["supplier", "sku", "valid_from"], name="purchasing_price_unique_supplier_sku_from"
            ),
            models.CheckConstraint(condition=Q(price__gte=0), name="purchasing_price_not_negative"),
            models.CheckConstraint(
                condition=Q(min_quantity__gte=1), name="purchasing_price_min_quantity_positive"
            ),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gte=F("valid_from")),
                name="purchasing_price_valid_to_after_from",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.supplier_id}/{self.sku_id} ¥{self.price}"


class PurchaseOrderStatus(models.TextChoices):
    DRAFT = "draft", _("草稿")
    APPROVED = "approved", _("已审核")
    PARTIALLY_RECEIVED = "partially_received", _("部分收货")
    RECEIVED = "received", _("已收货")
    CLOSED = "closed", _("已关闭")
    CANCELLED = "cancelled", _("已取消")


# The only status changes a purchase order may make; `services` refuses every other one.
# Receiving moves approved/partially received orders on (a second partial receipt stays partial);
# a partly received order is not cancelled but closed (short-closed: the rest is no longer expected).
PURCHASE_ORDER_TRANSITIONS: dict[str, set[str]] = {
    PurchaseOrderStatus.DRAFT: {PurchaseOrderStatus.APPROVED, PurchaseOrderStatus.CANCELLED},
    PurchaseOrderStatus.APPROVED: {
        PurchaseOrderStatus.PARTIALLY_RECEIVED,
        PurchaseOrderStatus.RECEIVED,
        PurchaseOrderStatus.CANCELLED,
    },
    PurchaseOrderStatus.PARTIALLY_RECEIVED: {
        PurchaseOrderStatus.PARTIALLY_RECEIVED,
        PurchaseOrderStatus.RECEIVED,
        PurchaseOrderStatus.CLOSED,
    },
    PurchaseOrderStatus.RECEIVED: {PurchaseOrderStatus.CLOSED},
    PurchaseOrderStatus.CLOSED: set(),
    PurchaseOrderStatus.CANCELLED: set(),
}
# Orders whose not yet accepted units are still expected (open purchase quantity, in transit).
OPEN_STATUSES = (
    PurchaseOrderStatus.DRAFT,
    PurchaseOrderStatus.APPROVED,
    PurchaseOrderStatus.PARTIALLY_RECEIVED,
)
RECEIVABLE_STATUSES = (PurchaseOrderStatus.APPROVED, PurchaseOrderStatus.PARTIALLY_RECEIVED)


class WarehouseScopedQuerySet(models.QuerySet[Any]):
    """Rows tied to a warehouse through `WAREHOUSE_FIELD`; outside the user's warehouses they do not exist."""

    def for_user(self, user: Any) -> WarehouseScopedQuerySet:
        allowed = warehouse_ids_for(user)
        if allowed is None:
            return self
        return self.filter(**{f"{self.model.WAREHOUSE_FIELD}__in": allowed})


class PurchaseOrder(models.Model):
    """An order to one supplier for goods delivered to one warehouse (采购单)."""

    WAREHOUSE_FIELD = "warehouse_id"

    number = models.CharField(_("采购单号"), max_length=30, unique=True)
    supplier = models.ForeignKey(
        Supplier, verbose_name=_("供应商"), on_delete=models.PROTECT, related_name="purchase_orders"
    )
    warehouse = models.ForeignKey(
        "inventory.Warehouse", verbose_name=_("收货仓库"), on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(
        _("状态"),
        max_length=20,
        choices=PurchaseOrderStatus.choices,
        default=PurchaseOrderStatus.DRAFT,
        db_index=True,
    )
    expected_date = models.DateField(_("预计到货日期"), null=True, blank=True)
    total_amount = models.DecimalField(_("采购金额"), **MONEY, default=Decimal("0.00"))
    note = models.CharField(_("备注"), max_length=300, blank=True)
    run_key = models.CharField(
        _("补货批次"), max_length=64, blank=True, help_text=_("由补货建议生成时的批次键（幂等）")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("创建人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    objects = WarehouseScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("采购单")
        verbose_name_plural = _("采购单")
        ordering = ["-created_at", "-id"]
        permissions = [
            ("approve_purchaseorder", _("可审核、取消、关闭采购单")),
            ("receive_purchaseorder", _("可采购收货")),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["run_key", "supplier", "warehouse"],
                condition=~Q(run_key=""),
                name="purchasing_order_unique_run_per_supplier_warehouse",
            ),
            models.CheckConstraint(
                condition=Q(total_amount__gte=0), name="purchasing_order_total_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.number


class PurchaseOrderLine(models.Model):
    """One SKU on a purchase order: ordered units at a unit price, and how many arrived, accepted or not.

    A line is fulfilled by accepted units: rejected units (质检不合格) go back to the supplier and are
    still owed, so `open_quantity = quantity − accepted_quantity`.
    """

    purchase_order = models.ForeignKey(
        PurchaseOrder, verbose_name=_("采购单"), on_delete=models.CASCADE, related_name="lines"
    )
    sku = models.ForeignKey("catalog.Sku", verbose_name=_("SKU"), on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField(_("采购数量"))
    unit_price = models.DecimalField(_("采购单价"), **MONEY)
    received_quantity = models.PositiveIntegerField(_("到货数量"), default=0)
    accepted_quantity = models.PositiveIntegerField(_("合格数量"), default=0)
    rejected_quantity = models.PositiveIntegerField(_("不合格数量"), default=0)

    class Meta:
        verbose_name = _("采购明细")
        verbose_name_plural = _("采购明细")
        ordering = ["purchase_order_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["purchase_order", "sku"], name="purchasing_line_unique_sku"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="purchasing_line_quantity_positive"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="purchasing_line_price_not_negative"),
            models.CheckConstraint(
                condition=Q(received_quantity=F("accepted_quantity") + F("rejected_quantity")),
                name="purchasing_line_received_is_accepted_plus_rejected",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.purchase_order_id}: {self.sku_id}×{self.quantity}"

    @property
    def amount(self) -> Decimal:
        return self.unit_price * self.quantity

    @property
    def open_quantity(self) -> int:
        return max(self.quantity - self.accepted_quantity, 0)


class PurchaseOrderEvent(models.Model):
    """One status change of a purchase order: who moved it from what to what, when (the timeline)."""

    purchase_order = models.ForeignKey(
        PurchaseOrder, verbose_name=_("采购单"), on_delete=models.CASCADE, related_name="events"
    )
    from_status = models.CharField(
        _("原状态"), max_length=20, choices=PurchaseOrderStatus.choices, blank=True
    )
    to_status = models.CharField(_("新状态"), max_length=20, choices=PurchaseOrderStatus.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("操作人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    reason = models.CharField(_("原因"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("时间"), default=timezone.now)

    class Meta:
        verbose_name = _("采购单记录")
        verbose_name_plural = _("采购单记录")
        ordering = ["purchase_order_id", "id"]
        default_permissions = ("view",)

    def __str__(self) -> str:
        return f"{self.purchase_order_id}: {self.from_status or '∅'} → {self.to_status}"


class PurchaseReceipt(models.Model):
    """One delivery received against a purchase order (采购入库单), with its quality inspection."""

    WAREHOUSE_FIELD = "warehouse_id"

    number = models.CharField(_("入库单号"), max_length=30, unique=True)
    purchase_order = models.ForeignKey(
        PurchaseOrder, verbose_name=_("采购单"), on_delete=models.PROTECT, related_name="receipts"
    )
    warehouse = models.ForeignKey(
        "inventory.Warehouse", verbose_name=_("入库仓库"), on_delete=models.PROTECT, related_name="+"
    )
    note = models.CharField(_("备注"), max_length=300, blank=True)
    received_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("收货人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    received_at = models.DateTimeField(_("收货时间"), default=timezone.now)

    objects = WarehouseScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("采购入库单")
        verbose_name_plural = _("采购入库单")
        ordering = ["-received_at", "-id"]
        default_permissions = ("view",)

    def __str__(self) -> str:
        return self.number


class PurchaseReceiptLine(models.Model):
    """Units of one purchase order line in one receipt: arrived, accepted (put in stock) and rejected."""

    receipt = models.ForeignKey(
        PurchaseReceipt, verbose_name=_("入库单"), on_delete=models.CASCADE, related_name="lines"
    )
    order_line = models.ForeignKey(
        PurchaseOrderLine, verbose_name=_("采购明细"), on_delete=models.PROTECT, related_name="receipt_lines"
    )
    received_quantity = models.PositiveIntegerField(_("到货数量"))
    accepted_quantity = models.PositiveIntegerField(_("合格数量"))
    rejected_quantity = models.PositiveIntegerField(_("不合格数量"))
    unit_cost = models.DecimalField(_("入库单价"), **MONEY)
    cost_before = models.DecimalField(_("入库前成本"), **MONEY)
    cost_after = models.DecimalField(_("入库后成本"), **MONEY, help_text=_("移动加权平均"))

    class Meta:
        verbose_name = _("入库明细")
        verbose_name_plural = _("入库明细")
        ordering = ["receipt_id", "id"]
        default_permissions = ("view",)
        constraints = [
            models.CheckConstraint(
                condition=Q(received_quantity=F("accepted_quantity") + F("rejected_quantity")),
                name="purchasing_receipt_line_received_is_accepted_plus_rejected",
            ),
            models.CheckConstraint(
                condition=Q(received_quantity__gt=0), name="purchasing_receipt_line_received_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.receipt_id}: {self.order_line_id} +{self.accepted_quantity}/-{self.rejected_quantity}"
