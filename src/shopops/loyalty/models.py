"""会员与积分: membership levels, the program's earning rule, member accounts and the points ledger."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

MONEY: dict[str, Any] = {"max_digits": 14, "decimal_places": 2}


class AppendOnlyError(Exception):
    """Points entries are the ledger: they are never changed or deleted, only appended."""


class MemberLevel(models.Model):
    """A membership level (会员等级) such as 普通会员 or 金卡, reached by spend or order count over a window.

    A customer reaches a level when their valid spend (paid − refunded) in the last `window_days` days is
    at least `min_spend`, or their valid order count in that window is at least `min_orders` (a rule left
    empty does not count). The lowest rank is the base level everybody holds. Upgrades apply at once;
    downgrades only on review (the periodic job or the review button).
    """

    name = models.CharField(_("等级名称"), max_length=30, unique=True)
    rank = models.PositiveSmallIntegerField(
        _("等级序号"), unique=True, help_text=_("越大等级越高，最低的为默认等级")
    )
    min_spend = models.DecimalField(
        _("升级消费额"), **MONEY, null=True, blank=True, help_text=_("统计周期内实付减退款达到此金额即可升级")
    )
    min_orders = models.PositiveIntegerField(
        _("升级订单数"), null=True, blank=True, help_text=_("统计周期内有效订单数达到此数即可升级")
    )
    window_days = models.PositiveIntegerField(_("统计周期（天）"), default=365)
    discount_permille = models.PositiveSmallIntegerField(
        _("会员折扣（‰）"), default=0, help_text=_("减免的千分比，例如 50 表示 95 折")
    )
    free_shipping = models.BooleanField(_("包邮"), default=False)

    class Meta:
        verbose_name = _("会员等级")
        verbose_name_plural = _("会员等级")
        ordering = ["rank"]
        constraints = [
            models.CheckConstraint(
                condition=Q(discount_permille__lte=1000), name="loyalty_level_discount_range"
            ),
            models.CheckConstraint(condition=Q(window_days__gte=1), name="loyalty_level_window_positive"),
        ]

    def __str__(self) -> str:
        return self.name


class EarnOn(models.TextChoices):
    PAID = "paid", _("付款后")
    COMPLETED = "completed", _("交易成功后")


class PointsProgram(models.Model):
    """The points rule (积分规则): one row. Points = ⌊paid amount × points per ¥⌋ (rounded down)."""

    points_per_yuan = models.DecimalField(_("每元积分"), max_digits=8, decimal_places=2, default=1)
    earn_on = models.CharField(_("发放时机"), max_length=10, choices=EarnOn.choices, default=EarnOn.COMPLETED)
    expiry_days = models.PositiveIntegerField(
        _("有效期（天）"), null=True, blank=True, default=365, help_text=_("留空表示永不过期")
    )
    watermark = models.DateTimeField(_("已扫描至"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("积分规则")
        verbose_name_plural = _("积分规则")
        constraints = [
            models.CheckConstraint(
                condition=Q(points_per_yuan__gte=0), name="loyalty_program_rate_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return str(_("积分规则"))


class MemberAccount(models.Model):
    """A customer's membership (会员账户): level and points balance, kept equal to the ledger sum.

    The balance may go below zero (积分欠款) when an order's points are reversed after they were spent.
    """

    customer = models.OneToOneField(
        "customers.Customer", verbose_name=_("客户"), on_delete=models.PROTECT, related_name="member_account"
    )
    level = models.ForeignKey(
        MemberLevel, verbose_name=_("会员等级"), on_delete=models.PROTECT, related_name="+"
    )
    level_since = models.DateTimeField(_("等级生效时间"), default=timezone.now)
    balance = models.IntegerField(_("积分余额"), default=0)
    merged_into = models.ForeignKey(
        "self",
        verbose_name=_("已合并到"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged_accounts",
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("会员账户")
        verbose_name_plural = _("会员账户")
        ordering = ["-id"]
        permissions = [("adjust_points", _("调整积分"))]

    def __str__(self) -> str:
        return f"会员 #{self.customer_id}"


class LevelChange(models.Model):
    """One change of a member's level (等级变更记录): from, to, why and when."""

    account = models.ForeignKey(
        MemberAccount, verbose_name=_("会员账户"), on_delete=models.PROTECT, related_name="level_changes"
    )
    from_level = models.ForeignKey(
        MemberLevel,
        verbose_name=_("原等级"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    to_level = models.ForeignKey(
        MemberLevel, verbose_name=_("新等级"), on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(_("原因"), max_length=200)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("操作人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    changed_at = models.DateTimeField(_("时间"), default=timezone.now)

    class Meta:
        verbose_name = _("等级变更记录")
        verbose_name_plural = _("等级变更记录")
        ordering = ["-changed_at", "-id"]
        default_permissions = ("view",)

    def __str__(self) -> str:
        return f"{self.from_level or '—'} → {self.to_level}"


class EntryKind(models.TextChoices):
    EARN = "earn", _("下单获得")
    SPEND = "spend", _("积分消费")
    EXPIRE = "expire", _("到期清零")
    ADJUST = "adjust", _("人工调整")
    REVERSE = "reverse", _("退款扣回")
    TRANSFER = "transfer", _("合并转移")


class PointsEntryQuerySet(models.QuerySet["PointsEntry"]):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError("points entries are append-only")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("points entries are append-only")


class PointsEntry(models.Model):
    """One change of a member's points (积分流水): the ledger. Append-only; balances equal its sums.

    A positive entry is a lot that expires at `expires_at` (never when empty); negative entries use lots
    up first-in-first-out by expiry date, so what a lot still holds follows from the ledger alone.
    """

    account = models.ForeignKey(
        MemberAccount, verbose_name=_("会员账户"), on_delete=models.PROTECT, related_name="entries"
    )
    kind = models.CharField(_("类型"), max_length=10, choices=EntryKind.choices)
    points = models.IntegerField(_("积分变动"))
    balance_after = models.IntegerField(_("变动后余额"))
    order = models.ForeignKey(
        "orders.Order",
        verbose_name=_("订单"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    expires_at = models.DateTimeField(_("到期时间"), null=True, blank=True)
    reason = models.CharField(_("原因"), max_length=300, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("操作人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("时间"), default=timezone.now, db_index=True)

    objects = PointsEntryQuerySet.as_manager()

    class Meta:
        verbose_name = _("积分流水")
        verbose_name_plural = _("积分流水")
        ordering = ["-id"]
        default_permissions = ("view",)
        constraints = [
            models.UniqueConstraint(
                fields=["order"], condition=Q(kind="earn"), name="loyalty_entry_one_earn_per_order"
            ),
            models.CheckConstraint(condition=~Q(points=0), name="loyalty_entry_points_not_zero"),
            models.CheckConstraint(
                condition=~Q(kind="adjust") | ~Q(reason=""), name="loyalty_entry_adjust_has_reason"
            ),
        ]
        indexes = [
            models.Index(fields=["account", "id"], name="loyalty_entry_account_idx"),
            models.Index(fields=["order", "kind"], name="loyalty_entry_order_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.points:+d}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise AppendOnlyError("points entries are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("points entries are append-only")
