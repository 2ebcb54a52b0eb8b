"""Shops: one selling channel of the merchant on one platform (a Tmall store, a JD store, the own web shop)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from shopops.core.permissions import ScopedQuerySet
from shopops.core.pii import PIIKind


class Platform(models.TextChoices):
    TAOBAO = "taobao", _("淘宝")
    TMALL = "tmall", _("天猫")
    JD = "jd", _("京东")
    PDD = "pdd", _("拼多多")
    DOUYIN = "douyin", _("抖音")
    SHOPIFY = "shopify", _("Shopify")
    OWN = "own", _("自营网店")


class ShopQuerySet(ScopedQuerySet["Shop"]):
    pass


class Shop(models.Model):
    """A shop (店铺) on one platform: where products are listed and orders come from."""

    SCOPE_SHOP_FIELD = "pk"
    PII_FIELDS = {
        "contact_name": PIIKind.NAME,
        "contact_phone": PIIKind.PHONE,
        "return_address": PIIKind.ADDRESS,
    }

    code = models.SlugField(_("店铺编码"), max_length=40, unique=True)
    name = models.CharField(_("店铺名称"), max_length=100)
    platform = models.CharField(_("平台"), max_length=20, choices=Platform.choices)
    timezone = models.CharField(_("时区"), max_length=40, default="Asia/Shanghai")
    is_active = models.BooleanField(_("启用"), default=True)
    contact_name = models.CharField(_("联系人"), max_length=50, blank=True)
    contact_phone = models.CharField(_("联系电话"), max_length=30, blank=True)
    return_address = models.CharField(_("退货地址"), max_length=300, blank=True)
    settings = models.JSONField(_("设置"), default=dict, blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("店铺")
        verbose_name_plural = _("店铺")
        ordering = ["platform", "code"]

    def __str__(self) -> str:
        return f"{self.name}（{self.get_platform_display()}）"
