"""The role-aware 工作台 (issue 11 §3) on the demo: each role's cards, the union for several roles, and every
count equal to the admin list its link opens (and to a plain-Python count of the same rows)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client, override_settings
from django.urls import reverse

from shopops.accounts.models import User
from shopops.accounts.roles import ROLES, role_group_name, sync_roles
from shopops.aftersales.models import AfterSaleCase
from shopops.dashboard import ROLE_CARDS
from shopops.orders.models import Order

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("demo_workbench")]

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
CLOCKS = [dt.datetime(2027, 3, 1, 9, 30, tzinfo=SHANGHAI)]
COST_CARDS = {"below_cost", "below_guard"}


@pytest.fixture(scope="module")
def demo(
    module_clock: dt.datetime, module_db: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    var = tmp_path_factory.mktemp("var")
    with override_settings(VAR_DIR=var, ANALYTICS_DIR=var / "analytics", ANALYTICS_DEMO=False):
        call_command("demo", "--seed", "7", "--days", "20", stdout=open("/dev/null", "w"))  # noqa: SIM115
        sync_roles()
        yield


def user_with(*roles: str) -> User:
    user = User.objects.create_user(username="wb-" + "-".join(roles), password="x", is_staff=True)
    user.groups.set(Group.objects.filter(name__in=[role_group_name(role) for role in roles]))
    return User.objects.get(pk=user.pk)


def workbench(user: User) -> tuple[Client, dict[str, Any]]:
    client = Client()
    client.force_login(user)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    return client, response.context


def keys(context: dict[str, Any]) -> list[str]:
    return [todo.key for todo in context["todos"]] + [panel.key for panel in context["panels"]]


def list_count(client: Client, link: str) -> int:
    response = client.get(link)
    assert response.status_code == 200, link
    return response.context["cl"].result_count


@pytest.mark.parametrize("role", list(ROLES))
def test_each_role_sees_its_cards_and_every_count_opens_a_list_with_that_count(role: str, demo: None) -> None:
    # given
    user = user_with(role)
    # when
    client, context = workbench(user)
    shown = keys(context)
    # then no card twice, and only cards of the role (todo keys come from the role's todo groups)
    assert len(shown) == len(set(shown))
    panel_keys = {panel.key for panel in context["panels"]}
    assert panel_keys <= set(ROLE_CARDS[role])
    if role not in ("admin", "operations", "finance"):
        assert not panel_keys & COST_CARDS
        assert "成本" not in client.get(reverse("admin:index")).content.decode()
    # and each to-do count is the count of the list its link opens
    for todo in context["todos"]:
        assert list_count(client, todo.link) == todo.count, (todo.key, todo.link)


EXPECTED = {
    "operations": (
        {"to_review", "to_ship", "cases_waiting", "order_exceptions", "ship_at_risk"},
        {"parcels_pending"},
    ),
    "customer_service": (
        {"cases_waiting", "buyer_messages", "refunds_refund_only"},
        {"below_cost", "to_ship"},
    ),
    "warehouse": (
        {"parcels_pending", "parcels_packed", "transfers_to_receive", "open_stocktakes"},
        {"to_review"},
    ),
    "finance": ({"refunds_refund_only", "refunds_return", "purchase_orders_received"}, {"parcels_pending"}),
    "designer": ({"products_without_images", "skus_without_price"}, {"to_review", "below_cost"}),
    "promotion": ({"promos_running", "upcoming_schedules"}, {"to_review", "below_cost"}),
}


@pytest.mark.parametrize("role", list(EXPECTED))
def test_role_pages_show_their_morning_brief(role: str, demo: None) -> None:
    must, must_not = EXPECTED[role]
    shown = set(keys(workbench(user_with(role))[1]))
    assert must <= shown
    assert not must_not & shown


def test_several_roles_see_the_union_once(demo: None) -> None:
    alone = {role: set(keys(workbench(user_with(role))[1])) for role in ("warehouse", "customer_service")}
    both = keys(workbench(user_with("warehouse", "customer_service"))[1])
    assert len(both) == len(set(both))
    assert set(both) == alone["warehouse"] | alone["customer_service"]


def test_counts_match_a_plain_python_count_of_the_rows(demo: None) -> None:
    # given the demo's orders and cases read as plain rows
    orders = list(Order.objects.values("status", "review_status", "buyer_message"))
    cases = list(AfterSaleCase.objects.values("status", "kind"))
    # when
    todos = {todo.key: todo.count for todo in workbench(user_with("admin"))[1]["todos"]}
    # then
    assert todos["to_review"] == sum(
        1 for o in orders if o["status"] == "paid" and o["review_status"] == "pending"
    )
    assert todos["to_ship"] == sum(
        1 for o in orders if o["status"] == "paid" and o["review_status"] == "passed"
    )
    assert todos["buyer_messages"] == sum(1 for o in orders if o["status"] == "paid" and o["buyer_message"])
    assert todos["cases_waiting"] == sum(1 for c in cases if c["status"] == "applied")
    assert todos["refunds_return"] == sum(
        1 for c in cases if c["status"] == "inspected" and c["kind"] == "return_refund"
    )
    assert sum(todos.values()) > 0


def test_panel_links_open_lists_with_the_panel_total(demo: None) -> None:
    client, context = workbench(user_with("admin"))
    panels = {panel.key: panel for panel in context["panels"]}
    for key in ("overdue_purchase_orders", "overdue_aftersale_cases", "unpaid_closing", "upcoming_schedules"):
        assert list_count(client, panels[key].link) == panels[key].total, key
