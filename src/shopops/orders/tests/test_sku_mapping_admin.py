"""The 商品对应 pages: the unmatched list, choosing a SKU (POST only), bulk mapping with a preview that
writes nothing; permission and shop scope on each."""

from __future__ import annotations

import datetime as dt
import io
import zoneinfo

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from shopops.inventory.tests.factories import create_sku
from shopops.orders.imports import import_orders
from shopops.orders.models import IssueStatus, OrderIssue, OrderLine, SkuMapping
from shopops.orders.tests.factories import create_shop, stocked_sku
from shopops.orders.tests.import_fixtures import csv_bytes
from shopops.orders.tests.test_sku_mapping import HEADER, row

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 6, 2, 9, 0, tzinfo=zoneinfo.ZoneInfo("Asia/Shanghai"))
UNMATCHED = "admin:orders_skumapping_unmatched"
MAP = "admin:orders_skumapping_map"
BULK = "admin:orders_skumapping_bulk"


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def waiting():
    shop = create_shop(code="tb-admin", name="淘宝新店")
    other = create_shop(code="tb-else", name="别的店")
    for target, rows in ((shop, [row("W1", "TB-77", 2, "b1")]), (other, [row("E1", "TB-88", 1, "b2")])):
        import_orders(
            source=io.BytesIO(csv_bytes(HEADER, rows)),
            filename="o.csv",
            actor="cli:test",
            shop=target.code,
            format="template",
        )
    return shop, other


def test_unmatched_page_lists_keys_of_the_users_shops(make_user, waiting):
    shop, other = waiting
    page = client_for(make_user("operations", shops=[shop])).get(reverse(UNMATCHED))
    assert page.status_code == 200
    text = page.content.decode()
    assert "TB-77" in text
    assert "TB-88" not in text  # another shop's line is out of scope
    assert "淘宝新店" in text


def test_choosing_a_sku_is_a_post_that_fixes_the_orders(make_user, waiting):
    shop, _other = waiting
    sku = stocked_sku(on_hand=5, merchant_code="REAL-77")
    client = client_for(make_user("customer_service"))
    url = reverse(MAP) + f"?shop={shop.pk}&code=TB-77&q=REAL-77"

    page = client.get(url)
    assert page.status_code == 200
    assert "REAL-77" in page.content.decode()
    assert not SkuMapping.objects.exists()  # the GET only shows the choice

    done = client.post(reverse(MAP), {"shop": shop.pk, "code": "TB-77", "sku_id": sku.pk})

    assert done.status_code == 302
    line = OrderLine.objects.get(order__external_id="W1")
    assert line.sku_id == sku.pk
    assert not OrderIssue.objects.filter(order=line.order, status=IssueStatus.OPEN).exists()


def test_map_page_refuses_without_permission_or_scope(make_user, waiting):
    shop, other = waiting
    sku = create_sku(merchant_code="REAL-78")
    viewer = client_for(make_user("warehouse"))  # sees orders, may not review them
    assert viewer.get(reverse(UNMATCHED)).status_code == 200
    assert viewer.get(reverse(MAP) + f"?shop={shop.pk}&code=TB-77").status_code == 403
    assert viewer.post(reverse(MAP), {"shop": shop.pk, "code": "TB-77", "sku_id": sku.pk}).status_code == 403
    outsider = client_for(make_user("operations", shops=[other]))
    assert (
        outsider.post(reverse(MAP), {"shop": shop.pk, "code": "TB-77", "sku_id": sku.pk}).status_code == 404
    )
    assert client_for(make_user("designer")).get(reverse(UNMATCHED)).status_code == 403
    assert not SkuMapping.objects.exists()


def test_bulk_preview_writes_nothing_and_apply_maps(make_user, waiting):
    shop, _other = waiting
    sku = create_sku(merchant_code="77")
    client = client_for(make_user("operations"))
    params = {"shop": shop.pk, "mode": "strip_prefix", "code_prefix": "TB-"}

    preview = client.get(reverse(BULK), params)

    assert preview.status_code == 200
    assert "将对应 1 个商家编码，涉及 1 个订单" in preview.content.decode()
    assert not SkuMapping.objects.exists()

    applied = client.post(reverse(BULK), {**params, "step": "apply"})

    assert applied.status_code == 302
    assert OrderLine.objects.get(order__external_id="W1").sku_id == sku.pk
    assert SkuMapping.objects.get().merchant_code == "TB-77"


def test_the_exception_queue_links_an_unmatched_sku_issue_to_its_shops_mapping_page(make_user, waiting):
    shop, _other = waiting
    page = client_for(make_user("operations")).get(reverse("admin:orders_orderissue_changelist"))
    assert f'{reverse(UNMATCHED)}?shop={shop.pk}"' in page.content.decode()
