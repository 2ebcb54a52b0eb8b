"""Core actions: revealing one record's personal data (itself audited)."""

from __future__ import annotations

from typing import Any

from django.db import models

from shopops.core import audit
from shopops.core.errors import InvalidInput
from shopops.core.permissions import check_permission
from shopops.core.pii import REVEAL_PII_PERMISSION, VIEW_PII_PERMISSION, pii_fields


def reveal_personal_data(*, actor: Any, instance: models.Model, reason: str = "") -> dict[str, Any]:
    """Return the unmasked personal-data fields of one record and audit that they were shown, with why."""
    if not reason.strip():
        raise InvalidInput("请填写查看原因", fields={"reason": "必填"})
    fields = pii_fields(type(instance))
    if not fields:
        raise InvalidInput("该对象没有个人信息字段", code="no_personal_data")
    if not actor.has_perm(VIEW_PII_PERMISSION):
        check_permission(actor, REVEAL_PII_PERMISSION)
    values = {name: getattr(instance, name) for name in fields}
    audit.record(
        actor=actor,
        action="pii.revealed",
        instance=instance,
        changes={"fields": sorted(fields)},
        reason=reason,
    )
    return values
