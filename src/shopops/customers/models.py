"""Customers: the people who buy (客户档案), known by their platform identities and a hash of their phone number.

A profile joins the identities of one person (`CustomerAccount`: platform + buyer id, with its kind).
Platforms hide who buyers are, so two profiles of one person are not joined automatically: a
`MergeSuggestion` shows the evidence and a person accepts (a `CustomerMerge` records exactly what
moved, so an unmerge puts it back) or rejects it (the pair is never suggested again).
"""

from __future__ import annotations

from django.conf import settings
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
    merged_into = models.ForeignKey(
        "self",
        verbose_name=_("已合并到"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="merged_sources",
        help_text=_("合并后保留的档案；已合并的档案不再出现在列表中"),
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("客户")
        verbose_name_plural = _("客户")
        ordering = ["-id"]
        permissions = [("merge_customer", _("合并客户档案"))]

    def __str__(self) -> str:
        return f"客户 #{self.pk}"


class IdentityKind(models.TextChoices):
    """What a platform identity is: the label operators read beside the (masked) id."""

    TAOBAO = "taobao", _("淘宝会员名/open_uid")
    JD = "jd", _("京东下单帐号")
    PDD = "pdd", _("拼多多买家")
    DOUYIN = "douyin", _("抖音买家")
    SHOPIFY_EMAIL = "shopify_email", _("Shopify 邮箱")
    OWN = "own", _("自营商城账号")
    PHONE_HASH = "phone_hash", _("手机号摘要")
    OTHER = "other", _("其他平台账号")


PLATFORM_KINDS = {
    "taobao": IdentityKind.TAOBAO,
    "tmall": IdentityKind.TAOBAO,
    "jd": IdentityKind.JD,
    "pdd": IdentityKind.PDD,
    "douyin": IdentityKind.DOUYIN,
    "shopify": IdentityKind.SHOPIFY_EMAIL,
    "own": IdentityKind.OWN,
    "phone": IdentityKind.PHONE_HASH,
}


def identity_kind(platform: str) -> str:
    """The identity kind of a buyer id on `platform` (platform codes of channels.Platform, plus "phone")."""
    return str(PLATFORM_KINDS.get(platform, IdentityKind.OTHER))


class CustomerAccount(models.Model):
    """A platform identity (淘宝会员名 / 京东下单帐号 / Shopify 邮箱 / 手机号摘要 …) of a customer profile."""

    PII_FIELDS = {"buyer_id": PIIKind.NAME}

    customer = models.ForeignKey(
        Customer, verbose_name=_("客户"), on_delete=models.CASCADE, related_name="accounts"
    )
    platform = models.CharField(_("平台"), max_length=20)
    kind = models.CharField(
        _("身份类型"), max_length=20, choices=IdentityKind.choices, default=IdentityKind.OTHER
    )
    buyer_id = models.CharField(_("平台买家ID"), max_length=100)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("平台身份")
        verbose_name_plural = _("平台身份")
        constraints = [
            models.UniqueConstraint(
                fields=["platform", "buyer_id"], name="customers_account_platform_buyer_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.platform}:{self.pk}"


class CustomerNote(models.Model):
    """A note an operator keeps on a profile (客服备注): who wrote it and when; notes are not edited."""

    customer = models.ForeignKey(
        Customer, verbose_name=_("客户"), on_delete=models.CASCADE, related_name="notes"
    )
    text = models.TextField(_("备注"), max_length=1000)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("作者"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("客户备注")
        verbose_name_plural = _("客户备注")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"备注 #{self.pk}"


class SuggestionStatus(models.TextChoices):
    PENDING = "pending", _("待处理")
    ACCEPTED = "accepted", _("已合并")
    REJECTED = "rejected", _("已驳回")


class MergeSuggestion(models.Model):
    """Two profiles that look like one person (合并建议), with the evidence; `customer_a` < `customer_b`.

    One row per pair, ever: a rejected pair stays rejected and is never suggested again."""

    customer_a = models.ForeignKey(
        Customer, verbose_name=_("档案 A"), on_delete=models.CASCADE, related_name="+"
    )
    customer_b = models.ForeignKey(
        Customer, verbose_name=_("档案 B"), on_delete=models.CASCADE, related_name="+"
    )
    evidence = models.JSONField(_("依据"), default=list, help_text=_("[{kind, label}]"))
    score = models.PositiveSmallIntegerField(_("依据数"), default=0)
    status = models.CharField(
        _("状态"),
        max_length=10,
        choices=SuggestionStatus.choices,
        default=SuggestionStatus.PENDING,
        db_index=True,
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("处理人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("处理时间"), null=True, blank=True)
    reject_reason = models.CharField(_("驳回原因"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("合并建议")
        verbose_name_plural = _("合并建议")
        ordering = ["-score", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer_a", "customer_b"], name="customers_suggestion_pair_uniq"
            ),
            models.CheckConstraint(
                condition=models.Q(customer_a__lt=models.F("customer_b")),
                name="customers_suggestion_pair_order",
            ),
        ]

    def __str__(self) -> str:
        return f"合并建议 #{self.pk}"


class CustomerMerge(models.Model):
    """One accepted merge: `source` merged into `target`, with exactly what moved (to undo it).

    `moved` maps "app.model" to the ids of the rows that were re-pointed from source to target;
    `target_before` holds the target's fields the merge changed (filled blanks, order times, blacklist)."""

    source = models.ForeignKey(
        Customer, verbose_name=_("被合并档案"), on_delete=models.CASCADE, related_name="merges_out"
    )
    target = models.ForeignKey(
        Customer, verbose_name=_("保留档案"), on_delete=models.CASCADE, related_name="merges_in"
    )
    suggestion = models.ForeignKey(
        MergeSuggestion,
        verbose_name=_("合并建议"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="merges",
    )
    moved = models.JSONField(_("移动的记录"), default=dict)
    target_before = models.JSONField(_("合并前的保留档案"), default=dict)
    merged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("合并人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    merged_at = models.DateTimeField(_("合并时间"), auto_now_add=True)
    unmerged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("撤销人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    unmerged_at = models.DateTimeField(_("撤销时间"), null=True, blank=True)
    unmerge_reason = models.CharField(_("撤销原因"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("档案合并记录")
        verbose_name_plural = _("档案合并记录")
        ordering = ["-merged_at", "-id"]

    def __str__(self) -> str:
        return f"合并 #{self.pk}"
