import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from shopops.aftersales import services
from shopops.aftersales.models import (
    AfterSaleCase,
    CaseEvent,
    CaseKind,
    CaseStage,
    CaseStatus,
    InspectionGrade,
)
from shopops.aftersales.tests import factories
from shopops.aftersales.tests.factories import Line
from shopops.core.errors import InvalidInput, PermissionDeniedError
from shopops.core.models import AuditEntry
from shopops.inventory.models import MovementType, StockLevel, StockMovement
from shopops.inventory.tests import factories as inventory_factories
from shopops.orders.models import Order, OrderEvent, OrderStatus, RefundStatus

pytestmark = pytest.mark.django_db


def _steps(case: AfterSaleCase) -> list[tuple[str, str]]:
    return list(CaseEvent.objects.filter(case=case).order_by("pk").values_list("from_status", "to_status"))


def _aftersale_events(order_id: int) -> int:
    return OrderEvent.objects.filter(order_id=order_id, kind="aftersale").count()


def _paid_order(**extra: Any) -> Any:
    # A: 2 × 50.00 − 10.00 discount = 90.00; B: 1 × 30.00 = 30.00; shipping 8.00 → paid 128.00
    shop = extra.pop("shop", None) or factories.create_shop()
    sku_a, sku_b = inventory_factories.create_sku(), inventory_factories.create_sku()
    return factories.create_order(
        shop=shop,
        lines=[Line(sku_a, 2, Decimal("50.00"), Decimal("10.00")), Line(sku_b, 1, Decimal("30.00"))],
        shipping_fee=Decimal("8.00"),
        **extra,
    )


def test_refund_only_flow_in_sale_refunds_the_paid_share_of_one_unit(admin_user: Any) -> None:
    # given a paid, unshipped order
    order = _paid_order(status=OrderStatus.PAID)
    line_a, _line_b = factories.order_lines(order)

    # when one unit of line A is refunded through a refund-only case
    case = factories.apply(
        order,
        kind=CaseKind.REFUND_ONLY,
        units={line_a: 1},
        reason_code="buyer.changed_mind",
        actor=admin_user,
    )
    services.approve_case(actor=admin_user, case_id=case.pk)
    services.refund_case(actor=admin_user, case_id=case.pk)
    services.close_case(actor=admin_user, case_id=case.pk, note="完成")

    # then the case went applied → approved → refunded → closed with 45.00 (half of 90.00)
    case.refresh_from_db()
    order.refresh_from_db()
    line_a.refresh_from_db()
    assert case.stage == CaseStage.IN_SALE
    assert case.status == CaseStatus.CLOSED
    assert (case.requested_amount, case.refunded_amount, case.refunded_shipping) == (
        Decimal("45.00"),
        Decimal("45.00"),
        Decimal("0.00"),
    )
    assert _steps(case) == [
        ("", "applied"),
        ("applied", "approved"),
        ("approved", "refunded"),
        ("refunded", "closed"),
    ]
    assert (case.decided_by, case.refunded_by, case.closed_by) == (admin_user, admin_user, admin_user)
    assert case.sla_due_at is None
    assert (order.refunded_amount, order.refund_status, order.status) == (
        Decimal("45.00"),
        RefundStatus.PARTIAL,
        OrderStatus.PAID,
    )
    assert (line_a.refunded_quantity, line_a.refunded_amount) == (1, Decimal("45.00"))
    assert _aftersale_events(order.pk) == 4
    assert list(
        AuditEntry.objects.filter(action__startswith="aftersale_case.", object_id=str(case.pk))
        .order_by("pk")
        .values_list("action", flat=True)
    ) == [
        "aftersale_case.applied",
        "aftersale_case.approved",
        "aftersale_case.refunded",
        "aftersale_case.closed",
    ]


