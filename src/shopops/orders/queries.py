"""Read models of orders: the one order search (OrderSearch), detail, timeline, exception queue, saved filters, export rows.

Dates in a search are business days in Asia/Shanghai: `placed_from=2026-06-01` means from 2026-06-01 00:00
+08:00, `placed_to=2026-06-01` up to (not including) 2026-06-02 00:00 +08:00.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import (
    Case,
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.utils import timezone

from shopops.channels.models import Platform
from shopops.core.errors import InvalidInput, NotFound
from shopops.core.permissions import shop_ids_for
from shopops.core.pii import can_view_pii, masked_dict
from shopops.core.ratelimit import spend_phone_search
from shopops.core.scope import get_in_scope, out_of_scope
from shopops.customers.services import nick_hash, phone_hash, platform_buyer_id
from shopops.orders.models import (
    FINAL_STATUSES,
    ORDER_TRANSITIONS,
    PHONE_HASH_SHOWN,
    IssueStatus,
    Order,
    OrderEvent,
    OrderIssue,
    OrderLine,
    OrderStatus,
    RefundStatus,
    ReviewStatus,
    SavedFilter,
    masked_search_params,
)

# The one "can this order ship" status set, read off the state machine: the statuses from which an order
# may move to partially shipped or shipped (待发货 and 部分发货). Parcels, the order services and the 工作台
# all use it; fulfillment adds its own rule on top (an order judged invalid in review is not packed).
SHIPPABLE_STATUSES = frozenset(
    status
    for status, targets in ORDER_TRANSITIONS.items()
    if targets & {OrderStatus.PARTIALLY_SHIPPED, OrderStatus.SHIPPED}
)


# An operator's hold (暂停发货): kept as a tag on the order; a held order does not ship until released.
HOLD_TAG = "on_hold"


def is_on_hold(order: Order) -> bool:
    return isinstance(order.tags, list) and HOLD_TAG in order.tags


def shipping_refusal(order: Order) -> str | None:
    """Why the order's status (or an operator's hold) does not let it ship, in words (None when it may)."""
    if order.status in SHIPPABLE_STATUSES:
        if is_on_hold(order):
            return f"订单 {order.external_id} 已暂停发货，恢复发货后才能发货"
        return None
    if order.status in FINAL_STATUSES:
        return f"订单 {order.external_id} 已{order.get_status_display()}，不能发货"
    return f"订单 {order.external_id} 状态为“{order.get_status_display()}”，不能发货"


SHANGHAI = ZoneInfo("Asia/Shanghai")
EARLIEST_DATE = dt.date(2000, 1, 1)
LATEST_DATE = dt.date(2099, 12, 31)
MAX_TEXT = 100
MAX_FLAG = 5
MAX_AMOUNT = Decimal("999999999999.99")
MAX_ID = 2**63 - 1
MOBILE_DIGITS = 11
LAST_DIGITS = 4
DATE_FIELDS = ("placed", "paid", "shipped")
# A partial phone (last four digits, or a masked number as lists show it) narrows little on its own: it must
# come with an order no / buyer / tracking no, or with a shop and a date range of at most this many days.
NARROW_DAYS = 31
MASKED_MOBILE = re.compile(r"^(?:\+?(?:00)?86)?(?P<head>1\d{2})[*xX]{4}(?P<tail>\d{4})$")
PHONE_HASH = re.compile(r"^[0-9a-f]{64}$")
PARTIAL_PHONE_MESSAGE = (
    f"按手机号后四位（或 138****5678 这样的号码）查询时，须同时指定订单号/买家/运单号，"
    f"或店铺加不超过 {NARROW_DAYS} 天的日期范围"
)


class PhoneSearchTooBroad(InvalidInput):
    code = "phone_search_too_broad"


def phone_digits(text: str) -> str:
    """The digits of a phone number as typed (spaces, dashes, +86 dropped)."""
    digits = re.sub(r"\D", "", text)
    if len(digits) == MOBILE_DIGITS + 2 and digits.startswith("86"):
        digits = digits[2:]
    return digits


def masked_mobile(text: str) -> re.Match[str] | None:
    """`138****5678` / `138XXXX5678` (spaces, dashes, +86 allowed): the head and tail digits, or None."""
    return MASKED_MOBILE.match(re.sub(r"[\s\-]", "", text.strip()))


def full_phone_hash(text: str) -> str:
    """The keyed hash of a full mobile number as typed; '' for a partial or unusable one."""
    digits = phone_digits(text)
    return phone_hash(digits) if len(digits) == MOBILE_DIGITS and masked_mobile(text) is None else ""


def is_partial_phone(text: str) -> bool:
    """The last four digits or a masked number: matches many receivers, unlike a full number."""
    return len(phone_digits(text)) == LAST_DIGITS or masked_mobile(text) is not None


def looks_like_phone(term: str) -> bool:
    """A search box term taken as a phone: a full number, its last four digits or a masked number."""
    if masked_mobile(term) is not None:
        return True
    return len(phone_digits(term)) in (MOBILE_DIGITS, LAST_DIGITS) and not any(
        char.isalpha() for char in term
    )


def local_day_start(day: dt.date) -> dt.datetime:
    """00:00 of a business day in Asia/Shanghai, as an aware datetime."""
    return dt.datetime.combine(day, dt.time.min, tzinfo=SHANGHAI)


def _errors_for_text(search: OrderSearch) -> dict[str, str]:
    errors: dict[str, str] = {}
    for name in ("q", "phone", "phone_hash", "sku", "refund_status", "review_status", "platform"):
        value = getattr(search, name)
        if not isinstance(value, str) or len(value) > MAX_TEXT or "\x00" in value:
            errors[name] = f"须为不超过 {MAX_TEXT} 个字符的文本"
    if errors:
        return errors
    if (
        search.phone
        and len(phone_digits(search.phone)) not in (MOBILE_DIGITS, LAST_DIGITS)
        and masked_mobile(search.phone) is None
    ):
        errors["phone"] = "请输入完整的 11 位手机号或后 4 位"
    if search.phone_hash and not PHONE_HASH.match(search.phone_hash):
        errors["phone_hash"] = "无效的手机号摘要"
    choices = {
        "refund_status": RefundStatus.values,
        "review_status": ReviewStatus.values,
        "platform": Platform.values,
    }
    for name, allowed in choices.items():
        value = getattr(search, name)
        if value and value not in allowed:
            errors[name] = f"可选值：{', '.join(allowed)}"
    if not isinstance(search.status, tuple) or any(
        value not in OrderStatus.values for value in search.status
    ):
        errors["status"] = f"可选值：{', '.join(OrderStatus.values)}"
    return errors


def _errors_for_ranges(search: OrderSearch) -> dict[str, str]:
    errors: dict[str, str] = {}
    for prefix in DATE_FIELDS:
        start, end = getattr(search, f"{prefix}_from"), getattr(search, f"{prefix}_to")
        for name, day in ((f"{prefix}_from", start), (f"{prefix}_to", end)):
            if day is not None and not (isinstance(day, dt.date) and EARLIEST_DATE <= day <= LATEST_DATE):
                errors[name] = "日期须在 2000-01-01 与 2099-12-31 之间"
        if f"{prefix}_from" not in errors and f"{prefix}_to" not in errors and start and end and start > end:
            errors[f"{prefix}_to"] = "结束日期不能早于开始日期"
    for name in ("amount_min", "amount_max"):
        amount = getattr(search, name)
        if amount is not None and not (
            isinstance(amount, Decimal) and amount.is_finite() and 0 <= amount <= MAX_AMOUNT
        ):
            errors[name] = "金额须在 0 与 999999999999.99 之间"
    if (
        not errors.keys() & {"amount_min", "amount_max"}
        and search.amount_min is not None
        and search.amount_max is not None
        and search.amount_min > search.amount_max
    ):
        errors["amount_max"] = "最高金额不能低于最低金额"
    if search.flag is not None and not (isinstance(search.flag, int) and 0 <= search.flag <= MAX_FLAG):
        errors["flag"] = "旗帜须为 0–5"
    if search.shop_id is not None and not (isinstance(search.shop_id, int) and 1 <= search.shop_id <= MAX_ID):
        errors["shop_id"] = "无效的店铺 ID"
    return errors


@dataclass(frozen=True)
class OrderSearch:
    """What an operator searches orders by; every field optional, all given ones must match.

    `q`: order no / platform order id, buyer id or nick, or tracking number (exact);
    `phone`: the receiver's full 11-digit mobile (matched by its hash) or its last 4 digits;
    `phone_hash`: the keyed hash of a full mobile (how a saved filter keeps one);
    `sku`: merchant code (of the line or its SKU) or SKU id; dates: Asia/Shanghai business days, inclusive;
    amounts: on the paid amount, inclusive.
    """

    q: str = ""
    phone: str = ""
    phone_hash: str = ""
    sku: str = ""
    status: tuple[str, ...] = ()
    refund_status: str = ""
    review_status: str = ""
    is_valid: bool | None = None
    shop_id: int | None = None
    platform: str = ""
    placed_from: dt.date | None = None
    placed_to: dt.date | None = None
    paid_from: dt.date | None = None
    paid_to: dt.date | None = None
    shipped_from: dt.date | None = None
    shipped_to: dt.date | None = None
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None
    flag: int | None = None
    has_open_issues: bool | None = None

    def __post_init__(self) -> None:
        errors = _errors_for_text(self)
        errors.update(_errors_for_ranges(self))
        if errors:
            raise InvalidInput("筛选条件无效", fields=errors)
        if self.phone and is_partial_phone(self.phone) and not self.is_narrow():
            raise PhoneSearchTooBroad(
                PARTIAL_PHONE_MESSAGE,
                fields={"phone": f"须配合订单号/买家/运单号，或店铺与不超过 {NARROW_DAYS} 天的日期范围"},
            )

    def is_narrow(self) -> bool:
        """Narrow enough for a partial phone: an order no / buyer / tracking no, or a shop and a closed date
        range (placed, paid or shipped) of at most NARROW_DAYS days."""
        if self.q:
            return True
        if self.shop_id is None:
            return False
        for prefix in DATE_FIELDS:
            start, end = getattr(self, f"{prefix}_from"), getattr(self, f"{prefix}_to")
            if start is not None and end is not None and (end - start).days < NARROW_DAYS:
                return True
        return False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, only the fields that are set (what a saved filter stores and an export audit names);
        a full phone number as its keyed hash, so neither keeps the number."""
        data: dict[str, Any] = {}
        for spec in dataclasses.fields(self):
            value = getattr(self, spec.name)
            if value is None or value == "" or value == ():
                continue
            if spec.name == "phone" and full_phone_hash(value):
                data["phone_hash"] = full_phone_hash(value)
                continue
            if isinstance(value, dt.date):
                value = value.isoformat()
            elif isinstance(value, Decimal):
                value = str(value)
            elif isinstance(value, tuple):
                value = list(value)
            data[spec.name] = value
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OrderSearch:
        """Parse stored or submitted parameters (strings allowed); unknown keys or bad values: InvalidInput."""
        if not isinstance(data, Mapping):
            raise InvalidInput("筛选条件须为对象", fields={"params": "须为对象"})
        known = {spec.name for spec in dataclasses.fields(cls)}
        errors = {str(key): "未知的筛选条件" for key in data if key not in known}
        values: dict[str, Any] = {}
        for key, raw in data.items():
            if key in errors or raw is None or raw == "":
                continue
            try:
                values[key] = _PARSERS.get(key, _parse_text)(raw)
            except (TypeError, ValueError, InvalidOperation):
                errors[key] = "格式无效"
        if errors:
            raise InvalidInput("筛选条件无效", fields=errors)
        return cls(**values)


