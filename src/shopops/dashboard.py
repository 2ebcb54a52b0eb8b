"""The 工作台 (admin home): headline numbers (KPI cards) and panels of items that need attention today.

A later area adds its own cards and panels by appending a builder to `KPI_SOURCES` or `PANELS`; each one
names the permission a user needs to see it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import (
    Case,
    DecimalField,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Greatest
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from shopops.aftersales.models import AfterSaleCase
from shopops.analytics.reports import datacenter as analytics_datacenter
from shopops.catalog import queries as catalog_queries
from shopops.catalog import services as catalog_services
from shopops.catalog.models import ListingStatus, Product, ScheduledPriceChange, ScheduledPriceStatus, Sku
from shopops.core.models import Alert, AlertSeverity, AlertStatus
from shopops.core.money import format_cny
from shopops.fulfillment import queries as fulfillment_queries
from shopops.inventory import queries as inventory_queries
from shopops.inventory.models import StockLevel, StockThreshold, Warehouse, warehouse_ids_for
from shopops.orders import queries as order_queries
from shopops.purchasing.models import RECEIVABLE_STATUSES, PurchaseOrder

PANEL_ROWS = 10
# how many of the thinnest-margin SKUs are checked against the price guard (keeps the page cheap)
MARGIN_CANDIDATES = 50


@dataclass(frozen=True)
class Kpi:
    title: str
    value: Any
    link: str = ""
    icon: str = ""


@dataclass(frozen=True)
class Panel:
    """A "needs attention" list: a table, a total and a link to the full list."""

    key: str
    title: str
    headers: list[str]
    rows: list[list[Any]]
    total: int
    link: str = ""
    empty_text: str = field(default_factory=lambda: _("暂无需要处理的事项"))

    @property
    def heading(self) -> str:
        return f"{self.title} · {self.total}" if self.total else self.title

    @property
    def table(self) -> dict[str, Any]:
        return {"headers": self.headers, "rows": self.rows}


@dataclass(frozen=True)
class Source:
    permission: str
    build: Callable[[HttpRequest], Any]


def _sku_link(sku: Sku) -> Any:
    return format_html(
        '<a class="text-primary-600" href="{}">{}</a>',
        reverse("admin:catalog_sku_change", args=[sku.pk]),
        sku.merchant_code,
    )


def catalog_kpis(request: HttpRequest) -> list[Kpi]:
    counts = catalog_queries.catalog_counts()
    listed = sum(row["listed"] for row in counts["listed_per_shop"])
    return [
        Kpi(_("商品"), counts["products"], reverse("admin:catalog_product_changelist"), "inventory_2"),
        Kpi(
            _("SKU（启用/全部）"),
            f"{counts['active_skus']} / {counts['skus']}",
            reverse("admin:catalog_sku_changelist"),
            "style",
        ),
        Kpi(_("类目"), counts["categories"], reverse("admin:catalog_category_changelist"), "account_tree"),
        Kpi(_("品牌"), counts["brands"], reverse("admin:catalog_brand_changelist"), "sell"),
        Kpi(
            _("已上架（商品×店铺）"), listed, reverse("admin:catalog_channellisting_changelist"), "storefront"
        ),
    ]


def below_cost_panel(request: HttpRequest) -> Panel:
    skus = catalog_queries.products_below_cost()
    rows = [
        [
            _sku_link(sku),
            sku.product.name,
            format_cny(sku.sale_price),
            format_cny(sku.cost_price),
            format_cny(sku.cost_price - sku.sale_price),
        ]
        for sku in skus[:PANEL_ROWS]
    ]
    return Panel(
        key="below_cost",
        title=_("售价低于成本的 SKU"),
        headers=[_("商家编码"), _("商品"), _("售价"), _("成本价"), _("每件亏损")],
        rows=rows,
        total=skus.count(),
        link=reverse("admin:catalog_sku_changelist") + "?below_cost=yes",
    )


def below_guard_panel(request: HttpRequest) -> Panel:
    """SKUs (at or above cost) whose sale price breaks the minimum margin or minimum price of their policy."""
    margin = ExpressionWrapper(
        (F("sale_price") - F("cost_price")) / F("sale_price"), output_field=DecimalField()
    )
    candidates = (
        Sku.objects.filter(is_active=True, sale_price__gte=F("cost_price"), sale_price__gt=0)
        .select_related("product")
        .annotate(margin=margin)
        .order_by("margin", "pk")[:MARGIN_CANDIDATES]
    )
    below_min_price = Sku.objects.filter(
        is_active=True,
        min_price__isnull=False,
        sale_price__lt=F("min_price"),
        sale_price__gte=F("cost_price"),
    )
    seen: set[int] = set()
    rows: list[list[Any]] = []
    for sku in [*below_min_price.select_related("product")[:PANEL_ROWS], *candidates]:
        if sku.pk in seen:
            continue
        seen.add(sku.pk)
        issues = catalog_services.check_price_guard(
            sku=sku, sale_price=sku.sale_price, cost_price=sku.cost_price
        )
        if issues and len(rows) < PANEL_ROWS:
            rows.append(
                [
                    _sku_link(sku),
                    sku.product.name,
                    format_cny(sku.sale_price),
                    "；".join(issue.message for issue in issues),
                ]
            )
    return Panel(
        key="below_guard",
        title=_("低于最低毛利率或最低售价的 SKU"),
        headers=[_("商家编码"), _("商品"), _("售价"), _("原因")],
        rows=rows,
        total=len(rows),
        link=reverse("admin:catalog_sku_changelist"),
    )


def upcoming_schedules_panel(request: HttpRequest) -> Panel:
    now = timezone.now()
    schedules = ScheduledPriceChange.objects.filter(
        status=ScheduledPriceStatus.PENDING, starts_at__gte=now, starts_at__lt=now + dt.timedelta(hours=24)
    ).select_related("sku", "sku__product")
    rows = [
        [
            _sku_link(schedule.sku),
            schedule.sku.product.name,
            f"{format_cny(schedule.sku.sale_price)} → {format_cny(schedule.new_price)}",
            date_format(timezone.localtime(schedule.starts_at), "Y-m-d H:i"),
        ]
        for schedule in schedules.order_by("starts_at", "pk")[:PANEL_ROWS]
    ]
    return Panel(
        key="upcoming_schedules",
        title=_("24 小时内生效的定时调价"),
        headers=[_("商家编码"), _("商品"), _("售价"), _("开始时间")],
        rows=rows,
        total=schedules.count(),
        link=reverse("admin:catalog_scheduledpricechange_changelist") + "?status__exact=pending",
    )


def unlisted_products_panel(request: HttpRequest) -> Panel:
    products = (
        Product.objects.filter(status="active")
        .exclude(listings__status=ListingStatus.LISTED)
        .select_related("category")
        .order_by("-created_at", "-pk")
    )
    rows = [
        [
            format_html(
                '<a class="text-primary-600" href="{}">{}</a>',
                reverse("admin:catalog_product_change", args=[product.pk]),
                product.merchant_code,
            ),
            product.name,
            str(product.category),
            date_format(timezone.localtime(product.created_at), "Y-m-d"),
        ]
        for product in products[:PANEL_ROWS]
    ]
    return Panel(
        key="unlisted_products",
        title=_("尚未在任何店铺上架的商品"),
        headers=[_("商家编码"), _("商品"), _("类目"), _("创建时间")],
        rows=rows,
        total=products.count(),
        link=reverse("admin:catalog_product_changelist"),
    )


def _link(url: str, text: str) -> Any:
    return format_html('<a class="text-primary-600" href="{}">{}</a>', url, text)


INVENTORY_ALERT_PREFIX = "inventory."
# stock alert keys end with their warehouse id (`inventory.low_stock:<sku>:<warehouse|all>`)
SEVERITY_RANK = Case(
    When(severity=AlertSeverity.CRITICAL, then=Value(0)),
    When(severity=AlertSeverity.WARNING, then=Value(1)),
    default=Value(2),
    output_field=IntegerField(),
)


def inventory_alerts(user: Any) -> QuerySet[Alert]:
    """Open `inventory.*` alerts in the user's warehouses, most severe first, then newest.

    A user limited to some warehouses sees only the alerts keyed to one of them (not the "all
    warehouses" ones, which sum stock they may not see).
    """
    alerts = Alert.objects.filter(status=AlertStatus.OPEN, kind__startswith=INVENTORY_ALERT_PREFIX)
    if warehouse_ids_for(user) is not None:
        visible = sorted(Warehouse.objects.for_user(user).values_list("pk", flat=True))
        if not visible:
            return alerts.none()
        pattern = r"^inventory\.[a-z_]+:[0-9]+:(" + "|".join(str(pk) for pk in visible) + ")$"
        alerts = alerts.filter(dedup_key__regex=pattern)
    return alerts.annotate(severity_rank=SEVERITY_RANK).order_by("severity_rank", "-last_seen", "-pk")


def inventory_alerts_panel(request: HttpRequest) -> Panel:
    alerts = inventory_alerts(request.user)
    rows = [
        [
            _link(reverse("admin:core_alert_change", args=[alert.pk]), alert.title),
            alert.get_severity_display(),
            date_format(timezone.localtime(alert.last_seen), "Y-m-d H:i"),
        ]
        for alert in alerts[:PANEL_ROWS]
    ]
    return Panel(
        key="inventory_alerts",
        title=_("库存预警"),
        headers=[_("预警"), _("级别"), _("最近出现")],
        rows=rows,
        total=alerts.count(),
        link=reverse("admin:core_alert_changelist")
        + f"?status__exact={AlertStatus.OPEN}&kind__startswith={INVENTORY_ALERT_PREFIX}",
    )


def low_stock_levels(user: Any) -> QuerySet[StockLevel]:
    """Levels in the user's active warehouses whose free stock (on hand − reserved) is at or below their
    line: the warehouse's active low-stock threshold (reorder point) or the safety stock, the higher one.
    Shortest first (free − line), then merchant code."""
    reorder_point = StockThreshold.objects.filter(
        sku_id=OuterRef("sku_id"),
        warehouse_id=OuterRef("warehouse_id"),
        is_active=True,
        low_stock_quantity__isnull=False,
    ).values("low_stock_quantity")[:1]
    return (
        inventory_queries.stock_levels(user=user)
        .filter(warehouse__is_active=True)
        .annotate(
            free=F("on_hand") - F("reserved"),
            reorder_point=Subquery(reorder_point, output_field=IntegerField()),
        )
        .annotate(line=Greatest(Coalesce(F("reorder_point"), Value(0)), F("safety_stock")))
        .filter(Q(reorder_point__isnull=False) | Q(safety_stock__gt=0), free__lte=F("line"))
        .order_by(F("free") - F("line"), "sku__merchant_code", "warehouse_id")
    )


def low_stock_panel(request: HttpRequest) -> Panel:
    levels = low_stock_levels(request.user)
    # annotated rows (free, line), so typed loosely
    page: list[Any] = list(levels.select_related("sku__product")[:PANEL_ROWS])
    rows = [
        [
            _sku_link(level.sku),
            level.sku.product.name,
            level.warehouse.name,
            level.on_hand,
            level.reserved,
            level.free,
            level.line,
        ]
        for level in page
    ]
    return Panel(
        key="low_stock",
        title=_("低库存 SKU"),
        headers=[_("商家编码"), _("商品"), _("仓库"), _("在库"), _("预占"), _("可用（未预占）"), _("预警线")],
        rows=rows,
        total=levels.count(),
        link=reverse("admin:inventory_stocklevel_changelist"),
    )


def overdue_purchase_orders(user: Any) -> QuerySet[PurchaseOrder]:
    """Approved or partly received orders in the user's warehouses expected before today, oldest first."""
    return (
        PurchaseOrder.objects.for_user(user)
        .filter(status__in=RECEIVABLE_STATUSES, expected_date__lt=timezone.localdate())
        .select_related("supplier", "warehouse")
        .order_by("expected_date", "pk")
    )


def _overdue_row(order: PurchaseOrder, today: dt.date) -> list[Any]:
    expected = order.expected_date or today  # always set: the query filters on it
    return [
        _link(reverse("admin:purchasing_purchaseorder_change", args=[order.pk]), order.number),
        order.supplier.name,
        order.warehouse.name,
        order.get_status_display(),
        date_format(expected, "Y-m-d"),
        (today - expected).days,
    ]


def overdue_purchase_orders_panel(request: HttpRequest) -> Panel:
    orders = overdue_purchase_orders(request.user)
    today = timezone.localdate()
    rows = [_overdue_row(order, today) for order in orders[:PANEL_ROWS]]
    return Panel(
        key="overdue_purchase_orders",
        title=_("逾期未到货采购单"),
        headers=[_("采购单号"), _("供应商"), _("仓库"), _("状态"), _("预计到货"), _("逾期天数")],
        rows=rows,
        total=orders.count(),
        link=reverse("admin:purchasing_purchaseorder_changelist"),
    )


def order_kpis(request: HttpRequest) -> list[Kpi]:
    """Yesterday in the user's shops: orders placed, amount paid (支付金额), valid orders placed."""
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    summary = order_queries.day_summary(request.user, yesterday)
    day = yesterday.isoformat()
    orders_url = reverse("admin:orders_order_changelist")
    placed = f"{orders_url}?placed_at_from={day}&placed_at_to={day}"
    return [
        Kpi(_("昨日订单"), summary.orders, placed, "shopping_cart"),
        Kpi(
            _("昨日支付金额"),
            format_cny(summary.paid_amount),
            f"{orders_url}?paid_at_from={day}&paid_at_to={day}",
            "payments",
        ),
        Kpi(_("昨日有效订单"), summary.valid_orders, f"{placed}&is_valid__exact=1", "verified"),
    ]


def order_exceptions_panel(request: HttpRequest) -> Panel:
    issues = order_queries.exception_queue(request.user)
    rows = [
        [
            _link(reverse("admin:orders_order_change", args=[issue.order_id]), issue.order.external_id),
            issue.order.shop.name,
            issue.message,
            date_format(timezone.localtime(issue.created_at), "Y-m-d H:i"),
        ]
        for issue in issues[:PANEL_ROWS]
    ]
    return Panel(
        key="order_exceptions",
        title=_("待处理的审单异常"),
        headers=[_("订单号"), _("店铺"), _("异常"), _("发现时间")],
        rows=rows,
        total=issues.count(),
        link=reverse("admin:orders_orderissue_changelist") + "?status__exact=open",
    )


def unpaid_closing_panel(request: HttpRequest) -> Panel:
    now = timezone.now()
    orders = order_queries.unpaid_closing_soon(request.user, now=now)
    rows = [
        [
            _link(reverse("admin:orders_order_change", args=[order.pk]), order.external_id),
            order.shop.name,
            format_cny(order.paid_amount),
            date_format(timezone.localtime(order.pay_deadline or now), "Y-m-d H:i"),
        ]
        for order in orders[:PANEL_ROWS]
    ]
    return Panel(
        key="unpaid_closing",
        title=_("1 小时内将超时关闭的未付款订单"),
        headers=[_("订单号"), _("店铺"), _("应付金额"), _("付款截止")],
        rows=rows,
        total=orders.count(),
        link=reverse("admin:orders_order_changelist") + "?status__exact=pending_payment",
    )


def ship_at_risk_panel(request: HttpRequest) -> Panel:
    """Paid orders in the user's shops whose shipping promise (发货时效) is broken or about to be."""
    rows = fulfillment_queries.orders_at_risk(user=request.user)
    return Panel(
        key="ship_at_risk",
        title=_("发货超时风险订单"),
        headers=[_("订单号"), _("店铺"), _("付款时间"), _("发货截止"), _("时效"), _("未发件数")],
        rows=[
            [
                _link(reverse("admin:orders_order_change", args=[row.order_id]), row.external_id),
                row.shop_name,
                date_format(timezone.localtime(row.paid_at), "Y-m-d H:i"),
                date_format(timezone.localtime(row.deadline), "Y-m-d H:i"),
                _("已超时 %(hours)s 小时") % {"hours": -row.hours_left}
                if row.is_overdue
                else _("剩 %(hours)s 小时") % {"hours": row.hours_left},
                row.unshipped_units,
            ]
            for row in rows[:PANEL_ROWS]
        ],
        total=len(rows),
        link=reverse("admin:fulfillment_shipment_at_risk"),
    )


def overdue_cases_panel(request: HttpRequest) -> Panel:
    """After-sales cases in the user's shops whose current step passed its deadline (SLA)."""
    cases = (
        AfterSaleCase.objects.overdue(timezone.now())
        .for_user(request.user)
        .select_related("order", "shop")
        .order_by("sla_due_at", "pk")
    )
    return Panel(
        key="overdue_aftersale_cases",
        title=_("超时未处理的售后单"),
        headers=[_("售后单"), _("订单号"), _("店铺"), _("类型"), _("状态"), _("时限")],
        rows=[
            [
                _link(reverse("admin:aftersales_aftersalecase_change", args=[case.pk]), f"#{case.pk}"),
                case.order.external_id,
                case.shop.name,
                case.get_kind_display(),
                case.get_status_display(),
                date_format(timezone.localtime(case.sla_due_at), "Y-m-d H:i") if case.sla_due_at else "",
            ]
            for case in cases[:PANEL_ROWS]
        ],
        total=cases.count(),
        link=reverse("admin:aftersales_aftersalecase_changelist"),
    )


def analytics_kpis(request: HttpRequest) -> list[Kpi]:
    """昨日数据 from the 数据中心 rollups (a link to 数据中心 until they are built)."""
    link = reverse("admin:analytics_datacenter_changelist") + "?preset=yesterday"
    shown = analytics_datacenter.yesterday_kpis(request.user)
    if not shown:
        return [Kpi(_("数据中心"), _("查看昨日数据"), link, "monitoring")]
    return [Kpi(label, value, link, "monitoring") for label, value in shown]


KPI_SOURCES: list[Source] = [
    Source("catalog.view_product", catalog_kpis),
    Source("orders.view_order", order_kpis),
    Source("analytics.view_datacenter", analytics_kpis),
]
PANELS: list[Source] = [
    Source("catalog.view_cost", below_cost_panel),
    Source("catalog.view_cost", below_guard_panel),
    Source("catalog.view_scheduledpricechange", upcoming_schedules_panel),
    Source("catalog.view_product", unlisted_products_panel),
    Source("core.view_alert", inventory_alerts_panel),
    Source("inventory.view_stocklevel", low_stock_panel),
    Source("purchasing.view_purchaseorder", overdue_purchase_orders_panel),
    Source("orders.view_orderissue", order_exceptions_panel),
    Source("orders.view_order", unpaid_closing_panel),
    Source("fulfillment.view_shipment", ship_at_risk_panel),
    Source("aftersales.view_aftersalecase", overdue_cases_panel),
]


def dashboard_callback(request: HttpRequest, context: dict[str, Any]) -> dict[str, Any]:
    user = request.user
    kpis = [
        kpi for source in KPI_SOURCES if user.has_perm(source.permission) for kpi in source.build(request)
    ]
    panels = [source.build(request) for source in PANELS if user.has_perm(source.permission)]
    context.update(
        {
            "title": gettext_lazy("工作台"),
            "kpis": kpis,
            "panels": panels,
            "has_attention": any(p.total for p in panels),
        }
    )
    return context
