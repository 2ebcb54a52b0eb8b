"""`shopops roles [--sync] [--doc [--write]]`: sync role groups and print or write docs/roles.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from shopops.accounts.roles import ROLES, matrix_markdown, permissions_for, sync_roles


def roles_doc_path() -> Path:
    return Path(settings.PROJECT_DIR) / "docs" / "roles.md"


class Command(BaseCommand):
    help = "同步角色（用户组）权限；打印或写入 docs/roles.md。不带参数时列出角色。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--sync", action="store_true", help="create or update one group per role")
        parser.add_argument("--doc", action="store_true", help="print the role matrix (docs/roles.md)")
        parser.add_argument(
            "--write", action="store_true", help="with --doc: write docs/roles.md instead of printing"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["sync"]:
            groups = sync_roles()
            for role, group in groups.items():
                self.stdout.write(f"{role:<18} {group.name:<6} {group.permissions.count():>3} permissions")
        if options["doc"]:
            text = matrix_markdown()
            if options["write"]:
                path = roles_doc_path()
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
                self.stdout.write(f"wrote {path}")
            else:
                self.stdout.write(text, ending="")
        if not options["sync"] and not options["doc"]:
            for role, spec in ROLES.items():
                self.stdout.write(
                    f"{role:<18} {spec['name']!s:<6} {len(permissions_for(role)):>3} permissions"
                )
