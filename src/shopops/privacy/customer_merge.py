"""Privacy's part of a customer merge: the merged-away profile's personal-data requests follow the person."""

from __future__ import annotations

from typing import Any

from shopops.customers.models import Customer
from shopops.privacy.models import PersonalDataRequest


def merged(source: Customer, target: Customer, **context: Any) -> None:
    """Requests stay with the person after an unmerge too: they are the person's, whichever profile."""
    PersonalDataRequest.objects.filter(customer=source).update(customer=target)
