"""The scope kit: the one place that answers "not found" for rows outside a user's shops or warehouses.

A row outside the user's scope behaves exactly like a row that does not exist: one error (`OutOfScope`),
one code (`not_found`), one sentence ("…不存在或不在您的权限范围内"). It is a `DomainError` (the API turns
it into a 404 JSON body with code, message and fields) and an `Http404` (an admin view raising it shows
the 404 page), so the API, the admin, the 工作台 panels and exports behave the same.

- `scoped(source, user)`: a model or queryset limited to the user's scope (`for_user` when it has one);
- `get_in_scope(source, user, **lookup)`: the one row, or `OutOfScope`;
- `require_in_scope(source, user, **lookup)`: refuse unless such a row exists (nothing is loaded);
- `require_all_in_scope(source, user, ids)`: every id of a batch is in scope, or `OutOfScope`;
- `out_of_scope(what)`: the error itself, for lookups the kit cannot express (by code or id, CLI actors).

Nothing else in the code base writes the sentence or raises a scope 404 by hand (a test checks it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar, overload

from django.conf import settings
from django.db import models
from django.http import Http404
from django.utils import translation

from shopops.core.errors import NotFound

M = TypeVar("M", bound=models.Model)

OUT_OF_SCOPE_CODE = "not_found"
OUT_OF_SCOPE_TEMPLATE = "{what}不存在或不在您的权限范围内"
MISSING_FIELD_MESSAGE = "不存在"


class OutOfScope(NotFound, Http404):
    """The row does not exist or lies outside the user's scope (the two are indistinguishable on purpose)."""

    code = OUT_OF_SCOPE_CODE

    def __init__(self, what: str = "对象", *, field: str | None = None, field_message: str = "") -> None:
        fields = {field: field_message or MISSING_FIELD_MESSAGE} if field else None
        super().__init__(OUT_OF_SCOPE_TEMPLATE.format(what=what), fields=fields)


def out_of_scope(what: str = "对象", *, field: str | None = None, field_message: str = "") -> OutOfScope:
    """The one out-of-scope error; `what` names the kind of row (订单, 仓库…), `field` the input it came from."""
    return OutOfScope(what, field=field, field_message=field_message)


def label_of(model: type[models.Model]) -> str:
    """The model's verbose name in the messages' language (API messages are Chinese whatever the UI)."""
    with translation.override(settings.LANGUAGE_CODE):
        return str(model._meta.verbose_name)


@overload
def scoped(source: type[M], user: Any) -> models.QuerySet[M]: ...
@overload
def scoped(source: models.QuerySet[M], user: Any) -> models.QuerySet[M]: ...
def scoped(source: type[M] | models.QuerySet[M], user: Any) -> models.QuerySet[M]:
    """`source` (a model or a queryset) limited to what `user` may see.

    A queryset built on `core.permissions.ScopedQuerySet` narrows itself with `for_user`; any other
    queryset is taken as already scoped by its caller (e.g. rows reached through scoped orders)."""
    queryset = source._default_manager.all() if isinstance(source, type) else source
    for_user = getattr(queryset, "for_user", None)
    return for_user(user) if callable(for_user) else queryset


def get_in_scope(
    source: type[M] | models.QuerySet[M],
    user: Any,
    *,
    what: str | None = None,
    field: str | None = None,
    **lookup: Any,
) -> M:
    """The row matching `lookup` within `user`'s scope, else `OutOfScope` (named `what`, default the
    model's verbose name; `field` names the request field that carried the id)."""
    queryset = scoped(source, user)
    found = queryset.filter(**lookup).first()
    if found is None:
        raise out_of_scope(what or label_of(queryset.model), field=field)
    return found


def require_in_scope(
    source: type[M] | models.QuerySet[M],
    user: Any,
    *,
    what: str | None = None,
    field: str | None = None,
    **lookup: Any,
) -> None:
    """Refuse with `OutOfScope` unless a row matching `lookup` exists within `user`'s scope."""
    queryset = scoped(source, user)
    if not queryset.filter(**lookup).exists():
        raise out_of_scope(what or label_of(queryset.model), field=field)


def require_all_in_scope(
    source: type[M] | models.QuerySet[M],
    user: Any,
    ids: Iterable[int],
    *,
    what: str | None = None,
    field: str | None = None,
) -> None:
    """Refuse with `OutOfScope` unless every primary key in `ids` is a row within `user`'s scope."""
    wanted = set(ids)
    queryset = scoped(source, user)
    if queryset.filter(pk__in=wanted).count() != len(wanted):
        raise out_of_scope(what or label_of(queryset.model), field=field)
