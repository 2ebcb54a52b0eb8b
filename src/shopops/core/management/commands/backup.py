"""`shopops backup [FILE] [--encrypt]`: one archive of database, media, private files and analytics."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from shopops.core.backup import archive, crypto


class Command(BaseCommand):
    help = "备份：数据库、媒体文件、私有文件与分析数据打包为一个带清单的归档（默认写到 var/backups/）"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "file", nargs="?", help="the archive to write (default: BACKUP_DIR/shopops-<UTC time>.tar)"
        )
        parser.add_argument(
            "--encrypt", action="store_true", help=f"encrypt with the passphrase in {crypto.KEY_ENVIRONMENT}"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        passphrase = ""
        if options["encrypt"]:
            passphrase = crypto.passphrase_from_environment()
            if not passphrase:
                raise CommandError(f"--encrypt 需要环境变量 {crypto.KEY_ENVIRONMENT}（加密口令）")
        backup = archive.create_backup(
            Path(options["file"]) if options["file"] else None, passphrase=passphrase
        )
        shown = archive.summarise(backup.manifest)
        self.stdout.write(
            self.style.SUCCESS(
                f"backup written: {backup.path} ({shown['vendor']}, {shown['tables']} tables, "
                f"{shown['rows']} rows, {shown['files']} files, {backup.path.stat().st_size} bytes"
                f"{', encrypted' if passphrase else ''})"
            )
        )
