import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from shopops.catalog.models import (
    Brand,
    Category,
    ChannelListing,
    PriceHistory,
    Product,
    PromoPrice,
    ScheduledPriceChange,
    Sku,
)
from shopops.catalog.tests.factories import (
    create_brand,
    create_category,
    create_policy,
    create_product,
    create_shop,
    create_sku,
)
from shopops.core.models import AuditEntry

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def post(client: Client, path: str, payload: dict) -> object:
    return client.post(path, payload, content_type="application/json")


def patch(client: Client, path: str, payload: dict) -> object:
    return client.patch(path, payload, content_type="application/json")


# categories and brands


def test_categories_anonymous_is_401(db):
    assert Client().get("/api/v1/catalog/categories").status_code == 401


def test_list_categories_as_tree(make_user, api_client_for):
    # given a two-level tree
    women = create_category(name="女装", code="NZ")
    dresses = create_category(name="连衣裙", code="LYQ", parent=women)
    men = create_category(name="男装", code="MZ")
    # when warehouse staff (catalog view) list categories
    response = api_client_for(make_user("warehouse")).get("/api/v1/catalog/categories")
    # then they come depth first with parent and depth
    assert response.status_code == 200
    assert response.json() == {
        "count": 3,
        "items": [
            {
                "id": women.pk,
                "parent_id": None,
                "name": "女装",
                "code": "NZ",
                "path": "女装",
                "depth": 0,
                "sort_order": 0,
            },
            {
                "id": dresses.pk,
                "parent_id": women.pk,
                "name": "连衣裙",
                "code": "LYQ",
                "path": "女装 › 连衣裙",
                "depth": 1,
                "sort_order": 0,
            },
            {
                "id": men.pk,
                "parent_id": None,
                "name": "男装",
                "code": "MZ",
                "path": "男装",
                "depth": 0,
                "sort_order": 0,
            },
        ],
    }


def test_create_category_under_parent(make_user, api_client_for):
    # given a parent and a designer (catalog change)
    women = create_category(name="女装", code="NZ")
    # when they add a child
    response = post(
        api_client_for(make_user("designer")),
        "/api/v1/catalog/categories",
        {"name": "半身裙", "code": "BSQ", "parent_id": women.pk},
    )
    # then it sits under the parent
    assert response.status_code == 201
    child = Category.objects.get(code="BSQ")
    assert response.json()["id"] == child.pk
    assert (child.parent_id, child.path, child.depth) == (women.pk, "女装 › 半身裙", 1)


def test_create_category_without_permission_is_403_and_nothing_created(make_user, api_client_for):
    # given customer service (catalog view only)
    agent = make_user("customer_service")
    # when they add a category
    response = post(api_client_for(agent), "/api/v1/catalog/categories", {"name": "男装", "code": "MZ"})
    # then refused, nothing written
    assert response.status_code == 403
    assert not Category.objects.exists()


def test_update_category(admin_user, api_client_for):
    # given a category
    category = create_category(name="女装", code="NZ")
    # when renamed
    response = patch(
        api_client_for(admin_user), f"/api/v1/catalog/categories/{category.pk}", {"name": "女士服装"}
    )
    # then the name and path change
    assert response.status_code == 200
    assert response.json()["path"] == "女士服装"
    assert response.json()["name"] == "女士服装"


def test_update_missing_category_is_404(admin_user, api_client_for):
    response = patch(api_client_for(admin_user), "/api/v1/catalog/categories/999999", {"name": "x"})
    assert response.status_code == 404


def test_brands_list_and_create(make_user, api_client_for):
    # given a brand and a designer
    create_brand(name="优衣库", code="UQ")
    client = api_client_for(make_user("designer"))
    # when they add another and list
    created = post(client, "/api/v1/catalog/brands", {"name": "无印良品", "code": "MUJI"})
    listed = client.get("/api/v1/catalog/brands?search=muji").json()
    # then exactly the new brand is found
    assert created.status_code == 201
    brand = Brand.objects.get(code="MUJI")
    assert listed == {
        "count": 1,
        "items": [{"id": brand.pk, "name": "无印良品", "code": "MUJI", "is_active": True}],
    }


