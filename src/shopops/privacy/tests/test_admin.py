import pytest
from django.test import Client
from django.urls import reverse

from shopops.core.models import AuditEntry
from shopops.customers.models import Customer
from shopops.privacy.models import PersonalDataRequest, RequestKind, RequestStatus
from shopops.privacy.tests.factories import PHONE, create_person, create_request, verified

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:privacy_personaldatarequest_changelist")


def logged_in(user):
    client = Client()
    client.force_login(user)
    return client


def change_url(row):
    return reverse("admin:privacy_personaldatarequest_change", args=[row.pk])


def test_the_list_and_page_show_labels_and_steps_by_permission(make_user):
    # given an open deletion request
    person = create_person()
    row = create_request(person.customer, kind=RequestKind.DELETE)
    service, operations = make_user("customer_service"), make_user("operations")
    # then 客服 sees the list with labels and the steps on the page
    listed = logged_in(service).get(CHANGELIST)
    assert listed.status_code == 200
    text = listed.content.decode()
    assert "删除" in text
    assert "已受理" in text
    assert "在线客服" in text
    assert 'data-testid="retention-summary"' in text
    page = logged_in(service).get(change_url(row)).content.decode()
    assert reverse("admin:privacy_personaldatarequest_verify_request", args=[row.pk]) in page
    assert "受理请求" in page  # the timeline's first step
    # and operations sees the page without steps
    page = logged_in(operations).get(change_url(row)).content.decode()
    assert reverse("admin:privacy_personaldatarequest_verify_request", args=[row.pk]) not in page
    assert (
        logged_in(operations)
        .post(reverse("admin:privacy_personaldatarequest_verify_request", args=[row.pk]), {"step": "apply"})
        .status_code
        == 403
    )
    # and a warehouse user sees nothing
    assert logged_in(make_user("warehouse")).get(CHANGELIST).status_code == 403
    row.refresh_from_db()
    assert row.status == RequestStatus.RECEIVED


def test_a_step_shows_a_confirmation_page_and_changes_only_on_post(make_user):
    person = create_person()
    row = verified(create_request(person.customer, kind=RequestKind.DELETE))
    client = logged_in(make_user("customer_service"))
    url = reverse("admin:privacy_personaldatarequest_complete_request", args=[row.pk])
    # when the step is opened
    page = client.get(url)
    # then it explains what deletion keeps and nothing changed
    assert page.status_code == 200
    assert "订单号、金额、时间、商品明细按电子商务法保留" in page.content.decode()
    assert Customer.objects.get(pk=person.customer.pk).phone == PHONE
    # when it is posted
    done = client.post(url, {"step": "apply"})
    assert done.status_code == 302
    row.refresh_from_db()
    assert row.status == RequestStatus.COMPLETED
    assert Customer.objects.get(pk=person.customer.pk).phone == ""


def test_registering_a_request_finds_the_customer_by_phone(make_user):
    person = create_person()
    client = logged_in(make_user("customer_service"))
    add = reverse("admin:privacy_personaldatarequest_add")
    assert client.get(add).status_code == 200
    missing = client.post(
        add, {"kind": "access", "channel": "phone", "requester": "张三", "phone": "13999999999"}
    )
    assert "没有找到这位客户" in missing.content.decode()
    response = client.post(add, {"kind": "access", "channel": "phone", "requester": "张三", "phone": PHONE})
    row = PersonalDataRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == change_url(row)
    assert row.customer == person.customer
    assert row.created_by is not None
    assert logged_in(make_user("operations")).get(add).status_code == 403


def test_the_copy_downloads_for_the_handler_only(make_user):
    person = create_person()
    row = verified(create_request(person.customer, kind=RequestKind.ACCESS))
    service = make_user("customer_service")
    client = logged_in(service)
    client.post(
        reverse("admin:privacy_personaldatarequest_complete_request", args=[row.pk]), {"step": "apply"}
    )
    download = reverse("admin:privacy_personaldatarequest_download_export", args=[row.pk])
    response = client.get(download)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert AuditEntry.objects.filter(action="personal_data_request.export_downloaded").count() == 1
    assert logged_in(make_user("operations")).get(download).status_code == 403


def test_overdue_filter_and_retention_page(make_user, settings):
    import datetime as dt

    from django.utils import timezone

    person = create_person()
    late = create_request(
        person.customer, kind=RequestKind.ACCESS, received_at=timezone.now() - dt.timedelta(days=20)
    )
    create_request(person.customer, kind=RequestKind.ACCESS)
    client = logged_in(make_user("customer_service"))
    overdue = client.get(CHANGELIST + "?due=overdue").context["cl"].result_list
    assert [row.pk for row in overdue] == [late.pk]
    # the retention rule: nothing due with 3 years, the customer due with 10 days
    assert "待匿名化的客户：0 位" in client.get(CHANGELIST).content.decode()
    settings.PRIVACY_RETENTION_DAYS = 5
    retention = reverse("admin:privacy_personaldatarequest_retention")
    assert "将匿名化 1 位" in client.get(retention).content.decode()
    assert Customer.objects.get(pk=person.customer.pk).phone == PHONE
    assert logged_in(make_user("operations")).post(retention, {"step": "apply"}).status_code == 403
    client.post(retention, {"step": "apply"})
    assert Customer.objects.get(pk=person.customer.pk).phone == ""


def test_the_customer_profile_panel_lists_the_requests(make_user, rf):
    from shopops.privacy.customer_profile import panels

    person = create_person()
    create_request(person.customer, kind=RequestKind.DELETE)
    request = rf.get("/")
    request.user = make_user("operations")
    [panel] = panels(request, person.customer)
    assert panel.title == "个人信息请求"
    assert "删除" in panel.body
    assert "已受理" in panel.body
    request.user = make_user("warehouse")
    assert panels(request, person.customer) == []
