"""What the orders admin pages share: permissions, flag colours, Asia/Shanghai date ranges, list filters."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, QueryDict
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from unfold.contrib.filters.admin import RangeDateFilter

from shopops.core.errors import DomainError
from shopops.orders import queries

REVIEW_PERMISSION = "orders.review_order"
EXPORT_PERMISSION = "orders.export_order"
SHIP_PERMISSION = "fulfillment.ship_shipment"
SHIP_URL_NAME = "admin:fulfillment_shipment_ship_orders"
EXPORT_CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
# Taobao's seller flags (旗帜): 1 red, 2 yellow, 3 green, 4 blue, 5 purple.
FLAG_COLOURS: dict[int, tuple[str, Any]] = {
    1: ("#dc2626", _("红旗")),
    2: ("#eab308", _("黄旗")),
    3: ("#16a34a", _("绿旗")),
    4: ("#2563eb", _("蓝旗")),
    5: ("#9333ea", _("紫旗")),
}
FLAG_CHOICES = [(0, _("无旗帜")), *[(level, label) for level, (_colour, label) in FLAG_COLOURS.items()]]


def flag_badge(flag: int) -> Any:
    if flag not in FLAG_COLOURS:
        return "-"
    colour, label = FLAG_COLOURS[flag]
    return format_html(
        '<span title="{}" data-testid="flag" style="color:{}" class="material-symbols-outlined">flag</span>',
        label,
        colour,
    )


def shop_time(value: dt.datetime | None, zone: str) -> str:
    """A moment in the shop's own time zone (Asia/Shanghai when the shop's zone is unknown)."""
    if value is None:
        return "-"
    try:
        tz: dt.tzinfo = zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        tz = queries.SHANGHAI
    return date_format(timezone.localtime(value, tz), "Y-m-d H:i")


def local_time(value: dt.datetime | None) -> str:
    return date_format(timezone.localtime(value, queries.SHANGHAI), "Y-m-d H:i") if value else "-"


class LocalDateRangeFilter(RangeDateFilter):
    """A date range on a datetime field, both ends inclusive Asia/Shanghai business days."""

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        conditions: dict[str, dt.datetime] = {}
        start = parse_date(str(self.used_parameters.get(f"{self.parameter_name}_from") or ""))
        end = parse_date(str(self.used_parameters.get(f"{self.parameter_name}_to") or ""))
        if start is not None:
            conditions[f"{self.parameter_name}__gte"] = queries.local_day_start(start)
        if end is not None:
            conditions[f"{self.parameter_name}__lt"] = queries.local_day_start(end + dt.timedelta(days=1))
        return queryset.filter(**conditions)


class FlagFilter(admin.SimpleListFilter):
    title = _("旗帜")
    parameter_name = "flag"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[Any, Any]]:
        return [(str(level), label) for level, label in FLAG_CHOICES]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(flag=int(value)) if value and value.isdigit() else queryset


class OpenIssuesFilter(admin.SimpleListFilter):
    title = _("审单异常")
    parameter_name = "open_issues"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[Any, Any]]:
        return [("yes", _("有未处理异常")), ("no", _("无未处理异常"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        exists = queries.open_issues_exist()
        if self.value() == "yes":
            return queryset.filter(exists)
        if self.value() == "no":
            return queryset.filter(~exists)
        return queryset


class SavedFilterListFilter(admin.SimpleListFilter):
    """Apply one of the user's (or the team's) saved searches to the order list."""

    title = _("常用筛选")
    parameter_name = "saved_filter"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[Any, Any]]:
        return [
            (str(pk), name) for pk, name in queries.saved_filters_for(request.user).values_list("pk", "name")
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if not value or not value.isdigit():
            return queryset
        try:
            search = queries.saved_search(request.user, int(value))
        except DomainError as error:
            messages.error(request, error.message)
            return queryset.none()
        return queries.apply_search(queryset, search)


def ship_url() -> str | None:
    """The fulfillment app's "ship these orders" page, when that app provides it."""
    try:
        return reverse(SHIP_URL_NAME)
    except NoReverseMatch:
        return None


# The order list's query parameters as OrderSearch parameters (what "保存当前筛选" stores).
CHANGELIST_TO_SEARCH = {
    "status__exact": "status",
    "refund_status__exact": "refund_status",
    "review_status__exact": "review_status",
    "shop__id__exact": "shop_id",
    "shop__platform__exact": "platform",
    "flag": "flag",
    **{f"{field}_at_{end}": f"{field}_{end}" for field in queries.DATE_FIELDS for end in ("from", "to")},
}
YES_NO = {"yes": True, "no": False, "1": True, "0": False}


def search_from_changelist(user: Any, query: QueryDict) -> queries.OrderSearch:
    """The order list's filters (and a saved filter it started from) as one validated search. A search
    term is kept as a phone number when it is 4 or 11 digits or a masked number, else as order no / buyer /
    tracking number."""
    params: dict[str, Any] = {}
    saved = query.get("saved_filter", "")
    if saved.isdigit():
        params.update(queries.saved_search(user, int(saved)).to_dict())
    for key, name in CHANGELIST_TO_SEARCH.items():
        value = query.get(key, "")
        if value:
            params[name] = [value] if name == "status" else value
    for key, name in (("is_valid__exact", "is_valid"), ("open_issues", "has_open_issues")):
        answer = str(query.get(key, ""))
        if answer in YES_NO:
            params[name] = YES_NO[answer]
    term = query.get("q", "").strip()
    if term:
        if queries.looks_like_phone(term):
            params.pop("phone_hash", None)  # the typed number replaces a saved one (kept as its hash)
            params["phone"] = term
        else:
            params["q"] = term
    return queries.OrderSearch.from_dict(params)
