from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from shopops.channels.models import Shop
from shopops.core.models import AuditEntry


def make_shop(
    *, code: str = "tmall-main", name: str = "天猫旗舰店", platform: str = "tmall", **values
) -> Shop:
    defaults = {
        "contact_name": "张三",
        "contact_phone": "13812345678",
        "return_address": "浙江省杭州市余杭区文一西路969号",
    }
    return Shop.objects.create(code=code, name=name, platform=platform, **{**defaults, **values})


def test_list_shops_anonymous_is_401(db):
    # given a shop and no credentials
    make_shop()
    # when listing
    response = Client().get("/api/v1/shops")
    # then 401
    assert response.status_code == 401


def test_list_shops_without_permission_is_403(make_user, api_client_for):
    # given a designer (catalog only)
    make_shop()
    designer = make_user("designer")
    # when they list shops
    response = api_client_for(designer).get("/api/v1/shops")
    # then they are refused, naming the permission
    assert response.status_code == 403
    assert response.json() == {
        "code": "permission_denied",
        "message": "没有权限：channels.view_shop",
        "fields": {"permission": "channels.view_shop"},
    }


def test_customer_service_sees_masked_contact(make_user, api_client_for):
    # given a shop with a contact
    shop = make_shop()
    agent = make_user("customer_service")
    # when customer service reads it
    response = api_client_for(agent).get(f"/api/v1/shops/{shop.pk}")
    # then personal data is masked
    assert response.status_code == 200
    body = response.json()
    assert body["contact_name"] == "张**"
    assert body["contact_phone"] == "138****5678"
    assert body["return_address"] == "浙江省杭州市余杭区******"


def test_admin_sees_full_contact(admin_user, api_client_for):
    # given a shop with a contact
    shop = make_shop()
    # when the admin reads it
    response = api_client_for(admin_user).get(f"/api/v1/shops/{shop.pk}")
    # then every value is exact
    assert response.status_code == 200
    shop.refresh_from_db()
    assert response.json() == {
        "id": shop.pk,
        "code": "tmall-main",
        "name": "天猫旗舰店",
        "platform": "tmall",
        "timezone": "Asia/Shanghai",
        "is_active": True,
        "contact_name": "张三",
        "contact_phone": "13812345678",
        "return_address": "浙江省杭州市余杭区文一西路969号",
        "settings": {},
        "created_at": shop.created_at.astimezone(ZoneInfo("Asia/Shanghai")).isoformat(),
        "updated_at": shop.updated_at.astimezone(ZoneInfo("Asia/Shanghai")).isoformat(),
    }


def test_out_of_scope_shop_is_404(make_user, api_client_for):
    # given a user limited to one shop and another shop
    mine = make_shop(code="mine")
    other = make_shop(code="other")
    operator = make_user("operations", shops=[mine])
    client = api_client_for(operator)
    # when they read both
    # then only theirs exists for them
    assert client.get(f"/api/v1/shops/{mine.pk}").status_code == 200
    assert client.get(f"/api/v1/shops/{other.pk}").status_code == 404
    assert [item["code"] for item in client.get("/api/v1/shops").json()["items"]] == ["mine"]


def test_list_shops_filters_and_ordering(admin_user, api_client_for):
    # given shops on several platforms
    make_shop(code="jd-1", name="京东店", platform="jd")
    make_shop(code="tmall-1", name="天猫一店", platform="tmall")
    make_shop(code="tmall-2", name="天猫二店", platform="tmall", is_active=False)
    client = api_client_for(admin_user)
    # when filtering and ordering
    tmall = client.get("/api/v1/shops?platform=tmall&ordering=-code").json()
    active = client.get("/api/v1/shops?is_active=true").json()
    searched = client.get("/api/v1/shops?search=京东").json()
    # then exactly the matching shops come back in order
    assert [item["code"] for item in tmall["items"]] == ["tmall-2", "tmall-1"]
    assert tmall["count"] == 2
    assert [item["code"] for item in active["items"]] == ["jd-1", "tmall-1"]
    assert [item["code"] for item in searched["items"]] == ["jd-1"]


def test_list_shops_bad_ordering_is_422(admin_user, api_client_for):
    # given an admin
    # when ordering by an unknown key
    response = api_client_for(admin_user).get("/api/v1/shops?ordering=contact_phone")
    # then the parameter is named
    assert response.status_code == 422
    assert response.json()["fields"] == {"ordering": "不支持的排序字段"}


def test_list_shops_pagination(admin_user, api_client_for, settings):
    # given five shops
    for index in range(5):
        make_shop(code=f"shop-{index}")
    client = api_client_for(admin_user)
    # when paging
    page = client.get("/api/v1/shops?limit=2&offset=2&ordering=code").json()
    too_big = client.get(f"/api/v1/shops?limit={settings.API_MAX_PAGE_SIZE + 1}")
    # then the page and the total are exact; an oversized page is refused
    assert page["count"] == 5
    assert [item["code"] for item in page["items"]] == ["shop-2", "shop-3"]
    assert too_big.status_code == 422
    assert list(too_big.json()["fields"]) == ["limit"]


def test_list_shops_query_count(admin_user, api_client_for, django_assert_max_num_queries):
    # given many shops
    for index in range(20):
        make_shop(code=f"shop-{index:02d}")
    client = api_client_for(admin_user)
    # when listing them
    # then the number of queries does not grow with the rows
    with django_assert_max_num_queries(6):
        response = client.get("/api/v1/shops?limit=50")
    assert response.json()["count"] == 20


