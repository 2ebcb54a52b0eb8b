"""Personal fields encrypted at rest: the field keys, the stored token format and the encrypted model field.

A stored value is `fe1:<key id>:<Fernet token>` (AES-128-CBC + HMAC-SHA256, random IV). The key id is the
first 8 hex digits of SHA-256 of the key, so `shopops keys status` counts rows per key and `shopops keys rotate`
finds the rows not yet on the current key with plain SQL (`NOT LIKE 'fe1:<current>:%'`), without trying
every key on every value, and a value whose key was removed fails with an error naming that key instead of
a generic "invalid token". The empty string is stored as '' so that `field=""` keeps working (it only tells
that the field is empty).

Keys come from `settings.FIELD_KEYS` or the environment `SHOPOPS_FIELD_KEYS` (comma-separated Fernet keys,
the first encrypts, all decrypt); the embedded default generates `var/field_keys` once (like SECRET_KEY).
One `Fernet` object per key is built once per process: no key derivation per value.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import connections, models, router, transaction
from django.db.models.lookups import Exact, IsNull
from django.utils.module_loading import import_string

PREFIX = "fe1:"
KEY_ID_LENGTH = 8
TOKEN = re.compile(rf"^{PREFIX}([0-9a-f]{{{KEY_ID_LENGTH}}}):(.+)$", re.DOTALL)
KEY_FILE_NAME = "field_keys"
ENVIRONMENT_VARIABLE = "SHOPOPS_FIELD_KEYS"


class FieldKeyError(ImproperlyConfigured):
    """The field keys are missing or malformed."""


class FieldDecryptionError(Exception):
    """A stored personal value cannot be decrypted: its key is not configured, or it was altered."""


def key_id(key: str | bytes) -> str:
    """The short public id of a Fernet key (first 8 hex digits of its SHA-256), written into every token."""
    raw = key.encode() if isinstance(key, str) else key
    return hashlib.sha256(raw.strip()).hexdigest()[:KEY_ID_LENGTH]


def generate_key() -> str:
    """A new random Fernet key (url-safe base64 of 32 bytes)."""
    return Fernet.generate_key().decode()


def _key_file() -> Path:
    return Path(settings.VAR_DIR) / KEY_FILE_NAME


def _configured_keys() -> list[str]:
    configured = getattr(settings, "FIELD_KEYS", None) or os.environ.get(ENVIRONMENT_VARIABLE, "")
    if isinstance(configured, str):
        configured = configured.split(",")
    keys = [key.strip() for key in configured if key and key.strip()]
    if keys:
        return keys
    # the embedded mode keeps one generated key beside the database; production sets SHOPOPS_FIELD_KEYS
    path = _key_file()
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(generate_key() + "\n")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


class Keyring:
    """The field keys in order: the first encrypts, every one decrypts the values written with it."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise FieldKeyError(f"没有配置字段加密密钥（{ENVIRONMENT_VARIABLE}）")
        self.fernets: dict[str, Fernet] = {}
        for position, key in enumerate(keys, start=1):
            try:
                if len(base64.urlsafe_b64decode(key.encode())) != 32:  # noqa: PLR2004 - Fernet's key size
                    raise ValueError
                fernet = Fernet(key.encode())
            except ValueError as error:
                raise FieldKeyError(
                    f"{ENVIRONMENT_VARIABLE} 第 {position} 个密钥无效：应为 Fernet 密钥"
                    "（32 字节的 url-safe base64，用 `shopops keys generate` 生成）"
                ) from error
            self.fernets.setdefault(key_id(key), fernet)
        self.current_id = next(iter(self.fernets))
        self.current = self.fernets[self.current_id]

    @property
    def key_ids(self) -> list[str]:
        return list(self.fernets)

    def encrypt(self, text: str) -> str:
        token = self.current.encrypt(text.encode()).decode()
        return f"{PREFIX}{self.current_id}:{token}"

    def decrypt(self, stored: str) -> str:
        match = TOKEN.match(stored)
        if match is None:
            raise FieldDecryptionError("字段值不是加密格式（未加密的旧数据？请运行 `shopops keys rotate`）")
        kid, token = match.groups()
        fernet = self.fernets.get(kid)
        if fernet is None:
            raise FieldDecryptionError(
                f"字段值用密钥 {kid} 加密，但 {ENVIRONMENT_VARIABLE} 中没有这个密钥"
                f"（已配置：{', '.join(self.fernets)}）：请把该密钥加回去"
            )
        try:
            return fernet.decrypt(token.encode()).decode()
        except InvalidToken as error:
            raise FieldDecryptionError(
                f"字段值无法用密钥 {kid} 解密：密文被改动，或同一 id 的密钥不是原来的密钥"
            ) from error


