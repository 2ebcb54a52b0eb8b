"""Admin saved order filters (常用筛选): own and shared ones; only the owner changes one."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from shopops.core.admin_tools import ShopOpsModelAdmin
from shopops.orders.models import SavedFilter
from shopops.orders.services import filters as filter_services


class SavedFilterAdmin(ShopOpsModelAdmin):
    """Saved order searches: everyone sees their own and the shared ones; only the owner changes one."""

    list_display = ("name", "owner", "is_shared", "params_shown", "orders_link", "created_at")
    list_filter = ("is_shared",)
    search_fields = ("name",)
    list_select_related = ("owner",)
    fields = ("name", "params", "is_shared")

    def get_queryset(self, request: HttpRequest) -> QuerySet[SavedFilter]:
        user = request.user
        return SavedFilter.objects.filter(Q(owner=user) | Q(is_shared=True)).select_related("owner")

    @admin.display(description=_("筛选条件"))
    def params_shown(self, saved: SavedFilter) -> str:
        params = saved.params if isinstance(saved.params, dict) else {}
        return "；".join(f"{key}={value}" for key, value in params.items()) or "-"

    @admin.display(description=_("订单"))
    def orders_link(self, saved: SavedFilter) -> Any:
        return format_html(
            '<a class="text-primary-600" href="{}?saved_filter={}">{}</a>',
            reverse("admin:orders_order_changelist"),
            saved.pk,
            _("查看"),
        )

    def _is_owner(self, request: HttpRequest, obj: Any) -> bool:
        return obj is None or obj.owner_id == request.user.pk

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and self._is_owner(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and self._is_owner(request, obj)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        data = form.cleaned_data
        if change:
            saved = filter_services.update_saved_filter(
                actor=request.user,
                filter_id=obj.pk,
                name=data["name"],
                params=data["params"] or {},
                is_shared=data["is_shared"],
            )
        else:
            saved = filter_services.create_saved_filter(
                actor=request.user,
                name=data["name"],
                params=data["params"] or {},
                is_shared=data["is_shared"],
            )
        obj.pk = saved.pk
        obj.refresh_from_db()
        obj._state.adding = False

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        filter_services.delete_saved_filter(actor=request.user, filter_id=obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for obj in queryset:
            self.delete_model(request, obj)
