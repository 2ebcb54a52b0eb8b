import importlib
import json

import pytest
from django.core.cache import cache
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.test import Client
from django.urls import reverse

from shopops.catalog.tests.factories import create_shop
from shopops.core.models import AuditEntry
from shopops.customers.services import phone_hash
from shopops.orders.models import SavedFilter
from shopops.orders.services import filters as filter_services
from shopops.orders.tests.test_queries import local, make_order

pytestmark = pytest.mark.django_db

MIGRATION = importlib.import_module("shopops.orders.migrations.0003_saved_filter_masking")
PHONE = "13800131234"
NICK = "小明同学"


@pytest.fixture(autouse=True)
def fresh_phone_budget():
    cache.clear()  # searches here spend phone-search budget; counters of earlier tests must not count


@pytest.fixture
def world(make_user):
    shop = create_shop(code="saved-shop")
    make_order(
        shop=shop,
        external_id="FILTERED-ORDER-1",
        receiver_phone=PHONE,
        buyer_nick=NICK,
        placed_at=local(2026, 6, 1, 9),
    )
    make_order(
        shop=shop,
        external_id="FILTERED-ORDER-2",
        receiver_phone="13900131234",
        placed_at=local(2026, 6, 1, 10),
    )
    owner = make_user("operations")
    by_phone = filter_services.create_saved_filter(
        actor=owner, name="这位买家", params={"phone": PHONE, "status": ["paid"]}, is_shared=True
    )
    by_nick = filter_services.create_saved_filter(
        actor=owner,
        name="昵称尾号",
        params={
            "q": NICK,
            "phone": "1234",
            "shop_id": shop.pk,
            "placed_from": "2026-06-01",
            "placed_to": "2026-06-01",
        },
        is_shared=True,
    )
    return {
        "shop": shop,
        "owner": owner,
        "other": make_user("customer_service"),
        "by_phone": by_phone,
        "by_nick": by_nick,
    }


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_full_phone_is_stored_only_as_its_keyed_hash(world):
    # given / when: saved above with a full phone
    stored = SavedFilter.objects.get(pk=world["by_phone"].pk).params
    # then the number is not stored, its keyed hash is
    assert stored == {"phone_hash": phone_hash(PHONE), "status": ["paid"]}
    assert PHONE not in json.dumps(stored)


def test_a_shared_filter_with_a_phone_finds_the_orders_for_another_user(world, api_client_for):
    # given another user of the team
    client = api_client_for(world["other"])
    # when they apply the shared filter
    found = client.get("/api/v1/orders", {"saved_filter": world["by_phone"].pk}).json()
    # then it finds the orders of that number only
    assert [item["external_id"] for item in found["items"]] == ["FILTERED-ORDER-1"]


def test_api_masks_personal_values_of_a_shared_filter_for_another_user(world, api_client_for):
    # given another user without core.view_pii
    client = api_client_for(world["other"])
    # when they read the shared filters
    listed = {item["name"]: item["params"] for item in client.get("/api/v1/saved-filters").json()["items"]}
    one = client.get(f"/api/v1/saved-filters/{world['by_nick'].pk}").json()["params"]
    # then the buyer's nick and the phone are masked, the hash is not shown
    shop = world["shop"].pk
    masked_nick = {
        "q": "小**",
        "phone": "****",
        "shop_id": shop,
        "placed_from": "2026-06-01",
        "placed_to": "2026-06-01",
    }
    assert listed == {
        "这位买家": {"phone_hash": "（完整号码，仅存摘要）", "status": ["paid"]},
        "昵称尾号": masked_nick,
    }
    assert one == masked_nick


def test_api_shows_the_owner_and_view_pii_holders_the_filter_as_stored(world, make_user, api_client_for):
    # given the owner and an admin (core.view_pii)
    path = f"/api/v1/saved-filters/{world['by_nick'].pk}"
    # when
    seen = [api_client_for(user).get(path).json()["params"] for user in (world["owner"], make_user("admin"))]
    # then both see the nick and the last four digits
    assert [(params["q"], params["phone"]) for params in seen] == [(NICK, "1234"), (NICK, "1234")]


