"""`shopops token create|list|revoke`: personal API tokens from the command line."""

from __future__ import annotations

import getpass
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from shopops.accounts import services
from shopops.accounts.models import ApiToken, User
from shopops.core.context import origin
from shopops.core.errors import DomainError


def cli_actor() -> str:
    """Who runs the command, for the audit: the operating-system account."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry, e.g. in a container
        return "cli"


def _local(moment: Any) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else "-"


def _status(token: ApiToken) -> str:
    if token.revoked_at is not None:
        return "revoked"
    if not token.is_usable:
        return "expired"
    return "active"


class Command(BaseCommand):
    help = "管理个人 API 令牌：create USERNAME [--name N] [--expires DAYS] | list USERNAME | revoke ID"

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="{create,list,revoke}")
        create = actions.add_parser("create", help="issue a token; the secret is printed once")
        create.add_argument("username")
        create.add_argument(
            "--name", default="cli", help="a name to recognise the token by (unique per user)"
        )
        create.add_argument(
            "--expires", type=int, default=90, metavar="DAYS", help="days until it expires; 0 = never"
        )
        listing = actions.add_parser("list", help="list a user's tokens (never their secrets)")
        listing.add_argument("username")
        revoke = actions.add_parser("revoke", help="revoke a token by id")
        revoke.add_argument("token_id", type=int, metavar="ID")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            with origin("cli"):
                if options["action"] == "create":
                    self.create(options["username"], options["name"], options["expires"])
                elif options["action"] == "list":
                    self.list(options["username"])
                else:
                    self.revoke(options["token_id"])
        except DomainError as error:
            raise CommandError(error.message) from error

    def _user(self, username: str) -> User:
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"用户 {username} 不存在")
        return user

    def create(self, username: str, name: str, expires_in_days: int) -> None:
        user = self._user(username)
        issued = services.create_token(
            user=user, name=name, expires_in_days=expires_in_days or None, actor=cli_actor()
        )
        self.stdout.write(
            f"token #{issued.token.pk} “{issued.token.name}” for {user.username}, expires {_local(issued.token.expires_at)}"
        )
        self.stdout.write("secret (shown only now, store it safely):")
        self.stdout.write(issued.secret)

    def list(self, username: str) -> None:
        user = self._user(username)
        self.stdout.write(
            f"{'id':>5}  {'name':<20} {'prefix':<9} {'status':<8} {'created':<16}  {'expires':<16}  last used"
        )
        for token in ApiToken.objects.filter(user=user).order_by("pk"):
            self.stdout.write(
                f"{token.pk:>5}  {token.name:<20} {token.prefix:<9} {_status(token):<8} {_local(token.created_at):<16}  "
                f"{_local(token.expires_at):<16}  {_local(token.last_used_at)}"
            )

    def revoke(self, token_id: int) -> None:
        token = ApiToken.objects.select_related("user").filter(pk=token_id).first()
        if token is None:
            raise CommandError(f"令牌 #{token_id} 不存在")
        services.revoke_token(token_id=token.pk, user=token.user, actor=cli_actor())
        self.stdout.write(f"token #{token.pk} “{token.name}” of {token.user.username} revoked")
