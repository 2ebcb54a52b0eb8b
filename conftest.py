"""Shared test fixtures: roles, users per role, API clients (session and token), a real SMTP server, the clock."""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import time_machine
from aiosmtpd.controller import Controller
from django.conf import settings as django_settings
from django.db import transaction
from django.test import Client
from django.test.utils import override_settings

from shopops.accounts import services as account_services
from shopops.accounts.models import User
from shopops.accounts.roles import role_group_name, sync_roles

# the test database is migrated once into a template and copied per process (tests/conftest_db.py)
pytest_plugins = ["tests.conftest_db"]

PASSWORD = "Secret-Passw0rd-42"


def clock_from_environment() -> dt.datetime | None:
    """`SHOPOPS_TEST_NOW` (an ISO instant with its offset), the clock every test starts at, or None."""
    value = os.environ.get("SHOPOPS_TEST_NOW", "").strip()
    if not value:
        return None
    instant = dt.datetime.fromisoformat(value)
    if instant.tzinfo is None:
        raise pytest.UsageError(f"SHOPOPS_TEST_NOW needs an offset, e.g. {value}+08:00")
    return instant


TEST_NOW = clock_from_environment()
# Production hashes with argon2 (slow on purpose); tests log users in thousands of times, so they hash with
# MD5 unless a test asks for `production_password_hashers` (the one that proves what production stores).
FAST_PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
PRODUCTION_PASSWORD_HASHERS = list(django_settings.PASSWORD_HASHERS)


def pytest_configure(config: pytest.Config) -> None:
    # xdist registers it, but runs with `-p no:xdist` must still accept modules that name their group
    config.addinivalue_line("markers", "xdist_group(name): run these tests in one xdist worker")
    config.addinivalue_line(
        "markers", "real_clock: shares wall-clock time with other processes; SHOPOPS_TEST_NOW leaves it alone"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # everything under tests/browser drives Chromium: `make test-fast` (-m "not browser") leaves it out
    # even when a new module forgets its mark
    for item in items:
        if item.nodeid.startswith("tests/browser/"):
            item.add_marker(pytest.mark.browser)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # A module whose results depend on today lists the instants it runs at in CLOCKS: `clock` puts each
    # test there, `module_clock` the module's shared data (made once per instant). SHOPOPS_TEST_NOW,
    # when set, replaces them.
    for name, scope in (("clock", "function"), ("module_clock", "module")):
        if name in metafunc.fixturenames:
            instants = [TEST_NOW] if TEST_NOW is not None else list(metafunc.module.CLOCKS)
            metafunc.parametrize(
                name,
                instants,
                indirect=True,
                scope=scope,
                ids=[instant.isoformat(timespec="minutes") for instant in instants],
            )


@pytest.fixture
def clock(request: pytest.FixtureRequest) -> Iterator[dt.datetime]:
    """The instant the test runs at (one of its module's CLOCKS); the clock ticks on from there."""
    with time_machine.travel(request.param, tick=True):
        yield request.param


@pytest.fixture(scope="module")
def module_clock(request: pytest.FixtureRequest) -> Iterator[dt.datetime]:
    """The instant a module's shared data (the demo) is made at: the clock travels there and ticks on
    through the module's fixtures and tests."""
    with time_machine.travel(request.param, tick=True):
        yield request.param


@pytest.fixture(scope="module")
def module_db(module_clock: dt.datetime, django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """One transaction per module and clock: what a module-scoped fixture writes (the demo, loaded once
    per clock) is seen by each test, which runs in its own savepoint, and is rolled back afterwards."""
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        # marked as Django's TestCase marks its own, so durable blocks in the code under test may nest
        atomic._from_testcase = True  # type: ignore[attr-defined]
        atomic.__enter__()
        try:
            yield
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


@pytest.fixture(autouse=True)
def shifted_clock(request: pytest.FixtureRequest) -> Iterator[None]:
    """Prove a change is calendar-proof: with SHOPOPS_TEST_NOW every test starts at that instant (the
    clock ticks on, so code that waits or measures still works). A test on its module's clock keeps that
    one; a `real_clock` test (its processes meet at a wall-clock time) keeps the real one."""
    if (
        TEST_NOW is None
        or {"clock", "module_clock"} & set(request.fixturenames)
        or request.node.get_closest_marker("real_clock")
    ):
        yield
        return
    with time_machine.travel(TEST_NOW, tick=True):
        yield


@pytest.fixture(scope="session", autouse=True)
def fast_password_hashers() -> Iterator[None]:
    with override_settings(PASSWORD_HASHERS=FAST_PASSWORD_HASHERS):
        yield


@pytest.fixture
def production_password_hashers(settings: Any) -> None:
    """The hashers production uses (argon2 first), for the tests about what is stored."""
    settings.PASSWORD_HASHERS = PRODUCTION_PASSWORD_HASHERS


@pytest.fixture
def roles(db: None) -> dict[str, Any]:
    return sync_roles()


@pytest.fixture
def make_user(roles: dict[str, Any]) -> Callable[..., User]:
    counter = {"n": 0}

    def make(
        role: str | None = None, *, username: str | None = None, shops: list[Any] | None = None, **extra: Any
    ) -> User:
        counter["n"] += 1
        extra.setdefault("is_staff", role is not None)  # back-office users are staff; roles give permissions
        user = User.objects.create_user(
            username=username or f"{role or 'nobody'}{counter['n']}", password=PASSWORD, **extra
        )
        if role:
            user.groups.add(roles[role] if role in roles else None)
            assert user.groups.filter(name=role_group_name(role)).exists()
        if shops is not None:
            user.has_all_shops = False
            user.save(update_fields=["has_all_shops"])
            user.shop_scope.set(shops)
        return User.objects.get(pk=user.pk)  # fresh, so permission caches are empty

    return make


@pytest.fixture
def admin_user(make_user: Callable[..., User]) -> User:
    return make_user("admin", username="boss")


def token_client(user: User) -> Client:
    issued = account_services.create_token(user=user, name="test", expires_in_days=1, actor=user)
    return Client(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")


@pytest.fixture
def api_client_for() -> Callable[[User], Client]:
    """A client that calls the API with a fresh personal token of `user`."""
    return token_client


@pytest.fixture(autouse=True)
def private_analytics_dir(settings: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Every test gets its own analytics folder (events, facts, rollups), never the shared var/analytics."""
    settings.ANALYTICS_DIR = tmp_path_factory.mktemp("analytics")
    # the other apps' demo tests need no year of traffic (analytics' own demo test switches it back on)
    settings.ANALYTICS_DEMO = False


# a real SMTP server (aiosmtpd) that keeps what it receives: email is tested end to end, not mocked
class Collector:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's hook name)
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server(settings):
    collector = Collector()
    controller = Controller(collector, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.DEFAULT_FROM_EMAIL = "shopops@example.com"
    yield collector
    controller.stop()
