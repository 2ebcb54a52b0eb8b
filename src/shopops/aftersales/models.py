"""After-sales: refund-only, return-and-refund, exchange and re-ship cases, their lines, inspections and timeline."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from shopops.core.permissions import ScopedQuerySet

MONEY: dict[str, Any] = {"max_digits": 14, "decimal_places": 2}
ZERO = Decimal("0.00")


class CaseKind(models.TextChoices):
    REFUND_ONLY = "refund_only", _("仅退款")
    RETURN_REFUND = "return_refund", _("退货退款")
    EXCHANGE = "exchange", _("换货")
    RESHIP = "reship", _("补发")


class CaseStage(models.TextChoices):
    IN_SALE = "in_sale", _("售中")  # before the order is completed
    AFTER_SALE = "after_sale", _("售后")


class CaseStatus(models.TextChoices):
    APPLIED = "applied", _("待审核")
    APPROVED = "approved", _("已同意")
    REJECTED = "rejected", _("已拒绝")
    AWAITING_RETURN = "awaiting_return", _("待买家退货")
    RECEIVED = "received", _("已收到退货")
    INSPECTED = "inspected", _("已质检")
    REFUNDED = "refunded", _("已退款")
    EXCHANGE_SHIPPED = "exchange_shipped", _("已发出换货/补发")
    CLOSED = "closed", _("已关闭")
    CANCELLED = "cancelled", _("买家撤销")


# Which steps each status may go to; which of them a case kind passes through is decided by
# `aftersales.services` (refund-only skips the return; re-ship skips the refund).
CASE_TRANSITIONS: dict[str, frozenset[str]] = {
    CaseStatus.APPLIED: frozenset({CaseStatus.APPROVED, CaseStatus.REJECTED, CaseStatus.CANCELLED}),
    CaseStatus.APPROVED: frozenset(
        {CaseStatus.AWAITING_RETURN, CaseStatus.REFUNDED, CaseStatus.EXCHANGE_SHIPPED, CaseStatus.CANCELLED}
    ),
    CaseStatus.REJECTED: frozenset({CaseStatus.CLOSED, CaseStatus.APPLIED}),
    CaseStatus.AWAITING_RETURN: frozenset({CaseStatus.RECEIVED, CaseStatus.CANCELLED}),
    CaseStatus.RECEIVED: frozenset({CaseStatus.INSPECTED}),
    CaseStatus.INSPECTED: frozenset({CaseStatus.REFUNDED, CaseStatus.EXCHANGE_SHIPPED, CaseStatus.CLOSED}),
    CaseStatus.REFUNDED: frozenset({CaseStatus.CLOSED}),
    CaseStatus.EXCHANGE_SHIPPED: frozenset({CaseStatus.CLOSED}),
    CaseStatus.CLOSED: frozenset(),
    CaseStatus.CANCELLED: frozenset(),
}


# Service-level timers (hours) per step: how long a case may wait in a status before it is overdue.
# `sla_due_at` = when the case entered the status + these hours; statuses not listed have no timer.
CASE_SLA_HOURS: dict[str, int] = {
    CaseStatus.APPLIED: 48,  # decide (approve / reject)
    CaseStatus.APPROVED: 24,  # refund-only: refund within 24 h of approval
    CaseStatus.AWAITING_RETURN: 7 * 24,  # the buyer sends the goods back
    CaseStatus.RECEIVED: 48,  # inspect
    CaseStatus.INSPECTED: 24,  # refund (or ship the exchange) after inspection
}
CASE_SLA_HOURS_BY_KIND: dict[tuple[str, str], int] = {
    (CaseStatus.APPROVED, CaseKind.RESHIP): 48,  # pack and ship the replacement parcel
    (CaseStatus.INSPECTED, CaseKind.EXCHANGE): 48,
}
OPEN_CASE_STATUSES = frozenset(
    {
        CaseStatus.APPLIED,
        CaseStatus.APPROVED,
        CaseStatus.AWAITING_RETURN,
        CaseStatus.RECEIVED,
        CaseStatus.INSPECTED,
    }
)
RETURN_KINDS = frozenset({CaseKind.RETURN_REFUND, CaseKind.EXCHANGE})
REFUND_KINDS = frozenset({CaseKind.REFUND_ONLY, CaseKind.RETURN_REFUND})


def sla_hours(status: str, kind: str) -> int | None:
    """Hours a case of `kind` may stay in `status`, or None when the step has no timer."""
    return CASE_SLA_HOURS_BY_KIND.get((status, kind), CASE_SLA_HOURS.get(status))


class AppendOnlyError(Exception):
    """Case events are the case's history: never changed, only appended."""


