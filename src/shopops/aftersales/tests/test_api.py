import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from shopops.aftersales import services
from shopops.aftersales.models import AfterSaleCase, CaseEvent, CaseKind, CaseStatus, InspectionGrade
from shopops.aftersales.tests import factories
from shopops.aftersales.tests.factories import Line
from shopops.inventory.models import StockMovement
from shopops.inventory.tests import factories as inventory_factories
from shopops.purchasing.models import Supplier

pytestmark = pytest.mark.django_db

BASE = "/api/v1/aftersales"


@dataclass
class World:
    admin: Any
    shop: Any
    other_shop: Any
    warehouse: Any
    defective: Any
    supplier: Any


@pytest.fixture
def world(admin_user: Any) -> World:
    warehouse = inventory_factories.create_warehouse()
    return World(
        admin=admin_user,
        shop=factories.create_shop(name="在范围店"),
        other_shop=factories.create_shop(name="范围外店"),
        warehouse=warehouse,
        defective=factories.defective_warehouse(),
        supplier=Supplier.objects.create(code="SUP-API", name="接口供应商"),
    )


def _order(world: World, shop: Any | None = None) -> Any:
    sku = inventory_factories.create_sku()
    inventory_factories.stock(sku=sku, warehouse=world.warehouse, on_hand=5)
    return factories.create_order(shop=shop or world.shop, lines=[Line(sku, 2, Decimal("50.00"))])


def _case(world: World, kind: str, state: str, shop: Any | None = None) -> AfterSaleCase:
    """A case of `kind` brought to `state` through the services."""
    order = _order(world, shop)
    case = factories.apply(order, kind=kind, actor=world.admin)
    if state == "applied":
        return case
    if state == "rejected":
        return services.reject_case(actor=world.admin, case_id=case.pk, reason="不符合")
    services.approve_case(actor=world.admin, case_id=case.pk)
    if state in ("approved", "awaiting_return"):
        return AfterSaleCase.objects.get(pk=case.pk)
    line = case.lines.get()
    services.receive_return(
        actor=world.admin, case_id=case.pk, lines={line.pk: 2}, warehouse_id=world.warehouse.pk
    )
    return AfterSaleCase.objects.get(pk=case.pk)


def _line_id(case: AfterSaleCase) -> int:
    return case.lines.get().pk


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    kind: str
    state: str
    permitted: str
    denied: str
    success: int
    payload: Callable[[World, AfterSaleCase], dict[str, Any]]
    path: str = ""


ENDPOINTS = [
    Endpoint(
        "approve",
        "post",
        CaseKind.REFUND_ONLY,
        "applied",
        "customer_service",
        "warehouse",
        200,
        lambda w, c: {},
    ),
    Endpoint(
        "reject",
        "post",
        CaseKind.REFUND_ONLY,
        "applied",
        "customer_service",
        "warehouse",
        200,
        lambda w, c: {"reason": "超过售后期"},
    ),
    Endpoint(
        "return-tracking",
        "post",
        CaseKind.RETURN_REFUND,
        "awaiting_return",
        "customer_service",
        "finance",
        200,
        lambda w, c: {"tracking_number": "SF1234567890123"},
    ),
    Endpoint(
        "receive",
        "post",
        CaseKind.RETURN_REFUND,
        "awaiting_return",
        "warehouse",
        "customer_service",
        200,
        lambda w, c: {"warehouse_id": w.warehouse.pk, "lines": [{"line_id": _line_id(c), "units": 2}]},
    ),
    Endpoint(
        "inspect",
        "post",
        CaseKind.RETURN_REFUND,
        "received",
        "warehouse",
        "customer_service",
        200,
        lambda w, c: {
            "results": [
                {"line_id": _line_id(c), "grade": InspectionGrade.A, "units": 1},
                {
                    "line_id": _line_id(c),
                    "grade": InspectionGrade.SUPPLIER_CLAIM,
                    "units": 1,
                    "warehouse_id": w.defective.pk,
                    "supplier_id": w.supplier.pk,
                    "claim_amount": "20.00",
                },
            ]
        },
    ),
    Endpoint(
        "refund", "post", CaseKind.REFUND_ONLY, "approved", "finance", "warehouse", 200, lambda w, c: {}
    ),
    Endpoint(
        "ship-replacement",
        "post",
        CaseKind.RESHIP,
        "approved",
        "customer_service",
        "finance",
        200,
        lambda w, c: {"warehouse_id": w.warehouse.pk, "tracking_number": "YT1234567890123"},
    ),
    Endpoint(
        "close", "post", CaseKind.REFUND_ONLY, "rejected", "customer_service", "finance", 200, lambda w, c: {}
    ),
    Endpoint(
        "cancel", "post", CaseKind.REFUND_ONLY, "applied", "customer_service", "finance", 200, lambda w, c: {}
    ),
    Endpoint("", "get", CaseKind.RETURN_REFUND, "received", "finance", "designer", 200, lambda w, c: {}),
]


