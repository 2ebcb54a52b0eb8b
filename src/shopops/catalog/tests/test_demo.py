import datetime as dt
import re
from collections import defaultdict
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db.models import F

from shopops.accounts.models import User
from shopops.accounts.roles import ROLES, role_group_name, sync_roles
from shopops.catalog.demo_data import PRODUCT_COUNT, demo_fingerprint, load_demo
from shopops.catalog.models import (
    Brand,
    Category,
    ChannelListing,
    CodeSequence,
    CodingRule,
    ListingStatus,
    PriceField,
    PriceHistory,
    PricingPolicy,
    Product,
    PromoPrice,
    ScheduledPriceChange,
    Sku,
)
from shopops.channels.models import Platform, Shop

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("clock"),
    pytest.mark.xdist_group("demo_catalog"),
]
# Prices are scheduled and promoted around today: every test runs late on a leap day, so "tomorrow" is 1 March.
CLOCKS = [dt.datetime(2028, 2, 29, 23, 45, tzinfo=dt.timezone(dt.timedelta(hours=8)))]

DEMO_PASSWORD = "demo-Passw0rd-for-tests"


@pytest.fixture(scope="module")
def demo(module_clock: dt.datetime, module_db: None) -> dict:
    # loaded once for the module's tests (each runs in its own savepoint, rolled back after it)
    sync_roles()
    summary = load_demo(seed=42, password=DEMO_PASSWORD)
    return summary.counts


def test_demo_loads_a_catalog_of_the_announced_size(demo: dict) -> None:
    # given the demo loaded with its default seed
    # when the tables are counted
    counts = {
        "categories": Category.objects.count(),
        "brands": Brand.objects.count(),
        "shops": Shop.objects.count(),
        "products": Product.objects.count(),
        "skus": Sku.objects.count(),
        "listings": ChannelListing.objects.count(),
        "price_history": PriceHistory.objects.count(),
    }
    # then they are what the run reported, with 200 products, 20 brands and about 1,000 SKUs
    assert counts == demo
    assert counts["products"] == PRODUCT_COUNT == 200
    assert counts["brands"] == 20
    assert 900 <= counts["skus"] <= 1100
    assert set(Shop.objects.values_list("platform", flat=True)) == set(Platform.values)


def test_demo_category_tree_has_three_levels_and_products_sit_on_leaves(demo: dict) -> None:
    # given the demo catalog
    # when the tree is read
    depths = set(Category.objects.values_list("depth", flat=True))
    tops = set(Category.objects.filter(parent=None).values_list("name", flat=True))
    product_depths = set(Product.objects.values_list("category__depth", flat=True))
    broken_links = Category.objects.exclude(parent=None).exclude(depth=F("parent__depth") + 1).count()
    # then it is a 3-level tree with the usual top categories
    assert depths == {0, 1, 2}
    assert tops == {"女装", "男装", "鞋靴", "美妆", "家居", "数码配件", "食品"}
    assert product_depths == {2}
    assert broken_links == 0


def test_demo_merchant_codes_follow_the_active_coding_rule(demo: dict) -> None:
    # given the demo catalog and its coding rule
    rule = CodingRule.objects.get(is_active=True)
    # when every product code is checked against its category and brand
    mismatched = [
        code
        for code, category_code, brand_code in Product.objects.values_list(
            "merchant_code", "category__code", "brand__code"
        )
        if not re.fullmatch(re.escape(f"{category_code}{brand_code}-") + r"\d{5}", code)
    ]
    sku_mismatched = Sku.objects.exclude(merchant_code__startswith=F("product__merchant_code")).count()
    sequences = {sequence.key: sequence.last_value for sequence in CodeSequence.objects.all()}
    highest: dict[str, int] = defaultdict(int)
    for code in Product.objects.values_list("merchant_code", flat=True):
        prefix, number = code.rsplit("-", 1)
        highest[f"{prefix}-"] = max(highest[f"{prefix}-"], int(number))
    # then codes are rule-shaped and the sequences continue after the highest number used
    assert rule.pattern == "{category}{brand}-{seq:05d}"
    assert mismatched == []
    assert sku_mismatched == 0
    assert sequences == dict(highest)


