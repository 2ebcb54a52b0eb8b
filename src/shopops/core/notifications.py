"""Alerts and notifications: raise (de-duplicated by key), resolve, and deliver in-app and by email.

The rule against alert storms: one `Alert` row per dedup key. Raising a key whose alert is open only
updates it (last_seen, message, severity, occurrences) and tells nobody; raising a key that has no
alert, or whose alert was resolved, opens (or re-opens) it and notifies every active member of its
groups: one in-app `Notification` each, and one email each to those with an address, sent after the
transaction commits (a failed send is logged and never undoes the alert).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.mail import EmailMessage, get_connection
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from shopops.core import audit
from shopops.core.errors import InvalidInput, NotFound
from shopops.core.models import Alert, AlertSeverity, AlertStatus, Notification

logger = logging.getLogger(__name__)

EMAIL_SUBJECT_PREFIX = "[shopops] "

# What each alert kind is called on screen. Kinds are strings owned by the apps that raise them (core
# cannot import them); a kind missing here shows as "其他预警", never as its code (a test checks every
# kind constant the apps raise is listed).
ALERT_KIND_LABELS: dict[str, Any] = {
    "inventory.low_stock": _("低库存"),
    "inventory.overstock": _("超储"),
    "fulfillment.ship_overdue": _("发货超时"),
    "aftersales.overdue": _("售后超时"),
    "core.restore_drill_failed": _("恢复演练未通过"),
}


def alert_kind_label(kind: str) -> str:
    return str(ALERT_KIND_LABELS.get(kind, _("其他预警")))


@dataclass(frozen=True)
class RaisedAlert:
    """The alert and whether this call opened or re-opened it (and so notified people)."""

    alert: Alert
    is_new: bool


def _object_reference(instance: models.Model | None) -> tuple[ContentType | None, str]:
    if instance is None:
        return None, ""
    return ContentType.objects.get_for_model(type(instance)), str(instance.pk)


def _validate(kind: str, key: str, title: str, severity: str) -> None:
    if not kind.strip() or not key.strip() or not title.strip():
        raise InvalidInput("预警类型、去重键和标题不能为空", fields={"key": "必填"})
    if severity not in AlertSeverity.values:
        raise InvalidInput("预警级别无效", fields={"severity": "无效"})


def raise_alert(
    *,
    kind: str,
    key: str,
    title: str,
    message: str = "",
    severity: str = AlertSeverity.WARNING,
    groups: Sequence[str] = (),
    instance: models.Model | None = None,
    link: str = "",
    now: Any = None,
) -> RaisedAlert:
    """Open the alert `key` (notifying its groups) or, when it is already open, just refresh it."""
    _validate(kind, key, title, severity)
    now = now or timezone.now()
    content_type, object_id = _object_reference(instance)
    values = {
        "kind": kind[:60],
        "title": title[:200],
        "message": message,
        "severity": severity,
        "notify_groups": list(dict.fromkeys(groups)),
        "link": link[:300],
        "content_type": content_type,
        "object_id": object_id,
    }
    with transaction.atomic():
        alert = Alert.objects.select_for_update().filter(dedup_key=key).first()
        if alert is None:
            try:
                with transaction.atomic():
                    alert = Alert.objects.create(dedup_key=key, first_seen=now, last_seen=now, **values)
            except IntegrityError:
                # a concurrent call created it first: treat this call as a repeat of an open alert
                alert = Alert.objects.select_for_update().get(dedup_key=key)
            else:
                _notify(alert)
                return RaisedAlert(alert, is_new=True)
        is_reopened = alert.status == AlertStatus.RESOLVED
        for name, value in values.items():
            setattr(alert, name, value)
        alert.last_seen = now
        alert.occurrences += 1
        if is_reopened:
            alert.status = AlertStatus.OPEN
            alert.resolved_at = None
            alert.resolved_by = None
        alert.save()
        if is_reopened:
            _notify(alert)
    return RaisedAlert(alert, is_new=is_reopened)


def resolve_alert(*, key: str, actor: Any = None, note: str = "", now: Any = None) -> Alert | None:
    """Mark the open alert `key` resolved (the condition is gone); None when there is none open.

    Nobody is notified. A person resolving by hand is audited; the periodic jobs resolve silently.
    """
    now = now or timezone.now()
    with transaction.atomic():
        alert = Alert.objects.select_for_update().filter(dedup_key=key, status=AlertStatus.OPEN).first()
        if alert is None:
            return None
        user = actor if getattr(actor, "is_authenticated", False) else None
        alert.status = AlertStatus.RESOLVED
        alert.resolved_at = now
        alert.resolved_by = user
        alert.save(update_fields=["status", "resolved_at", "resolved_by"])
        if user is not None:
            audit.record(
                actor=user,
                action="alert.resolved",
                instance=alert,
                changes={"status": [AlertStatus.OPEN, AlertStatus.RESOLVED]},
                reason=note,
            )
    return alert


def open_alert_keys(*, kinds: Iterable[str]) -> set[str]:
    """Dedup keys of the open alerts of these kinds (for jobs that resolve what they no longer see)."""
    return set(
        Alert.objects.filter(status=AlertStatus.OPEN, kind__in=list(kinds)).values_list(
            "dedup_key", flat=True
        )
    )


def recipients_for(groups: Iterable[str]) -> list[Any]:
    """Every active user in one of the groups (roles) named, each once, by id."""
    names = list(groups)
    if not names:
        return []
    return list(
        get_user_model().objects.filter(is_active=True, groups__name__in=names).distinct().order_by("pk")
    )


def _notify(alert: Alert) -> None:
    users = recipients_for(alert.notify_groups)
    Notification.objects.bulk_create(
        [
            Notification(user=user, alert=alert, title=alert.title, body=alert.message, link=alert.link)
            for user in users
        ]
    )
    addresses = [user.email for user in users if user.email]
    if addresses:
        subject, body = alert.title, alert.message
        transaction.on_commit(
            lambda: send_emails(subject=subject, body=body, addresses=addresses), robust=True
        )


def send_emails(*, subject: str, body: str, addresses: Sequence[str]) -> int:
    """One email per address (recipients never see each other), over one SMTP connection."""
    sender = settings.DEFAULT_FROM_EMAIL
    messages = [
        EmailMessage(subject=f"{EMAIL_SUBJECT_PREFIX}{subject}", body=body, from_email=sender, to=[address])
        for address in addresses
    ]
    try:
        with get_connection() as connection:
            sent = connection.send_messages(messages) or 0
    except OSError:
        logger.exception("alert email could not be sent to %d recipients", len(messages))
        return 0
    return sent


def notify_user(*, user_id: int, title: str, body: str = "", link: str = "") -> Notification:
    """A plain in-app notification to one user (no alert behind it)."""
    if not title.strip():
        raise InvalidInput("通知标题不能为空", fields={"title": "必填"})
    return Notification.objects.create(user_id=user_id, title=title[:200], body=body, link=link[:300])


def mark_notifications_read(*, user: Any, notification_ids: Iterable[int] | None = None) -> int:
    """Mark the user's unread notifications read (only these ids, when given). Returns how many."""
    unread = Notification.objects.filter(user_id=user.pk, read_at__isnull=True)
    if notification_ids is not None:
        wanted = list(notification_ids)
        if Notification.objects.filter(user_id=user.pk, pk__in=wanted).count() != len(set(wanted)):
            raise NotFound("通知不存在", fields={"notification_ids": "含不存在的通知"})
        unread = unread.filter(pk__in=wanted)
    return unread.update(read_at=timezone.now())


def unread_count(*, user: Any) -> int:
    return Notification.objects.filter(user_id=user.pk, read_at__isnull=True).count()
