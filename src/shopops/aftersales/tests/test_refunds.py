from decimal import Decimal
from typing import Any

import pytest

from shopops.aftersales import services
from shopops.aftersales.models import AfterSaleCase, AfterSaleLine, CaseEvent, CaseKind, CaseStatus
from shopops.aftersales.tests import factories
from shopops.aftersales.tests.factories import Line
from shopops.inventory.tests import factories as inventory_factories
from shopops.orders import services as order_services
from shopops.orders.models import OrderEvent, OrderStatus, RefundStatus

pytestmark = pytest.mark.django_db


def _order() -> Any:
    # A: 2 × 50 − 10 = 90.00; B: 1 × 30.00; shipping 8.00 → paid 128.00
    return factories.create_order(
        shop=factories.create_shop(),
        lines=[
            Line(inventory_factories.create_sku(), 2, Decimal("50.00"), Decimal("10.00")),
            Line(inventory_factories.create_sku(), 1, Decimal("30.00")),
        ],
        shipping_fee=Decimal("8.00"),
    )


def test_order_refund_status_goes_partial_then_full(admin_user: Any) -> None:
    # given two refund-only cases covering the whole order
    order = _order()
    line_a, line_b = factories.order_lines(order)
    first = factories.apply(order, kind=CaseKind.REFUND_ONLY, units={line_a: 1}, actor=admin_user)
    rest = factories.apply(
        order,
        kind=CaseKind.REFUND_ONLY,
        units={line_a: 1, line_b: 1},
        refund_shipping="8.00",
        actor=admin_user,
    )
    for case in (first, rest):
        services.approve_case(actor=admin_user, case_id=case.pk)

    # when the first is refunded, then the rest
    services.refund_case(actor=admin_user, case_id=first.pk)
    order.refresh_from_db()
    after_first = (order.refunded_amount, order.refund_status, order.status)
    services.refund_case(actor=admin_user, case_id=rest.pk)
    order.refresh_from_db()

    # then 45.00 partial, then 45.00 + 30.00 + 8.00 more = 128.00 full, and the order closed
    assert after_first == (Decimal("45.00"), RefundStatus.PARTIAL, OrderStatus.COMPLETED)
    assert (order.refunded_amount, order.refund_status, order.status) == (
        Decimal("128.00"),
        RefundStatus.FULL,
        OrderStatus.CLOSED,
    )
    assert rest.requested_amount == Decimal("75.00")
    rest.refresh_from_db()
    assert (rest.refunded_amount, rest.refunded_shipping) == (Decimal("83.00"), Decimal("8.00"))
    line_a.refresh_from_db()
    line_b.refresh_from_db()
    assert (line_a.refunded_quantity, line_a.refunded_amount) == (2, Decimal("90.00"))
    assert (line_b.refunded_quantity, line_b.refunded_amount) == (1, Decimal("30.00"))


def test_partial_refund_spreads_the_goods_over_lines_pro_rata(admin_user: Any) -> None:
    # given a case on A (90.00) and B (30.00)
    order = _order()
    case = factories.apply(order, kind=CaseKind.REFUND_ONLY, actor=admin_user)
    services.approve_case(actor=admin_user, case_id=case.pk)

    # when only 60.00 is refunded
    services.refund_case(actor=admin_user, case_id=case.pk, amount="60.00")

    # then A gets 45.00 and B 15.00 (3 : 1), no shipping, and the order is partially refunded
    shares = list(
        AfterSaleLine.objects.filter(case=case).order_by("pk").values_list("refunded_amount", flat=True)
    )
    assert shares == [Decimal("45.00"), Decimal("15.00")]
    order.refresh_from_db()
    assert (order.refunded_amount, order.refund_status) == (Decimal("60.00"), RefundStatus.PARTIAL)


def test_refund_over_the_order_limit_is_refused_with_nothing_changed(admin_user: Any) -> None:
    # given a case asking 90.00 and a platform refund of 50.00 recorded on the order meanwhile (128 − 50 = 78 left)
    order = _order()
    line_a, line_b = factories.order_lines(order)
    case = factories.apply(order, kind=CaseKind.REFUND_ONLY, units={line_a: 2}, actor=admin_user)
    services.approve_case(actor=admin_user, case_id=case.pk)
    order_services.record_refund(
        actor=admin_user, order_id=order.pk, amount=Decimal("50.00"), lines={}, reference="TB-REFUND-9"
    )
    events_before = (CaseEvent.objects.count(), OrderEvent.objects.filter(order=order).count())

    # when the full 90.00 is refunded
    with pytest.raises(services.RefundTooLarge) as refused:
        services.refund_case(actor=admin_user, case_id=case.pk)

    # then 409 refund_too_large and nothing changed on the case, its lines or the order
    assert (refused.value.status, refused.value.code) == (409, "refund_too_large")
    case.refresh_from_db()
    order.refresh_from_db()
    line_a.refresh_from_db()
    assert (case.status, case.refunded_amount, case.refunded_at) == (
        CaseStatus.APPROVED,
        Decimal("0.00"),
        None,
    )
    assert (order.refunded_amount, order.refund_status) == (Decimal("50.00"), RefundStatus.PARTIAL)
    assert (line_a.refunded_quantity, line_a.refunded_amount) == (0, Decimal("0.00"))
    assert (CaseEvent.objects.count(), OrderEvent.objects.filter(order=order).count()) == events_before


def test_refund_above_the_case_request_is_refused(admin_user: Any) -> None:
    order = _order()
    case = factories.apply(order, kind=CaseKind.REFUND_ONLY, requested_amount="10.00", actor=admin_user)
    services.approve_case(actor=admin_user, case_id=case.pk)

    with pytest.raises(services.RefundTooLarge):
        services.refund_case(actor=admin_user, case_id=case.pk, amount="10.01")

    assert AfterSaleCase.objects.get(pk=case.pk).status == CaseStatus.APPROVED


def test_open_requests_count_against_what_a_new_case_may_ask(admin_user: Any) -> None:
    # given an open case asking 90.00 of the 128.00 paid, and the platform refunding 30.00 directly
    order = _order()
    line_a, line_b = factories.order_lines(order)
    factories.apply(order, kind=CaseKind.REFUND_ONLY, units={line_a: 2}, actor=admin_user)
    order_services.record_refund(
        actor=admin_user, order_id=order.pk, amount=Decimal("30.00"), lines={}, reference="TB-REFUND-1"
    )

    # when line B's 30.00 plus 8.00 shipping is asked: 128 − 30 − 90 = 8.00 left
    with pytest.raises(services.RefundTooLarge) as refused:
        factories.apply(
            order,
            kind=CaseKind.REFUND_ONLY,
            units={line_b: 1},
            requested_amount="30.00",
            refund_shipping="8.00",
            actor=admin_user,
        )

    # then it is refused, naming what is left; without an amount the request is capped (0.00 goods + 8.00)
    assert "订单可退金额 8.00" in refused.value.message
    capped = factories.apply(
        order, kind=CaseKind.REFUND_ONLY, units={line_b: 1}, refund_shipping="8.00", actor=admin_user
    )
    assert (capped.requested_amount, capped.refund_shipping) == (Decimal("0.00"), Decimal("8.00"))
