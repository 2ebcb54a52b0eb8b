"""Order review (审单): rules as data, run set-wise over chunks of orders; the valid-order definition.

Valid order (订单有效, what analytics counts): `is_valid` is true exactly when the order is paid
(paid_at set and status not pending_payment/cancelled), is not a test order (`is_test`), and has no
invalidating review issue (a rule with `marks_invalid`) that is open or that an operator confirmed
(resolved with mark_invalid). An operator who ignores such an issue, or resolves it as not invalid,
makes the order valid again. Refunds do not make an order invalid (refund rates are their own KPI).

review_status: invalid (is_test or an open/confirmed invalidating issue) · exception (other open
issues, the queue operators work through) · passed.

Each rule finds at most one open issue per order (database constraint); an issue an operator settled
(ignored, or resolved by a person) is not raised again for that order. Issues whose rule stops firing
are resolved automatically (resolution starting with "系统：").
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from shopops.core import audit
from shopops.core.errors import InvalidInput, required_text
from shopops.core.permissions import check_permission
from shopops.core.scope import out_of_scope
from shopops.orders.models import (
    IssueStatus,
    Order,
    OrderEvent,
    OrderEventKind,
    OrderIssue,
    OrderLine,
    OrderStatus,
    ReviewStatus,
    StockState,
)
from shopops.orders.services.common import add_order_event, compute_is_valid, lock_order

AUTO_PREFIX = "系统："
CHUNK = 2000


@dataclass(frozen=True)
class ReviewRule:
    code: str
    title: str
    marks_invalid: bool
    enabled: bool = True


RULES: tuple[ReviewRule, ...] = (
    ReviewRule("unpaid_timeout", "超时未付款", marks_invalid=True),
    ReviewRule("test_order", "测试订单", marks_invalid=True),
    ReviewRule("duplicate", "疑似重复订单", marks_invalid=True),
    ReviewRule("suspected_fake", "疑似刷单", marks_invalid=True),
    ReviewRule("incomplete_address", "收货信息不完整", marks_invalid=False),
    ReviewRule("blacklisted_buyer", "黑名单买家", marks_invalid=False),
    ReviewRule("sku_unmatched", "商品未匹配SKU", marks_invalid=False),
    ReviewRule("out_of_stock", "库存不足", marks_invalid=False),
)


@dataclass(frozen=True)
class ReviewSettings:
    """Thresholds of the rules; override with the Django setting ORDER_REVIEW = {name: value}."""

    test_keywords: tuple[str, ...] = ("测试", "test")
    duplicate_window_minutes: int = 30
    fake_window_days: int = 7
    fake_shared_receiver_buyers: int = 5  # this many different buyers on one receiver phone in the window
    fake_min_paid_amount: Decimal = Decimal("0.00")
    fake_buyer_orders_per_hour: int = 10  # more orders than this from one buyer in an hour
    disabled_rules: tuple[str, ...] = field(default_factory=tuple)


def review_settings() -> ReviewSettings:
    overrides = dict(getattr(settings, "ORDER_REVIEW", {}) or {})
    for key in ("test_keywords", "disabled_rules"):
        if key in overrides:
            overrides[key] = tuple(overrides[key])
    if "fake_min_paid_amount" in overrides:
        overrides["fake_min_paid_amount"] = Decimal(str(overrides["fake_min_paid_amount"]))
    return replace(ReviewSettings(), **overrides)


def active_rules(config: ReviewSettings) -> dict[str, ReviewRule]:
    return {rule.code: rule for rule in RULES if rule.enabled and rule.code not in config.disabled_rules}


def _buyer(order: Order) -> str:
    if order.buyer_id:
        return f"b:{order.buyer_id}"
    return f"c:{order.customer_id}" if order.customer_id else ""


@dataclass
class _Chunk:
    # Order instances (`_load`) or NewOrder (`review_new_orders`): the rules read attributes only
    orders: list[Any]
    skus: dict[int, frozenset[tuple[Any, int]]]
    unmatched: set[int]


# What the rules and the outcome read of an order: loading only these keeps a chunk of thousands cheap
# (an Order row has some fifty columns).
REVIEWED_FIELDS = (
    "pk",
    "shop_id",
    "status",
    "is_test",
    "buyer_id",
    "customer_id",
    "customer__is_blacklisted",
    "customer__blacklist_reason",
    "receiver_hash",
    "receiver_phone_hash",
    "receiver_phone",
    "receiver_province",
    "receiver_city",
    "receiver_address",
    "buyer_message",
    "seller_memo",
    "paid_amount",
    "placed_at",
    "paid_at",
    "pay_deadline",
    "external_id",
    "stock_state",
    "review_status",
    "is_valid",
)


def _load(order_ids: list[int]) -> _Chunk:
    orders = list(
        Order.objects.filter(pk__in=order_ids)
        .select_related("customer")
        .only(*REVIEWED_FIELDS)
        .order_by("pk")
    )
    skus: dict[int, set[tuple[Any, int]]] = defaultdict(set)
    unmatched: set[int] = set()
    for order_id, sku_id, code, quantity in OrderLine.objects.filter(order_id__in=order_ids).values_list(
        "order_id", "sku_id", "merchant_code", "quantity"
    ):
        skus[order_id].add((sku_id or code, quantity))
        if sku_id is None:
            unmatched.add(order_id)
    return _Chunk(orders, {key: frozenset(value) for key, value in skus.items()}, unmatched)


def _duplicates(chunk: _Chunk, config: ReviewSettings) -> dict[int, str]:
    """Later orders of the same buyer, receiver, SKUs and paid amount in one shop within the window."""
    window = dt.timedelta(minutes=config.duplicate_window_minutes)
    keyed = [order for order in chunk.orders if _buyer(order) and order.receiver_hash]
    if not keyed:
        return {}
    low = min(order.placed_at for order in keyed) - window
    high = max(order.placed_at for order in keyed) + window
    candidates = list(
        Order.objects.filter(
            shop_id__in={order.shop_id for order in keyed},
            receiver_hash__in={order.receiver_hash for order in keyed},
            placed_at__gte=low,
            placed_at__lte=high,
        ).only(
            "pk",
            "shop_id",
            "buyer_id",
            "customer_id",
            "receiver_hash",
            "paid_amount",
            "placed_at",
            "external_id",
        )
    )
    missing = [candidate.pk for candidate in candidates if candidate.pk not in chunk.skus]
    skus = dict(chunk.skus)
    if missing:
        more: dict[int, set[tuple[Any, int]]] = defaultdict(set)
        for order_id, sku_id, code, quantity in OrderLine.objects.filter(order_id__in=missing).values_list(
            "order_id", "sku_id", "merchant_code", "quantity"
        ):
            more[order_id].add((sku_id or code, quantity))
        skus.update({key: frozenset(value) for key, value in more.items()})
    groups: dict[tuple[Any, ...], list[Order]] = defaultdict(list)
    for candidate in candidates:
        key = (
            candidate.shop_id,
            _buyer(candidate),
            candidate.receiver_hash,
            candidate.paid_amount,
            skus.get(candidate.pk),
        )
        groups[key].append(candidate)
    found: dict[int, str] = {}
    for order in keyed:
        key = (order.shop_id, _buyer(order), order.receiver_hash, order.paid_amount, skus.get(order.pk))
        for other in groups.get(key, []):
            earlier = (other.placed_at, other.pk) < (order.placed_at, order.pk)
            if (
                earlier
                and other.external_id != order.external_id
                and order.placed_at - other.placed_at <= window
            ):
                found[order.pk] = f"与订单 {other.external_id} 的买家、收货人、商品和金额相同"
                break
    return found


def _suspected_fakes(chunk: _Chunk, config: ReviewSettings) -> dict[int, str]:
    found: dict[int, str] = {}
    window = dt.timedelta(days=config.fake_window_days)
    phoned = [
        order
        for order in chunk.orders
        if order.receiver_phone_hash and order.paid_amount >= config.fake_min_paid_amount
    ]
    if phoned:
        rows = Order.objects.filter(
            receiver_phone_hash__in={order.receiver_phone_hash for order in phoned},
            placed_at__gte=min(order.placed_at for order in phoned) - window,
            placed_at__lte=max(order.placed_at for order in phoned),
        ).values_list("receiver_phone_hash", "buyer_id", "customer_id", "placed_at")
        by_phone: dict[str, list[tuple[str, dt.datetime]]] = defaultdict(list)
        for phone, buyer_id, customer_id, placed_at in rows:
            buyer = f"b:{buyer_id}" if buyer_id else f"c:{customer_id}" if customer_id else ""
            if buyer:
                by_phone[phone].append((buyer, placed_at))
        for order in phoned:
            buyers = {
                buyer
                for buyer, placed_at in by_phone[order.receiver_phone_hash]
                if order.placed_at - window <= placed_at <= order.placed_at
            }
            if len(buyers) >= config.fake_shared_receiver_buyers:
                found[order.pk] = f"同一收货电话 {config.fake_window_days} 天内有 {len(buyers)} 个不同买家"
    found.update(_busy_buyers(chunk, config, exclude=set(found)))
    return found


def _busy_buyers(chunk: _Chunk, config: ReviewSettings, *, exclude: set[int]) -> dict[int, str]:
    hour = dt.timedelta(hours=1)
    with_buyer = [order for order in chunk.orders if order.buyer_id and order.pk not in exclude]
    if not with_buyer:
        return {}
    times: dict[tuple[int, str], list[dt.datetime]] = defaultdict(list)
    for shop_id, buyer_id, placed_at in Order.objects.filter(
        shop_id__in={order.shop_id for order in with_buyer},
        buyer_id__in={order.buyer_id for order in with_buyer},
        placed_at__gte=min(order.placed_at for order in with_buyer) - hour,
        placed_at__lte=max(order.placed_at for order in with_buyer),
    ).values_list("shop_id", "buyer_id", "placed_at"):
        times[(shop_id, buyer_id)].append(placed_at)
    found: dict[int, str] = {}
    for order in with_buyer:
        count = sum(
            1
            for placed_at in times[(order.shop_id, order.buyer_id)]
            if order.placed_at - hour < placed_at <= order.placed_at
        )
        if count > config.fake_buyer_orders_per_hour:
            found[order.pk] = f"同一买家 1 小时内下单 {count} 笔"
    return found


def _simple_findings(order: Any, unmatched: bool, config: ReviewSettings, now: dt.datetime) -> dict[str, str]:
    """The rules that read only the order itself (and whether a line has no SKU): all but duplicate and
    suspected_fake, which look at other orders in the database."""
    found: dict[str, str] = {}
    if order.status == OrderStatus.PENDING_PAYMENT and order.pay_deadline and order.pay_deadline < now:
        found["unpaid_timeout"] = "超过付款截止时间仍未付款"
    text = f"{order.buyer_message} {order.seller_memo}".lower()
    keyword = next((word for word in config.test_keywords if word.lower() in text), None)
    if order.is_test or keyword:
        found["test_order"] = "标记为测试订单" if order.is_test else f"留言或备注含“{keyword}”"
    if order.status != OrderStatus.CANCELLED:
        missing = [
            label
            for label, value in (
                ("省", order.receiver_province),
                ("市", order.receiver_city),
                ("详细地址", order.receiver_address),
                ("电话", order.receiver_phone),
            )
            if not value.strip()
        ]
        if missing:
            found["incomplete_address"] = "缺少" + "、".join(missing)
    if order.customer is not None and order.customer.is_blacklisted:
        found["blacklisted_buyer"] = f"买家在黑名单中：{order.customer.blacklist_reason}"[:300]
    if unmatched:
        found["sku_unmatched"] = "有商品行未匹配到SKU（商家编码未知）"
    if order.stock_state == StockState.SHORT:
        found["out_of_stock"] = "库存不足，未能预占全部商品"
    return found


def _settled_by_operator(issue: OrderIssue) -> bool:
    if issue.status == IssueStatus.IGNORED:
        return True
    return issue.status == IssueStatus.RESOLVED and not issue.resolution.startswith(AUTO_PREFIX)


@dataclass
class _NewIssue:
    """An issue this review opens: a plain row for one INSERT per chunk, no model instance."""

    order_id: int
    rule: str
    message: str
    marks_invalid: bool
    pk: None = None


@dataclass
class _Plan:
    """What a review chunk writes, collected first so that each kind of write is one statement."""

    to_create: list[_NewIssue] = field(default_factory=list)
    to_close: list[int] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    changed: list[Any] = field(default_factory=list)
    result: dict[int, list[str]] = field(default_factory=dict)
    # the timeline message of each review status, translated once per chunk (gettext per order was slow)
    labels: dict[str, str] = field(default_factory=lambda: {s: str(s.label) for s in ReviewStatus})


def _is_invalidating(open_rules: dict[str, OrderIssue | _NewIssue], existing: list[OrderIssue]) -> bool:
    # plain loops, not any(generator): a new order's review calls this with nothing to look at
    for issue in existing:
        if (
            issue.marks_invalid
            and issue.status == IssueStatus.RESOLVED
            and not issue.resolution.startswith(AUTO_PREFIX)
        ):
            return True
    for open_issue in open_rules.values():
        if open_issue.marks_invalid:
            return True
    return False


def _outcome(
    order: Any, open_rules: dict[str, OrderIssue | _NewIssue], existing: list[OrderIssue]
) -> tuple[str, bool]:
    """(review_status, is_valid) of an order with these open issues (and its settled ones)."""
    invalidating = _is_invalidating(open_rules, existing)
    valid = compute_is_valid(order, has_invalidating_issue=invalidating)
    if invalidating or order.is_test:
        return ReviewStatus.INVALID, valid
    return (ReviewStatus.EXCEPTION if open_rules else ReviewStatus.PASSED), valid


def _decide(
    order: Any,
    wanted: dict[str, str],
    existing: list[OrderIssue],
    rules: dict[str, ReviewRule],
    actor_id: int | None,
    plan: _Plan,
) -> None:
    open_rules: dict[str, OrderIssue | _NewIssue] = {}
    settled: set[str] = set()
    if existing:  # a new order (every order of an import) has none: no comprehensions to run
        open_rules = {issue.rule: issue for issue in existing if issue.status == IssueStatus.OPEN}
        settled = {issue.rule for issue in existing if _settled_by_operator(issue)}
    for code, message in wanted.items():
        if code not in open_rules and code not in settled:
            new = _NewIssue(
                order_id=order.pk, rule=code, message=message[:300], marks_invalid=rules[code].marks_invalid
            )
            plan.to_create.append(new)
            open_rules[code] = new
    for code, issue in list(open_rules.items()):
        if code not in wanted and issue.pk is not None:
            plan.to_close.append(issue.pk)
            del open_rules[code]
    status, valid = _outcome(order, open_rules, existing)
    plan.result[order.pk] = sorted(open_rules)
    if (status, valid) == (order.review_status, order.is_valid):
        return
    if status != order.review_status:
        plan.events.append(
            {
                "order_id": order.pk,
                "kind": OrderEventKind.REVIEWED,
                "actor_id": actor_id,
                "via": "system",
                "message": plan.labels[status],
                "changes": {"review_status": [order.review_status, status], "issues": sorted(open_rules)},
            }
        )
    order.review_status, order.is_valid = status, valid
    plan.changed.append(order)


def _other_order_findings(
    chunk: _Chunk, config: ReviewSettings, rules: dict[str, ReviewRule], findings: dict[int, dict[str, str]]
) -> None:
    """Add what the rules that compare with other orders in the database find (duplicate, fake)."""
    if "duplicate" in rules:
        for order_id, message in _duplicates(chunk, config).items():
            findings[order_id]["duplicate"] = message
    if "suspected_fake" in rules:
        for order_id, message in _suspected_fakes(chunk, config).items():
            findings[order_id]["suspected_fake"] = message


def _actor_id(actor: Any) -> int | None:
    user = audit.user_or_none(actor)
    return user.pk if user is not None else None


def _review_chunk(
    order_ids: list[int], actor: Any, config: ReviewSettings, now: dt.datetime
) -> dict[int, list[str]]:
    rules = active_rules(config)
    chunk = _load(order_ids)
    findings: dict[int, dict[str, str]] = {
        order.pk: _simple_findings(order, order.pk in chunk.unmatched, config, now) for order in chunk.orders
    }
    _other_order_findings(chunk, config, rules, findings)
    issues: dict[int, list[OrderIssue]] = defaultdict(list)
    for issue in OrderIssue.objects.filter(order_id__in=order_ids):
        issues[issue.order_id].append(issue)
    plan = _Plan()
    actor_id = _actor_id(actor)
    for order in chunk.orders:
        wanted = {code: message for code, message in findings[order.pk].items() if code in rules}
        _decide(order, wanted, issues[order.pk], rules, actor_id, plan)
    outcomes: dict[tuple[str, bool], list[int]] = defaultdict(list)
    for order in plan.changed:
        outcomes[(order.review_status, order.is_valid)].append(order.pk)
    _write(plan, outcomes, now)
    return plan.result


def _write(plan: _Plan, outcomes: dict[tuple[str, bool], list[int]], now: dt.datetime) -> None:
    """A chunk's writes: issues closed and opened, the outcomes (one UPDATE each), the timeline events."""
    to_close, to_create, events = plan.to_close, plan.to_create, plan.events
    if to_close:
        OrderIssue.objects.filter(pk__in=to_close, status=IssueStatus.OPEN).update(
            status=IssueStatus.RESOLVED, resolved_at=now, resolution=f"{AUTO_PREFIX}规则不再命中"
        )
    # One INSERT per chunk (bulk_create sends ~100 rows per statement on SQLite and builds instances).
    # A concurrent review of the same order may have opened the same issue: the open-per-rule index
    # keeps one, the other row is skipped.
    # imported here: the imports package imports these services (a cycle at module level)
    from shopops.orders.imports.bulk import Inserter

    Inserter(OrderIssue).insert(
        (
            {
                "order_id": issue.order_id,
                "rule": issue.rule,
                "message": issue.message,
                "marks_invalid": issue.marks_invalid,
            }
            for issue in to_create
        ),
        ignore_conflicts=True,
    )
    for (review_status, is_valid), ids in outcomes.items():
        # one UPDATE per outcome: bulk_update's CASE per row cost more than the rest of the review
        Order.objects.filter(pk__in=ids).update(review_status=review_status, is_valid=is_valid)
    Inserter(OrderEvent).insert(events)


