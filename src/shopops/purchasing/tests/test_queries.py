import datetime as dt
import math
from decimal import Decimal
from fractions import Fraction

import pytest
from django.utils import timezone

from shopops.inventory import services as inventory_services
from shopops.inventory.tests.factories import create_sku, create_warehouse, stock
from shopops.purchasing import queries, services
from shopops.purchasing.models import PurchaseOrder, PurchaseOrderStatus
from shopops.purchasing.tests.factories import create_purchase_order, create_supplier, create_supplier_price


def independent_suggestion(
    *,
    sold: int,
    days: int,
    lead: int,
    review: int,
    safety: int,
    on_hand: int,
    reserved: int,
    open_quantity: int,
    minimum: int,
) -> int:
    velocity = Fraction(sold, days)
    raw = velocity * (lead + review) + safety - (on_hand - reserved + open_quantity)
    quantity = max(0, math.ceil(raw))
    return max(quantity, minimum) if quantity else 0


def sell(sku, warehouse, units, actor=None):
    inventory_services.issue_stock(sku_id=sku.pk, warehouse_id=warehouse.pk, quantity=units, actor=actor)


@pytest.fixture
def world(make_user):
    """Two suppliers; SKU a sells 30 a month, b sells 7, c does not sell, d has no supplier."""
    actor = make_user("operations")
    warehouse = create_warehouse()
    cheap_slow = create_supplier(lead_time_days=10)
    dear_fast = create_supplier(lead_time_days=5)
    a, b, c, d = create_sku(), create_sku(), create_sku(), create_sku()
    create_supplier_price(supplier=cheap_slow, sku=a, price="8.00", min_quantity=20)
    create_supplier_price(supplier=dear_fast, sku=a, price="9.00")
    create_supplier_price(supplier=dear_fast, sku=b, price="3.50")
    create_supplier_price(supplier=dear_fast, sku=c, price="1.00")
    # an expired cheaper agreement never wins
    create_supplier_price(
        supplier=dear_fast,
        sku=b,
        price="0.10",
        valid_from=timezone.localdate() - dt.timedelta(days=90),
        valid_to=timezone.localdate() - dt.timedelta(days=60),
    )
    stock(sku=a, warehouse=warehouse, on_hand=50)
    sell(a, warehouse, 30)
    inventory_services.reserve_stock(
        sku_id=a.pk, quantity=5, reference="O-1", actor=actor, warehouse_id=warehouse.pk
    )
    inventory_services.set_safety_stock(sku_id=a.pk, warehouse_id=warehouse.pk, safety_stock=10, actor=actor)
    stock(sku=b, warehouse=warehouse, on_hand=7)
    sell(b, warehouse, 7)
    stock(sku=c, warehouse=warehouse, on_hand=100)
    stock(sku=d, warehouse=warehouse, on_hand=1)
    sell(d, warehouse, 1)
    create_purchase_order(supplier=cheap_slow, warehouse=warehouse, lines=[(a, 4, "8.00")], actor=actor)
    return {
        "actor": actor,
        "warehouse": warehouse,
        "cheap_slow": cheap_slow,
        "dear_fast": dear_fast,
        "skus": (a, b, c, d),
    }


def soon() -> dt.datetime:
    return timezone.now() + dt.timedelta(minutes=1)