def test_create_brand_duplicate_is_409(admin_user, api_client_for):
    create_brand(name="优衣库", code="UQ")
    response = post(api_client_for(admin_user), "/api/v1/catalog/brands", {"name": "优衣库", "code": "UQ2"})
    assert response.status_code == 409


# products


def test_list_products_filters(admin_user, api_client_for):
    # given products in a tree of categories, with brands, listings and a loss-making SKU
    women = create_category(name="女装", code="NZ")
    dresses = create_category(name="连衣裙", code="LYQ", parent=women)
    men = create_category(name="男装", code="MZ")
    brand = create_brand(name="优衣库", code="UQ")
    dress = create_product(name="真丝连衣裙", merchant_code="NZ-001", category=dresses, brand=brand)
    coat = create_product(name="羊毛大衣", merchant_code="NZ-002", category=women)
    shirt = create_product(name="衬衫", merchant_code="MZ-001", category=men, status="archived")
    create_sku(product=dress, sale_price="50.00", cost_price="60.00")
    create_sku(product=coat, sale_price="500.00", cost_price="200.00")
    shop = create_shop(code="tmall")
    ChannelListing.objects.create(product=coat, shop=shop, status="listed")
    ChannelListing.objects.create(product=shirt, shop=shop, status="delisted")
    client = api_client_for(admin_user)

    def codes(query: str) -> list[str]:
        response = client.get(f"/api/v1/catalog/products?ordering=merchant_code&{query}")
        assert response.status_code == 200, response.content
        return [item["merchant_code"] for item in response.json()["items"]]

    # when filtering
    # then exactly the matching products come back
    assert codes("") == ["MZ-001", "NZ-001", "NZ-002"]
    assert codes("search=连衣") == ["NZ-001"]
    assert codes("search=mz-") == ["MZ-001"]
    assert codes(f"category={women.pk}") == ["NZ-001", "NZ-002"]
    assert codes(f"category={dresses.pk}") == ["NZ-001"]
    assert codes(f"brand={brand.pk}") == ["NZ-001"]
    assert codes("status=archived") == ["MZ-001"]
    assert codes(f"listed_on_shop={shop.pk}") == ["NZ-002"]
    assert codes("below_cost=true") == ["NZ-001"]
    assert codes("below_cost=false") == ["MZ-001", "NZ-002"]


def test_list_products_exact_item(make_user, api_client_for):
    # given one product with two SKUs
    category = create_category(name="女装", code="NZ")
    brand = create_brand(name="优衣库", code="UQ")
    product = create_product(name="真丝连衣裙", merchant_code="NZ-001", category=category, brand=brand)
    create_sku(product=product)
    create_sku(product=product)
    # when listed
    item = api_client_for(make_user("warehouse")).get("/api/v1/catalog/products").json()["items"][0]
    # then every value is exact
    product.refresh_from_db()
    assert item == {
        "id": product.pk,
        "name": "真丝连衣裙",
        "merchant_code": "NZ-001",
        "category_id": category.pk,
        "category_path": "女装",
        "brand_id": brand.pk,
        "brand_name": "优衣库",
        "status": "active",
        "sku_count": 2,
        "created_at": product.created_at.astimezone(SHANGHAI).isoformat(),
        "updated_at": product.updated_at.astimezone(SHANGHAI).isoformat(),
    }


def test_list_products_query_count(admin_user, api_client_for, django_assert_max_num_queries):
    # given many products with SKUs
    category = create_category()
    brand = create_brand()
    for index in range(20):
        create_sku(product=create_product(merchant_code=f"P-{index:02d}", category=category, brand=brand))
    client = api_client_for(admin_user)
    # when listing them
    # then the queries do not grow with the rows
    with django_assert_max_num_queries(6):
        response = client.get("/api/v1/catalog/products?limit=50")
    assert response.json()["count"] == 20


def test_list_products_without_permission_is_403(make_user, api_client_for, db):
    # given a user with no role
    nobody = make_user(None)
    # when listing products
    response = api_client_for(nobody).get("/api/v1/catalog/products")
    # then refused
    assert response.status_code == 403