def _call(client: Client, endpoint: Endpoint, case: AfterSaleCase, payload: dict[str, Any]) -> Any:
    path = f"{BASE}/cases/{case.pk}" + (f"/{endpoint.name}" if endpoint.name else "")
    if endpoint.method == "get":
        return client.get(path)
    return client.post(path, data=json.dumps(payload), content_type="application/json")


def _state(case: AfterSaleCase) -> tuple[Any, ...]:
    fresh = AfterSaleCase.objects.get(pk=case.pk)
    return (
        fresh.status,
        fresh.return_tracking_number,
        fresh.refunded_amount,
        CaseEvent.objects.filter(case=case).count(),
        StockMovement.objects.filter(reference_type="aftersale", reference_id=str(case.pk)).count(),
    )


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda endpoint: endpoint.name or "detail")
def test_case_endpoint_authorization_matrix(
    endpoint: Endpoint, world: World, make_user: Any, api_client_for: Callable[[Any], Client]
) -> None:
    # given a case in this shop, one in a shop out of the user's scope, and the users
    case = _case(world, endpoint.kind, endpoint.state)
    foreign = _case(world, endpoint.kind, endpoint.state, shop=world.other_shop)
    permitted = api_client_for(make_user(endpoint.permitted, shops=[world.shop]))
    denied = api_client_for(make_user(endpoint.denied))
    before, foreign_before = _state(case), _state(foreign)

    # when anonymous, without the permission, out of scope
    anonymous = _call(Client(), endpoint, case, endpoint.payload(world, case))
    forbidden = _call(denied, endpoint, case, endpoint.payload(world, case))
    hidden = _call(permitted, endpoint, foreign, endpoint.payload(world, foreign))

    # then 401 / 403 / 404 and nothing changed
    assert (anonymous.status_code, forbidden.status_code, hidden.status_code) == (401, 403, 404)
    assert forbidden.json()["code"] == "permission_denied"
    assert (_state(case), _state(foreign)) == (before, foreign_before)

    # when permitted and in scope
    response = _call(permitted, endpoint, case, endpoint.payload(world, case))

    # then it succeeds and answers the case detail
    assert response.status_code == endpoint.success, response.content
    assert response.json()["id"] == case.pk


def test_apply_authorization_matrix(
    world: World, make_user: Any, api_client_for: Callable[[Any], Client]
) -> None:
    # given an order in scope, one out of scope
    order, foreign = _order(world), _order(world, world.other_shop)
    permitted = api_client_for(make_user("customer_service", shops=[world.shop]))
    denied = api_client_for(make_user("warehouse"))

    def body(target: Any) -> str:
        line = target.lines.get()
        return json.dumps(
            {
                "order_id": target.pk,
                "kind": "return_refund",
                "reason_code": "quality.damaged",
                "lines": [{"order_line_id": line.pk, "units": 1}],
            }
        )

    # when / then
    assert (
        Client().post(f"{BASE}/cases", data=body(order), content_type="application/json").status_code == 401
    )
    assert denied.post(f"{BASE}/cases", data=body(order), content_type="application/json").status_code == 403
    assert (
        permitted.post(f"{BASE}/cases", data=body(foreign), content_type="application/json").status_code
        == 404
    )
    assert not AfterSaleCase.objects.exists()
    created = permitted.post(f"{BASE}/cases", data=body(order), content_type="application/json")
    assert created.status_code == 201
    assert (created.json()["requested_amount"], created.json()["stage"], created.json()["status"]) == (
        "50.00",
        "after_sale",
        "applied",
    )
    assert [event["to_status"] for event in created.json()["events"]] == ["applied"]


