"""Saved order filters (常用筛选: create, rename, share, delete) and audited order exports."""

from __future__ import annotations

import os
from typing import IO, Any

from django.db import transaction
from django.db.models import QuerySet

from shopops.core import audit
from shopops.core.errors import Conflict, InvalidInput, PermissionDeniedError, required_text
from shopops.core.permissions import check_permission
from shopops.core.pii import can_view_pii
from shopops.core.tabular import write_table
from shopops.orders import queries
from shopops.orders.models import Order, SavedFilter
from shopops.orders.queries import OrderSearch

EXPORT_PERMISSION = "orders.export_order"
EXPORT_FORMATS = ("csv", "xlsx")
NAME_LENGTH = 60
AUDITED_IDS = 1000


class SavedFilterNotOwned(PermissionDeniedError):
    code = "saved_filter_not_owned"


class DuplicateSavedFilter(Conflict):
    code = "duplicate_saved_filter"


def _params(params: OrderSearch | dict[str, Any]) -> dict[str, Any]:
    search = params if isinstance(params, OrderSearch) else OrderSearch.from_dict(params)
    return search.to_dict()


def _name(name: str) -> str:
    return required_text(name, field="name", label="名称", max_length=NAME_LENGTH)


def _check_unique(*, owner: Any, name: str, exclude_id: int | None = None) -> None:
    taken = SavedFilter.objects.filter(owner=owner, name=name)
    if exclude_id is not None:
        taken = taken.exclude(pk=exclude_id)
    if taken.exists():
        raise DuplicateSavedFilter(f"已有名为“{name}”的常用筛选", fields={"name": "重名"})


def _owned(*, actor: Any, filter_id: int) -> SavedFilter:
    """The filter, locked, if the actor may see it; only its owner may change it."""
    saved = queries.saved_filters_for(actor).select_for_update(of=("self",)).filter(pk=filter_id).first()
    if saved is None:
        queries.saved_filter_for(actor, filter_id)  # raises NotFound
    assert saved is not None
    if saved.owner_id != actor.pk:
        raise SavedFilterNotOwned("只有创建人可以修改或删除该常用筛选")
    return saved


@transaction.atomic
def create_saved_filter(
    *, actor: Any, name: str, params: OrderSearch | dict[str, Any], is_shared: bool = False
) -> SavedFilter:
    """Save a search under a name (private unless shared); the parameters are validated first."""
    name = _name(name)
    stored = _params(params)
    _check_unique(owner=actor, name=name)
    saved = SavedFilter.objects.create(owner=actor, name=name, params=stored, is_shared=is_shared)
    audit.record(actor=actor, action="saved_filter.created", instance=saved, before={})
    return saved


@transaction.atomic
def update_saved_filter(
    *,
    actor: Any,
    filter_id: int,
    name: str | None = None,
    params: OrderSearch | dict[str, Any] | None = None,
    is_shared: bool | None = None,
) -> SavedFilter:
    """Rename, re-parameterise or (un)share one's own saved filter."""
    saved = _owned(actor=actor, filter_id=filter_id)
    before = audit.snapshot(saved)
    if name is not None:
        saved.name = _name(name)
        _check_unique(owner=actor, name=saved.name, exclude_id=saved.pk)
    if params is not None:
        saved.params = _params(params)
    if is_shared is not None:
        saved.is_shared = is_shared
    saved.save()
    after = audit.snapshot(saved)
    if audit.diff(before, after):
        audit.record(actor=actor, action="saved_filter.updated", instance=saved, before=before, after=after)
    return saved


def rename_saved_filter(*, actor: Any, filter_id: int, name: str) -> SavedFilter:
    return update_saved_filter(actor=actor, filter_id=filter_id, name=name)


def share_saved_filter(*, actor: Any, filter_id: int, is_shared: bool = True) -> SavedFilter:
    return update_saved_filter(actor=actor, filter_id=filter_id, is_shared=is_shared)


@transaction.atomic
def delete_saved_filter(*, actor: Any, filter_id: int) -> None:
    saved = _owned(actor=actor, filter_id=filter_id)
    audit.record(
        actor=actor, action="saved_filter.deleted", instance=saved, before=audit.snapshot(saved), after={}
    )
    saved.delete()


def export_orders(
    *,
    actor: Any,
    destination: str | os.PathLike[str] | IO[bytes],
    file_format: str = "csv",
    params: OrderSearch | None = None,
    order_ids: list[int] | None = None,
    selection: QuerySet[Order] | None = None,
    via: str = "api",
) -> int:
    """Write the orders the actor may see matching `params` (and `order_ids` / the `selection` queryset, when
    given: an admin selection "across all pages" stays a subquery) as CSV or XLSX.

    Personal data (receiver name/phone/address, buyer nick/email) is masked unless the actor holds
    core.view_pii; a user needs orders.export_order (a system actor — CLI without --user — exports masked).
    Every export is audited (`order.exported`: filters, format, rows, masked). Returns the row count."""
    if getattr(actor, "is_authenticated", False):
        check_permission(actor, EXPORT_PERMISSION)
    if file_format not in EXPORT_FORMATS:
        raise InvalidInput(f"不支持的导出格式：{file_format}", fields={"format": "须为 csv 或 xlsx"})
    search = params or OrderSearch()
    if getattr(actor, "is_authenticated", False):
        orders = queries.search_orders(actor, search)
    else:
        orders = queries.apply_search(Order.objects.all(), search)
    if order_ids is not None:
        orders = orders.filter(pk__in=order_ids)
    if selection is not None:
        orders = orders.filter(pk__in=selection.values("pk"))
    user = actor if getattr(actor, "is_authenticated", False) else None
    count = write_table(
        destination,
        headers=queries.EXPORT_HEADERS,
        rows=queries.export_rows(user, orders),
        file_format=file_format,
        sheet_name="订单",
    )
    changes: dict[str, Any] = {
        "filters": search.to_dict(),
        "format": file_format,
        "rows": count,
        "masked": not can_view_pii(user),
        "via": via,
    }
    if order_ids is not None or selection is not None:
        # the ids of small selections; a large one is described by its row count alone
        chosen = sorted(orders.values_list("pk", flat=True)[: AUDITED_IDS + 1])
        if len(chosen) <= AUDITED_IDS:
            changes["order_ids"] = chosen
    audit.record(actor=actor, action="order.exported", changes=changes, object_repr="订单导出")
    return count


def export_orders_file(
    *,
    actor: Any,
    destination: str | os.PathLike[str] | IO[bytes],
    file_format: str = "csv",
    filters: dict[str, Any] | None = None,
) -> int:
    """The `shopops export orders FILE [--filter key=value …]` kind: `filters` are OrderSearch parameters."""
    return export_orders(
        actor=actor,
        destination=destination,
        file_format=file_format,
        params=OrderSearch.from_dict(filters or {}),
        via="cli",
    )
