"""Inserting many rows of one model fast: one executemany (SQLite) or COPY (PostgreSQL), no model instances.

Why not `bulk_create`: SQLite allows 999 parameters per statement, so Django sends an order (52
columns) 19 rows at a time and compiles every value through the field machinery — two thirds of an
import's time went there. Here values are converted once per column kind (datetimes as the backend
stores them, JSON through the field) and handed to the driver in one call per chunk. Defaults are the
fields' own (`Field.get_default`), `auto_now`/`auto_now_add` get the time of the insert.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable
from typing import Any

from django.db import connection, models
from django.utils import timezone

Convert = Callable[[Any], Any]
_MISSING = object()


def _sqlite_datetime(value: dt.datetime) -> str:
    """What Django's SQLite backend stores for an aware datetime: naive UTC text."""
    return str(value.astimezone(dt.UTC).replace(tzinfo=None))


def _converter(field: models.Field[Any, Any]) -> Convert | None:
    if isinstance(field, models.DateTimeField):
        if connection.vendor == "sqlite" and connection.timezone == dt.UTC:
            return _sqlite_datetime
        return connection.ops.adapt_datetimefield_value
    if isinstance(field, models.JSONField):
        if connection.vendor == "sqlite":
            # what the SQLite backend stores (`adapt_json_value`), without the field machinery per value
            encoder = field.encoder
            return lambda value: json.dumps(value, cls=encoder)
        return lambda value: field.get_db_prep_save(value, connection)
    return None


class Inserter:
    """INSERT rows (dicts of attname → Python value) into `model`'s table; missing keys take defaults."""

    def __init__(self, model: type[models.Model]) -> None:
        fields = [field for field in model._meta.concrete_fields if not field.primary_key]
        self.table = model._meta.db_table
        self.attnames = [field.attname for field in fields]
        self.columns = [field.column for field in fields]
        self.converters = [_converter(field) for field in fields]
        self.defaults: list[Any] = [field.get_default() for field in fields]
        self.timestamps = [
            index
            for index, field in enumerate(fields)
            if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
        ]

    def _tuples(self, rows: Iterable[dict[str, Any]]) -> list[tuple[Any, ...]]:
        now = timezone.now()
        defaults = list(self.defaults)
        for index in self.timestamps:
            defaults[index] = now
        # Defaults (e.g. the insert time of every row) are converted once, not once per row.
        for index, convert in enumerate(self.converters):
            if convert is not None and defaults[index] is not None:
                defaults[index] = convert(defaults[index])
        plain = [
            (index, name, default)
            for index, (name, default, convert) in enumerate(
                zip(self.attnames, defaults, self.converters, strict=True)
            )
            if convert is None
        ]
        converting = [
            (index, name, default, convert)
            for index, (name, default, convert) in enumerate(
                zip(self.attnames, defaults, self.converters, strict=True)
            )
            if convert is not None
        ]
        width = len(self.attnames)
        converted: list[tuple[Any, ...]] = []
        for row in rows:
            values: list[Any] = [None] * width
            for index, name, default in plain:
                values[index] = row.get(name, default)
            for index, name, default, convert in converting:
                value = row.get(name, _MISSING)
                if value is _MISSING:
                    values[index] = default
                elif value is not None:
                    values[index] = convert(value)
            converted.append(tuple(values))
        return converted

    def insert(self, rows: Iterable[dict[str, Any]], *, ignore_conflicts: bool = False) -> int:
        """Insert `rows`; with `ignore_conflicts` a row that breaks a unique constraint is skipped (as
        `bulk_create(ignore_conflicts=True)`): executemany with ON CONFLICT DO NOTHING, since COPY
        cannot skip rows. Returns the number of rows sent."""
        tuples = self._tuples(rows)
        if not tuples:
            return 0
        quote = connection.ops.quote_name
        columns = ", ".join(quote(column) for column in self.columns)
        marks = ", ".join(["%s"] * len(self.columns))
        insert = f"INSERT INTO {quote(self.table)} ({columns}) VALUES ({marks})"
        with connection.cursor() as cursor:
            if ignore_conflicts:
                cursor.executemany(f"{insert} ON CONFLICT DO NOTHING", tuples)
            elif connection.vendor == "postgresql":
                raw = cursor.cursor  # psycopg's own cursor: COPY is not in the DB-API
                with raw.copy(f"COPY {quote(self.table)} ({columns}) FROM STDIN") as copy:
                    for values in tuples:
                        copy.write_row(values)
            else:
                cursor.executemany(insert, tuples)
        return len(tuples)