def test_get_product_with_skus_and_scoped_listings(make_user, api_client_for):
    # given a product with a SKU, listed on two shops, and a user limited to one of them
    product = create_product(merchant_code="NZ-001")
    sku = create_sku(product=product, merchant_code="NZ-001-BK", sale_price="129.00", cost_price="60.50")
    mine = create_shop(code="mine")
    other = create_shop(code="other")
    ChannelListing.objects.create(product=product, shop=mine, status="listed", external_id="6234567890123")
    ChannelListing.objects.create(product=product, shop=other, status="listed")
    user = make_user("operations", shops=[mine])
    # when they read the product
    response = api_client_for(user).get(f"/api/v1/catalog/products/{product.pk}")
    # then SKUs carry money as strings, and only their shop's listing shows
    assert response.status_code == 200
    body = response.json()
    assert [(item["merchant_code"], item["sale_price"], item["cost_price"]) for item in body["skus"]] == [
        ("NZ-001-BK", "129.00", "60.50")
    ]
    assert body["skus"][0]["id"] == sku.pk
    assert [(item["shop_id"], item["external_id"]) for item in body["listings"]] == [
        (mine.pk, "6234567890123")
    ]


def test_get_missing_product_is_404(admin_user, api_client_for):
    response = api_client_for(admin_user).get("/api/v1/catalog/products/424242")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_create_product_generates_merchant_code(make_user, api_client_for):
    # given a category and brand with codes
    category = create_category(name="女装", code="NZ")
    brand = create_brand(name="优衣库", code="UQ")
    # when a designer creates a product without a code
    response = post(
        api_client_for(make_user("designer")),
        "/api/v1/catalog/products",
        {"name": "真丝连衣裙", "category_id": category.pk, "brand_id": brand.pk},
    )
    # then the default rule made one, and it is audited
    assert response.status_code == 201
    product = Product.objects.get()
    assert product.merchant_code == "NZUQ-00001"
    assert response.json()["merchant_code"] == "NZUQ-00001"
    assert response.json()["skus"] == []
    assert AuditEntry.objects.filter(action="product.created", object_id=str(product.pk)).count() == 1


def test_create_product_without_permission_is_403(make_user, api_client_for):
    category = create_category()
    response = post(
        api_client_for(make_user("warehouse")),
        "/api/v1/catalog/products",
        {"name": "x", "category_id": category.pk},
    )
    assert response.status_code == 403
    assert not Product.objects.exists()


def test_create_product_unknown_category_is_4xx_with_field(admin_user, api_client_for):
    response = post(
        api_client_for(admin_user), "/api/v1/catalog/products", {"name": "x", "category_id": 987654}
    )
    assert response.status_code in (404, 422)
    assert list(response.json()["fields"]) == ["category_id"]


def test_update_product_duplicate_code_is_409(admin_user, api_client_for):
    # given two products
    create_product(merchant_code="A-1")
    second = create_product(merchant_code="A-2")
    # when the second takes the first's code
    response = patch(
        api_client_for(admin_user), f"/api/v1/catalog/products/{second.pk}", {"merchant_code": "A-1"}
    )
    # then it conflicts and is unchanged
    assert response.status_code == 409
    assert response.json()["code"] == "duplicate_merchant_code"
    second.refresh_from_db()
    assert second.merchant_code == "A-2"


def test_update_product_removes_brand(admin_user, api_client_for):
    product = create_product(brand=create_brand())
    response = patch(api_client_for(admin_user), f"/api/v1/catalog/products/{product.pk}", {"brand_id": None})
    assert response.status_code == 200
    assert response.json()["brand_id"] is None
    product.refresh_from_db()
    assert product.brand_id is None


# SKUs


def test_list_skus_filters_and_ordering(make_user, api_client_for):
    # given SKUs with different prices
    product = create_product()
    create_sku(product=product, merchant_code="A", sale_price="30.00", cost_price="40.00")
    create_sku(
        product=product, merchant_code="B", sale_price="129.00", cost_price="60.00", barcode="6901234567890"
    )
    create_sku(product=product, merchant_code="C", sale_price="80.00", cost_price="60.00", is_active=False)
    client = api_client_for(make_user("warehouse"))

    def codes(query: str) -> list[str]:
        return [item["merchant_code"] for item in client.get(f"/api/v1/catalog/skus?{query}").json()["items"]]

    # then filters and ordering are exact
    assert codes("ordering=-sale_price") == ["B", "C", "A"]
    assert codes("below_cost=true") == ["A"]
    assert codes("is_active=false") == ["C"]
    assert codes("search=690123") == ["B"]
    assert codes(f"product={product.pk}&ordering=cost_price,-merchant_code") == ["A", "C", "B"]