def _parse_text(raw: Any) -> str:
    if not isinstance(raw, str | int):
        raise TypeError(raw)
    return str(raw).strip()


def _parse_date(raw: Any) -> dt.date:
    if isinstance(raw, dt.datetime):
        raise TypeError(raw)
    if isinstance(raw, dt.date):
        return raw
    return dt.date.fromisoformat(str(raw))


def _parse_decimal(raw: Any) -> Decimal:
    if isinstance(raw, bool | float) or not isinstance(raw, str | int | Decimal):
        raise TypeError(raw)
    return Decimal(str(raw).strip())


def _parse_int(raw: Any) -> int:
    if isinstance(raw, bool):
        raise TypeError(raw)
    return int(str(raw).strip())


def _parse_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise ValueError(raw)


def _parse_statuses(raw: Any) -> tuple[str, ...]:
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple):
        raise TypeError(raw)
    return tuple(_parse_text(item) for item in items if str(item).strip())


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "status": _parse_statuses,
    "is_valid": _parse_bool,
    "has_open_issues": _parse_bool,
    "shop_id": _parse_int,
    "flag": _parse_int,
    "amount_min": _parse_decimal,
    "amount_max": _parse_decimal,
    **{f"{prefix}_{end}": _parse_date for prefix in DATE_FIELDS for end in ("from", "to")},
}


