from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine

from shopops.care import services
from shopops.care.models import BlockReason, Channel, Message, MessageStatus, Purpose, SendStatus
from shopops.care.tests import factories
from shopops.care.tests.sms_provider import KEY_ID, KEY_SECRET, Recorded, sms_provider
from shopops.core.switches import OUTBOUND_PAUSED, set_switch

pytestmark = pytest.mark.django_db
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
DAYTIME = dt.datetime(2026, 3, 10, 10, 0, tzinfo=SHANGHAI)


@pytest.fixture
def provider(settings: Any) -> Iterator[Recorded]:
    with sms_provider() as (url, recorded):
        settings.CARE_SMS_PROVIDER = "aliyun"
        settings.CARE_SMS_ENDPOINT = url
        settings.CARE_SMS_KEY_ID = KEY_ID
        settings.CARE_SMS_KEY_SECRET = KEY_SECRET
        yield recorded


def test_marketing_goes_only_to_customers_with_recorded_consent(provider: Recorded) -> None:
    # given
    with_consent = [factories.create_customer(consent=[Channel.SMS]) for _ in range(3)]
    email_only = factories.create_customer(consent=[Channel.EMAIL])
    never = factories.create_customer()
    withdrawn = factories.create_customer(consent=[Channel.SMS])
    factories.withdraw(withdrawn, Channel.SMS)
    template = factories.create_template()
    everyone = [*with_consent, email_only, never, withdrawn]
    # when
    send = services.create_send(
        actor="test",
        name="春季上新",
        template_id=template.pk,
        customer_ids=[c.pk for c in everyone],
        audience="测试",
        holdout_percent=0,
        seed=1,
        now=DAYTIME,
    )
    services.dispatch_send(send_id=send.pk, now=DAYTIME)
    # then
    phones = sorted(r["PhoneNumbers"] for r in provider.requests)
    assert phones == sorted(c.phone for c in with_consent)
    blocked = Message.objects.filter(send=send, status=MessageStatus.BLOCKED)
    assert sorted(blocked.values_list("customer_id", flat=True)) == sorted(
        [email_only.pk, never.pk, withdrawn.pk]
    )
    assert set(blocked.values_list("block_reason", flat=True)) == {BlockReason.NO_CONSENT}
    send.refresh_from_db()
    assert send.status == SendStatus.DONE
    sent = Message.objects.get(send=send, customer=with_consent[0])
    assert sent.body.startswith("【好物小店】")
    assert sent.body.endswith("回T退订")
    assert str(sent.cost) == "0.0450"


def test_transactional_message_needs_no_marketing_consent(provider: Recorded) -> None:
    customer = factories.create_customer()
    template = factories.create_template(purpose=Purpose.TRANSACTIONAL, body="{姓名}，您的包裹已发出")
    send = services.create_send(
        actor="test",
        name="发货通知",
        template_id=template.pk,
        customer_ids=[customer.pk],
        audience="测试",
        holdout_percent=0,
        seed=1,
        now=DAYTIME,
    )
    services.dispatch_send(send_id=send.pk, now=DAYTIME)
    message = Message.objects.get(send=send)
    assert message.status == MessageStatus.SENT
    assert "回T退订" not in message.body


