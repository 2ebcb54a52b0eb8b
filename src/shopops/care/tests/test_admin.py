from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from shopops.accounts.models import User
from shopops.care import services
from shopops.care.models import Channel, Journey, JourneyTrigger, Message, MessageStatus, Send
from shopops.care.tests import factories

pytestmark = pytest.mark.django_db
NEW = "admin:care_send_new_send"


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_send_flow_counts_then_confirm_creates_one_message_per_customer(
    make_user: Callable[..., User],
) -> None:
    # given
    client = logged_in(make_user("promotion"))
    consented = [factories.create_customer(consent=[Channel.SMS]) for _ in range(10)]
    without = [factories.create_customer() for _ in range(3)]
    template = factories.create_template(name="复购召回短信")
    listed = "\n".join(str(c.pk) for c in consented + without) + "\n99999"
    form = {"name": "三月召回", "template": template.pk, "customers": listed, "holdout_percent": 20}
    # when: step 1 shows the counts, nothing is created
    page = client.post(reverse(NEW), {**form, "step": "preview"})
    # then
    assert page.status_code == 200
    text = page.content.decode()
    counts = re.findall(r'data-testid="count">(\d+)<', text)
    assert counts == ["13", "3", "0", "0", "2", "8"]
    assert "99999" in text  # not found
    assert not Send.objects.exists()
    seed = re.search(r'name="seed" value="(\d+)"', text).group(1)
    # when: confirmed
    done = client.post(reverse(NEW), {**form, "step": "confirm", "seed": seed})
    # then
    send = Send.objects.get()
    assert done.status_code == 302
    assert done["Location"] == reverse("admin:care_send_change", args=[send.pk])
    assert Message.objects.filter(send=send).count() == 13
    assert Message.objects.filter(send=send, status=MessageStatus.QUEUED).count() == 8
    assert Message.objects.filter(send=send, is_holdout=True).count() == 2
    result = client.get(done["Location"])
    assert result.status_code == 200
    body = result.content.decode()
    assert "发送后 7 天" in body
    assert "Welch" in body
    assert "None" not in body


def test_viewers_cannot_create_sends_and_strangers_see_nothing(make_user: Callable[..., User]) -> None:
    template = factories.create_template()
    customer = factories.create_customer(consent=[Channel.SMS])
    form = {
        "name": "x",
        "template": template.pk,
        "customers": str(customer.pk),
        "holdout_percent": 10,
        "step": "confirm",
        "seed": "1",
    }
    viewer = logged_in(make_user("customer_service"))
    assert viewer.post(reverse(NEW), form).status_code == 403
    stranger = logged_in(make_user("warehouse"))
    assert stranger.get(reverse("admin:care_send_changelist")).status_code == 403
    anonymous = Client().post(reverse(NEW), form)
    assert anonymous.status_code == 302
    assert not Send.objects.exists()


def test_message_list_masks_phone_numbers_and_shows_labels(make_user: Callable[..., User]) -> None:
    customer = factories.create_customer(consent=[Channel.SMS], phone="13912345678")
    template = factories.create_template()
    send = services.create_send(
        actor="test",
        name="t",
        template_id=template.pk,
        customer_ids=[customer.pk],
        audience="t",
        holdout_percent=0,
        seed=1,
    )
    Message.objects.filter(send=send).update(
        recipient="13912345678", status=MessageStatus.SENT, body=f"【好物小店】{customer.name}您好 回T退订"
    )
    client = logged_in(make_user("promotion"))
    page = client.get(reverse("admin:care_message_changelist")).content.decode()
    assert "139****5678" in page
    assert "13912345678" not in page
    assert "已发送" in page
    detail = client.get(
        reverse("admin:care_message_change", args=[Message.objects.get().pk])
    ).content.decode()
    assert f"【好物小店】{customer.name[0]}**您好" in detail
    assert customer.name not in detail


def test_template_preview_renders_variables_and_the_opt_out(make_user: Callable[..., User]) -> None:
    template = factories.create_template(body="{姓名}您好，{店铺}上新")
    client = logged_in(make_user("promotion"))
    page = client.get(reverse("admin:care_messagetemplate_change", args=[template.pk])).content.decode()
    assert "【好物小店】张小花您好，本店上新 回T退订" in page


def test_journey_page_and_consent_ledger_are_listed(make_user: Callable[..., User]) -> None:
    template = factories.create_template()
    Journey.objects.create(name="30天召回", trigger=JourneyTrigger.NO_REPURCHASE, days=30, template=template)
    factories.create_customer(consent=[Channel.SMS])
    client = logged_in(make_user("promotion"))
    journeys = client.get(reverse("admin:care_journey_changelist")).content.decode()
    assert "未复购召回" in journeys
    ledger = client.get(reverse("admin:care_consentevent_changelist")).content.decode()
    assert "店铺页面" in ledger
    assert "同意" in ledger
