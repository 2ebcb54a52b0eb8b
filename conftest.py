"""Shared test fixtures: roles, users per role, API clients (session and token), a real SMTP server."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.test import Client

from shopops.accounts import services as account_services
from shopops.accounts.models import User
from shopops.accounts.roles import role_group_name, sync_roles

PASSWORD = "Secret-Passw0rd-42"


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