REVIEW_STATUS_DEFAULT = str(Order._meta.get_field("review_status").get_default())
IS_VALID_DEFAULT = bool(Order._meta.get_field("is_valid").get_default())


class NewOrder:
    """A new order as the review reads it, from the values its creator holds (an import writes
    thousands per chunk; loading them back cost a tenth of the import). Attributes: the
    `REVIEWED_FIELDS`, `customer` (the Customer or None) and the lines' SKUs. `pk` is None until the
    order is inserted; review_status and is_valid start as the model's defaults, as a new row does."""

    __slots__ = (
        "pk",
        "shop_id",
        "status",
        "is_test",
        "buyer_id",
        "customer_id",
        "customer",
        "receiver_hash",
        "receiver_phone_hash",
        "receiver_phone",
        "receiver_province",
        "receiver_city",
        "receiver_address",
        "buyer_message",
        "seller_memo",
        "paid_amount",
        "placed_at",
        "paid_at",
        "pay_deadline",
        "external_id",
        "stock_state",
        "review_status",
        "is_valid",
        "skus",
        "unmatched",
        "findings",
    )

    shop_id: int
    status: str
    is_test: bool
    buyer_id: str
    receiver_hash: str
    receiver_phone_hash: str
    receiver_phone: str
    receiver_province: str
    receiver_city: str
    receiver_address: str
    buyer_message: str
    seller_memo: str
    paid_amount: Decimal
    placed_at: dt.datetime
    paid_at: dt.datetime | None
    pay_deadline: dt.datetime | None
    external_id: str
    stock_state: str

    def __init__(
        self, values: dict[str, Any], customer: Any, lines: list[tuple[int | None, str, int]]
    ) -> None:
        """`values`: the order's column values by attname (shop_id, status, ...); `lines`: (sku id or
        None, merchant code, quantity) per line."""
        self.pk: Any = None  # the id, once inserted
        for name in NEW_ORDER_VALUES:
            setattr(self, name, values[name])
        self.customer = customer
        self.customer_id = customer.pk if customer is not None else None
        self.review_status = REVIEW_STATUS_DEFAULT
        self.is_valid = IS_VALID_DEFAULT
        self.skus = frozenset((sku_id or code, quantity) for sku_id, code, quantity in lines)
        self.unmatched = any(sku_id is None for sku_id, _code, _quantity in lines)
        self.findings: dict[str, str] = {}


