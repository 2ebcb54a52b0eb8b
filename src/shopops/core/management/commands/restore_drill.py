"""`shopops restore-drill [FILE]`: restore a backup (default the latest) into a scratch copy and verify it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from shopops.core.backup import crypto, drill
from shopops.core.context import origin


class Command(BaseCommand):
    help = "恢复演练：把备份恢复到临时库，核对行数、校验和与各账本（库存、积分），记录结果"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "file", nargs="?", help="the archive to drill (default: the latest in BACKUP_DIR)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        with origin("cli"):
            result = drill.run_drill(
                Path(options["file"]) if options["file"] else None,
                passphrase=crypto.passphrase_from_environment(),
            )
        self.stdout.write(f"archive: {result.archive or '-'}")
        self.stdout.write(f"tables checked: {result.tables_checked}, rows checked: {result.rows_checked}")
        if result.problems:
            for problem in result.problems:
                self.stdout.write(f"PROBLEM: {problem}")
            raise CommandError(f"restore drill FAILED: {len(result.problems)} problem(s)", returncode=1)
        self.stdout.write(self.style.SUCCESS("restore drill passed: counts, checksums and ledgers verified"))
