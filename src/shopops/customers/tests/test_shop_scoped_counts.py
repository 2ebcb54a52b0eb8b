import re

import pytest
from django.test import Client
from django.urls import reverse

from shopops.catalog.tests.factories import create_shop
from shopops.customers.models import Customer
from shopops.orders.tests.test_queries import local, make_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(make_user):
    ours = create_shop(code="count-ours")
    theirs = create_shop(code="count-theirs")
    buyer = Customer.objects.create(
        name="赵六", first_order_at=local(2026, 3, 1, 9), last_order_at=local(2026, 6, 20, 9)
    )
    placed = [
        (ours, local(2026, 4, 2, 9)),
        (ours, local(2026, 5, 3, 9)),
        (theirs, local(2026, 3, 1, 9)),
        (theirs, local(2026, 6, 10, 9)),
        (theirs, local(2026, 6, 20, 9)),
    ]
    for shop, moment in placed:
        make_order(shop=shop, customer=buyer, placed_at=moment)
    return {
        "ours": ours,
        "buyer": buyer,
        "placed": placed,
        "scoped": make_user("customer_service", shops=[ours]),
        "everywhere": make_user("customer_service"),
    }


def own_orders(world) -> list:
    return sorted(moment for shop, moment in world["placed"] if shop == world["ours"])


def test_api_counts_and_dates_only_the_orders_in_the_users_shops(world, api_client_for):
    # given a user limited to one shop
    client = api_client_for(world["scoped"])
    # when the customer is listed and opened
    listed = client.get("/api/v1/customers").json()["items"]
    detail = client.get(f"/api/v1/customers/{world['buyer'].pk}").json()
    # then the count and the first/last order are those of that shop's orders
    mine = own_orders(world)
    expected = (len(mine), mine[0].isoformat(), mine[-1].isoformat())
    assert [(item["order_count"], item["first_order_at"], item["last_order_at"]) for item in listed] == [
        expected
    ]
    assert (detail["order_count"], detail["first_order_at"], detail["last_order_at"]) == expected


def test_api_counts_every_order_for_a_user_of_all_shops(world, api_client_for):
    # given / when
    detail = api_client_for(world["everywhere"]).get(f"/api/v1/customers/{world['buyer'].pk}").json()
    # then every shop's orders count and the customer's own first/last order dates are shown
    assert (detail["order_count"], detail["first_order_at"], detail["last_order_at"]) == (
        len(world["placed"]),
        world["buyer"].first_order_at.isoformat(),
        world["buyer"].last_order_at.isoformat(),
    )


def test_admin_list_and_page_show_a_scoped_user_their_shops_figures(world):
    # given
    client = Client()
    client.force_login(world["scoped"])
    # when
    listing = client.get(reverse("admin:customers_customer_changelist")).content.decode()
    page = client.get(reverse("admin:customers_customer_change", args=[world["buyer"].pk])).content.decode()
    # then the list counts the shop's orders and neither shows the other shop's first or last order day
    assert re.findall(r'class="field-order_count_shown[^"]*"[^>]*>(\d+)</td>', listing) == [
        str(len(own_orders(world)))
    ]
    for content in (listing, page):
        assert "2026-03-01" not in content
        assert "2026-06-20" not in content
    assert "2026-04-02" in page
    assert "2026-05-03" in page
