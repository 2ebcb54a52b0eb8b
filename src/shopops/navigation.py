"""The admin sidebar, grouped by operational area; a group shows only what the user may open."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _

# (group title, [(item title, icon, admin url name, permission)])
AREAS: list[tuple[Any, list[tuple[Any, str, str, str]]]] = [
    (
        _("工作台"),
        [(_("工作台"), "dashboard", "admin:index", "")],
    ),
    (
        _("商品管理"),
        [
            (_("商品"), "inventory_2", "admin:catalog_product_changelist", "catalog.view_product"),
            (_("SKU"), "style", "admin:catalog_sku_changelist", "catalog.view_sku"),
            (_("类目"), "account_tree", "admin:catalog_category_changelist", "catalog.view_category"),
            (_("品牌"), "sell", "admin:catalog_brand_changelist", "catalog.view_brand"),
            (
                _("渠道上下架"),
                "storefront",
                "admin:catalog_channellisting_changelist",
                "catalog.view_channellisting",
            ),
            (_("商家编码规则"), "pin", "admin:catalog_codingrule_changelist", "catalog.view_codingrule"),
        ],
    ),
    (
        _("价格管理"),
        [
            (_("价格历史"), "history", "admin:catalog_pricehistory_changelist", "catalog.view_pricehistory"),
            (
                _("定时调价"),
                "schedule",
                "admin:catalog_scheduledpricechange_changelist",
                "catalog.view_scheduledpricechange",
            ),
            (_("活动价"), "local_offer", "admin:catalog_promoprice_changelist", "catalog.view_promoprice"),
            (_("价格保护"), "shield", "admin:catalog_pricingpolicy_changelist", "catalog.view_pricingpolicy"),
        ],
    ),
    (
        _("渠道店铺"),
        [(_("店铺"), "store", "admin:channels_shop_changelist", "channels.view_shop")],
    ),
    (
        _("系统"),
        [
            (_("用户"), "person", "admin:accounts_user_changelist", "accounts.view_user"),
            (_("角色"), "group", "admin:auth_group_changelist", "auth.view_group"),
            (_("API 令牌"), "key", "admin:accounts_apitoken_changelist", "accounts.view_apitoken"),
            (_("审计记录"), "policy", "admin:core_auditentry_changelist", "core.view_auditentry"),
            (
                _("登录失败记录"),
                "lock_person",
                "admin:axes_accessattempt_changelist",
                "axes.view_accessattempt",
            ),
        ],
    ),
]


def sidebar_navigation(request: HttpRequest) -> list[dict[str, Any]]:
    user = request.user
    groups: list[dict[str, Any]] = []
    for title, items in AREAS:
        visible = [
            {"title": item_title, "icon": icon, "link": reverse_lazy(url_name)}
            for item_title, icon, url_name, permission in items
            if not permission or user.has_perm(permission)
        ]
        if visible:
            groups.append({"title": title, "separator": True, "collapsible": False, "items": visible})
    return groups
