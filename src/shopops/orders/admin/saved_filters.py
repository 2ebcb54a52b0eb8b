"""Admin saved order filters (常用筛选): own and shared ones; only the owner changes one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from shopops.core.admin_tools import ShopOpsModelAdmin
from shopops.orders import queries
from shopops.orders.models import SavedFilter
from shopops.orders.services import filters as filter_services

PARAMS_COLUMN_ATTRIBUTE = "_shopops_saved_filter_params_column"


class SavedFilterAdmin(ShopOpsModelAdmin):
    """Saved order searches: everyone sees their own and the shared ones; only the owner changes one.
    The conditions show personal values masked to everyone but the owner (and core.view_pii)."""

    list_filter = ("is_shared",)
    search_fields = ("name",)
    list_select_related = ("owner",)
    fields = ("name", "params", "is_shared")

    def get_queryset(self, request: HttpRequest) -> QuerySet[SavedFilter]:
        user = request.user
        return SavedFilter.objects.filter(Q(owner=user) | Q(is_shared=True)).select_related("owner")

    def _params_column(self, request: HttpRequest) -> Callable[[SavedFilter], str]:
        # what the conditions show depends on who looks: one column per request (the same object each time
        # it is asked for, so the change page knows it as read-only)
        column = getattr(request, PARAMS_COLUMN_ATTRIBUTE, None)
        if column is not None:
            return column

        def params_shown(saved: SavedFilter) -> str:
            return queries.params_text(queries.saved_params_shown(request.user, saved)) or "-"

        params_shown.short_description = _("筛选条件")  # type: ignore[attr-defined]
        setattr(request, PARAMS_COLUMN_ATTRIBUTE, params_shown)
        return params_shown

    def get_list_display(self, request: HttpRequest) -> Any:
        return ("name", "owner", "is_shared", self._params_column(request), "orders_link", "created_at")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None and not self._is_owner(request, obj):
            return ("name", self._params_column(request), "is_shared")
        return self.fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None and not self._is_owner(request, obj):
            return self.get_fields(request, obj)
        return super().get_readonly_fields(request, obj)

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
