"""`shopops keys`: the keys of the encrypted personal fields — generate one, show which rows use which key,
rotate every encrypted column to the current key (docs/security.md)."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from shopops.core import crypto


class Command(BaseCommand):
    help = "字段加密密钥：generate 生成新密钥；status 各密钥加密的行数；rotate 全部改用当前密钥重新加密"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        subcommands = parser.add_subparsers(dest="action", required=True)
        subcommands.add_parser("generate", help="print a new Fernet key to put first in SHOPOPS_FIELD_KEYS")
        subcommands.add_parser("status", help="rows per key id for every encrypted column")
        rotate = subcommands.add_parser(
            "rotate", help="re-encrypt every value not on the current key (batched, resumable)"
        )
        rotate.add_argument("--batch-size", type=int, default=crypto.BATCH_SIZE)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "generate":
            self.stdout.write(crypto.generate_key())
            return
        ring = crypto.keyring()
        if options["action"] == "status":
            self._status(ring)
            return
        total = 0
        for model, field in crypto.encrypted_fields():
            try:
                changed = crypto.encrypt_column(model, field, batch_size=options["batch_size"])
            except crypto.FieldDecryptionError as error:
                raise CommandError(f"rotation stopped (run it again once fixed): {error}") from error
            total += changed
            self.stdout.write(f"{model._meta.db_table}.{field.column}\t{changed} re-encrypted")
        self.stdout.write(
            self.style.SUCCESS(f"rotated: {total} value(s) re-encrypted with key {ring.current_id}")
        )

    def _status(self, ring: crypto.Keyring) -> None:
        ids = ring.key_ids
        self.stdout.write(
            f"current key: {ring.current_id}; older keys still decrypting: {', '.join(ids[1:]) or '-'}"
        )
        self.stdout.write("column\tcurrent\tolder keys\tunknown keys\tclear text\tempty")
        unknown_total = 0
        outdated_total = 0
        for model, field in crypto.encrypted_fields():
            status = crypto.column_status(model, field)
            current = status.by_key.get(ring.current_id, 0)
            older = {kid: count for kid, count in status.by_key.items() if kid in ids[1:]}
            unknown = {kid: count for kid, count in status.by_key.items() if kid not in ids}
            unknown_total += sum(unknown.values())
            outdated_total += sum(older.values()) + status.plain
            self.stdout.write(
                f"{status.label}\t{current}\t{_counts(older)}\t{_counts(unknown)}\t{status.plain}\t{status.empty}"
            )
        if unknown_total:
            raise CommandError(
                f"{unknown_total} value(s) use a key that is not in SHOPOPS_FIELD_KEYS: add it back",
                returncode=1,
            )
        if outdated_total:
            self.stdout.write(f"{outdated_total} value(s) not on the current key: run `shopops keys rotate`")
        else:
            self.stdout.write(self.style.SUCCESS("every encrypted value uses the current key"))


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{kid}={count}" for kid, count in sorted(counts.items())) or "0"