def test_suggestions_match_an_independent_computation(world):
    # given the world above
    a, b, _c, _d = world["skus"]
    # when suggestions are computed over 30 days with a 7-day review period
    found = queries.replenishment_suggestions(user=world["actor"], days=30, review_period_days=7, now=soon())
    # then a and b are suggested, from the cheapest valid supplier, as computed independently
    expected_a = independent_suggestion(
        sold=30, days=30, lead=10, review=7, safety=10, on_hand=20, reserved=5, open_quantity=4, minimum=20
    )
    expected_b = independent_suggestion(
        sold=7, days=30, lead=5, review=7, safety=0, on_hand=0, reserved=0, open_quantity=0, minimum=1
    )
    assert (expected_a, expected_b) == (20, 3)
    assert [(s.sku_id, s.supplier_id, s.unit_price, s.suggested_quantity) for s in found] == [
        (a.pk, world["cheap_slow"].pk, Decimal("8.00"), expected_a),
        (b.pk, world["dear_fast"].pk, Decimal("3.50"), expected_b),
    ]
    first = found[0]
    assert (first.units_sold, first.velocity, first.on_hand, first.reserved, first.safety_stock) == (
        30,
        Decimal("1.0000"),
        20,
        5,
        10,
    )
    assert (first.open_quantity, first.reorder_point, first.is_below_reorder_point) == (
        4,
        Decimal("20.0000"),
        True,
    )


def test_sales_outside_the_window_do_not_count(world):
    # given sales made now, looked at 40 days later with a 30-day window
    later = timezone.now() + dt.timedelta(days=40)
    # when suggestions are computed
    found = queries.replenishment_suggestions(user=world["actor"], days=30, now=later)
    # then only the net need of safety stock remains (a: 10 − (20 − 5 + 4) < 0, so nothing), b sells nothing
    assert found == []


def test_drafts_are_grouped_per_supplier_and_idempotent(world):
    # given the suggestions of a run
    a, b, _c, _d = world["skus"]
    found = queries.replenishment_suggestions(user=world["actor"], now=soon())
    drafts_before = PurchaseOrder.objects.count()
    # when they are turned into drafts twice
    created = services.create_draft_pos_from_suggestions(suggestions=found, actor=world["actor"])
    again = services.create_draft_pos_from_suggestions(suggestions=found, actor=world["actor"])
    # then there is one draft per supplier, with the suggested lines, and the second call adds nothing:
    # cheap_slow already had a draft for the warehouse (a × 4), which takes the 20 on top instead of a
    # second draft; dear_fast gets a new one
    assert sorted(order.pk for order in again) == sorted(order.pk for order in created)
    assert PurchaseOrder.objects.count() == drafts_before + 1
    shape = {
        order.supplier_id: (order.status, list(order.lines.values_list("sku_id", "quantity", "unit_price")))
        for order in created
    }
    assert shape == {
        world["cheap_slow"].pk: (PurchaseOrderStatus.DRAFT, [(a.pk, 24, Decimal("8.00"))]),
        world["dear_fast"].pk: (PurchaseOrderStatus.DRAFT, [(b.pk, 3, Decimal("3.50"))]),
    }
    new = next(order for order in created if order.supplier_id == world["dear_fast"].pk)
    assert new.expected_date == timezone.localdate() + dt.timedelta(days=5)
    # and the next run sees the drafts as open purchase quantity: nothing left to suggest
    assert queries.replenishment_suggestions(user=world["actor"], now=soon()) == []


def test_open_purchase_quantities_count_units_not_yet_accepted(world):
    # given the draft of 4 units of a, approved and 1 accepted
    a = world["skus"][0]
    order = PurchaseOrder.objects.get()
    services.approve_purchase_order(po_id=order.pk, actor=world["actor"])
    line = order.lines.get()
    services.receive_purchase_order(
        po_id=order.pk,
        lines=[{"line_id": line.pk, "received": 2, "accepted": 1, "rejected": 1}],
        actor=world["actor"],
    )
    # when open quantities are read
    found = queries.open_purchase_quantities()
    # then 3 units are still expected
    assert found == {(a.pk, world["warehouse"].pk): 3}


def test_suggestions_follow_warehouse_scope(world, make_user):
    # given a user limited to another warehouse
    other = create_warehouse()
    limited = make_user("warehouse")
    inventory_services.set_warehouse_scope(user_id=limited.pk, warehouse_ids=[other.pk], actor=world["actor"])
    # when they ask for suggestions
    found = queries.replenishment_suggestions(user=limited, now=soon())
    # then they see none of the first warehouse's
    assert found == []
