from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from shopops.core import audit
from shopops.core.models import AuditEntry, Notification

User = Any

OUR_APPS = {"core", "accounts", "auth", "channels", "catalog"}
READ_ONLY = {"auditentry", "pricehistory", "listingevent", "alert", "notification", "restoredrill"}
MODELS = sorted(
    (model._meta.app_label, model._meta.model_name)
    for model in admin.site._registry
    if model._meta.app_label in OUR_APPS
)


@pytest.fixture
def staff(make_user: Callable[..., User]) -> Callable[..., User]:
    def make(role: str, **extra: Any) -> User:
        return make_user(role, is_staff=True, **extra)

    return make


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def record_phone_change(actor: User, target: User) -> AuditEntry:
    return audit.record(
        actor=actor,
        action="user.updated",
        instance=target,
        changes={"phone": ["", "13912345678"], "is_active": [False, True]},
        reason="入职",
    )


@pytest.mark.parametrize(("app_label", "model_name"), MODELS)
def test_admin_opens_every_changelist_and_add_form(
    staff: Callable[..., User], app_label: str, model_name: str
) -> None:
    # given
    client = client_for(staff("admin"))
    changelist = reverse(f"admin:{app_label}_{model_name}_changelist")

    # when
    listed = client.get(changelist)
    adding = client.get(reverse(f"admin:{app_label}_{model_name}_add"))

    # then
    assert listed.status_code == 200
    assert adding.status_code == (403 if model_name in READ_ONLY else 200)


@pytest.mark.parametrize(
    ("role", "url_name"),
    [
        ("designer", "admin:catalog_pricehistory_changelist"),
        ("designer", "admin:core_auditentry_changelist"),
        ("warehouse", "admin:channels_shop_changelist"),
        ("customer_service", "admin:accounts_user_changelist"),
        ("operations", "admin:accounts_apitoken_changelist"),
        ("finance", "admin:catalog_sku_add"),
    ],
)
def test_role_without_permission_is_refused(staff: Callable[..., User], role: str, url_name: str) -> None:
    # given
    client = client_for(staff(role))

    # when
    response = client.get(reverse(url_name))

    # then
    assert response.status_code == 403


def test_sidebar_shows_only_the_areas_the_user_may_open(staff: Callable[..., User]) -> None:
    # when
    page = client_for(staff("designer")).get(reverse("admin:index")).content.decode()

    # then
    assert reverse("admin:catalog_product_changelist") in page
    assert reverse("admin:catalog_pricehistory_changelist") not in page
    assert reverse("admin:core_auditentry_changelist") not in page
    assert reverse("admin:accounts_user_changelist") not in page


def test_audit_entries_cannot_be_added_changed_or_deleted_even_by_admin(staff: Callable[..., User]) -> None:
    # given
    admin_user = staff("admin")
    entry = record_phone_change(admin_user, staff("designer"))
    client = client_for(admin_user)

    # when
    adding = client.get(reverse("admin:core_auditentry_add"))
    changing = client.post(reverse("admin:core_auditentry_change", args=[entry.pk]), {"action": "forged"})
    deleting = client.post(reverse("admin:core_auditentry_delete", args=[entry.pk]), {"post": "yes"})

    # then
    assert adding.status_code == 403
    assert changing.status_code == 403
    assert deleting.status_code == 403
    assert AuditEntry.objects.get().action == "user.updated"


def test_audit_list_masks_personal_data_in_changes_without_view_pii(staff: Callable[..., User]) -> None:
    # given
    admin_user = staff("admin")
    record_phone_change(admin_user, staff("designer"))
    url = reverse("admin:core_auditentry_changelist")

    # when
    as_operations = client_for(staff("operations")).get(url).content.decode()
    as_admin = client_for(admin_user).get(url).content.decode()

    # then
    assert "139****5678" in as_operations
    assert "13912345678" not in as_operations
    assert "13912345678" in as_admin


def test_audit_list_searches_by_object_and_filters_by_action(staff: Callable[..., User]) -> None:
    # given
    admin_user = staff("admin")
    record_phone_change(admin_user, staff("designer", username="artist"))
    audit.record(
        actor=admin_user, action="user.updated", instance=staff("finance", username="money"), changes={}
    )
    client = client_for(admin_user)
    url = reverse("admin:core_auditentry_changelist")

    # when
    found = client.get(url, {"q": "artist"}).context["cl"]
    filtered = client.get(url, {"action": "user.updated"}).context["cl"]
    nothing = client.get(url, {"action": "pii.revealed"}).context["cl"]

    # then
    assert [entry.object_repr for entry in found.result_list] == ["artist"]
    assert filtered.result_count == 2
    assert nothing.result_count == 0


def test_object_history_page_lists_the_audit_entries_of_the_object(staff: Callable[..., User]) -> None:
    # given
    admin_user = staff("admin")
    target = staff("designer")
    record_phone_change(admin_user, target)

    # when
    as_admin = (
        client_for(admin_user).get(reverse("admin:accounts_user_history", args=[target.pk])).content.decode()
    )

    # then
    assert "user.updated" in as_admin
    assert "∅ → 13912345678" in as_admin
    assert "否 → 是" in as_admin  # a boolean change in words, never Python's False/True
    assert "入职" in as_admin


def test_reveal_of_a_user_is_audited(staff: Callable[..., User]) -> None:
    # given
    admin_user = staff("admin")
    target = staff("designer", phone="13912345678")

    # when
    response = client_for(admin_user).post(
        reverse("admin:accounts_user_reveal_personal_data", args=[target.pk]), {"reason": "核对"}
    )

    # then
    assert "13912345678" in response.content.decode()
    entry = AuditEntry.objects.get(action="pii.revealed")
    assert (entry.actor, entry.object_id, entry.reason) == (admin_user, str(target.pk), "核对")


def test_english_can_be_chosen_and_shows_english(staff: Callable[..., User]) -> None:
    # given
    client = client_for(staff("admin"))
    chinese = client.get(reverse("admin:index")).content.decode()

    # when
    client.post("/i18n/setlang/", {"language": "en", "next": "/admin/"})
    english = client.get(reverse("admin:index")).content.decode()
    sku_list = client.get(reverse("admin:catalog_sku_changelist")).content.decode()

    # then
    assert "售价低于成本的 SKU" in chinese
    assert "商品管理" in chinese
    assert "SKUs priced below cost" in english
    assert "Catalog" in english
    assert "商品管理" not in english
    assert "Sale price" in sku_list
    assert "Bulk price adjustment" in sku_list


def test_each_user_sees_only_their_own_notifications_and_marks_them_read(make_user: Any) -> None:
    # given
    warehouse_user = make_user("warehouse")
    other = make_user("warehouse")
    mine = Notification.objects.create(user=warehouse_user, title="库存不足：A-01")
    Notification.objects.create(user=other, title="库存不足：B-02")
    client = Client()
    client.force_login(warehouse_user)
    # when
    page = client.get(reverse("admin:core_notification_changelist"))
    response = client.post(
        reverse("admin:core_notification_changelist"),
        {"action": "mark_read", "_selected_action": [mine.pk]},
    )
    # then
    assert page.status_code == 200
    html = page.content.decode()
    assert "库存不足：A-01" in html
    assert "库存不足：B-02" not in html
    assert response.status_code == 302
    mine.refresh_from_db()
    assert mine.read_at is not None
    assert Notification.objects.get(user=other).read_at is None