def phone_condition(text: str) -> Q:
    """Orders whose receiver phone is this full mobile number (by hash), ends in these 4 digits, or fits a
    masked number (its last four digits, and the first three as the number is written)."""
    masked = masked_mobile(text)
    if masked is not None:
        # the phone is encrypted at rest: the last four digits narrow in SQL (indexed), the head is checked
        # on the decrypted candidates
        head = re.compile(rf"^(\+?(00)?86[ -]?)?{masked['head']}")
        candidates = Order.objects.filter(receiver_phone_last4=masked["tail"]).values_list(
            "pk", "receiver_phone"
        )
        return Q(pk__in=[pk for pk, phone in candidates.iterator(chunk_size=2000) if head.match(phone or "")])
    digits = phone_digits(text)
    if len(digits) == MOBILE_DIGITS:
        return Q(receiver_phone_hash=phone_hash(digits))
    if len(digits) == LAST_DIGITS:
        return Q(receiver_phone_last4=digits)
    raise InvalidInput("请输入完整的 11 位手机号或后 4 位", fields={"phone": "格式无效"})


def sku_condition(text: str) -> Q:
    """Orders with a line of this merchant code (as reported or of the linked SKU) or SKU id."""
    code = text.strip()
    lines = Q(merchant_code=code) | Q(sku__merchant_code=code)
    if code.isdigit() and int(code) <= MAX_ID:
        lines |= Q(sku_id=int(code))
    return Q(pk__in=OrderLine.objects.filter(lines).values("order_id"))


