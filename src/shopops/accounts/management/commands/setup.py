"""`shopops setup`: migrate, sync roles, create the `admin` login, load the demo, collect static files."""

from __future__ import annotations

import os
import secrets
import unicodedata
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from shopops.accounts.models import User
from shopops.accounts.roles import ROLES, sync_roles
from shopops.core import audit
from shopops.core.context import origin

ADMIN_USERNAME = "admin"
DEFAULT_URL = "http://127.0.0.1:8000/admin/"


def admin_login_file() -> Path:
    return Path(settings.VAR_DIR) / "admin-login.txt"


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner may read (mode 600), also when it already existed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    path.chmod(0o600)


def stored_admin_password() -> str | None:
    path = admin_login_file()
    if not path.exists():
        return None
    for line in path.read_text(encoding="utf-8").splitlines():
        key, _sep, value = line.partition(":")
        if key.strip() == "password":
            return value.strip()
    return None


def ensure_admin() -> tuple[User, str | None, bool]:
    """The `admin` superuser, its password when known, and whether it was just created."""
    user = User.objects.filter(username=ADMIN_USERNAME).first()
    if user is not None:
        password = stored_admin_password()
        return user, password if password and user.check_password(password) else None, False
    password = secrets.token_urlsafe(12)
    with transaction.atomic():
        user = User.objects.create_superuser(username=ADMIN_USERNAME, email="", password=password)
        audit.record(actor="setup", action="user.created", instance=user, before={}, reason="shopops setup")
    write_private(admin_login_file(), f"username: {ADMIN_USERNAME}\npassword: {password}\n")
    return user, password, True


def display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def login_box(*, url: str, username: str, password: str | None) -> str:
    """The framed block telling where to log in and with what."""
    shown = password or f"(not stored; set it with `shopops changepassword {username}`)"
    lines = ["shopops 已就绪 / ready", "", f"URL:      {url}", f"username: {username}", f"password: {shown}"]
    width = max(display_width(line) for line in lines) + 2
    body = [f"│ {line}{' ' * (width - display_width(line) - 1)}│" for line in lines]
    return "\n".join([f"┌{'─' * width}┐", *body, f"└{'─' * width}┘"])


def admin_login_box(url: str = DEFAULT_URL) -> str:
    user = User.objects.filter(username=ADMIN_USERNAME).first()
    password = stored_admin_password()
    if user is not None and password and not user.check_password(password):
        password = None
    return login_box(url=url, username=ADMIN_USERNAME, password=password)


class Command(BaseCommand):
    help = "一键准备：迁移数据库、同步角色、创建 admin 账号（随机密码）、空库时加载演示数据、收集静态文件。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--no-demo", action="store_true", help="do not load demo data into an empty catalog"
        )
        parser.add_argument("--url", default=DEFAULT_URL, help="the address printed in the login box")

    def handle(self, *args: Any, **options: Any) -> None:
        verbosity = options["verbosity"]
        call_command("migrate", interactive=False, verbosity=max(verbosity - 1, 0), stdout=self.stdout)
        self.stdout.write("✓ database migrated")
        sync_roles()
        self.stdout.write(f"✓ roles synced ({len(ROLES)})")
        with origin("cli"):
            _user, password, created = ensure_admin()
            self.stdout.write(
                f"✓ {'created' if created else 'kept'} superuser {ADMIN_USERNAME} ({admin_login_file()})"
            )
            if not options["no_demo"]:
                call_command("demo", only_if_empty=True, verbosity=verbosity, stdout=self.stdout)
        if not settings.DEBUG:
            call_command("collectstatic", interactive=False, verbosity=0)
            self.stdout.write(f"✓ static files collected in {settings.STATIC_ROOT}")
        self.stdout.write("")
        self.stdout.write(login_box(url=options["url"], username=ADMIN_USERNAME, password=password))
