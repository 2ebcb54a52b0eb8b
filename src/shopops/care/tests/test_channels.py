from __future__ import annotations

import datetime as dt
import email
import re
from email import policy
from typing import Any

import pytest

from shopops.care import services, sms
from shopops.care.models import Channel, Message, MessageStatus
from shopops.care.tests import factories
from shopops.care.tests.sms_provider import KEY_ID, KEY_SECRET, sms_provider

pytestmark = pytest.mark.django_db
DAYTIME = dt.datetime(2026, 3, 10, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def test_aliyun_adapter_is_accepted_by_a_server_checking_aliyuns_signature() -> None:
    with sms_provider() as (url, recorded):
        adapter = sms.AliyunSms(endpoint=url, access_key_id=KEY_ID, access_key_secret=KEY_SECRET)
        recorded.refuse.add("13900000002")
        ok = adapter.send(
            phone="13900000001", sign_name="好物小店", template_code="SMS_1", params={"name": "李 四*~"}
        )
        refused = adapter.send(
            phone="13900000002", sign_name="好物小店", template_code="SMS_1", params={"name": "x"}
        )
        wrong = sms.AliyunSms(endpoint=url, access_key_id=KEY_ID, access_key_secret="other").send(
            phone="13900000003", sign_name="好物小店", template_code="SMS_1", params={}
        )
    assert ok.accepted
    assert ok.message_id == "9001^0"
    assert (refused.accepted, refused.code) == (False, "isv.BUSINESS_LIMIT_CONTROL")
    assert (wrong.accepted, wrong.code) == (False, "SignatureDoesNotMatch")
    assert recorded.bad_signatures == 1
    assert recorded.requests[0]["TemplateParam"] == '{"name": "李 四*~"}'
    assert recorded.requests[0]["SignName"] == "好物小店"


def test_tencent_adapter_is_accepted_by_a_server_checking_tc3_signature() -> None:
    with sms_provider() as (url, recorded):
        adapter = sms.TencentSms(endpoint=url, secret_id=KEY_ID, secret_key=KEY_SECRET, app_id="1400000001")
        recorded.refuse.add("13900000002")
        ok = adapter.send(
            phone="13900000001", sign_name="好物小店", template_code="1234", params={"name": "王五"}
        )
        refused = adapter.send(phone="13900000002", sign_name="好物小店", template_code="1234", params={})
        wrong = sms.TencentSms(endpoint=url, secret_id=KEY_ID, secret_key="other", app_id="1").send(
            phone="13900000003", sign_name="x", template_code="1", params={}
        )
    assert ok.accepted
    assert ok.message_id == "2645:1"
    assert (refused.accepted, refused.code) == (False, "LimitExceeded.PhoneNumberDailyLimit")
    assert (wrong.accepted, wrong.code) == (False, "AuthFailure.SignatureFailure")
    assert recorded.bad_signatures == 1
    assert recorded.requests[0]["PhoneNumberSet"] == ["+8613900000001"]
    assert recorded.requests[0]["TemplateParamSet"] == ["王五"]


def test_delivery_report_marks_the_message_delivered(settings: Any, client: Any) -> None:
    settings.CARE_SMS_CALLBACK_TOKEN = "cb"
    with sms_provider() as (url, _recorded):
        settings.CARE_SMS_PROVIDER, settings.CARE_SMS_ENDPOINT = "tencent", url
        settings.CARE_SMS_KEY_ID, settings.CARE_SMS_KEY_SECRET = KEY_ID, KEY_SECRET
        customer = factories.create_customer(consent=[Channel.SMS])
        template = factories.create_template()
        send = services.create_send(
            actor="test",
            name="t",
            template_id=template.pk,
            customer_ids=[customer.pk],
            audience="t",
            holdout_percent=0,
            seed=1,
            now=DAYTIME,
        )
        services.dispatch_send(send_id=send.pk, now=DAYTIME)
    message = Message.objects.get(send=send)
    response = client.post(
        "/api/v1/care/sms/reports?token=cb",
        data=[{"mobile": customer.phone, "report_status": "SUCCESS", "sid": message.provider_message_id}],
        content_type="application/json",
    )
    assert response.status_code == 200
    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED


def test_marketing_email_through_smtp_carries_a_working_unsubscribe_link(
    smtp_server: Any, client: Any
) -> None:
    # given
    customer = factories.create_customer(consent=[Channel.EMAIL], name="李四")
    template = factories.create_template(channel=Channel.EMAIL, body="{姓名}您好，{店铺}会员日到了")
    send = services.create_send(
        actor="test",
        name="会员日",
        template_id=template.pk,
        customer_ids=[customer.pk],
        audience="t",
        holdout_percent=0,
        seed=1,
        now=DAYTIME,
    )
    # when
    services.dispatch_send(send_id=send.pk, now=DAYTIME)
    # then: the SMTP server received it, with the link in the body and the List-Unsubscribe header
    assert len(smtp_server.messages) == 1
    recipients, raw = smtp_server.messages[0]
    assert recipients == [customer.email]
    parsed = email.message_from_bytes(raw, policy=policy.default)
    text = parsed.get_content()
    assert text.startswith("李四您好，本店会员日到了")
    link = re.search(r"https?://\S+/api/v1/care/unsubscribe\?token=\S+", text).group(0)
    assert parsed["List-Unsubscribe"].strip() == f"<{link}>"
    path = link.split("localhost:8000", 1)[1]
    page = client.get(path)
    assert page.status_code == 200
    assert "确认退订" in page.content.decode()
    assert services.current_consent(customer.pk, Channel.EMAIL).action == "granted"  # GET changes nothing
    token = path.split("token=", 1)[1]
    done = client.post("/api/v1/care/unsubscribe", data={"token": token})
    assert done.status_code == 200
    assert "您已退订" in done.content.decode()
    consent = services.current_consent(customer.pk, Channel.EMAIL)
    assert (consent.action, consent.get_source_display()) == ("withdrawn", "邮件退订链接")
    forged = client.post("/api/v1/care/unsubscribe", data={"token": token[:-2] + "xx"})
    assert forged.status_code == 400
