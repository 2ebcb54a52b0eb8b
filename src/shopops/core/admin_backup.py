"""系统 → 备份与恢复: the backups on disk with their manifest summary, the last drill, and the POST actions
(back up now, drill now, resume outbound after a restore). Only holders of core.manage_backup see it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from shopops.core import switches
from shopops.core.admin_tools import ReadOnlyAdmin
from shopops.core.backup import archive
from shopops.core.backup import services as backup_services
from shopops.core.errors import DomainError
from shopops.core.models import RestoreDrill, Switch

PERMISSION = "core.manage_backup"
PAGE_TEMPLATE = "admin/core/backup_page.html"
LISTED = 30


def backup_rows() -> list[dict[str, Any]]:
    rows = []
    for archive_path in reversed(archive.archives()[-LISTED:]):
        summary = archive.read_summary(archive_path) or {}
        created = summary.get("created_at")
        rows.append(
            {
                "name": archive_path.name,
                "created_at": dt.datetime.fromisoformat(created) if created else None,
                "size": archive_path.stat().st_size,
                "encrypted": bool(summary.get("encrypted", archive_path.name.endswith(".enc"))),
                "tables": summary.get("tables"),
                "rows": summary.get("rows"),
                "files": summary.get("files"),
            }
        )
    return rows


@admin.register(RestoreDrill)
class BackupPageAdmin(ReadOnlyAdmin):
    """No list of its own: the changelist is the 备份与恢复 page."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(PERMISSION)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(PERMISSION)

    def get_urls(self) -> list[URLPattern]:
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        own = [
            path("", self.admin_site.admin_view(self.page_view), name=f"{prefix}_changelist"),
            path(
                "backup/", self.admin_site.admin_view(require_POST(self.backup_view)), name=f"{prefix}_backup"
            ),
            path("drill/", self.admin_site.admin_view(require_POST(self.drill_view)), name=f"{prefix}_drill"),
            path(
                "resume/", self.admin_site.admin_view(require_POST(self.resume_view)), name=f"{prefix}_resume"
            ),
        ]
        # Django's own (add, change, history) stay reachable and answer 403: nobody edits a drill record
        return own + super().get_urls()

    def _check(self, request: HttpRequest) -> None:
        if not request.user.has_perm(PERMISSION):
            raise PermissionDenied

    def _page_url(self) -> str:
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")

    def page_view(self, request: HttpRequest) -> HttpResponse:
        self._check(request)
        paused = Switch.objects.filter(name=switches.OUTBOUND_PAUSED, on=True).first()
        drills = list(RestoreDrill.objects.all()[:5])
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("备份与恢复"),
            "paused": paused,
            "backups": backup_rows(),
            "backup_dir": str(archive.backup_dir()),
            "last_drill": drills[0] if drills else None,
            "drills": drills,
        }
        return TemplateResponse(request, PAGE_TEMPLATE, context)

    def backup_view(self, request: HttpRequest) -> HttpResponse:
        self._check(request)
        try:
            backup = backup_services.back_up_now(actor=request.user)
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("已备份：%(name)s") % {"name": backup.path.name})
        return HttpResponseRedirect(self._page_url())

    def drill_view(self, request: HttpRequest) -> HttpResponse:
        self._check(request)
        result = backup_services.drill_now(actor=request.user)
        if result.problems:
            messages.error(
                request, _("恢复演练未通过：发现 %(count)d 个问题") % {"count": len(result.problems)}
            )
        else:
            messages.success(request, _("恢复演练通过：%(name)s") % {"name": result.archive})
        return HttpResponseRedirect(self._page_url())

    def resume_view(self, request: HttpRequest) -> HttpResponse:
        self._check(request)
        if backup_services.resume_outbound(actor=request.user):
            messages.success(request, _("已恢复对外发送：客户消息与平台写入重新开启"))
        else:
            messages.info(request, _("对外发送本来就是开启的"))
        return HttpResponseRedirect(self._page_url())
