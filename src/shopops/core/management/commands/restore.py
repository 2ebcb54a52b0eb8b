"""`shopops restore FILE [--yes] [--migrate]`: verify the archive whole, then replace database and files."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from shopops.core.backup import archive, crypto
from shopops.core.backup import restore as backup_restore
from shopops.core.backup.archive import BackupRefused
from shopops.core.context import origin


class Command(BaseCommand):
    help = "恢复：校验备份完整后替换数据库与文件；恢复后的副本暂停对外发送与平台写入"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("file", help="the archive written by `shopops backup`")
        parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        parser.add_argument(
            "--migrate",
            action="store_true",
            help="allow an archive of an older schema and migrate it forward",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            with backup_restore.prepare(
                Path(options["file"]),
                passphrase=crypto.passphrase_from_environment(),
                migrate=options["migrate"],
            ) as prepared:
                shown = archive.summarise(prepared.manifest)
                self.stdout.write(
                    f"archive verified: created {shown['created_at']}, {shown['vendor']}, {shown['tables']} tables, "
                    f"{shown['rows']} rows, {shown['files']} files"
                )
                if not options["yes"]:
                    answer = input("这会替换当前数据库和文件。输入 yes 继续：")
                    if answer.strip().lower() != "yes":
                        raise CommandError("已取消：什么都没有改动")
                with origin("cli"):
                    problems = backup_restore.apply(prepared)
        except BackupRefused as error:
            raise CommandError(str(error)) from error
        if problems:
            for problem in problems:
                self.stderr.write(problem)
            raise CommandError(f"恢复后有 {len(problems)} 张表与清单不符", returncode=1)
        self.stdout.write(
            self.style.SUCCESS(
                "restored; every table matches the manifest"
                + ("; migrated forward" if prepared.migrate else "")
                + ". Outbound messages and platform writes are PAUSED until an admin turns them back on"
                " (系统 → 备份与恢复)."
            )
        )