def text_condition(text: str) -> Q:
    value = text.strip()
    buyer = Q(buyer_id=value) | Q(buyer_id=platform_buyer_id(value))  # e-mail/phone ids are stored hashed
    # the nick is encrypted at rest: found by its keyed hash, exactly
    nick = Q(buyer_nick_hash=nick_hash(value))
    return Q(external_id=value) | buyer | nick | Q(tracking_number=value)


def _date_conditions(search: OrderSearch) -> Q:
    condition = Q()
    for prefix in DATE_FIELDS:
        start, end = getattr(search, f"{prefix}_from"), getattr(search, f"{prefix}_to")
        if start is not None:
            condition &= Q(**{f"{prefix}_at__gte": local_day_start(start)})
        if end is not None:
            condition &= Q(**{f"{prefix}_at__lt": local_day_start(end + dt.timedelta(days=1))})
    return condition


def open_issues_exist() -> Exists:
    return Exists(OrderIssue.objects.filter(order=OuterRef("pk"), status=IssueStatus.OPEN))


def apply_search(orders: QuerySet[Order], search: OrderSearch) -> QuerySet[Order]:  # noqa: C901 - one line per criterion
    """Narrow `orders` by every criterion given in `search`."""
    if search.q:
        orders = orders.filter(text_condition(search.q))
    if search.phone:
        orders = orders.filter(phone_condition(search.phone))
    if search.phone_hash:
        orders = orders.filter(receiver_phone_hash=search.phone_hash)
    if search.sku:
        orders = orders.filter(sku_condition(search.sku))
    if search.status:
        orders = orders.filter(status__in=search.status)
    if search.refund_status:
        orders = orders.filter(refund_status=search.refund_status)
    if search.review_status:
        orders = orders.filter(review_status=search.review_status)
    if search.is_valid is not None:
        orders = orders.filter(is_valid=search.is_valid)
    if search.shop_id is not None:
        orders = orders.filter(shop_id=search.shop_id)
    if search.platform:
        orders = orders.filter(shop__platform=search.platform)
    orders = orders.filter(_date_conditions(search))
    if search.amount_min is not None:
        orders = orders.filter(paid_amount__gte=search.amount_min)
    if search.amount_max is not None:
        orders = orders.filter(paid_amount__lte=search.amount_max)
    if search.flag is not None:
        orders = orders.filter(flag=search.flag)
    if search.has_open_issues is not None:
        exists = open_issues_exist()
        orders = orders.filter(exists if search.has_open_issues else ~exists)
    return orders