def test_create_shop(admin_user, api_client_for):
    # given an admin
    payload = {"code": "pdd-1", "name": "拼多多店", "platform": "pdd", "contact_phone": "13900001111"}
    # when they create a shop
    response = api_client_for(admin_user).post("/api/v1/shops", payload, content_type="application/json")
    # then it exists and is audited
    assert response.status_code == 201
    shop = Shop.objects.get(code="pdd-1")
    assert response.json()["id"] == shop.pk
    assert (shop.name, shop.platform, shop.contact_phone, shop.timezone) == (
        "拼多多店",
        "pdd",
        "13900001111",
        "Asia/Shanghai",
    )
    entry = AuditEntry.objects.get(action="shop.created")
    assert entry.object_id == str(shop.pk)
    assert entry.actor == admin_user
    assert entry.source == "api"
    assert entry.changes["code"] == [None, "pdd-1"]


def test_create_shop_without_permission_is_403_and_nothing_created(make_user, api_client_for):
    # given an operator (shops: view only)
    operator = make_user("operations")
    # when they try to create a shop
    payload = {"code": "pdd-1", "name": "拼多多店", "platform": "pdd"}
    response = api_client_for(operator).post("/api/v1/shops", payload, content_type="application/json")
    # then it is refused and nothing is written
    assert response.status_code == 403
    assert not Shop.objects.exists()
    assert not AuditEntry.objects.filter(action="shop.created").exists()


def test_create_shop_duplicate_code_is_409(admin_user, api_client_for):
    # given a shop
    make_shop(code="jd-1")
    # when another takes its code
    payload = {"code": "jd-1", "name": "另一个", "platform": "jd"}
    response = api_client_for(admin_user).post("/api/v1/shops", payload, content_type="application/json")
    # then it conflicts
    assert response.status_code == 409
    assert response.json() == {
        "code": "conflict",
        "message": "店铺编码 jd-1 已存在",
        "fields": {"code": "重复"},
    }


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({"code": "a b", "name": "x", "platform": "jd"}, {"code": "只能包含字母、数字、- 和 _"}),
        ({"code": "ok", "name": "x", "platform": "ebay"}, {"platform"}),
        (
            {"code": "ok", "name": "x", "platform": "jd", "timezone": "Mars/Base"},
            {"timezone": "不是有效的时区，例如 Asia/Shanghai"},
        ),
        ({"code": "ok", "name": "x", "platform": "jd", "contact_phone": "1" * 31}, {"contact_phone"}),
    ],
)
def test_create_shop_invalid_is_422(admin_user, api_client_for, payload, fields):
    # given an admin
    # when the shop is invalid
    response = api_client_for(admin_user).post("/api/v1/shops", payload, content_type="application/json")
    # then 422 names the fields
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid"
    if isinstance(fields, dict):
        assert body["fields"] == fields
    else:
        assert set(body["fields"]) == fields
    assert not Shop.objects.exists()


def test_update_shop(admin_user, api_client_for):
    # given a shop
    shop = make_shop()
    # when the admin changes its phone
    response = api_client_for(admin_user).patch(
        f"/api/v1/shops/{shop.pk}", {"contact_phone": "13900002222"}, content_type="application/json"
    )
    # then the phone is changed and audited before/after
    assert response.status_code == 200
    assert response.json()["contact_phone"] == "13900002222"
    shop.refresh_from_db()
    assert shop.contact_phone == "13900002222"
    entry = AuditEntry.objects.get(action="shop.updated")
    assert entry.changes == {"contact_phone": ["13812345678", "13900002222"]}


def test_update_out_of_scope_shop_is_404_and_unchanged(make_user, api_client_for, roles):
    # given an admin-role user limited to one shop
    mine = make_shop(code="mine")
    other = make_shop(code="other")
    limited_admin = make_user("admin", shops=[mine])
    # when they change the other shop
    response = api_client_for(limited_admin).patch(
        f"/api/v1/shops/{other.pk}", {"name": "改名"}, content_type="application/json"
    )
    # then it does not exist for them and nothing changed
    assert response.status_code == 404
    other.refresh_from_db()
    assert other.name == "天猫旗舰店"
    assert not AuditEntry.objects.filter(action="shop.updated").exists()


def test_update_shop_without_permission_is_403(make_user, api_client_for):
    # given customer service (shops: view only)
    shop = make_shop()
    agent = make_user("customer_service")
    # when they rename the shop
    response = api_client_for(agent).patch(
        f"/api/v1/shops/{shop.pk}", {"name": "改名"}, content_type="application/json"
    )
    # then refused, unchanged
    assert response.status_code == 403
    shop.refresh_from_db()
    assert shop.name == "天猫旗舰店"


def test_update_shop_settings_partially_and_validated(admin_user, api_client_for):
    # given a shop with one order setting
    shop = make_shop()
    shop.settings = {"ship_within_hours": 24}
    shop.save()
    client = api_client_for(admin_user)
    # when the admin sets reserve_on only
    response = client.patch(
        f"/api/v1/shops/{shop.pk}", {"settings": {"reserve_on": "created"}}, content_type="application/json"
    )
    # then the other key keeps its value and the response shows both
    assert response.status_code == 200, response.content
    assert response.json()["settings"] == {"ship_within_hours": 24, "reserve_on": "created"}
    shop.refresh_from_db()
    assert shop.settings == {"ship_within_hours": 24, "reserve_on": "created"}
    # and an invalid value is refused per field, changing nothing
    bad = client.patch(
        f"/api/v1/shops/{shop.pk}", {"settings": {"reserve_on": "never"}}, content_type="application/json"
    )
    assert bad.status_code == 422
    assert "settings.reserve_on" in bad.json()["fields"]
    shop.refresh_from_db()
    assert shop.settings["reserve_on"] == "created"
