"""Customer care (客户关怀): the marketing-consent ledger, message templates, sends with their holdout
group and per-message delivery, and automatic journeys."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from shopops.core.pii import PIIKind
from shopops.customers.models import Customer

MONEY: dict[str, Any] = {"max_digits": 14, "decimal_places": 4}
ZERO = Decimal("0")


class Channel(models.TextChoices):
    SMS = "sms", _("短信")
    EMAIL = "email", _("邮件")


class Purpose(models.TextChoices):
    MARKETING = "marketing", _("营销")
    TRANSACTIONAL = "transactional", _("交易通知")


class ConsentAction(models.TextChoices):
    GRANTED = "granted", _("同意")
    WITHDRAWN = "withdrawn", _("撤回")


class ConsentSource(models.TextChoices):
    IMPORT = "import", _("导入")
    SHOP_PAGE = "shop_page", _("店铺页面")
    SERVICE = "service", _("客服记录")
    SMS_REPLY = "sms_reply", _("短信回复")
    EMAIL_LINK = "email_link", _("邮件退订链接")


class ConsentEvent(models.Model):
    """One recorded grant or withdrawal of a customer's marketing consent on one channel (营销授权记录).

    Append-only: the current state of (customer, channel, purpose) is its latest event."""

    customer = models.ForeignKey(
        Customer, verbose_name=_("客户"), on_delete=models.CASCADE, related_name="consent_events"
    )
    channel = models.CharField(_("渠道"), max_length=10, choices=Channel.choices)
    purpose = models.CharField(_("用途"), max_length=20, choices=Purpose.choices, default=Purpose.MARKETING)
    action = models.CharField(_("授权"), max_length=10, choices=ConsentAction.choices)
    source = models.CharField(_("方式"), max_length=20, choices=ConsentSource.choices)
    evidence = models.CharField(_("凭证"), max_length=500, blank=True)
    occurred_at = models.DateTimeField(_("发生时间"), db_index=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("记录人"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("记录时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("营销授权记录")
        verbose_name_plural = _("营销授权记录")
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["customer", "channel", "purpose", "occurred_at"])]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {self.get_action_display()}"


class MessageTemplate(models.Model):
    """A message text with variables ({姓名}, {店铺} …) for one channel and purpose (消息模板)."""

    name = models.CharField(_("模板名称"), max_length=100, unique=True)
    channel = models.CharField(_("渠道"), max_length=10, choices=Channel.choices)
    purpose = models.CharField(_("用途"), max_length=20, choices=Purpose.choices, default=Purpose.MARKETING)
    subject = models.CharField(_("邮件主题"), max_length=200, blank=True)
    body = models.TextField(_("内容"), help_text=_("可用变量：{姓名}、{店铺}、{最近下单}、{生日}"))
    signature = models.CharField(_("短信签名"), max_length=30, blank=True, help_text=_("不含【】"))
    provider_template = models.CharField(
        _("服务商模板编号"), max_length=50, blank=True, help_text=_("阿里云 TemplateCode 或腾讯云 TemplateId")
    )
    is_active = models.BooleanField(_("启用"), default=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("消息模板")
        verbose_name_plural = _("消息模板")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class JourneyTrigger(models.TextChoices):
    AFTER_DELIVERY = "after_delivery", _("签收后关怀")
    NO_REPURCHASE = "no_repurchase", _("未复购召回")
    BIRTHDAY = "birthday", _("生日祝福")
    AFTERSALE_CLOSED = "aftersale_closed", _("售后完结回访")


class Journey(models.Model):
    """An automatic journey (自动旅程): who becomes due on a trigger gets the template's message."""

    name = models.CharField(_("旅程名称"), max_length=100, unique=True)
    trigger = models.CharField(_("触发条件"), max_length=20, choices=JourneyTrigger.choices)
    days = models.PositiveIntegerField(
        _("天数"), default=7, help_text=_("签收/售后完结后第几天；未复购召回为距最近下单的天数；生日不使用")
    )
    template = models.ForeignKey(
        MessageTemplate, verbose_name=_("消息模板"), on_delete=models.PROTECT, related_name="journeys"
    )
    holdout_percent = models.PositiveSmallIntegerField(_("对照组比例（%）"), default=10)
    is_active = models.BooleanField(_("启用"), default=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("自动旅程")
        verbose_name_plural = _("自动旅程")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(holdout_percent__lte=90), name="care_journey_holdout_lte_90")
        ]

    def __str__(self) -> str:
        return self.name


