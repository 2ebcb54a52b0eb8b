from decimal import Decimal

import pytest

from shopops.catalog.models import Category
from shopops.core.errors import PermissionDeniedError
from shopops.core.models import AuditEntry
from shopops.inventory import queries as inventory_queries
from shopops.inventory import services as inventory_services
from shopops.inventory.models import (
    Location,
    MovementType,
    StockLevel,
    StockMovement,
    StocktakeScope,
    StocktakeStatus,
)
from shopops.inventory.services import CountMode, StocktakeNotCounting
from shopops.inventory.tests.factories import create_sku, create_warehouse, stock

pytestmark = pytest.mark.django_db


def on_hand(sku, warehouse) -> int:
    return StockLevel.objects.get(sku=sku, warehouse=warehouse).on_hand


def ledger_net_since(sku, warehouse, after_id: int) -> int:
    return sum(
        StockMovement.objects.filter(sku=sku, warehouse=warehouse, pk__gt=after_id).values_list(
            "on_hand_delta", flat=True
        )
    )


def test_a_sale_shipped_during_the_count_is_not_a_false_variance(make_user) -> None:
    # given 10 on hand, a count started (snapshot 10) and an order reserved before the count
    counter, approver = make_user("warehouse"), make_user("warehouse")
    sku, warehouse = create_sku(), create_warehouse()
    stock(sku=sku, warehouse=warehouse, on_hand=10)
    inventory_services.reserve_stock(
        sku_id=sku.pk, quantity=3, reference="SO-1", actor=None, warehouse_id=warehouse.pk
    )
    stocktake = inventory_services.start_stocktake(
        warehouse_id=warehouse.pk, scope=StocktakeScope.SKUS, sku_ids=[sku.pk], actor=counter
    )
    last_movement_at_snapshot = StockMovement.objects.order_by("-pk").values_list("pk", flat=True).first()
    # when the order ships while people count, and the counter finds the 7 units that are left
    inventory_services.commit_reservation(reference="SO-1", actor=None)
    line = inventory_services.record_count(
        stocktake_id=stocktake.pk, barcode_or_code=sku.merchant_code, quantity=7, actor=counter
    )
    inventory_services.submit_stocktake(stocktake_id=stocktake.pk, actor=counter)
    inventory_services.post_stocktake(stocktake_id=stocktake.pk, actor=approver)
    # then book = snapshot + net movements since the snapshot, the variance is 0 and nothing is posted
    net = ledger_net_since(sku, warehouse, last_movement_at_snapshot)
    assert (line.expected_quantity, net, line.book_quantity, line.variance) == (10, -3, 10 + net, 0)
    assert on_hand(sku, warehouse) == 7
    assert not StockMovement.objects.filter(reference_type="stocktake").exists()
    assert inventory_queries.verify_stock() == []


def test_variance_report_by_quantity_and_value_and_posting_writes_gain_and_loss_rows(make_user) -> None:
    # given three SKUs of cost 10.00, 2.50 and 10.00 with 10, 4 and 6 on hand, one never counted
    counter, approver = make_user("warehouse"), make_user("warehouse")
    warehouse = create_warehouse()
    short, extra, uncounted = create_sku(), create_sku(), create_sku()
    extra.cost_price = Decimal("2.50")
    extra.save()
    stock(sku=short, warehouse=warehouse, on_hand=10)
    stock(sku=extra, warehouse=warehouse, on_hand=4)
    stock(sku=uncounted, warehouse=warehouse, on_hand=6)
    stocktake = inventory_services.start_stocktake(
        warehouse_id=warehouse.pk, scope=StocktakeScope.FULL, actor=counter
    )
    # when 8 of the first and 7 of the second are counted, and an approver posts
    for sku, counted in ((short, 8), (extra, 7)):
        inventory_services.record_count(
            stocktake_id=stocktake.pk, barcode_or_code=sku.merchant_code, quantity=counted, actor=counter
        )
    report = inventory_services.stocktake_variance(stocktake_id=stocktake.pk)
    inventory_services.submit_stocktake(stocktake_id=stocktake.pk, actor=counter)
    posted = inventory_services.post_stocktake(stocktake_id=stocktake.pk, actor=approver)
    # then
    assert [(line.sku_id, line.variance, line.variance_value) for line in report.lines] == [
        (short.pk, -2, Decimal("-20.00")),
        (extra.pk, 3, Decimal("7.50")),
        (uncounted.pk, None, None),
    ]
    assert (report.counted_lines, report.uncounted_lines) == (2, 1)
    assert (report.gain_quantity, report.loss_quantity, report.net_quantity) == (3, 2, 1)
    assert (report.gain_value, report.loss_value, report.net_value) == (
        Decimal("7.50"),
        Decimal("20.00"),
        Decimal("-12.50"),
    )
    rows = StockMovement.objects.filter(reference_type="stocktake", reference_id=str(stocktake.pk)).order_by(
        "sku_id"
    )
    assert [(row.sku_id, row.movement_type, row.on_hand_delta, row.actor) for row in rows] == [
        (short.pk, MovementType.COUNT_LOSS, -2, approver),
        (extra.pk, MovementType.COUNT_GAIN, 3, approver),
    ]
    assert (on_hand(short, warehouse), on_hand(extra, warehouse), on_hand(uncounted, warehouse)) == (8, 7, 6)
    assert (posted.status, posted.approved_by) == (StocktakeStatus.POSTED, approver)
    assert list(posted.lines.order_by("sku_id").values_list("posted_quantity", flat=True)) == [-2, 3, None]
    assert inventory_queries.verify_stock() == []


