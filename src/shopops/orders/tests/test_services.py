import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connection
from hypothesis import given, settings
from hypothesis import strategies as st

from shopops.core.errors import InvalidInput
from shopops.core.models import AuditEntry
from shopops.customers.models import Customer
from shopops.inventory.models import StockLevel
from shopops.orders import services
from shopops.orders.models import (
    Order,
    OrderEvent,
    OrderEventKind,
    OrderLine,
    OrderStatus,
    RefundStatus,
    ReviewStatus,
    StockState,
)
from shopops.orders.tests.factories import create_order, create_shop, order_input, stocked_sku

pytestmark = pytest.mark.django_db


def test_create_order_stores_lines_amounts_and_receiver_fingerprints():
    # given
    shop = create_shop()
    sku = stocked_sku(on_hand=10)
    # when
    order = create_order(
        shop=shop, lines=[(sku, 2, "30.00")], shipping_fee=Decimal("5.00"), receiver_phone="+86 138-0000-1234"
    )
    # then
    line = order.lines.get()
    assert (line.sku_id, line.quantity, line.amount, line.discount) == (
        sku.pk,
        2,
        Decimal("60.00"),
        Decimal("0.00"),
    )
    assert (order.goods_amount, order.shipping_fee, order.paid_amount) == (
        Decimal("60.00"),
        Decimal("5.00"),
        Decimal("65.00"),
    )
    assert order.receiver_phone_last4 == "1234"
    assert order.receiver_phone_hash == services.creation.phone_hash("13800001234")
    assert len(order.receiver_hash) == 64
    assert order.customer is not None
    assert order.review_status == ReviewStatus.PASSED
    assert order.is_valid is True
    assert order.stock_state == StockState.RESERVED
    assert list(order.events.values_list("kind", flat=True)) == [
        OrderEventKind.CREATED,
        OrderEventKind.STOCK,
        OrderEventKind.REVIEWED,
    ]
    assert AuditEntry.objects.filter(action="order.created", object_id=str(order.pk)).count() == 1


def test_create_order_is_idempotent_per_shop_and_external_id():
    # given
    shop = create_shop()
    sku = stocked_sku(on_hand=10)
    first = create_order(shop=shop, lines=[(sku, 1, "10.00")], external_id="T-1")
    # when
    again = create_order(shop=shop, lines=[(sku, 5, "99.00")], external_id="T-1")
    # then
    assert again.pk == first.pk
    assert Order.objects.count() == 1
    assert OrderLine.objects.get().quantity == 1
    assert Customer.objects.count() == 1


def test_create_order_refuses_zero_quantity_and_negative_amounts():
    shop = create_shop()
    with pytest.raises(InvalidInput):
        create_order(shop=shop, lines=[("X", 0, "10.00")])
    with pytest.raises(InvalidInput):
        create_order(shop=shop, lines=[("X", 1, "-1.00")])
    assert Order.objects.count() == 0


def test_unknown_merchant_code_creates_the_order_with_an_sku_unmatched_issue():
    # given
    shop = create_shop()
    # when
    order = create_order(shop=shop, lines=[("NO-SUCH-CODE", 1, "10.00")])
    # then
    assert order.lines.get().sku_id is None
    assert list(order.issues.values_list("rule", "status")) == [("sku_unmatched", "open")]
    assert order.review_status == ReviewStatus.EXCEPTION
    assert order.is_valid is True  # an unmatched SKU needs work but does not make the order invalid


def test_order_level_discount_is_split_pro_rata_in_cents_last_line_takes_remainder():
    # given: gross 10.00, 20.00, 33.33 and 10.01 of discount
    shop = create_shop()
    grosses = [Decimal("10.00"), Decimal("20.00"), Decimal("33.33")]
    discount = Decimal("10.01")
    # when
    order = create_order(
        shop=shop,
        lines=[("A", 1, "10.00"), ("B", 2, "10.00"), ("C", 1, "33.33")],
        shop_discount=Decimal("6.00"),
        platform_discount=Decimal("4.01"),
    )
    # then: independent computation, cents rounded half up, remainder to the last line
    total = sum(grosses)
    expected = [(discount * gross / total).quantize(Decimal("0.01")) for gross in grosses[:-1]]
    expected.append(discount - sum(expected))
    lines = list(order.lines.order_by("line_no"))
    assert (
        [line.discount for line in lines] == expected == [Decimal("1.58"), Decimal("3.16"), Decimal("5.27")]
    )
    assert [line.amount for line in lines] == [Decimal("8.42"), Decimal("16.84"), Decimal("28.06")]
    assert sum(line.discount for line in lines) == discount
    assert order.paid_amount == total - discount


