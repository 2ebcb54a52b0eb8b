import pytest

from shopops.core.errors import InvalidInput
from shopops.core.models import AuditEntry
from shopops.inventory import queries as inventory_queries
from shopops.inventory import services as inventory_services
from shopops.inventory.models import MovementType, StockLevel, StockMovement, TransferStatus, WriteOffReason
from shopops.inventory.services import InsufficientStock, TransferStateError
from shopops.inventory.tests.factories import create_sku, create_warehouse, stock

pytestmark = pytest.mark.django_db


def level(sku, warehouse) -> tuple[int, int, int]:
    found = StockLevel.objects.filter(sku=sku, warehouse=warehouse).first()
    return (found.on_hand, found.reserved, found.in_transit) if found else (0, 0, 0)


def test_ship_then_receive_in_two_parts_moves_stock_through_in_transit(admin_user) -> None:
    # given 10 and 6 units of two SKUs at the source
    shirt, socks = create_sku(), create_sku()
    source, destination = create_warehouse(), create_warehouse()
    stock(sku=shirt, warehouse=source, on_hand=10)
    stock(sku=socks, warehouse=source, on_hand=6)
    transfer = inventory_services.create_transfer(
        source_id=source.pk, destination_id=destination.pk, lines={shirt.pk: 4, socks.pk: 6}, actor=admin_user
    )
    # when it ships
    inventory_services.ship_transfer(transfer_id=transfer.pk, actor=admin_user)
    # then the source lost the units and the destination sees them in transit
    assert (level(shirt, source), level(socks, source)) == ((6, 0, 0), (0, 0, 0))
    assert (level(shirt, destination), level(socks, destination)) == ((0, 0, 4), (0, 0, 6))
    # when 3 shirts arrive, then the rest
    partly = inventory_services.receive_transfer(
        transfer_id=transfer.pk, quantities={shirt.pk: 3}, actor=admin_user
    )
    assert partly.status == TransferStatus.PARTIALLY_RECEIVED
    assert inventory_services.transfer_differences(transfer_id=transfer.pk) == {shirt.pk: 1, socks.pk: 6}
    done = inventory_services.receive_transfer(
        transfer_id=transfer.pk, quantities={shirt.pk: 1, socks.pk: 6}, actor=admin_user
    )
    # then
    assert done.status == TransferStatus.RECEIVED
    assert (level(shirt, destination), level(socks, destination)) == ((4, 0, 0), (6, 0, 0))
    rows = StockMovement.objects.filter(reference_type="transfer", reference_id=str(transfer.pk)).order_by(
        "pk"
    )
    assert [(row.sku_id, row.warehouse_id, row.movement_type, row.on_hand_delta) for row in rows] == [
        (shirt.pk, source.pk, MovementType.TRANSFER_OUT, -4),
        (socks.pk, source.pk, MovementType.TRANSFER_OUT, -6),
        (shirt.pk, destination.pk, MovementType.TRANSFER_IN, 3),
        (shirt.pk, destination.pk, MovementType.TRANSFER_IN, 1),
        (socks.pk, destination.pk, MovementType.TRANSFER_IN, 6),
    ]
    assert inventory_queries.verify_stock() == []


def test_receiving_more_than_is_in_transit_is_refused_and_changes_nothing(admin_user) -> None:
    # given 5 shipped
    sku, source, destination = create_sku(), create_warehouse(), create_warehouse()
    stock(sku=sku, warehouse=source, on_hand=5)
    transfer = inventory_services.create_transfer(
        source_id=source.pk, destination_id=destination.pk, lines={sku.pk: 5}, actor=admin_user
    )
    inventory_services.ship_transfer(transfer_id=transfer.pk, actor=admin_user)
    # when
    with pytest.raises(InvalidInput) as refused:
        inventory_services.receive_transfer(transfer_id=transfer.pk, quantities={sku.pk: 6}, actor=admin_user)
    # then
    assert (refused.value.code, refused.value.fields) == ("over_receipt", {f"quantities.{sku.pk}": "最多 5"})
    assert level(sku, destination) == (0, 0, 5)


def test_closing_with_units_missing_reports_the_difference_and_clears_in_transit(admin_user) -> None:
    # given 8 shipped, 5 received
    sku, source, destination = create_sku(), create_warehouse(), create_warehouse()
    stock(sku=sku, warehouse=source, on_hand=8)
    transfer = inventory_services.create_transfer(
        source_id=source.pk, destination_id=destination.pk, lines={sku.pk: 8}, actor=admin_user
    )
    inventory_services.ship_transfer(transfer_id=transfer.pk, actor=admin_user)
    inventory_services.receive_transfer(transfer_id=transfer.pk, quantities={sku.pk: 5}, actor=admin_user)
    # when
    differences = inventory_services.close_transfer(
        transfer_id=transfer.pk, actor=admin_user, reason="运输丢失"
    )
    # then
    assert differences == {sku.pk: 3}
    assert level(sku, destination) == (5, 0, 0)
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.CLOSED
    entry = AuditEntry.objects.get(action="transfer.closed")
    assert (entry.reason, entry.changes["differences"]) == ("运输丢失", {str(sku.pk): 3})


def test_shipping_refuses_reserved_units_and_leaves_the_transfer_a_draft(admin_user) -> None:
    # given 5 on hand of which 4 are reserved
    sku, source, destination = create_sku(), create_warehouse(), create_warehouse()
    stock(sku=sku, warehouse=source, on_hand=5)
    inventory_services.reserve_stock(
        sku_id=sku.pk, quantity=4, reference="SO-9", actor=None, warehouse_id=source.pk
    )
    transfer = inventory_services.create_transfer(
        source_id=source.pk, destination_id=destination.pk, lines={sku.pk: 2}, actor=admin_user
    )
    # when
    with pytest.raises(InsufficientStock):
        inventory_services.ship_transfer(transfer_id=transfer.pk, actor=admin_user)
    # then
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.DRAFT
    assert (level(sku, source), level(sku, destination)) == ((5, 4, 0), (0, 0, 0))
    with pytest.raises(TransferStateError):
        inventory_services.receive_transfer(transfer_id=transfer.pk, quantities={sku.pk: 1}, actor=admin_user)


def test_write_off_posts_a_damage_row_with_the_reason(admin_user) -> None:
    # given 6 on hand
    sku, warehouse = create_sku(), create_warehouse()
    stock(sku=sku, warehouse=warehouse, on_hand=6)
    # when 2 are written off as damaged
    movement = inventory_services.write_off_stock(
        sku_id=sku.pk,
        warehouse_id=warehouse.pk,
        quantity=2,
        reason=WriteOffReason.DAMAGED,
        note="外箱压坏",
        actor=admin_user,
    )
    # then
    assert (movement.movement_type, movement.on_hand_delta, movement.note) == (
        MovementType.DAMAGE,
        -2,
        "破损：外箱压坏",
    )
    assert level(sku, warehouse) == (4, 0, 0)
    with pytest.raises(InvalidInput) as refused:
        inventory_services.write_off_stock(
            sku_id=sku.pk,
            warehouse_id=warehouse.pk,
            quantity=1,
            reason=WriteOffReason.OTHER,
            actor=admin_user,
        )
    assert refused.value.fields == {"note": "必填"}
