import datetime as dt
import json

import pytest
from django.test import Client

from shopops.core.models import AuditEntry
from shopops.orders.tests.factories import create_shop
from shopops.segments import services
from shopops.segments.models import CustomerTag, Segment, SegmentMember, Tag
from shopops.segments.tests.factories import add_order, create_customer


@pytest.fixture
def world(db):
    now = dt.datetime.now(dt.UTC)
    north, south = create_shop(), create_shop()
    big = create_customer(name="王大户")
    small = create_customer(name="李小单")
    other = create_customer(name="赵别店")
    add_order(customer=big, shop=north, paid_at=now - dt.timedelta(days=2), paid_amount="900.00")
    add_order(customer=small, shop=north, paid_at=now - dt.timedelta(days=40), paid_amount="20.00")
    add_order(customer=other, shop=south, paid_at=now - dt.timedelta(days=3), paid_amount="800.00")
    services.refresh_metrics(actor="test")
    return {"north": north, "south": south, "big": big, "small": small, "other": other}


def post(client: Client, path: str, body: dict):
    return client.post(path, data=json.dumps(body), content_type="application/json")


BIG_SPENDERS = {"op": "and", "items": [{"field": "net_spend", "operator": "gte", "value": "500"}]}


def test_anonymous_and_without_permission_are_refused_and_nothing_changes(world, make_user, api_client_for):
    warehouse = api_client_for(make_user("warehouse"))
    assert Client().get("/api/v1/segments").status_code == 401
    assert warehouse.get("/api/v1/segments").status_code == 403
    refused = post(warehouse, "/api/v1/segments", {"name": "x", "rule": BIG_SPENDERS})
    assert refused.status_code == 403
    tag = Tag.objects.create(name="VIP")
    refused = post(warehouse, f"/api/v1/customers/{world['big'].pk}/tags", {"tag_id": tag.pk})
    assert refused.status_code == 403
    assert not Segment.objects.exists()
    assert not CustomerTag.objects.exists()


def test_preview_then_save_then_members_masked_and_paginated(world, make_user, api_client_for):
    client = api_client_for(make_user("operations"))
    preview = post(client, "/api/v1/segments/preview", {"rule": BIG_SPENDERS})
    assert preview.status_code == 200
    body = preview.json()
    assert body["count"] == 2
    assert body["rule_text"] == "净消费（元） 大于等于 500"
    assert {row["id"] for row in body["sample"]} == {world["big"].pk, world["other"].pk}
    assert not Segment.objects.exists()

    created = post(client, "/api/v1/segments", {"name": "高价值客户", "rule": BIG_SPENDERS})
    assert created.status_code == 201, created.content
    segment_id = created.json()["id"]
    assert created.json()["member_count"] == 2
    members = client.get(f"/api/v1/segments/{segment_id}/members?limit=1")
    assert members.status_code == 200
    assert members.json()["count"] == 2
    assert len(members.json()["items"]) == 1
    names = {item["name"] for item in client.get(f"/api/v1/segments/{segment_id}/members").json()["items"]}
    assert "王大户" not in names
    assert all("*" in name for name in names)
    history = client.get(f"/api/v1/segments/{segment_id}/history").json()
    assert [item["kind_label"] for item in history["items"]] == ["进入", "进入"]
    refreshed = client.post(f"/api/v1/segments/{segment_id}/refresh")
    assert refreshed.json() == {"members": 2, "entered": 0, "left": 0}


def test_shop_limited_user_previews_only_their_customers(world, make_user, api_client_for):
    client = api_client_for(make_user("operations", shops=[world["north"]]))
    body = post(client, "/api/v1/segments/preview", {"rule": BIG_SPENDERS}).json()
    assert body["count"] == 1
    assert [row["id"] for row in body["sample"]] == [world["big"].pk]
    assert client.get(f"/api/v1/customers/{world['other'].pk}/tags").status_code == 404


def test_rule_errors_are_422_with_chinese_field_messages(world, make_user, api_client_for):
    client = api_client_for(make_user("operations"))
    bad = {"op": "and", "items": [{"field": "net_spend", "operator": "gte", "value": "很多"}]}
    response = post(client, "/api/v1/segments", {"name": "坏规则", "rule": bad})
    assert response.status_code == 422
    assert response.json()["fields"] == {"rule.items.0.value": "请输入数字"}
    response = post(client, "/api/v1/segments/preview", {"rule": {"op": "and", "items": []}})
    assert response.status_code == 422
    assert response.json()["fields"] == {"rule.items": "至少添加一个条件"}
    post(client, "/api/v1/segments", {"name": "高价值客户", "rule": BIG_SPENDERS})
    again = post(client, "/api/v1/segments", {"name": "高价值客户", "rule": BIG_SPENDERS})
    assert again.status_code == 409
    assert again.json()["fields"] == {"name": "名称已被使用"}
    assert Segment.objects.count() == 1
    assert client.get("/api/v1/segments/999999").status_code == 404


def test_manual_tags_add_remove_audited_and_automatic_tags_refused(world, make_user, api_client_for):
    client = api_client_for(make_user("operations"))
    created = post(client, "/api/v1/tags", {"name": "爱买茶"})
    assert created.status_code == 201
    tag_id = created.json()["id"]
    added = post(client, f"/api/v1/customers/{world['small'].pk}/tags", {"tag_id": tag_id})
    assert added.status_code == 201
    assert [(row["name"], row["source_label"]) for row in added.json()] == [("爱买茶", "手动")]
    assert AuditEntry.objects.filter(action="customer.tagged").count() == 1
    removed = client.delete(f"/api/v1/customers/{world['small'].pk}/tags/{tag_id}")
    assert removed.status_code == 200
    assert removed.json() == []
    assert AuditEntry.objects.filter(action="customer.untagged").count() == 1

    auto = post(client, "/api/v1/tags", {"name": "高客单", "rule": BIG_SPENDERS})
    assert auto.status_code == 201
    assert auto.json()["customer_count"] == 2
    refused = post(client, f"/api/v1/customers/{world['small'].pk}/tags", {"tag_id": auto.json()["id"]})
    assert refused.status_code == 409
    assert refused.json()["code"] == "tag_is_automatic"
    assert not CustomerTag.objects.filter(customer=world["small"], tag_id=auto.json()["id"]).exists()
    tags = client.get("/api/v1/tags").json()
    assert [(tag["name"], tag["customer_count"], tag["is_automatic"]) for tag in tags] == [
        ("爱买茶", 0, False),
        ("高客单", 2, True),
    ]
    assert SegmentMember.objects.count() == 0