NEW_ORDER_VALUES = tuple(
    name
    for name in NewOrder.__slots__
    if name
    not in {"pk", "customer", "customer_id", "review_status", "is_valid", "skus", "unmatched", "findings"}
)


def new_order_outcome(
    order: NewOrder, config: ReviewSettings, now: dt.datetime, rules: dict[str, ReviewRule] | None = None
) -> tuple[str, bool]:
    """The review outcome (review_status, is_valid) of a new, not yet inserted order from the rules
    that read only the order itself, so that its INSERT can carry it. `review_new_orders` (after the
    insert) adds what the rules comparing with other orders find and corrects the few that changes.
    `rules`: `active_rules(config)`, when the caller has it (a chunk computes it once)."""
    rules = active_rules(config) if rules is None else rules
    order.findings = _simple_findings(order, order.unmatched, config, now)
    open_rules: dict[str, OrderIssue | _NewIssue] = {
        code: _NewIssue(order_id=0, rule=code, message="", marks_invalid=rules[code].marks_invalid)
        for code in order.findings
        if code in rules
    }
    return _outcome(order, open_rules, [])


def review_new_orders(
    orders: list[NewOrder],
    *,
    written: list[tuple[str, bool]],
    actor: Any = None,
    config: ReviewSettings,
    now: dt.datetime,
) -> dict[int, list[str]]:
    """`review_orders` for orders created in this transaction (so without issues yet) from the values
    their creator holds: `new_order_outcome` gave each its simple findings and `written`, the outcome
    its INSERT stored. Runs the rules that compare with other orders (the new ones are in the database
    now), opens the issues, adds the `reviewed` events as for any new order, and UPDATEs only the orders
    whose outcome differs from what was written. Same result as `review_orders` on their ids."""
    missing = [order.external_id for order in orders if order.pk is None]
    if missing:
        raise ValueError(f"review_new_orders: orders not inserted yet: {missing[:5]}")
    rules = active_rules(config)
    result: dict[int, list[str]] = {}
    actor_id = _actor_id(actor)
    for start in range(0, len(orders), CHUNK):
        part = orders[start : start + CHUNK]
        stored = written[start : start + CHUNK]
        chunk = _Chunk(
            list(part),
            {order.pk: order.skus for order in part if order.skus},
            {order.pk for order in part if order.unmatched},
        )
        findings = {order.pk: dict(order.findings) for order in part}
        _other_order_findings(chunk, config, rules, findings)
        plan = _Plan()
        for order in part:
            wanted = {code: message for code, message in findings[order.pk].items() if code in rules}
            _decide(order, wanted, [], rules, actor_id, plan)
        outcomes: dict[tuple[str, bool], list[int]] = defaultdict(list)
        for order, outcome in zip(part, stored, strict=True):
            if (order.review_status, order.is_valid) != outcome:
                outcomes[(order.review_status, order.is_valid)].append(order.pk)
        with transaction.atomic():  # a chunk's writes together, as `review_orders` does
            _write(plan, outcomes, now)
        result.update(plan.result)
    return result