def test_return_refund_flow_after_sale_refunds_goods_and_shipping_in_full(admin_user: Any) -> None:
    # given a completed order (A 2 × 50 − 10 = 90, shipping 10 → paid 100) and two warehouses
    shop = factories.create_shop()
    sku = inventory_factories.create_sku()
    order = factories.create_order(
        shop=shop, lines=[Line(sku, 2, Decimal("50.00"), Decimal("10.00"))], shipping_fee=Decimal("10.00")
    )
    sellable = inventory_factories.create_warehouse()
    defective = factories.defective_warehouse()

    # when both units come back, one graded A and one B, and the case is refunded in full
    case = factories.apply(
        order, kind=CaseKind.RETURN_REFUND, refund_shipping=Decimal("10.00"), actor=admin_user
    )
    services.approve_case(actor=admin_user, case_id=case.pk)
    services.set_return_tracking(actor=admin_user, case_id=case.pk, tracking_number="SF1234567890123")
    line = case.lines.get()
    services.receive_return(actor=admin_user, case_id=case.pk, lines={line.pk: 2}, warehouse_id=sellable.pk)
    services.inspect_return(
        actor=admin_user,
        case_id=case.pk,
        results=[
            (line.pk, InspectionGrade.A, 1, {}),
            (line.pk, InspectionGrade.B, 1, {"warehouse_id": defective.pk}),
        ],
    )
    services.refund_case(actor=admin_user, case_id=case.pk)

    # then 90.00 goods + 10.00 shipping went back, the order is fully refunded and closed
    case.refresh_from_db()
    order.refresh_from_db()
    assert case.stage == CaseStage.AFTER_SALE
    assert (case.status, case.refunded_amount, case.refunded_shipping) == (
        CaseStatus.REFUNDED,
        Decimal("100.00"),
        Decimal("10.00"),
    )
    assert case.return_tracking_number == "SF1234567890123"
    assert (order.refunded_amount, order.refund_status, order.status) == (
        Decimal("100.00"),
        RefundStatus.FULL,
        OrderStatus.CLOSED,
    )
    assert _steps(case) == [
        ("", "applied"),
        ("applied", "approved"),
        ("approved", "awaiting_return"),
        ("awaiting_return", "awaiting_return"),
        ("awaiting_return", "received"),
        ("received", "inspected"),
        ("inspected", "refunded"),
    ]
    assert StockLevel.objects.get(sku=sku, warehouse=sellable).on_hand == 1
    assert StockLevel.objects.get(sku=sku, warehouse=defective).on_hand == 1


def test_exchange_flow_takes_the_unit_back_and_ships_a_replacement(admin_user: Any) -> None:
    # given a completed order of 1 unit and 5 units in stock
    sku = inventory_factories.create_sku()
    order = factories.create_order(shop=factories.create_shop(), lines=[Line(sku, 1, Decimal("80.00"))])
    warehouse = inventory_factories.create_warehouse()
    inventory_factories.stock(sku=sku, warehouse=warehouse, on_hand=5)

    # when the buyer exchanges the unit (size) and gets a new one
    case = factories.apply(order, kind=CaseKind.EXCHANGE, reason_code="buyer.size", actor=admin_user)
    line = case.lines.get()
    services.approve_case(actor=admin_user, case_id=case.pk)
    services.receive_return(actor=admin_user, case_id=case.pk, lines={line.pk: 1}, warehouse_id=warehouse.pk)
    services.inspect_return(actor=admin_user, case_id=case.pk, results=[(line.pk, InspectionGrade.A, 1, {})])
    services.ship_replacement(
        actor=admin_user, case_id=case.pk, warehouse_id=warehouse.pk, tracking_number="YT1234567890123"
    )
    services.close_case(actor=admin_user, case_id=case.pk)

    # then one unit came in and one went out, both referenced to the case, and no money moved
    case.refresh_from_db()
    order.refresh_from_db()
    assert case.status == CaseStatus.CLOSED
    assert (case.requested_amount, case.refunded_amount) == (Decimal("0.00"), Decimal("0.00"))
    assert case.replacement_reference == f"AS{case.pk}"
    assert case.replacement_tracking_number == "YT1234567890123"
    rows = StockMovement.objects.filter(reference_type="aftersale", reference_id=str(case.pk)).order_by("pk")
    assert [(row.movement_type, row.on_hand_delta, row.on_hand_after) for row in rows] == [
        (MovementType.RETURN_IN, 1, 6),
        (MovementType.SALE_OUT, -1, 5),
    ]
    assert (order.refunded_amount, order.refund_status) == (Decimal("0.00"), RefundStatus.NONE)
    assert _steps(case)[-3:] == [
        ("received", "inspected"),
        ("inspected", "exchange_shipped"),
        ("exchange_shipped", "closed"),
    ]


