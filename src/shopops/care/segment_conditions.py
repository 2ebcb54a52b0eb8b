"""Care's segment condition: the customer's current marketing consent on a channel (for segments)."""

from __future__ import annotations

from typing import Any

from django.db.models import OuterRef, Q, Subquery
from django.utils.translation import gettext as _

from shopops.care.models import Channel, ConsentAction, ConsentEvent, Purpose
from shopops.customers.models import Customer


def consented(channel: str) -> Q:
    latest = (
        ConsentEvent.objects.filter(customer=OuterRef("pk"), channel=channel, purpose=Purpose.MARKETING)
        .order_by("-occurred_at", "-id")
        .values("action")[:1]
    )
    ids = (
        Customer.objects.annotate(consent=Subquery(latest)).filter(consent=ConsentAction.GRANTED).values("pk")
    )
    return Q(pk__in=ids)


def marketing_consent(operator: str, value: Any) -> Q:
    """eq: has marketing consent on the channel now; ne: has none (never granted or withdrawn)."""
    channel = str(value) if str(value) in Channel.values else Channel.SMS
    return ~consented(channel) if operator == "ne" else consented(channel)


def conditions() -> list[dict[str, Any]]:
    return [
        {
            "key": "marketing_consent",
            "label": _("营销授权"),
            "kind": "choice",
            "operators": ["eq", "ne"],
            "choices": [(value, str(label)) for value, label in Channel.choices],
            "q": marketing_consent,
        }
    ]
