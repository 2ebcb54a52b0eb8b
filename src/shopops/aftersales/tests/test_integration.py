from decimal import Decimal
from typing import Any

import pytest

from shopops.aftersales import services
from shopops.aftersales.models import CaseKind, CaseStage, CaseStatus, InspectionGrade
from shopops.aftersales.tests import factories as aftersale_factories
from shopops.fulfillment.tests import factories as fulfillment_factories
from shopops.inventory.models import MovementType, StockLevel, StockMovement
from shopops.inventory.tests.factories import create_warehouse, stock
from shopops.orders.models import OrderEvent, OrderStatus, RefundStatus
from shopops.orders.tests import factories as order_factories

pytestmark = pytest.mark.django_db


def test_full_refund_of_a_paid_order_releases_its_reservation(admin_user: Any) -> None:
    # given a paid order of 2 units holding a reservation in a stocked warehouse
    warehouse = create_warehouse()
    sku = order_factories.stocked_sku(on_hand=5, warehouse=warehouse)
    shop = order_factories.create_shop()
    order = order_factories.create_order(shop=shop, lines=[(sku, 2, "50.00")], status=OrderStatus.PAID)
    assert StockLevel.objects.get(sku=sku, warehouse=warehouse).reserved == 2

    # when the buyer gets both units refunded before shipment (仅退款, 售中)
    case = aftersale_factories.apply(order, kind=CaseKind.REFUND_ONLY, actor=admin_user)
    services.approve_case(actor=admin_user, case_id=case.pk)
    services.refund_case(actor=admin_user, case_id=case.pk)

    # then the order is fully refunded and closed, and the reserved units are free again
    order.refresh_from_db()
    case.refresh_from_db()
    assert (case.stage, case.status, case.refunded_amount) == (
        CaseStage.IN_SALE,
        CaseStatus.REFUNDED,
        Decimal("100.00"),
    )
    assert (order.status, order.refund_status, order.refunded_amount) == (
        OrderStatus.CLOSED,
        RefundStatus.FULL,
        Decimal("100.00"),
    )
    level = StockLevel.objects.get(sku=sku, warehouse=warehouse)
    assert (level.on_hand, level.reserved) == (5, 0)
    assert OrderEvent.objects.filter(order=order, kind="aftersale").count() == 3


def test_shipped_order_returned_goes_back_to_stock_through_the_ledger(admin_user: Any) -> None:
    # given an order of 2 units shipped from a warehouse holding 5
    warehouse = create_warehouse()
    sku = order_factories.stocked_sku(on_hand=5, warehouse=warehouse)
    order = order_factories.create_order(
        shop=order_factories.create_shop(), lines=[(sku, 2, "40.00")], status=OrderStatus.PAID
    )
    fulfillment_factories.shipped_parcel(order, tracking_number="SF1234567890123", actor=admin_user)
    order.refresh_from_db()
    assert order.status == OrderStatus.SHIPPED
    assert StockLevel.objects.get(sku=sku, warehouse=warehouse).on_hand == 3
    defective = aftersale_factories.defective_warehouse()
    stock(sku=sku, warehouse=defective, on_hand=0)

    # when both units come back (one good, one scrapped) and the case is refunded
    case = aftersale_factories.apply(order, kind=CaseKind.RETURN_REFUND, reason_code="buyer.seven_days")
    services.approve_case(actor=admin_user, case_id=case.pk)
    line = case.lines.get()
    services.receive_return(actor=admin_user, case_id=case.pk, lines={line.pk: 2}, warehouse_id=warehouse.pk)
    services.inspect_return(
        actor=admin_user,
        case_id=case.pk,
        results=[(line.pk, InspectionGrade.A, 1, {}), (line.pk, InspectionGrade.SCRAP, 1, {})],
    )
    services.refund_case(actor=admin_user, case_id=case.pk)

    # then the warehouse holds 4 (3 + A 1, scrap in and out), the order is fully refunded
    rows = StockMovement.objects.filter(reference_type="aftersale", reference_id=str(case.pk)).order_by("pk")
    assert [(row.movement_type, row.on_hand_delta, row.on_hand_after) for row in rows] == [
        (MovementType.RETURN_IN, 1, 4),
        (MovementType.RETURN_IN, 1, 5),
        (MovementType.DAMAGE, -1, 4),
    ]
    level = StockLevel.objects.get(sku=sku, warehouse=warehouse)
    assert (level.on_hand, level.reserved) == (4, 0)
    order.refresh_from_db()
    assert (order.refund_status, order.refunded_amount, order.status) == (
        RefundStatus.FULL,
        Decimal("80.00"),
        OrderStatus.CLOSED,
    )
