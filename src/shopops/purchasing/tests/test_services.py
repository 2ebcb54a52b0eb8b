from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shopops.catalog.models import PriceHistory, Sku
from shopops.core.models import AuditEntry
from shopops.inventory.models import MovementType, StockLevel, StockMovement
from shopops.inventory.queries import verify_stock
from shopops.inventory.tests.factories import create_sku, create_warehouse, stock
from shopops.purchasing import services
from shopops.purchasing.models import (
    PURCHASE_ORDER_TRANSITIONS,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderStatus,
    PurchaseReceipt,
)
from shopops.purchasing.tests.factories import create_purchase_order, create_supplier


def expected_average(old_quantity: int, old_cost: str, added: int, unit_price: str) -> Decimal:
    exact = (old_quantity * Fraction(old_cost) + added * Fraction(unit_price)) / (old_quantity + added)
    return Decimal(exact.numerator) / Decimal(exact.denominator)


def cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@pytest.fixture
def buyer(make_user):
    return make_user("operations")


@given(
    old_quantity=st.integers(min_value=0, max_value=100_000),
    old_cost=st.decimals(min_value=0, max_value=99_999, places=2),
    added=st.integers(min_value=1, max_value=100_000),
    unit_price=st.decimals(min_value=0, max_value=99_999, places=2),
)
def test_moving_average_matches_exact_fraction(old_quantity, old_cost, added, unit_price):
    # given exact rational arithmetic as the independent computation
    exact = (old_quantity * Fraction(old_cost) + added * Fraction(unit_price)) / (old_quantity + added)
    expected = (Decimal(exact.numerator) / Decimal(exact.denominator)).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP
    )
    # when the service computes it
    result = services.moving_average_cost(
        old_quantity=old_quantity, old_cost=old_cost, added_quantity=added, unit_price=unit_price
    )
    # then both agree to the cent
    assert result == expected


def test_create_purchase_order_totals_and_timeline(buyer):
    # given a supplier, a warehouse and two SKUs
    supplier = create_supplier()
    warehouse = create_warehouse()
    first, second = create_sku(), create_sku()
    # when a draft is created
    order = create_purchase_order(
        supplier=supplier,
        warehouse=warehouse,
        lines=[(first, 3, "12.50"), (second, 7, "0.99")],
        actor=buyer,
    )
    # then totals are Decimal sums and the draft is on the timeline and in the audit
    assert order.number == f"PO{order.pk:08d}"
    assert order.status == PurchaseOrderStatus.DRAFT
    assert order.total_amount == Decimal("44.43")
    assert list(order.events.values_list("from_status", "to_status", "actor_id")) == [("", "draft", buyer.pk)]
    assert AuditEntry.objects.filter(action="purchase_order.created", object_id=str(order.pk)).count() == 1


def _order_in(status: str, buyer) -> PurchaseOrder:
    order = create_purchase_order(
        supplier=create_supplier(),
        warehouse=create_warehouse(),
        lines=[(create_sku(), 5, "10.00")],
        actor=buyer,
    )
    PurchaseOrder.objects.filter(pk=order.pk).update(status=status)
    return order


TRANSITION_SERVICES = {
    PurchaseOrderStatus.APPROVED: services.approve_purchase_order,
    PurchaseOrderStatus.CANCELLED: services.cancel_purchase_order,
    PurchaseOrderStatus.CLOSED: services.close_purchase_order,
}


