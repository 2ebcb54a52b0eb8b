"""Collection sites in the admin: the site key is generated on create, the JS snippet shown to copy."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from unfold.contrib.filters.admin import RelatedDropdownFilter

from shopops.analytics.models import CollectSite
from shopops.analytics.reports.services import new_site_key
from shopops.core.admin_tools import ShopOpsModelAdmin


def snippet_for(site: CollectSite, base_url: str) -> str:
    """The collect snippet (collect owns its text); empty until collect ships its renderer."""
    try:
        from shopops.analytics.collect import snippet
    except ImportError:
        return ""
    return str(snippet.render(site, base_url))


@admin.register(CollectSite)
class CollectSiteAdmin(ShopOpsModelAdmin):
    list_display = ("name", "shop", "key", "ip_mode", "honour_dnt", "require_consent", "is_active")
    list_filter = (("shop", RelatedDropdownFilter), "is_active", "ip_mode")
    search_fields = ("name", "key")
    list_select_related = ("shop",)
    readonly_fields = ("key", "created_at", "updated_at")
    fields = (
        "shop",
        "name",
        "key",
        "allowed_origins",
        "ip_mode",
        "honour_dnt",
        "require_consent",
        "is_active",
        "created_at",
        "updated_at",
    )
    change_form_after_template = "admin/analytics/collectsite_snippet.html"

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change and not obj.key:
            obj.key = new_site_key()
        super().save_model(request, obj, form, change)

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Any = None,
    ) -> Any:
        if obj is not None and obj.pk:
            context["collect_snippet"] = snippet_for(obj, request.build_absolute_uri("/"))
            context["collect_site"] = obj
        return super().render_change_form(request, context, add, change, form_url, obj)
