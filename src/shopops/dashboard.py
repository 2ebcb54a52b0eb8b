"""The 工作台 (admin home): headline numbers (KPI cards) and panels of items that need attention today.

A later area adds its own cards and panels by appending a builder to `KPI_SOURCES` or `PANELS`; each one
names the permission a user needs to see it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

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

from shopops.accounts.roles import ROLES, role_group_name
from shopops.aftersales.models import OPEN_CASE_STATUSES, AfterSaleCase, CaseKind, CaseStatus
from shopops.analytics.reports import datacenter as analytics_datacenter
from shopops.catalog import queries as catalog_queries
from shopops.catalog import services as catalog_services
from shopops.catalog.models import (
    ChannelListing,
    ListingStatus,
    Product,
    PromoPrice,
    ScheduledPriceChange,
    ScheduledPriceStatus,
    Sku,
)
from shopops.core.models import Alert, AlertSeverity, AlertStatus
from shopops.core.money import format_cny
from shopops.customers.models import MergeSuggestion, SuggestionStatus
from shopops.fulfillment import queries as fulfillment_queries
from shopops.fulfillment.models import Shipment, ShipmentStatus
from shopops.inventory import queries as inventory_queries
from shopops.inventory.models import (
    StockLevel,
    Stocktake,
    StocktakeStatus,
    StockThreshold,
    Transfer,
    TransferStatus,
    Warehouse,
    warehouse_ids_for,
)
from shopops.orders import queries as order_queries
from shopops.orders.models import Order, OrderStatus, ReviewStatus
from shopops.privacy.models import OPEN_REQUEST_STATUSES, PersonalDataRequest
from shopops.purchasing.models import RECEIVABLE_STATUSES, PurchaseOrder, PurchaseOrderStatus

PANEL_ROWS = 10
# how many of the thinnest-margin SKUs are checked against the price guard (keeps the page cheap)
MARGIN_CANDIDATES = 50


@dataclass(frozen=True)
class Kpi:
    title: str
    value: Any
    link: str = ""
    icon: str = ""
    hint: str = ""  # what the number counts, when cards side by side could be confused


@dataclass(frozen=True)
class Todo:
    """A to-do count: the number of rows of `link` (an admin list with the same filter) that need work."""

    key: str
    title: str
    count: int
    link: str
    hint: str = ""


WIDE_FROM_COLUMNS = 4


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
    note: str = ""  # where the numbers come from, shown under the table
    wide: bool = False  # spans the page (a table whose columns must all show)

    @property
    def heading(self) -> str:
        return f"{self.title} · {self.total}" if self.total else self.title

    @property
    def spans(self) -> bool:
        """Whether the panel takes the page's width: asked for, or a table of more than four columns
        (half a page wraps product names letter by letter)."""
        return self.wide or len(self.headers) > WIDE_FROM_COLUMNS

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
    now = timezone.now().replace(microsecond=0)
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
        link=changelist(
            "catalog_scheduledpricechange",
            status__exact=ScheduledPriceStatus.PENDING,
            starts_at__gte=now.isoformat(),
            starts_at__lt=(now + dt.timedelta(hours=24)).isoformat(),
        ),
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
        link=changelist(
            "purchasing_purchaseorder",
            status__in=",".join(RECEIVABLE_STATUSES),
            expected_date__lt=timezone.localdate().isoformat(),
        ),
    )


def order_kpis(request: HttpRequest) -> list[Kpi]:
    """Yesterday in the user's shops: orders placed, amount paid (支付金额), valid orders placed."""
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    summary = order_queries.day_summary(request.user, yesterday)
    day = yesterday.isoformat()
    orders_url = reverse("admin:orders_order_changelist")
    placed = f"{orders_url}?placed_at_from={day}&placed_at_to={day}"
    return [
        Kpi(_("昨日订单"), summary.orders, placed, "shopping_cart", _("昨天下单的订单，含未付款")),
        Kpi(
            _("昨日支付金额"),
            format_cny(summary.paid_amount),
            f"{orders_url}?paid_at_from={day}&paid_at_to={day}",
            "payments",
            _("昨天付款的订单金额，未扣退款"),
        ),
        Kpi(
            _("昨日有效订单"),
            summary.valid_orders,
            f"{placed}&is_valid__exact=1",
            "verified",
            _("昨天下单且计入业绩的订单"),
        ),
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
    now = timezone.now().replace(microsecond=0)
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
        link=changelist(
            "orders_order",
            status__exact=OrderStatus.PENDING_PAYMENT,
            pay_deadline__gt=now.isoformat(),
            pay_deadline__lte=(now + order_queries.UNPAID_CLOSING_WINDOW).isoformat(),
        ),
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
    now = timezone.now().replace(microsecond=0)
    cases = (
        AfterSaleCase.objects.overdue(now)
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
        link=changelist(
            "aftersales_aftersalecase",
            status__in=",".join(sorted(OPEN_CASE_STATUSES)),
            sla_due_at__lt=now.isoformat(),
        ),
    )


CURRENCY_SIGNS = {"CNY": "¥", "USD": "US$", "HKD": "HK$", "EUR": "€", "JPY": "JP¥"}


def _amounts(amounts: dict[str, Decimal]) -> str:
    """Per-currency amounts side by side (¥1,200.00 + US$35.00): different currencies are never added."""
    if not amounts:
        return format_cny(Decimal("0.00"))
    return " + ".join(
        format_cny(amount)
        if currency == "CNY"
        else f"{CURRENCY_SIGNS.get(currency, currency + ' ')}{amount.quantize(Decimal('0.01')):,}"
        for currency, amount in sorted(amounts.items(), key=lambda item: (item[0] != "CNY", item[0]))
    )


def _change(now: Decimal | int, before: Decimal | int) -> str:
    if not before:
        return "—"
    percent = (Decimal(now) - Decimal(before)) / Decimal(before) * 100
    return f"{percent.quantize(Decimal('0.1')):+}%"


def _single(amounts: dict[str, Decimal]) -> Decimal | None:
    """The amount when only one currency (or none) is involved; None when currencies are mixed."""
    if len(amounts) > 1:
        return None
    return next(iter(amounts.values()), Decimal("0.00"))


def yesterday_compare_panel(request: HttpRequest) -> Panel:
    """运营/管理员: yesterday against the day before and the same day last week, from the order facts
    (orders paid, each shop's day in its own time zone). 访客数 and 转化率 come from traffic data: the
    数据中心 card beside this one shows them."""
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    days = [order_queries.paid_day(request.user, yesterday - dt.timedelta(days=back)) for back in (0, 1, 7)]
    current, before, last_week = days

    def row(label: str, values: list[Any], shown: list[str]) -> list[Any]:
        now, prev, week = values
        return [
            label,
            shown[0],
            shown[1],
            "—" if now is None or prev is None else _change(now, prev),
            shown[2],
            "—" if now is None or week is None else _change(now, week),
        ]

    averages = [day.average for day in days]
    rows = [
        row(
            _("支付金额"),
            [_single(day.amounts) for day in days],
            [_amounts(day.amounts) for day in days],
        ),
        row(_("支付订单数"), [day.orders for day in days], [str(day.orders) for day in days]),
        row(
            _("客单价（按订单）"),
            [_single(average) if average else None for average in averages],
            [_amounts(average) if average else "—" for average in averages],
        ),
    ]
    return Panel(
        key="yesterday_compare",
        title=_("昨日经营 %(day)s（各店铺按本地时区计日）") % {"day": date_format(yesterday, "Y-m-d")},
        headers=[
            _("指标"),
            _("昨日"),
            _("前一日"),
            _("较前一日"),
            _("上周同日"),
            _("较上周同日"),
        ],
        rows=rows,
        total=0,
        link="",
        wide=True,
        note=_(
            "按付款时间统计已付款订单；不同币种分开列示，不相加。访客数与转化率来自流量数据，见“数据中心”卡片。"
        ),
    )


def analytics_kpis(request: HttpRequest) -> list[Kpi]:
    """昨日数据 from the 数据中心 rollups (a link to 数据中心 until they are built)."""
    link = reverse("admin:analytics_datacenter_changelist") + "?preset=yesterday"
    shown = analytics_datacenter.yesterday_kpis(request.user)
    if not shown:
        return [Kpi(_("数据中心"), _("查看昨日数据"), link, "monitoring")]
    # only what the order cards cannot say (visitors and conversion need traffic data); the paid amount and
    # paid orders are on the order cards and in 昨日经营 already
    values = dict(zip(analytics_datacenter.YESTERDAY_KPIS, (value for _label, value in shown), strict=False))
    titles = {"visitors": _("昨日访客数"), "payment_conversion": _("昨日支付转化率")}
    return [
        Kpi(title, values[code], link, "monitoring", _("来自数据中心（流量数据）"))
        for code, title in titles.items()
        if code in values
    ]


def changelist(model: str, **filters: str) -> str:
    """The admin list of `app_model` with `filters` in its query string (the list applies them as given)."""
    url = reverse(f"admin:{model}_changelist")
    return f"{url}?{urlencode(filters)}" if filters else url


def scoped(model: Any, user: Any) -> QuerySet[Any]:
    """Rows of `model` the user's admin list shows: `for_user` when the model is scoped (as the admin does)."""
    rows = model._default_manager.all()
    return rows.for_user(user) if hasattr(rows, "for_user") else rows


def _todo(request: HttpRequest, key: str, title: str, model: Any, hint: str = "", **filters: Any) -> Todo:
    """A count of `model` rows under `filters` (Django lookups), linked to the model's admin list with the same
    filters."""
    admin_name = f"{model._meta.app_label}_{model._meta.model_name}"
    lookups = {name: list(value) if name.endswith("__in") else value for name, value in filters.items()}
    count = scoped(model, request.user).filter(**lookups).count()
    shown = {
        name: ",".join(value) if name.endswith("__in") else str(value) for name, value in filters.items()
    }
    return Todo(key, title, count, changelist(admin_name, **shown), hint)


def order_todos(request: HttpRequest) -> list[Todo]:
    """运营/客服: orders waiting for review, orders reviewed and waiting to ship, buyer messages on open orders."""
    return [
        _todo(
            request,
            "to_review",
            _("待审核订单"),
            Order,
            _("已付款、未审核"),
            status__exact=OrderStatus.PAID,
            review_status__exact=ReviewStatus.PENDING,
        ),
        _todo(
            request,
            "to_ship",
            _("待发货订单"),
            Order,
            _("已付款、审核通过、未发货"),
            status__exact=OrderStatus.PAID,
            review_status__exact=ReviewStatus.PASSED,
        ),
    ]


def buyer_message_todos(request: HttpRequest) -> list[Todo]:
    """客服: shopops has no buyer chat yet; the buyer's message (买家留言) on an order waiting to ship is shown."""
    return [
        _todo(
            request,
            "buyer_messages",
            _("有买家留言的待发货订单"),
            Order,
            _("暂无聊天消息接入，这里统计订单上的买家留言"),
            status__exact=OrderStatus.PAID,
            buyer_message__gt="",
        )
    ]


def aftersales_todos(request: HttpRequest) -> list[Todo]:
    return [
        _todo(
            request,
            "cases_waiting",
            _("待审核售后单"),
            AfterSaleCase,
            _("买家已申请，等待同意或拒绝"),
            status__exact=CaseStatus.APPLIED,
        ),
        _todo(
            request,
            "returns_arrived",
            _("待质检退货"),
            AfterSaleCase,
            _("退货已收到，等待质检"),
            status__exact=CaseStatus.RECEIVED,
        ),
    ]


def refund_todos(request: HttpRequest) -> list[Todo]:
    """财务/客服: cases whose next step is the refund (refund-only once approved, returns once inspected)."""
    return [
        _todo(
            request,
            "refunds_refund_only",
            _("待退款（仅退款）"),
            AfterSaleCase,
            _("仅退款，已同意"),
            kind__exact=CaseKind.REFUND_ONLY,
            status__exact=CaseStatus.APPROVED,
        ),
        _todo(
            request,
            "refunds_return",
            _("待退款（退货退款）"),
            AfterSaleCase,
            _("退货退款，已质检"),
            kind__exact=CaseKind.RETURN_REFUND,
            status__exact=CaseStatus.INSPECTED,
        ),
    ]


def shipment_todos(request: HttpRequest) -> list[Todo]:
    """仓储: parcels to pick, being picked, packed and waiting to ship."""
    return [
        _todo(request, f"parcels_{status}", title, Shipment, hint, status__exact=status)
        for status, title, hint in (
            (ShipmentStatus.PENDING, _("待拣货包裹"), _("包裹已建，未开始拣货")),
            (ShipmentStatus.PICKING, _("拣货中包裹"), _("已开始拣货，未打包")),
            (ShipmentStatus.PACKED, _("待发出包裹"), _("已打包，未填运单发货")),
        )
    ]


def stock_work_todos(request: HttpRequest) -> list[Todo]:
    """仓储: transfers on their way in, stocktakes still open."""
    todos = []
    if request.user.has_perm("inventory.view_transfer"):
        todos.append(
            _todo(
                request,
                "transfers_to_receive",
                _("待收货调拨单"),
                Transfer,
                _("已发出或部分收货"),
                status__in=(TransferStatus.SHIPPED, TransferStatus.PARTIALLY_RECEIVED),
            )
        )
    if request.user.has_perm("inventory.view_stocktake"):
        todos.append(
            _todo(
                request,
                "open_stocktakes",
                _("未完成的盘点单"),
                Stocktake,
                _("盘点中或待审核"),
                status__in=(StocktakeStatus.COUNTING, StocktakeStatus.SUBMITTED),
            )
        )
    return todos


def purchase_settlement_todos(request: HttpRequest) -> list[Todo]:
    """财务: shopops records no supplier payments yet, so the received orders (to be settled) are counted."""
    return [
        _todo(
            request,
            "purchase_orders_received",
            _("已收货待结算采购单"),
            PurchaseOrder,
            _("已全部收货；系统暂不记录付款，请按对账结果处理"),
            status__exact=PurchaseOrderStatus.RECEIVED,
        )
    ]


def product_todos(request: HttpRequest) -> list[Todo]:
    """美工: products without pictures, SKUs without a sale price, listings still in draft."""
    todos = [
        _todo(
            request,
            "products_without_images",
            _("缺主图的在售商品"),
            Product,
            _("在售商品，一张图片都没有"),
            status__exact="active",
            images__isnull=True,
        ),
        _todo(
            request,
            "skus_without_price",
            _("未定价的 SKU"),
            Sku,
            _("启用中、售价为 0"),
            is_active__exact="1",
            sale_price__exact="0",
        ),
    ]
    if request.user.has_perm("catalog.view_channellisting"):
        todos.append(
            _todo(
                request,
                "draft_listings",
                _("待上架商品"),
                ChannelListing,
                _("已建上架记录，仍是草稿"),
                status__exact=ListingStatus.DRAFT,
            )
        )
    return todos


def promo_todos(request: HttpRequest) -> list[Todo]:
    """推广: promotional prices running now and starting within a week."""
    now = timezone.now().replace(microsecond=0)
    week = now + dt.timedelta(days=7)
    return [
        _todo(
            request,
            "promos_running",
            _("进行中的活动价"),
            PromoPrice,
            _("启用中，当前时间在活动期内"),
            is_active__exact="1",
            starts_at__lte=now.isoformat(),
            ends_at__gt=now.isoformat(),
        ),
        _todo(
            request,
            "promos_starting",
            _("7 天内开始的活动价"),
            PromoPrice,
            _("启用中，尚未开始"),
            is_active__exact="1",
            starts_at__gt=now.isoformat(),
            starts_at__lte=week.isoformat(),
        ),
    ]


def customer_todos(request: HttpRequest) -> list[Todo]:
    """客服/运营: merge suggestions waiting for a decision, personal-data requests not yet closed."""
    todos = [
        _todo(
            request,
            "merge_suggestions",
            _("待处理的合并建议"),
            MergeSuggestion,
            _("疑似同一人的客户档案，确认合并或驳回"),
            status=SuggestionStatus.PENDING,
        )
    ]
    if request.user.has_perm("privacy.view_personaldatarequest"):
        # the list's own 未办结 filter (due=open), so the count and the list it opens agree
        open_requests = scoped(PersonalDataRequest, request.user).filter(status__in=OPEN_REQUEST_STATUSES)
        todos.append(
            Todo(
                "privacy_requests_open",
                _("未办结的个人信息请求"),
                open_requests.count(),
                changelist("privacy_personaldatarequest", due="open"),
                _("查阅复制、更正、删除请求，须在到期日前办结"),
            )
        )
    return todos


# Every card of the 工作台 once, in page order: (key, permission, builder); a role lists the keys it sees.
KPI_SOURCES: dict[str, Source] = {
    "catalog_kpis": Source("catalog.view_product", catalog_kpis),
    "order_kpis": Source("orders.view_order", order_kpis),
    "analytics_kpis": Source("analytics.view_datacenter", analytics_kpis),
}
TODO_SOURCES: dict[str, Source] = {
    "order_todos": Source("orders.view_order", order_todos),
    "buyer_message_todos": Source("orders.view_order", buyer_message_todos),
    "aftersales_todos": Source("aftersales.view_aftersalecase", aftersales_todos),
    "refund_todos": Source("aftersales.view_aftersalecase", refund_todos),
    "shipment_todos": Source("fulfillment.view_shipment", shipment_todos),
    "stock_work_todos": Source("inventory.view_stocklevel", stock_work_todos),
    "purchase_settlement_todos": Source("purchasing.view_purchaseorder", purchase_settlement_todos),
    "product_todos": Source("catalog.view_product", product_todos),
    "promo_todos": Source("catalog.view_promoprice", promo_todos),
    "customer_todos": Source("customers.view_mergesuggestion", customer_todos),
}
PANEL_SOURCES: dict[str, Source] = {
    "yesterday_compare": Source("orders.view_order", yesterday_compare_panel),
    "order_exceptions": Source("orders.view_orderissue", order_exceptions_panel),
    "ship_at_risk": Source("fulfillment.view_shipment", ship_at_risk_panel),
    "overdue_aftersale_cases": Source("aftersales.view_aftersalecase", overdue_cases_panel),
    "unpaid_closing": Source("orders.view_order", unpaid_closing_panel),
    "low_stock": Source("inventory.view_stocklevel", low_stock_panel),
    "inventory_alerts": Source("core.view_alert", inventory_alerts_panel),
    "overdue_purchase_orders": Source("purchasing.view_purchaseorder", overdue_purchase_orders_panel),
    "below_cost": Source("catalog.view_cost", below_cost_panel),
    "below_guard": Source("catalog.view_cost", below_guard_panel),
    "upcoming_schedules": Source("catalog.view_scheduledpricechange", upcoming_schedules_panel),
    "unlisted_products": Source("catalog.view_product", unlisted_products_panel),
}

# One page per role from the same cards (keys above); a user with several roles sees the union, once each.
ROLE_CARDS: dict[str, tuple[str, ...]] = {
    "admin": (*KPI_SOURCES, *TODO_SOURCES, *PANEL_SOURCES),
    "operations": (
        "yesterday_compare",
        "order_kpis",
        "analytics_kpis",
        "order_todos",
        "aftersales_todos",
        "customer_todos",
        "order_exceptions",
        "ship_at_risk",
        "overdue_aftersale_cases",
        "low_stock",
        "overdue_purchase_orders",
        "below_cost",
        "below_guard",
        "unpaid_closing",
    ),
    "customer_service": (
        "aftersales_todos",
        "buyer_message_todos",
        "refund_todos",
        "customer_todos",
        "order_exceptions",
        "overdue_aftersale_cases",
        "unpaid_closing",
        "low_stock",
        "inventory_alerts",
    ),
    "warehouse": (
        "shipment_todos",
        "stock_work_todos",
        "ship_at_risk",
        "low_stock",
        "inventory_alerts",
        "overdue_purchase_orders",
    ),
    "finance": ("yesterday_compare", "refund_todos", "purchase_settlement_todos", "below_cost"),
    "designer": ("catalog_kpis", "product_todos", "unlisted_products"),
    "promotion": ("analytics_kpis", "promo_todos", "upcoming_schedules", "unlisted_products"),
}


def roles_of(user: Any) -> list[str]:
    """The roles (accounts/roles.py) the user holds through their groups; a superuser is an 管理员."""
    if user.is_superuser:
        return ["admin"]
    names = set(user.groups.values_list("name", flat=True))
    return [role for role in ROLES if role_group_name(role) in names]


def cards_for(user: Any) -> set[str]:
    """The card keys of the user's roles; a user without a role sees every card their permissions allow."""
    roles = roles_of(user)
    if not roles:
        return {*KPI_SOURCES, *TODO_SOURCES, *PANEL_SOURCES}
    return {key for role in roles for key in ROLE_CARDS[role]}


def _shown(sources: dict[str, Source], wanted: set[str], user: Any) -> list[Source]:
    return [source for key, source in sources.items() if key in wanted and user.has_perm(source.permission)]


def dashboard_callback(request: HttpRequest, context: dict[str, Any]) -> dict[str, Any]:
    user = request.user
    wanted = cards_for(user)
    kpis = [kpi for source in _shown(KPI_SOURCES, wanted, user) for kpi in source.build(request)]
    todos = [todo for source in _shown(TODO_SOURCES, wanted, user) for todo in source.build(request)]
    panels = [source.build(request) for source in _shown(PANEL_SOURCES, wanted, user)]
    context.update(
        {
            "title": gettext_lazy("工作台"),
            "role_names": [_(role_group_name(role)) for role in roles_of(user)],
            "kpis": kpis,
            "todos": todos,
            "panels": panels,
            "has_attention": any(p.total for p in panels) or any(t.count for t in todos),
        }
    )
    return context
