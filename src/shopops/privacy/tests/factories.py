"""Test factories for privacy: a customer with orders in two shops, a refunded case and a tracked parcel."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils import timezone

from shopops.aftersales import services as aftersales_services
from shopops.aftersales.models import AfterSaleCase, CaseKind
from shopops.aftersales.tests.factories import Line, apply, create_order, create_shop
from shopops.channels.models import Shop
from shopops.customers.models import Customer, CustomerAccount
from shopops.customers.services import phone_hash
from shopops.fulfillment.models import Shipment, ShipmentLine, ShipmentStatus, TrackingEvent
from shopops.inventory.tests.factories import create_warehouse
from shopops.orders.models import Order, OrderStatus
from shopops.privacy import services
from shopops.privacy.models import PersonalDataRequest, RequestChannel

_sequence = itertools.count(1)
PHONE = "13812345678"


@dataclass
class Person:
    customer: Customer
    orders: list[Order]
    case: AfterSaleCase
    shipment: Shipment
    shops: list[Shop]


def create_customer(
    *, phone: str = PHONE, name: str = "张三", email: str = "zhangsan@example.com"
) -> Customer:
    number = next(_sequence)
    customer = Customer.objects.create(
        name=name, phone=phone, phone_hash=phone_hash(phone), email=email, birthday=dt.date(1990, 5, 17)
    )
    CustomerAccount.objects.create(customer=customer, platform="taobao", buyer_id=f"tb_zhang{number}")
    return customer


def give_order(
    customer: Customer, shop: Shop, *, paid_at: dt.datetime, price: str, status: str = OrderStatus.COMPLETED
) -> Order:
    order = create_order(shop=shop, lines=[Line(None, 2, Decimal(price))], status=status, paid_at=paid_at)
    account = customer.accounts.first()
    Order.objects.filter(pk=order.pk).update(
        customer=customer,
        buyer_id=account.buyer_id if account else "",
        buyer_nick="小张",
        buyer_email=customer.email,
        receiver_name=customer.name,
        receiver_phone=customer.phone,
        receiver_phone_hash=customer.phone_hash,
        receiver_phone_last4=customer.phone[-4:],
        receiver_province="浙江省",
        receiver_city="杭州市",
        receiver_district="西湖区",
        receiver_address="文三路 100 号 3 幢 501",
        receiver_postcode="310012",
        receiver_hash="f" * 64,
        buyer_message=f"请打电话 {customer.phone}",
    )
    order.refresh_from_db()
    last = max(filter(None, [customer.last_order_at, order.placed_at]))
    Customer.objects.filter(pk=customer.pk).update(
        last_order_at=last, first_order_at=customer.first_order_at or order.placed_at
    )
    return order


def create_person(*, now: dt.datetime | None = None) -> Person:
    """A customer with three completed orders in two shops, one refunded (仅退款, closed) and one parcel
    with a signed scan."""
    now = now or timezone.now()
    shops = [create_shop(platform="taobao"), create_shop(platform="jd")]
    customer = create_customer()
    orders = [
        give_order(customer, shops[0], paid_at=now - dt.timedelta(days=40), price="59.90"),
        give_order(customer, shops[1], paid_at=now - dt.timedelta(days=20), price="120.00"),
        give_order(customer, shops[0], paid_at=now - dt.timedelta(days=10), price="35.50"),
    ]
    case = apply(
        orders[0],
        kind=CaseKind.REFUND_ONLY,
        description=f"坏了，联系 {PHONE}",
        requested_amount=Decimal("30.00"),
    )
    aftersales_services.approve_case(actor=None, case_id=case.pk, note=f"已电话 {PHONE} 沟通")
    aftersales_services.refund_case(actor=None, case_id=case.pk)
    case.refresh_from_db()
    warehouse = create_warehouse()
    shipment = Shipment.objects.create(
        shop=shops[1],
        warehouse=warehouse,
        tracking_number=f"SF{next(_sequence):010d}",
        status=ShipmentStatus.DELIVERED,
        note=f"收件人：张三 {PHONE}",
    )
    ShipmentLine.objects.create(shipment=shipment, order_line=orders[1].lines.get(), quantity=2)
    TrackingEvent.objects.create(
        shipment=shipment,
        occurred_at=now - dt.timedelta(days=18),
        state="3",
        description="已签收，签收人：张三",
    )
    customer.refresh_from_db()
    return Person(customer=customer, orders=orders, case=case, shipment=shipment, shops=shops)


def create_request(customer: Customer, *, kind: str, actor: Any = None, **extra: Any) -> PersonalDataRequest:
    return services.create_request(
        actor=actor,
        kind=kind,
        channel=RequestChannel.CUSTOMER_SERVICE,
        requester="张三",
        requester_contact=PHONE,
        customer=customer,
        **extra,
    )


def verified(request: PersonalDataRequest, *, actor: Any = None) -> PersonalDataRequest:
    services.start_verification(actor=actor, request_id=request.pk)
    return services.confirm_identity(actor=actor, request_id=request.pk, method="下单手机号短信验证码")
