"""Users of the back office, their shop scope, and personal API tokens."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from shopops.core.pii import PIIKind


class User(AbstractUser):
    """An operator (运营, 客服, 美工, 推广, 仓储, 财务 or admin); roles are groups."""

    PII_FIELDS = {"email": PIIKind.EMAIL, "phone": PIIKind.PHONE, "real_name": PIIKind.NAME}
    AUDIT_EXCLUDE = ("password", "last_login")

    real_name = models.CharField(_("姓名"), max_length=50, blank=True)
    phone = models.CharField(_("手机号"), max_length=20, blank=True)
    has_all_shops = models.BooleanField(
        _("可访问全部店铺"), default=True, help_text=_("关闭后只能访问下方选择的店铺")
    )
    shop_scope = models.ManyToManyField(
        "channels.Shop", verbose_name=_("可访问店铺"), blank=True, related_name="scoped_users"
    )

    class Meta:
        verbose_name = _("用户")
        verbose_name_plural = _("用户")

    def __str__(self) -> str:
        return self.username


class ApiToken(models.Model):
    """A personal API token: only its hash is stored; the secret is shown once at creation."""

    AUDIT_EXCLUDE = ("key_hash",)

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("用户"), on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(_("名称"), max_length=100)
    prefix = models.CharField(_("前缀"), max_length=12, unique=True)
    key_hash = models.CharField(_("密钥哈希"), max_length=64, unique=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    expires_at = models.DateTimeField(_("过期时间"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("吊销时间"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("最近使用"), null=True, blank=True)

    class Meta:
        verbose_name = _("API 令牌")
        verbose_name_plural = _("API 令牌")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="accounts_token_unique_name_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_usable(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)
