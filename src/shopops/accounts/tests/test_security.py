import datetime as dt
import hashlib

import pytest
from axes.models import AccessAttempt
from conftest import PASSWORD
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from ninja import Router
from ninja.testing import TestClient

from shopops.accounts import services
from shopops.accounts.api import BearerTokenAuth
from shopops.accounts.models import ApiToken

pytestmark = pytest.mark.django_db

LOGIN_URL = "/admin/login/?next=/admin/"

probe = Router(auth=BearerTokenAuth())


@probe.get("/whoami")
def whoami(request) -> dict[str, str]:
    return {"username": request.user.username}


def _login(client: Client, username: str, password: str):
    return client.post(LOGIN_URL, {"username": username, "password": password, "next": "/admin/"})


def _is_logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_passwords_are_stored_as_argon2id_hashes(production_password_hashers, make_user) -> None:
    # given a user created with a password
    user = make_user("operations")
    # when the stored value is read
    stored = get_user_model().objects.get(pk=user.pk).password
    # then it is an argon2id hash that verifies, never the password itself
    assert stored.startswith("argon2$argon2id$")
    assert PASSWORD not in stored
    assert user.check_password(PASSWORD)


def test_admin_login_locks_the_account_after_the_failure_limit(make_user) -> None:
    # given an operator who mistypes the password up to the limit
    make_user("operations", username="xiaowang", is_staff=True)
    client = Client()
    failures = [
        _login(client, "xiaowang", "wrong-password").status_code for _ in range(settings.AXES_FAILURE_LIMIT)
    ]
    # when the right password is then typed
    locked = _login(client, "xiaowang", PASSWORD)
    # then the account stays locked and nobody is logged in
    assert failures == [200] * (settings.AXES_FAILURE_LIMIT - 1) + [429]
    assert locked.status_code == 429
    assert "账号已临时锁定" in locked.content.decode()
    assert not _is_logged_in(client)


def test_lockout_is_per_account_not_per_office_ip(make_user) -> None:
    # given one account locked from the office IP
    make_user("operations", username="xiaowang", is_staff=True)
    make_user("operations", username="xiaoli", is_staff=True)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(Client(), "xiaowang", "wrong-password")
    # when a colleague logs in from the same address
    colleague = Client()
    response = _login(colleague, "xiaoli", PASSWORD)
    # then the colleague gets in
    assert response.status_code == 302
    assert _is_logged_in(colleague)


def test_locked_account_unlocks_after_the_cool_off(make_user) -> None:
    # given a locked account
    make_user("operations", username="xiaowang", is_staff=True)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(Client(), "xiaowang", "wrong-password")
    # when the cool-off time has passed (attempts moved into the past)
    cool_off = dt.timedelta(hours=settings.AXES_COOLOFF_TIME)
    AccessAttempt.objects.filter(username="xiaowang").update(
        attempt_time=timezone.now() - cool_off - dt.timedelta(minutes=1)
    )
    client = Client()
    response = _login(client, "xiaowang", PASSWORD)
    # then the right password works again and the failures are forgotten
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert _is_logged_in(client)
    assert AccessAttempt.objects.filter(username="xiaowang").count() == 0


def test_token_secret_is_stored_only_as_its_hash(make_user) -> None:
    # given a token just issued
    user = make_user("operations")
    issued = services.create_token(user=user, name="erp", expires_in_days=30, actor=user)
    # when the stored row is read back
    row = ApiToken.objects.filter(pk=issued.token.pk).values().get()
    # then only the SHA-256 of the secret is kept and no column holds the secret
    assert row["key_hash"] == hashlib.sha256(issued.secret.encode()).hexdigest()
    assert all(issued.secret not in str(value) for value in row.values())
    assert issued.secret.startswith(f"sk_{row['prefix']}_")


def test_token_authenticates_api_calls_and_records_last_use(make_user) -> None:
    # given a fresh token
    user = make_user("operations", username="erp-bot")
    issued = services.create_token(user=user, name="erp", expires_in_days=30, actor=user)
    client = TestClient(probe)
    # when it calls the API
    response = client.get("/whoami", headers={"Authorization": f"Bearer {issued.secret}"})
    # then the caller is its user and the use is recorded
    assert response.status_code == 200
    assert response.json() == {"username": "erp-bot"}
    assert ApiToken.objects.get(pk=issued.token.pk).last_used_at is not None


@pytest.mark.parametrize("state", ["revoked", "expired", "unknown", "inactive_user", "missing"])
def test_unusable_tokens_are_answered_with_401(make_user, state: str) -> None:
    # given a token that must no longer work
    user = make_user("operations")
    issued = services.create_token(user=user, name="erp", expires_in_days=30, actor=user)
    secret = issued.secret
    if state == "revoked":
        services.revoke_token(token_id=issued.token.pk, user=user, actor=user)
    elif state == "expired":
        ApiToken.objects.filter(pk=issued.token.pk).update(
            expires_at=timezone.now() - dt.timedelta(seconds=1)
        )
    elif state == "unknown":
        secret = secret[:-4] + "AAAA"
    elif state == "inactive_user":
        get_user_model().objects.filter(pk=user.pk).update(is_active=False)
    headers = {} if state == "missing" else {"Authorization": f"Bearer {secret}"}
    # when it calls the API
    response = TestClient(probe).get("/whoami", headers=headers)
    # then it is refused as unauthenticated and nothing records a use
    assert response.status_code == 401
    assert ApiToken.objects.get(pk=issued.token.pk).last_used_at is None
