"""`shopops demo [--seed N] [--days N] [--reset]`: load reproducible demo data and one user per role."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import ProtectedError

from shopops.catalog.demo_data import catalog_is_empty, load_demo
from shopops.core.context import origin


def demo_password_file() -> Path:
    return Path(settings.VAR_DIR) / "demo-login.txt"


def demo_password() -> str:
    """The demo users' password: generated once, kept readable only by the owner in var/."""
    path = demo_password_file()
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    password = f"demo-{secrets.token_urlsafe(9)}"
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(password + "\n")
    return password


class Command(BaseCommand):
    help = "加载演示数据（类目、品牌、商品、SKU、店铺、上下架、价格）及每个角色一个演示账号。可重复运行。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--seed", type=int, default=42, help="random seed; the same seed gives the same data"
        )
        parser.add_argument("--days", type=int, default=90, help="how many days of price history to invent")
        parser.add_argument(
            "--reset",
            action="store_true",
            help="delete the whole catalog and the demo shops first, then rebuild",
        )

        parser.add_argument(
            "--only-if-empty",
            action="store_true",
            help="do nothing at all (no users either) unless the catalog is empty",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["only_if_empty"] and not catalog_is_empty():
            self.stdout.write("catalog not empty: demo skipped")
            return
        if not 7 <= options["days"] <= 3650:
            raise CommandError("--days must be between 7 and 3650")
        started = time.monotonic()
        password = demo_password()
        try:
            with origin("cli"):
                summary = load_demo(
                    seed=options["seed"], days=options["days"], reset=options["reset"], password=password
                )
        except ProtectedError as error:
            # stock, orders and the like refer to the catalog: a reset would destroy real records
            raise CommandError(
                f"--reset refused: other records still use the catalog ({error.args[0]})"
            ) from error
        if summary.loaded:
            counts = ", ".join(f"{name} {count}" for name, count in summary.counts.items())
            self.stdout.write(
                f"demo data loaded (seed {summary.seed}) in {time.monotonic() - started:.1f}s: {counts}"
            )
        else:
            self.stdout.write("catalog not empty: no demo data added (use --reset to rebuild it)")
        if summary.created_users:
            self.stdout.write(f"demo users: {', '.join(summary.created_users)} — password: {password}")
        if summary.existing_users:
            self.stdout.write(f"existing users kept as they were: {', '.join(summary.existing_users)}")
