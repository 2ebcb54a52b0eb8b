import datetime as dt

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.db.models import F
from django.utils import timezone

from shopops.core.models import AuditEntry
from shopops.inventory import queries as inventory_queries
from shopops.inventory import services as inventory_services
from shopops.inventory.models import (
    AppendOnlyError,
    MovementType,
    Reservation,
    ReservationStatus,
    StockLevel,
    StockMovement,
    UserWarehouseScope,
    Warehouse,
    has_all_warehouses,
)
from shopops.inventory.queries import Drift
from shopops.inventory.services import InsufficientStock, ReservationMismatch
from shopops.inventory.tests.factories import create_bundle, create_sku, create_warehouse, stock

pytestmark = pytest.mark.django_db


def level_of(sku, warehouse):
    level = StockLevel.objects.get(sku=sku, warehouse=warehouse)
    return level.on_hand, level.reserved, level.available


def test_receive_stock_adds_on_hand_and_appends_a_ledger_row_with_the_level_after(admin_user) -> None:
    # given a SKU with 5 units on hand
    sku, warehouse = create_sku(), create_warehouse()
    stock(sku=sku, warehouse=warehouse, on_hand=5)
    # when 7 units are received against a purchase receipt
    movement = inventory_services.receive_stock(
        sku_id=sku.pk,
        warehouse_id=warehouse.pk,
        quantity=7,
        actor=admin_user,
        reference_type="purchase_receipt",
        reference_id="PR-1",
    )
    # then the level and the ledger row agree
    assert level_of(sku, warehouse) == (12, 0, 12)
    assert (
        movement.movement_type,
        movement.on_hand_delta,
        movement.on_hand_after,
        movement.on_hand_before,
    ) == (
        MovementType.PURCHASE_IN,
        7,
        12,
        5,
    )
    assert (movement.reference_type, movement.reference_id, movement.actor) == (
        "purchase_receipt",
        "PR-1",
        admin_user,
    )


def test_issue_stock_refuses_to_take_reserved_units_and_changes_nothing() -> None:
    # given 10 on hand of which 8 are reserved
    sku, warehouse = create_sku(), create_warehouse()
    stock(sku=sku, warehouse=warehouse, on_hand=10)
    inventory_services.reserve_stock(sku_id=sku.pk, quantity=8, reference="SO-1", actor=None)
    movements_before = StockMovement.objects.count()
    # when 3 units are written off as damaged
    with pytest.raises(InsufficientStock) as refused:
        inventory_services.issue_stock(
            sku_id=sku.pk,
            warehouse_id=warehouse.pk,
            quantity=3,
            actor=None,
            movement_type=MovementType.DAMAGE,
        )
    # then it is refused with the free quantity, and nothing changed
    assert refused.value.status == 409
    assert refused.value.as_body() == {
        "code": "insufficient_stock",
        "message": "未预占的在库数量不足：需要 3，可用 2",
        "fields": {"sku_id": str(sku.pk), "quantity": "3", "available": "2"},
    }
    assert level_of(sku, warehouse) == (10, 8, 2)
    assert StockMovement.objects.count() == movements_before


def test_adjust_stock_posts_the_ledger_row_and_audits_the_reason(admin_user) -> None:
    # given 10 on hand
    sku, warehouse = create_sku(), create_warehouse()
    stock(sku=sku, warehouse=warehouse, on_hand=10)
    # when a count loss of 4 is posted
    movement = inventory_services.adjust_stock(
        sku_id=sku.pk,
        warehouse_id=warehouse.pk,
        quantity_delta=-4,
        reason="盘点短少",
        actor=admin_user,
        movement_type=MovementType.COUNT_LOSS,
    )
    # then on hand drops and the audit keeps who, why, before and after
    assert level_of(sku, warehouse) == (6, 0, 6)
    assert (movement.movement_type, movement.on_hand_delta, movement.note) == (
        MovementType.COUNT_LOSS,
        -4,
        "盘点短少",
    )
    entry = AuditEntry.objects.get(action="stock.adjusted")
    assert (entry.actor, entry.reason, entry.changes) == (
        admin_user,
        "盘点短少",
        {"on_hand": [10, 6], "movement_type": "count_loss"},
    )


