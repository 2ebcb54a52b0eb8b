import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from shopops.core.errors import PermissionDeniedError
from shopops.core.models import AuditEntry
from shopops.customers import services as customer_services
from shopops.orders import services
from shopops.orders.models import IssueStatus, Order, OrderEventKind, OrderStatus, ReviewStatus
from shopops.orders.tests.factories import create_order, create_shop

pytestmark = pytest.mark.django_db

PLACED = dt.datetime(2026, 6, 1, 10, 0, tzinfo=dt.UTC)


def rules_of(order):
    return sorted(order.issues.filter(status=IssueStatus.OPEN).values_list("rule", flat=True))


def make(shop=None, **fields):
    fields.setdefault("lines", [("A", 1, "10.00")])
    fields.setdefault("placed_at", PLACED)
    return create_order(shop=shop or create_shop(), **fields)


def test_an_unmatched_sku_alone_queues_the_order_as_exception_but_it_stays_valid():
    order = make()
    assert (rules_of(order), order.review_status, order.is_valid) == (
        ["sku_unmatched"],
        ReviewStatus.EXCEPTION,
        True,
    )


def test_unpaid_timeout_fires_only_past_the_deadline():
    shop = create_shop(settings={"unpaid_timeout_minutes": 60})
    now = timezone.now()
    late = make(shop, status=OrderStatus.PENDING_PAYMENT, placed_at=now - dt.timedelta(minutes=61))
    early = make(shop, status=OrderStatus.PENDING_PAYMENT, placed_at=now - dt.timedelta(minutes=59))
    assert "unpaid_timeout" in rules_of(late)
    assert "unpaid_timeout" not in rules_of(early)
    assert (late.review_status, late.is_valid, early.is_valid) == (ReviewStatus.INVALID, False, False)


@pytest.mark.parametrize(
    ("fields", "fires"),
    [
        ({"is_test": True}, True),
        ({"buyer_message": "这是测试单，请勿发货"}, True),
        ({"seller_memo": "TEST order"}, True),
        ({"buyer_message": "请尽快发货"}, False),
    ],
)
def test_test_order_rule(fields, fires):
    order = make(**fields)
    assert ("test_order" in rules_of(order)) is fires
    assert order.is_valid is (not fires)
    assert (order.review_status == ReviewStatus.INVALID) is fires


def test_duplicate_flags_the_later_order_of_the_same_buyer_receiver_skus_and_amount():
    # given
    shop = create_shop()
    first = make(shop, buyer_id="b1", external_id="D1")
    # when
    second = make(shop, buyer_id="b1", external_id="D2", placed_at=PLACED + dt.timedelta(minutes=5))
    other_amount = make(
        shop,
        buyer_id="b1",
        external_id="D3",
        lines=[("A", 2, "10.00")],
        placed_at=PLACED + dt.timedelta(minutes=6),
    )
    much_later = make(shop, buyer_id="b1", external_id="D4", placed_at=PLACED + dt.timedelta(hours=3))
    # then
    assert "duplicate" not in rules_of(first)
    assert "duplicate" in rules_of(second)
    assert second.issues.get(rule="duplicate").message == "与订单 D1 的买家、收货人、商品和金额相同"
    assert (second.is_valid, second.review_status) == (False, ReviewStatus.INVALID)
    assert "duplicate" not in rules_of(other_amount)
    assert "duplicate" not in rules_of(much_later)


def test_duplicate_needs_the_same_shop():
    make(create_shop(), buyer_id="b1")
    other = make(create_shop(), buyer_id="b1", placed_at=PLACED + dt.timedelta(minutes=1))
    assert "duplicate" not in rules_of(other)


def test_suspected_fake_when_many_buyers_share_one_receiver_phone():
    shop = create_shop()
    orders = [
        make(
            shop,
            buyer_id=f"fake{number}",
            receiver_phone="13911112222",
            placed_at=PLACED + dt.timedelta(hours=number),
        )
        for number in range(5)
    ]
    assert ["suspected_fake" in rules_of(order) for order in orders] == [False, False, False, False, True]
    assert orders[4].issues.get(rule="suspected_fake").message == "同一收货电话 7 天内有 5 个不同买家"


def test_suspected_fake_when_one_buyer_orders_too_often_in_an_hour(settings):
    settings.ORDER_REVIEW = {"fake_buyer_orders_per_hour": 2}
    shop = create_shop()
    orders = [
        make(
            shop,
            buyer_id="busy",
            lines=[("A", number + 1, "10.00")],
            placed_at=PLACED + dt.timedelta(minutes=10 * number),
        )
        for number in range(3)
    ]
    assert ["suspected_fake" in rules_of(order) for order in orders] == [False, False, True]
    assert orders[2].issues.get(rule="suspected_fake").message == "同一买家 1 小时内下单 3 笔"


