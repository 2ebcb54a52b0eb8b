"""What an admin list URL may ask for: declared lookups only, nothing that reads personal data the user may
not see (filter, search, sort), and dropdowns limited to the user's scope."""

from __future__ import annotations

import functools
import logging
from typing import Any, NoReturn

from django.contrib import messages
from django.contrib.admin import RelatedFieldListFilter
from django.contrib.admin.exceptions import DisallowedModelAdminLookup
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.admin.views.main import ERROR_FLAG
from django.contrib.admin.widgets import url_params_from_lookup_dict
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.views import ChangeList

from shopops.core.pii import can_view_pii, pii_fields

# Django search_fields prefixes: ^ startswith, = iexact, @ full-text
SEARCH_PREFIXES = "^=@"

logger = logging.getLogger(__name__)


def reaches_personal_data(model: type[models.Model], path: str) -> bool:
    """Whether a lookup, search or ordering path (`customer__phone__startswith`) reads a personal-data field
    of `model` or of a model it reaches through relations."""
    current = model
    for part in path.split(LOOKUP_SEP):
        try:
            field = current._meta.get_field(part)
        except FieldDoesNotExist:
            return False  # the remaining parts are lookups or transforms
        if part in pii_fields(current):
            return True
        related = field.related_model if field.is_relation else None
        if not isinstance(related, type):
            return False
        current = related
    return False


def _ordering_path(order_field: Any) -> str | None:
    """The field path an admin ordering (`"-name"`, `F("name")`, `F("name").desc()`) sorts by."""
    if isinstance(order_field, str):
        return order_field.lstrip("-")
    name = getattr(getattr(order_field, "expression", order_field), "name", None)
    return name if isinstance(name, str) else None


@functools.cache
def scoped_related_filter(filter_class: type[RelatedFieldListFilter]) -> type[RelatedFieldListFilter]:
    """`filter_class` whose choices are only the related rows the user may see (`for_user`), so a shop-scoped
    user's dropdown never names another shop."""

    def field_choices(
        self: RelatedFieldListFilter, field: Any, request: HttpRequest, model_admin: Any
    ) -> Any:
        choices = filter_class.field_choices(self, field, request, model_admin)
        allowed = field.related_model._default_manager.all().for_user(request.user)
        visible = set(allowed.values_list(field.target_field.attname, flat=True))
        return [(value, label) for value, label in choices if value in visible]

    return type(f"Scoped{filter_class.__name__}", (filter_class,), {"field_choices": field_choices})


class ShopOpsChangeList(ChangeList):
    """The admin list with the lookup rules of `DeclaredLookupsAdmin`.

    A query parameter that no list filter consumed would be applied as a raw queryset lookup; unless the admin
    declares it (`linked_lookups`, the date hierarchy) it is refused, which redirects to `?e=1` (Django's
    answer to invalid lookups). Sorting by a personal-data column is dropped for users who may not see it.
    """

    def __init__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        self.hides_personal_data = not can_view_pii(request.user)
        super().__init__(request, *args, **kwargs)

    def get_filters(self, request: HttpRequest) -> Any:
        try:
            filters = super().get_filters(request)
        except DisallowedModelAdminLookup as refusal:
            self._refuse(request, str(refusal))
        accepted = self.model_admin.accepted_raw_lookups()
        popup = self.model_admin.popup_lookups()
        for key in filters[2]:
            if key in accepted:
                continue
            values = request.GET.getlist(key)
            if not values or any((key, value) not in popup for value in values):
                self._refuse(request, f"Filtering by {key} not declared")
        return filters

    def _refuse(self, request: HttpRequest, reason: str) -> NoReturn:
        # the key names what was tried; the value may be a fragment of someone's phone number, so it stays out
        logger.warning(
            "admin list lookup refused on %s for user %s: %s", self.opts.label, request.user.pk, reason
        )
        raise IncorrectLookupParameters(reason)

    def get_ordering_field(self, field_name: Any) -> Any:
        order_field = super().get_ordering_field(field_name)
        path = _ordering_path(order_field)
        if self.hides_personal_data and path is not None and reaches_personal_data(self.model, path):
            return None
        return order_field