def test_adjust_stock_refuses_a_count_gain_with_a_negative_quantity() -> None:
    # given a SKU
    sku, warehouse = create_sku(), create_warehouse()
    # when / then
    with pytest.raises(inventory_services.InvalidInput) as refused:
        inventory_services.adjust_stock(
            sku_id=sku.pk,
            warehouse_id=warehouse.pk,
            quantity_delta=-1,
            reason="x",
            actor=None,
            movement_type=MovementType.COUNT_GAIN,
        )
    assert refused.value.fields == {"quantity_delta": "方向与类型不符"}
    assert StockMovement.objects.count() == 0


def test_reserve_in_a_warehouse_lowers_available_and_records_a_reserve_row() -> None:
    # given 10 on hand
    sku, warehouse = create_sku(), create_warehouse()
    stock(sku=sku, warehouse=warehouse, on_hand=10)
    # when 4 are reserved for an order
    [reservation] = inventory_services.reserve_stock(
        sku_id=sku.pk, quantity=4, reference="SO-1", actor=None, warehouse_id=warehouse.pk
    )
    # then
    assert (reservation.sku_id, reservation.warehouse_id, reservation.quantity, reservation.status) == (
        sku.pk,
        warehouse.pk,
        4,
        ReservationStatus.ACTIVE,
    )
    assert level_of(sku, warehouse) == (10, 4, 6)
    movement = StockMovement.objects.order_by("-id").first()
    assert (
        movement.movement_type,
        movement.on_hand_delta,
        movement.reserved_delta,
        movement.reserved_after,
    ) == (
        MovementType.RESERVE,
        0,
        4,
        4,
    )
    assert (movement.reference_type, movement.reference_id) == ("order", "SO-1")


def test_safety_stock_is_kept_back_from_reservations() -> None:
    # given 10 on hand with a safety stock of 3 (available 7)
    sku, warehouse = create_sku(), create_warehouse()
    stock(sku=sku, warehouse=warehouse, on_hand=10, safety_stock=3)
    # when 8 are asked for, then 7
    with pytest.raises(InsufficientStock) as refused:
        inventory_services.reserve_stock(sku_id=sku.pk, quantity=8, reference="SO-1", actor=None)
    inventory_services.reserve_stock(sku_id=sku.pk, quantity=7, reference="SO-2", actor=None)
    # then only the 7 fit and available ends at zero
    assert refused.value.fields == {"sku_id": str(sku.pk), "quantity": "8", "available": "7"}
    assert level_of(sku, warehouse) == (10, 7, 0)
    assert Reservation.objects.filter(reference="SO-1").count() == 0


def test_reserving_twice_with_the_same_reference_returns_the_first_reservation_without_a_second_deduction() -> (
    None
):
    # given a reservation of 3 for SO-1
    sku, warehouse = create_sku(), create_warehouse()
    stock(sku=sku, warehouse=warehouse, on_hand=10)
    first = inventory_services.reserve_stock(sku_id=sku.pk, quantity=3, reference="SO-1", actor=None)
    movements_before = StockMovement.objects.count()
    # when the same call is repeated (a retry)
    second = inventory_services.reserve_stock(sku_id=sku.pk, quantity=3, reference="SO-1", actor=None)
    # then the same reservation comes back and stock moved once
    assert [reservation.pk for reservation in second] == [reservation.pk for reservation in first]
    assert level_of(sku, warehouse) == (10, 3, 7)
    assert StockMovement.objects.count() == movements_before


def test_reserving_the_same_reference_with_another_quantity_is_a_mismatch() -> None:
    # given a reservation of 3 for SO-1
    sku, warehouse = create_sku(), create_warehouse()
    stock(sku=sku, warehouse=warehouse, on_hand=10)
    inventory_services.reserve_stock(sku_id=sku.pk, quantity=3, reference="SO-1", actor=None)
    # when / then
    with pytest.raises(ReservationMismatch):
        inventory_services.reserve_stock(sku_id=sku.pk, quantity=5, reference="SO-1", actor=None)
    assert level_of(sku, warehouse) == (10, 3, 7)


