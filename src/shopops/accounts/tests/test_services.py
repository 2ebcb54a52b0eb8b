import datetime as dt

import pytest
from django.utils import timezone

from shopops.accounts import services
from shopops.accounts.models import ApiToken
from shopops.core.errors import Conflict, InvalidInput, NotFound
from shopops.core.models import AuditEntry

pytestmark = pytest.mark.django_db


def test_create_token_is_named_expiring_and_audited(make_user) -> None:
    # given an operator
    user = make_user("operations", username="xiaowang")
    before = timezone.now()
    # when a token is issued for 30 days
    issued = services.create_token(user=user, name="  ERP 同步 ", expires_in_days=30, actor=user)
    # then it carries its name, an expiry 30 days out, and an audit entry without the secret
    token = ApiToken.objects.get(pk=issued.token.pk)
    assert token.name == "ERP 同步"
    assert before + dt.timedelta(days=30) <= token.expires_at <= timezone.now() + dt.timedelta(days=30)
    assert token.is_usable
    entry = AuditEntry.objects.get(action="api_token.created")
    assert entry.object_id == str(token.pk)
    assert "key_hash" not in entry.changes
    assert issued.secret not in str(entry.changes)


def test_create_token_without_expiry_never_expires(make_user) -> None:
    # given an operator
    user = make_user("operations")
    # when a token is issued without expiry
    issued = services.create_token(user=user, name="forever", expires_in_days=None, actor=user)
    # then it has no expiry date
    assert issued.token.expires_at is None


@pytest.mark.parametrize(
    ("name", "days", "field"),
    [("", 30, "name"), ("  ", 30, "name"), ("x", 0, "expires_in_days"), ("x", 3651, "expires_in_days")],
)
def test_create_token_refuses_invalid_input(make_user, name: str, days: int, field: str) -> None:
    # given an operator
    user = make_user("operations")
    # when a token is asked for with invalid input
    with pytest.raises(InvalidInput) as refused:
        services.create_token(user=user, name=name, expires_in_days=days, actor=user)
    # then nothing is stored and the field is named
    assert list(refused.value.fields) == [field]
    assert ApiToken.objects.count() == 0


def test_token_names_are_unique_per_user(make_user) -> None:
    # given two users, one already holding a token named erp
    first = make_user("operations")
    second = make_user("operations")
    services.create_token(user=first, name="erp", expires_in_days=30, actor=first)
    # when the same name is used again by the same user, then by the other
    with pytest.raises(Conflict):
        services.create_token(user=first, name="erp", expires_in_days=30, actor=first)
    services.create_token(user=second, name="erp", expires_in_days=30, actor=second)
    # then each user has one
    assert sorted(ApiToken.objects.values_list("user_id", flat=True)) == sorted([first.pk, second.pk])


def test_revoke_token_is_idempotent_and_audited_once(make_user) -> None:
    # given an issued token
    user = make_user("operations")
    issued = services.create_token(user=user, name="erp", expires_in_days=30, actor=user)
    # when revoked twice
    first = services.revoke_token(token_id=issued.token.pk, user=user, actor=user)
    second = services.revoke_token(token_id=issued.token.pk, user=user, actor=user)
    # then the first revocation time stays and one audit entry exists
    assert first.revoked_at is not None
    assert second.revoked_at == first.revoked_at
    assert not ApiToken.objects.get(pk=issued.token.pk).is_usable
    assert AuditEntry.objects.filter(action="api_token.revoked").count() == 1
    assert services.authenticate_token(issued.secret) is None


def test_revoking_someone_elses_token_is_not_found(make_user) -> None:
    # given a token of another user
    owner = make_user("operations")
    other = make_user("operations")
    issued = services.create_token(user=owner, name="erp", expires_in_days=30, actor=owner)
    # when the other user revokes it
    with pytest.raises(NotFound):
        services.revoke_token(token_id=issued.token.pk, user=other, actor=other)
    # then it still works
    assert services.authenticate_token(issued.secret) is not None


def test_authenticate_token_touches_last_used_at_at_most_once_a_minute(make_user) -> None:
    # given a token used 30 seconds ago, and one used 2 minutes ago
    user = make_user("operations")
    recent = services.create_token(user=user, name="recent", expires_in_days=30, actor=user)
    stale = services.create_token(user=user, name="stale", expires_in_days=30, actor=user)
    recent_use = timezone.now() - dt.timedelta(seconds=30)
    stale_use = timezone.now() - dt.timedelta(minutes=2)
    ApiToken.objects.filter(pk=recent.token.pk).update(last_used_at=recent_use)
    ApiToken.objects.filter(pk=stale.token.pk).update(last_used_at=stale_use)
    # when both authenticate
    assert services.authenticate_token(recent.secret).pk == recent.token.pk
    assert services.authenticate_token(stale.secret).pk == stale.token.pk
    # then only the stale one is touched
    assert ApiToken.objects.get(pk=recent.token.pk).last_used_at == recent_use
    assert ApiToken.objects.get(pk=stale.token.pk).last_used_at > stale_use


def test_authenticate_token_ignores_secrets_without_the_prefix(make_user) -> None:
    assert services.authenticate_token("not-a-token") is None
