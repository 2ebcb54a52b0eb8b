"""Tags, customer metrics with RFM, and live segments (人群) with their membership history."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

MONEY: dict[str, Any] = {"max_digits": 14, "decimal_places": 2}
ZERO = Decimal("0.00")


class RfmClass(models.TextChoices):
    """The eight classic RFM classes: each of R, F, M is 高 when its score is 3 or more (see docs/segments.md)."""

    IMPORTANT_VALUE = "important_value", _("重要价值客户")  # R高 F高 M高
    IMPORTANT_KEEP = "important_keep", _("重要保持客户")  # R低 F高 M高
    IMPORTANT_DEVELOP = "important_develop", _("重要发展客户")  # R高 F低 M高
    IMPORTANT_RETAIN = "important_retain", _("重要挽留客户")  # R低 F低 M高
    GENERAL_VALUE = "general_value", _("一般价值客户")  # R高 F高 M低
    GENERAL_KEEP = "general_keep", _("一般保持客户")  # R低 F高 M低
    GENERAL_DEVELOP = "general_develop", _("一般发展客户")  # R高 F低 M低
    GENERAL_RETAIN = "general_retain", _("一般挽留客户")  # R低 F低 M低
    NO_ORDER = "no_order", _("未下单客户")


class CustomerMetrics(models.Model):
    """One customer's figures from their paid orders, recomputed in bulk by `services.refresh_metrics`."""

    customer = models.OneToOneField(
        "customers.Customer",
        verbose_name=_("客户"),
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="segment_metrics",
    )
    order_count = models.IntegerField(_("订单数"), default=0)
    paid_order_count = models.IntegerField(_("付款订单数"), default=0)
    refund_order_count = models.IntegerField(_("退款订单数"), default=0)
    paid_total = models.DecimalField(_("付款金额"), **MONEY, default=ZERO)
    refunded_total = models.DecimalField(_("退款金额"), **MONEY, default=ZERO)
    net_spend = models.DecimalField(_("净消费"), **MONEY, default=ZERO)
    average_order_value = models.DecimalField(_("客单价"), **MONEY, default=ZERO)
    first_paid_at = models.DateTimeField(_("首次付款"), null=True, blank=True)
    last_paid_at = models.DateTimeField(_("最近付款"), null=True, blank=True)
    r_score = models.SmallIntegerField(_("R 分"), null=True, blank=True)
    f_score = models.SmallIntegerField(_("F 分"), null=True, blank=True)
    m_score = models.SmallIntegerField(_("M 分"), null=True, blank=True)
    rfm_code = models.CharField(_("RFM 编码"), max_length=8, blank=True)
    rfm_class = models.CharField(
        _("RFM 分类"), max_length=20, choices=RfmClass.choices, default=RfmClass.NO_ORDER, db_index=True
    )
    computed_at = models.DateTimeField(_("计算时间"))

    class Meta:
        verbose_name = _("客户指标")
        verbose_name_plural = _("客户指标")

    def __str__(self) -> str:
        return f"客户 #{self.customer_id} {self.rfm_code}"