def review_orders(*, order_ids: list[int], actor: Any = None) -> dict[int, list[str]]:
    """Run the review rules (审单) over these orders set-wise; open/resolve OrderIssue rows, set
    review_status and is_valid. Returns {order_id: [open rule codes]}."""
    config = review_settings()
    now = timezone.now()
    ids = sorted(set(order_ids))
    result: dict[int, list[str]] = {}
    for start in range(0, len(ids), CHUNK):
        with transaction.atomic():
            result.update(_review_chunk(ids[start : start + CHUNK], actor, config, now))
    return result


def _locked_issue(actor: Any, issue_id: int) -> OrderIssue:
    check_permission(actor, "orders.review_order")
    order_id = (
        OrderIssue.objects.filter(pk=issue_id, order__in=Order.objects.for_user(actor))
        .values_list("order_id", flat=True)
        .first()
    )
    issue = None
    if order_id is not None:
        lock_order(order_id)  # the order first, as every order service does, then its issue
        issue = (
            OrderIssue.objects.select_for_update(of=("self",))
            .select_related("order")
            .filter(pk=issue_id)
            .first()
        )
    if issue is None:
        raise out_of_scope("审单异常", field="issue_id")
    if issue.status != IssueStatus.OPEN:
        raise InvalidInput(
            "该异常已处理", fields={"issue_id": f"状态为 {issue.status}"}, code="issue_settled"
        )
    return issue


