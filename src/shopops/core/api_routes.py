"""Core API: audit search, revealing one record's personal data, alerts and the user's notifications."""

from typing import Any, Literal

from django.apps import apps
from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from ninja.pagination import paginate

from shopops.core import audit, notifications, services
from shopops.core.api import (
    ERROR_RESPONSES,
    DateTimeIn,
    DateTimeOut,
    ObjectId,
    Pagination,
    PlainText,
    acting_user,
    apply_ordering,
    authenticated,
    ordering_description,
    requires,
)
from shopops.core.errors import InvalidInput
from shopops.core.models import Alert, AlertSeverity, AlertStatus, AuditEntry, Notification
from shopops.core.permissions import check_permission
from shopops.core.pii import REVEAL_PII_PERMISSION, can_view_pii, mask, pii_fields
from shopops.core.scope import get_in_scope

router = Router(tags=["core"])

AUDIT_ORDERING = {"created_at", "id", "action"}
AUDIT_DEFAULT_ORDERING = "-created_at,-id"

# What may be revealed, and the permission needed to see the record at all.
REVEALABLE: dict[str, str] = {"channels.shop": "channels.view_shop", "accounts.user": "accounts.view_user"}


class AuditEntryOut(Schema):
    id: int
    created_at: DateTimeOut
    actor_id: int | None
    actor_name: str
    action: str
    object_type: str | None = Field(description="app_label.model, e.g. catalog.sku")
    object_id: str
    object_repr: str
    changes: dict[str, Any] = Field(
        description="{field: [before, after]}; personal data masked without core.view_pii"
    )
    reason: str
    source: str
    ip: str | None
    request_id: str

    @staticmethod
    def resolve_object_type(obj: AuditEntry) -> str | None:
        if obj.content_type is None:
            return None
        return f"{obj.content_type.app_label}.{obj.content_type.model}"

    @staticmethod
    def resolve_changes(obj: AuditEntry, context: dict[str, Any]) -> dict[str, Any]:
        return masked_changes(context["request"].auth, obj)


def masked_changes(user: Any, entry: AuditEntry) -> dict[str, Any]:
    """The entry's changes with the personal-data fields of its model masked for this user."""
    changes = entry.changes if isinstance(entry.changes, dict) else {"value": entry.changes}
    model = entry.content_type.model_class() if entry.content_type is not None else None
    kinds = pii_fields(model) if model is not None else {}
    if not kinds or can_view_pii(user):
        return changes
    masked: dict[str, Any] = {}
    for key, value in changes.items():
        if key not in kinds:
            masked[key] = value
        elif isinstance(value, list):
            masked[key] = [mask(kinds[key], item) for item in value]
        else:
            masked[key] = mask(kinds[key], value)
    return masked


class AuditFilters(Schema):
    action: PlainText | None = Field(None, max_length=80, description="Exact action, e.g. shop.updated")
    object_type: PlainText | None = Field(
        None, max_length=100, description="app_label.model, e.g. channels.shop"
    )
    object_id: PlainText | None = Field(None, max_length=64)
    actor: PlainText | None = Field(None, max_length=150, description="Username of the actor")
    created_after: DateTimeIn | None = Field(None, description="Inclusive")
    created_before: DateTimeIn | None = Field(None, description="Exclusive")
    ordering: PlainText | None = Field(
        None, max_length=200, description=ordering_description(AUDIT_ORDERING, AUDIT_DEFAULT_ORDERING)
    )


def _filter_object_type(entries: QuerySet[AuditEntry], object_type: str) -> QuerySet[AuditEntry]:
    app_label, dot, model = object_type.partition(".")
    if not dot or not app_label or not model:
        raise InvalidInput(
            "object_type 应为 app_label.model，例如 channels.shop", fields={"object_type": "格式无效"}
        )
    return entries.filter(content_type__app_label=app_label, content_type__model=model.lower())


@router.get("/audit", response={200: list[AuditEntryOut], **ERROR_RESPONSES})
@paginate(Pagination)
@requires("core.view_auditentry")
def list_audit_entries(request: HttpRequest, filters: Query[AuditFilters]) -> QuerySet[AuditEntry]:
    """Search the audit history, newest first; entries about other shops' records are left out."""
    entries: QuerySet[AuditEntry] = audit.entries_for(acting_user(request)).select_related("content_type")
    if filters.action:
        entries = entries.filter(action=filters.action)
    if filters.object_type:
        entries = _filter_object_type(entries, filters.object_type)
    if filters.object_id:
        entries = entries.filter(object_id=filters.object_id)
    if filters.actor:
        entries = entries.filter(actor_name=filters.actor)
    if filters.created_after:
        entries = entries.filter(created_at__gte=filters.created_after)
    if filters.created_before:
        entries = entries.filter(created_at__lt=filters.created_before)
    return apply_ordering(entries, filters.ordering, AUDIT_ORDERING, AUDIT_DEFAULT_ORDERING)


