import datetime as dt

import pytest
from django.apps import apps
from django.contrib.staticfiles import finders
from django.test import Client

from shopops.core import audit
from shopops.core.models import AuditEntry


def make_shop(*, code: str = "tmall-main", **values):
    # by name: core sits below the channels app
    shop_model = apps.get_model("channels", "Shop")
    defaults = {
        "name": "天猫旗舰店",
        "platform": "tmall",
        "contact_name": "张三",
        "contact_phone": "13812345678",
    }
    return shop_model.objects.create(code=code, **{**defaults, **values})


def record_phone_change(shop, actor, new_phone: str = "13900002222") -> AuditEntry:
    before = audit.snapshot(shop)
    shop.contact_phone = new_phone
    shop.save()
    return audit.record(actor=actor, action="shop.updated", instance=shop, before=before, reason="换号")


# error body and validation


def test_validation_error_names_each_field(admin_user, api_client_for):
    # given an admin
    # when a query parameter has the wrong type
    response = api_client_for(admin_user).get("/api/v1/audit?created_after=yesterday&limit=0")
    # then 422 names both parameters
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid"
    assert body["message"] == "请求参数无效"
    assert set(body["fields"]) == {"created_after", "limit"}


def test_naive_datetime_is_refused(admin_user, api_client_for):
    # given an admin
    # when a datetime comes without an offset
    response = api_client_for(admin_user).get("/api/v1/audit?created_after=2026-01-01T00:00:00")
    # then it is refused: the API never guesses a time zone
    assert response.status_code == 422
    assert list(response.json()["fields"]) == ["created_after"]


def test_malformed_json_body_is_4xx_error_body(admin_user, api_client_for):
    # given an admin
    # when the body is not JSON
    response = api_client_for(admin_user).post(
        "/api/v1/pii/reveal", "{not json", content_type="application/json"
    )
    # then a 4xx with the error body
    assert 400 <= response.status_code < 500
    assert set(response.json()) == {"code", "message", "fields"}


def test_rate_limit_fourth_call_is_429_with_retry_after(admin_user, api_client_for, settings):
    # given a limit of three calls a minute
    settings.API_RATE_LIMIT = "3/m"
    client = api_client_for(admin_user)
    # when the token calls four times
    statuses = [client.get("/api/v1/me").status_code for _ in range(4)]
    # then the fourth is refused with a hint when to retry
    assert statuses == [200, 200, 200, 429]
    response = client.get("/api/v1/me")
    assert response.status_code == 429
    assert response.json() == {"code": "rate_limited", "message": "请求过于频繁，请稍后再试", "fields": {}}
    assert 1 <= int(response["Retry-After"]) <= 60


# docs


def test_docs_page_works_offline(db):
    # given the API docs
    # when the page is fetched
    response = Client().get("/api/docs")
    # then every asset is a local static file, none from a CDN
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in html
    assert "/static/ninja/swagger-ui.css" in html
    assert "cdn" not in html.lower()
    assert "https://" not in html


def test_docs_assets_are_served_from_the_package(db):
    # given the static files finders
    # when looking up the assets the docs page references
    # then they ship with the installed ninja package
    for asset in ("ninja/swagger-ui-bundle.js", "ninja/swagger-ui.css", "ninja/swagger-ui-init.js"):
        assert finders.find(asset) is not None, asset


def test_openapi_records_the_permission_of_each_operation(db):
    # given the published schema
    schema = Client().get("/api/openapi.json").json()
    # when reading every operation's description
    missing = [
        f"{method.upper()} {path}"
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if "Permission: " not in operation.get("description", "")
    ]
    # then each one says which permission it needs
    assert missing == []
    assert "Permission: channels.view_shop" in schema["paths"]["/api/v1/shops"]["get"]["description"]


# audit


def test_audit_anonymous_is_401(db):
    assert Client().get("/api/v1/audit").status_code == 401


def test_audit_without_permission_is_403(make_user, api_client_for):
    # given customer service (no audit area)
    agent = make_user("customer_service")
    # when they search the audit
    response = api_client_for(agent).get("/api/v1/audit")
    # then refused
    assert response.status_code == 403
    assert response.json()["fields"] == {"permission": "core.view_auditentry"}


def test_audit_lists_entries_with_exact_values(admin_user, api_client_for):
    # given one recorded change
    shop = make_shop()
    entry = record_phone_change(shop, admin_user)
    # when the admin searches for it
    response = api_client_for(admin_user).get(f"/api/v1/audit?object_type=channels.shop&object_id={shop.pk}")
    # then the entry is exact, phone unmasked for the admin
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    item = body["items"][0]
    assert item == {
        "id": entry.pk,
        "created_at": entry.created_at.astimezone(dt.timezone(dt.timedelta(hours=8))).isoformat(),
        "actor_id": admin_user.pk,
        "actor_name": "boss",
        "action": "shop.updated",
        "object_type": "channels.shop",
        "object_id": str(shop.pk),
        "object_repr": str(shop),
        "changes": item["changes"],
        "reason": "换号",
        "source": "system",
        "ip": None,
        "request_id": "",
    }
    assert item["changes"]["contact_phone"] == ["13812345678", "13900002222"]


def test_audit_masks_personal_data_without_view_pii(make_user, api_client_for, admin_user):
    # given a recorded phone change and an operator (audit view, no view_pii)
    shop = make_shop()
    record_phone_change(shop, admin_user)
    operator = make_user("operations")
    # when the operator reads the audit
    response = api_client_for(operator).get("/api/v1/audit?action=shop.updated")
    # then the phone numbers are masked
    assert response.status_code == 200
    assert response.json()["items"][0]["changes"]["contact_phone"] == ["138****5678", "139****2222"]