def test_list_skus_query_count(admin_user, api_client_for, django_assert_max_num_queries):
    product = create_product()
    for index in range(20):
        create_sku(product=product, merchant_code=f"S-{index:02d}")
    client = api_client_for(admin_user)
    with django_assert_max_num_queries(6):
        response = client.get("/api/v1/catalog/skus?limit=50")
    assert response.json()["count"] == 20


def test_get_sku_exact_values(make_user, api_client_for):
    # given a SKU
    sku = create_sku(
        merchant_code="NZ-001-BK", sale_price="129", cost_price="60.5", list_price="199.00", spec="颜色:黑色"
    )
    # when read
    response = api_client_for(make_user("warehouse")).get(f"/api/v1/catalog/skus/{sku.pk}")
    # then money is a two-decimal string
    sku.refresh_from_db()
    assert response.json() == {
        "id": sku.pk,
        "product_id": sku.product_id,
        "merchant_code": "NZ-001-BK",
        "barcode": None,
        "attributes": {},
        "spec": "颜色:黑色",
        "weight_grams": None,
        "cost_price": "60.50",
        "sale_price": "129.00",
        "list_price": "199.00",
        "min_price": None,
        "is_active": True,
        "created_at": sku.created_at.astimezone(SHANGHAI).isoformat(),
        "updated_at": sku.updated_at.astimezone(SHANGHAI).isoformat(),
    }


def test_create_sku(make_user, api_client_for):
    # given a product
    product = create_product(merchant_code="NZ-001")
    payload = {
        "product_id": product.pk,
        "merchant_code": "NZ-001-BK-M",
        "sale_price": "129.00",
        "cost_price": "60.00",
        "attributes": {"颜色": "黑色", "尺码": "M"},
    }
    # when a designer creates a SKU
    response = post(api_client_for(make_user("designer")), "/api/v1/catalog/skus", payload)
    # then it exists with exact prices
    assert response.status_code == 201
    sku = Sku.objects.get(merchant_code="NZ-001-BK-M")
    assert (sku.sale_price, sku.cost_price, sku.spec) == (
        Decimal("129.00"),
        Decimal("60.00"),
        "颜色:黑色;尺码:M",
    )
    assert response.json()["sale_price"] == "129.00"


@pytest.mark.parametrize(
    ("price", "field"),
    [("-1", "sale_price"), ("12.345", "sale_price"), ("abc", "sale_price"), ("1e20", "sale_price")],
)
def test_create_sku_invalid_money_is_422(admin_user, api_client_for, price, field):
    product = create_product()
    payload = {"product_id": product.pk, "sale_price": price, "cost_price": "1.00"}
    response = post(api_client_for(admin_user), "/api/v1/catalog/skus", payload)
    assert response.status_code == 422
    assert list(response.json()["fields"]) == [field]
    assert not Sku.objects.exists()


def test_create_sku_duplicate_barcode_is_409(admin_user, api_client_for):
    create_sku(barcode="6901234567890")
    product = create_product()
    payload = {
        "product_id": product.pk,
        "sale_price": "10.00",
        "cost_price": "5.00",
        "barcode": "6901234567890",
    }
    response = post(api_client_for(admin_user), "/api/v1/catalog/skus", payload)
    assert response.status_code == 409
    assert response.json()["code"] == "duplicate_barcode"


