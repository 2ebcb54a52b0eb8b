"""Care's personal data of a customer for PIPL requests: consent events and messages (export), and
the recipient addresses and texts of the messages (anonymise; the consent ledger keeps its events)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from shopops.care.models import ConsentEvent, Message


def _local(value: Any) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else ""


def export(customer: Any) -> dict[str, list[dict[str, str]]]:
    consents = [
        {
            "渠道": event.get_channel_display(),
            "授权": event.get_action_display(),
            "方式": event.get_source_display(),
            "凭证": event.evidence,
            "时间": _local(event.occurred_at),
        }
        for event in ConsentEvent.objects.filter(customer=customer).order_by("occurred_at", "pk")
    ]
    messages = [
        {
            "发送任务": message.send.name,
            "渠道": message.get_channel_display(),
            "用途": message.get_purpose_display(),
            "状态": message.get_status_display(),
            "收件人": message.recipient,
            "内容": message.body,
            "发送时间": _local(message.sent_at),
        }
        for message in Message.objects.filter(customer=customer)
        .select_related("send")
        .order_by("created_at", "pk")
    ]
    return {"营销授权记录": consents, "关怀消息": messages}


def anonymise(customer: Any) -> int:
    """Blank the addresses and texts of the customer's messages and the evidence of their consent
    events (which may quote a phone number or reply); statuses, costs and times stay for the metrics."""
    changed = (
        Message.objects.filter(customer=customer).exclude(recipient="", body="").update(recipient="", body="")
    )
    changed += (
        ConsentEvent.objects.filter(customer=customer).exclude(evidence="已匿名").update(evidence="已匿名")
    )
    return changed