def test_best_warehouse_is_the_one_with_the_most_available() -> None:
    # given 4 in one warehouse and 9 (safety 2, so available 7) in another
    sku, small, large = create_sku(), create_warehouse(), create_warehouse()
    stock(sku=sku, warehouse=small, on_hand=4)
    stock(sku=sku, warehouse=large, on_hand=9, safety_stock=2)
    # when 3 are reserved without naming a warehouse
    [reservation] = inventory_services.reserve_stock(sku_id=sku.pk, quantity=3, reference="SO-1", actor=None)
    # then the larger warehouse serves it
    assert reservation.warehouse_id == large.pk
    assert level_of(sku, large) == (9, 3, 4)


def test_best_warehouse_skips_inactive_warehouses_and_never_splits() -> None:
    # given 6 + 6 available in two warehouses and 20 in an inactive one
    sku, first, second, closed = create_sku(), create_warehouse(), create_warehouse(), create_warehouse()
    stock(sku=sku, warehouse=first, on_hand=6)
    stock(sku=sku, warehouse=second, on_hand=6)
    stock(sku=sku, warehouse=closed, on_hand=20)
    Warehouse.objects.filter(pk=closed.pk).update(is_active=False)
    # when 10 are asked for
    with pytest.raises(InsufficientStock) as refused:
        inventory_services.reserve_stock(sku_id=sku.pk, quantity=10, reference="SO-1", actor=None)
    # then no warehouse alone covers it: refused, nothing reserved
    assert refused.value.fields["available"] == "6"
    assert StockLevel.objects.filter(reserved__gt=0).count() == 0
    assert Reservation.objects.count() == 0


def test_a_bundle_reserves_every_component_in_one_warehouse() -> None:
    # given a bundle of 2 × cup + 1 × saucer, both in stock
    cup, saucer, warehouse = create_sku(), create_sku(), create_warehouse()
    stock(sku=cup, warehouse=warehouse, on_hand=10)
    stock(sku=saucer, warehouse=warehouse, on_hand=10)
    bundle = create_bundle(components={cup: 2, saucer: 1})
    # when 3 bundles are reserved
    reservations = inventory_services.reserve_stock(
        sku_id=bundle.pk, quantity=3, reference="SO-1", actor=None
    )
    # then 6 cups and 3 saucers are held for the bundle
    assert sorted((r.sku_id, r.quantity, r.requested_sku_id) for r in reservations) == sorted(
        [(cup.pk, 6, bundle.pk), (saucer.pk, 3, bundle.pk)]
    )
    assert level_of(cup, warehouse) == (10, 6, 4)
    assert level_of(saucer, warehouse) == (10, 3, 7)
    assert inventory_queries.sellable_quantity(sku_id=bundle.pk) == 2


def test_a_bundle_short_of_one_component_reserves_nothing() -> None:
    # given enough cups but only 2 saucers
    cup, saucer, warehouse = create_sku(), create_sku(), create_warehouse()
    stock(sku=cup, warehouse=warehouse, on_hand=10)
    stock(sku=saucer, warehouse=warehouse, on_hand=2)
    bundle = create_bundle(components={cup: 2, saucer: 1})
    movements_before = StockMovement.objects.count()
    # when 3 bundles are asked for in that warehouse
    with pytest.raises(InsufficientStock) as refused:
        inventory_services.reserve_stock(
            sku_id=bundle.pk, quantity=3, reference="SO-1", actor=None, warehouse_id=warehouse.pk
        )
    # then no component was reserved and the ledger did not move
    assert refused.value.fields == {"sku_id": str(bundle.pk), "quantity": "3", "available": "2"}
    assert level_of(cup, warehouse) == (10, 0, 10)
    assert level_of(saucer, warehouse) == (2, 0, 2)
    assert StockMovement.objects.count() == movements_before
    assert Reservation.objects.count() == 0