def test_update_sku_price_needs_change_price(make_user, api_client_for):
    # given a SKU and a designer (catalog change, no pricing)
    sku = create_sku(sale_price="100.00")
    client = api_client_for(make_user("designer"))
    # when they change the spec, then the price
    spec = patch(client, f"/api/v1/catalog/skus/{sku.pk}", {"spec": "颜色:白色"})
    price = patch(client, f"/api/v1/catalog/skus/{sku.pk}", {"sale_price": "90.00"})
    # then the spec changes, the price is refused and unchanged
    assert spec.status_code == 200
    assert spec.json()["spec"] == "颜色:白色"
    assert price.status_code == 403
    assert price.json()["fields"] == {"permission": "catalog.change_price"}
    sku.refresh_from_db()
    assert sku.sale_price == Decimal("100.00")


# prices


def test_change_price_records_history(make_user, api_client_for):
    # given a SKU and an operator (pricing change)
    sku = create_sku(sale_price="100.00", cost_price="60.00")
    operator = make_user("operations", username="ops")
    client = api_client_for(operator)
    # when they lower the price
    response = post(
        client,
        f"/api/v1/catalog/skus/{sku.pk}/price",
        {"new_value": "89.90", "reason": "大促"},
    )
    # then the price and the history are exact
    assert response.status_code == 200
    assert response.json() == {
        "sku_id": sku.pk,
        "field": "sale_price",
        "old_value": "100.00",
        "new_value": "89.90",
        "warnings": [],
    }
    sku.refresh_from_db()
    assert sku.sale_price == Decimal("89.90")
    history = PriceHistory.objects.get(sku=sku)
    assert (history.old_value, history.new_value, history.reason, history.actor) == (
        Decimal("100.00"),
        Decimal("89.90"),
        "大促",
        operator,
    )
    listed = client.get(f"/api/v1/catalog/skus/{sku.pk}/price-history").json()
    assert [(item["old_value"], item["new_value"], item["reason"]) for item in listed["items"]] == [
        ("100.00", "89.90", "大促")
    ]


def test_change_price_without_permission_is_403_and_unchanged(make_user, api_client_for):
    sku = create_sku(sale_price="100.00")
    response = post(
        api_client_for(make_user("customer_service")),
        f"/api/v1/catalog/skus/{sku.pk}/price",
        {"new_value": "1.00"},
    )
    assert response.status_code == 403
    sku.refresh_from_db()
    assert sku.sale_price == Decimal("100.00")
    assert not PriceHistory.objects.exists()


def test_change_price_guard_warning_then_acknowledged(admin_user, api_client_for):
    # given a 30% minimum margin that only warns
    create_policy(min_margin_percent="30", mode="warn")
    sku = create_sku(sale_price="100.00", cost_price="60.00")
    client = api_client_for(admin_user)
    # when the price drops to a 25% margin (80 → (80-60)/80)
    warned = post(client, f"/api/v1/catalog/skus/{sku.pk}/price", {"new_value": "80.00"})
    # then 409 with the details, and nothing changed
    assert warned.status_code == 409
    assert warned.json()["code"] == "price_guard_warning"
    assert list(warned.json()["fields"]) == ["sale_price"]
    sku.refresh_from_db()
    assert sku.sale_price == Decimal("100.00")
    # and when repeated with acknowledgement it goes through
    accepted = post(
        client, f"/api/v1/catalog/skus/{sku.pk}/price", {"new_value": "80.00", "acknowledge_warnings": True}
    )
    assert accepted.status_code == 200
    assert [issue["code"] for issue in accepted.json()["warnings"]] == ["below_min_margin"]
    sku.refresh_from_db()
    assert sku.sale_price == Decimal("80.00")


def test_change_price_below_cost_is_blocked(admin_user, api_client_for):
    sku = create_sku(sale_price="100.00", cost_price="60.00")
    response = post(
        api_client_for(admin_user),
        f"/api/v1/catalog/skus/{sku.pk}/price",
        {"new_value": "50.00", "acknowledge_warnings": True},
    )
    assert response.status_code == 422
    assert response.json()["code"] == "price_guard_blocked"
    sku.refresh_from_db()
    assert sku.sale_price == Decimal("100.00")


def test_change_price_of_missing_sku_is_404(admin_user, api_client_for):
    response = post(api_client_for(admin_user), "/api/v1/catalog/skus/999999/price", {"new_value": "1.00"})
    assert response.status_code == 404