def test_split_discount_never_makes_a_line_negative():
    shares = services.split_discount(Decimal("1.00"), [Decimal("0.99"), Decimal("0.99"), Decimal("0.01")])
    assert sum(shares) == Decimal("1.00")
    assert all(
        Decimal(0) <= share <= gross
        for share, gross in zip(shares, [Decimal("0.99"), Decimal("0.99"), Decimal("0.01")], strict=True)
    )


def test_flash_sale_pending_order_gets_the_shorter_pay_deadline():
    # given
    shop = create_shop(settings={"unpaid_timeout_minutes": 60, "flash_sale_unpaid_timeout_minutes": 5})
    placed = dt.datetime(2026, 6, 1, 10, 0, tzinfo=dt.UTC)
    # when
    normal = create_order(
        shop=shop, lines=[("A", 1, "1.00")], status=OrderStatus.PENDING_PAYMENT, placed_at=placed
    )
    flash = create_order(
        shop=shop,
        lines=[("A", 1, "1.00")],
        status=OrderStatus.PENDING_PAYMENT,
        placed_at=placed,
        order_type="flash_sale",
    )
    # then
    assert normal.pay_deadline == placed + dt.timedelta(minutes=60)
    assert flash.pay_deadline == placed + dt.timedelta(minutes=5)


def test_paid_more_than_goods_is_accepted_with_a_warning_on_the_timeline():
    shop = create_shop()
    order = create_order(shop=shop, lines=[("A", 1, "10.00")], paid_amount=Decimal("12.00"))
    created = order.events.get(kind=OrderEventKind.CREATED)
    assert order.paid_amount == Decimal("12.00")
    assert created.changes == {"warnings": ["实付 12.00 高于 商品+运费−优惠 = 10.00"]}


def test_add_order_event_appends_to_the_timeline(admin_user):
    shop = create_shop()
    order = create_order(shop=shop, lines=[("A", 1, "1.00")])
    event = services.add_order_event(
        order=order, kind=OrderEventKind.AFTERSALE, actor=admin_user, via="api", message="售后"
    )
    assert OrderEvent.objects.filter(order=order).last() == event
    assert (event.actor, event.via) == (admin_user, "api")


def test_record_refund_partial_then_full_closes_the_order():
    # given
    shop = create_shop()
    sku = stocked_sku(on_hand=5)
    order = create_order(shop=shop, lines=[(sku, 2, "50.00")])
    line = order.lines.get()
    # when
    partial = services.record_refund(
        actor=None,
        order_id=order.pk,
        amount=Decimal("30.00"),
        lines={line.pk: (0, Decimal("30.00"))},
        reference="R1",
    )
    # then
    assert (partial.refund_status, partial.status, partial.refunded_amount) == (
        RefundStatus.PARTIAL,
        OrderStatus.PAID,
        Decimal("30.00"),
    )
    # when
    full = services.record_refund(
        actor=None,
        order_id=order.pk,
        amount=Decimal("70.00"),
        lines={line.pk: (2, Decimal("70.00"))},
        reference="R2",
    )
    # then
    assert (full.refund_status, full.status, full.refunded_amount) == (
        RefundStatus.FULL,
        OrderStatus.CLOSED,
        Decimal("100.00"),
    )
    assert full.stock_state == StockState.RELEASED


