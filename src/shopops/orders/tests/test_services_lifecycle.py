import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from shopops.channels.services import shop_settings, update_shop
from shopops.core.errors import InvalidInput
from shopops.core.models import AuditEntry
from shopops.inventory.models import StockLevel
from shopops.orders import services, tasks
from shopops.orders.models import ORDER_TRANSITIONS, OrderEventKind, OrderStatus, StockState
from shopops.orders.tests.factories import create_order, create_shop, order_input, stocked_sku

pytestmark = pytest.mark.django_db

ALLOWED = [(source, target) for source, targets in ORDER_TRANSITIONS.items() for target in sorted(targets)]
REFUSED = [
    (source, target)
    for source in ORDER_TRANSITIONS
    for target in OrderStatus.values
    if target not in ORDER_TRANSITIONS[source] and target != source
]


@pytest.mark.parametrize(("source", "target"), ALLOWED)
def test_every_allowed_transition_moves_the_order_and_is_on_the_timeline(admin_user, source, target):
    # given
    sku = stocked_sku(on_hand=10)
    order = create_order(shop=create_shop(), lines=[(sku, 1, "10.00")], status=source)
    # when
    moved = services.transition_order(actor=admin_user, order_id=order.pk, to_status=target, reason="测试")
    # then
    assert moved.status == target
    event = moved.events.filter(kind=OrderEventKind.STATUS).last()
    assert (event.from_status, event.to_status, event.actor, event.message, event.via) == (
        source,
        target,
        admin_user,
        "测试",
        "admin",
    )
    assert AuditEntry.objects.filter(object_id=str(order.pk), changes__status=[source, target]).count() == 1


@pytest.mark.parametrize(("source", "target"), REFUSED)
def test_transitions_outside_the_table_are_refused_and_nothing_changes(source, target):
    order = create_order(shop=create_shop(), lines=[("A", 1, "10.00")], status=source)
    events = order.events.count()
    with pytest.raises(services.IllegalTransition) as refused:
        services.transition_order(actor=None, order_id=order.pk, to_status=target)
    assert refused.value.status == 409
    order.refresh_from_db()
    assert order.status == source
    assert order.events.count() == events


def test_manual_transition_to_shipped_deducts_the_reserved_units():
    sku = stocked_sku(on_hand=10)
    order = create_order(shop=create_shop(), lines=[(sku, 3, "10.00")])
    shipped = services.transition_order(actor=None, order_id=order.pk, to_status=OrderStatus.SHIPPED)
    level = StockLevel.objects.get(sku=sku)
    assert (level.on_hand, level.reserved, shipped.stock_state) == (7, 0, StockState.DEDUCTED)
    assert shipped.lines.get().shipped_quantity == 3


def test_cancel_of_a_shipped_order_is_refused():
    order = create_order(shop=create_shop(), lines=[("A", 1, "10.00")], status=OrderStatus.SHIPPED)
    with pytest.raises(services.IllegalTransition):
        services.cancel_order(actor=None, order_id=order.pk, reason="晚了")


def test_platform_update_follows_a_later_status_skipping_steps_as_one_imported_event():
    # given
    sku = stocked_sku(on_hand=10)
    shop = create_shop()
    order = create_order(shop=shop, lines=[(sku, 2, "10.00")], external_id="TB-1")
    newer = order_input(
        lines=[(sku, 2, "10.00")],
        external_id="TB-1",
        status=OrderStatus.COMPLETED,
        platform_status="交易成功",
        seller_memo="老客户",
        completed_at=timezone.now(),
    )
    # when
    changed = services.apply_platform_update(
        actor=None, order_id=order.pk, data=newer, message="导入 2 号文件"
    )
    # then
    order.refresh_from_db()
    assert changed is True
    assert (order.status, order.platform_status, order.seller_memo) == (
        OrderStatus.COMPLETED,
        "交易成功",
        "老客户",
    )
    imported = order.events.get(kind=OrderEventKind.IMPORTED)
    assert imported.message == "导入 2 号文件"
    assert (imported.from_status, imported.to_status) == (OrderStatus.PAID, OrderStatus.COMPLETED)
    assert imported.changes["status"] == [OrderStatus.PAID, OrderStatus.COMPLETED]
    assert imported.changes["seller_memo"] == ["", "老客户"]
    level = StockLevel.objects.get(sku=sku)
    assert (level.on_hand, level.reserved, order.stock_state) == (8, 0, StockState.DEDUCTED)


def test_platform_update_never_goes_back_but_follows_a_close():
    order = create_order(
        shop=create_shop(), lines=[("A", 1, "10.00")], status=OrderStatus.SHIPPED, external_id="X"
    )
    older = order_input(
        lines=[("A", 1, "10.00")],
        external_id="X",
        status=OrderStatus.PAID,
        placed_at=order.placed_at,
        paid_at=order.paid_at,
    )
    assert services.apply_platform_update(actor=None, order_id=order.pk, data=older) is False
    closed = order_input(lines=[("A", 1, "10.00")], external_id="X", status=OrderStatus.CLOSED)
    assert services.apply_platform_update(actor=None, order_id=order.pk, data=closed) is True
    order.refresh_from_db()
    assert order.status == OrderStatus.CLOSED
    assert services.followed_status(OrderStatus.CLOSED, OrderStatus.COMPLETED) == OrderStatus.CLOSED