def test_scheduled_price_create_list_cancel(make_user, api_client_for):
    # given a SKU and a promotion specialist (pricing change)
    sku = create_sku(sale_price="100.00", cost_price="60.00")
    client = api_client_for(make_user("promotion"))
    payload = {
        "sku_id": sku.pk,
        "new_price": "90.00",
        "starts_at": "2030-06-01T00:00:00+08:00",
        "reason": "618",
    }
    # when they schedule, list and cancel
    created = post(client, "/api/v1/catalog/scheduled-prices", payload)
    listed = client.get(f"/api/v1/catalog/scheduled-prices?sku={sku.pk}").json()
    cancelled = post(client, f"/api/v1/catalog/scheduled-prices/{created.json()['id']}/cancel", {})
    # then each step is exact
    assert created.status_code == 201
    assert created.json()["starts_at"] == "2030-06-01T00:00:00+08:00"
    assert created.json()["new_price"] == "90.00"
    assert created.json()["status"] == "pending"
    assert [item["id"] for item in listed["items"]] == [created.json()["id"]]
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert ScheduledPriceChange.objects.get().starts_at == dt.datetime(2030, 5, 31, 16, 0, tzinfo=dt.UTC)


def test_scheduled_price_naive_datetime_is_422(admin_user, api_client_for):
    sku = create_sku()
    payload = {"sku_id": sku.pk, "new_price": "90.00", "starts_at": "2030-06-01T00:00:00"}
    response = post(api_client_for(admin_user), "/api/v1/catalog/scheduled-prices", payload)
    assert response.status_code == 422
    assert list(response.json()["fields"]) == ["starts_at"]


def test_scheduled_price_without_permission_is_403(make_user, api_client_for):
    sku = create_sku()
    payload = {"sku_id": sku.pk, "new_price": "90.00", "starts_at": "2030-06-01T00:00:00+08:00"}
    response = post(api_client_for(make_user("finance")), "/api/v1/catalog/scheduled-prices", payload)
    assert response.status_code == 403
    assert not ScheduledPriceChange.objects.exists()


def promo_payload(sku: Sku, shop_id: int) -> dict:
    return {
        "sku_id": sku.pk,
        "shop_id": shop_id,
        "name": "双11",
        "price": "79.00",
        "starts_at": "2030-11-11T00:00:00+08:00",
        "ends_at": "2030-11-12T00:00:00+08:00",
    }


def test_promo_prices_are_scoped_by_shop(make_user, api_client_for):
    # given two shops and a promotion specialist limited to one
    sku = create_sku(sale_price="100.00", cost_price="60.00")
    mine = create_shop(code="mine")
    other = create_shop(code="other")
    user = make_user("promotion", shops=[mine])
    client = api_client_for(user)
    foreign = PromoPrice.objects.create(
        sku=sku,
        shop=other,
        name="别人的",
        price="70.00",
        starts_at=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
        ends_at=dt.datetime(2030, 1, 2, tzinfo=dt.UTC),
    )
    # when they create on both shops, list, and deactivate the foreign one
    created = post(client, "/api/v1/catalog/promo-prices", promo_payload(sku, mine.pk))
    refused = post(client, "/api/v1/catalog/promo-prices", promo_payload(sku, other.pk))
    listed = client.get("/api/v1/catalog/promo-prices").json()
    deactivate_foreign = post(client, f"/api/v1/catalog/promo-prices/{foreign.pk}/deactivate", {})
    deactivate_own = post(client, f"/api/v1/catalog/promo-prices/{created.json()['id']}/deactivate", {})
    # then only their own shop exists for them
    assert created.status_code == 201
    assert created.json()["price"] == "79.00"
    assert refused.status_code == 404
    assert [item["shop_id"] for item in listed["items"]] == [mine.pk]
    assert deactivate_foreign.status_code == 404
    foreign.refresh_from_db()
    assert foreign.is_active is True
    assert deactivate_own.status_code == 200
    assert deactivate_own.json()["is_active"] is False


