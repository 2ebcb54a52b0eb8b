"""Care's part of the customer profile page: marketing consent per channel with its evidence, and the
messages sent to this customer (discovered by customers through core.extensions)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

from shopops.care import services
from shopops.care.models import Channel, ConsentAction, Message
from shopops.core.panels import Panel

VIEW = "care.view_consentevent"
LATEST = 10


def local(value: Any) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else "-"


def consent_rows(customer: Any) -> list[dict[str, Any]]:
    rows = []
    for channel, label in Channel.choices:
        event = services.current_consent(customer.pk, channel)
        if event is None:
            state = _("未授权")
        elif event.action == ConsentAction.GRANTED:
            state = _("已授权")
        else:
            state = _("已退订")
        rows.append(
            {
                "channel": str(label),
                "state": str(state),
                "granted": bool(event and event.action == ConsentAction.GRANTED),
                "source": event.get_source_display() if event else "-",
                "evidence": event.evidence if event else "",
                "at": local(event.occurred_at) if event else "-",
            }
        )
    return rows


def panels(request: HttpRequest, customer: Any) -> list[Panel]:
    if not request.user.has_perm(VIEW):
        return []
    messages = [
        {
            "send": message.send.name,
            "channel": message.get_channel_display(),
            "purpose": message.get_purpose_display(),
            "status": message.get_status_display(),
            "reason": message.get_block_reason_display() if message.block_reason else "",
            "at": local(message.sent_at or message.created_at),
        }
        for message in Message.objects.filter(customer=customer)
        .select_related("send")
        .order_by("-created_at", "-pk")[:LATEST]
    ]
    body = render_to_string(
        "admin/care/profile_panel.html",
        {"consents": consent_rows(customer), "messages": messages},
        request=request,
    )
    return [Panel(key="care", title=_("营销授权与关怀消息"), body=body, order=60)]
