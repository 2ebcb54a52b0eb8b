import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from shopops.aftersales import services
from shopops.aftersales.models import AfterSaleCase, CaseKind, CaseStatus, Inspection, InspectionGrade
from shopops.aftersales.tests import factories
from shopops.aftersales.tests.factories import Line
from shopops.inventory.models import StockLevel
from shopops.inventory.tests import factories as inventory_factories

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:aftersales_aftersalecase_changelist"


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _case(
    admin_user: Any, *, shop: Any = None, kind: str = CaseKind.RETURN_REFUND, **extra: Any
) -> AfterSaleCase:
    sku = inventory_factories.create_sku()
    order = factories.create_order(
        shop=shop or factories.create_shop(), lines=[Line(sku, 2, Decimal("30.00"))]
    )
    return factories.apply(order, kind=kind, actor=admin_user, **extra)


def test_pages_render_for_permitted_users_and_not_for_others(admin_user: Any, make_user: Any) -> None:
    # given a case in a shop and one in another shop
    shop = factories.create_shop()
    case = _case(admin_user, shop=shop)
    foreign = _case(admin_user)
    service = client_for(make_user("customer_service", shops=[shop]))
    designer = client_for(make_user("designer"))

    # when / then the list, the detail and the reasons render for customer service; the designer is refused
    listing = service.get(reverse(CHANGELIST))
    assert listing.status_code == 200
    assert f">{case.pk}<" in listing.content.decode()
    assert service.get(reverse("admin:aftersales_aftersalecase_change", args=[case.pk])).status_code == 200
    assert service.get(reverse("admin:aftersales_aftersalecase_change", args=[foreign.pk])).status_code == 302
    assert service.get(reverse("admin:aftersales_returnreason_changelist")).status_code == 200
    assert designer.get(reverse(CHANGELIST)).status_code == 403
    assert Client().get(reverse(CHANGELIST)).status_code == 302


def test_overdue_cases_are_highlighted_and_filterable(admin_user: Any) -> None:
    # given one overdue case and one fresh case
    late = _case(admin_user, applied_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    fresh = _case(admin_user)
    client = client_for(admin_user)

    # when filtering overdue
    response = client.get(reverse(CHANGELIST), {"overdue": "yes"})

    # then only the late case shows, marked 已超时
    html = response.content.decode()
    assert "已超时" in html
    assert f'href="/admin/aftersales/aftersalecase/{late.pk}/change/' in html
    assert f'href="/admin/aftersales/aftersalecase/{fresh.pk}/change/' not in html


def test_approve_action_and_reject_page_call_the_services(admin_user: Any, make_user: Any) -> None:
    # given two applied cases and a customer-service user
    first, second = _case(admin_user), _case(admin_user)
    client = client_for(make_user("customer_service"))

    # when the first is approved from the list and the second rejected on its page
    client.post(reverse(CHANGELIST), {"action": "approve_selected", "_selected_action": [first.pk]})
    page = client.get(reverse("admin:aftersales_aftersalecase_reject_case", args=[second.pk]))
    client.post(
        reverse("admin:aftersales_aftersalecase_reject_case", args=[second.pk]),
        {"step": "apply", "reason": "已超过售后期"},
    )

    # then
    assert page.status_code == 200
    assert AfterSaleCase.objects.get(pk=first.pk).status == CaseStatus.AWAITING_RETURN
    second.refresh_from_db()
    assert (second.status, second.decision_note) == (CaseStatus.REJECTED, "已超过售后期")


def test_receive_and_inspection_pages_move_stock_by_grade(admin_user: Any, make_user: Any) -> None:
    # given an approved return of 2 units
    case = _case(admin_user)
    services.approve_case(actor=admin_user, case_id=case.pk)
    line = case.lines.get()
    sellable = inventory_factories.create_warehouse()
    defective = factories.defective_warehouse()
    client = client_for(make_user("warehouse"))

    # when the warehouse receives both and grades one A and one B on the inspection page
    client.post(
        reverse("admin:aftersales_aftersalecase_receive_case", args=[case.pk]),
        {"step": "apply", "warehouse": sellable.pk, f"units_{line.pk}": 2},
    )
    page = client.get(reverse("admin:aftersales_aftersalecase_inspect_case", args=[case.pk]))
    client.post(
        reverse("admin:aftersales_aftersalecase_inspect_case", args=[case.pk]),
        {
            "step": "apply",
            "sellable_warehouse": sellable.pk,
            "defective_warehouse": defective.pk,
            f"a_{line.pk}": 1,
            f"b_{line.pk}": 1,
            f"scrap_{line.pk}": 0,
            f"claim_{line.pk}": 0,
            "claim_amount": "0",
            "note": "",
        },
    )

    # then
    assert page.status_code == 200
    assert AfterSaleCase.objects.get(pk=case.pk).status == CaseStatus.INSPECTED
    assert sorted(Inspection.objects.filter(line=line).values_list("grade", "quantity")) == [
        (InspectionGrade.A, 1),
        (InspectionGrade.B, 1),
    ]
    detail = client.get(reverse("admin:aftersales_aftersalecase_change", args=[case.pk])).content.decode()
    assert "A 良品回库 × 1" in detail
    assert "B 次品/翻新库 × 1" in detail
    sku_id = line.order_line.sku_id
    assert StockLevel.objects.get(sku_id=sku_id, warehouse=sellable).on_hand == 1
    assert StockLevel.objects.get(sku_id=sku_id, warehouse=defective).on_hand == 1


def test_inspection_page_is_refused_without_the_permission(admin_user: Any, make_user: Any) -> None:
    case = _case(admin_user)
    client = client_for(make_user("finance"))

    response = client.get(reverse("admin:aftersales_aftersalecase_inspect_case", args=[case.pk]))

    assert response.status_code in (302, 403)
    assert AfterSaleCase.objects.get(pk=case.pk).status == CaseStatus.APPLIED