def test_movements_between_the_count_entry_and_posting_are_kept(make_user) -> None:
    # given a count of 9 against a book of 10 (variance −1)
    counter, approver = make_user("warehouse"), make_user("warehouse")
    sku, warehouse = create_sku(), create_warehouse()
    stock(sku=sku, warehouse=warehouse, on_hand=10)
    stocktake = inventory_services.start_stocktake(
        warehouse_id=warehouse.pk, scope=StocktakeScope.SKUS, sku_ids=[sku.pk], actor=counter
    )
    inventory_services.record_count(
        stocktake_id=stocktake.pk, barcode_or_code=sku.merchant_code, quantity=9, actor=counter
    )
    inventory_services.submit_stocktake(stocktake_id=stocktake.pk, actor=counter)
    # when 5 units are received before the approver posts
    inventory_services.receive_stock(sku_id=sku.pk, warehouse_id=warehouse.pk, quantity=5, actor=None)
    inventory_services.post_stocktake(stocktake_id=stocktake.pk, actor=approver)
    # then the variance moves the level as it is now: 15 − 1
    assert on_hand(sku, warehouse) == 14


def test_scanner_entry_by_barcode_adds_up_and_a_sku_found_outside_the_snapshot_gets_a_line(make_user) -> None:
    # given a count of one SKU, and another SKU with a barcode that is on the shelf too
    counter = make_user("warehouse")
    warehouse = create_warehouse()
    listed, found = create_sku(), create_sku()
    found.barcode = "6901234567892"
    found.save()
    stock(sku=listed, warehouse=warehouse, on_hand=2)
    stock(sku=found, warehouse=warehouse, on_hand=4)
    stocktake = inventory_services.start_stocktake(
        warehouse_id=warehouse.pk,
        scope=StocktakeScope.SKUS,
        sku_ids=[listed.pk],
        actor=counter,
        is_blind=True,
    )
    # when the found SKU is scanned three times and one scan is taken back
    for quantity in (1, 1, 1, -1):
        line = inventory_services.record_count(
            stocktake_id=stocktake.pk,
            barcode_or_code="6901234567892",
            quantity=quantity,
            actor=counter,
            mode=CountMode.ADD,
        )
    # then
    assert (
        line.sku_id,
        line.expected_quantity,
        line.counted_quantity,
        line.book_quantity,
        line.variance,
    ) == (
        found.pk,
        4,
        2,
        4,
        -2,
    )
    assert stocktake.is_blind is True
    assert stocktake.lines.count() == 2


def test_the_approver_may_not_be_a_counter_and_a_posted_stocktake_takes_no_more_counts(make_user) -> None:
    # given a submitted count by one user
    counter, approver = make_user("warehouse"), make_user("warehouse")
    sku, warehouse = create_sku(), create_warehouse()
    stock(sku=sku, warehouse=warehouse, on_hand=3)
    stocktake = inventory_services.start_stocktake(
        warehouse_id=warehouse.pk, scope=StocktakeScope.SKUS, sku_ids=[sku.pk], actor=counter
    )
    inventory_services.record_count(
        stocktake_id=stocktake.pk, barcode_or_code=sku.merchant_code, quantity=1, actor=counter
    )
    inventory_services.submit_stocktake(stocktake_id=stocktake.pk, actor=counter)
    # when the counter tries to approve
    with pytest.raises(PermissionDeniedError) as refused:
        inventory_services.post_stocktake(stocktake_id=stocktake.pk, actor=counter)
    # then nothing is posted until another user approves
    assert refused.value.code == "approver_is_counter"
    assert on_hand(sku, warehouse) == 3
    inventory_services.post_stocktake(stocktake_id=stocktake.pk, actor=approver)
    assert on_hand(sku, warehouse) == 1
    with pytest.raises(StocktakeNotCounting):
        inventory_services.record_count(
            stocktake_id=stocktake.pk, barcode_or_code=sku.merchant_code, quantity=1, actor=counter
        )
    assert list(
        AuditEntry.objects.filter(object_id=str(stocktake.pk), action__startswith="stocktake.")
        .order_by("pk")
        .values_list("action", flat=True)
    ) == ["stocktake.started", "stocktake.submitted", "stocktake.posted"]


def test_cycle_counts_by_category_and_by_location_snapshot_only_their_skus(admin_user) -> None:
    # given SKUs in a parent category, its child category, another category; one SKU at a location
    warehouse = create_warehouse()
    parent = Category.objects.create(name="女装", code="W01", path="女装")
    child = Category.objects.create(name="连衣裙", code="W02", path="女装/连衣裙", parent=parent)
    other = Category.objects.create(name="男装", code="M01", path="男装")
    in_parent, in_child, elsewhere = create_sku(), create_sku(), create_sku()
    for sku, category in ((in_parent, parent), (in_child, child), (elsewhere, other)):
        sku.product.category = category
        sku.product.save()
        stock(sku=sku, warehouse=warehouse, on_hand=1)
    shelf = Location.objects.create(warehouse=warehouse, code="A-01-01")
    StockLevel.objects.filter(sku=elsewhere, warehouse=warehouse).update(location=shelf)
    # when
    by_category = inventory_services.start_stocktake(
        warehouse_id=warehouse.pk, scope=StocktakeScope.CATEGORY, category_id=parent.pk, actor=admin_user
    )
    by_location = inventory_services.start_stocktake(
        warehouse_id=warehouse.pk, scope=StocktakeScope.LOCATION, location_id=shelf.pk, actor=admin_user
    )
    # then
    assert sorted(by_category.lines.values_list("sku_id", flat=True)) == sorted([in_parent.pk, in_child.pk])
    assert list(by_location.lines.values_list("sku_id", flat=True)) == [elsewhere.pk]
