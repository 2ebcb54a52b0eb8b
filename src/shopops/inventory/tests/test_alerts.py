import datetime as dt
import time
from decimal import Decimal
from email import message_from_bytes
from email.header import decode_header, make_header

import pytest
from conftest import Collector
from django.utils import timezone

from shopops.core import notifications
from shopops.core.models import Alert, AlertSeverity, AlertStatus, Notification
from shopops.inventory import services as inventory_services
from shopops.inventory.models import MovementType, StockMovement, StockThreshold
from shopops.inventory.tests.factories import create_sku, create_warehouse, stock

pytestmark = pytest.mark.django_db


def received(collector: Collector, count: int) -> list[tuple[list[str], str, str]]:
    deadline = time.monotonic() + 5
    while len(collector.messages) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    decoded = []
    for recipients, content in collector.messages:
        message = message_from_bytes(content)
        body = message.get_payload(decode=True).decode(message.get_content_charset() or "utf-8")
        decoded.append((recipients, str(make_header(decode_header(message["Subject"]))), body.rstrip("\r\n")))
    return sorted(decoded)


def test_low_stock_alert_is_raised_once_notifies_the_roles_in_app_and_by_real_smtp(
    make_user, smtp_server, django_capture_on_commit_callbacks
) -> None:
    # given a SKU at 3 free units (5 on hand, 2 reserved) below its reorder point of 4
    keeper = make_user("warehouse", email="keeper@example.com")
    planner = make_user("operations", email="planner@example.com")
    make_user("warehouse", email="gone@example.com", is_active=False)
    make_user("finance", email="finance@example.com")
    no_address = make_user("warehouse")
    sku, warehouse = create_sku(merchant_code="TSHIRT-M"), create_warehouse()
    stock(sku=sku, warehouse=warehouse, on_hand=5)
    inventory_services.reserve_stock(sku_id=sku.pk, quantity=2, reference="SO-1", actor=None)
    inventory_services.set_stock_threshold(
        sku_id=sku.pk, warehouse_id=warehouse.pk, low_stock_quantity=4, actor=None
    )
    # when the job runs twice
    with django_capture_on_commit_callbacks(execute=True):
        first = inventory_services.check_stock_alerts()
    with django_capture_on_commit_callbacks(execute=True):
        second = inventory_services.check_stock_alerts()
    # then one alert, seen twice, notified once to every active member of the roles
    alert = Alert.objects.get()
    assert (first.raised, first.open, second.raised, second.open) == (1, 1, 0, 1)
    assert (alert.kind, alert.dedup_key, alert.status, alert.severity, alert.occurrences) == (
        "inventory.low_stock",
        f"inventory.low_stock:{sku.pk}:{warehouse.pk}",
        AlertStatus.OPEN,
        AlertSeverity.WARNING,
        2,
    )
    assert sorted(Notification.objects.values_list("user_id", flat=True)) == sorted(
        [keeper.pk, planner.pk, no_address.pk]
    )
    title = f"低库存：TSHIRT-M（{warehouse.name}）"
    body = "可用库存 3 件，低于或等于补货点 4 件，无近期销量。"
    assert received(smtp_server, 2) == [
        (["keeper@example.com"], f"[shopops] {title}", body),
        (["planner@example.com"], f"[shopops] {title}", body),
    ]


def test_an_alert_resolves_itself_when_back_in_range_and_reopens_with_a_new_notification(
    make_user, smtp_server, django_capture_on_commit_callbacks
) -> None:
    # given an open low-stock alert (1 free unit, reorder point 2)
    make_user("warehouse", email="keeper@example.com")
    sku, warehouse = create_sku(), create_warehouse()
    stock(sku=sku, warehouse=warehouse, on_hand=1)
    inventory_services.set_stock_threshold(sku_id=sku.pk, low_stock_quantity=2, actor=None)
    with django_capture_on_commit_callbacks(execute=True):
        inventory_services.check_stock_alerts()
    # when stock arrives and the job runs
    inventory_services.receive_stock(sku_id=sku.pk, warehouse_id=warehouse.pk, quantity=9, actor=None)
    with django_capture_on_commit_callbacks(execute=True):
        resolved = inventory_services.check_stock_alerts()
    # then it is resolved without telling anyone
    alert = Alert.objects.get()
    assert (resolved.resolved, alert.status, alert.resolved_at is not None) == (1, AlertStatus.RESOLVED, True)
    assert Notification.objects.count() == 1
    # when the stock runs out again
    inventory_services.issue_stock(sku_id=sku.pk, warehouse_id=warehouse.pk, quantity=10, actor=None)
    with django_capture_on_commit_callbacks(execute=True):
        reopened = inventory_services.check_stock_alerts()
    # then the same alert re-opens, critical now, with a second notification and email
    alert.refresh_from_db()
    assert (reopened.raised, alert.status, alert.severity, alert.resolved_at, alert.occurrences) == (
        1,
        AlertStatus.OPEN,
        AlertSeverity.CRITICAL,
        None,
        2,
    )
    assert Alert.objects.count() == 1
    assert Notification.objects.count() == 2
    assert [recipients for recipients, _subject, _body in received(smtp_server, 2)] == [
        ["keeper@example.com"],
        ["keeper@example.com"],
    ]


