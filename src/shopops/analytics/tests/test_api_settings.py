from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from huey.contrib.djhuey import HUEY

from shopops.analytics.models import CollectSite, ReportSubscription, TrafficReport
from shopops.core.models import AuditEntry
from shopops.orders.tests.factories import create_shop

pytestmark = pytest.mark.django_db

TRAFFIC_CSV = "日期,访客数,浏览量,支付买家数,支付金额\n2026-11-20,100,300,5,500\n"


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Any) -> Any:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def immediate_huey():
    was_immediate = HUEY.immediate
    HUEY.immediate = True
    yield
    HUEY.immediate = was_immediate


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("start=2026-11-20&end=2026-11-10", 422, "invalid_range"),
        ("start=2020-01-01&end=2026-11-10", 422, "range_too_long"),
        ("start=2026-11-01&end=2026-11-10&shop=nope", 404, "unknown_shop"),
        ("start=2026-11-01&end=2026-11-10&channel=myspace", 422, "invalid"),
        ("start=2026-02-30", 422, "invalid"),
    ],
)
@pytest.mark.parametrize("page", ["overview", "trend", "sources", "products", "customers", "campaigns"])
def test_report_parameters_are_refused_with_machine_codes(
    make_user, api_client_for, page, query, status, code
):
    client = api_client_for(make_user("operations"))
    response = client.get(f"/api/v1/analytics/{page}?{query}")
    assert response.status_code == status
    assert response.json()["code"] == code


@pytest.mark.parametrize(
    "page", ["overview", "trend", "sources", "products", "customers", "campaigns", "metrics"]
)
def test_reports_need_the_datacenter_permission(make_user, api_client_for, client, page):
    # anonymous: 401; a role without the analytics area: 403
    assert client.get(f"/api/v1/analytics/{page}").status_code == 401
    response = api_client_for(make_user("warehouse")).get(f"/api/v1/analytics/{page}")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_a_shop_outside_the_scope_is_unknown(make_user, api_client_for):
    mine, other = create_shop(), create_shop()
    client = api_client_for(make_user("operations", shops=[mine]))
    response = client.get(f"/api/v1/analytics/overview?shop={other.code}")
    assert (response.status_code, response.json()["code"]) == (404, "unknown_shop")


def test_traffic_import_job_runs_and_reimport_is_unchanged(
    make_user, api_client_for, immediate_huey, django_capture_on_commit_callbacks
):
    # given a promoter and a shop
    shop = create_shop()
    client = api_client_for(make_user("promotion"))

    def post():
        upload = SimpleUploadedFile("t.csv", TRAFFIC_CSV.encode("gb18030"), content_type="text/csv")
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                "/api/v1/analytics/traffic-reports/imports", {"file": upload, "shop": shop.pk}
            )
        assert response.status_code == 202, response.content
        return client.get(f"/api/v1/analytics/traffic-reports/imports/{response.json()['id']}").json()

    # when the same file is posted twice
    first, second = post(), post()
    # then the first created the report and the second changed nothing
    assert (first["status"], first["counts"]["created"]) == ("succeeded", 1)
    assert second["counts"] == {"total": 1, "created": 0, "updated": 0, "unchanged": 1, "skipped": 0}
    assert TrafficReport.objects.get().visitors == 100


def test_ad_spend_dry_run_then_confirm(
    make_user, api_client_for, immediate_huey, django_capture_on_commit_callbacks
):
    shop = create_shop()
    client = api_client_for(make_user("promotion"))
    upload = SimpleUploadedFile(
        "a.csv", "日期,计划名称,消耗\n2026-11-20,拉新,12.5\n".encode(), content_type="text/csv"
    )
    with django_capture_on_commit_callbacks(execute=True):
        checked = client.post(
            "/api/v1/analytics/ad-spend/imports",
            {"file": upload, "shop": shop.pk, "ad_channel": "万相台", "dry_run": True},
        ).json()
    job = client.get(f"/api/v1/analytics/ad-spend/imports/{checked['id']}").json()
    assert job["committed"] is False
    assert job["counts"]["created"] == 1
    with django_capture_on_commit_callbacks(execute=True):
        confirmed = client.post(f"/api/v1/analytics/ad-spend/imports/{checked['id']}/confirm")
    assert confirmed.status_code == 202
    assert (
        client.get(f"/api/v1/analytics/ad-spend/imports/{confirmed.json()['id']}").json()["committed"] is True
    )
    assert shop.ad_spend.get().ad_channel == "万相台"