@pytest.mark.parametrize("from_status", PurchaseOrderStatus.values)
@pytest.mark.parametrize("to_status", list(TRANSITION_SERVICES))
def test_transitions_follow_the_table(buyer, from_status, to_status):
    # given an order in `from_status`
    order = _order_in(from_status, buyer)
    events_before = order.events.count()
    allowed = to_status in PURCHASE_ORDER_TRANSITIONS[from_status]
    # when the transition to `to_status` is asked for
    if allowed:
        changed = TRANSITION_SERVICES[to_status](po_id=order.pk, actor=buyer)
        # then it happens, with who and when on the timeline
        assert changed.status == to_status
        event = order.events.order_by("-pk").first()
        assert (event.from_status, event.to_status, event.actor_id) == (from_status, to_status, buyer.pk)
        assert (
            AuditEntry.objects.filter(action=f"purchase_order.{to_status}", object_id=str(order.pk)).count()
            == 1
        )
    else:
        with pytest.raises(services.IllegalPurchaseOrderTransition) as refused:
            TRANSITION_SERVICES[to_status](po_id=order.pk, actor=buyer)
        # then it is refused with a domain error and nothing changes
        assert refused.value.code == "illegal_purchase_order_transition"
        order.refresh_from_db()
        assert order.status == from_status
        assert order.events.count() == events_before


def test_approve_refused_below_supplier_minimum(buyer):
    # given a supplier with a ¥100 minimum and a ¥50 draft
    supplier = create_supplier(minimum_order_amount="100.00")
    order = create_purchase_order(
        supplier=supplier, warehouse=create_warehouse(), lines=[(create_sku(), 5, "10.00")], actor=buyer
    )
    # when it is approved
    with pytest.raises(services.BelowSupplierMinimum):
        services.approve_purchase_order(po_id=order.pk, actor=buyer)
    # then it stays a draft
    order.refresh_from_db()
    assert order.status == PurchaseOrderStatus.DRAFT


def test_only_drafts_can_be_edited(buyer):
    # given an approved order
    sku = create_sku()
    order = create_purchase_order(
        supplier=create_supplier(),
        warehouse=create_warehouse(),
        lines=[(sku, 5, "10.00")],
        actor=buyer,
        approved=True,
    )
    # when its lines are changed
    with pytest.raises(services.PurchaseOrderNotEditable):
        services.update_purchase_order(po_id=order.pk, actor=buyer, lines=[{"sku_id": sku.pk, "quantity": 9}])
    # then nothing changed
    assert list(order.lines.values_list("quantity", flat=True)) == [5]


def test_partial_then_full_receipt_posts_ledger_and_moving_average(buyer):
    # given 10 on hand over two warehouses at cost 10.00, and an approved order of 10 at 12.00
    main, other = create_warehouse(), create_warehouse()
    sku = create_sku()
    stock(sku=sku, warehouse=main, on_hand=5)
    stock(sku=sku, warehouse=other, on_hand=5)
    order = create_purchase_order(
        supplier=create_supplier(), warehouse=main, lines=[(sku, 10, "12.00")], actor=buyer, approved=True
    )
    line = order.lines.get()

    # when 6 arrive, 4 accepted and 2 rejected
    first = services.receive_purchase_order(
        po_id=order.pk,
        lines=[{"line_id": line.pk, "received": 6, "accepted": 4, "rejected": 2}],
        warehouse_id=main.pk,
        actor=buyer,
    )

    # then only the 4 accepted units are in stock, with one exact ledger row
    order.refresh_from_db()
    line.refresh_from_db()
    assert order.status == PurchaseOrderStatus.PARTIALLY_RECEIVED
    assert (line.received_quantity, line.accepted_quantity, line.rejected_quantity) == (6, 4, 2)
    assert StockLevel.objects.get(sku=sku, warehouse=main).on_hand == 9
    movement = StockMovement.objects.filter(reference_id=first.number).get()
    assert (
        movement.movement_type,
        movement.sku_id,
        movement.warehouse_id,
        movement.on_hand_delta,
        movement.reserved_delta,
        movement.on_hand_after,
        movement.reserved_after,
        movement.reference_type,
        movement.note,
        movement.actor_id,
    ) == (MovementType.PURCHASE_IN, sku.pk, main.pk, 4, 0, 9, 0, "purchase_receipt", order.number, buyer.pk)
    first_cost = cents(expected_average(10, "10.00", 4, "12.00"))
    assert first_cost == Decimal("10.57")
    assert Sku.objects.get(pk=sku.pk).cost_price == first_cost

    # when the remaining 6 arrive and are all accepted
    second = services.receive_purchase_order(
        po_id=order.pk,
        lines=[{"line_id": line.pk, "received": 6, "accepted": 6, "rejected": 0}],
        warehouse_id=main.pk,
        actor=buyer,
    )

    # then the order is received, stock and cost follow, and the ledger still adds up
    order.refresh_from_db()
    assert order.status == PurchaseOrderStatus.RECEIVED
    assert StockLevel.objects.get(sku=sku, warehouse=main).on_hand == 15
    assert list(
        StockMovement.objects.filter(reference_id=second.number).values_list("on_hand_delta", "on_hand_after")
    ) == [(6, 15)]
    second_cost = cents(expected_average(14, str(first_cost), 6, "12.00"))
    assert second_cost == Decimal("11.00")
    assert Sku.objects.get(pk=sku.pk).cost_price == second_cost
    history = list(
        PriceHistory.objects.filter(sku=sku, field="cost_price")
        .order_by("pk")
        .values_list("old_value", "new_value", "source")
    )
    assert history == [(Decimal("10.00"), first_cost, "purchase"), (first_cost, second_cost, "purchase")]
    assert list(order.events.values_list("to_status", flat=True)) == [
        "draft",
        "approved",
        "partially_received",
        "received",
    ]
    assert verify_stock() == []


