import datetime as dt

import pytest
from django.test import Client, RequestFactory

from shopops.core.models import AuditEntry
from shopops.orders.tests.factories import create_shop
from shopops.segments import customer_profile, personal_data, services
from shopops.segments.models import CustomerTag
from shopops.segments.tests.factories import add_order, create_customer

BIG = {"op": "and", "items": [{"field": "net_spend", "operator": "gte", "value": "500"}]}


@pytest.fixture
def world(db):
    now = dt.datetime.now(dt.UTC)
    shop = create_shop()
    customer = create_customer(name="王大户", is_blacklisted=True)
    add_order(customer=customer, shop=shop, paid_at=now - dt.timedelta(days=2), paid_amount="900.00")
    services.refresh_metrics(actor="test")
    auto = services.create_tag(name="高客单", rule=BIG, actor="test")
    manual = services.create_tag(name="爱买茶", actor="test")
    services.create_segment(name="高价值客户", rule=BIG, actor="test")
    return {"customer": customer, "auto": auto, "manual": manual}


def panel_html(user, customer) -> list:
    request = RequestFactory().get(f"/admin/customers/customer/{customer.pk}/change/")
    request.user = user
    return customer_profile.panels(request, customer)


def test_panel_shows_tags_blacklist_apart_rfm_and_segments(world, make_user):
    # given
    user = make_user("operations")
    # when
    [panel] = panel_html(user, world["customer"])
    # then
    body = str(panel.body)
    assert panel.title == "标签与人群"
    assert "黑名单" in body
    assert "高客单" in body
    assert "高价值客户" in body
    assert "一般挽留客户" in body
    assert "R1F1M1" in body
    assert "¥900.00" in body
    assert "爱买茶" in body  # offered in the add-tag select
    assert panel_html(make_user("warehouse"), world["customer"]) == []


def test_tag_and_untag_by_post_are_audited_and_automatic_tags_stay(world, make_user):
    # given
    client = Client()
    client.force_login(make_user("operations"))
    customer = world["customer"]
    back = f"/admin/customers/customer/{customer.pk}/change/"
    # when
    added = client.post(
        f"/admin/segments/tag/customer/{customer.pk}/tag/", {"tag_id": world["manual"].pk, "next": back}
    )
    # then
    assert added.status_code == 302
    assert added["Location"] == back
    assert CustomerTag.objects.filter(customer=customer, tag=world["manual"]).exists()
    assert AuditEntry.objects.filter(action="customer.tagged").count() == 1
    assert client.get(f"/admin/segments/tag/customer/{customer.pk}/tag/").status_code == 405
    client.post(f"/admin/segments/tag/customer/{customer.pk}/untag/{world['auto'].pk}/", {"next": back})
    assert CustomerTag.objects.filter(customer=customer, tag=world["auto"]).exists()
    client.post(
        f"/admin/segments/tag/customer/{customer.pk}/untag/{world['manual'].pk}/",
        {"next": "https://evil.example/"},
    )
    assert not CustomerTag.objects.filter(customer=customer, tag=world["manual"]).exists()
    assert AuditEntry.objects.filter(action="customer.untagged").count() == 1


def test_tagging_needs_permission(world, make_user):
    client = Client()
    client.force_login(make_user("warehouse"))
    response = client.post(
        f"/admin/segments/tag/customer/{world['customer'].pk}/tag/", {"tag_id": world["manual"].pk}
    )
    assert response.status_code == 403
    assert not CustomerTag.objects.filter(tag=world["manual"]).exists()


def test_personal_data_export_and_anonymise_removes_manual_tags_only(world):
    customer = world["customer"]
    services.add_customer_tag(customer_id=customer.pk, tag_id=world["manual"].pk, actor="test")
    exported = personal_data.export(customer)
    assert [row["标签"] for row in exported["客户标签"]] == ["爱买茶", "高客单"]
    assert [row["人群"] for row in exported["所在人群"]] == ["高价值客户"]
    assert personal_data.anonymise(customer) == 1
    assert list(CustomerTag.objects.filter(customer=customer).values_list("tag__name", flat=True)) == [
        "高客单"
    ]
