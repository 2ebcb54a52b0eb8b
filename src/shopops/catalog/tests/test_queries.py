import datetime as dt
from decimal import Decimal

import pytest

from shopops.catalog import queries, services
from shopops.catalog.models import PromoPrice
from shopops.catalog.tests import factories

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def test_effective_price_is_the_promo_price_inside_its_window_on_its_shop() -> None:
    # given
    sku = factories.create_sku(sale_price="100", cost_price="60")
    tmall, jd = factories.create_shop(), factories.create_shop()
    PromoPrice.objects.create(
        sku=sku, shop=tmall, name="618", price=Decimal("79"), starts_at=T0, ends_at=T0 + DAY
    )
    PromoPrice.objects.create(
        sku=sku, shop=jd, name="停用", price=Decimal("70"), starts_at=T0, ends_at=T0 + DAY, is_active=False
    )
    # when
    prices = [
        queries.effective_price(sku=sku, shop=tmall, at=T0),
        queries.effective_price(sku=sku, shop=tmall.pk, at=T0 + DAY - dt.timedelta(seconds=1)),
        queries.effective_price(sku=sku, shop=tmall, at=T0 + DAY),
        queries.effective_price(sku=sku, shop=tmall, at=T0 - dt.timedelta(seconds=1)),
        queries.effective_price(sku=sku, shop=jd, at=T0),
        queries.effective_price(sku=sku, at=T0),
    ]
    # then
    assert prices == [
        Decimal("79.00"),
        Decimal("79.00"),
        Decimal("100.00"),
        Decimal("100.00"),
        Decimal("100.00"),
        Decimal("100.00"),
    ]


def test_products_below_cost_lists_active_skus_worst_loss_first() -> None:
    # given
    small_loss = factories.create_sku(sale_price="59", cost_price="60")
    big_loss = factories.create_sku(sale_price="10", cost_price="60")
    factories.create_sku(sale_price="60", cost_price="60")
    factories.create_sku(sale_price="1", cost_price="60", is_active=False)
    # when
    every = list(queries.products_below_cost())
    first = list(queries.products_below_cost(limit=1))
    # then
    assert every == [big_loss, small_loss]
    assert first == [big_loss]


def test_catalog_counts(admin_user) -> None:
    # given
    brand = factories.create_brand()
    product = factories.create_product(brand=brand)
    other = factories.create_product()
    factories.create_sku(product=product)
    factories.create_sku(product=product, is_active=False)
    factories.create_sku(product=other)
    tmall, jd = factories.create_shop(code="tmall"), factories.create_shop(code="jd")
    for item in (product, other):
        services.set_listing_status(product_id=item.pk, shop_id=tmall.pk, status="listed", actor=admin_user)
    services.set_listing_status(product_id=product.pk, shop_id=jd.pk, status="draft", actor=admin_user)
    # when
    counts = queries.catalog_counts()
    # then
    assert counts == {
        "products": 2,
        "skus": 3,
        "active_skus": 2,
        "categories": 2,
        "brands": 1,
        "listed_per_shop": [
            {"shop_id": tmall.pk, "shop_code": "tmall", "shop_name": tmall.name, "listed": 2}
        ],
    }


def test_sku_list_filters_by_category_tree_and_search_without_extra_queries(
    django_assert_num_queries,
) -> None:
    # given
    women = factories.create_category(name="女装")
    dresses = factories.create_category(name="连衣裙", parent=women)
    men = factories.create_category(name="男装")
    brand = factories.create_brand()
    dress = factories.create_sku(
        product=factories.create_product(name="碎花连衣裙", category=dresses, brand=brand)
    )
    top = factories.create_sku(product=factories.create_product(name="针织衫", category=women))
    factories.create_sku(product=factories.create_product(name="衬衫", category=men))
    # when
    in_women = list(queries.sku_list(user=None, category_id=women.pk))
    found = list(queries.sku_list(user=None, search="碎花"))
    # then
    assert sorted(sku.pk for sku in in_women) == sorted([dress.pk, top.pk])
    assert found == [dress]
    with django_assert_num_queries(1):
        rows = [
            (sku.product.name, sku.product.category.path, sku.product.brand)
            for sku in queries.sku_list(user=None)
        ]
    assert len(rows) == 3


def test_product_list_counts_skus() -> None:
    # given
    product = factories.create_product(name="两款")
    factories.create_sku(product=product)
    factories.create_sku(product=product)
    factories.create_product(name="无款")
    # when
    counts = {item.name: item.sku_count for item in queries.product_list(user=None)}
    # then
    assert counts == {"两款": 2, "无款": 0}


def test_listings_are_limited_to_the_users_shops(make_user, admin_user) -> None:
    # given
    product = factories.create_product()
    tmall, jd = factories.create_shop(), factories.create_shop()
    for shop in (tmall, jd):
        services.set_listing_status(product_id=product.pk, shop_id=shop.pk, status="listed", actor=admin_user)
    operator = make_user("operations", shops=[jd])
    # when
    visible = list(queries.listings_for(user=operator).values_list("shop_id", flat=True))
    # then
    assert visible == [jd.pk]


def test_price_history_newest_first(admin_user) -> None:
    # given
    sku = factories.create_sku(sale_price="100")
    services.change_price(sku_id=sku.pk, actor=admin_user, new_value="90")
    services.change_price(sku_id=sku.pk, actor=admin_user, new_value="80")
    # when
    rows = list(queries.price_history(sku_id=sku.pk).values_list("old_value", "new_value"))
    # then
    assert rows == [(Decimal("90.00"), Decimal("80.00")), (Decimal("100.00"), Decimal("90.00"))]
