from decimal import Decimal
from typing import Any

import pytest

from shopops.aftersales import services
from shopops.aftersales.models import AfterSaleCase, CaseKind, CaseStatus, Inspection, InspectionGrade
from shopops.aftersales.tests import factories
from shopops.aftersales.tests.factories import Line
from shopops.core.errors import InvalidInput
from shopops.inventory import services as inventory_services
from shopops.inventory.models import MovementType, StockLevel, StockMovement
from shopops.inventory.tests import factories as inventory_factories
from shopops.purchasing.models import Supplier

pytestmark = pytest.mark.django_db


def _received_case(actor: Any, units: int = 4) -> tuple[AfterSaleCase, Any, Any, Any, Any]:
    sku = inventory_factories.create_sku()
    order = factories.create_order(shop=factories.create_shop(), lines=[Line(sku, units, Decimal("25.00"))])
    sellable = inventory_factories.create_warehouse()
    defective = factories.defective_warehouse()
    case = factories.apply(order, kind=CaseKind.RETURN_REFUND, actor=actor)
    services.approve_case(actor=actor, case_id=case.pk)
    line = case.lines.get()
    services.receive_return(actor=actor, case_id=case.pk, lines={line.pk: units}, warehouse_id=sellable.pk)
    return case, line, sku, sellable, defective


def _ledger(case: AfterSaleCase) -> list[tuple[int, str, int, int]]:
    rows = StockMovement.objects.filter(reference_type="aftersale", reference_id=str(case.pk)).order_by("pk")
    return [(row.warehouse_id, row.movement_type, row.on_hand_delta, row.on_hand_after) for row in rows]


def test_each_grade_is_exactly_its_ledger_rows(admin_user: Any) -> None:
    # given 4 units received at the sellable warehouse
    case, line, sku, sellable, defective = _received_case(admin_user)
    supplier = Supplier.objects.create(code="SUP-1", name="东莞工厂")

    # when they are graded A, B, scrap and supplier claim (one unit each)
    services.inspect_return(
        actor=admin_user,
        case_id=case.pk,
        results=[
            (line.pk, InspectionGrade.A, 1, {}),
            (line.pk, InspectionGrade.B, 1, {"warehouse_id": defective.pk}),
            (line.pk, InspectionGrade.SCRAP, 1, {"note": "屏幕碎裂"}),
            (
                line.pk,
                InspectionGrade.SUPPLIER_CLAIM,
                1,
                {"warehouse_id": defective.pk, "supplier_id": supplier.pk, "claim_amount": "12.50"},
            ),
        ],
    )

    # then A: sellable +1; B: defective +1; scrap: in and written off (two rows, net 0); claim: defective +1
    assert _ledger(case) == [
        (sellable.pk, MovementType.RETURN_IN, 1, 1),
        (defective.pk, MovementType.RETURN_IN, 1, 1),
        (sellable.pk, MovementType.RETURN_IN, 1, 2),
        (sellable.pk, MovementType.DAMAGE, -1, 1),
        (defective.pk, MovementType.RETURN_IN, 1, 2),
    ]
    assert StockLevel.objects.get(sku=sku, warehouse=sellable).on_hand == 1
    assert StockLevel.objects.get(sku=sku, warehouse=defective).on_hand == 2
    claim = Inspection.objects.get(line=line, grade=InspectionGrade.SUPPLIER_CLAIM)
    assert (claim.supplier_id, claim.claim_amount, claim.warehouse_id) == (
        supplier.pk,
        Decimal("12.50"),
        defective.pk,
    )
    case.refresh_from_db()
    assert (case.status, case.inspected_by) == (CaseStatus.INSPECTED, admin_user)


