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
import operator
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.db import connection, models
from django.utils import timezone

Convert = Callable[[Any], Any]
_MISSING = object()


def _sqlite_datetime(value: dt.datetime) -> str:
    """What Django's SQLite backend stores for an aware datetime: naive UTC text."""
    return str(value.astimezone(dt.UTC).replace(tzinfo=None))


def _remembered(convert: Convert, size: int = 10_000) -> Convert:
    """`convert` with a memory: the times of a file repeat (orders placed the same minute), and the
    conversion goes through the zone's utcoffset every time."""
    memory: dict[Any, Any] = {}

    def converted(value: Any) -> Any:
        found = memory.get(value, _MISSING)
        if found is _MISSING:
            found = convert(value)
            if len(memory) >= size:
                memory.clear()
            memory[value] = found
        return found

    return converted


def _converter(field: models.Field[Any, Any]) -> Convert | None:
    if isinstance(field, models.DateTimeField):
        if connection.vendor == "sqlite" and connection.timezone == dt.UTC:
            # equal aware datetimes (the same instant in any zone) are the same naive UTC text
            return _remembered(_sqlite_datetime)
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
        # Per row: the defaults overlaid with the row (a dict merge) read in column order (itemgetter),
        # both in C; then the few converted columns the row gave.
        base = dict(zip(self.attnames, defaults, strict=True))
        getter = operator.itemgetter(*self.attnames)
        pick: Callable[[dict[str, Any]], tuple[Any, ...]] = (
            getter if len(self.attnames) > 1 else lambda merged: (getter(merged),)
        )
        converting = [
            (index, name, convert)
            for index, (name, convert) in enumerate(zip(self.attnames, self.converters, strict=True))
            if convert is not None
        ]
        converted: list[tuple[Any, ...]] = []
        for row in rows:
            values = pick({**base, **row})
            if converting:
                changed = None
                for index, name, convert in converting:
                    value = row.get(name)
                    if value is not None:
                        if changed is None:
                            changed = list(values)
                        changed[index] = convert(value)
                if changed is not None:
                    values = tuple(changed)
            converted.append(values)
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


def fetch_in(
    select: str, column: str, values: Sequence[Any], params: Sequence[Any] = (), *, batch: int = 2000
) -> list[tuple[Any, ...]]:
    """Rows of `select` (raw SQL ending where a condition may follow: `… WHERE shop_id = %s AND`) for
    `column` in `values`. Django compiles every value of an `__in` list through the field (a chunk's
    2,000 ids cost more than the query); here they go to the driver as they are: one array on
    PostgreSQL (`= ANY(%s)`), batches of `batch` placeholders elsewhere."""
    rows: list[tuple[Any, ...]] = []
    if not values:
        return rows
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"{select} {column} = ANY(%s)", [*params, list(values)])
            return list(cursor.fetchall())
        for start in range(0, len(values), batch):
            part = list(values[start : start + batch])
            marks = ", ".join(["%s"] * len(part))
            cursor.execute(f"{select} {column} IN ({marks})", [*params, *part])
            rows.extend(cursor.fetchall())
    return rows