class SendStatus(models.TextChoices):
    DRAFT = "draft", _("待确认")
    SENDING = "sending", _("发送中")
    DONE = "done", _("已完成")
    CANCELLED = "cancelled", _("已取消")


class Send(models.Model):
    """A send task (发送任务): one template to an audience, with a random holdout group kept unsent.

    A journey keeps one standing send for all of its messages."""

    name = models.CharField(_("任务名称"), max_length=100)
    template = models.ForeignKey(
        MessageTemplate, verbose_name=_("消息模板"), on_delete=models.PROTECT, related_name="sends"
    )
    journey = models.OneToOneField(
        Journey,
        verbose_name=_("自动旅程"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="send",
    )
    audience = models.CharField(_("发送对象"), max_length=200, blank=True)
    holdout_percent = models.PositiveSmallIntegerField(_("对照组比例（%）"), default=10)
    seed = models.BigIntegerField(_("随机种子"), default=0)
    status = models.CharField(_("状态"), max_length=10, choices=SendStatus.choices, default=SendStatus.DRAFT)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("创建人"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    confirmed_at = models.DateTimeField(_("确认发送时间"), null=True, blank=True)
    finished_at = models.DateTimeField(_("完成时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("发送任务")
        verbose_name_plural = _("发送任务")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(holdout_percent__lte=90), name="care_send_holdout_lte_90")
        ]

    def __str__(self) -> str:
        return self.name


class MessageStatus(models.TextChoices):
    QUEUED = "queued", _("排队")
    SENT = "sent", _("已发送")
    DELIVERED = "delivered", _("已送达")
    FAILED = "failed", _("失败")
    BLOCKED = "blocked", _("被拦截")
    HOLDOUT = "holdout", _("对照组（不发送）")


class BlockReason(models.TextChoices):
    NO_CONSENT = "no_consent", _("未授权营销或已退订")
    CAPPED = "capped", _("超过频次上限")
    NO_ADDRESS = "no_address", _("无手机号/邮箱")


class Message(models.Model):
    """One message of a send to one customer (or that customer's place in the holdout group)."""

    PII_FIELDS = {"recipient": PIIKind.PHONE}

    send = models.ForeignKey(
        Send, verbose_name=_("发送任务"), on_delete=models.CASCADE, related_name="messages"
    )
    customer = models.ForeignKey(
        Customer, verbose_name=_("客户"), on_delete=models.CASCADE, related_name="care_messages"
    )
    event_key = models.CharField(_("触发事件"), max_length=60, blank=True)
    channel = models.CharField(_("渠道"), max_length=10, choices=Channel.choices)
    purpose = models.CharField(_("用途"), max_length=20, choices=Purpose.choices)
    is_holdout = models.BooleanField(_("对照组"), default=False)
    status = models.CharField(
        _("状态"), max_length=10, choices=MessageStatus.choices, default=MessageStatus.QUEUED, db_index=True
    )
    block_reason = models.CharField(_("拦截原因"), max_length=20, choices=BlockReason.choices, blank=True)
    recipient = models.CharField(_("收件人"), max_length=200, blank=True)
    body = models.TextField(_("发送内容"), blank=True)
    provider_message_id = models.CharField(_("服务商回执号"), max_length=100, blank=True, db_index=True)
    error = models.CharField(_("失败原因"), max_length=300, blank=True)
    cost = models.DecimalField(_("费用"), **MONEY, default=ZERO)
    not_before = models.DateTimeField(_("最早发送时间"), null=True, blank=True)
    reference_at = models.DateTimeField(_("效果起算时间"), null=True, blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    sent_at = models.DateTimeField(_("发送时间"), null=True, blank=True, db_index=True)
    delivered_at = models.DateTimeField(_("送达时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("消息")
        verbose_name_plural = _("消息")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["send", "customer", "event_key"], name="care_message_once_per_send_customer_event"
            )
        ]
        indexes = [models.Index(fields=["customer", "purpose", "sent_at"])]

    def __str__(self) -> str:
        return f"消息 #{self.pk}"
