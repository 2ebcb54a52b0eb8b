import pytest
from django.test import Client

from shopops.accounts import services as account_services
from shopops.accounts.models import ApiToken
from shopops.core.errors import PermissionDeniedError
from shopops.core.models import AuditEntry


def session_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("expires_in_days", [None, 1, 3650])
def test_a_token_cannot_create_a_token_of_any_lifetime(make_user, expires_in_days):
    # given a user calling the API with a token that expires tomorrow
    user = make_user("finance")
    issued = account_services.create_token(user=user, name="script", expires_in_days=1, actor=user)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    # when the token asks for another token
    response = client.post(
        "/api/v1/tokens",
        {"name": "child", "expires_in_days": expires_in_days},
        content_type="application/json",
    )
    # then it is refused, whatever lifetime it asks for, and no token exists beside the caller's
    assert response.status_code == 403
    assert response.json() == {
        "code": "token_cannot_create_token",
        "message": "API 令牌不能创建新令牌，请登录后台后创建",
        "fields": {"authorization": "须登录后台创建令牌，不能用 API 令牌"},
    }
    assert list(ApiToken.objects.filter(user=user).values_list("name", flat=True)) == ["script"]
    assert AuditEntry.objects.filter(action="api_token.created").count() == 1


def test_the_service_refuses_a_token_created_through_a_token(make_user):
    # given a user's token
    user = make_user("finance")
    parent = account_services.create_token(user=user, name="script", expires_in_days=1, actor=user).token
    # when the service is asked for a token on that token's authority
    with pytest.raises(PermissionDeniedError) as refused:
        account_services.create_token(
            user=user, name="child", expires_in_days=None, actor=user, created_with_token=parent
        )
    # then it names the credential as the reason
    assert refused.value.code == "token_cannot_create_token"
    assert list(refused.value.fields) == ["authorization"]
    assert ApiToken.objects.filter(user=user).count() == 1


def test_a_signed_in_user_still_creates_a_token_that_never_expires(make_user):
    # given a user signed in to the back office
    user = make_user("finance")
    client = session_client(user)
    # when they create a token without expiry
    response = client.post(
        "/api/v1/tokens", {"name": "erp", "expires_in_days": None}, content_type="application/json"
    )
    # then it is created and works
    assert response.status_code == 201
    assert response.json()["expires_at"] is None
    assert (
        Client(HTTP_AUTHORIZATION=f"Bearer {response.json()['secret']}").get("/api/v1/me").status_code == 200
    )


def test_a_revoked_token_leaves_nothing_behind(make_user):
    # given a leaked token that tried to mint a successor
    user = make_user("finance")
    leaked = account_services.create_token(user=user, name="leaked", expires_in_days=90, actor=user)
    attacker = Client(HTTP_AUTHORIZATION=f"Bearer {leaked.secret}")
    attacker.post(
        "/api/v1/tokens", {"name": "persist", "expires_in_days": None}, content_type="application/json"
    )
    # when the owner revokes the leaked token
    account_services.revoke_token(token_id=leaked.token.pk, user=user, actor=user)
    # then no usable token of the user remains
    assert [token.name for token in ApiToken.objects.filter(user=user) if token.is_usable] == []
    assert attacker.get("/api/v1/me").status_code == 401
