"""Care writes: consent events, sends (plan, create with holdout, dispatch in batches), journeys.

Every marketing message is checked at the moment it goes out: the customer's latest consent event on
its channel, the frequency cap and the quiet hours; an opt-out that arrives mid-send stops the rest.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone

from shopops.aftersales.models import AfterSaleCase
from shopops.care import sms
from shopops.care.models import (
    BlockReason,
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
    SendStatus,
)
from shopops.core import audit
from shopops.core.errors import InvalidInput, NotFound
from shopops.core.switches import outbound_paused
from shopops.customers.models import Customer
from shopops.customers.services import phone_hash
from shopops.orders.models import Order, OrderStatus

UNSUBSCRIBE_SALT = "shopops.care.unsubscribe"
OPT_OUT_WORDS = {"T", "TD", "退订", "N", "0000"}
BATCH_SIZE = 200
JOURNEY_LOOKBACK_DAYS = 3
SENT_STATES = (MessageStatus.SENT, MessageStatus.DELIVERED)


def _int_setting(name: str, default: int) -> int:
    return int(sms.setting(name, str(default)))


def marketing_cap() -> tuple[int, int]:
    """(at most N marketing messages, per D days) for one customer: CARE_CAP_MESSAGES / CARE_CAP_DAYS."""
    return _int_setting("CARE_CAP_MESSAGES", 2), _int_setting("CARE_CAP_DAYS", 7)


def quiet_hours() -> tuple[int, int]:
    """(start, end) hours of shop time when no message goes out: CARE_QUIET_START / CARE_QUIET_END."""
    return _int_setting("CARE_QUIET_START", 21), _int_setting("CARE_QUIET_END", 8)


def shop_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def quiet_until(now: dt.datetime) -> dt.datetime | None:
    """When the quiet hours that `now` falls in end, or None outside them."""
    start, end = quiet_hours()
    local = now.astimezone(shop_zone())
    if local.hour >= start:
        day = local.date() + dt.timedelta(days=1)
    elif local.hour < end:
        day = local.date()
    else:
        return None
    return dt.datetime.combine(day, dt.time(end), tzinfo=shop_zone())


# Consent.


def current_consent(customer_id: int, channel: str) -> ConsentEvent | None:
    """The latest marketing consent event of the customer on the channel (its current state)."""
    return (
        ConsentEvent.objects.filter(customer_id=customer_id, channel=channel, purpose=Purpose.MARKETING)
        .order_by("-occurred_at", "-id")
        .first()
    )


def consented_ids(customer_ids: Iterable[int], channel: str) -> set[int]:
    """Those of the customers whose latest marketing consent event on the channel is a grant."""
    ids = list(customer_ids)
    latest: dict[int, str] = {}
    for start in range(0, len(ids), 500):
        rows = (
            ConsentEvent.objects.filter(
                customer_id__in=ids[start : start + 500], channel=channel, purpose=Purpose.MARKETING
            )
            .order_by("customer_id", "occurred_at", "id")
            .values_list("customer_id", "action")
        )
        for customer_id, action in rows:
            latest[customer_id] = action
    return {customer_id for customer_id, action in latest.items() if action == ConsentAction.GRANTED}


def record_consent(
    *,
    actor: Any,
    customer_id: int,
    channel: str,
    action: str,
    source: str,
    evidence: str = "",
    occurred_at: dt.datetime | None = None,
) -> ConsentEvent:
    """Append one grant or withdrawal; the ledger is never edited."""
    if channel not in Channel.values:
        raise InvalidInput("渠道无效", fields={"channel": "无效"})
    if action not in ConsentAction.values:
        raise InvalidInput("授权动作无效", fields={"action": "无效"})
    if source not in ConsentSource.values:
        raise InvalidInput("授权方式无效", fields={"source": "无效"})
    if action == ConsentAction.GRANTED and not evidence.strip():
        raise InvalidInput("记录授权须填写凭证", fields={"evidence": "必填"})
    if not Customer.objects.filter(pk=customer_id).exists():
        raise NotFound("客户不存在", fields={"customer": "不存在"})
    with transaction.atomic():
        event = ConsentEvent.objects.create(
            customer_id=customer_id,
            channel=channel,
            purpose=Purpose.MARKETING,
            action=action,
            source=source,
            evidence=evidence.strip()[:500],
            occurred_at=occurred_at or timezone.now(),
            recorded_by=audit.user_or_none(actor),
        )
        audit.record(actor=actor, action=f"consent.{action}", instance=event)
    return event


def withdraw_by_phone(*, phone: str, text: str, received_at: dt.datetime | None = None) -> int:
    """An SMS reply from `phone`: "T"/"TD"/"退订" withdraws SMS marketing consent of every customer with
    that number. Returns how many withdrawals were recorded."""
    if text.strip().upper() not in OPT_OUT_WORDS:
        return 0
    hashed = phone_hash(phone)
    if not hashed:
        return 0
    count = 0
    for customer_id in Customer.objects.filter(phone_hash=hashed).values_list("pk", flat=True):
        record_consent(
            actor="sms:reply",
            customer_id=customer_id,
            channel=Channel.SMS,
            action=ConsentAction.WITHDRAWN,
            source=ConsentSource.SMS_REPLY,
            evidence=f"短信回复「{text.strip()[:20]}」",
            occurred_at=received_at,
        )
        count += 1
    return count


def unsubscribe_token(customer_id: int, channel: str = Channel.EMAIL) -> str:
    return signing.dumps({"c": customer_id, "ch": channel}, salt=UNSUBSCRIBE_SALT, compress=True)


def read_unsubscribe_token(token: str) -> tuple[int, str]:
    try:
        data = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature as error:
        raise InvalidInput("退订链接无效", fields={"token": "无效"}) from error
    return int(data["c"]), str(data["ch"])


def unsubscribe(*, token: str) -> ConsentEvent:
    customer_id, channel = read_unsubscribe_token(token)
    return record_consent(
        actor="email:unsubscribe",
        customer_id=customer_id,
        channel=channel,
        action=ConsentAction.WITHDRAWN,
        source=ConsentSource.EMAIL_LINK,
        evidence="邮件退订链接",
    )


# Templates.


def public_url() -> str:
    return sms.setting("CARE_PUBLIC_URL", "http://localhost:8000").rstrip("/")


def unsubscribe_url(customer_id: int) -> str:
    return f"{public_url()}/api/v1/care/unsubscribe?token={unsubscribe_token(customer_id)}"


def variables(customer: Customer) -> dict[str, str]:
    zone = shop_zone()
    return {
        "姓名": customer.name or "顾客",
        "店铺": sms.setting("CARE_SHOP_NAME", "本店"),
        "最近下单": customer.last_order_at.astimezone(zone).strftime("%Y-%m-%d")
        if customer.last_order_at
        else "",
        "生日": customer.birthday.strftime("%m-%d") if customer.birthday else "",
    }


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str
    params: dict[str, str]


def render(template: MessageTemplate, customer: Customer) -> Rendered:
    """The message as the customer receives it: variables filled; a marketing SMS framed by
    【签名】 … 回T退订, a marketing email ending with its unsubscribe link."""
    values = variables(customer)
    body = template.body
    subject = template.subject
    for name, value in values.items():
        body = body.replace("{" + name + "}", value)
        subject = subject.replace("{" + name + "}", value)
    if template.channel == Channel.SMS:
        signature = template.signature or sms.setting("CARE_SMS_SIGN_NAME", "店铺")
        if not body.startswith("【"):
            body = f"【{signature}】{body}"
        if template.purpose == Purpose.MARKETING and "回T退订" not in body:
            body = f"{body} 回T退订"
    elif template.purpose == Purpose.MARKETING:
        body = f"{body}\n\n不想再收到此类邮件？退订：{unsubscribe_url(customer.pk)}"
    params = {"name": values["姓名"], "shop": values["店铺"]}
    return Rendered(subject=subject, body=body, params=params)


def sms_cost(body: str) -> Decimal:
    """Provider billing: one part up to 70 characters, else 67 characters a part, at CARE_SMS_PRICE each."""
    parts = 1 if len(body) <= 70 else math.ceil(len(body) / 67)
    return Decimal(sms.setting("CARE_SMS_PRICE", "0.045")) * parts


# Sends.


@dataclass
class Plan:
    """Who of an audience would receive a send, and why the others would not."""

    members: int = 0
    no_consent: list[int] = field(default_factory=list)
    capped: list[int] = field(default_factory=list)
    no_address: list[int] = field(default_factory=list)
    holdout: list[int] = field(default_factory=list)
    to_send: list[int] = field(default_factory=list)


def _address(customer: Customer, channel: str) -> str:
    return (customer.phone if channel == Channel.SMS else customer.email).strip()


def capped_ids(customer_ids: Iterable[int], now: dt.datetime) -> set[int]:
    limit, days = marketing_cap()
    counts: dict[int, int] = {}
    ids = list(customer_ids)
    for start in range(0, len(ids), 500):
        for customer_id in Message.objects.filter(
            customer_id__in=ids[start : start + 500],
            purpose=Purpose.MARKETING,
            status__in=SENT_STATES,
            sent_at__gt=now - dt.timedelta(days=days),
        ).values_list("customer_id", flat=True):
            counts[customer_id] = counts.get(customer_id, 0) + 1
    return {customer_id for customer_id, count in counts.items() if count >= limit}


def _holdout_draw(seed: int, ids: list[int], percent: int) -> set[int]:
    """A seeded random `percent` of the eligible (rounded), the same for the same seed and audience."""
    count = round(len(ids) * percent / 100)
    return set(random.Random(seed).sample(sorted(ids), count))


def plan_send(
    *,
    template: MessageTemplate,
    customer_ids: Sequence[int],
    holdout_percent: int,
    seed: int,
    now: dt.datetime,
) -> Plan:
    ids = sorted(set(customer_ids))
    plan = Plan(members=len(ids))
    customers = {c.pk: c for c in Customer.objects.filter(pk__in=ids).only("pk", "phone", "email")}
    ids = [i for i in ids if i in customers]
    plan.members = len(ids)
    marketing = template.purpose == Purpose.MARKETING
    consented = consented_ids(ids, template.channel) if marketing else set(ids)
    capped = capped_ids(ids, now) if marketing else set()
    eligible = []
    for customer_id in ids:
        if customer_id not in consented:
            plan.no_consent.append(customer_id)
        elif not _address(customers[customer_id], template.channel):
            plan.no_address.append(customer_id)
        elif customer_id in capped:
            plan.capped.append(customer_id)
        else:
            eligible.append(customer_id)
    held = _holdout_draw(seed, eligible, holdout_percent)
    plan.holdout = [i for i in eligible if i in held]
    plan.to_send = [i for i in eligible if i not in held]
    return plan


def create_send(
    *,
    actor: Any,
    name: str,
    template_id: int,
    customer_ids: Sequence[int],
    audience: str,
    holdout_percent: int = 10,
    seed: int | None = None,
    now: dt.datetime | None = None,
) -> Send:
    """Create and start a send: one message row per audience member (queued, in the holdout group, or
    blocked with its reason); sending itself runs in batches (`dispatch_send`)."""
    now = now or timezone.now()
    template = MessageTemplate.objects.filter(pk=template_id, is_active=True).first()
    if template is None:
        raise InvalidInput("请选择启用的消息模板", fields={"template": "无效"})
    if not 0 <= holdout_percent <= 90:
        raise InvalidInput("对照组比例须在 0–90% 之间", fields={"holdout_percent": "无效"})
    if not customer_ids:
        raise InvalidInput("发送对象为空", fields={"audience": "没有客户"})
    seed = seed if seed is not None else random.SystemRandom().randrange(1, 2**31)
    plan = plan_send(
        template=template, customer_ids=customer_ids, holdout_percent=holdout_percent, seed=seed, now=now
    )
    with transaction.atomic():
        send = Send.objects.create(
            name=name.strip()[:100] or template.name,
            template=template,
            audience=audience[:200],
            holdout_percent=holdout_percent,
            seed=seed,
            status=SendStatus.SENDING,
            created_by=audit.user_or_none(actor),
            confirmed_at=now,
        )
        rows = _plan_rows(send, template, plan, now=now, event_key="")
        Message.objects.bulk_create(rows, batch_size=500)
        audit.record(
            actor=actor,
            action="care_send.created",
            instance=send,
            changes={"to_send": len(plan.to_send), "holdout": len(plan.holdout), "members": plan.members},
        )
    return send


def _plan_rows(
    send: Send, template: MessageTemplate, plan: Plan, *, now: dt.datetime, event_key: str
) -> list[Message]:
    def row(customer_id: int, **values: Any) -> Message:
        return Message(
            send=send,
            customer_id=customer_id,
            event_key=event_key,
            channel=template.channel,
            purpose=template.purpose,
            **values,
        )

    rows = [row(i, status=MessageStatus.QUEUED) for i in plan.to_send]
    rows += [row(i, status=MessageStatus.HOLDOUT, is_holdout=True, reference_at=now) for i in plan.holdout]
    for reason, ids in (
        (BlockReason.NO_CONSENT, plan.no_consent),
        (BlockReason.NO_ADDRESS, plan.no_address),
        (BlockReason.CAPPED, plan.capped),
    ):
        rows += [row(i, status=MessageStatus.BLOCKED, block_reason=reason) for i in ids]
    return rows


@dataclass
class DispatchResult:
    sent: int = 0
    failed: int = 0
    blocked: int = 0
    deferred: int = 0
    paused: bool = False


def _deliver(message: Message, template: MessageTemplate, customer: Customer, address: str) -> None:
    rendered = render(template, customer)
    message.body = rendered.body
    message.recipient = address
    if message.channel == Channel.EMAIL:
        email = EmailMessage(subject=rendered.subject or template.name, body=rendered.body, to=[address])
        if message.purpose == Purpose.MARKETING:
            email.extra_headers["List-Unsubscribe"] = f"<{unsubscribe_url(customer.pk)}>"
        try:
            email.send(fail_silently=False)
        except OSError as error:
            message.status, message.error = MessageStatus.FAILED, str(error)[:300]
            return
        message.status = MessageStatus.SENT
        return
    provider = sms.provider()
    if provider is None:
        message.status, message.error = MessageStatus.FAILED, "未配置短信服务商"
        return
    result = provider.send(
        phone=address,
        sign_name=template.signature or sms.setting("CARE_SMS_SIGN_NAME", "店铺"),
        template_code=template.provider_template,
        params=rendered.params,
    )
    if result.accepted:
        message.status, message.provider_message_id = MessageStatus.SENT, result.message_id
        message.cost = sms_cost(rendered.body)
    else:
        message.status, message.error = MessageStatus.FAILED, f"{result.code} {result.error}".strip()[:300]


def _dispatch_one(message_id: int, now: dt.datetime, result: DispatchResult) -> None:
    with transaction.atomic():
        message = (
            Message.objects.select_for_update()
            .select_related("send__template", "customer")
            .get(pk=message_id)
        )
        if message.status != MessageStatus.QUEUED:
            return
        template, customer = message.send.template, message.customer
        if message.purpose == Purpose.MARKETING:
            consent = current_consent(customer.pk, message.channel)
            if consent is None or consent.action != ConsentAction.GRANTED:
                message.status, message.block_reason = MessageStatus.BLOCKED, BlockReason.NO_CONSENT
            elif customer.pk in capped_ids([customer.pk], now):
                message.status, message.block_reason = MessageStatus.BLOCKED, BlockReason.CAPPED
        address = _address(customer, message.channel)
        if message.status == MessageStatus.QUEUED and not address:
            message.status, message.block_reason = MessageStatus.BLOCKED, BlockReason.NO_ADDRESS
        if message.status == MessageStatus.QUEUED:
            _deliver(message, template, customer, address)
            message.sent_at = message.reference_at = now
        message.save()
    if message.status == MessageStatus.SENT:
        result.sent += 1
    elif message.status == MessageStatus.FAILED:
        result.failed += 1
    else:
        result.blocked += 1


def dispatch_send(
    *, send_id: int, now: dt.datetime | None = None, batch_size: int = BATCH_SIZE
) -> DispatchResult:
    """Send the due queued messages of a send, one batch; held while outbound is paused, deferred (not
    dropped) in quiet hours. Safe to run twice: a message leaves the queue once."""
    now = now or timezone.now()
    result = DispatchResult()
    if outbound_paused():
        result.paused = True
        return result
    due = Message.objects.filter(send_id=send_id, status=MessageStatus.QUEUED)
    wake = quiet_until(now)
    if wake is not None:
        result.deferred = due.filter(Q(not_before__isnull=True) | Q(not_before__lt=wake)).update(
            not_before=wake
        )
        return result
    ids = list(
        due.filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
        .order_by("pk")
        .values_list("pk", flat=True)[:batch_size]
    )
    for message_id in ids:
        _dispatch_one(message_id, now, result)
    send = Send.objects.get(pk=send_id)
    if (
        send.journey_id is None
        and not Message.objects.filter(send_id=send_id, status=MessageStatus.QUEUED).exists()
    ):
        Send.objects.filter(pk=send_id, status=SendStatus.SENDING).update(
            status=SendStatus.DONE, finished_at=now
        )
    return result


def dispatch_all(*, now: dt.datetime | None = None, batch_size: int = BATCH_SIZE) -> DispatchResult:
    """One round over every send with queued messages (the periodic job)."""
    total = DispatchResult()
    send_ids = (
        Message.objects.filter(status=MessageStatus.QUEUED).values_list("send_id", flat=True).distinct()
    )
    for send_id in sorted(set(send_ids)):
        part = dispatch_send(send_id=send_id, now=now, batch_size=batch_size)
        total.sent += part.sent
        total.failed += part.failed
        total.blocked += part.blocked
        total.deferred += part.deferred
        total.paused = total.paused or part.paused
    return total


def mark_delivered(
    *, provider_message_id: str, delivered: bool, error: str = "", at: dt.datetime | None = None
) -> int:
    """A provider's status report: the message is 已送达, or 失败 with the provider's reason."""
    messages = Message.objects.filter(provider_message_id=provider_message_id, status=MessageStatus.SENT)
    if delivered:
        return messages.update(status=MessageStatus.DELIVERED, delivered_at=at or timezone.now())
    return messages.update(status=MessageStatus.FAILED, error=error[:300])


# Journeys.


def _journey_send(journey: Journey) -> Send:
    send = Send.objects.filter(journey=journey).first()
    if send is None:
        send = Send.objects.create(
            name=journey.name,
            template=journey.template,
            journey=journey,
            audience=journey.get_trigger_display(),
            holdout_percent=journey.holdout_percent,
            seed=journey.pk,
            status=SendStatus.SENDING,
        )
    return send


def due_events(journey: Journey, now: dt.datetime) -> list[tuple[int, str]]:
    """(customer id, event key) pairs the journey's trigger makes due at `now`: each event once."""
    days = dt.timedelta(days=journey.days)
    since = now - days - dt.timedelta(days=JOURNEY_LOOKBACK_DAYS)
    if journey.trigger == JourneyTrigger.AFTER_DELIVERY:
        rows = Order.objects.filter(
            customer__isnull=False, delivered_at__lte=now - days, delivered_at__gt=since, is_valid=True
        ).values_list("customer_id", "pk")
        return [(customer_id, f"order:{pk}") for customer_id, pk in rows]
    if journey.trigger == JourneyTrigger.AFTERSALE_CLOSED:
        cases = AfterSaleCase.objects.filter(
            order__customer__isnull=False, closed_at__lte=now - days, closed_at__gt=since
        ).values_list("order__customer_id", "pk")
        return [(customer_id, f"case:{pk}") for customer_id, pk in cases]
    if journey.trigger == JourneyTrigger.BIRTHDAY:
        today = now.astimezone(shop_zone()).date()
        ids = Customer.objects.filter(birthday__month=today.month, birthday__day=today.day).values_list(
            "pk", flat=True
        )
        return [(customer_id, f"birthday:{today.year}") for customer_id in ids]
    last_orders = (
        Order.objects.filter(customer__isnull=False, is_valid=True)
        .exclude(status=OrderStatus.CANCELLED)
        .values("customer_id")
        .annotate(last=Max("placed_at"))
        .filter(last__lte=now - days, last__gt=since)
    )
    return [(row["customer_id"], f"last:{row['last'].date().isoformat()}") for row in last_orders]


