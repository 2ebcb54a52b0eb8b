import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from huey.contrib.djhuey import HUEY

from shopops.analytics.models import AdSpend, CollectSite, ReportSubscription, TrafficReport
from shopops.core.models import AuditEntry, ImportJob, ImportJobStatus
from shopops.orders.tests.factories import create_shop

pytestmark = pytest.mark.django_db

TRAFFIC_CSV = "日期,商品ID,商品名称,访客数,浏览量,支付买家数,支付金额\n2026-11-20,P1,围巾,100,300,5,500\n2026-11-21,P1,围巾,120,320,6,600\n"
AD_CSV = "日期,计划名称,花费,点击量\n2026-11-20,拉新,300,40\n"


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


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def traffic(shop, day, code="", visitors=10):
    return TrafficReport.objects.create(
        shop=shop, day=day, product_code=code, visitors=visitors, page_views=visitors * 2
    )


def test_traffic_list_shows_only_the_shops_in_scope(make_user):
    # given reports of two shops and a promoter limited to the first
    mine, other = create_shop(name="我的店"), create_shop(name="别人的店")
    traffic(mine, dt.date(2026, 11, 20), "MINE-1")
    traffic(other, dt.date(2026, 11, 20), "OTHER-1")
    promoter = make_user("promotion", shops=[mine])
    # when the promoter opens the list
    page = client_for(promoter).get(reverse("admin:analytics_trafficreport_changelist"))
    # then only their shop's row is listed
    assert page.status_code == 200
    text = page.content.decode()
    assert "MINE-1" in text
    assert "OTHER-1" not in text


def test_lists_are_forbidden_without_the_area(make_user):
    # given a warehouse user (no analytics area)
    keeper = make_user("warehouse")
    client = client_for(keeper)
    # then every analytics list is 403
    for name in ("trafficreport", "adspend", "collectsite", "reportsubscription"):
        assert client.get(reverse(f"admin:analytics_{name}_changelist")).status_code == 403


def test_traffic_import_through_the_admin_is_idempotent(
    make_user, immediate_huey, django_capture_on_commit_callbacks
):
    # given a promoter and a shop
    shop = create_shop()
    client = client_for(make_user("promotion"))
    url = reverse("admin:analytics_trafficreport_import_traffic")
    assert client.get(url).status_code == 200

    def upload():
        data = {
            "file": SimpleUploadedFile("流量.csv", TRAFFIC_CSV.encode("gb18030"), content_type="text/csv"),
            "shop": shop.pk,
            "mode": "all_or_nothing",
        }
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(url, data)
        assert response.status_code == 302
        return ImportJob.objects.latest("pk")

    # when the same file is uploaded twice (no dry run)
    first, second = upload(), upload()
    # then the first created two records, the second changed nothing
    assert first.status == ImportJobStatus.SUCCEEDED
    assert first.result["counts"]["created"] == 2
    assert second.result["counts"] == {"total": 2, "created": 0, "updated": 0, "unchanged": 2, "skipped": 0}
    assert TrafficReport.objects.filter(shop=shop).count() == 2
    assert set(TrafficReport.objects.values_list("import_job_id", flat=True)) == {first.pk}
    page = client.get(reverse("admin:analytics_trafficreport_import_job", args=[second.pk]))
    assert page.status_code == 200


def test_ad_spend_import_form_takes_the_channel(
    make_user, immediate_huey, django_capture_on_commit_callbacks
):
    shop = create_shop()
    client = client_for(make_user("promotion"))
    data = {
        "file": SimpleUploadedFile("直通车.csv", AD_CSV.encode("utf-8"), content_type="text/csv"),
        "shop": shop.pk,
        "mode": "all_or_nothing",
        "ad_channel": "直通车",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:analytics_adspend_import_ad_spend"), data)
    assert response.status_code == 302
    spend = AdSpend.objects.get()
    assert (spend.ad_channel, spend.campaign, spend.spend, spend.clicks) == (
        "直通车",
        "拉新",
        Decimal("300.00"),
        40,
    )


def test_finance_sees_the_lists_but_cannot_import(make_user):
    finance = make_user("finance")
    client = client_for(finance)
    assert client.get(reverse("admin:analytics_adspend_changelist")).status_code == 200
    assert client.get(reverse("admin:analytics_adspend_import_ad_spend")).status_code == 403


def test_collect_site_gets_a_generated_key_and_is_audited(make_user):
    # given an operator and a shop
    shop = create_shop()
    client = client_for(make_user("operations"))
    # when a site is added without a key
    response = client.post(
        reverse("admin:analytics_collectsite_add"),
        {
            "shop": shop.pk,
            "name": "官网",
            "allowed_origins": "https://shop.example.com",
            "ip_mode": "hash",
            "honour_dnt": "on",
            "is_active": "on",
        },
    )
    # then it is saved with a fresh key and an audit entry
    assert response.status_code == 302, response.content.decode()[:2000]
    site = CollectSite.objects.get()
    assert site.key.startswith("site_")
    assert len(site.key) == 37
    assert AuditEntry.objects.filter(action="collectsite.created", object_id=str(site.pk)).exists()
    # and its page shows the install block
    page = client.get(reverse("admin:analytics_collectsite_change", args=[site.pk]))
    assert page.status_code == 200
    assert 'data-testid="collect-snippet"' in page.content.decode()
    assert site.key in page.content.decode()


def test_subscription_admin_offers_only_shops_in_scope(make_user):
    mine, _other = create_shop(name="我的店A"), create_shop(name="别人的店B")
    operator = make_user("operations", shops=[mine])
    page = client_for(operator).get(reverse("admin:analytics_reportsubscription_add"))
    assert page.status_code == 200
    text = page.content.decode()
    assert "我的店A" in text
    assert "别人的店B" not in text
    assert ReportSubscription.objects.count() == 0