def test_demo_price_history_ends_at_every_current_price(demo: dict) -> None:
    # given the demo SKUs and their price history
    chains: dict[tuple[int, str], list[tuple[Decimal | None, Decimal | None]]] = defaultdict(list)
    for sku_id, field, old, new in PriceHistory.objects.order_by("created_at", "id").values_list(
        "sku_id", "field", "old_value", "new_value"
    ):
        chains[(sku_id, field)].append((old, new))
    # when each chain is walked
    broken = []
    for sku in Sku.objects.all():
        for field in (PriceField.SALE, PriceField.COST, PriceField.LIST):
            chain = chains[(sku.pk, field)]
            steps_link = all(chain[index][0] == chain[index - 1][1] for index in range(1, len(chain)))
            if not chain or chain[0][0] is not None or not steps_link or chain[-1][1] != getattr(sku, field):
                broken.append((sku.merchant_code, field))
    # then every price starts with an initial row and the last row is today's value
    assert broken == []
    assert PriceHistory.objects.filter(field=PriceField.SALE).exclude(old_value=None).exists()


def test_demo_leaves_some_prices_below_cost_or_margin_for_the_workbench(demo: dict) -> None:
    # given the demo SKUs and the default policy
    policy = PricingPolicy.objects.get(category=None)
    # when the price guard's view is computed independently
    below_cost = Sku.objects.filter(cost_price__gt=F("sale_price")).count()
    thin = [
        sku
        for sku in Sku.objects.filter(cost_price__lte=F("sale_price"))
        if (sku.sale_price - sku.cost_price) / sku.sale_price * 100 < policy.min_margin_percent
    ]
    # then a handful of SKUs need attention, not the whole catalog
    assert below_cost == 6
    assert 1 <= len(thin) <= 10
    assert PricingPolicy.objects.exclude(category=None).get().category.code == "SM"


def test_demo_lists_products_on_some_shops_and_delists_on_others(demo: dict) -> None:
    # given the demo listings
    statuses = defaultdict(set)
    for product_id, status in ChannelListing.objects.values_list("product_id", "status"):
        statuses[product_id].add(status)
    # when each listing's events are compared with its status
    last_events = {
        listing.pk: (listing.status, [event.to_status for event in listing.events.order_by("id")])
        for listing in ChannelListing.objects.prefetch_related("events")
    }
    inconsistent = [
        pk
        for pk, (status, events) in last_events.items()
        if (events[-1] if events else ListingStatus.DRAFT) != status
    ]
    # then some products are listed on one shop and delisted on another, and events explain every status
    assert any({ListingStatus.LISTED, ListingStatus.DELISTED} <= found for found in statuses.values())
    assert inconsistent == []


def test_demo_schedules_and_promotions_exist(demo: dict) -> None:
    assert ScheduledPriceChange.objects.filter(status="pending").count() == 2
    assert PromoPrice.objects.filter(is_active=True).count() == 5
    assert PromoPrice.objects.filter(price__gte=F("sku__sale_price")).count() == 0


def test_demo_makes_one_staff_user_per_role_and_a_scoped_customer_service_user(demo: dict) -> None:
    # given the demo users
    # when their groups and scopes are read
    groups = {
        username: set(Group.objects.filter(user__username=username).values_list("name", flat=True))
        for username in ROLES
    }
    scoped = User.objects.get(username="cs_tmall")
    # then each role key is a user of that role, and the scoped 客服 sees two shops
    assert groups == {role: {role_group_name(role)} for role in ROLES}
    assert all(User.objects.get(username=role).check_password(DEMO_PASSWORD) for role in ROLES)
    assert User.objects.filter(username__in=[*ROLES, "cs_tmall"], is_staff=True).count() == len(ROLES) + 1
    assert scoped.has_all_shops is False
    assert set(scoped.shop_scope.values_list("code", flat=True)) == {"tmall-flagship", "taobao-store"}
    assert Shop.objects.for_user(scoped).count() == 2


def test_demo_run_twice_adds_nothing_and_keeps_passwords(demo: dict) -> None:
    # given a loaded demo whose operations user changed password
    before = demo_fingerprint()
    operations = User.objects.get(username="operations")
    operations.set_password("my-own-Passw0rd")
    operations.save()
    # when the demo is loaded again
    again = load_demo(seed=42, password=DEMO_PASSWORD)
    # then nothing is duplicated or overwritten
    assert again.loaded is False
    assert demo_fingerprint() == before
    assert Product.objects.count() == PRODUCT_COUNT
    assert User.objects.get(username="operations").check_password("my-own-Passw0rd")
    assert again.created_users == []