def test_record_refund_retry_with_same_reference_changes_nothing():
    shop = create_shop()
    order = create_order(shop=shop, lines=[("A", 1, "50.00")])
    services.record_refund(actor=None, order_id=order.pk, amount=Decimal("10.00"), lines={}, reference="R1")
    again = services.record_refund(
        actor=None, order_id=order.pk, amount=Decimal("10.00"), lines={}, reference="R1"
    )
    assert again.refunded_amount == Decimal("10.00")
    assert order.events.filter(kind=OrderEventKind.REFUND).count() == 1


def test_refund_beyond_paid_is_refused_and_nothing_changes():
    # given
    shop = create_shop()
    order = create_order(shop=shop, lines=[("A", 1, "50.00")])
    services.record_refund(actor=None, order_id=order.pk, amount=Decimal("40.00"), lines={}, reference="R1")
    events_before = order.events.count()
    # when / then
    with pytest.raises(services.RefundTooLarge) as refused:
        services.record_refund(
            actor=None, order_id=order.pk, amount=Decimal("10.01"), lines={}, reference="R2"
        )
    assert refused.value.code == "refund_too_large"
    order.refresh_from_db()
    assert (order.refunded_amount, order.refund_status, order.status) == (
        Decimal("40.00"),
        RefundStatus.PARTIAL,
        OrderStatus.PAID,
    )
    assert order.events.count() == events_before


@given(
    total_cents=st.integers(min_value=0, max_value=10_000_000),
    gross_cents=st.lists(st.integers(min_value=0, max_value=1_000_000), min_size=1, max_size=12),
)
@settings(max_examples=300, deadline=None)
def test_split_discount_property_sums_exactly_and_stays_within_each_line(total_cents, gross_cents):
    grosses = [Decimal(cents) / 100 for cents in gross_cents]
    shares = services.split_discount(Decimal(total_cents) / 100, grosses)
    assert sum(shares) == min(Decimal(total_cents), Decimal(sum(gross_cents))) / 100
    assert all(Decimal(0) <= share <= gross for share, gross in zip(shares, grosses, strict=True))
    assert all(share == share.quantize(Decimal("0.01")) for share in shares)


def test_platform_update_adds_lines_to_an_order_first_seen_without_them_and_takes_refunds():
    # given: an order-level file made the order without lines
    shop = create_shop()
    bare = order_input(external_id="TB-9", paid_amount=Decimal("40.00"))
    order = services.create_order(actor=None, shop_id=shop.pk, data=bare, via="import")
    assert order.lines.count() == 0
    # when: the item report brings the lines and a refund
    detailed = order_input(
        external_id="TB-9",
        lines=[("A", 2, "20.00")],
        refunded_amount=Decimal("40.00"),
        status=OrderStatus.CLOSED,
    )
    services.apply_platform_update(actor=None, order_id=order.pk, data=detailed)
    # then
    order.refresh_from_db()
    assert list(order.lines.values_list("merchant_code", "quantity", "amount")) == [
        ("A", 2, Decimal("40.00"))
    ]
    assert (order.refund_status, order.status, order.refunded_amount) == (
        RefundStatus.FULL,
        OrderStatus.CLOSED,
        Decimal("40.00"),
    )
    imported = order.events.get(kind=OrderEventKind.IMPORTED)
    assert imported.changes["lines"] == [0, 1]
    assert imported.changes["refund_status"] == ["none", "full"]


@pytest.mark.django_db(transaction=True)
def test_parallel_creates_of_one_external_id_make_one_order_and_one_reservation():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers; the race needs PostgreSQL")
    # given
    shop = create_shop()
    sku = stocked_sku(on_hand=10)
    barrier = threading.Barrier(4)
    created: list[int] = []

    def create() -> None:
        try:
            data = order_input(lines=[(sku, 1, "1.00")], external_id="RACE-1", buyer_id="same-buyer")
            barrier.wait()
            created.append(services.create_order(actor=None, shop_id=shop.pk, data=data).pk)
        finally:
            connection.close()

    # when
    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then
    assert len(created) == 4
    assert len(set(created)) == 1
    assert Order.objects.count() == 1
    assert Customer.objects.count() == 1
    assert StockLevel.objects.get(sku=sku).reserved == 1
