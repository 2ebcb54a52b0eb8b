"""`shopops integrity [--manifest FILE]`: every app's ledger check, and optionally the tables against a manifest.

The restore drill runs it inside the scratch copy (DATABASE_URL set to it); people may run it on the
live database too. Exit code 1 when a problem is found."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from shopops.core import extensions, switches
from shopops.core.backup import database, digests


class Command(BaseCommand):
    help = "完整性核对：运行各模块的账本核对（库存、积分…），可选按备份清单核对每张表"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--manifest", help="a backup manifest (JSON) whose tables this database must match"
        )
        parser.add_argument(
            "--pause-outbound", action="store_true", help="turn the outbound pause on first (scratch copies)"
        )
        parser.add_argument("--json", action="store_true", help="print one JSON line and always exit 0")

    def handle(self, *args: Any, **options: Any) -> None:
        problems: list[str] = []
        tables = rows = 0
        if options["manifest"]:
            manifest = json.loads(Path(options["manifest"]).read_text(encoding="utf-8"))
            found = database.live_digests()
            problems += digests.compare(manifest["tables"], found)
            tables, rows = len(found), sum(digest.rows for digest in found.values())
        if options["pause_outbound"]:
            switches.set_switch(switches.OUTBOUND_PAUSED, True, reason="restore drill scratch copy")
        for found_problems in extensions.call_all("integrity", "verify"):
            problems += [str(problem) for problem in found_problems]
        if options["json"]:
            self.stdout.write(
                json.dumps({"problems": problems, "tables": tables, "rows": rows}, ensure_ascii=False)
            )
            return
        for problem in problems:
            self.stdout.write(f"PROBLEM: {problem}")
        if problems:
            raise CommandError(f"integrity: {len(problems)} problem(s)", returncode=1)
        self.stdout.write(self.style.SUCCESS("integrity verified"))