@cache
def keyring() -> Keyring:
    """The process's keyring, built once from the configured keys."""
    return Keyring(_configured_keys())


def _reset_keyring(*, setting: str, **kwargs: Any) -> None:
    if setting in {"FIELD_KEYS", "VAR_DIR"}:
        keyring.cache_clear()


setting_changed.connect(_reset_keyring)


def is_encrypted(stored: str | None) -> bool:
    return bool(stored) and TOKEN.match(stored or "") is not None


def encrypt(text: str | None) -> str | None:
    """The stored form of a value: a token, or the value itself when None or ''."""
    if not text:
        return text
    return keyring().encrypt(text)


def decrypt(stored: str | None) -> str | None:
    """The value of a stored form. Text written before encryption (no `fe1:` prefix) is returned as it is,
    so that a database being migrated stays readable; `shopops keys status` counts such rows."""
    if not stored or not stored.startswith(PREFIX):
        return stored
    return keyring().decrypt(stored)


class EncryptedExact(Exact):
    """`field=""` only: a Fernet token is random, so equality with any other value can never match."""

    def get_db_prep_lookup(self, value: Any, connection: Any) -> Any:
        if value not in ("", None):
            raise FieldDecryptionError(
                f"加密字段 {self.lhs.target.name} 不能按值查找：请用对应的摘要字段（如 phone_hash）"
            )
        return super().get_db_prep_lookup(value, connection)


class EncryptedCharField(models.CharField):
    """A CharField whose value is encrypted in the database (a `text` column holding `fe1:` tokens).

    `max_length` limits the clear text (forms, validation); the column has no length limit since a token
    is about 1.4 times the UTF-8 size plus 80 characters. Only `isnull` and `= ''` can be queried: searching,
    ordering or grouping by the value must go through a keyed hash (phone_hash, receiver_hash …)."""

    description = "Text encrypted at rest (Fernet)"

    def __init__(
        self, *args: Any, derived: dict[str, Callable[[str], str] | str] | None = None, **kwargs: Any
    ) -> None:
        # derived: searchable companions kept in step on save() and bulk_create(), e.g. the keyed hash or
        # the last four digits of a phone ({"phone_last4": "shopops.customers.services.phone_last4"}; a
        # dotted path is imported on first use, so a model can name a function of its own app's services).
        # Not part of the column, so not in migrations; QuerySet.update() and bulk_update() do not run it.
        self.derived = derived or {}
        super().__init__(*args, **kwargs)

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        value = super().pre_save(model_instance, add)
        for name, derive in self.derived.items():
            function = import_string(derive) if isinstance(derive, str) else derive
            setattr(model_instance, name, function(value or ""))
        return value

    def get_internal_type(self) -> str:
        return "TextField"

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return decrypt(value)

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        # every write path ends here (save, update(), bulk_create, bulk_update's CASE … WHEN)
        return encrypt(super().get_db_prep_value(value, connection, prepared))

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name == "exact":
            return EncryptedExact
        if lookup_name == "isnull":
            return IsNull
        return None

    def get_transform(self, lookup_name: str) -> Any:
        return None


def encrypted_fields() -> list[tuple[type[models.Model], models.Field[Any, Any]]]:
    """Every (model, field) of the installed apps stored encrypted, in a stable order."""
    found = [
        (model, field)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, EncryptedCharField)
    ]
    return sorted(found, key=lambda item: (item[0]._meta.label, item[1].name))


BATCH_SIZE = 1000


@dataclass(frozen=True)
class ColumnStatus:
    """How the stored values of one encrypted column are keyed: rows per key id, clear text, empty."""

    label: str
    by_key: dict[str, int]
    plain: int
    empty: int


def _quoted(
    connection: Any, model: type[models.Model], field: models.Field[Any, Any]
) -> tuple[str, str, str]:
    quote = connection.ops.quote_name
    return quote(model._meta.db_table), quote(field.column), quote(model._meta.pk.column)


