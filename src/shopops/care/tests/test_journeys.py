from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import RequestFactory

from shopops.care import customer_profile, personal_data, segment_conditions, services
from shopops.care.models import Channel, Journey, JourneyTrigger, Message, MessageStatus
from shopops.care.tests import factories
from shopops.customers.models import Customer

pytestmark = pytest.mark.django_db
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2026, 4, 20, 10, 0, tzinfo=SHANGHAI)


@pytest.fixture(autouse=True)
def smtp(smtp_server: Any) -> Any:
    return smtp_server


def test_recall_journey_queues_each_lapsed_customer_once_with_a_holdout(smtp: Any) -> None:
    # given: 40 customers whose last order was 30–31 days ago, 1 who bought last week
    shop = factories.create_shop()
    template = factories.create_template(channel=Channel.EMAIL, body="{姓名}，好久不见")
    journey = Journey.objects.create(
        name="30天未复购召回",
        trigger=JourneyTrigger.NO_REPURCHASE,
        days=30,
        template=template,
        holdout_percent=25,
    )
    lapsed = [factories.create_customer(consent=[Channel.EMAIL]) for _ in range(40)]
    for customer in lapsed:
        factories.paid_order(
            shop=shop, customer=customer, paid_at=NOW - dt.timedelta(days=30, hours=5), amount="99.00"
        )
    recent = factories.create_customer(consent=[Channel.EMAIL])
    factories.paid_order(shop=shop, customer=recent, paid_at=NOW - dt.timedelta(days=7), amount="99.00")
    # when: the job runs twice
    first = services.run_journeys(now=NOW)
    second = services.run_journeys(now=NOW + dt.timedelta(minutes=5))
    # then
    assert first == {journey.name: 40}
    assert second == {journey.name: 0}
    messages = Message.objects.filter(send__journey=journey)
    assert sorted(messages.values_list("customer_id", flat=True)) == sorted(c.pk for c in lapsed)
    held = messages.filter(is_holdout=True).count()
    sent = messages.filter(status=MessageStatus.SENT).count()
    assert held + sent == 40
    assert 0 < held < 40
    assert len(smtp.messages) == sent


def test_birthday_and_after_delivery_journeys_respect_consent() -> None:
    shop = factories.create_shop()
    template = factories.create_template(channel=Channel.EMAIL, body="生日快乐，{姓名}")
    Journey.objects.create(name="生日", trigger=JourneyTrigger.BIRTHDAY, template=template, holdout_percent=0)
    care = factories.create_template(channel=Channel.EMAIL, body="使用还满意吗")
    Journey.objects.create(
        name="签收关怀", trigger=JourneyTrigger.AFTER_DELIVERY, days=3, template=care, holdout_percent=0
    )
    birthday = factories.create_customer(consent=[Channel.EMAIL], birthday=dt.date(1990, 4, 20))
    no_consent = factories.create_customer(birthday=dt.date(1991, 4, 20))
    factories.create_customer(consent=[Channel.EMAIL], birthday=dt.date(1990, 4, 21))
    buyer = factories.create_customer(consent=[Channel.EMAIL])
    order = factories.paid_order(
        shop=shop, customer=buyer, paid_at=NOW - dt.timedelta(days=6), amount="10.00"
    )
    order.delivered_at = NOW - dt.timedelta(days=3, hours=1)
    order.save(update_fields=["delivered_at"])
    services.run_journeys(now=NOW)
    rows = set(Message.objects.values_list("send__journey__name", "customer_id", "status", "event_key"))
    assert rows == {
        ("生日", birthday.pk, MessageStatus.SENT, "birthday:2026"),
        ("生日", no_consent.pk, MessageStatus.BLOCKED, "birthday:2026"),
        ("签收关怀", buyer.pk, MessageStatus.SENT, f"order:{order.pk}"),
    }


def test_profile_panel_personal_data_and_segment_condition(make_user: Any) -> None:
    customer = factories.create_customer(consent=[Channel.SMS], phone="13912345678")
    other = factories.create_customer(consent=[Channel.SMS])
    factories.withdraw(other, Channel.SMS)
    template = factories.create_template(channel=Channel.EMAIL, purpose="transactional", body="发货了")
    send = services.create_send(
        actor="test",
        name="发货通知",
        template_id=template.pk,
        customer_ids=[customer.pk],
        audience="t",
        holdout_percent=0,
        seed=1,
        now=NOW,
    )
    Message.objects.filter(send=send).update(
        recipient=customer.email, body="发货了", status=MessageStatus.SENT
    )
    request = RequestFactory().get("/")
    request.user = make_user("customer_service")
    [panel] = customer_profile.panels(request, customer)
    assert "已授权" in panel.body
    assert "店铺页面" in panel.body
    assert "发货通知" in panel.body
    request.user = make_user("warehouse")
    assert customer_profile.panels(request, customer) == []
    exported = personal_data.export(customer)
    assert [row["授权"] for row in exported["营销授权记录"]] == ["同意"]
    assert exported["关怀消息"][0]["收件人"] == customer.email
    assert personal_data.anonymise(customer) == 2
    assert personal_data.export(customer)["关怀消息"][0]["收件人"] == ""
    [condition] = segment_conditions.conditions()
    has_sms = Customer.objects.filter(condition["q"]("eq", "sms"))
    assert list(has_sms) == [customer]
    assert other in Customer.objects.filter(condition["q"]("ne", "sms"))
