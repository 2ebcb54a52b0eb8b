"""After-sales in the back office: a case created from an order (only refundable units and money), every
step a POST behind a confirmation page, only the steps valid for the case's state and the user's
permission offered, distinct labels, and no GET anywhere in the after-sales admin that changes data."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from shopops.aftersales import services
from shopops.aftersales.admin import AfterSaleCaseAdmin
from shopops.aftersales.models import (
    AfterSaleCase,
    AfterSaleLine,
    CaseEvent,
    CaseKind,
    CaseStatus,
    ReturnReason,
)
from shopops.aftersales.tests import factories
from shopops.aftersales.tests.factories import Line
from shopops.core.models import AuditEntry
from shopops.fulfillment.models import Carrier
from shopops.inventory.models import StockMovement
from shopops.inventory.tests import factories as inventory_factories
from shopops.orders.models import Order, OrderEvent, OrderStatus

pytestmark = pytest.mark.django_db
ADD = "admin:aftersales_aftersalecase_add"
CHANGE = "admin:aftersales_aftersalecase_change"


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def step_url(name: str, case: AfterSaleCase) -> str:
    return reverse(f"admin:aftersales_aftersalecase_{name}", args=[case.pk])


def an_order(shop: Any = None, *, status: str = OrderStatus.COMPLETED, quantity: int = 3) -> Order:
    sku = inventory_factories.create_sku()
    return factories.create_order(
        shop=shop or factories.create_shop(),
        lines=[Line(sku, quantity, Decimal("25.00"))],
        status=status,
        shipping_fee=Decimal("6.00"),
    )


def state() -> tuple[Any, ...]:
    """Everything an after-sales step writes."""
    return (
        sorted(
            AfterSaleCase.objects.values_list("pk", "status", "refunded_amount", "return_tracking_number")
        ),
        CaseEvent.objects.count(),
        AfterSaleLine.objects.count(),
        sorted(Order.objects.values_list("pk", "refunded_amount")),
        OrderEvent.objects.count(),
        StockMovement.objects.count(),
        AuditEntry.objects.count(),
    )


def test_create_from_an_order_offers_only_refundable_units_and_money(admin_user, make_user):
    order = an_order()
    line = order.lines.get()
    client = client_for(make_user("customer_service"))
    url = reverse(ADD) + f"?order={order.pk}"

    page = client.get(url)
    assert page.status_code == 200
    assert order.external_id in page.content.decode()
    assert "¥81.00" in page.content.decode()  # 3 × 25.00 + 6.00 shipping, nothing refunded yet

    too_many = client.post(
        url,
        {
            "kind": CaseKind.RETURN_REFUND,
            "reason": reason().pk,
            f"units_{line.pk}": 4,
            "refund_shipping": "0",
        },
    )
    too_much = client.post(
        url,
        {
            "kind": CaseKind.RETURN_REFUND,
            "reason": reason().pk,
            f"units_{line.pk}": 1,
            "requested_amount": "30.00",  # one unit paid 25.00
            "refund_shipping": "0",
        },
    )
    assert too_many.status_code == too_much.status_code == 200
    assert "30" in too_much.content.decode()
    assert not AfterSaleCase.objects.exists()

    created = client.post(
        url,
        {
            "kind": CaseKind.RETURN_REFUND,
            "reason": reason().pk,
            f"units_{line.pk}": 2,
            "refund_shipping": "0",
            "description": "外包装破损，买家已拍照",
        },
    )

    case = AfterSaleCase.objects.get()
    assert created.status_code == 302
    assert created["Location"] == reverse(CHANGE, args=[case.pk])
    assert (case.kind, case.status, case.requested_amount) == (
        CaseKind.RETURN_REFUND,
        CaseStatus.APPLIED,
        Decimal("50.00"),
    )
    assert case.lines.get().quantity == 2
    # a second case may claim only the unit left
    again = client.get(url).content.decode()
    assert "可申请 1 件" in again


def reason() -> ReturnReason:
    return ReturnReason.objects.filter(is_active=True, code="quality.damaged").get()


def test_create_checks_permission_and_scope(admin_user, make_user):
    shop = factories.create_shop()
    order = an_order(shop)
    foreign = an_order()
    scoped = client_for(make_user("customer_service", shops=[shop]))
    assert scoped.get(reverse(ADD) + f"?order={foreign.pk}").status_code == 404
    assert scoped.get(reverse(ADD) + f"?order={order.pk}").status_code == 200
    # looking an order up by its number stays in scope too
    found = scoped.get(reverse(ADD), {"order_number": order.external_id})
    assert found["Location"].endswith(f"?order={order.pk}")
    assert "没有找到" in scoped.get(reverse(ADD), {"order_number": foreign.external_id}).content.decode()
    assert client_for(make_user("finance")).get(reverse(ADD) + f"?order={order.pk}").status_code == 403
    assert client_for(make_user("designer")).post(reverse(ADD) + f"?order={order.pk}", {}).status_code == 403
    assert not AfterSaleCase.objects.exists()


def test_unshipped_orders_offer_refund_only(admin_user, make_user):
    order = an_order(status=OrderStatus.PAID)
    page = client_for(admin_user).get(reverse(ADD) + f"?order={order.pk}").content.decode()
    assert str(CaseKind.REFUND_ONLY.label) in page
    assert f'value="{CaseKind.RETURN_REFUND}"' not in page


def test_labels_of_the_steps_are_distinct():
    labels = [
        getattr(AfterSaleCaseAdmin, name).short_description for name in AfterSaleCaseAdmin.actions_detail
    ]
    assert len({str(label) for label in labels}) == len(labels)


def test_case_page_shows_only_the_steps_valid_for_its_state_and_the_user(admin_user, make_user):
    applied = factories.apply(an_order(), kind=CaseKind.REFUND_ONLY, actor=admin_user)
    approved = factories.apply(an_order(), kind=CaseKind.REFUND_ONLY, actor=admin_user)
    services.approve_case(actor=admin_user, case_id=approved.pk)
    service = client_for(make_user("customer_service"))
    finance = client_for(make_user("finance"))

    applied_page = service.get(reverse(CHANGE, args=[applied.pk])).content.decode()
    approved_page = service.get(reverse(CHANGE, args=[approved.pk])).content.decode()
    finance_page = finance.get(reverse(CHANGE, args=[approved.pk])).content.decode()

    assert step_url("approve_case", applied) in applied_page
    assert step_url("reject_case", applied) in applied_page
    assert step_url("refund_case", applied) not in applied_page
    assert step_url("close_case", applied) not in applied_page
    assert step_url("refund_case", approved) in approved_page
    assert step_url("approve_case", approved) not in approved_page
    assert step_url("refund_case", approved) in finance_page  # 财务 pays refunds
    assert step_url("cancel_case", approved) not in finance_page  # but changes nothing else
    # a step out of its state is refused even when typed in
    assert service.post(step_url("refund_case", applied), {"step": "apply", "amount": "1"}).status_code == 403
    assert AfterSaleCase.objects.get(pk=applied.pk).status == CaseStatus.APPLIED
    # the timeline speaks in labels, never status codes
    assert "待审核 → 已同意" in approved_page
    assert "applied" not in finance_page.split('data-testid="case-timeline"')[1].split("</ol>")[0]


def test_no_get_in_the_aftersales_admin_changes_anything(admin_user):
    # given cases in every state a step starts from
    carrier = Carrier.objects.create(code="zto-test", name="中通测试")
    warehouse = inventory_factories.create_warehouse()
    cases = {
        "applied": factories.apply(an_order(), kind=CaseKind.RETURN_REFUND, actor=admin_user),
        "approved": factories.apply(an_order(), kind=CaseKind.REFUND_ONLY, actor=admin_user),
        "awaiting": factories.apply(an_order(), kind=CaseKind.RETURN_REFUND, actor=admin_user),
        "received": factories.apply(an_order(), kind=CaseKind.RETURN_REFUND, actor=admin_user),
        "refunded": factories.apply(an_order(), kind=CaseKind.REFUND_ONLY, actor=admin_user),
    }
    for name in ("approved", "awaiting", "received", "refunded"):
        services.approve_case(actor=admin_user, case_id=cases[name].pk)
    services.set_return_tracking(
        actor=admin_user, case_id=cases["received"].pk, tracking_number="ZT1", carrier_id=carrier.pk
    )
    line = cases["received"].lines.get()
    services.receive_return(
        actor=admin_user,
        case_id=cases["received"].pk,
        lines={line.pk: line.quantity},
        warehouse_id=warehouse.pk,
    )
    services.refund_case(actor=admin_user, case_id=cases["refunded"].pk)
    client = client_for(admin_user)
    before = state()

    # when every page and step of the after-sales admin is fetched with GET (query strings of a form too)
    urls = [
        reverse("admin:aftersales_aftersalecase_changelist"),
        reverse("admin:aftersales_returnreason_changelist"),
        reverse(ADD),
        reverse(ADD) + f"?order={cases['applied'].order_id}",
    ]
    for case in cases.values():
        urls.append(reverse(CHANGE, args=[case.pk]))
        urls += [
            step_url(name, case) + "?step=apply&amount=1&reason=x"
            for name in AfterSaleCaseAdmin.actions_detail
        ]
    answers = {url: client.get(url).status_code for url in urls}

    # then nothing changed, and no GET failed
    assert state() == before
    assert all(code in (200, 302, 403) for code in answers.values()), answers


def test_return_is_worked_through_in_the_back_office(admin_user, make_user):
    # given a completed order of 3 × ¥25.00 and a warehouse the return comes back to
    order = an_order()
    line = order.lines.get()
    warehouse = inventory_factories.create_warehouse()
    carrier = Carrier.objects.create(code="jt-test", name="极兔测试")
    service = client_for(make_user("customer_service"))
    store = client_for(make_user("warehouse"))
    finance = client_for(make_user("finance"))

    # when customer service opens a return of 2 units and approves it, records the buyer's tracking number,
    # the warehouse receives and inspects (grade A), finance refunds and customer service closes the case
    service.post(
        reverse(ADD) + f"?order={order.pk}",
        {
            "kind": CaseKind.RETURN_REFUND,
            "reason": reason().pk,
            f"units_{line.pk}": 2,
            "refund_shipping": "0",
        },
    )
    case = AfterSaleCase.objects.get()
    case_line = case.lines.get()
    service.post(step_url("approve_case", case), {"step": "apply", "note": ""})
    service.post(
        step_url("return_tracking_case", case),
        {"step": "apply", "carrier": carrier.pk, "tracking_number": "JT0001"},
    )
    store.post(
        step_url("receive_case", case),
        {"step": "apply", "warehouse": warehouse.pk, f"units_{case_line.pk}": 2},
    )
    store.post(
        step_url("inspect_case", case),
        {
            "step": "apply",
            "sellable_warehouse": warehouse.pk,
            f"a_{case_line.pk}": 2,
            f"b_{case_line.pk}": 0,
            f"scrap_{case_line.pk}": 0,
            f"claim_{case_line.pk}": 0,
            "claim_amount": "0",
        },
    )
    finance.post(step_url("refund_case", case), {"step": "apply", "amount": "50.00"})
    service.post(step_url("close_case", case), {"step": "apply"})

    # then the order shows the refund of 2 × 25.00 and the case is closed with the buyer's parcel on it
    case.refresh_from_db()
    order.refresh_from_db()
    assert order.refunded_amount == Decimal("25.00") * 2
    assert (case.status, case.refunded_amount) == (CaseStatus.CLOSED, Decimal("50.00"))
    assert (case.return_carrier_id, case.return_tracking_number) == (carrier.pk, "JT0001")
    page = service.get(reverse(CHANGE, args=[case.pk])).content.decode()
    assert "买家退货：极兔测试 JT0001" in page


STEP_MATRIX = [
    # step, case kind, services run before it, a role allowed, a role refused (permission)
    ("approve_case", CaseKind.REFUND_ONLY, [], "customer_service", "warehouse"),
    ("reject_case", CaseKind.REFUND_ONLY, [], "customer_service", "finance"),
    ("return_tracking_case", CaseKind.RETURN_REFUND, ["approve"], "customer_service", "finance"),
    ("receive_case", CaseKind.RETURN_REFUND, ["approve"], "warehouse", "customer_service"),
    ("refund_case", CaseKind.REFUND_ONLY, ["approve"], "finance", "warehouse"),
    ("cancel_case", CaseKind.REFUND_ONLY, [], "customer_service", "finance"),
    ("close_case", CaseKind.REFUND_ONLY, ["approve", "refund"], "customer_service", "warehouse"),
]


@pytest.mark.parametrize(("step", "kind", "before", "allowed", "refused"), STEP_MATRIX)
def test_each_step_is_offered_and_accepted_only_with_its_permission(
    admin_user, make_user, step, kind, before, allowed, refused
):
    case = factories.apply(an_order(), kind=kind, actor=admin_user)
    for done in before:
        {"approve": services.approve_case, "refund": services.refund_case}[done](
            actor=admin_user, case_id=case.pk
        )
    refused_client = client_for(make_user(refused))
    allowed_client = client_for(make_user(allowed))
    outsider = client_for(make_user(allowed, shops=[factories.create_shop()]))
    before_state = state()

    # the refused role sees no button and is refused on GET and POST; a user of another shop gets a 404
    assert step_url(step, case) not in refused_client.get(reverse(CHANGE, args=[case.pk])).content.decode()
    assert refused_client.get(step_url(step, case)).status_code == 403
    assert refused_client.post(step_url(step, case), {"step": "apply"}).status_code == 403
    assert outsider.post(step_url(step, case), {"step": "apply"}).status_code == 404
    assert Client().post(step_url(step, case), {"step": "apply"}).status_code == 302  # to the login page
    assert state() == before_state

    # the allowed role sees the button and its confirmation page, which changes nothing by itself
    assert step_url(step, case) in allowed_client.get(reverse(CHANGE, args=[case.pk])).content.decode()
    assert allowed_client.get(step_url(step, case)).status_code == 200
    assert state() == before_state