def test_a_bundle_that_fails_in_the_first_warehouse_at_update_time_rolls_back_and_uses_the_next() -> None:
    # given two warehouses that can each cover a bundle, the first one drained after the choice is made
    cup, saucer = create_sku(), create_sku()
    first, second = create_warehouse(), create_warehouse()
    for warehouse in (first, second):
        stock(sku=cup, warehouse=warehouse, on_hand=4)
        stock(sku=saucer, warehouse=warehouse, on_hand=4)
    bundle = create_bundle(components={cup: 1, saucer: 1})
    request = inventory_services._ReservationRequest(
        "order", "SO-1", bundle.pk, {cup.pk: 2, saucer.pk: 2}, None, None
    )
    StockLevel.objects.filter(sku=saucer, warehouse=first).update(safety_stock=3)
    # when the request is tried in the first warehouse directly
    with pytest.raises(inventory_services._Shortage):
        inventory_services._reserve_in(request, first.pk)
    # then the cup it reserved before meeting the saucer shortage was rolled back
    assert level_of(cup, first) == (4, 0, 4)
    assert Reservation.objects.count() == 0
    # and the service picks the warehouse that can still cover it
    reservations = inventory_services.reserve_stock(
        sku_id=bundle.pk, quantity=2, reference="SO-1", actor=None
    )
    assert {reservation.warehouse_id for reservation in reservations} == {second.pk}


def test_release_gives_units_back_once() -> None:
    # given 4 reserved for SO-1
    sku, warehouse = create_sku(), create_warehouse()
    stock(sku=sku, warehouse=warehouse, on_hand=10)
    inventory_services.reserve_stock(sku_id=sku.pk, quantity=4, reference="SO-1", actor=None)
    # when released twice
    first = inventory_services.release_reservation(reference="SO-1", actor=None)
    movements_after_first = StockMovement.objects.count()
    second = inventory_services.release_reservation(reference="SO-1", actor=None)
    # then the units came back once
    assert [r.status for r in first] == [ReservationStatus.RELEASED]
    assert [r.pk for r in second] == [r.pk for r in first]
    assert level_of(sku, warehouse) == (10, 0, 10)
    assert StockMovement.objects.count() == movements_after_first
    assert StockMovement.objects.filter(movement_type=MovementType.RELEASE).get().reserved_delta == -4


def test_commit_ships_the_reserved_units_once() -> None:
    # given a bundle and a single SKU reserved under one order
    cup, saucer, warehouse = create_sku(), create_sku(), create_warehouse()
    stock(sku=cup, warehouse=warehouse, on_hand=10)
    stock(sku=saucer, warehouse=warehouse, on_hand=10)
    bundle = create_bundle(components={cup: 2, saucer: 1})
    inventory_services.reserve_stock(sku_id=bundle.pk, quantity=2, reference="SO-1", actor=None)
    inventory_services.reserve_stock(sku_id=cup.pk, quantity=1, reference="SO-1", actor=None)
    # when the order ships, and the call is retried
    committed = inventory_services.commit_reservation(reference="SO-1", actor=None)
    retried = inventory_services.commit_reservation(reference="SO-1", actor=None)
    # then on hand and reserved went down once: 5 cups and 2 saucers left
    assert sorted(r.pk for r in retried) == sorted(r.pk for r in committed)
    assert len(committed) == 3
    assert level_of(cup, warehouse) == (5, 0, 5)
    assert level_of(saucer, warehouse) == (8, 0, 8)
    assert StockMovement.objects.filter(movement_type=MovementType.SALE_OUT).count() == 3
    # and a released call afterwards releases nothing
    assert inventory_services.release_reservation(reference="SO-1", actor=None) == []
    assert level_of(cup, warehouse) == (5, 0, 5)


def test_commit_without_a_reservation_is_not_found() -> None:
    with pytest.raises(inventory_services.NotFound) as refused:
        inventory_services.commit_reservation(reference="SO-404", actor=None)
    assert refused.value.code == "reservation_not_found"


def test_a_released_reference_may_reserve_again() -> None:
    # given a released reservation
    sku, warehouse = create_sku(), create_warehouse()
    stock(sku=sku, warehouse=warehouse, on_hand=10)
    inventory_services.reserve_stock(sku_id=sku.pk, quantity=4, reference="SO-1", actor=None)
    inventory_services.release_reservation(reference="SO-1", actor=None)
    # when the order is reinstated
    [again] = inventory_services.reserve_stock(sku_id=sku.pk, quantity=4, reference="SO-1", actor=None)
    # then a new active reservation holds the units
    assert again.status == ReservationStatus.ACTIVE
    assert Reservation.objects.filter(reference="SO-1").count() == 2
    assert level_of(sku, warehouse) == (10, 4, 6)