def test_rejected_units_never_reach_stock(buyer):
    # given an approved order of 5
    warehouse = create_warehouse()
    sku = create_sku()
    order = create_purchase_order(
        supplier=create_supplier(), warehouse=warehouse, lines=[(sku, 5, "30.00")], actor=buyer, approved=True
    )
    line = order.lines.get()
    # when all 5 arrive and fail inspection
    receipt = services.receive_purchase_order(
        po_id=order.pk,
        lines=[{"line_id": line.pk, "received": 5, "accepted": 0, "rejected": 5}],
        warehouse_id=warehouse.pk,
        actor=buyer,
    )
    # then nothing is in stock, no ledger row exists, the cost is unchanged and the units are still owed
    assert not StockLevel.objects.filter(sku=sku, warehouse=warehouse, on_hand__gt=0).exists()
    assert not StockMovement.objects.filter(reference_id=receipt.number).exists()
    assert Sku.objects.get(pk=sku.pk).cost_price == Decimal("10.00")
    order.refresh_from_db()
    line.refresh_from_db()
    assert order.status == PurchaseOrderStatus.PARTIALLY_RECEIVED
    assert line.open_quantity == 5
    assert list(receipt.lines.values_list("received_quantity", "accepted_quantity", "rejected_quantity")) == [
        (5, 0, 5)
    ]


def test_over_receiving_is_refused_and_changes_nothing(buyer):
    # given an approved order of 10 without tolerance
    warehouse = create_warehouse()
    sku = create_sku()
    order = create_purchase_order(
        supplier=create_supplier(),
        warehouse=warehouse,
        lines=[(sku, 10, "12.00")],
        actor=buyer,
        approved=True,
    )
    line = order.lines.get()
    # when 11 are accepted
    with pytest.raises(services.OverReceipt) as refused:
        services.receive_purchase_order(
            po_id=order.pk,
            lines=[{"line_id": line.pk, "received": 11, "accepted": 11, "rejected": 0}],
            warehouse_id=warehouse.pk,
            actor=buyer,
        )
    # then it is refused and nothing was written
    assert refused.value.fields == {"lines.0.accepted": "最多还可入库 10"}
    line.refresh_from_db()
    assert (line.received_quantity, line.accepted_quantity) == (0, 0)
    assert PurchaseReceipt.objects.count() == 0
    assert StockMovement.objects.filter(sku=sku).count() == 0
    assert PurchaseOrder.objects.get(pk=order.pk).status == PurchaseOrderStatus.APPROVED