def search_orders(user: Any, params: OrderSearch) -> QuerySet[Order]:
    """The orders this user may see that match `params`, ready for a list page (shop joined).

    A search by phone spends one of the user's phone searches (core.ratelimit: RateLimited past the budget)."""
    if is_phone_search(params):
        spend_phone_search(user)
    return apply_search(Order.objects.for_user(user), params).select_related("shop")


def is_phone_search(search: OrderSearch) -> bool:
    return bool(search.phone or search.phone_hash)


def order_detail(user: Any, order_id: int) -> Order:
    """One order in the user's scope with its lines (and SKUs), timeline (and actors) and open issues."""
    order = (
        Order.objects.for_user(user)
        .select_related("shop", "customer", "warehouse")
        .prefetch_related(
            Prefetch("lines", queryset=OrderLine.objects.select_related("sku").order_by("line_no")),
            Prefetch(
                "events", queryset=OrderEvent.objects.select_related("actor").order_by("created_at", "pk")
            ),
            Prefetch(
                "issues",
                queryset=OrderIssue.objects.filter(status=IssueStatus.OPEN).order_by("created_at", "pk"),
                to_attr="open_issues",
            ),
        )
        .filter(pk=order_id)
        .first()
    )
    if order is None:
        raise out_of_scope("订单")
    return order


def order_in_scope(user: Any, order_id: int, *, field: str | None = None) -> Order:
    """The order with this id in the user's shops, else the one out-of-scope 404 (on `field`)."""
    return get_in_scope(Order, user, what="订单", field=field, pk=order_id)


def issue_in_scope(user: Any, issue_id: int) -> OrderIssue:
    """A review issue of an order in the user's shops (with its order), else the one out-of-scope 404."""
    issues = OrderIssue.objects.filter(order__in=Order.objects.for_user(user)).select_related("order")
    return get_in_scope(issues, user, what="审单异常", pk=issue_id)


def order_events(user: Any, order_id: int) -> QuerySet[OrderEvent]:
    """The timeline of one order in the user's scope, oldest first."""
    order = order_in_scope(user, order_id)
    return OrderEvent.objects.filter(order=order).select_related("actor").order_by("created_at", "pk")


def issues_for(user: Any) -> QuerySet[OrderIssue]:
    """Review issues of orders in the user's shops."""
    issues = OrderIssue.objects.all()
    allowed = shop_ids_for(user)
    return issues if allowed is None else issues.filter(order__shop_id__in=allowed)


OPEN_FIRST = Case(When(status=IssueStatus.OPEN, then=Value(0)), default=Value(1), output_field=IntegerField())


