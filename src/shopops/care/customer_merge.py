"""Care's rows on a customer merge: consent events and messages move to the kept profile and back."""

from __future__ import annotations

from typing import Any

from shopops.care.models import ConsentEvent, Message

CONSENTS = "care.consentevent"
MESSAGES = "care.message"


def merged(source: Any, target: Any) -> dict[str, list[int]]:
    consents = list(ConsentEvent.objects.filter(customer=source).values_list("pk", flat=True))
    ConsentEvent.objects.filter(pk__in=consents).update(customer=target)
    # a send that reached both profiles keeps the source's message where it is (one per send × customer)
    taken = set(Message.objects.filter(customer=target).values_list("send_id", "event_key"))
    messages = [
        pk
        for pk, send_id, key in Message.objects.filter(customer=source).values_list(
            "pk", "send_id", "event_key"
        )
        if (send_id, key) not in taken
    ]
    Message.objects.filter(pk__in=messages).update(customer=target)
    return {CONSENTS: consents, MESSAGES: messages}


def unmerged(source: Any, target: Any, moved: dict[str, list[int]]) -> None:
    ConsentEvent.objects.filter(pk__in=moved.get(CONSENTS, []), customer=target).update(customer=source)
    Message.objects.filter(pk__in=moved.get(MESSAGES, []), customer=target).update(customer=source)
