"""商品对应 API: list unmatched, map one, bulk map (dry run writes nothing); anonymous / no permission /
out of scope / permitted."""

from __future__ import annotations

import datetime as dt
import io
import zoneinfo

import pytest
import time_machine
from django.test import Client

from shopops.inventory.tests.factories import create_sku
from shopops.orders.imports import import_orders
from shopops.orders.models import OrderLine, SkuMapping
from shopops.orders.tests.factories import create_shop, stocked_sku
from shopops.orders.tests.import_fixtures import csv_bytes
from shopops.orders.tests.test_sku_mapping import HEADER, row

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 6, 2, 9, 0, tzinfo=zoneinfo.ZoneInfo("Asia/Shanghai"))
UNMATCHED = "/api/v1/orders/unmatched-skus"
MAP = "/api/v1/orders/sku-mappings"
BULK = "/api/v1/orders/sku-mappings/bulk"


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def shops():
    shop, other = create_shop(code="api-map"), create_shop(code="api-other")
    for target, rows in ((shop, [row("A1", "TB-5", 2, "b1")]), (other, [row("B1", "TB-6", 1, "b2")])):
        import_orders(
            source=io.BytesIO(csv_bytes(HEADER, rows)), filename="o.csv", actor="cli:test", shop=target.code,
            format="template",
        )  # fmt: skip
    return shop, other


def test_authorization_matrix(make_user, api_client_for, shops):
    shop, other = shops
    sku = create_sku(merchant_code="REAL-5")
    body = {"shop_id": shop.pk, "merchant_code": "TB-5", "sku_id": sku.pk}
    assert Client().get(UNMATCHED).status_code == 401
    assert Client().post(MAP, body, content_type="application/json").status_code == 401
    designer = api_client_for(make_user("designer"))
    assert designer.get(UNMATCHED).status_code == 403
    warehouse = api_client_for(make_user("warehouse"))  # sees orders, may not review them
    assert warehouse.get(UNMATCHED).status_code == 200
    assert warehouse.post(MAP, body, content_type="application/json").status_code == 403
    outsider = api_client_for(make_user("operations", shops=[other]))
    assert [item["merchant_code"] for item in outsider.get(UNMATCHED).json()] == ["TB-6"]
    refused = outsider.post(MAP, body, content_type="application/json")
    assert refused.status_code == 404
    assert refused.json()["code"] == "shop_not_found"
    assert (
        outsider.post(
            BULK, {"shop_id": shop.pk, "mode": "equal", "dry_run": True}, content_type="application/json"
        ).status_code
        == 404
    )
    assert not SkuMapping.objects.exists()

    permitted = api_client_for(make_user("customer_service"))
    listed = permitted.get(UNMATCHED, {"shop_id": shop.pk}).json()
    assert [(item["merchant_code"], item["orders"], item["units"]) for item in listed] == [("TB-5", 1, 2)]
    done = permitted.post(MAP, body, content_type="application/json")
    assert done.status_code == 200
    assert done.json()["lines"] == 1
    assert OrderLine.objects.get(order__external_id="A1").sku_id == sku.pk
    bad = permitted.post(MAP, {**body, "sku_id": 999999}, content_type="application/json")
    assert bad.status_code == 404
    assert "sku_id" in bad.json()["fields"]


def test_bulk_dry_run_counts_and_apply_maps(make_user, api_client_for, shops):
    shop, _other = shops
    sku = stocked_sku(on_hand=3, merchant_code="5")
    client = api_client_for(make_user("operations"))
    body = {"shop_id": shop.pk, "mode": "strip_prefix", "prefix": "TB-"}

    dry = client.post(BULK, {**body, "dry_run": True}, content_type="application/json")
    assert dry.status_code == 200
    assert [item["sku_merchant_code"] for item in dry.json()["candidates"]] == ["5"]
    assert not SkuMapping.objects.exists()

    done = client.post(BULK, body, content_type="application/json").json()
    assert [item["merchant_code"] for item in done["candidates"]] == ["TB-5"]
    assert done["lines"] == 1
    assert OrderLine.objects.get(order__external_id="A1").sku_id == sku.pk
    refused = client.post(BULK, {**body, "prefix": ""}, content_type="application/json")
    assert refused.status_code == 422