class ReturnReason(models.Model):
    """One entry of the reason taxonomy (售后原因), two levels deep; `is_quality` marks product faults
    (they count against the SKU and the supplier in reports)."""

    code = models.CharField(_("编码"), max_length=40, unique=True)
    name = models.CharField(_("名称"), max_length=60)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("上级"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    is_quality = models.BooleanField(_("质量问题"), default=False)
    is_active = models.BooleanField(_("启用"), default=True)
    sort_order = models.PositiveSmallIntegerField(_("排序"), default=0)

    class Meta:
        verbose_name = _("售后原因")
        verbose_name_plural = _("售后原因")
        ordering = ["sort_order", "code"]

    def __str__(self) -> str:
        return self.name


def _user_field(verbose_name: Any) -> Any:
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=verbose_name,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )


class CaseQuerySet(ScopedQuerySet["AfterSaleCase"]):
    def overdue(self, now: dt.datetime) -> CaseQuerySet:
        """Open cases whose current step has passed its SLA deadline at `now`."""
        return self.filter(status__in=OPEN_CASE_STATUSES, sla_due_at__lt=now)


class AfterSaleCase(models.Model):
    """A buyer's after-sales request (售后单) on one order: what they want, why, and where it stands."""

    SCOPE_SHOP_FIELD = "shop"

    shop = models.ForeignKey(
        "channels.Shop", verbose_name=_("店铺"), on_delete=models.PROTECT, related_name="aftersale_cases"
    )
    order = models.ForeignKey(
        "orders.Order", verbose_name=_("订单"), on_delete=models.PROTECT, related_name="aftersale_cases"
    )
    external_id = models.CharField(_("平台售后单号"), max_length=64, blank=True)
    kind = models.CharField(_("类型"), max_length=20, choices=CaseKind.choices)
    stage = models.CharField(_("阶段"), max_length=10, choices=CaseStage.choices)
    reason = models.ForeignKey(
        ReturnReason, verbose_name=_("原因"), on_delete=models.PROTECT, related_name="cases"
    )
    description = models.CharField(_("问题描述"), max_length=500, blank=True)
    status = models.CharField(
        _("状态"), max_length=20, choices=CaseStatus.choices, default=CaseStatus.APPLIED, db_index=True
    )
    requested_amount = models.DecimalField(_("申请退款金额"), **MONEY, default=ZERO)
    refund_shipping = models.DecimalField(_("退运费"), **MONEY, default=ZERO)
    refunded_amount = models.DecimalField(_("实际退款金额"), **MONEY, default=ZERO)
    return_carrier = models.ForeignKey(
        "fulfillment.Carrier",
        verbose_name=_("退货快递"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    return_tracking_number = models.CharField(_("退货运单号"), max_length=40, blank=True)
    return_warehouse = models.ForeignKey(
        "inventory.Warehouse",
        verbose_name=_("退货仓"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    replacement_shipment = models.ForeignKey(
        "fulfillment.Shipment",
        verbose_name=_("换货/补发包裹"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    refunded_shipping = models.DecimalField(_("已退运费"), **MONEY, default=ZERO)
    replacement_warehouse = models.ForeignKey(
        "inventory.Warehouse",
        verbose_name=_("换货/补发仓"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    replacement_carrier = models.ForeignKey(
        "fulfillment.Carrier",
        verbose_name=_("换货/补发快递"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    replacement_tracking_number = models.CharField(_("换货/补发运单号"), max_length=40, blank=True)
    replacement_reference = models.CharField(
        _("换货/补发包裹号"), max_length=64, blank=True, help_text=_("发货单号（未关联发货单时的包裹引用）")
    )
    replacement_shipped_at = models.DateTimeField(_("换货/补发时间"), null=True, blank=True)
    decision_note = models.CharField(_("处理意见"), max_length=300, blank=True)
    sla_due_at = models.DateTimeField(_("当前步骤时限"), null=True, blank=True, db_index=True)
    applied_at = models.DateTimeField(_("申请时间"), db_index=True)
    decided_at = models.DateTimeField(_("审核时间"), null=True, blank=True)
    received_at = models.DateTimeField(_("收货时间"), null=True, blank=True)
    inspected_at = models.DateTimeField(_("质检时间"), null=True, blank=True)
    refunded_at = models.DateTimeField(_("退款时间"), null=True, blank=True)
    closed_at = models.DateTimeField(_("关闭时间"), null=True, blank=True)
    applied_by = _user_field(_("登记人"))
    decided_by = _user_field(_("审核人"))
    received_by = _user_field(_("收货人"))
    inspected_by = _user_field(_("质检人"))
    refunded_by = _user_field(_("退款人"))
    closed_by = _user_field(_("关闭人"))
    handler = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("处理人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    objects = CaseQuerySet.as_manager()

    class Meta:
        verbose_name = _("售后单")
        verbose_name_plural = _("售后单")
        ordering = ["-applied_at", "-id"]
        permissions = [
            ("approve_aftersalecase", _("审核售后")),
            ("refund_aftersalecase", _("执行退款")),
            ("inspect_aftersalecase", _("退货质检")),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["shop", "external_id"],
                condition=~Q(external_id=""),
                name="aftersales_case_shop_external_uniq",
            ),
            models.CheckConstraint(
                condition=Q(requested_amount__gte=0) & Q(refunded_amount__gte=0) & Q(refund_shipping__gte=0),
                name="aftersales_case_amounts_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"售后 #{self.pk}"


class AfterSaleLine(models.Model):
    """Units of one order line a case is about, with the refund share and what came back."""

    case = models.ForeignKey(
        AfterSaleCase, verbose_name=_("售后单"), on_delete=models.CASCADE, related_name="lines"
    )
    order_line = models.ForeignKey(
        "orders.OrderLine",
        verbose_name=_("订单明细"),
        on_delete=models.PROTECT,
        related_name="aftersale_lines",
    )
    quantity = models.PositiveIntegerField(_("数量"))
    refund_amount = models.DecimalField(_("退款金额"), **MONEY, default=ZERO)
    received_quantity = models.PositiveIntegerField(_("已收退货"), default=0)
    refunded_amount = models.DecimalField(_("已退金额"), **MONEY, default=ZERO)

    class Meta:
        verbose_name = _("售后明细")
        verbose_name_plural = _("售后明细")
        constraints = [
            models.UniqueConstraint(
                fields=["case", "order_line"], name="aftersales_line_case_orderline_uniq"
            ),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="aftersales_line_quantity_positive"),
            models.CheckConstraint(
                condition=Q(received_quantity__lte=F("quantity")),
                name="aftersales_line_received_within_quantity",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.case_id}: {self.order_line_id}×{self.quantity}"


class InspectionGrade(models.TextChoices):
    A = "a", _("A 良品回库")
    B = "b", _("B 次品/翻新库")
    SCRAP = "scrap", _("报废")
    SUPPLIER_CLAIM = "supplier_claim", _("退供应商索赔")


class Inspection(models.Model):
    """The quality re-inspection (质量回检) of returned units of one case line: how many got which grade,
    where they went (each grade is one ledger movement, see `aftersales.services.inspect_return`)."""

    line = models.ForeignKey(
        AfterSaleLine, verbose_name=_("售后明细"), on_delete=models.CASCADE, related_name="inspections"
    )
    grade = models.CharField(_("等级"), max_length=20, choices=InspectionGrade.choices)
    quantity = models.PositiveIntegerField(_("数量"))
    warehouse = models.ForeignKey(
        "inventory.Warehouse",
        verbose_name=_("入库仓"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    supplier = models.ForeignKey(
        "purchasing.Supplier",
        verbose_name=_("索赔供应商"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    claim_amount = models.DecimalField(_("索赔金额"), **MONEY, default=ZERO)
    note = models.CharField(_("备注"), max_length=300, blank=True)
    inspected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("质检人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    inspected_at = models.DateTimeField(_("质检时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("退货质检")
        verbose_name_plural = _("退货质检")
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="aftersales_inspection_quantity_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.line_id} {self.grade}×{self.quantity}"


class CaseEventQuerySet(models.QuerySet["CaseEvent"]):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError("case events are append-only")


class CaseEvent(models.Model):
    """One step of a case's timeline (who, when, from which status to which, why). Append-only."""

    case = models.ForeignKey(
        AfterSaleCase, verbose_name=_("售后单"), on_delete=models.CASCADE, related_name="events"
    )
    from_status = models.CharField(_("原状态"), max_length=20, blank=True)
    to_status = models.CharField(_("新状态"), max_length=20, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("操作人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,  # a user with history is deactivated, not deleted
        related_name="+",
    )
    via = models.CharField(_("来源"), max_length=20, blank=True)
    message = models.CharField(_("说明"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("时间"), auto_now_add=True)

    objects = CaseEventQuerySet.as_manager()

    class Meta:
        verbose_name = _("售后动态")
        verbose_name_plural = _("售后动态")
        ordering = ["case", "created_at", "id"]

    def __str__(self) -> str:
        return f"{self.case_id} {self.from_status}→{self.to_status}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise AppendOnlyError("case events are append-only")
        super().save(*args, **kwargs)
