"""`shopops flush`: Django's flush, able to empty the append-only audit table on SQLite."""

from typing import Any

from django.core.management.commands import flush
from django.db import connections, transaction


class Command(flush.Command):
    def handle(self, **options: Any) -> None:
        # A row trigger refuses every DELETE on core_auditentry (core 0010). PostgreSQL flushes with
        # TRUNCATE, which fires no row trigger; SQLite flushes with DELETE, which the trigger lets through
        # while core_auditentry_flushing holds a row: written here and removed in the same transaction,
        # so no other connection ever sees it.
        connection = connections[options["database"]]
        if connection.vendor != "sqlite":
            super().handle(**options)
            return
        with transaction.atomic(using=options["database"]), connection.cursor() as cursor:
            cursor.execute("INSERT INTO core_auditentry_flushing (id) VALUES (1)")
            super().handle(**options)
            cursor.execute("DELETE FROM core_auditentry_flushing")
