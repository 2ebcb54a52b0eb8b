"""`shopops retention [--dry-run]`: anonymise customers whose data is past the retention period (the job's work)."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand

from shopops.core.context import origin
from shopops.privacy import services


class Command(BaseCommand):
    help = "个人信息保存期限：匿名化最后一次下单超过期限的客户（--dry-run 只统计人数）"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="count the customers due, change nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        with origin("cli"):
            result = services.apply_retention(actor="cli:retention", dry_run=options["dry_run"])
        days = services.retention_days()
        if options["dry_run"]:
            self.stdout.write(
                f"retention {days} days: {result.due} customer(s) due (dry run, nothing changed)"
            )
            return
        self.stdout.write(
            f"retention {days} days: {result.anonymised} customer(s) anonymised, {result.skipped} skipped "
            f"(open orders or after-sales), {result.rows_changed} row(s) changed"
        )
