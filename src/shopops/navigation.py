"""The admin sidebar, grouped by operational area; a group shows only what the user may open."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _

# (group title, [(item title, icon, admin url name, permission)])
AREAS: list[tuple[Any, list[tuple[Any, str, str, str | tuple[str, ...]]]]] = [
    (
        _("工作台"),
        [(_("工作台"), "dashboard", "admin:index", "")],
    ),
    (
        _("商品管理"),
        [
            (_("商品"), "inventory_2", "admin:catalog_product_changelist", "catalog.view_product"),
            (_("SKU"), "style", "admin:catalog_sku_changelist", "catalog.view_sku"),
            (
                _("导入商品"),
                "upload_file",
                "admin:catalog_sku_import_products",
                ("catalog.add_sku", "catalog.change_sku", "catalog.change_price"),  # what the import needs
            ),
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
        _("库存管理"),
        [
            (_("库存"), "inventory", "admin:inventory_stocklevel_changelist", "inventory.view_stocklevel"),
            (
                _("库存流水"),
                "receipt_long",
                "admin:inventory_stockmovement_changelist",
                "inventory.view_stockmovement",
            ),
            (
                _("库存预占"),
                "lock_clock",
                "admin:inventory_reservation_changelist",
                "inventory.view_reservation",
            ),
            (_("盘点单"), "fact_check", "admin:inventory_stocktake_changelist", "inventory.view_stocktake"),
            (_("调拨单"), "local_shipping", "admin:inventory_transfer_changelist", "inventory.view_transfer"),
            (
                _("库存预警线"),
                "notifications_active",
                "admin:inventory_stockthreshold_changelist",
                "inventory.view_stockthreshold",
            ),
            (
                _("渠道库存规则"),
                "tune",
                "admin:inventory_channelstockrule_changelist",
                "inventory.view_channelstockrule",
            ),
            (_("仓库"), "warehouse", "admin:inventory_warehouse_changelist", "inventory.view_warehouse"),
            (_("库位"), "shelves", "admin:inventory_location_changelist", "inventory.view_location"),
            (
                _("组合商品"),
                "category",
                "admin:inventory_bundlecomponent_changelist",
                "inventory.view_bundlecomponent",
            ),
        ],
    ),
    (
        _("采购管理"),
        [
            (
                _("供应商"),
                "local_shipping",
                "admin:purchasing_supplier_changelist",
                "purchasing.view_supplier",
            ),
            (
                _("供应商报价"),
                "request_quote",
                "admin:purchasing_supplierprice_changelist",
                "purchasing.view_supplierprice",
            ),
            (
                _("采购单"),
                "receipt_long",
                "admin:purchasing_purchaseorder_changelist",
                "purchasing.view_purchaseorder",
            ),
            (
                _("补货建议"),
                "add_shopping_cart",
                "admin:purchasing_purchaseorder_replenishment",
                "purchasing.add_purchaseorder",
            ),
            (
                _("采购入库单"),
                "move_to_inbox",
                "admin:purchasing_purchasereceipt_changelist",
                "purchasing.view_purchasereceipt",
            ),
        ],
    ),
    (
        _("订单管理"),
        [
            (_("订单"), "shopping_cart", "admin:orders_order_changelist", "orders.view_order"),
            (_("导入订单"), "upload_file", "admin:orders_order_import_orders", "orders.add_order"),
            (_("审单异常"), "report", "admin:orders_orderissue_changelist", "orders.view_orderissue"),
            (_("商品对应"), "link", "admin:orders_skumapping_unmatched", "orders.view_skumapping"),
            (_("常用筛选"), "filter_alt", "admin:orders_savedfilter_changelist", "orders.view_savedfilter"),
        ],
    ),
    (
        _("客户管理"),
        [
            (_("客户"), "groups", "admin:customers_customer_changelist", "customers.view_customer"),
            (
                _("合并建议"),
                "join_inner",
                "admin:customers_mergesuggestion_changelist",
                "customers.view_mergesuggestion",
            ),
            (_("人群"), "groups_3", "admin:segments_segment_changelist", "segments.view_segment"),
            (_("客户标签"), "sell", "admin:segments_tag_changelist", "segments.view_tag"),
            (
                _("会员账户"),
                "loyalty",
                "admin:loyalty_memberaccount_changelist",
                "loyalty.view_memberaccount",
            ),
            (
                _("积分流水"),
                "receipt_long",
                "admin:loyalty_pointsentry_changelist",
                "loyalty.view_pointsentry",
            ),
            (
                _("会员等级"),
                "military_tech",
                "admin:loyalty_memberlevel_changelist",
                "loyalty.view_memberlevel",
            ),
            (_("积分规则"), "rule", "admin:loyalty_pointsprogram_changelist", "loyalty.view_pointsprogram"),
            (_("营销授权"), "verified_user", "admin:care_consentevent_changelist", "care.view_consentevent"),
            (_("消息模板"), "article", "admin:care_messagetemplate_changelist", "care.view_messagetemplate"),
            (_("发送任务"), "send", "admin:care_send_changelist", "care.view_send"),
            (_("关怀消息"), "sms", "admin:care_message_changelist", "care.view_message"),
            (_("自动旅程"), "route", "admin:care_journey_changelist", "care.view_journey"),
            (
                _("个人信息请求"),
                "privacy_tip",
                "admin:privacy_personaldatarequest_changelist",
                "privacy.view_personaldatarequest",
            ),
        ],
    ),
    (
        _("发货物流"),
        [
            (
                _("发货单"),
                "local_shipping",
                "admin:fulfillment_shipment_changelist",
                "fulfillment.view_shipment",
            ),
            (_("订单发货"), "outbox", "admin:fulfillment_shipment_ship_orders", "fulfillment.ship_shipment"),
            (_("发货超时预警"), "timer", "admin:fulfillment_shipment_at_risk", "fulfillment.view_shipment"),
            (
                _("物流轨迹"),
                "route",
                "admin:fulfillment_trackingevent_changelist",
                "fulfillment.view_trackingevent",
            ),
            (_("快递公司"), "badge", "admin:fulfillment_carrier_changelist", "fulfillment.view_carrier"),
        ],
    ),
    (
        _("售后"),
        [
            (
                _("售后单"),
                "assignment_return",
                "admin:aftersales_aftersalecase_changelist",
                "aftersales.view_aftersalecase",
            ),
            (
                _("售后原因"),
                "category",
                "admin:aftersales_returnreason_changelist",
                "aftersales.view_returnreason",
            ),
        ],
    ),
    (
        _("数据中心"),
        [
            (
                _("数据概览"),
                "monitoring",
                "admin:analytics_datacenter_changelist",
                "analytics.view_datacenter",
            ),
            (_("趋势"), "show_chart", "admin:analytics_datacenter_trends", "analytics.view_datacenter"),
            (
                _("流量来源"),
                "travel_explore",
                "admin:analytics_datacenter_sources",
                "analytics.view_datacenter",
            ),
            (_("商品分析"), "insights", "admin:analytics_datacenter_products", "analytics.view_datacenter"),
            (
                _("客户分析"),
                "diversity_3",
                "admin:analytics_datacenter_customers",
                "analytics.view_datacenter",
            ),
            (_("推广分析"), "campaign", "admin:analytics_datacenter_campaigns", "analytics.view_datacenter"),
            (
                _("平台流量报表"),
                "table_chart",
                "admin:analytics_trafficreport_changelist",
                "analytics.view_trafficreport",
            ),
            (_("推广花费"), "payments", "admin:analytics_adspend_changelist", "analytics.view_adspend"),
            (_("采集站点"), "code", "admin:analytics_collectsite_changelist", "analytics.view_collectsite"),
            (
                _("汇率"),
                "currency_exchange",
                "admin:analytics_exchangerate_changelist",
                "analytics.view_exchangerate",
            ),
            (
                _("报表订阅"),
                "forward_to_inbox",
                "admin:analytics_reportsubscription_changelist",
                "analytics.view_reportsubscription",
            ),
        ],
    ),
    (
        _("渠道店铺"),
        [(_("店铺"), "store", "admin:channels_shop_changelist", "channels.view_shop")],
    ),
    (
        _("预警与通知"),
        [
            (_("预警"), "notification_important", "admin:core_alert_changelist", "core.view_alert"),
            (_("我的通知"), "notifications", "admin:core_notification_changelist", "core.view_notification"),
        ],
    ),
    (
        _("系统"),
        [
            (_("用户"), "person", "admin:accounts_user_changelist", "accounts.view_user"),
            (_("角色"), "group", "admin:auth_group_changelist", "auth.view_group"),
            (_("API 令牌"), "key", "admin:accounts_apitoken_changelist", "accounts.view_apitoken"),
            (
                _("仓库权限"),
                "admin_panel_settings",
                "admin:inventory_warehousescopesetting_changelist",
                "inventory.view_warehousescopesetting",
            ),
            (_("审计记录"), "policy", "admin:core_auditentry_changelist", "core.view_auditentry"),
            (_("备份与恢复"), "backup", "admin:core_restoredrill_changelist", "core.manage_backup"),
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
            if not permission
            or (user.has_perms(permission) if isinstance(permission, tuple) else user.has_perm(permission))
        ]
        if visible:
            groups.append({"title": title, "separator": True, "collapsible": False, "items": visible})
    return groups
