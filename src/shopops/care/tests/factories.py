"""Care test factories: customers with consent, templates, plain orders for effect windows."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

from django.utils import timezone

from shopops.care import services
from shopops.care.models import Channel, ConsentAction, ConsentSource, MessageTemplate, Purpose
from shopops.channels.models import Shop
from shopops.customers.models import Customer
from shopops.customers.services import phone_hash
from shopops.orders.models import Order, OrderStatus

_numbers = itertools.count(1)


def create_customer(*, consent: list[str] | None = None, phone: str | None = None, **fields: Any) -> Customer:
    number = next(_numbers)
    phone = phone if phone is not None else f"1390000{number:04d}"
    customer = Customer.objects.create(
        name=fields.pop("name", f"顾客{number}"),
        phone=phone,
        phone_hash=phone_hash(phone),
        email=fields.pop("email", f"buyer{number}@example.com"),
        **fields,
    )
    for channel in consent or []:
        grant(customer, channel)
    return customer


def grant(customer: Customer, channel: str, at: dt.datetime | None = None) -> None:
    services.record_consent(
        actor="test",
        customer_id=customer.pk,
        channel=channel,
        action=ConsentAction.GRANTED,
        source=ConsentSource.SHOP_PAGE,
        evidence="店铺会员页勾选同意接收营销短信/邮件",
        occurred_at=at,
    )


def withdraw(customer: Customer, channel: str) -> None:
    services.record_consent(
        actor="test",
        customer_id=customer.pk,
        channel=channel,
        action=ConsentAction.WITHDRAWN,
        source=ConsentSource.SERVICE,
        evidence="客服记录：顾客要求不再发送",
    )


def create_template(
    *,
    channel: str = Channel.SMS,
    purpose: str = Purpose.MARKETING,
    body: str = "{姓名}您好，{店铺}新品上市，老客专享九折",
    **fields: Any,
) -> MessageTemplate:
    return MessageTemplate.objects.create(
        name=fields.pop("name", f"模板{next(_numbers)}"),
        channel=channel,
        purpose=purpose,
        body=body,
        subject=fields.pop("subject", "{店铺}会员专享"),
        signature=fields.pop("signature", "好物小店"),
        provider_template=fields.pop("provider_template", "SMS_123456"),
        **fields,
    )


def create_shop() -> Shop:
    number = next(_numbers)
    return Shop.objects.create(code=f"care-shop-{number}", name=f"关怀店铺{number}", platform="tmall")


def paid_order(*, shop: Shop, customer: Customer, paid_at: dt.datetime, amount: str) -> Order:
    return Order.objects.create(
        shop=shop,
        external_id=f"C{next(_numbers):08d}",
        customer=customer,
        placed_at=paid_at,
        paid_at=paid_at,
        paid_amount=Decimal(amount),
        goods_amount=Decimal(amount),
        status=OrderStatus.PAID,
        is_valid=True,
    )


def now() -> dt.datetime:
    return timezone.now()