def test_bulk_price_preview_and_apply(make_user, api_client_for):
    # given two SKUs of one category
    category = create_category()
    product = create_product(category=category, name="T恤")
    first = create_sku(product=product, merchant_code="A", sale_price="100.00", cost_price="10.00")
    second = create_sku(product=product, merchant_code="B", sale_price="59.90", cost_price="10.00")
    client = api_client_for(make_user("operations"))
    body = {"sku_ids": [first.pk, second.pk], "mode": "percent", "value": "-10"}
    # when previewing 10% off, then applying it by filter
    preview = post(client, "/api/v1/catalog/bulk-price/preview", body)
    applied = post(
        client,
        "/api/v1/catalog/bulk-price/apply",
        {"filter": {"category": category.pk}, "mode": "percent", "value": "-10", "reason": "清仓"},
    )
    # then the preview computes 90.00 and 53.91 and changes nothing; apply writes the same
    assert preview.status_code == 200
    assert [(row["merchant_code"], row["old_value"], row["new_value"]) for row in preview.json()["rows"]] == [
        ("A", "100.00", "90.00"),
        ("B", "59.90", "53.91"),
    ]
    assert applied.status_code == 200
    assert (applied.json()["count"], applied.json()["changed"]) == (2, 2)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.sale_price, second.sale_price) == (Decimal("90.00"), Decimal("53.91"))


def test_bulk_price_without_selection_is_422(admin_user, api_client_for):
    response = post(
        api_client_for(admin_user), "/api/v1/catalog/bulk-price/preview", {"mode": "set", "value": "1"}
    )
    assert response.status_code == 422
    assert list(response.json()["fields"]) == ["sku_ids"]


def test_bulk_price_without_permission_is_403_and_unchanged(make_user, api_client_for):
    sku = create_sku(sale_price="100.00")
    response = post(
        api_client_for(make_user("designer")),
        "/api/v1/catalog/bulk-price/apply",
        {"sku_ids": [sku.pk], "mode": "set", "value": "1.00", "reason": "x"},
    )
    assert response.status_code == 403
    sku.refresh_from_db()
    assert sku.sale_price == Decimal("100.00")


# listings


def test_set_listing_status_and_list(make_user, api_client_for):
    # given a product, a shop and an operator
    product = create_product()
    shop = create_shop(code="tmall")
    client = api_client_for(make_user("operations"))
    # when they list it, then try to list it again
    listed = post(client, f"/api/v1/catalog/products/{product.pk}/listings/{shop.pk}", {"status": "listed"})
    again = post(client, f"/api/v1/catalog/products/{product.pk}/listings/{shop.pk}", {"status": "listed"})
    all_listings = client.get(f"/api/v1/catalog/listings?product={product.pk}").json()
    # then the first succeeds, the repeat is an illegal transition
    assert listed.status_code == 200
    assert listed.json()["status"] == "listed"
    assert again.status_code == 409
    assert again.json()["code"] == "illegal_listing_transition"
    assert [(item["shop_id"], item["status"]) for item in all_listings["items"]] == [(shop.pk, "listed")]


def test_set_listing_on_out_of_scope_shop_is_404(make_user, api_client_for):
    product = create_product()
    mine = create_shop(code="mine")
    other = create_shop(code="other")
    client = api_client_for(make_user("operations", shops=[mine]))
    response = post(
        client, f"/api/v1/catalog/products/{product.pk}/listings/{other.pk}", {"status": "listed"}
    )
    assert response.status_code == 404
    assert not ChannelListing.objects.exists()


def test_set_listing_without_permission_is_403(make_user, api_client_for):
    product = create_product()
    shop = create_shop()
    response = post(
        api_client_for(make_user("warehouse")),
        f"/api/v1/catalog/products/{product.pk}/listings/{shop.pk}",
        {"status": "listed"},
    )
    assert response.status_code == 403
    assert not ChannelListing.objects.exists()


def test_list_listings_query_count(admin_user, api_client_for, django_assert_max_num_queries):
    shop = create_shop()
    for _ in range(15):
        ChannelListing.objects.create(product=create_product(), shop=shop, status="listed")
    client = api_client_for(admin_user)
    with django_assert_max_num_queries(6):
        response = client.get("/api/v1/catalog/listings?limit=50")
    assert response.json()["count"] == 15


# import and export