def test_overstock_over_all_warehouses_reports_days_of_cover_from_recent_sales(make_user) -> None:
    # given 192 on hand in two warehouses, 50 shipped before the window and 12 inside it
    make_user("operations")
    sku, first, second = create_sku(merchant_code="MUG"), create_warehouse(), create_warehouse()
    stock(sku=sku, warehouse=first, on_hand=100)
    stock(sku=sku, warehouse=second, on_hand=92)
    inventory_services.issue_stock(sku_id=sku.pk, warehouse_id=first.pk, quantity=50, actor=None)
    time.sleep(0.01)
    window_start = timezone.now()
    time.sleep(0.01)
    for _unit in range(12):
        inventory_services.issue_stock(sku_id=sku.pk, warehouse_id=second.pk, quantity=1, actor=None)
    inventory_services.set_stock_threshold(
        sku_id=sku.pk, low_stock_quantity=10, overstock_quantity=100, actor=None
    )
    # when the job runs at the end of a 30-day window that starts between the two
    later = window_start + dt.timedelta(days=30)
    result = inventory_services.check_stock_alerts(now=later, days=30)
    # then the cover uses only the 12 units: 130 free ÷ (12 / 30 per day)
    sold_in_window = -sum(
        StockMovement.objects.filter(
            sku=sku, movement_type=MovementType.SALE_OUT, created_at__gte=window_start
        ).values_list("on_hand_delta", flat=True)
    )
    free = 100 - 50 + 92 - 12
    expected_cover = (Decimal(free) * 30 / sold_in_window).quantize(Decimal("0.1"))
    alert = Alert.objects.get()
    assert (sold_in_window, free, expected_cover) == (12, 130, Decimal("325.0"))
    assert (result.raised, alert.kind, alert.severity) == (1, "inventory.overstock", AlertSeverity.INFO)
    assert alert.message == f"可用库存 {free} 件，高于超储线 100 件，约可售 {expected_cover} 天。"
    assert inventory_services.days_of_cover(sku_id=sku.pk, now=later, days=30) == expected_cover


def test_days_of_cover_is_free_stock_over_the_daily_sales_pace() -> None:
    # given 40 on hand and 20 shipped today
    sku, warehouse = create_sku(), create_warehouse()
    stock(sku=sku, warehouse=warehouse, on_hand=60)
    inventory_services.issue_stock(sku_id=sku.pk, warehouse_id=warehouse.pk, quantity=20, actor=None)
    # when / then: 20 units in 30 days = 2/3 per day, 40 units last 60 days; without sales: None
    assert inventory_services.days_of_cover(sku_id=sku.pk, warehouse_id=warehouse.pk, days=30) == Decimal(
        "60.0"
    )
    assert inventory_services.days_of_cover(sku_id=create_sku().pk, days=30) is None


def test_a_deactivated_threshold_resolves_its_open_alert(make_user) -> None:
    # given an open low-stock alert
    sku, warehouse = create_sku(), create_warehouse()
    stock(sku=sku, warehouse=warehouse, on_hand=1)
    inventory_services.set_stock_threshold(sku_id=sku.pk, low_stock_quantity=5, actor=None)
    inventory_services.check_stock_alerts()
    # when the threshold is switched off
    inventory_services.set_stock_threshold(sku_id=sku.pk, low_stock_quantity=5, is_active=False, actor=None)
    result = inventory_services.check_stock_alerts()
    # then
    assert (result.resolved, Alert.objects.get().status) == (1, AlertStatus.RESOLVED)
    assert StockThreshold.objects.get().is_active is False


def test_raise_alert_is_deduplicated_by_key_and_resolve_is_idempotent(make_user) -> None:
    # given a user of the warehouse role
    user = make_user("warehouse")
    group = user.groups.get().name
    # when the same key is raised three times and resolved twice
    results = [
        notifications.raise_alert(kind="test.kind", key="test:1", title=f"第{n}次", groups=[group])
        for n in (1, 2, 3)
    ]
    first_resolve = notifications.resolve_alert(key="test:1", actor=user, note="已处理")
    second_resolve = notifications.resolve_alert(key="test:1")
    # then
    assert [result.is_new for result in results] == [True, False, False]
    alert = Alert.objects.get()
    assert (alert.title, alert.occurrences, alert.status, alert.resolved_by) == (
        "第3次",
        3,
        AlertStatus.RESOLVED,
        user,
    )
    assert (first_resolve.pk, second_resolve) == (alert.pk, None)
    assert Notification.objects.filter(user=user).count() == 1
    assert notifications.unread_count(user=user) == 1
    assert notifications.mark_notifications_read(user=user) == 1
    assert notifications.unread_count(user=user) == 0