def exception_queue(
    user: Any, *, status: str = IssueStatus.OPEN, rule: str = "", shop_id: int | None = None
) -> QuerySet[OrderIssue]:
    """The exception queue (审单异常): issues (open ones by default), oldest first, with order and shop."""
    issues = issues_for(user).select_related("order", "order__shop")
    if status:
        issues = issues.filter(status=status)
    if rule:
        issues = issues.filter(rule=rule)
    if shop_id is not None:
        issues = issues.filter(order__shop_id=shop_id)
    return issues.annotate(open_first=OPEN_FIRST).order_by("open_first", "created_at", "pk")


def saved_filters_for(user: Any) -> QuerySet[SavedFilter]:
    """The user's own saved filters and the ones shared with the team."""
    if user is None or not getattr(user, "is_authenticated", False):
        return SavedFilter.objects.none()
    return SavedFilter.objects.filter(Q(owner=user) | Q(is_shared=True)).select_related("owner")


def saved_filter_for(user: Any, filter_id: int) -> SavedFilter:
    saved = saved_filters_for(user).filter(pk=filter_id).first()
    if saved is None:
        raise NotFound("常用筛选不存在", fields={"saved_filter": "不存在"})
    return saved


def saved_params_shown(user: Any, saved: SavedFilter) -> dict[str, Any]:
    """A saved filter's parameters as this user may see them: as stored for its owner and core.view_pii
    holders, with the personal values masked for everyone else (a full phone is stored only as its hash)."""
    if saved.owner_id == getattr(user, "pk", None) or can_view_pii(user):
        return dict(saved.params) if isinstance(saved.params, dict) else {}
    return masked_search_params(saved.params)


def params_text(params: Mapping[str, Any]) -> str:
    """`status=paid；phone=5678` for pages; a stored phone hash as a label, never the hex."""
    return "；".join(
        f"{key}={PHONE_HASH_SHOWN if key == 'phone_hash' else value}" for key, value in params.items()
    )


def saved_search(user: Any, filter_id: int) -> OrderSearch:
    """The search a saved filter stands for, validated again (the rules may have changed since)."""
    return OrderSearch.from_dict(saved_filter_for(user, filter_id).params)


# Export: one row per order; personal-data columns pass through `masked_dict` for the exporting user.

EXPORT_COLUMNS: list[tuple[str, str]] = [
    ("shop", "店铺"),
    ("platform", "平台"),
    ("external_id", "平台订单号"),
    ("status", "订单状态"),
    ("platform_status", "平台原始状态"),
    ("refund_status", "退款状态"),
    ("review_status", "审单状态"),
    ("is_valid", "有效订单"),
    ("placed_at", "下单时间"),
    ("paid_at", "付款时间"),
    ("shipped_at", "发货时间"),
    ("buyer_id", "平台买家ID"),
    ("buyer_nick", "买家昵称"),
    ("buyer_email", "买家邮箱"),
    ("receiver_name", "收货人"),
    ("receiver_phone", "收货人电话"),
    ("receiver_province", "省"),
    ("receiver_city", "市"),
    ("receiver_district", "区县"),
    ("receiver_address", "收货地址"),
    ("goods_amount", "商品总额"),
    ("shipping_fee", "运费"),
    ("shop_discount", "店铺优惠"),
    ("platform_discount", "平台优惠"),
    ("paid_amount", "实付金额"),
    ("merchant_received", "商家实收"),
    ("refunded_amount", "已退款金额"),
    ("carrier_name", "物流公司"),
    ("tracking_number", "运单号"),
    ("buyer_message", "买家留言"),
    ("seller_memo", "卖家备注"),
    ("flag", "旗帜"),
    ("items", "商品明细"),
]
EXPORT_HEADERS = [label for _key, label in EXPORT_COLUMNS]
EXPORT_CHUNK = 2000


def _local_text(value: dt.datetime | None) -> str:
    return timezone.localtime(value, SHANGHAI).strftime("%Y-%m-%d %H:%M:%S") if value else ""


