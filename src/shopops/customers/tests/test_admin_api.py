import pytest
from django.test import Client
from django.urls import reverse

from shopops.catalog.tests.factories import create_shop
from shopops.channels.models import Platform
from shopops.core.models import AuditEntry
from shopops.customers.models import Customer, CustomerAccount
from shopops.customers.services import phone_hash
from shopops.orders.tests.test_queries import make_order


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def world(db):
    tmall = create_shop(code="tm-c", platform=Platform.TMALL)
    jd = create_shop(code="jd-c", platform=Platform.JD)
    zhang = Customer.objects.create(
        name="张三", phone="13800131234", phone_hash=phone_hash("13800131234"), email="zhang@example.com"
    )
    CustomerAccount.objects.create(customer=zhang, platform="tmall", buyer_id="tb_zhang")
    li = Customer.objects.create(name="李四", phone="13900135678", phone_hash=phone_hash("13900135678"))
    make_order(shop=tmall, customer=zhang)
    make_order(shop=tmall, customer=zhang)
    make_order(shop=jd, customer=li)
    return {"tmall": tmall, "jd": jd, "zhang": zhang, "li": li}


def test_api_anonymous_and_without_permission_are_refused(world, make_user, api_client_for):
    designer = api_client_for(make_user("designer"))
    paths = ["/api/v1/customers", f"/api/v1/customers/{world['zhang'].pk}"]
    assert [Client().get(path).status_code for path in paths] == [401, 401]
    refused = [designer.get(path) for path in paths]
    assert [response.status_code for response in refused] == [403, 403]
    assert refused[0].json()["fields"] == {"permission": "customers.view_customer"}


def test_api_list_and_detail_are_masked(world, make_user, api_client_for):
    # given customer service (no core.view_pii)
    client = api_client_for(make_user("customer_service"))
    # when
    listed = client.get("/api/v1/customers").json()
    detail = client.get(f"/api/v1/customers/{world['zhang'].pk}").json()
    # then
    assert [(item["name"], item["phone"], item["order_count"]) for item in listed["items"]] == [
        ("李**", "139****5678", 1),
        ("张**", "138****1234", 2),
    ]
    assert (detail["email"], detail["accounts"][0]["platform"], detail["accounts"][0]["buyer_id"]) == (
        "z***@example.com",
        "tmall",
        "t**",
    )


def test_api_shows_full_values_with_view_pii(world, make_user, api_client_for):
    detail = api_client_for(make_user("admin")).get(f"/api/v1/customers/{world['zhang'].pk}").json()
    assert (detail["name"], detail["phone"], detail["accounts"][0]["buyer_id"]) == (
        "张三",
        "13800131234",
        "tb_zhang",
    )


def test_api_search_by_buyer_id_full_phone_or_last_four(world, make_user, api_client_for):
    client = api_client_for(make_user("admin"))

    def names(search: str) -> list[str]:
        return [item["name"] for item in client.get("/api/v1/customers", {"search": search}).json()["items"]]

    assert names("tb_zhang") == ["张三"]
    assert names("139 0013 5678") == ["李四"]
    assert names("1234") == ["张三"]
    assert names("0000") == []


def test_api_scope_follows_the_shops_of_their_orders(world, make_user, api_client_for):
    # given an operator limited to the JD shop
    client = api_client_for(make_user("operations", shops=[world["jd"]]))
    # when / then
    assert [item["id"] for item in client.get("/api/v1/customers").json()["items"]] == [world["li"].pk]
    assert client.get(f"/api/v1/customers/{world['zhang'].pk}").status_code == 404


def test_admin_pages_render_masked_for_permitted_and_refuse_others(world, make_user):
    operator = client_for(make_user("operations"))
    changelist = reverse("admin:customers_customer_changelist")
    change = reverse("admin:customers_customer_change", args=[world["zhang"].pk])
    listed = operator.get(changelist)
    page = operator.get(change)
    assert (listed.status_code, page.status_code) == (200, 200)
    assert "138****1234" in listed.content.decode()
    assert "13800131234" not in listed.content.decode()
    assert "13800131234" not in page.content.decode()
    assert "tb_zhang" not in page.content.decode()
    designer = client_for(make_user("designer"))
    assert [designer.get(url).status_code for url in (changelist, change)] == [403, 403]


def test_admin_blacklist_action_goes_through_the_service(world, make_user):
    # given an admin (customers change permission)
    user = make_user("admin")
    client = client_for(user)
    changelist = reverse("admin:customers_customer_changelist")
    selected = [str(world["zhang"].pk)]
    # when
    form = client.post(changelist, {"action": "blacklist_selected", "_selected_action": selected})
    applied = client.post(
        changelist,
        {"action": "blacklist_selected", "_selected_action": selected, "step": "apply", "reason": "恶意退款"},
    )
    # then
    assert form.status_code == 200
    assert applied.status_code == 302
    world["zhang"].refresh_from_db()
    assert (world["zhang"].is_blacklisted, world["zhang"].blacklist_reason) == (True, "恶意退款")
    assert AuditEntry.objects.filter(action="customer.blacklisted", actor=user).count() == 1


def test_admin_blacklist_is_not_offered_to_view_only_roles(world, make_user):
    html = (
        client_for(make_user("finance"))  # 财务 views customers (运营 and 客服 change them since issue 12)
        .get(reverse("admin:customers_customer_changelist"))
        .content.decode()
    )
    assert "blacklist_selected" not in html


def test_admin_search_by_last_four_digits(world, make_user):
    html = client_for(make_user("admin")).get(reverse("admin:customers_customer_changelist"), {"q": "5678"})
    content = html.content.decode()
    assert "李四" in content
    assert "张三" not in content


def test_api_list_query_count_is_pinned(world, make_user, api_client_for, django_assert_num_queries):
    for number in range(6):
        Customer.objects.create(name=f"客户{number}", phone="")
    client = api_client_for(make_user("finance"))
    client.get("/api/v1/customers")
    # token with its user, two permission queries, the count, the page
    with django_assert_num_queries(5):
        body = client.get("/api/v1/customers").json()
    assert body["count"] == 8