def test_reship_flow_ships_the_missing_unit_without_a_return(admin_user: Any) -> None:
    # given a delivered order of 3 units with one missing from the parcel
    sku = inventory_factories.create_sku()
    order = factories.create_order(
        shop=factories.create_shop(), lines=[Line(sku, 3, Decimal("20.00"))], status=OrderStatus.DELIVERED
    )
    warehouse = inventory_factories.create_warehouse()
    inventory_factories.stock(sku=sku, warehouse=warehouse, on_hand=4)
    (line,) = factories.order_lines(order)

    # when a re-ship case for 1 unit is approved and shipped
    case = factories.apply(
        order, kind=CaseKind.RESHIP, units={line: 1}, reason_code="logistics.missing_item", actor=admin_user
    )
    services.approve_case(actor=admin_user, case_id=case.pk)
    approved_status = AfterSaleCase.objects.get(pk=case.pk).status
    services.ship_replacement(actor=admin_user, case_id=case.pk, warehouse_id=warehouse.pk, reference="RS-1")
    services.close_case(actor=admin_user, case_id=case.pk)

    # then it never waited for a return and one unit left stock
    case.refresh_from_db()
    assert approved_status == CaseStatus.APPROVED
    assert case.stage == CaseStage.AFTER_SALE
    assert case.replacement_reference == "RS-1"
    assert _steps(case) == [
        ("", "applied"),
        ("applied", "approved"),
        ("approved", "exchange_shipped"),
        ("exchange_shipped", "closed"),
    ]
    assert StockLevel.objects.get(sku=sku, warehouse=warehouse).on_hand == 3


def test_rejected_case_can_be_closed_and_frees_its_units(admin_user: Any) -> None:
    # given a case on both units of a line
    order = _paid_order()
    line_a, _line_b = factories.order_lines(order)
    case = factories.apply(order, kind=CaseKind.RETURN_REFUND, units={line_a: 2}, actor=admin_user)

    # when it is rejected and closed
    services.reject_case(actor=admin_user, case_id=case.pk, reason="超过七天")
    services.close_case(actor=admin_user, case_id=case.pk)

    # then its units can be applied for again
    case.refresh_from_db()
    assert (case.status, case.decision_note) == (CaseStatus.CLOSED, "超过七天")
    again = factories.apply(order, kind=CaseKind.RETURN_REFUND, units={line_a: 2}, actor=admin_user)
    assert again.requested_amount == Decimal("90.00")


def test_buyer_cancel_frees_the_units_for_a_new_case(admin_user: Any) -> None:
    # given a case holding both units of line A
    order = _paid_order()
    line_a, _line_b = factories.order_lines(order)
    case = factories.apply(order, kind=CaseKind.REFUND_ONLY, units={line_a: 2}, actor=admin_user)
    with pytest.raises(services.UnitsNotAvailable):
        factories.apply(order, kind=CaseKind.REFUND_ONLY, units={line_a: 1}, actor=admin_user)

    # when the buyer cancels it
    services.cancel_case(actor=admin_user, case_id=case.pk, reason="买家撤销申请")

    # then one unit may be applied for again (45.00)
    case.refresh_from_db()
    assert case.status == CaseStatus.CANCELLED
    again = factories.apply(order, kind=CaseKind.REFUND_ONLY, units={line_a: 1}, actor=admin_user)
    assert again.requested_amount == Decimal("45.00")


def test_units_beyond_bought_minus_refunded_minus_open_are_refused(admin_user: Any) -> None:
    # given an open case on 1 of the 2 units of line A
    order = _paid_order()
    line_a, _line_b = factories.order_lines(order)
    factories.apply(order, kind=CaseKind.REFUND_ONLY, units={line_a: 1}, actor=admin_user)

    # when 2 more units are asked for
    with pytest.raises(services.UnitsNotAvailable) as refused:
        factories.apply(order, kind=CaseKind.REFUND_ONLY, units={line_a: 2}, actor=admin_user)

    # then the message says how many are left and nothing was created
    assert "最多还可申请 1 件" in refused.value.message
    assert AfterSaleCase.objects.filter(order=order).count() == 1