class RevealIn(Schema):
    object_type: Literal["channels.shop", "accounts.user"]
    object_id: ObjectId
    reason: PlainText = Field(
        ..., min_length=1, max_length=500, description="Why you need to see it (audited)"
    )


class RevealOut(Schema):
    object_type: str
    object_id: int
    values: dict[str, str]


@router.post("/pii/reveal", response={200: RevealOut, **ERROR_RESPONSES})
def reveal_personal_data(request: HttpRequest, payload: RevealIn) -> dict[str, Any]:
    """Show one record's personal data unmasked; recorded as pii.revealed with the reason.

    Permission: core.reveal_pii (or core.view_pii), plus channels.view_shop / accounts.view_user for the record
    """
    user = request.auth  # type: ignore[attr-defined]
    if not payload.reason.strip():
        raise InvalidInput("请填写查看原因", fields={"reason": "必填"})
    if not user.has_perm("core.view_pii"):
        check_permission(user, REVEAL_PII_PERMISSION)
    check_permission(user, REVEALABLE[payload.object_type])
    # the model is looked up by name: core sits below the apps that own these records
    model = apps.get_model(payload.object_type)
    instance = get_in_scope(model, user, what="对象", pk=payload.object_id)
    values = services.reveal_personal_data(actor=user, instance=instance, reason=payload.reason.strip())
    return {
        "object_type": payload.object_type,
        "object_id": instance.pk,
        "values": {key: "" if value is None else str(value) for key, value in values.items()},
    }


# alerts and notifications


class AlertOut(Schema):
    id: int
    kind: str
    dedup_key: str
    severity: AlertSeverity
    status: AlertStatus
    title: str
    message: str
    link: str
    object_id: str
    notify_groups: list[str]
    occurrences: int
    first_seen: DateTimeOut
    last_seen: DateTimeOut
    resolved_at: DateTimeOut | None


class AlertFilters(Schema):
    status: AlertStatus | None = None
    kind: PlainText | None = Field(None, max_length=60, description="Exact kind, e.g. inventory.low_stock")


@router.get("/alerts", response={200: list[AlertOut], **ERROR_RESPONSES})
@paginate(Pagination)
@requires("core.view_alert")
def list_alerts(request: HttpRequest, filters: Query[AlertFilters]) -> QuerySet[Alert]:
    """Alerts (预警), most recently seen first; an open alert is raised once and resolves itself."""
    alerts = Alert.objects.order_by("-last_seen", "-id")
    if filters.status:
        alerts = alerts.filter(status=filters.status)
    if filters.kind:
        alerts = alerts.filter(kind=filters.kind)
    return alerts


class NotificationOut(Schema):
    id: int
    alert_id: int | None
    title: str
    body: str
    link: str
    created_at: DateTimeOut
    read_at: DateTimeOut | None


class NotificationFilters(Schema):
    unread: bool | None = Field(None, description="true: only unread; false: only read")


@router.get("/notifications", response={200: list[NotificationOut], **ERROR_RESPONSES})
@paginate(Pagination)
@authenticated
def list_notifications(request: HttpRequest, filters: Query[NotificationFilters]) -> QuerySet[Notification]:
    """The signed-in user's own in-app notifications (站内通知), newest first."""
    own = Notification.objects.filter(user_id=acting_user(request).pk).order_by("-created_at", "-id")
    if filters.unread is not None:
        own = own.filter(read_at__isnull=filters.unread)
    return own


class MarkReadIn(Schema):
    notification_ids: list[ObjectId] | None = Field(
        None, max_length=1000, description="Only these (all your own); omit to mark every unread one"
    )


class MarkReadOut(Schema):
    marked: int


@router.post("/notifications/read", response={200: MarkReadOut, **ERROR_RESPONSES})
@authenticated
def mark_notifications_read(request: HttpRequest, payload: MarkReadIn) -> dict[str, int]:
    """Mark your unread notifications read (only the given ids, when given); another user's id is 404."""
    marked = notifications.mark_notifications_read(
        user=acting_user(request), notification_ids=payload.notification_ids
    )
    return {"marked": marked}
