"""Who a send goes to: a segment's members (segments.queries.member_ids) or a pasted list of customer
numbers / phone numbers. Segments is built in parallel, so it is found by app label at run time."""

from __future__ import annotations

import importlib
import re
from typing import Any

from django.apps import apps

from shopops.customers.models import Customer
from shopops.customers.services import phone_hash

_SEPARATORS = re.compile(r"[\s,，;；、]+")


def segment_model() -> Any:
    try:
        return apps.get_model("segments", "Segment")
    except LookupError:
        return None


def segment_choices() -> list[tuple[str, str]]:
    model = segment_model()
    if model is None:
        return []
    return [
        (str(pk), f"{name}（{count} 人）")
        for pk, name, count in model.objects.order_by("name").values_list("pk", "name", "member_count")
    ]


def segment_members(segment_id: int) -> tuple[str, list[int]]:
    """(the segment's name, its member ids at its last refresh)."""
    model = segment_model()
    segment = model.objects.filter(pk=segment_id).first() if model is not None else None
    if segment is None:
        return "", []
    queries = importlib.import_module("shopops.segments.queries")
    return str(segment.name), sorted(int(pk) for pk in queries.member_ids(segment))


def listed_customers(text: str) -> tuple[list[int], list[str]]:
    """Customer ids from pasted numbers (客户编号 such as 123 or #123) and phone numbers; and the
    entries that matched nobody."""
    ids: set[int] = set()
    unknown = []
    for entry in (part.strip().lstrip("#") for part in _SEPARATORS.split(text)):
        if not entry:
            continue
        digits = re.sub(r"\D", "", entry)
        found: list[int] = []
        if len(digits) >= 11:
            hashed = phone_hash(entry)
            found = (
                list(Customer.objects.filter(phone_hash=hashed).values_list("pk", flat=True))
                if hashed
                else []
            )
        elif digits == entry:
            found = list(Customer.objects.filter(pk=int(entry)).values_list("pk", flat=True))
        if found:
            ids.update(found)
        else:
            unknown.append(entry)
    return sorted(ids), unknown