def test_expiry_releases_only_reservations_past_their_time() -> None:
    # given one reservation expiring in the past and one in the future
    sku, warehouse = create_sku(), create_warehouse()
    stock(sku=sku, warehouse=warehouse, on_hand=10)
    now = timezone.now()
    inventory_services.reserve_stock(
        sku_id=sku.pk, quantity=3, reference="SO-1", actor=None, expires_at=now - dt.timedelta(minutes=1)
    )
    inventory_services.reserve_stock(
        sku_id=sku.pk, quantity=2, reference="SO-2", actor=None, expires_at=now + dt.timedelta(minutes=30)
    )
    # when the job runs twice
    first = inventory_services.expire_reservations(now=now)
    second = inventory_services.expire_reservations(now=now)
    # then only the past one expired, once
    assert (first, second) == (1, 0)
    assert Reservation.objects.get(reference="SO-1").status == ReservationStatus.EXPIRED
    assert Reservation.objects.get(reference="SO-2").status == ReservationStatus.ACTIVE
    assert level_of(sku, warehouse) == (10, 2, 8)
    assert inventory_queries.verify_stock() == []


def test_reserve_refuses_naive_expiry_and_non_positive_quantities() -> None:
    sku = create_sku()
    with pytest.raises(inventory_services.InvalidInput):
        inventory_services.reserve_stock(sku_id=sku.pk, quantity=0, reference="SO-1", actor=None)
    with pytest.raises(inventory_services.InvalidInput):
        inventory_services.reserve_stock(
            sku_id=sku.pk, quantity=1, reference="SO-1", actor=None, expires_at=dt.datetime(2030, 1, 1)
        )


def test_the_ledger_is_append_only_in_python_and_in_the_database() -> None:
    # given one movement
    sku, warehouse = create_sku(), create_warehouse()
    stock(sku=sku, warehouse=warehouse, on_hand=3)
    movement = StockMovement.objects.get()
    # when / then every way of changing it is refused
    with pytest.raises(AppendOnlyError):
        movement.save()
    with pytest.raises(AppendOnlyError):
        movement.delete()
    with pytest.raises(AppendOnlyError):
        StockMovement.objects.filter(pk=movement.pk).update(note="x")
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE inventory_stockmovement SET on_hand_delta = 99")
    assert StockMovement.objects.get().on_hand_delta == 3


def test_verify_reports_a_level_changed_behind_the_ledger(capsys) -> None:
    # given consistent stock, then a level edited directly
    sku, warehouse = create_sku(), create_warehouse()
    stock(sku=sku, warehouse=warehouse, on_hand=5)
    inventory_services.reserve_stock(sku_id=sku.pk, quantity=2, reference="SO-1", actor=None)
    call_command("stock", "verify")
    assert "stock verified" in capsys.readouterr().out
    StockLevel.objects.filter(sku=sku).update(on_hand=F("on_hand") + 1)
    # when verified
    drifts = inventory_queries.verify_stock()
    with pytest.raises(CommandError) as failed:
        call_command("stock", "verify")
    # then the drift is reported and the command exits 1
    assert drifts == [Drift(sku.pk, warehouse.pk, 6, 5, 2, 2, 2)]
    assert failed.value.returncode == 1
    assert f"{sku.pk}\t{warehouse.pk}\t6\t5\t2\t2\t2" in capsys.readouterr().out


def test_receiving_stock_for_a_bundle_is_refused() -> None:
    cup, warehouse = create_sku(), create_warehouse()
    bundle = create_bundle(components={cup: 1})
    with pytest.raises(inventory_services.InvalidInput) as refused:
        inventory_services.receive_stock(sku_id=bundle.pk, warehouse_id=warehouse.pk, quantity=1, actor=None)
    assert refused.value.code == "bundle_has_no_stock"


def test_bundles_do_not_nest_and_a_stocked_sku_cannot_become_a_bundle() -> None:
    # given a bundle and a stocked SKU
    cup, saucer, warehouse = create_sku(), create_sku(), create_warehouse()
    bundle = create_bundle(components={cup: 1})
    stock(sku=saucer, warehouse=warehouse, on_hand=1)
    # when / then
    with pytest.raises(inventory_services.InvalidInput) as nested:
        create_bundle(components={bundle: 1})
    with pytest.raises(inventory_services.Conflict) as stocked:
        inventory_services.set_bundle_components(bundle_sku_id=saucer.pk, components={cup.pk: 1}, actor=None)
    assert (nested.value.code, stocked.value.code) == ("nested_bundle", "bundle_has_stock")