def test_platform_update_with_the_same_values_changes_nothing():
    order = create_order(shop=create_shop(), lines=[("A", 1, "10.00")], external_id="S")
    same = order_input(
        lines=[("A", 1, "10.00")], external_id="S", placed_at=order.placed_at, paid_at=order.paid_at
    )
    same.buyer_id = order.buyer_id
    assert services.apply_platform_update(actor=None, order_id=order.pk, data=same) is False
    assert not order.events.filter(kind=OrderEventKind.IMPORTED).exists()


def test_platform_update_does_not_overwrite_a_clear_address_with_a_masked_one():
    order = create_order(shop=create_shop(), lines=[("A", 1, "10.00")], external_id="M")
    masked = order_input(lines=[("A", 1, "10.00")], external_id="M", receiver_address="****")
    services.apply_platform_update(actor=None, order_id=order.pk, data=masked)
    order.refresh_from_db()
    assert order.receiver_address == "文三路 1 号"


def test_memo_and_flag_update_is_on_the_timeline_and_audited(admin_user):
    order = create_order(shop=create_shop(), lines=[("A", 1, "10.00")])
    services.update_order_memo(actor=admin_user, order_id=order.pk, seller_memo="送礼盒", flag=2)
    order.refresh_from_db()
    assert (order.seller_memo, order.flag) == ("送礼盒", 2)
    assert order.events.get(kind=OrderEventKind.MEMO).changes == {
        "seller_memo": ["", "送礼盒"],
        "flag": [0, 2],
    }
    assert AuditEntry.objects.filter(action="order.memo_updated", object_id=str(order.pk)).count() == 1
    with pytest.raises(InvalidInput):
        services.update_order_memo(actor=admin_user, order_id=order.pk, flag=6)


def test_record_delivery_moves_shipped_orders_only():
    shipped = create_order(shop=create_shop(), lines=[("A", 1, "1.00")], status=OrderStatus.SHIPPED)
    paid = create_order(shop=create_shop(), lines=[("A", 1, "1.00")])
    signed = dt.datetime(2026, 6, 3, 9, 0, tzinfo=dt.UTC)
    services.record_delivery(actor=None, order_ids=[shipped.pk, paid.pk], delivered_at=signed)
    shipped.refresh_from_db()
    paid.refresh_from_db()
    assert (shipped.status, shipped.delivered_at, paid.status) == (
        OrderStatus.DELIVERED,
        signed,
        OrderStatus.PAID,
    )


def test_unpaid_orders_past_their_deadline_are_closed_by_the_task_once():
    # given
    shop = create_shop(settings={"unpaid_timeout_minutes": 30, "reserve_on": "created"})
    sku = stocked_sku(on_hand=5)
    now = timezone.now()
    overdue = create_order(
        shop=shop,
        lines=[(sku, 2, "1.00")],
        status=OrderStatus.PENDING_PAYMENT,
        placed_at=now - dt.timedelta(minutes=31),
    )
    fresh = create_order(
        shop=shop,
        lines=[(sku, 1, "1.00")],
        status=OrderStatus.PENDING_PAYMENT,
        placed_at=now - dt.timedelta(minutes=5),
    )
    assert StockLevel.objects.get(sku=sku).reserved == 3
    # when
    tasks.close_unpaid_orders.call_local()
    tasks.close_unpaid_orders.call_local()
    # then
    overdue.refresh_from_db()
    fresh.refresh_from_db()
    assert (overdue.status, overdue.close_reason, fresh.status) == (
        OrderStatus.CANCELLED,
        "超时未付款，自动关闭",
        OrderStatus.PENDING_PAYMENT,
    )
    assert overdue.events.filter(kind=OrderEventKind.STATUS).count() == 1
    assert StockLevel.objects.get(sku=sku).reserved == 1


def test_shop_settings_defaults_and_validation_on_update(admin_user):
    shop = create_shop()
    shop.settings = {}
    shop.save()
    settings = shop_settings(shop)
    assert (
        settings.reserve_on,
        settings.unpaid_timeout_minutes,
        settings.flash_sale_unpaid_timeout_minutes,
    ) == (
        "paid",
        1440,
        15,
    )
    assert settings.stock_effects_since == shop.created_at
    with pytest.raises(InvalidInput) as refused:
        update_shop(
            actor=admin_user,
            shop_id=shop.pk,
            changes={"settings": {"reserve_on": "later", "ship_within_hours": 0}},
        )
    assert set(refused.value.fields) == {"settings.reserve_on", "settings.ship_within_hours"}
    update_shop(actor=admin_user, shop_id=shop.pk, changes={"settings": {"reserve_on": "created"}})
    shop.refresh_from_db()
    assert shop_settings(shop).reserve_on == "created"


def test_paid_order_refund_of_shipping_only_keeps_line_amounts():
    order = create_order(shop=create_shop(), lines=[("A", 1, "10.00")], shipping_fee=Decimal("6.00"))
    refunded = services.record_refund(
        actor=None, order_id=order.pk, amount=Decimal("6.00"), lines={}, reference="S1"
    )
    assert (refunded.refunded_amount, refunded.lines.get().refunded_amount) == (
        Decimal("6.00"),
        Decimal("0.00"),
    )


def test_invalid_stored_settings_fall_back_to_defaults():
    shop = create_shop(settings={"reserve_on": "never", "unpaid_timeout_minutes": 30})
    settings = shop_settings(shop)
    assert (settings.reserve_on, settings.unpaid_timeout_minutes) == ("paid", 30)
