"""Reproducible demo care: marketing consent for part of the demo customers, templates, journeys, and a
recall send 30 days ago with its holdout group, whose result page reads the demo orders after it."""

from __future__ import annotations

import datetime as dt
import random
from typing import TextIO

from django.db import connection
from django.utils import timezone

from shopops.care import services
from shopops.care.models import (
    Channel,
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    Journey,
    JourneyTrigger,
    Message,
    MessageStatus,
    MessageTemplate,
    Purpose,
    Send,
)
from shopops.catalog.demo_data import DEMO_ACTOR
from shopops.customers.models import Customer

CONSENT_SHARE = 0.6
WITHDRAWN_SHARE = 0.08
SEND_DAYS_AGO = 30
MAX_RECIPIENTS = 600
EVIDENCE = {
    ConsentSource.IMPORT: "会员资料导入：注册时勾选「接收优惠短信」",
    ConsentSource.SHOP_PAGE: "店铺会员页勾选同意接收营销短信",
    ConsentSource.SERVICE: "客服记录：顾客在旺旺中同意接收活动通知",
}


def is_empty() -> bool:
    return not MessageTemplate.objects.exists()


def load(*, seed: int, days: int, stdout: TextIO) -> dict[str, int]:
    """Consents, templates, journeys and one sent recall; adds nothing when templates exist or no customers."""
    if MessageTemplate.objects.exists() or not Customer.objects.exists():
        return {}
    generator = random.Random(seed * 7919 + 41)
    now = timezone.now()
    recall = MessageTemplate.objects.create(
        name="老客召回短信",
        channel=Channel.SMS,
        purpose=Purpose.MARKETING,
        body="{姓名}您好，好久不见！{店铺}为老顾客准备了满99减20券，本周内有效",
        signature="杭州好物",
        provider_template="SMS_290000001",
    )
    MessageTemplate.objects.create(
        name="会员日邮件",
        channel=Channel.EMAIL,
        purpose=Purpose.MARKETING,
        subject="{店铺}会员日：老顾客专享",
        body="{姓名}您好：\n\n本周六是{店铺}会员日，全场老顾客专享九折。",
    )
    care = MessageTemplate.objects.create(
        name="签收关怀短信",
        channel=Channel.SMS,
        purpose=Purpose.MARKETING,
        body="{姓名}您好，宝贝已签收几天了，使用中有任何问题可以随时联系{店铺}客服",
        signature="杭州好物",
        provider_template="SMS_290000002",
    )
    MessageTemplate.objects.create(
        name="发货通知短信",
        channel=Channel.SMS,
        purpose=Purpose.TRANSACTIONAL,
        body="{姓名}您好，您在{店铺}的订单已发货，请留意查收",
        signature="杭州好物",
        provider_template="SMS_290000003",
    )
    Journey.objects.create(
        name="30天未复购召回", trigger=JourneyTrigger.NO_REPURCHASE, days=30, template=recall, is_active=False
    )
    Journey.objects.create(
        name="签收后3天关怀", trigger=JourneyTrigger.AFTER_DELIVERY, days=3, template=care, is_active=False
    )
    customers = list(Customer.objects.exclude(phone="").order_by("pk").values_list("pk", "first_order_at"))
    consented = 0
    for customer_id, first_order_at in customers:
        if generator.random() >= CONSENT_SHARE:
            continue
        source = generator.choice(list(EVIDENCE))
        granted_at = (first_order_at or now - dt.timedelta(days=days)) - dt.timedelta(hours=1)
        services.record_consent(
            actor=DEMO_ACTOR,
            customer_id=customer_id,
            channel=Channel.SMS,
            action=ConsentAction.GRANTED,
            source=source,
            evidence=EVIDENCE[source],
            occurred_at=min(granted_at, now - dt.timedelta(days=SEND_DAYS_AGO + 1)),
        )
        consented += 1
        if generator.random() < WITHDRAWN_SHARE:
            services.record_consent(
                actor=DEMO_ACTOR,
                customer_id=customer_id,
                channel=Channel.SMS,
                action=ConsentAction.WITHDRAWN,
                source=ConsentSource.SMS_REPLY,
                evidence="短信回复「TD」",
                occurred_at=now - dt.timedelta(days=generator.randint(1, 20)),
            )
    sent = _recall_send(recall, now=now, customers=[pk for pk, _ in customers])
    return {"care_consents": consented, "care_messages": sent}


def _recall_send(template: MessageTemplate, *, now: dt.datetime, customers: list[int]) -> int:
    """The recall send 30 days ago at 10:00 shop time; the demo has no SMS provider, so its messages are
    recorded as delivered the way a provider's reports would have marked them."""
    local = timezone.localtime(now - dt.timedelta(days=SEND_DAYS_AGO))
    at = local.replace(hour=10, minute=0, second=0, microsecond=0)
    send = services.create_send(
        actor=DEMO_ACTOR,
        name="老客召回（演示）",
        template_id=template.pk,
        customer_ids=customers[:MAX_RECIPIENTS],
        audience="有短信营销授权的老客",
        holdout_percent=10,
        seed=2026,
        now=at,
    )
    queued = Message.objects.filter(send=send, status=MessageStatus.QUEUED).select_related("customer")
    count = 0
    for message in queued:
        message.body = services.render(template, message.customer).body
        message.recipient = message.customer.phone
        message.status = MessageStatus.DELIVERED
        message.sent_at = message.reference_at = at
        message.delivered_at = at + dt.timedelta(seconds=8)
        message.cost = services.sms_cost(message.body)
        message.provider_message_id = f"DEMO{message.pk:08d}^0"
        message.save()
        count += 1
    Send.objects.filter(pk=send.pk).update(status="done", finished_at=at + dt.timedelta(minutes=3))
    return count


def reset() -> None:
    Message.objects.all().delete()
    Send.objects.all().delete()
    Journey.objects.all().delete()
    MessageTemplate.objects.all().delete()
    with connection.cursor() as cursor:
        # the consent ledger is append-only; a demo reset is the one exception
        cursor.execute(f"DELETE FROM {connection.ops.quote_name(ConsentEvent._meta.db_table)}")
