import datetime as dt
import re

import pytest
import time_machine
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from shopops.accounts import services as account_services
from shopops.catalog.tests.factories import create_shop
from shopops.core.errors import InvalidInput
from shopops.customers.models import Customer
from shopops.customers.services import phone_hash
from shopops.orders.queries import OrderSearch
from shopops.orders.tests.test_queries import local, make_order

pytestmark = pytest.mark.django_db

# 10:20 UTC: the hourly window of the phone-search budget closes at 11:00, 2400 seconds later
NOW = dt.datetime(2026, 6, 8, 10, 20, tzinfo=dt.UTC)
SECONDS_TO_NEXT_HOUR = 2400


@pytest.fixture(autouse=True)
def frozen_clock():
    # the budget counts in clock windows: a frozen clock keeps every call of a test in one window
    with time_machine.travel(NOW, tick=False):
        cache.clear()  # the counters of an earlier run (same frozen window, reused user ids) are gone
        yield
        cache.clear()


@pytest.fixture
def world(make_user):
    shop = create_shop(code="phone-shop")
    make_order(shop=shop, external_id="P1", receiver_phone="13800131234", placed_at=local(2026, 6, 1, 10))
    make_order(shop=shop, external_id="P2", receiver_phone="13900131234", placed_at=local(2026, 6, 2, 10))
    make_order(shop=shop, external_id="P3", receiver_phone="13800135678", placed_at=local(2026, 6, 3, 10))
    make_order(shop=shop, external_id="OLD", receiver_phone="13800131234", placed_at=local(2026, 4, 1, 10))
    return {"shop": shop, "user": make_user("customer_service")}


def listed(response) -> list[str]:
    assert response.status_code == 200, response.content
    return sorted(item["external_id"] for item in response.json()["items"])


