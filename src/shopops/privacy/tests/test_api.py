import io
import zipfile

import pytest

from shopops.core.models import AuditEntry
from shopops.privacy.models import PersonalDataRequest, RequestKind, RequestStatus
from shopops.privacy.tests.factories import PHONE, create_person, create_request

pytestmark = pytest.mark.django_db
URL = "/api/v1/privacy/requests"


def test_customer_service_registers_and_handles_a_copy_request(make_user, api_client_for):
    # given a customer and a 客服 (change on the privacy area)
    person = create_person()
    client = api_client_for(make_user("customer_service"))
    # when a copy request is registered by phone and taken through the workflow
    created = client.post(
        URL,
        {
            "kind": "access",
            "channel": "phone",
            "requester": "张三",
            "requester_contact": PHONE,
            "phone": PHONE,
        },
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["customer_id"], body["status"], body["status_label"], body["kind_label"]) == (
        person.customer.pk,
        "received",
        "已受理",
        "查阅复制",
    )
    request_id = body["id"]
    for step, extra in (("verify", {}), ("confirm_identity", {"method": "短信验证码"}), ("complete", {})):
        response = client.post(
            f"{URL}/{request_id}/advance", {"action": step, **extra}, content_type="application/json"
        )
        assert response.status_code == 200, response.content
    assert response.json()["status"] == "completed"
    assert response.json()["has_export"] is True
    # then the copy downloads as a zip holding the person's phone
    download = client.get(f"{URL}/{request_id}/export")
    assert download.status_code == 200
    content = b"".join(download.streaming_content)
    assert PHONE in zipfile.ZipFile(io.BytesIO(content)).read("personal-data.json").decode()
    assert AuditEntry.objects.filter(action="personal_data_request.export_downloaded").count() == 1


def test_operations_may_read_but_not_handle_or_download(make_user, api_client_for):
    # given a completed copy request and an operations user (view on the privacy area)
    person = create_person()
    row = create_request(person.customer, kind=RequestKind.ACCESS)
    client = api_client_for(make_user("operations"))
    # then the list shows it with the requester masked
    listed = client.get(URL)
    assert listed.status_code == 200
    assert [(item["id"], item["requester"]) for item in listed.json()["items"]] == [(row.pk, "张**")]
    # and advancing, creating and downloading are refused in Chinese, with nothing changed
    refused = client.post(f"{URL}/{row.pk}/advance", {"action": "verify"}, content_type="application/json")
    assert refused.status_code == 403
    assert refused.json()["message"].startswith("没有权限")
    assert client.get(f"{URL}/{row.pk}/export").status_code == 403
    created = client.post(
        URL,
        {"kind": "access", "channel": "phone", "requester": "x", "phone": PHONE},
        content_type="application/json",
    )
    assert created.status_code == 403
    row.refresh_from_db()
    assert row.status == RequestStatus.RECEIVED
    assert PersonalDataRequest.objects.count() == 1


def test_users_without_the_privacy_area_and_anonymous_callers_are_refused(make_user, api_client_for, client):
    person = create_person()
    row = create_request(person.customer, kind=RequestKind.ACCESS)
    assert api_client_for(make_user("warehouse")).get(f"{URL}/{row.pk}").status_code == 403
    assert client.get(URL).status_code == 401


def test_errors_are_4xx_with_chinese_messages(make_user, api_client_for):
    # given a 客服 and a request still waiting for identity verification
    person = create_person()
    client = api_client_for(make_user("customer_service"))
    row = create_request(person.customer, kind=RequestKind.DELETE)
    # an unknown phone
    missing = client.post(
        URL,
        {"kind": "access", "channel": "phone", "requester": "张三", "phone": "13999999999"},
        content_type="application/json",
    )
    assert missing.status_code == 404
    assert missing.json()["message"] == "没有找到这位客户"
    # no way to find the customer
    nothing = client.post(
        URL, {"kind": "access", "channel": "phone", "requester": "张三"}, content_type="application/json"
    )
    assert nothing.status_code == 422
    assert nothing.json()["fields"] == {"customer": "必填其一"}
    # a correction without values
    empty = client.post(
        URL,
        {"kind": "correct", "channel": "phone", "requester": "张三", "phone": PHONE},
        content_type="application/json",
    )
    assert empty.status_code == 422
    assert empty.json()["message"] == "更正请求须填写要更正的内容"
    # completing before verifying
    early = client.post(f"{URL}/{row.pk}/advance", {"action": "complete"}, content_type="application/json")
    assert early.status_code == 409
    assert early.json()["message"] == "请求当前为“已受理”，不能改为“已完成”"
    # a rejection without a reason
    bare = client.post(f"{URL}/{row.pk}/advance", {"action": "reject"}, content_type="application/json")
    assert bare.status_code == 422
    assert bare.json()["message"] == "拒绝原因不能为空"
    # an unknown request, and an export that does not exist
    assert client.get(f"{URL}/999999").status_code == 404
    assert client.get(f"{URL}/{row.pk}/export").json()["message"] == "这个请求没有可下载的导出文件"
    row.refresh_from_db()
    assert row.status == RequestStatus.RECEIVED


def test_requests_of_customers_outside_the_users_shops_answer_404(make_user, api_client_for):
    # given a 客服 limited to a shop where the customer never ordered
    person = create_person()
    row = create_request(person.customer, kind=RequestKind.ACCESS)
    from shopops.aftersales.tests.factories import create_shop

    client = api_client_for(make_user("customer_service", shops=[create_shop()]))
    assert client.get(f"{URL}/{row.pk}").status_code == 404
    assert client.get(URL).json()["count"] == 0
    refused = client.post(f"{URL}/{row.pk}/advance", {"action": "verify"}, content_type="application/json")
    assert refused.status_code == 404