def test_warehouse_scope_no_rows_means_every_warehouse_unless_restricted(make_user, admin_user) -> None:
    # given two warehouses and three users
    north, south = create_warehouse(), create_warehouse()
    everyone, granted, locked = make_user("warehouse"), make_user("warehouse"), make_user("warehouse")
    UserWarehouseScope.objects.create(user=granted, warehouse=north)
    inventory_services.set_warehouse_scope(user_id=locked.pk, warehouse_ids=[], actor=admin_user)
    # when / then: no rows → all; rows → those; an explicit restriction without rows → none
    assert set(Warehouse.objects.for_user(everyone)) == {north, south}
    assert list(Warehouse.objects.for_user(granted)) == [north]
    assert list(Warehouse.objects.for_user(locked)) == []
    assert (has_all_warehouses(everyone), has_all_warehouses(granted), has_all_warehouses(locked)) == (
        True,
        False,
        False,
    )
    # and setting the scope back to every warehouse is audited
    inventory_services.set_warehouse_scope(user_id=locked.pk, warehouse_ids=None, actor=admin_user)
    assert set(Warehouse.objects.for_user(locked)) == {north, south}
    assert AuditEntry.objects.filter(action="warehouse_scope.changed").count() == 2


def test_create_warehouse_is_audited_and_refuses_duplicates(admin_user) -> None:
    # given a warehouse
    warehouse = inventory_services.create_warehouse(
        code="SH01", name="上海仓", actor=admin_user, address="上海"
    )
    # when a second one reuses the code
    with pytest.raises(inventory_services.Conflict):
        inventory_services.create_warehouse(code="SH01", name="另一个", actor=admin_user)
    updated = inventory_services.update_warehouse(
        warehouse_id=warehouse.pk, actor=admin_user, is_active=False
    )
    # then
    assert updated.is_active is False
    assert list(AuditEntry.objects.order_by("id").values_list("action", flat=True)) == [
        "warehouse.created",
        "warehouse.updated",
    ]


def test_change_in_transit_counts_units_on_their_way_and_refuses_going_below_zero() -> None:
    # given a SKU with stock on hand in a warehouse
    sku, warehouse = create_sku(), create_warehouse()
    stock(sku=sku, warehouse=warehouse, on_hand=5)
    movements_before = StockMovement.objects.count()
    # when an approved purchase order puts 12 in transit and a partial receipt takes 4 off again
    inventory_services.change_in_transit(
        sku_id=sku.pk,
        warehouse_id=warehouse.pk,
        quantity_delta=12,
        actor=None,
        reference_type="purchase_order",
        reference_id="PO-1",
    )
    level = inventory_services.change_in_transit(
        sku_id=sku.pk,
        warehouse_id=warehouse.pk,
        quantity_delta=-4,
        actor=None,
        reference_type="purchase_order",
        reference_id="PO-1",
    )
    # then in transit is 12 - 4, on hand is untouched, no ledger row was written, both changes audited
    assert level.in_transit == 8
    assert level.on_hand == 5
    assert StockMovement.objects.count() == movements_before
    entries = AuditEntry.objects.filter(action="stock.in_transit_changed").order_by("pk")
    assert [entry.changes["in_transit"] for entry in entries] == [[0, 12], [12, 8]]
    assert entries[0].changes["reference"] == "purchase_order:PO-1"
    # and going below zero or a zero change is refused
    with pytest.raises(inventory_services.StockInconsistent):
        inventory_services.change_in_transit(
            sku_id=sku.pk, warehouse_id=warehouse.pk, quantity_delta=-9, actor=None
        )
    with pytest.raises(inventory_services.InvalidInput):
        inventory_services.change_in_transit(
            sku_id=sku.pk, warehouse_id=warehouse.pk, quantity_delta=0, actor=None
        )
    assert StockLevel.objects.get(pk=level.pk).in_transit == 8
