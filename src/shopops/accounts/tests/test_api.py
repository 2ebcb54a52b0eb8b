import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from shopops.accounts import services as account_services
from shopops.accounts.models import ApiToken
from shopops.accounts.roles import permissions_for
from shopops.channels.models import Shop
from shopops.core.models import AuditEntry


def test_me_anonymous_is_401(db):
    # given an anonymous client
    # when it asks who it is
    response = Client().get("/api/v1/me")
    # then it must sign in first
    assert response.status_code == 401
    assert response.json() == {
        "code": "not_authenticated",
        "message": "需要登录或有效的 API 令牌",
        "fields": {},
    }


def test_me_shows_roles_permissions_and_scope(make_user, api_client_for):
    # given an operator limited to one shop
    shop = Shop.objects.create(code="tmall-main", name="天猫旗舰店", platform="tmall")
    user = make_user("operations", username="li", shops=[shop], real_name="李雷", phone="13812345678")
    # when they ask who they are
    response = api_client_for(user).get("/api/v1/me")
    # then the answer lists the role's permissions exactly
    assert response.status_code == 200
    assert response.json() == {
        "id": user.pk,
        "username": "li",
        "real_name": "李雷",
        "email": "",
        "phone": "13812345678",
        "roles": ["运营"],
        "permissions": sorted(permissions_for("operations")),
        "has_all_shops": False,
        "shop_ids": [shop.pk],
    }


def test_me_with_revoked_token_is_401(make_user):
    # given a token that was revoked
    user = make_user("warehouse")
    issued = account_services.create_token(user=user, name="old", expires_in_days=1, actor=user)
    account_services.revoke_token(token_id=issued.token.pk, user=user, actor=user)
    # when it is used
    response = Client(HTTP_AUTHORIZATION=f"Bearer {issued.secret}").get("/api/v1/me")
    # then it no longer works
    assert response.status_code == 401


def test_me_with_session_cookie(make_user):
    # given a user signed in to the admin
    user = make_user("designer", username="mei")
    client = Client()
    client.force_login(user)
    # when the browser calls the API with its session
    response = client.get("/api/v1/me")
    # then the session counts as authentication
    assert response.status_code == 200
    assert response.json()["username"] == "mei"


def test_session_write_without_csrf_token_is_refused(make_user):
    # given a signed-in browser that enforces CSRF
    user = make_user("designer", username="mei")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    # when it posts without the CSRF token
    response = client.post("/api/v1/tokens", {"name": "x"}, content_type="application/json")
    # then the request is refused and no token is made
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert ApiToken.objects.count() == 0


def test_anonymous_write_is_401_not_csrf_403(db):
    # given an anonymous client that enforces CSRF
    client = Client(enforce_csrf_checks=True)
    # when it posts
    response = client.post("/api/v1/tokens", {"name": "x"}, content_type="application/json")
    # then the answer says "authenticate", not "CSRF"
    assert response.status_code == 401


def test_create_token_shows_secret_once(make_user):
    # given a user signed in to the back office (a token cannot create tokens)
    user = make_user("finance", username="qian")
    account_services.create_token(user=user, name="test", expires_in_days=1, actor=user)
    client = Client()
    client.force_login(user)
    # when they create a second token
    response = client.post(
        "/api/v1/tokens", {"name": "erp", "expires_in_days": 30}, content_type="application/json"
    )
    # then the secret is in the creation response and works
    assert response.status_code == 201
    body = response.json()
    token = ApiToken.objects.get(user=user, name="erp")
    assert body["secret"].startswith(f"sk_{token.prefix}_")
    assert body["id"] == token.pk
    assert body["is_usable"] is True
    assert dt.datetime.fromisoformat(body["expires_at"]) == token.expires_at
    assert body["expires_at"].endswith("+08:00")
    assert Client(HTTP_AUTHORIZATION=f"Bearer {body['secret']}").get("/api/v1/me").status_code == 200
    # and the list never shows it again
    listed = client.get("/api/v1/tokens").json()["items"]
    assert [item["name"] for item in listed] == ["erp", "test"]
    assert all("secret" not in item for item in listed)
    assert AuditEntry.objects.filter(action="api_token.created", object_id=str(token.pk)).count() == 1


