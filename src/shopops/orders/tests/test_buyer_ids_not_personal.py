import hashlib
import hmac
import importlib
import io

import pytest
from django.apps import apps
from django.conf import settings

from shopops.customers.models import Customer, CustomerAccount
from shopops.customers.services import platform_buyer_id
from shopops.orders.imports import import_orders
from shopops.orders.models import Order
from shopops.orders.tests.factories import create_order, create_shop
from shopops.orders.tests.import_fixtures import csv_bytes

pytestmark = pytest.mark.django_db

SHOPIFY_HEADER = ["Name", "Email", "Financial Status", "Created at", "Lineitem quantity", "Lineitem name",
                  "Lineitem price", "Total", "Shipping Name"]  # fmt: skip
JD_HEADER = ["订单号", "商品名称", "订购数量", "下单时间", "京东价", "订单状态", "下单帐号", "客户姓名"]


def expected_id(kind: str, normalised: str) -> str:
    """The stored id computed independently: HMAC-SHA256 with the phone hash key, 32 hex digits."""
    key = (settings.PHONE_HASH_KEY or settings.SECRET_KEY).encode()
    digest = hmac.new(key, f"buyer:{kind}:{normalised}".encode(), hashlib.sha256).hexdigest()
    return f"{kind}-{digest[:32]}"


def shopify_row(name: str, email: str) -> list[str]:
    return [name, email, "paid", "2025-06-01 10:00:00 +0800", "1", "Mug", "20.00", "20.00", "Amy Lin"]


def run(shop, header, rows, platform_format):
    return import_orders(
        source=io.BytesIO(csv_bytes(header, rows)), filename="orders.csv", actor="cli:test", shop=shop.code,
        format=platform_format,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("buyer_id", "kind", "normalised"),
    [
        ("Amy.Lin@Example.com", "email", "amy.lin@example.com"),
        (" amy.lin@example.com ", "email", "amy.lin@example.com"),
        ("13712340002", "phone", "13712340002"),
        ("+86 137-1234-0002", "phone", "13712340002"),
        ("008613712340002", "phone", "13712340002"),
        ("'17012345678-4321", "phone", "17012345678-4321"),
        ("0731-88886666", "phone", "073188886666"),
        ("330106199003074517", "idno", "330106199003074517"),
        ("33010619900307009x", "idno", "33010619900307009X"),
    ],
)
def test_an_e_mail_phone_or_id_number_as_buyer_id_becomes_its_keyed_hash(buyer_id, kind, normalised):
    assert platform_buyer_id(buyer_id) == expected_id(kind, normalised)


@pytest.mark.parametrize(
    "buyer_id",
    [
        "tb_qingfeng_2024",
        "jd_buyer",
        "buyer00042",
        "7234567890123456789",
        "330106199003074510",
        "小明13812345678",
    ],
)
def test_other_buyer_ids_are_kept_and_a_hashed_id_hashes_to_itself(buyer_id):
    # an account name, a 19-digit platform id, 18 digits with a wrong check digit, a nickname with digits
    assert platform_buyer_id(buyer_id) == buyer_id
    hashed = platform_buyer_id("amy@example.com")
    assert platform_buyer_id(hashed) == hashed


def test_shopify_buyer_is_keyed_by_the_hash_and_found_again_on_the_next_import():
    # given a Shopify shop and an order of Amy's
    shop = create_shop(platform="shopify")
    run(shop, SHOPIFY_HEADER, [shopify_row("#1001", "amy.lin@example.com")], "shopify")

    # when a later file brings another order of hers, the address written in capitals
    result = run(shop, SHOPIFY_HEADER, [shopify_row("#1002", "AMY.LIN@example.com")], "shopify")

    # then both orders and her one account carry the hash; the e-mail stays in buyer_email only
    assert result.created == 1
    hashed = expected_id("email", "amy.lin@example.com")
    orders = Order.objects.order_by("external_id")
    assert list(orders.values_list("buyer_id", "buyer_email")) == [
        (hashed, "amy.lin@example.com"),
        (hashed, "AMY.LIN@example.com"),
    ]
    assert list(CustomerAccount.objects.values_list("platform", "buyer_id")) == [("shopify", hashed)]
    assert orders[0].customer_id == orders[1].customer_id == Customer.objects.get().pk
    assert Customer.objects.get().email == "amy.lin@example.com"


