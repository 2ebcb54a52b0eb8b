"""Recording audit entries: snapshots of a record before and after, diffed field by field."""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models.fields.files import FieldFile

from shopops.core.context import current_origin
from shopops.core.crypto import EncryptedCharField
from shopops.core.models import AuditEntry
from shopops.core.pii import mask, pii_fields

Snapshot = dict[str, Any]


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, FieldFile):
        return value.name or ""
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return value


def snapshot(instance: models.Model | None) -> Snapshot:
    """The concrete, auditable field values of a record (foreign keys by id), as the model's
    `audit_values(data)` lets the audit keep them when it defines one."""
    if instance is None:
        return {}
    exclude = set(getattr(type(instance), "AUDIT_EXCLUDE", ()))
    data: Snapshot = {}
    for field in instance._meta.concrete_fields:
        if field.name in exclude:
            continue
        data[field.attname] = _plain(getattr(instance, field.attname))
    # a model may mask what no auditor should read in clear (e.g. personal values inside a JSON field)
    audit_values = getattr(instance, "audit_values", None)
    return audit_values(data) if callable(audit_values) else data


def diff(before: Snapshot, after: Snapshot) -> dict[str, list[Any]]:
    keys = list(dict.fromkeys([*before.keys(), *after.keys()]))
    return {key: [before.get(key), after.get(key)] for key in keys if before.get(key) != after.get(key)}


@functools.cache
def shop_path(model: type[models.Model]) -> str | None:
    """How a record of `model` names its shop: its own `SCOPE_SHOP_FIELD`, or that of the record its first
    foreign key to a shop-scoped model points at (order lines, issues, parcel lines, case events …)."""
    own = getattr(model, "SCOPE_SHOP_FIELD", None)
    if own is not None:
        return str(own)
    for field in model._meta.concrete_fields:
        target = field.related_model if field.many_to_one else None
        parent = getattr(target, "SCOPE_SHOP_FIELD", None) if isinstance(target, type) else None
        if parent is not None:
            return field.name if parent == "pk" else f"{field.name}__{parent}"
    return None


def shop_of(instance: models.Model | None) -> int | None:
    """The id of the shop `instance` belongs to, or None for records of no particular shop."""
    path = shop_path(type(instance)) if instance is not None else None
    if path is None:
        return None
    *relations, last = path.split("__")
    record: Any = instance
    for name in relations:
        record = getattr(record, name, None)
        if record is None:
            return None
    if last == "pk":
        return int(record.pk) if record.pk is not None else None
    value = getattr(record, record._meta.get_field(last).attname)
    return int(value) if value is not None else None


CHANGED_MARK = "（已修改）"


@functools.cache
def encrypted_personal_fields(model: Any) -> dict[str, Any]:
    """The model's personal fields (`PII_FIELDS`) that are encrypted at rest, by attribute name."""
    encrypted = {
        field.attname for field in model._meta.concrete_fields if isinstance(field, EncryptedCharField)
    }
    return {name: kind for name, kind in pii_fields(model).items() if name in encrypted}


def without_personal_values(model: Any, changes: dict[str, Any]) -> dict[str, Any]:
    """`changes` with the model's encrypted personal fields masked (a buyer's name, phone, address): the
    audit log is append-only and kept for years, so a clear copy there would undo the encryption at rest and
    could not be reached by an erasure. Other personal fields (a shop's or supplier's contact) are kept and
    masked when shown, as before. A change the mask hides (张三 → 张四) keeps its entry, marked as changed."""
    kinds = encrypted_personal_fields(model) if model is not None else {}
    if not kinds:
        return changes
    masked: dict[str, Any] = {}
    for key, value in changes.items():
        kind = kinds.get(key)
        if kind is None:
            masked[key] = value
        elif isinstance(value, list | tuple) and len(value) == 2:
            before, after = (mask(kind, item) if isinstance(item, str) else item for item in value)
            if before == after and value[0] != value[1]:
                after = f"{after}{CHANGED_MARK}"
            masked[key] = [before, after]
        else:
            masked[key] = mask(kind, value) if isinstance(value, str) else value
    return masked


def user_or_none(actor: Any) -> Any:
    """The acting user, or None for system/CLI actors (a name such as "cli:root" or None)."""
    return actor if getattr(actor, "is_authenticated", False) else None


def entry(
    *,
    actor: Any,
    action: str,
    instance: models.Model | None = None,
    changes: dict[str, Any],
    reason: str = "",
    object_repr: str | None = None,
    content_type: ContentType | None = None,
    shop_id: int | None = None,
) -> AuditEntry:
    """The audit entry for one change, unsaved (bulk writers insert many at once).

    The entry carries the shop of the record it describes (`shop_of`, or `shop_id` when given), so a
    shop-scoped reader sees only the entries of their shops."""
    origin = current_origin()
    user = user_or_none(actor)
    if content_type is None and instance is not None:
        content_type = ContentType.objects.get_for_model(type(instance))
    return AuditEntry(
        actor=user,
        actor_name=(user.get_username() if user else str(actor or "system"))[:150],
        action=action,
        content_type=content_type,
        object_id=str(instance.pk) if instance is not None and instance.pk is not None else "",
        object_repr=(
            object_repr if object_repr is not None else str(instance) if instance is not None else ""
        )[:200],
        changes=_plain(
            without_personal_values(
                type(instance)
                if instance is not None
                else content_type.model_class()
                if content_type
                else None,
                changes,
            )
        ),
        reason=reason[:500],
        source=origin.source,
        ip=origin.ip,
        request_id=origin.request_id or "",
        shop_id=shop_id if shop_id is not None else shop_of(instance),
    )


def record(
    *,
    actor: Any,
    action: str,
    instance: models.Model | None = None,
    before: Snapshot | None = None,
    after: Snapshot | None = None,
    changes: dict[str, Any] | None = None,
    reason: str = "",
    object_repr: str | None = None,
    shop_id: int | None = None,
) -> AuditEntry:
    """Append one audit entry. `action` is dotted past tense, e.g. `product.updated`."""
    if changes is None:
        changes = diff(before or {}, after if after is not None else snapshot(instance))
    audit_entry = entry(
        actor=actor,
        action=action,
        instance=instance,
        changes=changes,
        reason=reason,
        object_repr=object_repr,
        shop_id=shop_id,
    )
    audit_entry.save()
    return audit_entry


def history(instance: models.Model, user: Any = None) -> models.QuerySet[AuditEntry]:
    """The entries about one record, limited to the reader's shops when `user` is given."""
    entries = AuditEntry.objects.for_object(instance)
    if user is not None:
        entries = entries.for_user(user)
    return entries.select_related("actor")


def entries_for(user: Any) -> models.QuerySet[AuditEntry]:
    """The audit entries this user may read (entries about records of other shops left out)."""
    return AuditEntry.objects.for_user(user)