def test_opt_out_arriving_mid_send_stops_the_rest(provider: Recorded, client: Any) -> None:
    # given: a send of six messages, dispatched in batches of two
    customers = [factories.create_customer(consent=[Channel.SMS]) for _ in range(6)]
    template = factories.create_template()
    send = services.create_send(
        actor="test",
        name="召回",
        template_id=template.pk,
        customer_ids=[c.pk for c in customers],
        audience="测试",
        holdout_percent=0,
        seed=3,
        now=DAYTIME,
    )
    services.dispatch_send(send_id=send.pk, now=DAYTIME, batch_size=2)
    # when: the last customer replies "TD" through the provider's up-message callback
    response = client.post(
        "/api/v1/care/sms/replies?token=cb-secret",
        data=[{"phone_number": customers[-1].phone, "content": "TD", "send_time": "2026-03-10 10:00:05"}],
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    services.dispatch_send(send_id=send.pk, now=DAYTIME, batch_size=10)
    # then
    assert len(provider.requests) == 5
    last = Message.objects.get(send=send, customer=customers[-1])
    assert (last.status, last.block_reason) == (MessageStatus.BLOCKED, BlockReason.NO_CONSENT)
    assert services.current_consent(customers[-1].pk, Channel.SMS).get_source_display() == "短信回复"


@pytest.fixture(autouse=True)
def callback_secret(settings: Any) -> None:
    settings.CARE_SMS_CALLBACK_TOKEN = "cb-secret"


def test_reply_callback_with_a_wrong_token_changes_nothing(client: Any) -> None:
    customer = factories.create_customer(consent=[Channel.SMS])
    response = client.post(
        "/api/v1/care/sms/replies?token=wrong",
        data=[{"phone_number": customer.phone, "content": "T"}],
        content_type="application/json",
    )
    assert response.status_code == 403
    assert services.current_consent(customer.pk, Channel.SMS).action == "granted"


def test_frequency_cap_blocks_the_third_marketing_message_within_seven_days(
    provider: Recorded, settings: Any
) -> None:
    settings.CARE_CAP_MESSAGES = 2
    customer = factories.create_customer(consent=[Channel.SMS])
    template = factories.create_template()
    statuses = []
    for day in (0, 2, 4, 8):
        at = DAYTIME + dt.timedelta(days=day)
        send = services.create_send(
            actor="test",
            name=f"第{day}天",
            template_id=template.pk,
            customer_ids=[customer.pk],
            audience="测试",
            holdout_percent=0,
            seed=1,
            now=at,
        )
        services.dispatch_send(send_id=send.pk, now=at)
        statuses.append(Message.objects.get(send=send).status)
    # day 4 is the third within 7 days; day 8 sees only day 2 and day 4... day 2 and 4 were sent? day 4 blocked
    assert statuses == [MessageStatus.SENT, MessageStatus.SENT, MessageStatus.BLOCKED, MessageStatus.SENT]


def test_quiet_hours_defer_messages_until_eight_in_the_morning(provider: Recorded) -> None:
    customer = factories.create_customer(consent=[Channel.SMS])
    template = factories.create_template()
    evening = dt.datetime(2026, 3, 10, 22, 30, tzinfo=SHANGHAI)
    with time_machine.travel(evening, tick=False):
        send = services.create_send(
            actor="test",
            name="夜间",
            template_id=template.pk,
            customer_ids=[customer.pk],
            audience="测试",
            holdout_percent=0,
            seed=1,
        )
        result = services.dispatch_send(send_id=send.pk)
    message = Message.objects.get(send=send)
    assert (result.deferred, message.status) == (1, MessageStatus.QUEUED)
    assert message.not_before == dt.datetime(2026, 3, 11, 8, 0, tzinfo=SHANGHAI)
    with time_machine.travel(dt.datetime(2026, 3, 11, 7, 59, tzinfo=SHANGHAI), tick=False):
        services.dispatch_send(send_id=send.pk)
    assert provider.requests == []
    with time_machine.travel(dt.datetime(2026, 3, 11, 8, 0, tzinfo=SHANGHAI), tick=False):
        services.dispatch_send(send_id=send.pk)
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert len(provider.requests) == 1


def test_outbound_paused_holds_messages_and_a_second_run_sends_each_once(provider: Recorded) -> None:
    customers = [factories.create_customer(consent=[Channel.SMS]) for _ in range(3)]
    template = factories.create_template()
    send = services.create_send(
        actor="test",
        name="暂停",
        template_id=template.pk,
        customer_ids=[c.pk for c in customers],
        audience="测试",
        holdout_percent=0,
        seed=1,
        now=DAYTIME,
    )
    set_switch(OUTBOUND_PAUSED, True, "restored copy")
    assert services.dispatch_send(send_id=send.pk, now=DAYTIME).paused
    assert provider.requests == []
    set_switch(OUTBOUND_PAUSED, False)
    services.dispatch_send(send_id=send.pk, now=DAYTIME)
    services.dispatch_send(send_id=send.pk, now=DAYTIME)
    assert len(provider.requests) == 3


def test_holdout_is_the_configured_share_of_the_eligible_and_reproducible() -> None:
    customers = [factories.create_customer(consent=[Channel.SMS]) for _ in range(200)]
    template = factories.create_template()
    ids = [c.pk for c in customers]
    plan = services.plan_send(template=template, customer_ids=ids, holdout_percent=10, seed=7, now=DAYTIME)
    again = services.plan_send(template=template, customer_ids=ids, holdout_percent=10, seed=7, now=DAYTIME)
    other = services.plan_send(template=template, customer_ids=ids, holdout_percent=10, seed=8, now=DAYTIME)
    assert len(plan.holdout) == 20
    assert len(plan.to_send) == 180
    assert plan.holdout == again.holdout
    assert plan.holdout != other.holdout
    send = services.create_send(
        actor="test",
        name="对照",
        template_id=template.pk,
        customer_ids=ids,
        audience="测试",
        holdout_percent=10,
        seed=7,
        now=DAYTIME,
    )
    held = Message.objects.filter(send=send, is_holdout=True)
    assert sorted(held.values_list("customer_id", flat=True)) == sorted(plan.holdout)
    assert set(held.values_list("status", flat=True)) == {MessageStatus.HOLDOUT}


def test_provider_refusal_marks_the_message_failed_with_the_providers_code(provider: Recorded) -> None:
    customer = factories.create_customer(consent=[Channel.SMS])
    provider.refuse.add(customer.phone)
    template = factories.create_template()
    send = services.create_send(
        actor="test",
        name="流控",
        template_id=template.pk,
        customer_ids=[customer.pk],
        audience="测试",
        holdout_percent=0,
        seed=1,
        now=DAYTIME,
    )
    services.dispatch_send(send_id=send.pk, now=DAYTIME)
    message = Message.objects.get(send=send)
    assert message.status == MessageStatus.FAILED
    assert message.error.startswith("isv.BUSINESS_LIMIT_CONTROL")