def column_status(model: type[models.Model], field: models.Field[Any, Any]) -> ColumnStatus:
    """Counts of one column's rows by key id (one GROUP BY, nothing decrypted)."""
    connection = connections[router.db_for_read(model)]
    table, column, _pk = _quoted(connection, model, field)
    sql = (
        f"SELECT CASE WHEN {column} IS NULL OR {column} = '' THEN '' "
        f"WHEN {column} LIKE %s THEN SUBSTR({column}, {len(PREFIX) + 1}, {KEY_ID_LENGTH}) "
        f"ELSE '-' END AS kid, COUNT(*) FROM {table} GROUP BY 1"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [f"{PREFIX}%"])
        counts = dict(cursor.fetchall())
    return ColumnStatus(
        label=f"{model._meta.db_table}.{field.column}",
        by_key={kid: count for kid, count in counts.items() if kid not in {"", "-"}},
        plain=counts.get("-", 0),
        empty=counts.get("", 0),
    )


def _rewrite_column(
    model: type[models.Model],
    field: models.Field[Any, Any],
    *,
    select: str,
    params: list[Any],
    convert: Any,
    batch_size: int,
    connection: Any,
) -> int:
    """Rewrite the rows `select` picks, `batch_size` at a time in pk order, each batch in its own
    transaction; a row changed meanwhile by someone else is left alone (the UPDATE compares the old value)."""
    table, column, pk = _quoted(connection, model, field)
    last_pk: Any = None
    changed = 0
    while True:
        after = f" AND {pk} > %s" if last_pk is not None else ""
        sql = (
            f"SELECT {pk}, {column} FROM {table} WHERE {column} IS NOT NULL AND {column} <> '' "
            f"AND {select}{after} ORDER BY {pk} LIMIT {int(batch_size)}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, *([last_pk] if last_pk is not None else [])])
            rows = cursor.fetchall()
        if not rows:
            return changed
        try:
            updates = [(convert(value), value, row_pk) for row_pk, value in rows]
        except FieldDecryptionError as error:
            raise FieldDecryptionError(f"{model._meta.db_table}.{field.column}: {error}") from error
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.executemany(f"UPDATE {table} SET {column} = %s WHERE {column} = %s AND {pk} = %s", updates)
        changed += len(updates)
        last_pk = rows[-1][0]


def encrypt_column(
    model: type[models.Model], field: models.Field[Any, Any], *, batch_size: int = BATCH_SIZE, using: str = ""
) -> int:
    """Re-encrypt with the current key every value of one column not on it yet (clear text or an older key).

    Resumable: run it again after an interruption and it continues with the rows still to do."""
    connection = connections[using or router.db_for_write(model)]
    current = keyring().current_id
    _table, column, _pk = _quoted(connection, model, field)

    def convert(value: str) -> str:
        clear = decrypt(value) or ""
        return keyring().encrypt(clear)

    return _rewrite_column(
        model,
        field,
        select=f"{column} NOT LIKE %s",
        params=[f"{PREFIX}{current}:%"],
        convert=convert,
        batch_size=batch_size,
        connection=connection,
    )


def decrypt_column(
    model: type[models.Model], field: models.Field[Any, Any], *, batch_size: int = BATCH_SIZE, using: str = ""
) -> int:
    """Write every encrypted value of one column back as clear text (the reverse of the migration)."""
    connection = connections[using or router.db_for_write(model)]
    _table, column, _pk = _quoted(connection, model, field)
    return _rewrite_column(
        model,
        field,
        select=f"{column} LIKE %s",
        params=[f"{PREFIX}%"],
        convert=lambda value: keyring().decrypt(value),
        batch_size=batch_size,
        connection=connection,
    )


def migration_operations(app_label: str, fields: dict[str, list[str]]) -> Any:
    """The RunPython functions a migration uses to encrypt `fields` ({model name: [field names]}) of an app
    in place, and to decrypt them when the migration is reversed."""

    def targets(migration_apps: Any) -> list[tuple[type[models.Model], models.Field[Any, Any]]]:
        found = []
        for model_name, names in fields.items():
            model = migration_apps.get_model(app_label, model_name)
            found += [(model, model._meta.get_field(name)) for name in names]
        return found

    def forwards(migration_apps: Any, schema_editor: Any) -> None:
        for model, field in targets(migration_apps):
            encrypt_column(model, field, using=schema_editor.connection.alias)

    def backwards(migration_apps: Any, schema_editor: Any) -> None:
        for model, field in targets(migration_apps):
            decrypt_column(model, field, using=schema_editor.connection.alias)

    return forwards, backwards
