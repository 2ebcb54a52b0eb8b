"""Customers: the people who buy, known by their platform buyer ids and a hash of their phone number."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from shopops.core.crypto import EncryptedCharField
from shopops.core.pii import PIIKind


class Customer(models.Model):
    """A buyer (顾客) across shops: one person, found again by platform buyer id or phone hash.

    The phone number itself is personal data (masked by policy); `phone_hash` (see
    `customers.services.phone_hash`) lets orders be matched and searched without reading it. Name, phone and
    e-mail are encrypted at rest (`core.crypto`): they cannot be filtered or ordered by in SQL.
    """

    PII_FIELDS = {"name": PIIKind.NAME, "phone": PIIKind.PHONE, "email": PIIKind.EMAIL}

    name = EncryptedCharField(_("姓名/昵称"), max_length=100, blank=True)
    phone = EncryptedCharField(
        _("手机号"),
        max_length=30,
        blank=True,
        derived={"phone_last4": "shopops.customers.services.phone_last4"},
    )
    phone_last4 = models.CharField(_("手机号后四位"), max_length=4, blank=True, db_index=True)
    phone_hash = models.CharField(_("手机号摘要"), max_length=64, blank=True, db_index=True)
    email = EncryptedCharField(
        _("邮箱"), max_length=200, blank=True, derived={"email_hash": "shopops.customers.services.email_hash"}
    )
    email_hash = models.CharField(_("邮箱摘要"), max_length=64, blank=True, db_index=True)
    birthday = models.DateField(_("生日"), null=True, blank=True)
    is_blacklisted = models.BooleanField(_("黑名单"), default=False, db_index=True)
    blacklist_reason = models.CharField(_("拉黑原因"), max_length=200, blank=True)
    first_order_at = models.DateTimeField(_("首单时间"), null=True, blank=True)
    last_order_at = models.DateTimeField(_("最近下单"), null=True, blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("客户")
        verbose_name_plural = _("客户")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"客户 #{self.pk}"


class CustomerAccount(models.Model):
    """A buyer account on one platform (淘宝会员名 / 京东下单帐号 / Shopify email …) that belongs to a customer."""

    PII_FIELDS = {"buyer_id": PIIKind.NAME}

    customer = models.ForeignKey(
        Customer, verbose_name=_("客户"), on_delete=models.CASCADE, related_name="accounts"
    )
    platform = models.CharField(_("平台"), max_length=20)
    buyer_id = models.CharField(_("平台买家ID"), max_length=100)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("平台买家账号")
        verbose_name_plural = _("平台买家账号")
        constraints = [
            models.UniqueConstraint(
                fields=["platform", "buyer_id"], name="customers_account_platform_buyer_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.platform}:{self.pk}"