def _settle(
    issue: OrderIssue, *, actor: Any, status: str, resolution: str, mark_invalid: bool, via: str
) -> OrderIssue:
    before = audit.snapshot(issue)
    issue.status = status
    issue.resolution = resolution[:300]
    issue.marks_invalid = mark_invalid
    issue.resolved_at = timezone.now()
    issue.resolved_by = audit.user_or_none(actor)
    issue.save(update_fields=["status", "resolution", "marks_invalid", "resolved_at", "resolved_by"])
    add_order_event(
        order=issue.order,
        kind=OrderEventKind.ISSUE,
        actor=actor,
        via=via,
        message=f"{issue.rule}：{resolution}"[:500],
        changes={"issue_id": issue.pk, "rule": issue.rule, "status": status, "marks_invalid": mark_invalid},
    )
    audit.record(
        actor=actor, action=f"order_issue.{status}", instance=issue, before=before, reason=resolution
    )
    _review_chunk([issue.order_id], actor, review_settings(), timezone.now())
    return issue


def resolve_issue(
    *, actor: Any, issue_id: int, resolution: str, mark_invalid: bool, via: str = "admin"
) -> OrderIssue:
    """Settle a review issue: confirmed invalid (mark_invalid) or handled (the order may be valid)."""
    resolution = required_text(resolution, field="resolution", label="处理说明", max_length=300)
    if resolution.startswith(AUTO_PREFIX):
        resolution = resolution.removeprefix(AUTO_PREFIX) or "已处理"
    with transaction.atomic():
        issue = _locked_issue(actor, issue_id)
        return _settle(
            issue,
            actor=actor,
            status=IssueStatus.RESOLVED,
            resolution=resolution,
            mark_invalid=mark_invalid,
            via=via,
        )


def ignore_issue(*, actor: Any, issue_id: int, reason: str = "", via: str = "admin") -> OrderIssue:
    """Dismiss a review issue as a false alarm; it is not raised again for this order."""
    with transaction.atomic():
        issue = _locked_issue(actor, issue_id)
        return _settle(
            issue,
            actor=actor,
            status=IssueStatus.IGNORED,
            resolution=(reason or "忽略").removeprefix(AUTO_PREFIX) or "忽略",
            mark_invalid=False,
            via=via,
        )