def _in_holdout(seed: int, customer_id: int, event_key: str, percent: int) -> bool:
    digest = hashlib.sha256(f"{seed}:{customer_id}:{event_key}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 10000 < percent * 100


def run_journeys(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Queue the messages every active journey has due (once per person per trigger event), under the
    same consent / cap / holdout rules as a manual send; then dispatch them."""
    now = now or timezone.now()
    queued: dict[str, int] = {}
    for journey in Journey.objects.filter(is_active=True).select_related("template"):
        send = _journey_send(journey)
        events = due_events(journey, now)
        known = set(Message.objects.filter(send=send).values_list("customer_id", "event_key"))
        new = [(c, key) for c, key in events if (c, key) not in known]
        created = 0
        for key in sorted({key for _, key in new}):
            ids = [c for c, k in new if k == key]
            plan = plan_send(template=journey.template, customer_ids=ids, holdout_percent=0, seed=0, now=now)
            held = [i for i in plan.to_send if _in_holdout(send.seed, i, key, journey.holdout_percent)]
            plan.holdout = held
            plan.to_send = [i for i in plan.to_send if i not in set(held)]
            try:
                with transaction.atomic():
                    created += len(
                        Message.objects.bulk_create(
                            _plan_rows(send, journey.template, plan, now=now, event_key=key)
                        )
                    )
            except IntegrityError:
                continue  # a concurrent run queued them first
        queued[journey.name] = created
        dispatch_send(send_id=send.pk, now=now)
    return queued