class DeclaredLookupsAdmin(ModelAdmin):
    """The list-URL rules every shopops admin inherits (through `ShopOpsModelAdmin`).

    Django applies any query parameter on a local field as a queryset lookup, so
    `?receiver_phone__startswith=1381` narrows the list by a masked value, one digit per request. Here a
    parameter is accepted only when a list filter, the date hierarchy or `linked_lookups` declares it, and
    never when it reads personal data (here or across a relation) for a user without `core.view_pii`; the same
    holds for search fields and sortable columns. A refused parameter redirects to `?e=1`.
    """

    # Query-string lookups other pages link to (the 工作台, history pages), accepted besides the list filters'.
    linked_lookups: tuple[str, ...] = ()

    def get_list_filter(self, request: HttpRequest) -> Any:
        shown: list[Any] = []
        for item in super().get_list_filter(request):
            path, filter_class = item if isinstance(item, list | tuple) else (item, None)
            if not isinstance(path, str):
                shown.append(item)
                continue
            if not can_view_pii(request.user) and reaches_personal_data(self.model, path):
                continue  # its dropdown would list the personal values themselves
            related_model = get_fields_from_path(self.model, path)[-1].related_model
            related = related_model._default_manager.all() if isinstance(related_model, type) else None
            filter_class = filter_class or RelatedFieldListFilter
            if hasattr(related, "for_user") and issubclass(filter_class, RelatedFieldListFilter):
                shown.append((path, scoped_related_filter(filter_class)))
            else:
                shown.append(item)
        return shown

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ShopOpsChangeList]:
        return ShopOpsChangeList

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        """A lookup of the list URL: declared by this admin, and never one reading personal data for a user
        without `core.view_pii`. (`ShopOpsChangeList` then refuses a declared-looking parameter that no
        filter actually consumed.)"""
        if not can_view_pii(getattr(request, "user", None)) and reaches_personal_data(self.model, lookup):
            return False
        if lookup in self.linked_lookups or (lookup, value) in self.popup_lookups():
            return True
        return self.declares_lookup(lookup, request) and super().lookup_allowed(lookup, value, request)

    def declares_lookup(self, lookup: str, request: HttpRequest | None) -> bool:
        """Whether `lookup` belongs to one of the list filters (`status__exact`, `placed_at_from`, `flag`) or
        to the date hierarchy."""
        items = self.get_list_filter(request) if request is not None else self.list_filter
        for item in items:
            if isinstance(item, list | tuple):
                item = item[0]
            name = item if isinstance(item, str) else getattr(item, "parameter_name", None)
            # status__exact, shop__id__exact, placed_at_from, placed_at_from_0 …
            if isinstance(name, str) and (lookup == name or lookup.startswith(f"{name}_")):
                return True
        return bool(self.date_hierarchy) and lookup.startswith(f"{self.date_hierarchy}{LOOKUP_SEP}")

    def accepted_raw_lookups(self) -> set[str]:
        """Parameters the list applies as queryset lookups without a filter consuming them."""
        accepted = set(self.linked_lookups)
        if self.date_hierarchy:
            # the hierarchy turns its year/month/day into this range
            accepted |= {f"{self.date_hierarchy}__gte", f"{self.date_hierarchy}__lt"}
        return accepted

    def popup_lookups(self) -> set[tuple[str, str]]:
        """`limit_choices_to` of foreign keys pointing here, which raw-id popups pass in the URL."""
        pairs: set[tuple[str, str]] = set()
        for lookups in self.model._meta.related_fkey_lookups:
            pairs.update(url_params_from_lookup_dict(lookups() if callable(lookups) else lookups).items())
        return pairs

    def get_search_fields(self, request: HttpRequest) -> Any:
        fields = super().get_search_fields(request)
        if can_view_pii(request.user):
            return fields
        return tuple(
            name for name in fields if not reaches_personal_data(self.model, name.lstrip(SEARCH_PREFIXES))
        )

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        if ERROR_FLAG in request.GET:
            # where Django sends a refused or broken filter: say so instead of silently listing everything
            messages.error(request, _("筛选条件无效，已显示全部记录"))
        return super().changelist_view(request, extra_context)
