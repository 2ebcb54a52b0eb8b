import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from shopops.aftersales.models import CaseKind
from shopops.aftersales.tests.factories import apply
from shopops.orders.tests import factories as order_factories

pytestmark = pytest.mark.django_db


def test_workbench_shows_orders_breaking_the_shipping_promise_and_overdue_after_sales(
    make_user: Any, client: Any
) -> None:
    # given a shop promising shipment within 24 hours, an order paid 30 hours ago and one paid just now
    shop = order_factories.create_shop(settings={"ship_within_hours": 24})
    sku = order_factories.stocked_sku(on_hand=10)
    now = timezone.now()
    late = order_factories.create_order(
        shop=shop, lines=[(sku, 2, Decimal("20.00"))], paid_at=now - dt.timedelta(hours=30)
    )
    fresh = order_factories.create_order(shop=shop, lines=[(sku, 1, Decimal("20.00"))], paid_at=now)
    # and an after-sales case on the fresh order whose decision deadline has passed
    case = apply(fresh, kind=CaseKind.REFUND_ONLY, reason_code="logistics.not_received")
    case.sla_due_at = now - dt.timedelta(hours=1)
    case.save(update_fields=["sla_due_at"])
    client.force_login(make_user("admin", username="boss"))

    # when the 工作台 is opened
    page = client.get("/admin/").content.decode()

    # then the late order is listed as overdue (30 h paid − 24 h promise ≈ 6 h), the fresh one is not,
    # and the case is listed as overdue
    assert "发货超时风险订单 · 1" in page
    assert late.external_id in page
    assert "已超时 6.0 小时" in page
    assert "超时未处理的售后单 · 1" in page
    assert f"#{case.pk}" in page