def test_imports_need_the_permissions_and_a_shop_in_scope(make_user, api_client_for):
    mine, other = create_shop(), create_shop()
    upload = SimpleUploadedFile("t.csv", TRAFFIC_CSV.encode(), content_type="text/csv")
    finance = api_client_for(make_user("finance"))
    assert (
        finance.post(
            "/api/v1/analytics/traffic-reports/imports", {"file": upload, "shop": mine.pk}
        ).status_code
        == 403
    )
    promoter = api_client_for(make_user("promotion", shops=[mine]))
    upload = SimpleUploadedFile("t.csv", TRAFFIC_CSV.encode(), content_type="text/csv")
    response = promoter.post("/api/v1/analytics/traffic-reports/imports", {"file": upload, "shop": other.pk})
    assert response.status_code == 404
    assert TrafficReport.objects.count() == 0


def test_collect_site_crud_with_scope(make_user, api_client_for):
    # given an operator limited to one shop
    mine, other = create_shop(), create_shop()
    operator = make_user("operations", shops=[mine])
    client = api_client_for(operator)
    # when a site is created for their shop
    created = client.post(
        "/api/v1/analytics/collect-sites",
        {"shop_id": mine.pk, "name": "官网", "allowed_origins": ["https://shop.example.com"]},
        content_type="application/json",
    )
    # then it has a key and is audited
    assert created.status_code == 201
    body = created.json()
    assert body["key"].startswith("site_")
    assert body["allowed_origins"] == ["https://shop.example.com"]
    assert AuditEntry.objects.filter(action="collectsite.created").count() == 1
    # and a site of a shop outside the scope can be neither created nor seen
    refused = client.post(
        "/api/v1/analytics/collect-sites", {"shop_id": other.pk, "name": "x"}, content_type="application/json"
    )
    assert refused.status_code == 404
    foreign = CollectSite.objects.create(shop=other, name="他人", key="site_foreign")
    assert client.get(f"/api/v1/analytics/collect-sites/{foreign.pk}").status_code == 404
    assert (
        client.patch(
            f"/api/v1/analytics/collect-sites/{foreign.pk}",
            {"is_active": False},
            content_type="application/json",
        ).status_code
        == 404
    )
    assert CollectSite.objects.get(pk=foreign.pk).is_active is True
    listed = client.get("/api/v1/analytics/collect-sites").json()
    assert [item["id"] for item in listed["items"]] == [body["id"]]
    # when updated and deleted
    updated = client.patch(
        f"/api/v1/analytics/collect-sites/{body['id']}",
        {"ip_mode": "truncate", "key": "x"},
        content_type="application/json",
    )
    assert updated.status_code == 200
    assert updated.json()["ip_mode"] == "truncate"
    assert updated.json()["key"] == body["key"]
    assert client.delete(f"/api/v1/analytics/collect-sites/{body['id']}").status_code == 204
    assert not CollectSite.objects.filter(pk=body["id"]).exists()


def test_bad_origin_is_refused(make_user, api_client_for):
    shop = create_shop()
    client = api_client_for(make_user("operations"))
    response = client.post(
        "/api/v1/analytics/collect-sites",
        {"shop_id": shop.pk, "name": "官网", "allowed_origins": ["shop.example.com"]},
        content_type="application/json",
    )
    assert response.status_code == 422
    assert "allowed_origins" in response.json()["fields"]


def test_subscription_crud(make_user, api_client_for):
    shop = create_shop()
    operator = make_user("operations")
    reader = make_user("finance", email="cfo@example.com")
    client = api_client_for(operator)
    created = client.post(
        "/api/v1/analytics/subscriptions",
        {"user_id": reader.pk, "kind": "weekly", "shop_ids": [shop.pk]},
        content_type="application/json",
    )
    assert created.status_code == 201
    assert created.json()["shop_ids"] == [shop.pk]
    again = client.post(
        "/api/v1/analytics/subscriptions",
        {"user_id": reader.pk, "kind": "weekly"},
        content_type="application/json",
    )
    assert (again.status_code, again.json()["code"]) == (409, "subscription_exists")
    subscription_id = created.json()["id"]
    patched = client.patch(
        f"/api/v1/analytics/subscriptions/{subscription_id}",
        {"is_active": False, "shop_ids": []},
        content_type="application/json",
    )
    assert patched.json()["is_active"] is False
    assert patched.json()["shop_ids"] == []
    assert client.get("/api/v1/analytics/subscriptions").json()["count"] == 1
    assert api_client_for(make_user("warehouse")).get("/api/v1/analytics/subscriptions").status_code == 403
    assert client.delete(f"/api/v1/analytics/subscriptions/{subscription_id}").status_code == 204
    assert ReportSubscription.objects.count() == 0
