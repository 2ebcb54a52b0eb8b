from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from shopops.accounts import services as account_services
from shopops.accounts.models import ApiToken, User
from shopops.core.models import AuditEntry


@pytest.fixture
def staff(make_user: Callable[..., User]) -> Callable[..., User]:
    def make(role: str | None, **extra: Any) -> User:
        return make_user(role, is_staff=True, **extra)

    return make


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def user_viewer_without_pii(make: Callable[..., User]) -> User:
    viewer = make(None, username="auditor")
    viewer.user_permissions.add(
        Permission.objects.get(codename="view_user", content_type__app_label="accounts")
    )
    return User.objects.get(pk=viewer.pk)


def test_user_list_masks_personal_data_for_a_viewer_without_view_pii(staff: Callable[..., User]) -> None:
    # given
    staff(
        "customer_service",
        username="lily",
        email="lily.wang@example.com",
        phone="13912345678",
        real_name="王丽丽",
    )
    url = reverse("admin:accounts_user_changelist")

    # when
    as_viewer = client_for(user_viewer_without_pii(staff)).get(url).content.decode()
    as_admin = client_for(staff("admin")).get(url).content.decode()

    # then
    assert "l***@example.com" in as_viewer
    assert "139****5678" in as_viewer
    assert "王**" in as_viewer
    assert "lily.wang@example.com" not in as_viewer
    assert "13912345678" not in as_viewer
    assert "lily.wang@example.com" in as_admin
    assert "13912345678" in as_admin


def test_user_list_shows_roles(staff: Callable[..., User]) -> None:
    # given
    staff("designer", username="artist")

    # when
    page = client_for(staff("admin")).get(reverse("admin:accounts_user_changelist")).content.decode()

    # then
    assert "美工" in page


def test_customer_service_cannot_open_users(staff: Callable[..., User]) -> None:
    # when
    response = client_for(staff("customer_service")).get(reverse("admin:accounts_user_changelist"))

    # then
    assert response.status_code == 403


def test_changing_roles_in_the_admin_is_audited(staff: Callable[..., User], roles: dict[str, Any]) -> None:
    # given
    admin_user = staff("admin")
    target = staff("designer", username="artist")
    data = {
        "username": "artist",
        "real_name": "",
        "email": "",
        "phone": "",
        "is_active": "on",
        "is_staff": "on",
        "groups": [roles["designer"].pk, roles["promotion"].pk],
        "has_all_shops": "on",
        "last_login_0": "",
        "last_login_1": "",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "08:00:00",
    }

    # when
    response = client_for(admin_user).post(reverse("admin:accounts_user_change", args=[target.pk]), data)

    # then
    assert response.status_code == 302
    entry = AuditEntry.objects.get(action="user.roles_changed")
    assert entry.changes == {
        "groups": [[roles["designer"].pk], sorted([roles["designer"].pk, roles["promotion"].pk])]
    }


def test_token_created_in_the_admin_shows_its_secret_once(staff: Callable[..., User]) -> None:
    # given
    admin_user = staff("admin")
    owner = staff("operations", username="erp")
    client = client_for(admin_user)

    # when
    response = client.post(
        reverse("admin:accounts_apitoken_add"),
        {"user": owner.pk, "name": "ERP 同步", "expires_in_days": "30"},
        follow=True,
    )
    again = client.get(reverse("admin:accounts_apitoken_changelist")).content.decode()

    # then
    token = ApiToken.objects.get()
    page = response.content.decode()
    secret = page[page.index("sk_") :].split("<")[0].split()[0]
    assert secret.startswith(f"sk_{token.prefix}_")
    assert account_services.authenticate_token(secret) == token
    assert secret not in again
    assert AuditEntry.objects.filter(action="api_token.created").count() == 1


def test_revoke_action_revokes_the_selected_tokens(staff: Callable[..., User]) -> None:
    # given
    admin_user = staff("admin")
    issued = account_services.create_token(user=admin_user, name="old", actor=admin_user)
    kept = account_services.create_token(user=admin_user, name="new", actor=admin_user)

    # when
    response = client_for(admin_user).post(
        reverse("admin:accounts_apitoken_changelist"),
        {"action": "revoke_selected", "_selected_action": [issued.token.pk]},
    )

    # then
    assert response.status_code == 302
    assert account_services.authenticate_token(issued.secret) is None
    assert account_services.authenticate_token(kept.secret) == kept.token
    assert AuditEntry.objects.filter(action="api_token.revoked").count() == 1