@pytest.mark.parametrize(
    ("grade", "target", "error"),
    [
        (InspectionGrade.B, "sellable", services.WarehouseNotDefective),
        (InspectionGrade.SUPPLIER_CLAIM, "sellable", services.WarehouseNotDefective),
        (InspectionGrade.A, "defective", InvalidInput),
    ],
)
def test_grade_into_the_wrong_kind_of_warehouse_is_refused(
    admin_user: Any, grade: str, target: str, error: type[Exception]
) -> None:
    # given 1 received unit
    case, line, sku, sellable, defective = _received_case(admin_user, units=1)
    warehouse = sellable if target == "sellable" else defective
    supplier = Supplier.objects.create(code="SUP-2", name="义乌工厂")

    # when it is graded into the wrong warehouse
    with pytest.raises(error):
        services.inspect_return(
            actor=admin_user,
            case_id=case.pk,
            results=[(line.pk, grade, 1, {"warehouse_id": warehouse.pk, "supplier_id": supplier.pk})],
        )

    # then nothing moved
    assert _ledger(case) == []
    assert AfterSaleCase.objects.get(pk=case.pk).status == CaseStatus.RECEIVED
    assert not Inspection.objects.exists()


def test_inspected_units_must_equal_received_units(admin_user: Any) -> None:
    case, line, _sku, _sellable, _defective = _received_case(admin_user, units=2)

    with pytest.raises(services.InspectionMismatch) as refused:
        services.inspect_return(
            actor=admin_user, case_id=case.pk, results=[(line.pk, InspectionGrade.A, 1, {})]
        )

    assert refused.value.fields == {f"lines.{line.pk}": "须为 2 件"}
    assert _ledger(case) == []


def test_receiving_more_than_the_case_is_refused(admin_user: Any) -> None:
    sku = inventory_factories.create_sku()
    order = factories.create_order(shop=factories.create_shop(), lines=[Line(sku, 2, Decimal("25.00"))])
    warehouse = inventory_factories.create_warehouse()
    case = factories.apply(order, kind=CaseKind.RETURN_REFUND, actor=admin_user)
    services.approve_case(actor=admin_user, case_id=case.pk)

    with pytest.raises(InvalidInput):
        services.receive_return(
            actor=admin_user, case_id=case.pk, lines={case.lines.get().pk: 3}, warehouse_id=warehouse.pk
        )

    assert AfterSaleCase.objects.get(pk=case.pk).status == CaseStatus.AWAITING_RETURN


def test_reserve_stock_never_picks_the_defective_warehouse() -> None:
    # given 2 sellable units and 10 units in the defective-goods warehouse
    sku = inventory_factories.create_sku()
    sellable = inventory_factories.create_warehouse()
    defective = factories.defective_warehouse()
    inventory_factories.stock(sku=sku, warehouse=sellable, on_hand=2)
    inventory_factories.stock(sku=sku, warehouse=defective, on_hand=10)

    # when reserving: 1 unit anywhere, 5 units anywhere, 1 unit explicitly in the defective warehouse
    (reservation,) = inventory_services.reserve_stock(sku_id=sku.pk, quantity=1, reference="O-1", actor=None)
    with pytest.raises(inventory_services.InsufficientStock) as short:
        inventory_services.reserve_stock(sku_id=sku.pk, quantity=5, reference="O-2", actor=None)
    with pytest.raises(InvalidInput) as refused:
        inventory_services.reserve_stock(
            sku_id=sku.pk, quantity=1, reference="O-3", actor=None, warehouse_id=defective.pk
        )

    # then only the sellable warehouse is used, and the defective one is never counted as available
    assert reservation.warehouse_id == sellable.pk
    assert short.value.fields["available"] == "1"
    assert refused.value.code == "warehouse_not_sellable"
    assert StockLevel.objects.get(sku=sku, warehouse=defective).reserved == 0


def test_channel_availability_skips_the_defective_warehouse() -> None:
    sku = inventory_factories.create_sku()
    shop = factories.create_shop()
    inventory_factories.stock(sku=sku, warehouse=inventory_factories.create_warehouse(), on_hand=3)
    inventory_factories.stock(sku=sku, warehouse=factories.defective_warehouse(), on_hand=7)

    assert inventory_services.channel_available(sku_id=sku.pk, shop_id=shop.pk) == 3