def test_audit_filters(admin_user, api_client_for, make_user):
    # given entries by two actors
    other = make_user("operations", username="ops")
    shop = make_shop()
    record_phone_change(shop, admin_user, "13900000001")
    record_phone_change(shop, other, "13900000002")
    audit.record(actor=other, action="thing.done", changes={})
    client = api_client_for(admin_user)
    # when filtering by actor, action, and date range
    by_actor = client.get("/api/v1/audit?actor=ops").json()
    by_action = client.get("/api/v1/audit?action=shop.updated&ordering=id").json()
    future = client.get("/api/v1/audit?created_after=2099-01-01T00:00:00%2B08:00").json()
    bad_type = client.get("/api/v1/audit?object_type=shop")
    # then exactly the matching entries
    assert [item["action"] for item in by_actor["items"]] == ["thing.done", "shop.updated"]
    assert [item["changes"]["contact_phone"][1] for item in by_action["items"]] == [
        "13900000001",
        "13900000002",
    ]
    assert future["count"] == 0
    assert bad_type.status_code == 422
    assert list(bad_type.json()["fields"]) == ["object_type"]


def test_audit_query_count(admin_user, api_client_for, django_assert_max_num_queries):
    # given many entries
    shop = make_shop()
    for index in range(20):
        record_phone_change(shop, admin_user, f"139000000{index:02d}")
    client = api_client_for(admin_user)
    # when listing them
    # then the number of queries does not grow with the rows
    with django_assert_max_num_queries(7):
        response = client.get("/api/v1/audit?action=shop.updated&limit=50")
    assert response.json()["count"] == 20


# personal data reveal


def test_reveal_anonymous_is_401(db):
    response = Client().post(
        "/api/v1/pii/reveal",
        {"object_type": "channels.shop", "object_id": 1, "reason": "x"},
        content_type="application/json",
    )
    assert response.status_code == 401


def test_reveal_by_customer_service_is_audited(make_user, api_client_for):
    # given customer service (may reveal one record at a time)
    shop = make_shop()
    agent = make_user("customer_service", username="kefu")
    payload = {"object_type": "channels.shop", "object_id": shop.pk, "reason": "联系店铺退货"}
    # when they reveal the shop's contact
    response = api_client_for(agent).post("/api/v1/pii/reveal", payload, content_type="application/json")
    # then they see it unmasked and the reveal is audited with the reason
    assert response.status_code == 200
    assert response.json() == {
        "object_type": "channels.shop",
        "object_id": shop.pk,
        "values": {"contact_name": "张三", "contact_phone": "13812345678", "return_address": ""},
    }
    entry = AuditEntry.objects.get(action="pii.revealed")
    assert (entry.actor_name, entry.object_id, entry.reason) == ("kefu", str(shop.pk), "联系店铺退货")
    assert entry.changes == {"fields": ["contact_name", "contact_phone", "return_address"]}


def test_reveal_without_permission_is_403_and_not_audited(make_user, api_client_for):
    # given a warehouse user (no reveal permission)
    shop = make_shop()
    user = make_user("warehouse")
    payload = {"object_type": "channels.shop", "object_id": shop.pk, "reason": "看看"}
    # when they try to reveal
    response = api_client_for(user).post("/api/v1/pii/reveal", payload, content_type="application/json")
    # then refused and nothing recorded
    assert response.status_code == 403
    assert not AuditEntry.objects.filter(action="pii.revealed").exists()


def test_reveal_out_of_scope_shop_is_404(make_user, api_client_for):
    # given customer service limited to another shop
    mine = make_shop(code="mine")
    other = make_shop(code="other")
    agent = make_user("customer_service", shops=[mine])
    payload = {"object_type": "channels.shop", "object_id": other.pk, "reason": "看看"}
    # when they reveal the other shop
    response = api_client_for(agent).post("/api/v1/pii/reveal", payload, content_type="application/json")
    # then it does not exist for them
    assert response.status_code == 404
    assert not AuditEntry.objects.filter(action="pii.revealed").exists()


def test_reveal_user_needs_view_user(make_user, api_client_for, admin_user):
    # given a user with a phone
    target = make_user("warehouse", phone="13700001234", real_name="王五")
    payload = {"object_type": "accounts.user", "object_id": target.pk, "reason": "核对身份"}
    # when customer service (no user area) and the admin reveal them
    refused = api_client_for(make_user("customer_service")).post(
        "/api/v1/pii/reveal", payload, content_type="application/json"
    )
    shown = api_client_for(admin_user).post("/api/v1/pii/reveal", payload, content_type="application/json")
    # then only the admin sees the values
    assert refused.status_code == 403
    assert shown.status_code == 200
    assert shown.json()["values"] == {"email": "", "phone": "13700001234", "real_name": "王五"}


@pytest.mark.parametrize(
    "payload",
    [
        {"object_type": "catalog.sku", "object_id": 1, "reason": "x"},
        {"object_type": "channels.shop", "object_id": 0, "reason": "x"},
        {"object_type": "channels.shop", "object_id": 1, "reason": "  "},
        {"object_type": "channels.shop", "object_id": 1},
    ],
)
def test_reveal_invalid_is_422(admin_user, api_client_for, payload):
    response = api_client_for(admin_user).post("/api/v1/pii/reveal", payload, content_type="application/json")
    assert response.status_code == 422
    assert response.json()["code"] == "invalid"