def _items_text(order: Order) -> str:
    return "；".join(
        f"{line.merchant_code or (line.sku.merchant_code if line.sku else '')}×{line.quantity}"
        for line in order.lines.all()
    )


def export_row(user: Any, order: Order) -> list[Any]:
    data: dict[str, Any] = {
        "shop": order.shop.name,
        "platform": order.shop.get_platform_display(),
        "status": order.get_status_display(),
        "refund_status": order.get_refund_status_display(),
        "review_status": order.get_review_status_display(),
        "is_valid": "是" if order.is_valid else "否",
        "placed_at": _local_text(order.placed_at),
        "paid_at": _local_text(order.paid_at),
        "shipped_at": _local_text(order.shipped_at),
        "items": _items_text(order),
    }
    for key, _label in EXPORT_COLUMNS:
        if key not in data:
            data[key] = getattr(order, key)
    shown = masked_dict(user, Order, data)
    return [shown[key] for key, _label in EXPORT_COLUMNS]


def export_queryset(orders: QuerySet[Order]) -> QuerySet[Order]:
    return (
        orders.select_related("shop")
        .prefetch_related(
            Prefetch("lines", queryset=OrderLine.objects.select_related("sku").order_by("line_no"))
        )
        .order_by("placed_at", "pk")
    )


def export_rows(user: Any, orders: QuerySet[Order]) -> Iterator[list[Any]]:
    """Rows for `EXPORT_HEADERS`, streamed in chunks (lines prefetched per chunk)."""
    for order in export_queryset(orders).iterator(chunk_size=EXPORT_CHUNK):
        yield export_row(user, order)


def orders_by_ids(user: Any, order_ids: Iterable[int]) -> QuerySet[Order]:
    return Order.objects.for_user(user).filter(pk__in=list(order_ids))


# Dashboard (工作台) figures.

UNPAID_CLOSING_WINDOW = dt.timedelta(hours=1)


@dataclass(frozen=True)
class DaySummary:
    """One Asia/Shanghai business day: orders placed, paid amount (支付金额: of orders paid that day,
    refunds not deducted) and valid orders placed (the `Order.objects.valid()` definition)."""

    day: dt.date
    orders: int
    paid_amount: Decimal
    valid_orders: int


def day_summary(user: Any, day: dt.date) -> DaySummary:
    start, end = local_day_start(day), local_day_start(day + dt.timedelta(days=1))
    placed = Q(placed_at__gte=start, placed_at__lt=end)
    paid = Q(paid_at__gte=start, paid_at__lt=end)
    totals = (
        Order.objects.for_user(user)
        .filter(placed | paid)
        .aggregate(
            orders=Count("pk", filter=placed),
            valid_orders=Count("pk", filter=placed & Q(is_valid=True)),
            paid_amount=Sum("paid_amount", filter=paid),
        )
    )
    return DaySummary(
        day=day,
        orders=totals["orders"],
        paid_amount=totals["paid_amount"] or Decimal("0.00"),
        valid_orders=totals["valid_orders"],
    )


def unpaid_closing_soon(user: Any, *, now: dt.datetime | None = None) -> QuerySet[Order]:
    """Unpaid orders whose payment deadline falls within the next hour (they close automatically), soonest first."""
    moment = now or timezone.now()
    return (
        Order.objects.for_user(user)
        .filter(
            status=OrderStatus.PENDING_PAYMENT,
            pay_deadline__gt=moment,
            pay_deadline__lte=moment + UNPAID_CLOSING_WINDOW,
        )
        .select_related("shop")
        .order_by("pay_deadline", "pk")
    )


@dataclass(frozen=True)
class UnmatchedKey:
    """One platform line key no SKU matched (商品对应 work list): which shop, what the platform calls it,
    how many orders, lines and units wait on it."""

    shop_id: int
    shop_name: str
    merchant_code: str
    title: str
    spec: str
    orders: int
    lines: int
    units: int

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.merchant_code, "", "") if self.merchant_code else ("", self.title, self.spec)


