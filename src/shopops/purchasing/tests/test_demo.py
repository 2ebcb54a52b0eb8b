import datetime as dt
import re
from collections.abc import Iterator
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.db.models import F, Sum
from django.test import override_settings
from django.utils import timezone

from shopops.catalog.models import Sku
from shopops.inventory.models import MovementType, StockMovement
from shopops.inventory.queries import verify_stock
from shopops.purchasing.models import (
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderStatus,
    PurchaseReceipt,
    PurchaseReceiptLine,
    Supplier,
    SupplierPrice,
)
from shopops.purchasing.services import moving_average_cost

# one xdist worker loads the demo once for every test of the module
pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("demo_purchasing")]
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
# The demo is made relative to now: it is loaded just after New Year in Shanghai, still the old year in UTC.
CLOCKS = [dt.datetime(2027, 1, 1, 0, 10, tzinfo=SHANGHAI)]


def run_demo(*options: str) -> str:
    out = StringIO()
    call_command("demo", *options, stdout=out)
    return out.getvalue()


@pytest.fixture(scope="module")
def demo(
    module_clock: dt.datetime, module_db: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    var = tmp_path_factory.mktemp("var")
    with override_settings(VAR_DIR=var, ANALYTICS_DIR=var / "analytics", ANALYTICS_DEMO=False):
        yield run_demo("--seed", "42")


def purchasing_fingerprint() -> tuple[list[tuple], list[tuple], list[tuple]]:
    """Suppliers, price agreements and orders with their lines by code, to compare two runs."""
    suppliers = list(Supplier.objects.order_by("code").values_list("code", "name", "contact_phone"))
    prices = sorted(
        SupplierPrice.objects.values_list("supplier__code", "sku__merchant_code", "price", "min_quantity")
    )
    orders = [
        (
            order.supplier.code,
            order.warehouse.code,
            order.status,
            str(order.total_amount),
            list(
                order.lines.order_by("sku__merchant_code").values_list(
                    "sku__merchant_code", "quantity", "unit_price", "accepted_quantity", "rejected_quantity"
                )
            ),
        )
        for order in PurchaseOrder.objects.order_by("id").select_related("supplier", "warehouse")
    ]
    return suppliers, prices, orders


def test_demo_makes_eight_suppliers_with_contacts_and_price_agreements(demo: str) -> None:
    # given the demo
    # when the suppliers are read
    suppliers = list(Supplier.objects.order_by("code"))
    covered = {supplier.code for supplier in suppliers if supplier.prices.exists()}
    # then each has a Chinese contact with a mobile number, and most have agreements below sale price
    assert len(suppliers) == 8
    assert all(re.fullmatch(r"[\u4e00-\u9fff]{2,3}", supplier.contact_name) for supplier in suppliers)
    assert all(re.fullmatch(r"1[3-9]\d{9}", supplier.contact_phone) for supplier in suppliers)
    assert len(covered) == 8
    assert SupplierPrice.objects.count() >= 200
    assert "suppliers 8" in demo


def test_demo_orders_span_the_period_in_every_status(demo: str) -> None:
    # given the demo's purchase orders
    now = timezone.now()
    orders = PurchaseOrder.objects.all()
    # when their statuses and dates are read
    statuses = {status: orders.filter(status=status).count() for status in PurchaseOrderStatus.values}
    oldest = min(orders.values_list("created_at", flat=True))
    late_receipts = [
        receipt.number
        for receipt in PurchaseReceipt.objects.select_related("purchase_order")
        if not receipt.purchase_order.created_at < receipt.received_at <= now
    ]
    # then all six statuses occur over about 90 days, and every receipt follows its order
    assert orders.count() == 30
    assert all(count >= 3 for count in statuses.values())
    assert now - dt.timedelta(days=91) <= oldest <= now - dt.timedelta(days=50)
    assert late_receipts == []


def test_demo_receipts_reach_the_ledger_with_rejected_units_left_out(demo: str) -> None:
    # given the demo's receipts
    accepted = PurchaseReceiptLine.objects.aggregate(total=Sum("accepted_quantity"))["total"]
    rejected = PurchaseReceiptLine.objects.aggregate(total=Sum("rejected_quantity"))["total"]
    # when the ledger's purchase rows are summed
    received = StockMovement.objects.filter(movement_type=MovementType.PURCHASE_IN).aggregate(
        total=Sum("on_hand_delta")
    )["total"]
    line_totals = {
        line.pk: (line.accepted_quantity, line.rejected_quantity) for line in PurchaseOrderLine.objects.all()
    }
    from_receipts = {
        pk: (
            PurchaseReceiptLine.objects.filter(order_line_id=pk).aggregate(total=Sum("accepted_quantity"))[
                "total"
            ]
            or 0,
            PurchaseReceiptLine.objects.filter(order_line_id=pk).aggregate(total=Sum("rejected_quantity"))[
                "total"
            ]
            or 0,
        )
        for pk in line_totals
    }
    # then exactly the accepted units went on hand, and received orders include inspected rejects
    assert received == accepted
    assert rejected > 0
    assert line_totals == from_receipts
    assert PurchaseOrderLine.objects.filter(
        purchase_order__status=PurchaseOrderStatus.RECEIVED, rejected_quantity__gt=0
    ).exists()
    assert PurchaseOrderLine.objects.filter(
        purchase_order__status=PurchaseOrderStatus.PARTIALLY_RECEIVED, accepted_quantity__lt=F("quantity")
    ).exists()
    assert verify_stock() == []


def test_demo_receipts_move_sku_cost_by_moving_average(demo: str) -> None:
    # given each receipt line with accepted units
    lines = list(PurchaseReceiptLine.objects.filter(accepted_quantity__gt=0).order_by("id"))
    # when the last receipt of each SKU is compared with the SKU
    last = {line.order_line.sku_id: line for line in lines}
    mismatched = [
        sku.merchant_code
        for sku in Sku.objects.filter(pk__in=last)
        if sku.cost_price != last[sku.pk].cost_after
    ]
    # then every SKU's cost is the moving average its last receipt computed, and receipts changed costs
    assert mismatched == []
    assert any(line.cost_after != line.cost_before for line in lines)
    assert (
        moving_average_cost(
            old_quantity=10, old_cost=lines[0].cost_before, added_quantity=0, unit_price=lines[0].unit_cost
        )
        == lines[0].cost_before
    )


def test_demo_purchasing_is_reproducible_and_added_only_once(demo: str, module_clock: dt.datetime) -> None:
    # given the demo rebuilt with seed 5 (each run starts at the same instant: the demo follows the date)
    with time_machine.travel(module_clock, tick=True):
        run_demo("--seed", "5", "--days", "30", "--reset")
    first = purchasing_fingerprint()
    # when it runs again, is rebuilt with the same seed, then with another
    again = run_demo("--seed", "5", "--days", "30")
    unchanged = purchasing_fingerprint()
    with time_machine.travel(module_clock, tick=True):
        run_demo("--seed", "5", "--days", "30", "--reset")
    second = purchasing_fingerprint()
    with time_machine.travel(module_clock, tick=True):
        run_demo("--seed", "6", "--days", "30", "--reset")
    third = purchasing_fingerprint()
    # then a second run adds nothing, the same seed gives the same purchasing, another seed differs
    assert "no demo data added" in again
    assert unchanged == first
    assert second == first
    assert third != first
    assert PurchaseOrder.objects.count() == 30