def test_case_list_is_scoped_and_filtered(
    world: World, make_user: Any, api_client_for: Callable[[Any], Client]
) -> None:
    # given cases in and out of scope
    mine = _case(world, CaseKind.REFUND_ONLY, "applied")
    _case(world, CaseKind.RETURN_REFUND, "awaiting_return")
    _case(world, CaseKind.REFUND_ONLY, "applied", shop=world.other_shop)
    client = api_client_for(make_user("finance", shops=[world.shop]))

    # when listing all, then by status, kind and reason group, and overdue
    everything = client.get(f"{BASE}/cases").json()
    applied = client.get(
        f"{BASE}/cases", {"status": "applied", "kind": "refund_only", "reason": "quality"}
    ).json()
    overdue = client.get(f"{BASE}/cases", {"overdue": "true"}).json()

    # then only the shop's cases appear
    assert everything["count"] == 2
    assert [item["id"] for item in applied["items"]] == [mine.pk]
    assert overdue["count"] == 0
    assert Client().get(f"{BASE}/cases").status_code == 401
    assert api_client_for(make_user("designer")).get(f"{BASE}/cases").status_code == 403


def test_illegal_step_answers_409_with_a_clear_message(
    world: World, make_user: Any, api_client_for: Callable[[Any], Client]
) -> None:
    case = _case(world, CaseKind.REFUND_ONLY, "approved")
    client = api_client_for(make_user("customer_service"))

    response = client.post(f"{BASE}/cases/{case.pk}/approve", data="{}", content_type="application/json")

    assert response.status_code == 409
    assert response.json()["code"] == "illegal_case_transition"
    assert response.json()["message"] == f"售后单 #{case.pk}（仅退款）当前状态为「已同意」，不能审核"


def test_refund_over_the_request_answers_409_and_changes_nothing(
    world: World, make_user: Any, api_client_for: Callable[[Any], Client]
) -> None:
    case = _case(world, CaseKind.REFUND_ONLY, "approved")
    client = api_client_for(make_user("finance"))

    response = client.post(
        f"{BASE}/cases/{case.pk}/refund",
        data=json.dumps({"amount": "100.01"}),
        content_type="application/json",
    )

    assert (response.status_code, response.json()["code"]) == (409, "refund_too_large")
    assert AfterSaleCase.objects.get(pk=case.pk).status == CaseStatus.APPROVED


def test_reasons_and_reports_authorization(
    world: World, make_user: Any, api_client_for: Callable[[Any], Client]
) -> None:
    finance = api_client_for(make_user("finance"))
    designer = api_client_for(make_user("designer"))
    warehouse = api_client_for(make_user("warehouse"))

    reasons = finance.get(f"{BASE}/reasons")
    rates = finance.get(f"{BASE}/reports/rates", {"group_by": "platform"})
    csv_file = finance.get(f"{BASE}/reports/rates", {"group_by": "reason", "format": "csv"})
    claims = warehouse.get(f"{BASE}/reports/supplier-claims")

    assert reasons.status_code == 200
    assert [reason["code"] for reason in reasons.json()][:5] == [
        "quality",
        "quality.workmanship",
        "quality.damaged",
        "quality.malfunction",
        "quality.not_as_described",
    ]
    assert (rates.status_code, rates.json()) == (200, [])
    assert csv_file.status_code == 200
    assert csv_file["Content-Type"].startswith("text/csv")
    assert (claims.status_code, claims.json()) == (200, [])
    for path in ("reasons", "reports/rates", "reports/supplier-claims"):
        assert Client().get(f"{BASE}/{path}").status_code == 401
        assert designer.get(f"{BASE}/{path}").status_code == 403


def _list_queries(client: Client) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(f"{BASE}/cases").status_code == 200
    return len(captured.captured_queries)


def test_case_list_query_count_does_not_grow_with_the_page(
    world: World, make_user: Any, api_client_for: Callable[[Any], Client]
) -> None:
    # given a client and one case
    client = api_client_for(make_user("finance"))
    _case(world, CaseKind.REFUND_ONLY, "applied")
    client.get(f"{BASE}/cases")  # warm the permission and content-type caches
    one = _list_queries(client)

    # when four more cases exist
    for _ in range(4):
        _case(world, CaseKind.RETURN_REFUND, "awaiting_return")

    # then listing them costs the same number of queries
    assert _list_queries(client) == one