class RfmChange(models.Model):
    """A customer's RFM code or class changed at a metrics refresh (the profile shows the history); the first
    rating is not a change (it is the metrics row itself), so a first refresh of a million customers writes none."""

    customer = models.ForeignKey(
        "customers.Customer", verbose_name=_("客户"), on_delete=models.CASCADE, related_name="rfm_changes"
    )
    from_code = models.CharField(_("原 RFM 编码"), max_length=8, blank=True)
    to_code = models.CharField(_("新 RFM 编码"), max_length=8, blank=True)
    from_class = models.CharField(_("原分类"), max_length=20, choices=RfmClass.choices, blank=True)
    to_class = models.CharField(_("新分类"), max_length=20, choices=RfmClass.choices)
    changed_at = models.DateTimeField(_("变化时间"), db_index=True)

    class Meta:
        verbose_name = _("RFM 变化")
        verbose_name_plural = _("RFM 变化")
        ordering = ["-changed_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.from_code or '—'} → {self.to_code or '—'}"


class Tag(models.Model):
    """A customer tag (标签): set by hand, or automatic when it has a rule (kept by the metrics refresh)."""

    name = models.CharField(_("标签名"), max_length=40, unique=True)
    description = models.CharField(_("说明"), max_length=200, blank=True)
    rule = models.JSONField(_("自动规则"), null=True, blank=True, help_text=_("为空时为手动标签"))
    is_active = models.BooleanField(_("启用"), default=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("客户标签")
        verbose_name_plural = _("客户标签")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_automatic(self) -> bool:
        return self.rule is not None


class TagSource(models.TextChoices):
    MANUAL = "manual", _("手动")
    RULE = "rule", _("规则")


class CustomerTag(models.Model):
    """A tag on a customer."""

    customer = models.ForeignKey(
        "customers.Customer", verbose_name=_("客户"), on_delete=models.CASCADE, related_name="segment_tags"
    )
    tag = models.ForeignKey(
        Tag, verbose_name=_("标签"), on_delete=models.CASCADE, related_name="customer_tags"
    )
    source = models.CharField(_("来源"), max_length=10, choices=TagSource.choices, default=TagSource.MANUAL)
    added_at = models.DateTimeField(_("添加时间"))
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("添加人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("客户的标签")
        verbose_name_plural = _("客户的标签")
        constraints = [models.UniqueConstraint(fields=["tag", "customer"], name="segments_customertag_uniq")]
        indexes = [models.Index(fields=["customer", "tag"], name="segments_ctag_customer")]

    def __str__(self) -> str:
        return f"{self.tag}"


class Segment(models.Model):
    """A segment (人群): the customers matching a rule of conditions, refreshed on schedule and on demand."""

    name = models.CharField(_("人群名称"), max_length=60, unique=True)
    description = models.CharField(_("说明"), max_length=300, blank=True)
    rule = models.JSONField(_("条件"))
    is_active = models.BooleanField(_("定时刷新"), default=True)
    member_count = models.IntegerField(_("人数"), default=0)
    refreshed_at = models.DateTimeField(_("最近刷新"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("创建人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("人群")
        verbose_name_plural = _("人群")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SegmentMember(models.Model):
    """A customer currently in a segment, since `entered_at`."""

    segment = models.ForeignKey(
        Segment, verbose_name=_("人群"), on_delete=models.CASCADE, related_name="members"
    )
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("客户"),
        on_delete=models.CASCADE,
        related_name="segment_memberships",
    )
    entered_at = models.DateTimeField(_("进入时间"))

    class Meta:
        verbose_name = _("人群成员")
        verbose_name_plural = _("人群成员")
        constraints = [
            models.UniqueConstraint(fields=["segment", "customer"], name="segments_member_uniq"),
        ]
        indexes = [
            models.Index(fields=["segment", "entered_at"], name="segments_member_entered"),
            models.Index(fields=["customer"], name="segments_member_customer"),
        ]

    def __str__(self) -> str:
        return f"{self.segment} · 客户 #{self.customer_id}"


class MembershipChange(models.TextChoices):
    ENTERED = "entered", _("进入")
    LEFT = "left", _("离开")


class SegmentEvent(models.Model):
    """Who entered or left a segment, and when (append-only membership history)."""

    segment = models.ForeignKey(
        Segment, verbose_name=_("人群"), on_delete=models.CASCADE, related_name="events"
    )
    customer = models.ForeignKey(
        "customers.Customer", verbose_name=_("客户"), on_delete=models.CASCADE, related_name="segment_events"
    )
    kind = models.CharField(_("变化"), max_length=8, choices=MembershipChange.choices)
    at = models.DateTimeField(_("时间"))

    class Meta:
        verbose_name = _("人群成员变化")
        verbose_name_plural = _("人群成员变化")
        ordering = ["-at", "-pk"]
        indexes = [
            models.Index(fields=["segment", "at"], name="segments_event_segment_at"),
            models.Index(fields=["customer", "at"], name="segments_event_customer_at"),
        ]

    def __str__(self) -> str:
        return f"{self.segment} · {self.get_kind_display()}"