def test_tolerance_allows_a_little_more(buyer, settings):
    # given a 10% receiving tolerance and an order of 10
    settings.PURCHASING_OVER_RECEIPT_TOLERANCE_PERCENT = 10
    warehouse = create_warehouse()
    sku = create_sku()
    order = create_purchase_order(
        supplier=create_supplier(),
        warehouse=warehouse,
        lines=[(sku, 10, "12.00")],
        actor=buyer,
        approved=True,
    )
    line = order.lines.get()
    # when 11 are accepted, then 1 more
    services.receive_purchase_order(
        po_id=order.pk,
        lines=[{"line_id": line.pk, "received": 11, "accepted": 11, "rejected": 0}],
        warehouse_id=warehouse.pk,
        actor=buyer,
    )
    # then 11 is fine (received) and the 12th is refused
    assert PurchaseOrder.objects.get(pk=order.pk).status == PurchaseOrderStatus.RECEIVED
    with pytest.raises(services.IllegalPurchaseOrderTransition):
        services.receive_purchase_order(
            po_id=order.pk,
            lines=[{"line_id": line.pk, "received": 1, "accepted": 1, "rejected": 0}],
            warehouse_id=warehouse.pk,
            actor=buyer,
        )
    assert StockLevel.objects.get(sku=sku, warehouse=warehouse).on_hand == 11


def test_receiving_checks_counts_and_lines(buyer):
    # given an approved order and a line of another order
    warehouse = create_warehouse()
    order = create_purchase_order(
        supplier=create_supplier(),
        warehouse=warehouse,
        lines=[(create_sku(), 10, "1.00")],
        actor=buyer,
        approved=True,
    )
    foreign = create_purchase_order(
        supplier=create_supplier(), warehouse=warehouse, lines=[(create_sku(), 10, "1.00")], actor=buyer
    ).lines.get()
    line = order.lines.get()
    # when counts do not add up, or the line is not the order's
    with pytest.raises(services.InvalidInput) as mismatched:
        services.receive_purchase_order(
            po_id=order.pk,
            lines=[{"line_id": line.pk, "received": 5, "accepted": 3, "rejected": 1}],
            actor=buyer,
        )
    with pytest.raises(services.InvalidInput) as other_order:
        services.receive_purchase_order(
            po_id=order.pk,
            lines=[{"line_id": foreign.pk, "received": 1, "accepted": 1, "rejected": 0}],
            actor=buyer,
        )
    # then both are refused naming the field
    assert mismatched.value.fields == {"lines.0.received": "≠ 合格 + 不合格"}
    assert other_order.value.fields == {"lines.0.line_id": "不属于该采购单"}
    assert PurchaseOrderLine.objects.get(pk=line.pk).received_quantity == 0


def test_draft_cannot_be_received(buyer):
    # given a draft
    order = create_purchase_order(
        supplier=create_supplier(),
        warehouse=create_warehouse(),
        lines=[(create_sku(), 2, "1.00")],
        actor=buyer,
    )
    # when it is received
    with pytest.raises(services.IllegalPurchaseOrderTransition):
        services.receive_purchase_order(
            po_id=order.pk,
            lines=[{"line_id": order.lines.get().pk, "received": 2, "accepted": 2, "rejected": 0}],
            actor=buyer,
        )
    # then no receipt exists
    assert PurchaseReceipt.objects.count() == 0


def in_transit(sku, warehouse):
    return (
        StockLevel.objects.filter(sku=sku, warehouse=warehouse).values_list("in_transit", flat=True).first()
    )


