"""`shopops stock verify`: prove every stock level equals its ledger sum; `shopops stock expire`: the job."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from shopops.core.context import origin
from shopops.inventory import queries as inventory_queries
from shopops.inventory import services as inventory_services


class Command(BaseCommand):
    help = "库存：verify 核对库存与流水（不一致时退出码 1）；expire 释放过期预占"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        subcommands = parser.add_subparsers(dest="action", required=True)
        subcommands.add_parser(
            "verify", help="every level against the sum of its ledger and active reservations"
        )
        subcommands.add_parser("expire", help="release reservations whose expiry has passed")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "expire":
            with origin("cli"):
                expired = inventory_services.expire_reservations()
            self.stdout.write(f"expired {expired} reservation(s)")
            return
        drifts = inventory_queries.verify_stock()
        if not drifts:
            self.stdout.write(self.style.SUCCESS("stock verified: every level equals its ledger sum"))
            return
        self.stdout.write(
            "sku_id\twarehouse_id\ton_hand\tledger_on_hand\treserved\tledger_reserved\treserved_by_reservations"
        )
        for drift in drifts:
            self.stdout.write(
                f"{drift.sku_id}\t{drift.warehouse_id}\t{drift.on_hand}\t{drift.ledger_on_hand}\t"
                f"{drift.reserved}\t{drift.ledger_reserved}\t{drift.reserved_by_reservations}"
            )
        raise CommandError(f"stock drift: {len(drifts)} level(s) differ from their ledger", returncode=1)
