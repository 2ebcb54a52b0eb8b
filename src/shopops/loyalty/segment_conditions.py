"""Conditions loyalty offers the segment builder: points balance and membership level."""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from shopops.loyalty.models import MemberLevel

NUMBER_OPERATORS = {"gte": "__gte", "lte": "__lte", "gt": "__gt", "lt": "__lt", "eq": ""}


def _balance_q(operator: str, value: Any) -> Q:
    points = int(value)
    lookup = f"member_account__balance{NUMBER_OPERATORS[operator]}"
    condition = Q(**{lookup: points})
    # a customer without an account holds 0 points
    if _zero_matches(operator, points):
        condition |= Q(member_account__isnull=True)
    return condition


def _zero_matches(operator: str, points: int) -> bool:
    return {"gte": 0 >= points, "lte": 0 <= points, "gt": 0 > points, "lt": 0 < points, "eq": points == 0}[
        operator
    ]


def _level_q(operator: str, value: Any) -> Q:
    ids = [int(item) for item in (value if isinstance(value, list | tuple) else [value])]
    base = MemberLevel.objects.order_by("rank").values_list("pk", flat=True).first()
    condition = Q(member_account__level_id__in=ids)
    if base in ids:
        condition |= Q(member_account__isnull=True)
    return ~condition if operator in ("ne", "not_in") else condition


def conditions() -> list[dict[str, Any]]:
    return [
        {
            "key": "points_balance",
            "label": _("积分余额"),
            "kind": "number",
            "operators": list(NUMBER_OPERATORS),
            "choices": [],
            "integer": True,
            "q": _balance_q,
        },
        {
            "key": "member_level",
            "label": _("会员等级"),
            "kind": "choice",
            "operators": ["eq", "ne"],
            "choices": [(str(level.pk), level.name) for level in MemberLevel.objects.order_by("rank")],
            "q": _level_q,
        },
    ]
