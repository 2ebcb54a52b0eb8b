from decimal import Decimal
from typing import Any

import pytest

from shopops.aftersales.models import CaseKind
from shopops.aftersales.tests.factories import apply
from shopops.fulfillment.tests.factories import shipped_parcel
from shopops.orders.tests import factories as order_factories

pytestmark = pytest.mark.django_db


def test_order_detail_lists_its_parcels_and_after_sales_cases(make_user: Any, api_client_for: Any) -> None:
    # given an order shipped in one parcel and a refund-only case on it
    shop = order_factories.create_shop()
    sku = order_factories.stocked_sku(on_hand=5)
    order = order_factories.create_order(shop=shop, lines=[(sku, 2, Decimal("50.00"))])
    parcel = shipped_parcel(order, tracking_number="SF1234567890123")
    case = apply(order, kind=CaseKind.REFUND_ONLY, reason_code="logistics.not_received")
    # and an unrelated order of the same shop with its own parcel
    other = order_factories.create_order(shop=shop, lines=[(sku, 1, Decimal("50.00"))])
    shipped_parcel(other, tracking_number="SF1234567890999")
    client = api_client_for(make_user("customer_service", shops=[shop]))

    # when the order detail is read
    response = client.get(f"/api/v1/orders/{order.pk}")

    # then both sections hold exactly this order's parcel and case
    assert response.status_code == 200
    body = response.json()
    assert [(s["id"], s["tracking_number"], s["status"], s["order_ids"]) for s in body["shipments"]] == [
        (parcel.pk, "SF1234567890123", "shipped", [order.pk])
    ]
    assert [(c["id"], c["kind"], c["status"], c["order_id"]) for c in body["aftersale_cases"]] == [
        (case.pk, "refund_only", "applied", order.pk)
    ]