def test_incomplete_address_rule():
    missing = make(receiver_city="", receiver_phone="")
    complete = make()
    assert missing.issues.get(rule="incomplete_address").message == "缺少市、电话"
    assert "incomplete_address" not in rules_of(complete)
    assert missing.is_valid is True  # needs fixing, but is not an invalid order


def test_blacklisted_buyer_rule(admin_user):
    shop = create_shop()
    first = make(shop, buyer_id="bad")
    customer_services.blacklist_customer(actor=admin_user, customer_id=first.customer_id, reason="恶意退款")
    second = make(shop, buyer_id="bad", lines=[("B", 1, "5.00")])
    assert "blacklisted_buyer" not in rules_of(first)
    assert second.issues.get(rule="blacklisted_buyer").message == "买家在黑名单中：恶意退款"


def test_sku_unmatched_rule_negative_when_the_code_is_known():
    from shopops.orders.tests.factories import stocked_sku

    sku = stocked_sku(on_hand=5)
    order = make(lines=[(sku.merchant_code, 1, "10.00")])
    assert rules_of(order) == []
    assert order.review_status == ReviewStatus.PASSED


def test_disabled_rule_does_not_fire(settings):
    settings.ORDER_REVIEW = {"disabled_rules": ["sku_unmatched"]}
    assert rules_of(make()) == []


def test_resolving_as_invalid_makes_the_order_invalid_and_ignoring_makes_it_valid(make_user):
    # given
    reviewer = make_user("operations")
    shop = create_shop()
    make(shop, buyer_id="b1", external_id="D1")
    duplicate = make(shop, buyer_id="b1", external_id="D2", placed_at=PLACED + dt.timedelta(minutes=1))
    issue = duplicate.issues.get(rule="duplicate")
    # when
    services.ignore_issue(actor=reviewer, issue_id=issue.pk, reason="买家确认买两份")
    # then
    duplicate.refresh_from_db()
    assert (duplicate.is_valid, duplicate.review_status) == (
        True,
        ReviewStatus.EXCEPTION,
    )  # sku_unmatched is open
    assert services.review_orders(order_ids=[duplicate.pk]) == {
        duplicate.pk: ["sku_unmatched"]
    }  # not raised again
    # when
    unmatched = duplicate.issues.get(rule="sku_unmatched")
    services.resolve_issue(
        actor=reviewer, issue_id=unmatched.pk, resolution="赠品，无需SKU", mark_invalid=True
    )
    # then
    duplicate.refresh_from_db()
    assert (duplicate.is_valid, duplicate.review_status) == (False, ReviewStatus.INVALID)
    assert duplicate.events.filter(kind=OrderEventKind.ISSUE).count() == 2
    assert AuditEntry.objects.filter(action__in=["order_issue.ignored", "order_issue.resolved"]).count() == 2
    assert Order.objects.valid().filter(pk=duplicate.pk).exists() is False


def test_issue_actions_need_the_review_permission(make_user):
    order = make()
    issue = order.issues.get()
    with pytest.raises(PermissionDeniedError):
        services.resolve_issue(
            actor=make_user("finance"), issue_id=issue.pk, resolution="x", mark_invalid=False
        )
    issue.refresh_from_db()
    assert issue.status == IssueStatus.OPEN


def test_cancelled_or_unpaid_orders_are_never_valid():
    pending = make(status=OrderStatus.PENDING_PAYMENT)
    cancelled = make(status=OrderStatus.CANCELLED)
    closed_after_payment = make(status=OrderStatus.CLOSED)
    assert (pending.is_valid, cancelled.is_valid, closed_after_payment.is_valid) == (False, False, True)


def test_review_runs_set_wise_with_a_constant_number_of_queries():
    # given
    shop = create_shop()
    few = [make(shop, paid_amount=Decimal(number)).pk for number in range(3)]
    many = [make(shop, paid_amount=Decimal(100 + number)).pk for number in range(30)]
    # when
    with CaptureQueriesContext(connection) as small:
        services.review_orders(order_ids=few)
    with CaptureQueriesContext(connection) as large:
        services.review_orders(order_ids=many)
    # then
    assert len(large.captured_queries) == len(small.captured_queries)
    assert len(large.captured_queries) <= 12
