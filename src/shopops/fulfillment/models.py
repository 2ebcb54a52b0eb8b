"""Fulfillment: carriers, shipments (parcels) with their lines, and tracking events."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from shopops.core.permissions import ScopedQuerySet

MONEY: dict[str, Any] = {"max_digits": 14, "decimal_places": 2}


class Carrier(models.Model):
    """A parcel carrier (快递公司) with its codes at the tracking aggregators 快递100 and 快递鸟.

    `tracking_pattern` is a regular expression a tracking number usually matches; a number that does
    not match is a warning, never a refusal (carriers change formats).
    """

    code = models.CharField(_("编码"), max_length=30, unique=True)
    name = models.CharField(_("名称"), max_length=40, unique=True)
    aliases = models.JSONField(_("别名"), default=list, blank=True, help_text=_("平台导出文件里的写法"))
    kuaidi100_code = models.CharField(_("快递100编码"), max_length=40, blank=True)
    kdniao_code = models.CharField(_("快递鸟编码"), max_length=20, blank=True)
    tracking_pattern = models.CharField(_("单号格式"), max_length=100, blank=True)
    is_active = models.BooleanField(_("启用"), default=True)

    class Meta:
        verbose_name = _("快递公司")
        verbose_name_plural = _("快递公司")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class ShipmentStatus(models.TextChoices):
    PENDING = "pending", _("待拣货")
    PICKING = "picking", _("拣货中")
    PACKED = "packed", _("已打包")
    SHIPPED = "shipped", _("已发货")
    DELIVERED = "delivered", _("已签收")
    RETURNED = "returned", _("退回")
    CANCELLED = "cancelled", _("已取消")


SHIPMENT_TRANSITIONS: dict[str, frozenset[str]] = {
    ShipmentStatus.PENDING: frozenset(
        {ShipmentStatus.PICKING, ShipmentStatus.PACKED, ShipmentStatus.SHIPPED, ShipmentStatus.CANCELLED}
    ),
    ShipmentStatus.PICKING: frozenset(
        {ShipmentStatus.PACKED, ShipmentStatus.SHIPPED, ShipmentStatus.CANCELLED}
    ),
    ShipmentStatus.PACKED: frozenset({ShipmentStatus.SHIPPED, ShipmentStatus.CANCELLED}),
    ShipmentStatus.SHIPPED: frozenset({ShipmentStatus.DELIVERED, ShipmentStatus.RETURNED}),
    ShipmentStatus.DELIVERED: frozenset({ShipmentStatus.RETURNED}),
    ShipmentStatus.RETURNED: frozenset(),
    ShipmentStatus.CANCELLED: frozenset(),
}


# Parcels still in the warehouse: their units count against what an order line may still ship.
OPEN_SHIPMENT_STATUSES = frozenset({ShipmentStatus.PENDING, ShipmentStatus.PICKING, ShipmentStatus.PACKED})


class ShipmentSource(models.TextChoices):
    SYSTEM = "system", _("本系统发货")
    PLATFORM = "platform", _("平台发货")  # shipped in the platform's seller centre; seen in its export


class ShipmentQuerySet(ScopedQuerySet["Shipment"]):
    pass


class Shipment(models.Model):
    """A parcel (包裹) leaving one warehouse: lines of one order, or of several orders of the same receiver
    (合并发货); one order may go out in several parcels (拆分发货)."""

    SCOPE_SHOP_FIELD = "shop"

    shop = models.ForeignKey(
        "channels.Shop", verbose_name=_("店铺"), on_delete=models.PROTECT, related_name="shipments"
    )
    warehouse = models.ForeignKey(
        "inventory.Warehouse", verbose_name=_("发货仓"), on_delete=models.PROTECT, related_name="shipments"
    )
    carrier = models.ForeignKey(
        Carrier,
        verbose_name=_("快递公司"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="shipments",
    )
    tracking_number = models.CharField(_("运单号"), max_length=40, blank=True, db_index=True)
    status = models.CharField(
        _("状态"),
        max_length=10,
        choices=ShipmentStatus.choices,
        default=ShipmentStatus.PENDING,
        db_index=True,
    )
    shipping_cost = models.DecimalField(_("运费成本"), **MONEY, default=Decimal("0.00"))
    weight_grams = models.PositiveIntegerField(_("重量(克)"), null=True, blank=True)
    tracking_state = models.CharField(_("物流状态"), max_length=10, blank=True, help_text=_("快递100 状态码"))
    last_tracked_at = models.DateTimeField(_("最近轨迹时间"), null=True, blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    picked_at = models.DateTimeField(_("拣货时间"), null=True, blank=True)
    packed_at = models.DateTimeField(_("打包时间"), null=True, blank=True)
    shipped_at = models.DateTimeField(_("发货时间"), null=True, blank=True, db_index=True)
    delivered_at = models.DateTimeField(_("签收时间"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("创建人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    note = models.CharField(_("备注"), max_length=300, blank=True)
    source = models.CharField(
        _("来源"), max_length=10, choices=ShipmentSource.choices, default=ShipmentSource.SYSTEM
    )
    has_problem = models.BooleanField(
        _("物流异常"), default=False, db_index=True, help_text=_("疑难、拒签或退回中")
    )
    problem_note = models.CharField(_("异常说明"), max_length=200, blank=True)
    warnings = models.JSONField(_("单号提醒"), default=list, blank=True, help_text=_("运单号格式检查的提醒"))

    objects = ShipmentQuerySet.as_manager()

    class Meta:
        verbose_name = _("发货单")
        verbose_name_plural = _("发货单")
        ordering = ["-created_at", "-id"]
        permissions = [("ship_shipment", _("确认发货"))]
        constraints = [
            models.UniqueConstraint(
                fields=["carrier", "tracking_number"],
                condition=~Q(tracking_number=""),
                name="fulfillment_shipment_carrier_tracking_uniq",
            ),
            models.CheckConstraint(
                condition=Q(shipping_cost__gte=0), name="fulfillment_shipment_cost_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"包裹 #{self.pk}"


class ShipmentLine(models.Model):
    """Units of one order line packed into one parcel."""

    shipment = models.ForeignKey(
        Shipment, verbose_name=_("发货单"), on_delete=models.CASCADE, related_name="lines"
    )
    order_line = models.ForeignKey(
        "orders.OrderLine",
        verbose_name=_("订单明细"),
        on_delete=models.PROTECT,
        related_name="shipment_lines",
    )
    quantity = models.PositiveIntegerField(_("数量"))

    class Meta:
        verbose_name = _("发货明细")
        verbose_name_plural = _("发货明细")
        constraints = [
            models.UniqueConstraint(
                fields=["shipment", "order_line"], name="fulfillment_line_shipment_orderline_uniq"
            ),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="fulfillment_line_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.shipment_id}: {self.order_line_id}×{self.quantity}"


class TrackingState(models.TextChoices):
    """快递100 states."""

    IN_TRANSIT = "0", _("在途")
    COLLECTED = "1", _("揽收")
    PROBLEM = "2", _("疑难")
    SIGNED = "3", _("签收")
    RETURN_SIGNED = "4", _("退签")
    DELIVERING = "5", _("派件")
    RETURNING = "6", _("退回")
    FORWARDED = "7", _("转投")
    REFUSED = "14", _("拒签")


class TrackingEvent(models.Model):
    """One scan of a parcel reported by the carrier (物流轨迹), imported from a file or pushed through the API."""

    shipment = models.ForeignKey(
        Shipment, verbose_name=_("发货单"), on_delete=models.CASCADE, related_name="tracking_events"
    )
    occurred_at = models.DateTimeField(_("时间"))
    state = models.CharField(_("状态"), max_length=4, choices=TrackingState.choices)
    description = models.CharField(_("描述"), max_length=300, blank=True)
    location = models.CharField(_("地点"), max_length=100, blank=True)
    source = models.CharField(_("来源"), max_length=20, blank=True)
    created_at = models.DateTimeField(_("记录时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("物流轨迹")
        verbose_name_plural = _("物流轨迹")
        ordering = ["shipment", "occurred_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["shipment", "occurred_at", "state"], name="fulfillment_tracking_event_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.shipment_id} {self.occurred_at:%Y-%m-%d %H:%M} {self.state}"
