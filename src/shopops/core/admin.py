"""Admin for the audit history (read-only, personal data masked), alerts and each user's notifications."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.db import models
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from unfold.contrib.filters.admin import DropdownFilter, RangeDateTimeFilter, RelatedDropdownFilter

from shopops.core import (
    admin_backup,  # noqa: F401 - registers the 备份与恢复 page
    notifications,
)
from shopops.core.admin_tools import ReadOnlyAdmin, change_lines, masked_changes
from shopops.core.models import Alert, AuditEntry, Notification


class ActionFilter(DropdownFilter):
    title = _("动作")
    parameter_name = "action"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        actions = AuditEntry.objects.order_by("action").values_list("action", flat=True).distinct()
        return [(action, action) for action in actions]

    def queryset(self, request: HttpRequest, queryset: models.QuerySet[Any]) -> models.QuerySet[Any]:
        value = self.value()
        return queryset.filter(action=value) if value else queryset


class SourceFilter(ActionFilter):
    title = _("来源")
    parameter_name = "source"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        sources = AuditEntry.objects.order_by("source").values_list("source", flat=True).distinct()
        return [(source, source) for source in sources]

    def queryset(self, request: HttpRequest, queryset: models.QuerySet[Any]) -> models.QuerySet[Any]:
        value = self.value()
        return queryset.filter(source=value) if value else queryset


def render_changes(user: Any, entry: AuditEntry) -> SafeString:
    model = entry.content_type.model_class() if entry.content_type is not None else None
    lines = change_lines(masked_changes(user, model, entry.changes), model)
    return format_html_join("", '<div><span class="font-medium">{}</span>: {}</div>', lines)


class AuditEntryAdmin(ReadOnlyAdmin):
    search_fields = ("object_repr", "object_id", "actor_name", "request_id")
    list_filter = (
        ("created_at", RangeDateTimeFilter),
        ActionFilter,
        SourceFilter,
        ("actor", RelatedDropdownFilter),
        ("content_type", RelatedDropdownFilter),
    )
    list_filter_submit = True
    date_hierarchy = None
    # an object's history page links to its entries here (content type and object id)
    linked_lookups = ("object_id",)
    list_select_related = ("actor", "content_type")
    show_full_result_count = False

    def _changes_column(self, request: HttpRequest) -> Callable[[AuditEntry], SafeString]:
        def changes(entry: AuditEntry) -> SafeString:
            return render_changes(request.user, entry)

        changes.short_description = _("变更")  # type: ignore[attr-defined]
        return changes

    def get_list_display(self, request: HttpRequest) -> Any:
        return (
            "created_at",
            "actor_name",
            "action",
            "content_type",
            "object_link",
            self._changes_column(request),
            "reason",
            "source",
        )

    def get_list_display_links(self, request: HttpRequest, list_display: Any) -> Any:
        return ("created_at",)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return (
            "created_at",
            "actor_name",
            "action",
            "content_type",
            "object_id",
            "object_repr",
            "changes_shown",
            "reason",
            "source",
            "ip",
            "request_id",
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(self.get_fields(request, obj))
        fields[fields.index("changes_shown")] = self._changes_column(request)
        return fields

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        return [(None, {"fields": self.get_readonly_fields(request, obj)})]

    @admin.display(description=_("对象"))
    def object_link(self, entry: AuditEntry) -> Any:
        model = entry.content_type.model_class() if entry.content_type is not None else None
        if model is None or not entry.object_id or model not in self.admin_site._registry:
            return entry.object_repr
        try:
            url = reverse(
                f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[entry.object_id]
            )
        except NoReverseMatch:
            return entry.object_repr
        return format_html('<a class="text-primary-600" href="{}">{}</a>', url, entry.object_repr)


admin.site.register(AuditEntry, AuditEntryAdmin)


class AlertKindFilter(DropdownFilter):
    title = _("类型")
    parameter_name = "kind"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        kinds = Alert.objects.order_by().values_list("kind", flat=True).distinct()
        return sorted(
            ((kind, notifications.alert_kind_label(kind)) for kind in kinds), key=lambda item: item[1]
        )

    def queryset(self, request: HttpRequest, queryset: models.QuerySet[Any]) -> models.QuerySet[Any]:
        return queryset.filter(kind=self.value()) if self.value() else queryset


class AlertAdmin(ReadOnlyAdmin):
    """Alerts open and close themselves (the periodic checks raise and resolve them)."""

    list_display = ("title", "kind_label", "severity", "status", "first_seen", "last_seen", "resolved_at")
    list_filter = ("status", "severity", AlertKindFilter)
    # the 工作台's stock alerts panel links to the open alerts of one kind family
    linked_lookups = ("kind__startswith",)
    search_fields = ("title", "message", "dedup_key")

    @admin.display(description=_("类型"), ordering="kind")
    def kind_label(self, alert: Alert) -> str:
        return notifications.alert_kind_label(alert.kind)


class NotificationAdmin(ReadOnlyAdmin):
    """Each user sees only their own notifications; opening the list offers "mark read"."""

    list_display = ("title", "created_at", "read_at", "alert")
    list_filter = (("created_at", RangeDateTimeFilter),)
    search_fields = ("title", "body")
    actions = ["mark_read"]

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[Any]:
        return super().get_queryset(request).filter(user_id=request.user.pk).select_related("alert")

    @admin.action(description=_("标记为已读"), permissions=["view"])
    def mark_read(self, request: HttpRequest, queryset: models.QuerySet[Any]) -> None:
        count = notifications.mark_notifications_read(
            user=request.user, notification_ids=list(queryset.values_list("pk", flat=True))
        )
        self.message_user(request, _("已标记 %(count)d 条通知为已读") % {"count": count})


admin.site.register(Alert, AlertAdmin)
admin.site.register(Notification, NotificationAdmin)
