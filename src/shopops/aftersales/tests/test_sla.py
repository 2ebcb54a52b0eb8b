import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from shopops.aftersales import services
from shopops.aftersales.models import CaseKind
from shopops.aftersales.tests import factories
from shopops.aftersales.tests.factories import Line
from shopops.core.models import Alert, AlertStatus, Notification
from shopops.inventory.tests import factories as inventory_factories

pytestmark = pytest.mark.django_db

APPLIED = dt.datetime(2026, 11, 1, 2, 0, tzinfo=dt.UTC)
DUE = APPLIED + dt.timedelta(hours=48)


def _case(shop: Any, actor: Any, applied_at: dt.datetime = APPLIED) -> Any:
    order = factories.create_order(
        shop=shop, lines=[Line(inventory_factories.create_sku(), 1, Decimal("10.00"))]
    )
    return factories.apply(order, kind=CaseKind.REFUND_ONLY, applied_at=applied_at, actor=actor)


def test_a_case_is_overdue_only_after_its_deadline(admin_user: Any) -> None:
    # given a case applied at 02:00 UTC (decide within 48 h)
    case = _case(factories.create_shop(), admin_user)

    # when / then: at the deadline it is not overdue, one second later it is
    assert case.sla_due_at == DUE
    assert list(services.overdue_cases(DUE)) == []
    assert list(services.overdue_cases(DUE + dt.timedelta(seconds=1))) == [case]


def test_one_alert_per_shop_raised_once_and_resolved_when_none_is_left(
    admin_user: Any, make_user: Any
) -> None:
    # given two overdue cases in one shop, one in another, one not yet due, and a customer-service user
    first_shop, second_shop = factories.create_shop(name="甲店"), factories.create_shop(name="乙店")
    _case(first_shop, admin_user)
    _case(first_shop, admin_user, applied_at=APPLIED + dt.timedelta(hours=1))
    lonely = _case(second_shop, admin_user)
    _case(second_shop, admin_user, applied_at=APPLIED + dt.timedelta(days=5))
    service_user = make_user("customer_service")
    now = DUE + dt.timedelta(hours=2)

    # when the check runs twice
    first = services.check_overdue_cases(now=now)
    repeat = services.check_overdue_cases(now=now)

    # then one alert per shop, counted, notified once
    assert (first.raised, first.resolved, first.open) == (2, 0, 2)
    assert (repeat.raised, repeat.resolved, repeat.open) == (0, 0, 2)
    alert = Alert.objects.get(dedup_key=services.overdue_alert_key(first_shop.pk))
    assert alert.title == "售后超时：甲店"
    assert alert.message.startswith("2 个售后单超过")
    assert Notification.objects.filter(user=service_user).count() == 2

    # when the second shop's overdue case is rejected (no timer) and the check runs again
    services.reject_case(actor=admin_user, case_id=lonely.pk, reason="不符合条件")
    after = services.check_overdue_cases(now=now)

    # then that shop's alert is resolved
    assert (after.raised, after.resolved, after.open) == (0, 1, 1)
    assert (
        Alert.objects.get(dedup_key=services.overdue_alert_key(second_shop.pk)).status == AlertStatus.RESOLVED
    )