def test_last_unit_takes_the_rest_of_the_line_amount(admin_user: Any) -> None:
    # given a line of 3 units paying 100.00 in total (33.33 + 33.33 + 33.34)
    sku = inventory_factories.create_sku()
    order = factories.create_order(
        shop=factories.create_shop(), lines=[Line(sku, 3, Decimal("40.00"), Decimal("20.00"))]
    )
    (line,) = factories.order_lines(order)

    # when two cases take 2 units and then the last unit
    first = factories.apply(order, kind=CaseKind.REFUND_ONLY, units={line: 2}, actor=admin_user)
    last = factories.apply(order, kind=CaseKind.REFUND_ONLY, units={line: 1}, actor=admin_user)

    # then the shares are 66.67 and 33.33 — together exactly the line's 100.00
    assert (first.requested_amount, last.requested_amount) == (Decimal("66.67"), Decimal("33.33"))


def test_amounts_beyond_the_share_or_the_shipping_fee_are_refused(admin_user: Any) -> None:
    # given the order (A 90.00 for 2 units, shipping 8.00)
    order = _paid_order()
    line_a, _line_b = factories.order_lines(order)

    # when / then more than the units' share, or more shipping than was paid, is refused
    with pytest.raises(services.RefundTooLarge):
        factories.apply(
            order, kind=CaseKind.REFUND_ONLY, units={line_a: 1}, requested_amount="45.01", actor=admin_user
        )
    with pytest.raises(services.RefundTooLarge):
        factories.apply(
            order, kind=CaseKind.RETURN_REFUND, units={line_a: 1}, refund_shipping="8.01", actor=admin_user
        )
    case = factories.apply(
        order, kind=CaseKind.REFUND_ONLY, units={line_a: 1}, requested_amount="20.00", actor=admin_user
    )
    assert case.requested_amount == Decimal("20.00")
    assert AfterSaleCase.objects.filter(order=order).count() == 1


def test_default_request_is_capped_at_what_the_order_can_still_refund(admin_user: Any) -> None:
    # given an order whose 10.00 platform discount stays at order level: lines 120.00 + 8.00 shipping, paid 118.00
    order = _paid_order()
    Order.objects.filter(pk=order.pk).update(
        platform_discount=Decimal("10.00"), paid_amount=Decimal("118.00")
    )

    # when every line is applied for without an amount, with the shipping
    case = factories.apply(order, kind=CaseKind.REFUND_ONLY, refund_shipping="8.00", actor=admin_user)

    # then the request is 110.00 (118 − 8), spread 3 : 1 over the lines
    assert case.requested_amount == Decimal("110.00")
    assert list(case.lines.order_by("pk").values_list("refund_amount", flat=True)) == [
        Decimal("82.50"),
        Decimal("27.50"),
    ]


def test_exchange_and_reship_carry_no_money(admin_user: Any) -> None:
    order = _paid_order()
    line_a, _line_b = factories.order_lines(order)

    with pytest.raises(InvalidInput):
        factories.apply(
            order, kind=CaseKind.EXCHANGE, units={line_a: 1}, requested_amount="10.00", actor=admin_user
        )
    case = factories.apply(order, kind=CaseKind.RESHIP, units={line_a: 1}, actor=admin_user)
    assert case.lines.get().refund_amount == Decimal("0.00")


def test_return_of_an_unshipped_order_is_refused(admin_user: Any) -> None:
    order = _paid_order(status=OrderStatus.PAID)
    line_a, _line_b = factories.order_lines(order)

    with pytest.raises(services.OrderNotEligible) as refused:
        factories.apply(order, kind=CaseKind.RETURN_REFUND, units={line_a: 1}, actor=admin_user)

    assert refused.value.code == "order_not_shipped"


def test_external_id_makes_apply_idempotent(admin_user: Any) -> None:
    order = _paid_order()
    first = factories.apply(order, kind=CaseKind.REFUND_ONLY, external_id="TB-RF-1", actor=admin_user)
    second = factories.apply(order, kind=CaseKind.REFUND_ONLY, external_id="TB-RF-1", actor=admin_user)

    assert first.pk == second.pk
    assert AfterSaleCase.objects.filter(order=order).count() == 1


