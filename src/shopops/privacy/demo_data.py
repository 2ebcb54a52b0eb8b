"""Demo personal-data requests: one open copy request two days before its due date, one completed copy
(with its download) and one completed deletion (the customer anonymised, their orders kept)."""

from __future__ import annotations

import datetime as dt
import random
from typing import TextIO

from django.utils import timezone

from shopops.catalog.demo_data import DEMO_ACTOR
from shopops.customers.models import Customer
from shopops.privacy import services
from shopops.privacy.models import Erasure, PersonalDataRequest, RequestChannel, RequestKind

IDENTITY_METHOD = "向下单手机号发送短信验证码，核对一致"


def is_empty() -> bool:
    return not PersonalDataRequest.objects.exists()


def reset() -> None:
    for row in PersonalDataRequest.objects.exclude(export_file=""):
        row.export_file.delete(save=False)
    Erasure.objects.all().delete()
    PersonalDataRequest.objects.all().delete()


def _candidates(generator: random.Random) -> list[Customer]:
    customers = list(
        Customer.objects.filter(orders__isnull=False, last_order_at__isnull=False)
        .exclude(name="")
        .distinct()
        .order_by("pk")[:200]
    )
    generator.shuffle(customers)
    return [customer for customer in customers if services.deletion_block(customer) is None]


def load(*, seed: int, days: int, stdout: TextIO) -> dict[str, int]:
    """Three requests on demo customers without open business; nothing when requests exist already."""
    if PersonalDataRequest.objects.exists():
        return {}
    generator = random.Random(seed * 7919 + 12)
    customers = _candidates(generator)
    if len(customers) < 3:
        return {}
    now = timezone.now()
    due = services.due_days()
    # open: received so that two days are left, identity being verified
    waiting = services.create_request(
        actor=DEMO_ACTOR,
        kind=RequestKind.ACCESS,
        channel=RequestChannel.CUSTOMER_SERVICE,
        requester=customers[0].name,
        requester_contact=customers[0].phone,
        customer=customers[0],
        received_at=now - dt.timedelta(days=due - 2),
        note="买家在旺旺中要求提供其个人信息副本",
    )
    services.start_verification(actor=DEMO_ACTOR, request_id=waiting.pk)
    # a copy made and ready to download
    copy = services.create_request(
        actor=DEMO_ACTOR,
        kind=RequestKind.ACCESS,
        channel=RequestChannel.EMAIL,
        requester=customers[1].name,
        requester_contact=customers[1].email or customers[1].phone,
        customer=customers[1],
        received_at=now - dt.timedelta(days=6),
    )
    _finish(copy)
    # a deletion done: the person anonymised, the orders and figures kept
    deletion = services.create_request(
        actor=DEMO_ACTOR,
        kind=RequestKind.DELETE,
        channel=RequestChannel.PHONE,
        requester=customers[2].name,
        requester_contact=customers[2].phone,
        customer=customers[2],
        received_at=now - dt.timedelta(days=9),
        note="客户来电要求注销并删除个人信息",
    )
    _finish(deletion)
    stdout.write("privacy: 3 personal-data requests (1 open, 1 copy, 1 deletion)\n")
    return {"personal_data_requests": 3, "anonymised_customers": 1}


def _finish(request: PersonalDataRequest) -> None:
    services.start_verification(actor=DEMO_ACTOR, request_id=request.pk)
    services.confirm_identity(actor=DEMO_ACTOR, request_id=request.pk, method=IDENTITY_METHOD)
    services.complete_request(actor=DEMO_ACTOR, request_id=request.pk)
