"""`shopops points verify`: prove every points balance equals its ledger sum; `sync` and `expire`: the jobs."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from shopops.core.context import origin
from shopops.loyalty import queries as loyalty_queries
from shopops.loyalty import services as loyalty_services


class Command(BaseCommand):
    help = "积分：verify 核对积分余额与流水（不一致时退出码 1）；sync 发放与扣回订单积分；expire 到期清零"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        subcommands = parser.add_subparsers(dest="action", required=True)
        subcommands.add_parser("verify", help="every balance against the sum of its points ledger")
        sync = subcommands.add_parser("sync", help="earn points for orders and reverse points of refunds")
        sync.add_argument("--full", action="store_true", help="scan every order, not only those changed")
        subcommands.add_parser("expire", help="expire points whose date has passed")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "sync":
            with origin("cli"):
                result = loyalty_services.sync_orders(actor="cli", full=options["full"])
            self.stdout.write(
                f"earned points for {result['earned_orders']} order(s), reversed {result['reversed_points']} point(s)"
            )
            return
        if options["action"] == "expire":
            with origin("cli"):
                expired = loyalty_services.expire_points(actor="cli")
            self.stdout.write(f"expired {expired} point(s)")
            return
        drifts = loyalty_queries.verify_points()
        if not drifts:
            self.stdout.write(self.style.SUCCESS("points verified: every balance equals its ledger sum"))
            return
        self.stdout.write("account_id\tcustomer_id\tbalance\tledger_sum\tlast_balance_after")
        for drift in drifts:
            self.stdout.write(
                f"{drift.account_id}\t{drift.customer_id}\t{drift.balance}\t{drift.ledger_sum}\t{drift.last_balance_after}"
            )
        raise CommandError(f"points drift: {len(drifts)} account(s) differ from their ledger", returncode=1)