def unmatched_sku_keys(user: Any, *, shop_id: int | None = None, search: str = "") -> list[UnmatchedKey]:
    """Unmatched order lines of the user's shops grouped by mapping key (code, else title + spec), most
    units first. A coded key shows one of its titles as a hint."""
    lines = OrderLine.objects.filter(sku__isnull=True, order__in=Order.objects.for_user(user))
    if shop_id is not None:
        lines = lines.filter(order__shop_id=shop_id)
    if search.strip():
        term = search.strip()
        lines = lines.filter(
            Q(merchant_code__icontains=term) | Q(title__icontains=term) | Q(spec__icontains=term)
        )
    grouped: dict[tuple[int, str, str, str], dict[str, Any]] = {}
    rows = lines.values("order__shop_id", "order__shop__name", "merchant_code", "title", "spec").annotate(
        line_count=Count("pk"), unit_count=Sum("quantity")
    )
    orders_by_key: dict[tuple[int, str, str, str], set[int]] = {}
    for row in rows:
        code = row["merchant_code"].strip()
        key = (row["order__shop_id"], code, "" if code else row["title"], "" if code else row["spec"])
        entry = grouped.setdefault(
            key,
            {
                "shop": row["order__shop__name"],
                "title": row["title"],
                "spec": row["spec"],
                "lines": 0,
                "units": 0,
            },
        )
        entry["lines"] += row["line_count"]
        entry["units"] += row["unit_count"] or 0
        orders_by_key.setdefault(key, set())
    # distinct orders per key (a coded key groups several titles, whose order counts may overlap)
    for shop, code, title, spec, order_id in lines.values_list(
        "order__shop_id", "merchant_code", "title", "spec", "order_id"
    ):
        code = code.strip()
        orders_by_key[(shop, code, "" if code else title, "" if code else spec)].add(order_id)
    found = [
        UnmatchedKey(
            shop_id=key[0],
            shop_name=entry["shop"],
            merchant_code=key[1],
            title=entry["title"],
            spec=entry["spec"],
            orders=len(orders_by_key[key]),
            lines=entry["lines"],
            units=entry["units"],
        )
        for key, entry in grouped.items()
    ]
    return sorted(
        found, key=lambda item: (-item.units, item.shop_id, item.merchant_code, item.title, item.spec)
    )


@dataclass(frozen=True)
class PaidDay:
    """Orders paid on one business day, each shop's day taken in its own time zone (`Shop.timezone`): a
    US shop's noon order counts on its own date, not Shanghai's. Amounts stay per currency (never added
    across currencies)."""

    day: dt.date
    orders: int
    amounts: dict[str, Decimal]
    orders_by_currency: dict[str, int]

    @property
    def average(self) -> dict[str, Decimal]:
        """Average paid amount per paid order (客单价 by order), per currency."""
        return {
            currency: (amount / self.orders_by_currency[currency]).quantize(Decimal("0.01"))
            for currency, amount in self.amounts.items()
            if self.orders_by_currency.get(currency)
        }


def paid_day(user: Any, day: dt.date) -> PaidDay:
    """Orders of the user's shops paid on `day` (each shop's local date) and their paid amount."""
    from shopops.channels.models import Shop

    condition = Q(pk__in=[])
    for shop_id, zone in Shop.objects.for_user(user).values_list("pk", "timezone"):
        tz = ZoneInfo(zone or "Asia/Shanghai")
        start = dt.datetime.combine(day, dt.time.min, tzinfo=tz)
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
        condition |= Q(shop_id=shop_id, paid_at__gte=start, paid_at__lt=end)
    rows = (
        Order.objects.for_user(user)
        .filter(condition)
        .order_by()
        .values("currency")
        .annotate(orders=Count("pk"), amount=Sum("paid_amount"))
    )
    amounts = {row["currency"]: row["amount"] or Decimal("0.00") for row in rows}
    counts = {row["currency"]: row["orders"] for row in rows}
    return PaidDay(day=day, orders=sum(counts.values()), amounts=amounts, orders_by_currency=counts)
