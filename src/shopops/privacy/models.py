"""个人信息请求 (PIPL art. 44–47): a person's request to copy, correct or delete their data, and the
record of every anonymisation (by request or by the retention rule)."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from shopops.core.pii import PIIKind
from shopops.core.storage import private_storage


class RequestKind(models.TextChoices):
    ACCESS = "access", _("查阅复制")
    CORRECT = "correct", _("更正")
    DELETE = "delete", _("删除")


class RequestStatus(models.TextChoices):
    RECEIVED = "received", _("已受理")
    VERIFYING = "verifying", _("核验身份")
    PROCESSING = "processing", _("处理中")
    COMPLETED = "completed", _("已完成")
    REJECTED = "rejected", _("已拒绝")


class RequestChannel(models.TextChoices):
    CUSTOMER_SERVICE = "customer_service", _("在线客服")
    PHONE = "phone", _("电话")
    EMAIL = "email", _("邮件")
    PLATFORM = "platform", _("平台工单")
    LETTER = "letter", _("书面信函")
    OTHER = "other", _("其他")


# the workflow as data: which status may follow which
REQUEST_TRANSITIONS: dict[str, frozenset[str]] = {
    RequestStatus.RECEIVED: frozenset({RequestStatus.VERIFYING, RequestStatus.REJECTED}),
    RequestStatus.VERIFYING: frozenset({RequestStatus.PROCESSING, RequestStatus.REJECTED}),
    RequestStatus.PROCESSING: frozenset({RequestStatus.COMPLETED, RequestStatus.REJECTED}),
    RequestStatus.COMPLETED: frozenset(),
    RequestStatus.REJECTED: frozenset(),
}
OPEN_REQUEST_STATUSES = frozenset({RequestStatus.RECEIVED, RequestStatus.VERIFYING, RequestStatus.PROCESSING})
# the personal fields a correction may change (customers.personal_data.correct applies them)
CORRECTABLE_FIELDS = ("name", "phone", "email", "birthday")


def export_upload_name(instance: object, filename: str) -> str:
    """privacy/<random hex>.zip: the path tells nothing about the person."""
    return f"privacy/{secrets.token_hex(16)}.zip"


class PersonalDataRequest(models.Model):
    """A person's request about their personal data (个人信息请求), handled within the due date."""

    PII_FIELDS = {"requester": PIIKind.NAME, "requester_contact": PIIKind.PHONE}

    kind = models.CharField(_("请求类型"), max_length=10, choices=RequestKind.choices)
    status = models.CharField(
        _("状态"), max_length=12, choices=RequestStatus.choices, default=RequestStatus.RECEIVED, db_index=True
    )
    channel = models.CharField(_("受理渠道"), max_length=20, choices=RequestChannel.choices)
    requester = models.CharField(_("请求人"), max_length=100)
    requester_contact = models.CharField(_("请求人联系方式"), max_length=100, blank=True)
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("客户"),
        on_delete=models.PROTECT,
        related_name="personal_data_requests",
    )
    received_at = models.DateTimeField(_("受理时间"), db_index=True)
    due_at = models.DateTimeField(_("处理期限"), db_index=True)
    identity_method = models.CharField(_("身份核验方式"), max_length=200, blank=True)
    identity_verified_at = models.DateTimeField(_("身份核验时间"), null=True, blank=True)
    identity_verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("核验人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    corrections = models.JSONField(
        _("更正内容"), default=dict, blank=True, help_text=_("完成后只保留字段名，不保留新值")
    )
    note = models.CharField(_("备注"), max_length=500, blank=True)
    rejection_reason = models.CharField(_("拒绝原因"), max_length=300, blank=True)
    result = models.CharField(_("处理结果"), max_length=300, blank=True)
    completed_at = models.DateTimeField(_("完成时间"), null=True, blank=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("处理人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    export_file = models.FileField(
        _("导出文件"), storage=private_storage, upload_to=export_upload_name, blank=True, max_length=200
    )
    export_sha256 = models.CharField(_("导出文件摘要"), max_length=64, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("登记人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("个人信息请求")
        verbose_name_plural = _("个人信息请求")
        ordering = ["due_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(due_at__gte=models.F("received_at")), name="privacy_due_after_received"
            ),
            models.CheckConstraint(
                condition=~Q(status="rejected") | ~Q(rejection_reason=""), name="privacy_rejection_has_reason"
            ),
        ]

    def __str__(self) -> str:
        return str(_("个人信息请求 #%(id)s") % {"id": self.pk})

    def audit_values(self, data: dict[str, object]) -> dict[str, object]:
        """The audit keeps which fields a correction asks for, never the new personal values."""
        corrections = data.get("corrections")
        if isinstance(corrections, dict):
            data["corrections"] = sorted(corrections)
        for name in ("requester", "requester_contact"):
            if data.get(name):
                data[name] = "***"
        return data


class ErasureReason(models.TextChoices):
    REQUEST = "request", _("删除请求")
    RETENTION = "retention", _("超过保存期限")


class Erasure(models.Model):
    """The anonymisation of one customer's personal data (by a deletion request or the retention rule):
    one per customer, which makes anonymisation idempotent and tells the retention job whom it has done."""

    customer = models.OneToOneField(
        "customers.Customer", verbose_name=_("客户"), on_delete=models.PROTECT, related_name="erasure"
    )
    reason = models.CharField(_("原因"), max_length=10, choices=ErasureReason.choices)
    request = models.ForeignKey(
        PersonalDataRequest,
        verbose_name=_("个人信息请求"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    rows_changed = models.PositiveIntegerField(_("匿名化记录数"), default=0)
    erased_at = models.DateTimeField(_("匿名化时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("匿名化记录")
        verbose_name_plural = _("匿名化记录")
        ordering = ["-erased_at", "-id"]

    def __str__(self) -> str:
        return str(_("匿名化 #%(id)s") % {"id": self.pk})