def test_create_token_with_duplicate_name_is_409(make_user):
    # given a signed-in user whose token is named "test"
    user = make_user("finance")
    account_services.create_token(user=user, name="test", expires_in_days=1, actor=user)
    client = Client()
    client.force_login(user)
    # when they create another "test"
    response = client.post("/api/v1/tokens", {"name": "test"}, content_type="application/json")
    # then it conflicts
    assert response.status_code == 409
    assert response.json() == {
        "code": "conflict",
        "message": "已存在名为“test”的令牌",
        "fields": {"name": "重复"},
    }


@pytest.mark.parametrize(
    ("payload", "field"),
    [({"name": ""}, "name"), ({"name": "x", "expires_in_days": 0}, "expires_in_days"), ({}, "name")],
)
def test_create_token_invalid_is_422_with_field(make_user, api_client_for, payload, field):
    # given a user
    user = make_user("finance")
    # when the token request is invalid
    response = api_client_for(user).post("/api/v1/tokens", payload, content_type="application/json")
    # then the field is named
    assert response.status_code == 422
    assert response.json()["code"] == "invalid"
    assert list(response.json()["fields"]) == [field]


def test_revoke_token(make_user, api_client_for):
    # given a user with a second token
    user = make_user("finance")
    issued = account_services.create_token(user=user, name="erp", expires_in_days=None, actor=user)
    # when they revoke it
    response = api_client_for(user).delete(f"/api/v1/tokens/{issued.token.pk}")
    # then it is revoked and stops working
    assert response.status_code == 200
    assert response.json()["is_usable"] is False
    issued.token.refresh_from_db()
    assert issued.token.revoked_at is not None
    assert issued.token.revoked_at <= timezone.now()
    assert Client(HTTP_AUTHORIZATION=f"Bearer {issued.secret}").get("/api/v1/me").status_code == 401


def test_revoke_someone_elses_token_is_404_and_nothing_changes(make_user, api_client_for):
    # given another user's token
    owner = make_user("finance")
    issued = account_services.create_token(user=owner, name="erp", expires_in_days=None, actor=owner)
    intruder = make_user("admin")
    # when someone else revokes it
    response = api_client_for(intruder).delete(f"/api/v1/tokens/{issued.token.pk}")
    # then it does not exist for them, and still works
    assert response.status_code == 404
    issued.token.refresh_from_db()
    assert issued.token.revoked_at is None


def test_list_tokens_query_count(make_user, api_client_for, django_assert_max_num_queries):
    # given a user with several tokens
    user = make_user("finance")
    client = api_client_for(user)
    for index in range(5):
        account_services.create_token(user=user, name=f"t{index}", expires_in_days=1, actor=user)
    # when they list them
    with django_assert_max_num_queries(4):
        response = client.get("/api/v1/tokens")
    # then all are there, newest first
    assert response.json()["count"] == 6
    assert [item["name"] for item in response.json()["items"]] == ["t4", "t3", "t2", "t1", "t0", "test"]


def test_rate_limit_is_per_token(admin_user, api_client_for, settings):
    # given a limit of one call a minute and two tokens of one user
    settings.API_RATE_LIMIT = "1/m"
    first = api_client_for(admin_user)
    issued = account_services.create_token(
        user=admin_user, name="second", expires_in_days=1, actor=admin_user
    )
    second = Client(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    # when each calls once, and the first once more
    # then neither is limited by the other
    assert first.get("/api/v1/me").status_code == 200
    assert second.get("/api/v1/me").status_code == 200
    assert first.get("/api/v1/me").status_code == 429


def test_session_write_with_csrf_token_is_accepted(make_user):
    # given a signed-in browser that enforces CSRF and holds the CSRF cookie
    user = make_user("designer", username="mei")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    secret = "a" * 32
    client.cookies["csrftoken"] = secret
    # when it posts with the token in the header, as the admin's pages do
    response = client.post(
        "/api/v1/tokens",
        {"name": "browser"},
        content_type="application/json",
        headers={"X-CSRFToken": secret},
    )
    # then the write goes through
    assert response.status_code == 201
    assert ApiToken.objects.filter(user=user, name="browser").count() == 1