def test_in_transit_follows_approve_partial_receipt_and_close(buyer):
    # given a draft order of 10 + 4 units for one warehouse
    warehouse = create_warehouse()
    first_sku, second_sku = create_sku(), create_sku()
    order = create_purchase_order(
        supplier=create_supplier(),
        warehouse=warehouse,
        lines=[(first_sku, 10, "5.00"), (second_sku, 4, "7.00")],
        actor=buyer,
    )
    first_line, second_line = order.lines.order_by("sku_id")
    assert (in_transit(first_sku, warehouse), in_transit(second_sku, warehouse)) == (None, None)
    # when it is approved
    services.approve_purchase_order(po_id=order.pk, actor=buyer)
    # then every ordered unit is in transit at the order's warehouse
    assert (in_transit(first_sku, warehouse), in_transit(second_sku, warehouse)) == (10, 4)
    # when 6 of the first line arrive (4 accepted, 2 rejected) and 4 of the second all pass
    services.receive_purchase_order(
        po_id=order.pk,
        lines=[
            {"line_id": first_line.pk, "received": 6, "accepted": 4, "rejected": 2},
            {"line_id": second_line.pk, "received": 4, "accepted": 4, "rejected": 0},
        ],
        actor=buyer,
    )
    # then only accepted units leave in transit: 10 − 4 = 6 (rejected stay owed), 4 − 4 = 0
    assert (in_transit(first_sku, warehouse), in_transit(second_sku, warehouse)) == (6, 0)
    # when the order is closed short
    services.close_purchase_order(po_id=order.pk, actor=buyer, reason="供应商缺货")
    # then nothing of it is in transit any more, and on hand holds the accepted units
    assert (in_transit(first_sku, warehouse), in_transit(second_sku, warehouse)) == (0, 0)
    assert StockLevel.objects.get(sku=first_sku, warehouse=warehouse).on_hand == 4
    assert AuditEntry.objects.filter(action="stock.in_transit_changed").count() == 5
    assert verify_stock() == []


def test_cancel_after_approval_resets_in_transit(buyer):
    # given an approved order of 8 units
    warehouse = create_warehouse()
    sku = create_sku()
    order = create_purchase_order(
        supplier=create_supplier(), warehouse=warehouse, lines=[(sku, 8, "3.00")], actor=buyer, approved=True
    )
    assert in_transit(sku, warehouse) == 8
    # when it is cancelled
    services.cancel_purchase_order(po_id=order.pk, actor=buyer, reason="不再需要")
    # then the 8 units are no longer in transit
    assert in_transit(sku, warehouse) == 0


def test_receipt_elsewhere_and_tolerance_settle_only_what_was_posted(buyer, settings):
    # given a 10% tolerance and an approved order of 10 units for warehouse A
    settings.PURCHASING_OVER_RECEIPT_TOLERANCE_PERCENT = 10
    ordered_to, delivered_to = create_warehouse(), create_warehouse()
    sku = create_sku()
    order = create_purchase_order(
        supplier=create_supplier(),
        warehouse=ordered_to,
        lines=[(sku, 10, "3.00")],
        actor=buyer,
        approved=True,
    )
    line = order.lines.get()
    # when 11 units are accepted into warehouse B
    services.receive_purchase_order(
        po_id=order.pk,
        lines=[{"line_id": line.pk, "received": 11, "accepted": 11, "rejected": 0}],
        warehouse_id=delivered_to.pk,
        actor=buyer,
    )
    # then in transit at A drops by the 10 it held (never below zero) and B never had any
    assert (in_transit(sku, ordered_to), in_transit(sku, delivered_to)) == (0, 0)
    assert StockLevel.objects.get(sku=sku, warehouse=delivered_to).on_hand == 11


def test_closing_an_order_approved_before_in_transit_was_posted_stays_at_zero(buyer):
    # given an approved order whose units were never posted in transit (older data)
    warehouse = create_warehouse()
    sku = create_sku()
    order = create_purchase_order(
        supplier=create_supplier(), warehouse=warehouse, lines=[(sku, 5, "3.00")], actor=buyer, approved=True
    )
    StockLevel.objects.filter(sku=sku, warehouse=warehouse).update(in_transit=0)
    # when it is cancelled
    services.cancel_purchase_order(po_id=order.pk, actor=buyer)
    # then in transit stays at zero instead of failing
    assert in_transit(sku, warehouse) == 0