@pytest.mark.parametrize(
    ("step", "code"),
    [
        ("refund_before_approval", "illegal_case_transition"),
        ("receive_refund_only", "illegal_case_transition"),
        ("close_applied", "illegal_case_transition"),
        ("ship_return_refund", "illegal_case_transition"),
        ("inspect_before_receipt", "illegal_case_transition"),
        ("cancel_received", "illegal_case_transition"),
    ],
)
def test_illegal_steps_are_refused_with_409_and_nothing_changes(
    admin_user: Any, step: str, code: str
) -> None:
    # given cases in various states
    order = _paid_order()
    line_a, line_b = factories.order_lines(order)
    warehouse = inventory_factories.create_warehouse()
    refund_only = factories.apply(order, kind=CaseKind.REFUND_ONLY, units={line_a: 1}, actor=admin_user)
    returned = factories.apply(order, kind=CaseKind.RETURN_REFUND, units={line_b: 1}, actor=admin_user)
    services.approve_case(actor=admin_user, case_id=returned.pk)
    attempts = {
        "refund_before_approval": lambda: services.refund_case(actor=admin_user, case_id=refund_only.pk),
        "receive_refund_only": lambda: services.receive_return(
            actor=admin_user, case_id=refund_only.pk, lines={}, warehouse_id=warehouse.pk
        ),
        "close_applied": lambda: services.close_case(actor=admin_user, case_id=refund_only.pk),
        "ship_return_refund": lambda: services.ship_replacement(
            actor=admin_user, case_id=returned.pk, warehouse_id=warehouse.pk
        ),
        "inspect_before_receipt": lambda: services.inspect_return(
            actor=admin_user, case_id=returned.pk, results=[]
        ),
        "cancel_received": lambda: (
            services.receive_return(
                actor=admin_user,
                case_id=returned.pk,
                lines={returned.lines.get().pk: 1},
                warehouse_id=warehouse.pk,
            ),
            services.cancel_case(actor=admin_user, case_id=returned.pk),
        ),
    }
    before = dict(AfterSaleCase.objects.values_list("pk", "status"))
    events_before = CaseEvent.objects.count()

    # when the illegal step is tried
    with pytest.raises(services.IllegalCaseTransition) as refused:
        attempts[step]()

    # then it answers 409 with the current status in the message, and (the last step aside) nothing moved
    assert (refused.value.status, refused.value.code) == (409, code)
    assert "不能" in refused.value.message
    if step != "cancel_received":
        assert dict(AfterSaleCase.objects.values_list("pk", "status")) == before
        assert CaseEvent.objects.count() == events_before


def test_approval_needs_the_approve_permission(make_user: Any, admin_user: Any) -> None:
    # given a case and a warehouse user (may inspect, may not approve)
    order = _paid_order()
    case = factories.apply(order, kind=CaseKind.REFUND_ONLY, actor=admin_user)
    warehouse_user = make_user("warehouse")

    # when / then approval and refund are refused for them
    with pytest.raises(PermissionDeniedError):
        services.approve_case(actor=warehouse_user, case_id=case.pk)
    with pytest.raises(PermissionDeniedError):
        services.refund_case(actor=warehouse_user, case_id=case.pk)
    case.refresh_from_db()
    assert case.status == CaseStatus.APPLIED


def test_case_events_are_append_only(admin_user: Any) -> None:
    order = _paid_order()
    case = factories.apply(order, kind=CaseKind.REFUND_ONLY, actor=admin_user)
    event = CaseEvent.objects.get(case=case)

    event.message = "改写"
    with pytest.raises(Exception, match="append-only"):
        event.save()
    with pytest.raises(Exception, match="append-only"):
        CaseEvent.objects.filter(pk=event.pk).update(message="改写")


def test_sla_due_at_follows_the_step(admin_user: Any) -> None:
    order = _paid_order()
    applied_at = dt.datetime(2026, 11, 1, 10, 0, tzinfo=dt.UTC)
    case = factories.apply(order, kind=CaseKind.RETURN_REFUND, applied_at=applied_at, actor=admin_user)

    assert case.sla_due_at == applied_at + dt.timedelta(hours=48)
    services.approve_case(actor=admin_user, case_id=case.pk)
    case.refresh_from_db()
    assert case.sla_due_at is not None
    assert case.decided_at is not None
    assert case.sla_due_at - case.decided_at == dt.timedelta(days=7)