def test_jd_account_that_is_a_mobile_number_is_stored_hashed_and_still_searchable(admin_user, api_client_for):
    # given a JD order whose 下单帐号 is the buyer's mobile
    shop = create_shop(platform="jd")
    row = ["J-1", "保温杯", "1", "2025-06-01 10:00:00", "59.00", "等待出库", "+86 137 1234 0002", "任盈盈"]
    run(shop, JD_HEADER, [row], "jd")
    client = api_client_for(admin_user)

    # when an operator searches orders and customers by that number
    orders = client.get("/api/v1/orders", {"q": "13712340002"}).json()["items"]
    customers = client.get("/api/v1/customers", {"search": "13712340002"}).json()["items"]

    # then the number is stored nowhere, and both searches find the buyer through the hash
    hashed = expected_id("phone", "13712340002")
    assert Order.objects.get().buyer_id == hashed
    assert CustomerAccount.objects.get().buyer_id == hashed
    assert [order["external_id"] for order in orders] == ["J-1"]
    assert [customer["id"] for customer in customers] == [Order.objects.get().customer_id]


def test_an_order_created_through_the_api_hashes_an_e_mail_buyer_id(make_user, api_client_for):
    # given our own web shop keying buyers by e-mail
    shop = create_shop(platform="own")
    client = api_client_for(make_user("operations"))
    body = {"shop_id": shop.pk, "external_id": "W-1", "status": "paid", "buyer_id": "zhou@example.cn",
            "lines": [{"merchant_code": "WEB-1", "quantity": 1, "unit_price": "20.00"}]}  # fmt: skip

    # when
    response = client.post(
        "/api/v1/orders", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="w-1"
    )

    # then
    assert response.status_code == 201, response.content
    assert Order.objects.get().buyer_id == expected_id("email", "zhou@example.cn")
    assert CustomerAccount.objects.get().buyer_id == expected_id("email", "zhou@example.cn")


def test_buyer_id_is_masked_like_a_name_without_view_pii(make_user, api_client_for):
    # given a Taobao order of the member tb_qingfeng
    shop = create_shop(platform="taobao")
    order = create_order(shop=shop, buyer_id="tb_qingfeng")
    masked = api_client_for(make_user("customer_service"))
    clear = api_client_for(make_user("admin"))

    # when
    hidden = masked.get(f"/api/v1/orders/{order.pk}").json()["buyer_id"]
    shown = clear.get(f"/api/v1/orders/{order.pk}").json()["buyer_id"]

    # then
    assert (hidden, shown) == ("t**", "tb_qingfeng")


def test_migration_hashes_existing_personal_buyer_ids_and_merges_their_accounts():
    # given orders and accounts written before buyer ids were classified (raw e-mails and phones)
    shop = create_shop(platform="shopify")
    amy = Customer.objects.create(name="Amy", email="amy@example.com")
    twin = Customer.objects.create(name="Amy", email="Amy@example.com")
    nick = Customer.objects.create(name="小明")
    CustomerAccount.objects.create(customer=amy, platform="shopify", buyer_id="amy@example.com")
    CustomerAccount.objects.create(customer=twin, platform="shopify", buyer_id="Amy@Example.com")
    CustomerAccount.objects.create(customer=nick, platform="taobao", buyer_id="tb_xiaoming")
    first = create_order(shop=shop, buyer_id="")
    second = create_order(shop=shop, buyer_id="")
    Order.objects.filter(pk=first.pk).update(buyer_id="amy@example.com")
    Order.objects.filter(pk=second.pk).update(buyer_id="13712340002")
    migration = importlib.import_module("shopops.orders.migrations.0002_buyer_ids_not_personal")

    # when
    migration.hash_personal_buyer_ids(apps, None)

    # then the ids are hashed, the older account of the same address kept, the nickname untouched
    assert list(Order.objects.order_by("pk").values_list("buyer_id", flat=True)) == [
        expected_id("email", "amy@example.com"),
        expected_id("phone", "13712340002"),
    ]
    assert list(CustomerAccount.objects.order_by("pk").values_list("customer_id", "buyer_id")) == [
        (amy.pk, expected_id("email", "amy@example.com")),
        (nick.pk, "tb_xiaoming"),
    ]
