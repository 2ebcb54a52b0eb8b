import pytest
from conftest import PASSWORD
from django.conf import settings
from django.test import Client

pytestmark = pytest.mark.django_db

LOGIN_URL = "/admin/login/?next=/admin/"
ATTACKER = "203.0.113.7"
OWNER = "198.51.100.20"


def _login(client: Client, username: str, password: str):
    return client.post(LOGIN_URL, {"username": username, "password": password, "next": "/admin/"})


def _from(address: str, **meta: str) -> Client:
    return Client(REMOTE_ADDR=address, **meta)


def test_failures_from_one_address_lock_the_account_there_but_not_elsewhere(make_user):
    # given an attacker who types wrong passwords for a known account up to the limit
    make_user("operations", username="xiaowang")
    attacker = _from(ATTACKER)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(attacker, "xiaowang", "wrong-password")
    # when the attacker, then the owner from their own address, type the right password
    at_attacker = _login(attacker, "xiaowang", PASSWORD)
    owner = _from(OWNER)
    at_owner = _login(owner, "xiaowang", PASSWORD)
    # then the account is locked for the attacker's address only
    assert at_attacker.status_code == 429
    assert at_owner.status_code == 302
    assert "_auth_user_id" in owner.session


def test_spraying_many_usernames_from_one_address_is_throttled(make_user):
    # given an attacker trying one password on many usernames, up to the per-address limit
    make_user("operations", username="xiaoli")
    attacker = _from(ATTACKER)
    sprayed = [
        _login(attacker, f"user{number}", "Spring2026!").status_code
        for number in range(settings.AXES_IP_FAILURE_LIMIT)
    ]
    # when the same address tries yet another account (even with its right password)
    next_try = _login(attacker, "xiaoli", PASSWORD)
    # then the address is locked out, while the account still works from elsewhere
    assert sprayed == [200] * (settings.AXES_IP_FAILURE_LIMIT - 1) + [429]
    assert next_try.status_code == 429
    assert _login(_from(OWNER), "xiaoli", PASSWORD).status_code == 302


def test_a_valid_login_does_not_wipe_the_failures_of_its_address(make_user):
    # given an attacker with an account of their own who sprayed just under the per-address limit
    make_user("operations", username="insider")
    make_user("operations", username="xiaoli")
    attacker = _from(ATTACKER)
    for number in range(settings.AXES_IP_FAILURE_LIMIT - 1):
        _login(attacker, f"user{number}", "Spring2026!")
    # when they sign in with their own account, then spray once more
    assert _login(_from(ATTACKER), "insider", PASSWORD).status_code == 302
    _login(attacker, "user-last", "Spring2026!")
    # then the address is locked: the success cleared only the insider's own failures
    assert _login(attacker, "xiaoli", PASSWORD).status_code == 429


def test_behind_a_trusted_proxy_the_forwarded_address_is_counted(make_user, settings):
    # given the app behind a local TLS proxy, an account locked from the attacker's forwarded address
    settings.LOGIN_TRUSTED_PROXIES = ["127.0.0.1"]
    make_user("operations", username="xiaowang")
    attacker = _from("127.0.0.1", HTTP_X_FORWARDED_FOR=f"10.9.9.9, {ATTACKER}")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(attacker, "xiaowang", "wrong-password")
    # when the owner comes through the same proxy, and the attacker forges a left-most hop through the
    # proxy or a header straight from their own address
    owner = _login(_from("127.0.0.1", HTTP_X_FORWARDED_FOR=OWNER), "xiaowang", PASSWORD)
    forged = _login(_from("127.0.0.1", HTTP_X_FORWARDED_FOR=f"{OWNER}, {ATTACKER}"), "xiaowang", PASSWORD)
    direct = _login(_from(ATTACKER, HTTP_X_FORWARDED_FOR=OWNER), "xiaowang", PASSWORD)
    # then the owner gets in and neither forgery moves the attacker to the owner's address
    assert owner.status_code == 302
    assert (forged.status_code, direct.status_code) == (429, 429)