def session_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def token_client(user, name: str) -> Client:
    issued = account_services.create_token(user=user, name=name, expires_in_days=1, actor=user)
    return Client(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")


def narrow(world, **extra) -> dict:
    return {"shop_id": world["shop"].pk, "placed_from": "2026-06-01", "placed_to": "2026-06-07", **extra}


def test_last_four_digits_alone_are_refused_as_too_broad(world, api_client_for):
    # given
    client = api_client_for(world["user"])
    # when searching by the last four digits only (with a filter that does not narrow: status)
    answer = client.get("/api/v1/orders", {"phone": "1234", "status": ["paid"]})
    # then a 422 names the phone and says what must come with it
    body = answer.json()
    assert (answer.status_code, body["code"]) == (422, "phone_search_too_broad")
    assert body["fields"] == {"phone": "须配合订单号/买家/运单号，或店铺与不超过 31 天的日期范围"}
    assert "后四位" in body["message"]


def test_masked_number_alone_is_refused_as_too_broad(world, api_client_for):
    # given
    client = api_client_for(world["user"])
    # when searching by a number as the masked lists show it
    answer = client.get("/api/v1/orders", {"phone": "138****1234", "shop_id": world["shop"].pk})
    # then it is a partial phone: a shop without a date range is not narrow enough
    assert (answer.status_code, answer.json()["code"]) == (422, "phone_search_too_broad")


def test_last_four_digits_with_a_shop_and_a_short_range_find_the_orders(world, api_client_for):
    # given
    client = api_client_for(world["user"])
    # when searching by the last four digits in one shop for one week
    found = listed(client.get("/api/v1/orders", narrow(world, phone="1234")))
    # then both receivers ending in 1234 that week are found, the April order is outside the range
    assert found == ["P1", "P2"]


def test_the_date_range_may_span_31_days_but_not_32(world, api_client_for):
    # given
    client = api_client_for(world["user"])
    base = {"phone": "1234", "shop_id": world["shop"].pk, "placed_to": "2026-06-01"}
    # when the range holds 31 days (2026-05-02 … 2026-06-01) and 32 days (2026-05-01 … 2026-06-01)
    thirty_one = client.get("/api/v1/orders", {**base, "placed_from": "2026-05-02"})
    thirty_two = client.get("/api/v1/orders", {**base, "placed_from": "2026-05-01"})
    # then
    assert listed(thirty_one) == ["P1"]
    assert (thirty_two.status_code, thirty_two.json()["code"]) == (422, "phone_search_too_broad")


def test_last_four_digits_with_an_order_no_are_accepted(world, api_client_for):
    # given
    client = api_client_for(world["user"])
    # when / then
    assert listed(client.get("/api/v1/orders", {"phone": "1234", "q": "P2"})) == ["P2"]


def test_masked_number_matches_its_first_three_and_last_four_digits(world, api_client_for):
    # given
    client = api_client_for(world["user"])
    # when
    found = listed(client.get("/api/v1/orders", narrow(world, phone="138****1234")))
    # then the 139… receiver with the same last four digits is not found
    assert found == ["P1"]


def test_full_number_needs_no_other_filter_and_is_exact(world, api_client_for):
    # given
    client = api_client_for(world["user"])
    # when
    found = listed(client.get("/api/v1/orders", {"phone": "+86 138-0013-1234"}))
    # then every order of that number (any date), none of the 139… number ending alike
    assert found == ["OLD", "P1"]


def test_search_parameters_refuse_a_partial_phone_wherever_they_come_from():
    # given / when / then: the same rule for the API, the admin, saved filters and exports
    with pytest.raises(InvalidInput) as refused:
        OrderSearch(phone="5678", status=("paid",))
    assert refused.value.code == "phone_search_too_broad"
    assert OrderSearch(phone="5678", shop_id=1, paid_from=dt.date(2026, 6, 1), paid_to=dt.date(2026, 6, 1))
    assert OrderSearch(phone="13800135678")


def test_phone_searches_share_one_budget_per_user_across_tokens_and_the_session(world, make_user, settings):
    # given a budget of 3 phone searches an hour and a user with two tokens and a session
    settings.PHONE_SEARCH_RATE_LIMIT = "3/h"
    user = world["user"]
    first_token, second_token = token_client(user, "第一"), token_client(user, "第二")
    session = session_client(user)
    # when each spends one search
    spent = [
        client.get("/api/v1/orders", {"phone": "13800131234"}).status_code
        for client in (first_token, second_token, session)
    ]
    # then the budget is spent: the next phone search on any of them is refused
    assert spent == [200, 200, 200]
    refused = second_token.get("/api/v1/orders", {"phone": "13800135678"})
    body = refused.json()
    assert (refused.status_code, body["code"]) == (429, "phone_search_rate_limited")
    assert refused["Retry-After"] == str(SECONDS_TO_NEXT_HOUR)
    assert body["message"] == "按手机号查询过于频繁（每小时最多 3 次），请 40 分钟后再试"
    assert body["fields"] == {"phone": "查询次数已达上限"}
    assert session.get("/api/v1/orders", {"phone": "1234", "q": "P1"}).status_code == 429
    # and a new token does not bring a new budget
    assert token_client(user, "新的").get("/api/v1/orders", {"phone": "13800131234"}).status_code == 429
    # while searches without a phone and other users go on
    assert listed(first_token.get("/api/v1/orders", {"q": "P1"})) == ["P1"]
    other = token_client(make_user("customer_service"), "其他")
    assert listed(other.get("/api/v1/orders", {"phone": "13800131234"})) == ["OLD", "P1"]


def test_the_budget_comes_back_in_the_next_window(world, api_client_for, settings):
    # given a spent budget
    settings.PHONE_SEARCH_RATE_LIMIT = "1/h"
    client = api_client_for(world["user"])
    assert client.get("/api/v1/orders", {"phone": "13800131234"}).status_code == 200
    assert client.get("/api/v1/orders", {"phone": "13800131234"}).status_code == 429
    # when the hour is over
    with time_machine.travel(NOW + dt.timedelta(seconds=SECONDS_TO_NEXT_HOUR), tick=False):
        again = client.get("/api/v1/orders", {"phone": "13800131234"})
    # then
    assert listed(again) == ["OLD", "P1"]


def test_export_by_phone_spends_the_same_budget(world, make_user, api_client_for, settings):
    # given a user allowed to export, with one phone search left
    settings.PHONE_SEARCH_RATE_LIMIT = "1/h"
    client = api_client_for(make_user("finance"))
    assert client.get("/api/v1/orders", {"phone": "13800131234"}).status_code == 200
    # when exporting by phone
    answer = client.get("/api/v1/orders/export", {"phone": "13800135678"})
    # then
    assert (answer.status_code, answer.json()["code"]) == (429, "phone_search_rate_limited")


def test_customer_search_by_phone_spends_the_same_budget(world, api_client_for, settings):
    # given a customer and a budget of 2 phone searches
    settings.PHONE_SEARCH_RATE_LIMIT = "2/h"
    buyer = Customer.objects.create(name="王五", phone="13700001111", phone_hash=phone_hash("13700001111"))
    make_order(shop=world["shop"], external_id="C1", customer=buyer)
    client = api_client_for(world["user"])
    # when the order search spends one and the customer search another
    assert client.get("/api/v1/orders", {"phone": "13800131234"}).status_code == 200
    assert client.get("/api/v1/customers", {"search": "13700001111"}).json()["count"] == 1
    # then the third phone search, of either kind, is refused; a buyer-id search is not
    refused = client.get("/api/v1/customers", {"search": "1111"})
    assert (refused.status_code, refused.json()["code"]) == (429, "phone_search_rate_limited")
    assert refused.json()["fields"] == {"search": "查询次数已达上限"}
    assert client.get("/api/v1/customers", {"search": "tb-nobody"}).status_code == 200


def test_admin_search_by_last_four_digits_alone_shows_an_error_instead_of_phone_matches(world):
    # given
    client = session_client(world["user"])
    # when the last four digits are typed in the order list's search box
    page = client.get(reverse("admin:orders_order_changelist"), {"q": "1234"})
    # then the page says why and lists no order by phone
    body = visible(page.content.decode())
    assert page.status_code == 200
    assert "须同时指定订单号/买家/运单号" in body
    assert "P1" not in body
    assert "P2" not in body


def test_admin_search_by_last_four_digits_with_shop_and_dates_lists_the_orders(world):
    # given
    client = session_client(world["user"])
    # when the shop and a week are chosen in the list filters
    page = client.get(
        reverse("admin:orders_order_changelist"),
        {
            "q": "1234",
            "shop__id__exact": world["shop"].pk,
            "placed_at_from": "2026-06-01",
            "placed_at_to": "2026-06-07",
        },
    )
    # then both orders ending in 1234 that week are listed
    body = page.content.decode()
    assert page.status_code == 200
    assert ("P1" in body, "P2" in body, "P3" in body, "OLD" in body) == (True, True, False, False)


def test_admin_phone_search_shares_the_users_budget(world, api_client_for, settings):
    # given a budget of 2 phone searches, one spent through the API
    settings.PHONE_SEARCH_RATE_LIMIT = "2/h"
    user = world["user"]
    assert api_client_for(user).get("/api/v1/orders", {"phone": "13800131234"}).status_code == 200
    client = session_client(user)
    changelist = reverse("admin:orders_order_changelist")
    # when the admin searches a full number twice
    allowed = visible(client.get(changelist, {"q": "13800131234"}).content.decode())
    refused = visible(client.get(changelist, {"q": "13800131234"}).content.decode())
    # then the first lists the orders, the second shows the limit and no order
    assert "P1" in allowed
    assert "按手机号查询过于频繁" in refused
    assert "P1" not in refused


def visible(html: str) -> str:
    """The page without its form inputs: a CSRF token is random and may contain "P1" itself."""
    return re.sub(r"<input[^>]*>", "", html)
