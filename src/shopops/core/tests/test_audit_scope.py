import importlib

import pytest
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import DatabaseError, connection, transaction
from django.db.migrations.loader import MigrationLoader
from django.test import Client
from django.urls import reverse

from shopops.core import audit
from shopops.core.models import AuditEntry
from shopops.orders.models import OrderIssue
from shopops.orders.tests.factories import create_order, create_shop

pytestmark = pytest.mark.django_db

MIGRATION = importlib.import_module("shopops.core.migrations.0008_auditentry_shop")


@pytest.fixture
def world(make_user):
    ours = create_shop(code="scope-ours")
    theirs = create_shop(code="scope-theirs")
    # orders created through the order service, which records `order.created`
    our_order = create_order(shop=ours, external_id="OURS-1")
    their_order = create_order(shop=theirs, external_id="THEIRS-1")
    shopless = audit.record(actor=None, action="group.created", instance=Group.objects.create(name="无店铺"))
    scoped = make_user("operations", shops=[ours])
    return {
        "ours": ours,
        "theirs": theirs,
        "our_order": our_order,
        "their_order": their_order,
        "shopless": shopless,
        "scoped": scoped,
    }


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_entries_carry_the_shop_of_their_record_or_of_the_record_it_belongs_to(world):
    # given an order issue (no shop field of its own: its order's shop)
    issue = OrderIssue.objects.create(order=world["their_order"], rule="manual", message="人工")
    # when recorded
    entry = audit.record(actor=None, action="order_issue.resolved", instance=issue, before={})
    # then orders, shops and the issue name their shop; a group names none
    created = AuditEntry.objects.filter(action="order.created")
    assert sorted(created.values_list("object_repr", "shop_id")) == [
        ("OURS-1", world["ours"].pk),
        ("THEIRS-1", world["theirs"].pk),
    ]
    assert AuditEntry.objects.get(pk=entry.pk).shop_id == world["theirs"].pk
    assert audit.shop_of(world["ours"]) == world["ours"].pk
    assert world["shopless"].shop_id is None


def test_api_audit_lists_a_scoped_users_shops_and_shopless_entries_only(world, api_client_for):
    # given a user limited to one shop
    client = api_client_for(world["scoped"])
    # when the audit is listed
    listed = client.get("/api/v1/audit", {"limit": 200}).json()["items"]
    # then the other shop's order.created is not there, the own shop's and the shopless entry are
    reprs = {(item["action"], item["object_repr"]) for item in listed}
    assert ("order.created", "OURS-1") in reprs
    assert ("group.created", "无店铺") in reprs
    assert not [item for item in listed if item["object_repr"] == "THEIRS-1"]


def test_api_audit_by_object_of_another_shop_is_empty(world, api_client_for):
    # given a user limited to one shop asking for the other shop's order by id
    client = api_client_for(world["scoped"])
    # when
    answer = client.get(
        "/api/v1/audit", {"object_type": "orders.order", "object_id": str(world["their_order"].pk)}
    )
    # then nothing is listed
    assert (answer.status_code, answer.json()["count"]) == (200, 0)


def test_api_audit_lists_every_shop_for_a_user_of_all_shops(world, make_user, api_client_for):
    # given a user who sees every shop
    client = api_client_for(make_user("operations"))
    # when
    listed = client.get("/api/v1/audit", {"action": "order.created"}).json()["items"]
    # then both orders' entries are there
    assert sorted(item["object_repr"] for item in listed) == ["OURS-1", "THEIRS-1"]


def test_admin_audit_list_leaves_out_other_shops_entries(world):
    # given a user limited to one shop
    client = browser(world["scoped"])
    # when the audit list is opened
    page = client.get(reverse("admin:core_auditentry_changelist"), {"action": "order.created"})
    # then only the own shop's order is listed
    assert page.status_code == 200
    body = page.content.decode()
    assert "OURS-1" in body
    assert "THEIRS-1" not in body


def test_admin_audit_entry_of_another_shop_is_not_shown(world):
    # given the entry of the other shop's order
    theirs = AuditEntry.objects.get(action="order.created", object_repr="THEIRS-1")
    ours = AuditEntry.objects.get(action="order.created", object_repr="OURS-1")
    client = browser(world["scoped"])
    # when each entry's page is opened
    their_page = client.get(reverse("admin:core_auditentry_change", args=[theirs.pk]))
    our_page = client.get(reverse("admin:core_auditentry_change", args=[ours.pk]))
    # then the other shop's is "does not exist" (back to the list), the own one is shown
    assert their_page.status_code == 302
    assert our_page.status_code == 200
    assert "OURS-1" in our_page.content.decode()


def test_record_history_shows_the_entries_of_an_order_in_scope_only(world):
    # given a user limited to one shop
    client = browser(world["scoped"])
    # when the history pages of both orders are opened
    our_history = client.get(reverse("admin:orders_order_history", args=[world["our_order"].pk]))
    their_history = client.get(reverse("admin:orders_order_history", args=[world["their_order"].pk]))
    # then the own order's history lists its creation; the other order's is not shown
    assert our_history.status_code == 200
    assert "order.created" in our_history.content.decode()
    assert their_history.status_code == 302
    assert "order.created" not in their_history.content.decode()


def test_history_query_for_a_user_leaves_out_other_shops(world):
    # given an entry about the other shop's order
    order = world["their_order"]
    # when its history is read for a scoped user and for nobody in particular
    scoped = list(audit.history(order, world["scoped"]))
    unscoped = list(audit.history(order))
    # then the scoped reader gets nothing
    assert scoped == []
    assert [entry.action for entry in unscoped] == ["order.created"]


def test_migration_fills_the_shop_of_existing_entries_and_keeps_them_append_only(world):
    # given entries written before entries carried a shop
    issue = OrderIssue.objects.create(order=world["our_order"], rule="manual", message="人工")
    old_order = AuditEntry.objects.create(
        action="order.created",
        content_type=ContentType.objects.get_for_model(type(world["their_order"])),
        object_id=str(world["their_order"].pk),
    )
    old_issue = AuditEntry.objects.create(
        action="order_issue.resolved",
        content_type=ContentType.objects.get_for_model(OrderIssue),
        object_id=str(issue.pk),
    )
    old_group = AuditEntry.objects.create(
        action="group.created",
        content_type=ContentType.objects.get_for_model(Group),
        object_id=str(Group.objects.get(name="无店铺").pk),
    )
    assert (old_order.shop_id, old_issue.shop_id, old_group.shop_id) == (None, None, None)
    # when the migration's fill runs
    state = MigrationLoader(connection).project_state(("core", "0008_auditentry_shop"))
    MIGRATION.fill_shop_ids(state.apps, connection.schema_editor())
    # then each entry names the shop of its record, the group none
    shops = dict(
        AuditEntry.objects.filter(pk__in=[old_order.pk, old_issue.pk, old_group.pk]).values_list(
            "pk", "shop_id"
        )
    )
    assert shops == {old_order.pk: world["theirs"].pk, old_issue.pk: world["ours"].pk, old_group.pk: None}
    # and the table refuses updates again
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE core_auditentry SET reason = 'x' WHERE id = %s", [old_group.pk])