def test_admin_list_and_page_mask_a_shared_filter_for_another_user(world):
    # given another user
    client = browser(world["other"])
    # when they open the list and the filter's page
    listing = client.get(reverse("admin:orders_savedfilter_changelist")).content.decode()
    page = client.get(reverse("admin:orders_savedfilter_change", args=[world["by_nick"].pk]))
    # then neither shows the nick or the number; the masked values are there
    body = page.content.decode()
    assert page.status_code == 200
    for content in (listing, body):
        assert NICK not in content
        assert PHONE not in content
        assert "q=小**" in content
        assert "phone=****" in content
    assert "phone_hash=（完整号码，仅存摘要）" in listing
    assert phone_hash(PHONE) not in listing


def test_admin_list_shows_the_owner_the_values(world):
    # given / when
    listing = browser(world["owner"]).get(reverse("admin:orders_savedfilter_changelist")).content.decode()
    # then
    assert f"q={NICK}" in listing
    assert "phone=1234" in listing


def test_applying_a_shared_filter_in_the_admin_lists_its_orders_without_showing_its_values(world):
    # given another user following the filter's link
    client = browser(world["other"])
    changelist = reverse("admin:orders_order_changelist")
    # when
    page = client.get(changelist, {"saved_filter": world["by_nick"].pk}).content.decode()
    save_page = client.get(
        reverse("admin:orders_order_save_current_filter"), {"saved_filter": world["by_nick"].pk}
    ).content.decode()
    # then the order is listed, and saving it again shows the conditions masked
    assert "FILTERED-ORDER-1" in page
    assert "FILTERED-ORDER-2" not in page
    assert NICK not in page + save_page
    assert "q=小**" in save_page


def test_audit_entries_of_saved_filters_keep_personal_values_masked(world):
    # given the owner changes the nick filter
    filter_services.update_saved_filter(
        actor=world["owner"], filter_id=world["by_nick"].pk, params={"q": "bob@example.com", "phone": PHONE}
    )
    # when the audit is read
    entries = AuditEntry.objects.filter(action__startswith="saved_filter.").order_by("pk")
    # then no entry holds the nick, the e-mail, the number or its hash
    stored = json.dumps([entry.changes for entry in entries], ensure_ascii=False)
    assert [entry.action for entry in entries] == [
        "saved_filter.created",
        "saved_filter.created",
        "saved_filter.updated",
    ]
    for value in (NICK, "bob@example.com", PHONE, phone_hash(PHONE)):
        assert value not in stored
    assert entries[2].changes["params"] == [
        {
            "q": "小**",
            "phone": "****",
            "shop_id": world["shop"].pk,
            "placed_from": "2026-06-01",
            "placed_to": "2026-06-01",
        },
        {"q": "b***@example.com", "phone_hash": "（完整号码，仅存摘要）"},
    ]


def test_migration_stores_saved_phones_as_their_hash(world):
    # given a filter saved before, holding the number itself
    old = SavedFilter.objects.create(
        owner=world["owner"], name="旧", params={"phone": "+86 138-0013-1234", "flag": 1}
    )
    partial = SavedFilter.objects.create(
        owner=world["owner"], name="后四位", params={"phone": "1234", "q": "FILTERED-ORDER-1"}
    )
    # when the migration runs
    state = MigrationLoader(connection).project_state(("orders", "0003_saved_filter_masking"))
    MIGRATION.hash_saved_phones(state.apps, connection.schema_editor())
    # then the number became its hash; a partial phone stays
    old.refresh_from_db()
    partial.refresh_from_db()
    assert old.params == {"flag": 1, "phone_hash": phone_hash(PHONE)}
    assert partial.params == {"phone": "1234", "q": "FILTERED-ORDER-1"}
