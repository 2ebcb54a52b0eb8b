import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from shopops.loyalty import services
from shopops.loyalty.models import MemberAccount, PointsEntry
from shopops.loyalty.tests import factories

pytestmark = pytest.mark.django_db

BASE = "/api/v1/loyalty/members"


@pytest.fixture
def member() -> Any:
    factories.create_levels()
    factories.set_program(rate="1")
    customer = factories.create_customer()
    factories.create_order(customer=customer, paid="100.00")
    services.sync_orders()
    return customer


def state(customer: Any) -> tuple[int, int]:
    return MemberAccount.objects.get(customer=customer).balance, PointsEntry.objects.count()


@pytest.mark.parametrize(
    ("path", "body", "permitted_role"),
    [
        ("/adjust", {"points": 25, "reason": "活动补发"}, "operations"),
        ("/spend", {"points": 30, "reason": "积分抵现"}, "operations"),
    ],
    ids=["adjust", "spend"],
)
def test_write_endpoints_authorization_matrix(
    member: Any,
    make_user: Any,
    api_client_for: Callable[[Any], Client],
    path: str,
    body: dict,
    permitted_role: str,
) -> None:
    # given the member, a viewer without the write permission and a permitted operator
    denied = api_client_for(make_user("customer_service"))
    permitted = api_client_for(make_user(permitted_role))
    before = state(member)
    url = f"{BASE}/{member.pk}{path}"
    payload = json.dumps(body)

    # when anonymous, then without the permission, then for an unknown customer
    anonymous = Client().post(url, data=payload, content_type="application/json")
    forbidden = denied.post(url, data=payload, content_type="application/json")
    missing = permitted.post(f"{BASE}/999999{path}", data=payload, content_type="application/json")

    # then 401 / 403 / 404 and nothing changed
    assert (anonymous.status_code, forbidden.status_code, missing.status_code) == (401, 403, 404)
    assert state(member) == before

    # when permitted
    response = permitted.post(url, data=payload, content_type="application/json")

    # then the balance moved by exactly the points, with one ledger row
    assert response.status_code == 200, response.content
    expected = 100 + 25 if path == "/adjust" else 100 - 30
    assert response.json()["balance"] == expected
    assert state(member) == (expected, before[1] + 1)


def test_balance_and_ledger_read_as_labels(
    member: Any, make_user: Any, api_client_for: Callable[[Any], Client]
) -> None:
    # given a member with one earning
    client = api_client_for(make_user("customer_service"))

    # when the balance and the ledger are read
    balance = client.get(f"{BASE}/{member.pk}").json()
    ledger = client.get(f"{BASE}/{member.pk}/entries").json()

    # then the level, balance and the row with its label
    assert (balance["level"], balance["balance"], balance["is_in_debt"]) == ("普通会员", 100, False)
    assert ledger["count"] == 1
    assert (ledger["items"][0]["kind_label"], ledger["items"][0]["points"]) == ("下单获得", 100)


def test_overspending_answers_409_and_changes_nothing(
    member: Any, make_user: Any, api_client_for: Callable[[Any], Client]
) -> None:
    client = api_client_for(make_user("operations"))
    before = state(member)

    response = client.post(
        f"{BASE}/{member.pk}/spend", data=json.dumps({"points": 101}), content_type="application/json"
    )
    zero = client.post(
        f"{BASE}/{member.pk}/adjust",
        data=json.dumps({"points": 0, "reason": "x"}),
        content_type="application/json",
    )

    assert (response.status_code, response.json()["code"]) == (409, "insufficient_points")
    assert zero.status_code == 422
    assert state(member) == before


def test_member_page_adjusts_by_post_with_a_reason_and_only_with_the_permission(
    member: Any, make_user: Any
) -> None:
    # given the member page, a permitted operator and a customer-service viewer
    account = MemberAccount.objects.get(customer=member)
    url = f"/admin/loyalty/memberaccount/{account.pk}/change/"
    operator, viewer = Client(), Client()
    operator.force_login(make_user("operations"))
    viewer.force_login(make_user("customer_service"))

    # when the viewer reads and tries to adjust; the operator adjusts
    page = viewer.get(url)
    refused = viewer.post(url, {"adjust": "1", "points": "50", "reason": "补偿"})
    done = operator.post(url, {"adjust": "1", "points": "50", "reason": "补偿"})

    # then the viewer sees the ledger without the form and is refused; the operator's change landed
    assert page.status_code == 200
    assert "adjust-form" not in page.content.decode()
    assert "下单获得" in page.content.decode()
    assert refused.status_code == 403
    assert done.status_code == 302
    assert MemberAccount.objects.get(pk=account.pk).balance == 150
