"""Admin of tags and segments: tag list, segment list and the segment builder page (conditions, live
preview count, save, refresh, members and membership history)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from shopops.core.admin_tools import ShopOpsModelAdmin, local_time
from shopops.core.errors import DomainError
from shopops.core.money import format_cny
from shopops.core.pii import shown
from shopops.segments import queries, services
from shopops.segments.models import Segment, Tag

MEMBERS_PER_PAGE = 50
HISTORY_ROWS = 50


@admin.register(Tag)
class TagAdmin(ShopOpsModelAdmin):
    list_display = ("name", "kind", "rule_text", "customer_count", "is_active")
    list_filter = ("is_active",)
    search_fields = ("name",)
    fields = ("name", "description", "is_active", "rule_text")
    readonly_fields = ("rule_text",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Tag]:
        return super().get_queryset(request).annotate(customer_total=Count("customer_tags"))

    @admin.display(description=gettext_lazy("类型"))
    def kind(self, tag: Tag) -> str:
        return _("自动") if tag.is_automatic else _("手动")

    @admin.display(description=gettext_lazy("自动规则"))
    def rule_text(self, tag: Tag) -> str:
        return queries.describe_rule(tag.rule) or "—"

    @admin.display(description=gettext_lazy("客户数"), ordering="customer_total")
    def customer_count(self, tag: Tag) -> int:
        return int(getattr(tag, "customer_total", 0))

    def get_urls(self) -> list[Any]:
        wrap = self.admin_site.admin_view
        return [
            path(
                "customer/<int:customer_id>/tag/", wrap(require_POST(self.tag_view)), name="segments_tag_tag"
            ),
            path(
                "customer/<int:customer_id>/untag/<int:tag_id>/",
                wrap(require_POST(self.untag_view)),
                name="segments_tag_untag",
            ),
            *super().get_urls(),
        ]

    def _back(self, request: HttpRequest, customer_id: int) -> HttpResponseRedirect:
        target = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
            target = reverse("admin:customers_customer_change", args=[customer_id])
        return HttpResponseRedirect(target)

    def tag_view(self, request: HttpRequest, customer_id: int) -> HttpResponse:
        if not request.user.has_perm("segments.add_customertag"):
            raise PermissionDenied
        customer = queries.customer_or_404(request.user, customer_id)
        tag = (
            Tag.objects.filter(pk=request.POST.get("tag_id") or 0).first()
            if str(request.POST.get("tag_id", "")).isdigit()
            else None
        )
        if tag is None:
            messages.error(request, _("请选择标签"))
            return self._back(request, customer.pk)
        if (
            self.call_service(
                request, services.add_customer_tag, customer_id=customer.pk, tag_id=tag.pk, actor=request.user
            )
            is not None
        ):
            messages.success(request, _("已添加标签“%(name)s”") % {"name": tag.name})
        return self._back(request, customer.pk)

    def untag_view(self, request: HttpRequest, customer_id: int, tag_id: int) -> HttpResponse:
        if not request.user.has_perm("segments.delete_customertag"):
            raise PermissionDenied
        customer = queries.customer_or_404(request.user, customer_id)
        tag = queries.tag_or_404(tag_id)
        if (
            self.call_service(
                request,
                services.remove_customer_tag,
                customer_id=customer.pk,
                tag_id=tag.pk,
                actor=request.user,
            )
            is not None
        ):
            messages.success(request, _("已移除标签“%(name)s”") % {"name": tag.name})
        return self._back(request, customer.pk)

    def save_model(self, request: HttpRequest, obj: Tag, form: Any, change: bool) -> None:
        data = form.cleaned_data
        if change:
            saved = services.update_tag(
                tag_id=obj.pk,
                actor=request.user,
                name=data["name"],
                description=data.get("description", ""),
                is_active=data.get("is_active", True),
            )
        else:
            saved = services.create_tag(
                name=data["name"], description=data.get("description", ""), actor=request.user
            )
        obj.pk = saved.pk

    def delete_model(self, request: HttpRequest, obj: Tag) -> None:
        services.delete_tag(tag_id=obj.pk, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Tag]) -> None:
        for tag_id in queryset.values_list("pk", flat=True):
            services.delete_tag(tag_id=tag_id, actor=request.user)


@admin.register(Segment)
class SegmentAdmin(ShopOpsModelAdmin):
    list_display = ("name", "rule_text", "members", "refreshed", "is_active")
    list_filter = ("is_active",)
    search_fields = ("name",)

    @admin.display(description=gettext_lazy("条件"))
    def rule_text(self, segment: Segment) -> str:
        return queries.describe_rule(segment.rule)

    @admin.display(description=gettext_lazy("人数"), ordering="member_count")
    def members(self, segment: Segment) -> int:
        return segment.member_count

    @admin.display(description=gettext_lazy("最近刷新"), ordering="refreshed_at")
    def refreshed(self, segment: Segment) -> str:
        return local_time_or_dash(segment.refreshed_at)

    def get_urls(self) -> list[Any]:
        wrap = self.admin_site.admin_view
        return [
            path("preview/", wrap(require_POST(self.preview_view)), name="segments_segment_preview"),
            path(
                "<int:segment_id>/refresh/",
                wrap(require_POST(self.refresh_view)),
                name="segments_segment_refresh",
            ),
            *super().get_urls(),
        ]

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        return self.builder(request, None)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        segment = self.get_object_or_404(request, object_id)
        return self.builder(request, segment)

    def builder(self, request: HttpRequest, segment: Segment | None) -> HttpResponse:
        can_save = self.has_change_permission(request) if segment else self.has_add_permission(request)
        values = {
            "name": segment.name if segment else "",
            "description": segment.description if segment else "",
            "is_active": segment.is_active if segment else True,
            "rule": segment.rule if segment else {"op": "and", "items": []},
        }
        errors: dict[str, str] = {}
        if request.method == "POST":
            if not can_save:
                raise PermissionDenied
            values, errors, saved = self._save(request, segment)
            if saved is not None:
                return HttpResponseRedirect(reverse("admin:segments_segment_change", args=[saved.pk]))
        return TemplateResponse(
            request,
            "admin/segments/segment/builder.html",
            {
                **self.admin_site.each_context(request),
                "title": segment.name if segment else _("新建人群"),
                "subtitle": None,
                "opts": self.opts,
                "segment": segment,
                "values": values,
                "errors": errors,
                "can_save": can_save,
                "can_refresh": bool(segment) and self.has_change_permission(request),
                "catalogue": queries.condition_catalogue(),
                "rule_json": values["rule"],
                "preview_url": reverse("admin:segments_segment_preview"),
                "back_url": reverse("admin:segments_segment_changelist"),
                **(self._members_context(request, segment) if segment else {}),
            },
        )

    def _save(
        self, request: HttpRequest, segment: Segment | None
    ) -> tuple[dict[str, Any], dict[str, str], Any]:
        try:
            rule = json.loads(request.POST.get("rule") or "{}")
        except ValueError:
            rule = {}
        values = {
            "name": request.POST.get("name", ""),
            "description": request.POST.get("description", ""),
            "is_active": request.POST.get("is_active") == "on",
            "rule": rule,
        }
        try:
            if segment is None:
                saved = services.create_segment(actor=request.user, **values)
                messages.success(
                    request,
                    _("人群“%(name)s”已保存，当前 %(count)d 人")
                    % {"name": saved.name, "count": saved.member_count},
                )
            else:
                saved = services.update_segment(segment_id=segment.pk, actor=request.user, **values)
                messages.success(
                    request,
                    _("人群“%(name)s”已更新，当前 %(count)d 人")
                    % {"name": saved.name, "count": saved.member_count},
                )
        except DomainError as error:
            messages.error(request, error.message)
            return values, dict(error.fields), None
        return values, {}, saved

    def _members_context(self, request: HttpRequest, segment: Segment) -> dict[str, Any]:
        user = request.user
        page = Paginator(queries.members_for(user, segment), MEMBERS_PER_PAGE).get_page(
            request.GET.get("page")
        )
        rows = []
        for member in page.object_list:
            metrics = getattr(member.customer, "segment_metrics", None)
            rows.append(
                {
                    "name": shown(user, member.customer, "name") or _("（未填写）"),
                    "rfm": f"{queries.rfm_class_label(metrics.rfm_class)} {metrics.rfm_code}"
                    if metrics
                    else "—",
                    "net_spend": format_cny(metrics.net_spend) if metrics else "—",
                    "orders": metrics.paid_order_count if metrics else 0,
                    "last_paid": local_time_or_dash(metrics.last_paid_at) if metrics else "—",
                    "entered": local_time_or_dash(member.entered_at),
                }
            )
        history = [
            {
                "name": shown(user, event.customer, "name") or _("（未填写）"),
                "kind": event.get_kind_display(),
                "kind_value": event.kind,
                "at": local_time_or_dash(event.at),
            }
            for event in queries.events_for(user, segment)[:HISTORY_ROWS]
        ]
        return {
            "members_page": page,
            "member_rows": rows,
            "history": history,
            "refresh_url": reverse("admin:segments_segment_refresh", args=[segment.pk]),
        }

    def preview_view(self, request: HttpRequest) -> JsonResponse:
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        try:
            rule = services.clean_rule_field(json.loads(request.body or b"{}").get("rule"))
        except (ValueError, AttributeError):
            return JsonResponse({"message": _("条件格式不正确"), "fields": {}}, status=422)
        except DomainError as error:
            return JsonResponse({"message": error.message, "fields": error.fields}, status=422)
        count, sample = queries.preview(request.user, rule)
        return JsonResponse(
            {
                "count": count,
                "count_text": _("符合条件：%(count)d 人") % {"count": count},
                "rule_text": queries.describe_rule(rule),
                "sample": [
                    str(shown(request.user, customer, "name") or _("（未填写）")) for customer in sample
                ],
            }
        )

    def refresh_view(self, request: HttpRequest, segment_id: int) -> HttpResponse:
        if not self.has_change_permission(request):
            raise PermissionDenied
        segment = self.get_object_or_404(request, str(segment_id))
        result = self.call_service(request, services.refresh_segment, segment_id=segment.pk)
        if result is not None:
            messages.success(
                request,
                _("已刷新：当前 %(members)d 人，新进入 %(entered)d 人，离开 %(left)d 人")
                % {"members": result.members, "entered": result.entered, "left": result.left},
            )
        return HttpResponseRedirect(reverse("admin:segments_segment_change", args=[segment.pk]))


def local_time_or_dash(value: dt.datetime | None) -> str:
    return local_time(value, empty="—")
