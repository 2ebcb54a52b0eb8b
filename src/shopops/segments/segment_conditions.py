"""The segment conditions segments itself offers: metrics, RFM, shop, product and category bought, tags.

Every app may ship `<app>/segment_conditions.py` with `conditions() -> list[dict]` (see
`segments.queries.available_conditions` for the keys); these are segments' own, found the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from shopops.catalog.models import Category
from shopops.channels.models import Shop
from shopops.customers.models import Customer
from shopops.orders.models import Order, OrderLine
from shopops.segments.models import RfmClass, Tag

NUMBER_OPERATORS = ["gte", "lte", "gt", "lt", "eq", "ne"]
CHOICE_OPERATORS = ["eq", "ne"]
LOOKUPS = {"gte": "gte", "lte": "lte", "gt": "gt", "lt": "lt", "eq": "exact"}


def compare(field: str) -> Callable[[str, Any], Q]:
    """A number/choice comparison on one column reachable from Customer."""

    def q(operator: str, value: Any) -> Q:
        if operator == "ne":
            return ~Q(**{field: value})
        return Q(**{f"{field}__{LOOKUPS[operator]}": value})

    return q


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def last_order_days(operator: str, value: Any) -> Q:
    """Days between today and the last paid order, both shop-local days (today = 0)."""
    days = int(value)
    today = timezone.localdate()
    field = "segment_metrics__last_paid_at"
    # days_since >= N  <=>  last paid day <= today - N  <=>  paid before the start of day (today - N + 1)
    at_least = Q(**{f"{field}__lt": _day_start(today - dt.timedelta(days=days - 1))})
    at_most = Q(**{f"{field}__gte": _day_start(today - dt.timedelta(days=days))})
    exactly = at_least & Q(**{f"{field}__gte": _day_start(today - dt.timedelta(days=days))})
    conditions = {
        "gte": at_least,
        "lte": at_most,
        "gt": Q(**{f"{field}__lt": _day_start(today - dt.timedelta(days=days))}),
        "lt": Q(**{f"{field}__gte": _day_start(today - dt.timedelta(days=days - 1))}),
        "eq": exactly,
        "ne": Q(**{f"{field}__isnull": False}) & ~exactly,
    }
    return conditions[operator]


def first_order_days(operator: str, value: Any) -> Q:
    """Days between today and the first paid order (新客: 首单在 N 天内)."""
    days = int(value)
    today = timezone.localdate()
    field = "segment_metrics__first_paid_at"
    conditions = {
        "gte": Q(**{f"{field}__lt": _day_start(today - dt.timedelta(days=days - 1))}),
        "lte": Q(**{f"{field}__gte": _day_start(today - dt.timedelta(days=days))}),
    }
    return conditions[operator]


def _bought(operator: str, orders: Q) -> Q:
    paid = Order.objects.filter(orders, paid_at__isnull=False, is_test=False, customer__isnull=False)
    inside = Q(pk__in=paid.values("customer_id"))
    return inside if operator == "eq" else ~inside


def shop(operator: str, value: Any) -> Q:
    return _bought(operator, Q(shop_id=int(value)))


def category(operator: str, value: Any) -> Q:
    root = Category.objects.filter(pk=int(value)).first()
    ids = {int(value)}
    if root is not None:
        frontier = {root.pk}
        while frontier:
            frontier = set(Category.objects.filter(parent_id__in=frontier).values_list("pk", flat=True)) - ids
            ids |= frontier
    lines = OrderLine.objects.filter(sku__product__category_id__in=ids).values("order_id")
    return _bought(operator, Q(pk__in=lines))


def product(operator: str, value: Any) -> Q:
    text = str(value).strip()
    lines = OrderLine.objects.filter(
        Q(merchant_code=text) | Q(sku__product__merchant_code=text)
        if operator == "eq"
        else Q(title__icontains=text)
    )
    return _bought("eq", Q(pk__in=lines.values("order_id")))


def tag(operator: str, value: Any) -> Q:
    inside = Q(segment_tags__tag_id=int(value))
    tagged = Customer.objects.filter(inside).values("pk")
    return Q(pk__in=tagged) if operator == "eq" else ~Q(pk__in=tagged)


def blacklisted(operator: str, value: Any) -> Q:
    flag = value == "yes"
    return Q(is_blacklisted=flag) if operator == "eq" else ~Q(is_blacklisted=flag)


def _money(label: str, field: str) -> dict[str, Any]:
    return {
        "key": field,
        "label": label,
        "kind": "number",
        "operators": NUMBER_OPERATORS,
        "choices": [],
        "q": compare(f"segment_metrics__{field}"),
    }


def conditions() -> list[dict[str, Any]]:
    scores = [(str(score), str(score)) for score in range(1, 6)]
    return [
        {
            "key": "rfm_class",
            "label": _("RFM 分类"),
            "kind": "choice",
            "operators": CHOICE_OPERATORS,
            "choices": [(value, str(label)) for value, label in RfmClass.choices],
            "q": compare("segment_metrics__rfm_class"),
        },
        {
            "key": "rfm_code",
            "label": _("RFM 编码"),
            "kind": "text",
            "operators": ["eq"],
            "choices": [],
            "q": lambda operator, value: Q(segment_metrics__rfm_code=str(value).strip().upper()),
        },
        {
            "key": "r_score",
            "integer": True,
            "label": _("R 分（最近购买）"),
            "kind": "number",
            "operators": NUMBER_OPERATORS,
            "choices": scores,
            "q": compare("segment_metrics__r_score"),
        },
        {
            "key": "f_score",
            "integer": True,
            "label": _("F 分（购买频次）"),
            "kind": "number",
            "operators": NUMBER_OPERATORS,
            "choices": scores,
            "q": compare("segment_metrics__f_score"),
        },
        {
            "key": "m_score",
            "integer": True,
            "label": _("M 分（消费金额）"),
            "kind": "number",
            "operators": NUMBER_OPERATORS,
            "choices": scores,
            "q": compare("segment_metrics__m_score"),
        },
        _money(_("净消费（元）"), "net_spend"),
        _money(_("付款金额（元）"), "paid_total"),
        _money(_("客单价（元）"), "average_order_value"),
        {
            "key": "paid_order_count",
            "integer": True,
            "label": _("付款订单数"),
            "kind": "number",
            "operators": NUMBER_OPERATORS,
            "choices": [],
            "q": compare("segment_metrics__paid_order_count"),
        },
        {
            "key": "refund_order_count",
            "integer": True,
            "label": _("退款订单数"),
            "kind": "number",
            "operators": NUMBER_OPERATORS,
            "choices": [],
            "q": compare("segment_metrics__refund_order_count"),
        },
        {
            "key": "last_order_days",
            "integer": True,
            "label": _("距最近付款天数"),
            "kind": "number",
            "operators": NUMBER_OPERATORS,
            "choices": [],
            "q": last_order_days,
        },
        {
            "key": "first_order_days",
            "integer": True,
            "label": _("距首次付款天数"),
            "kind": "number",
            "operators": ["gte", "lte"],
            "choices": [],
            "q": first_order_days,
        },
        {
            "key": "shop",
            "label": _("购买过的店铺"),
            "kind": "choice",
            "operators": CHOICE_OPERATORS,
            "choices": [
                (str(pk), name) for pk, name in Shop.objects.order_by("name").values_list("pk", "name")
            ],
            "q": shop,
        },
        {
            "key": "category",
            "label": _("购买过的类目"),
            "kind": "choice",
            "operators": CHOICE_OPERATORS,
            "choices": [
                (str(pk), name) for pk, name in Category.objects.order_by("name").values_list("pk", "name")
            ],
            "q": category,
        },
        {
            "key": "product",
            "label": _("购买过的商品"),
            "kind": "text",
            "operators": ["eq", "contains"],
            "choices": [],
            "q": product,
        },
        {
            "key": "tag",
            "label": _("标签"),
            "kind": "choice",
            "operators": CHOICE_OPERATORS,
            "choices": [
                (str(pk), name) for pk, name in Tag.objects.filter(is_active=True).values_list("pk", "name")
            ],
            "q": tag,
        },
        {
            "key": "blacklisted",
            "label": _("黑名单"),
            "kind": "choice",
            "operators": ["eq"],
            "choices": [("yes", _("是")), ("no", _("否"))],
            "q": blacklisted,
        },
    ]
