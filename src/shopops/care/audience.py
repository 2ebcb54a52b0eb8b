"""Who a send goes to: a segment's members (segments.queries.member_ids) or a pasted list of customer
numbers / phone numbers."""

from __future__ import annotations

import re

from django.utils.translation import gettext as _

from shopops.customers.models import Customer
from shopops.customers.services import phone_hash
from shopops.segments import queries as segment_queries
from shopops.segments.models import Segment

_SEPARATORS = re.compile(r"[\s,，;；、]+")


def segment_choices() -> list[tuple[str, str]]:
    return [
        (str(pk), _("%(name)s（%(count)s 人）") % {"name": name, "count": count})
        for pk, name, count in Segment.objects.order_by("name").values_list("pk", "name", "member_count")
    ]


def segment_members(segment_id: int) -> tuple[str, list[int]]:
    """(the segment's name, its member ids at its last refresh)."""
    segment = Segment.objects.filter(pk=segment_id).first()
    if segment is None:
        return "", []
    return str(segment.name), sorted(int(pk) for pk in segment_queries.member_ids(segment))


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