def test_export_csv_rows_and_reimport_dry_run_changes_nothing(admin_user, api_client_for):
    # given a product with one SKU
    category = create_category(name="女装", code="NZ")
    product = create_product(name="真丝连衣裙", merchant_code="NZ-001", category=category)
    create_sku(product=product, merchant_code="NZ-001-BK", sale_price="129.00", cost_price="60.00")
    client = api_client_for(admin_user)
    # when it is exported as CSV and the file is imported back as a dry run
    exported = client.get("/api/v1/catalog/export?format=csv")
    upload = SimpleUploadedFile("products.csv", exported.content, content_type="text/csv")
    imported = client.post("/api/v1/catalog/imports", {"file": upload, "dry_run": "true"})
    # then the file has the SKU and re-imports with no change
    assert exported.status_code == 200
    assert exported["Content-Type"] == "text/csv; charset=utf-8"
    assert exported["Content-Disposition"].startswith('attachment; filename="products-')
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["商品名称", "商品编码", "商家编码"]
    assert rows[1][:3] == ["真丝连衣裙", "NZ-001", "NZ-001-BK"]
    assert len(rows) == 2
    assert imported.status_code == 200, imported.content
    body = imported.json()
    assert body["counts"] == {"total": 1, "created": 0, "updated": 0, "unchanged": 1, "skipped": 0}
    assert (body["dry_run"], body["committed"], body["errors"]) == (True, False, [])


def test_export_xlsx(make_user, api_client_for):
    create_sku(merchant_code="A-1")
    response = api_client_for(make_user("warehouse")).get("/api/v1/catalog/export?format=xlsx")
    assert response.status_code == 200
    assert response.content[:2] == b"PK"


def test_export_without_permission_is_403(make_user, api_client_for):
    assert api_client_for(make_user(None)).get("/api/v1/catalog/export").status_code == 403


def test_import_creates_products(admin_user, api_client_for):
    # given a CSV of one new SKU in an existing category
    create_category(name="女装", code="NZ")
    text = "商品名称,商家编码,类目,售价,成本价\n真丝连衣裙,NZ-9-BK,女装,129.00,60.00\n"
    upload = SimpleUploadedFile("new.csv", text.encode("utf-8"), content_type="text/csv")
    # when it is imported
    response = api_client_for(admin_user).post(
        "/api/v1/catalog/imports", {"file": upload, "mode": "skip_bad_rows"}
    )
    # then the SKU exists with its prices
    assert response.status_code == 200, response.content
    assert response.json()["counts"]["created"] == 1
    assert response.json()["committed"] is True
    sku = Sku.objects.get(merchant_code="NZ-9-BK")
    assert (sku.sale_price, sku.cost_price, sku.product.name) == (
        Decimal("129.00"),
        Decimal("60.00"),
        "真丝连衣裙",
    )


def test_import_bad_row_all_or_nothing_writes_nothing(admin_user, api_client_for):
    create_category(name="女装", code="NZ")
    text = "商品名称,商家编码,类目,售价,成本价\n好的,OK-1,女装,10.00,5.00\n坏的,BAD-1,女装,abc,5.00\n"
    upload = SimpleUploadedFile("bad.csv", text.encode("utf-8"), content_type="text/csv")
    response = api_client_for(admin_user).post("/api/v1/catalog/imports", {"file": upload})
    assert response.status_code == 200
    body = response.json()
    assert body["committed"] is False
    assert [(error["row"], error["column"]) for error in body["errors"]] == [(3, "售价")]
    assert not Sku.objects.exists()


def test_import_without_permission_is_403_and_nothing_written(make_user, api_client_for):
    create_category(name="女装", code="NZ")
    text = "商品名称,商家编码,类目,售价,成本价\n真丝连衣裙,NZ-9-BK,女装,129.00,60.00\n"
    upload = SimpleUploadedFile("new.csv", text.encode("utf-8"), content_type="text/csv")
    response = api_client_for(make_user("warehouse")).post("/api/v1/catalog/imports", {"file": upload})
    assert response.status_code == 403
    assert not Sku.objects.exists()


def test_import_without_file_is_422(admin_user, api_client_for):
    response = api_client_for(admin_user).post("/api/v1/catalog/imports", {"mode": "skip_bad_rows"})
    assert response.status_code == 422
    assert list(response.json()["fields"]) == ["file"]
