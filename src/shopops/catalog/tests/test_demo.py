import datetime as dt
import re
from collections import defaultdict
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db.models import Count, F, Max

from shopops.accounts.models import User
from shopops.accounts.roles import ROLES, role_group_name
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
from shopops.core.management.commands.demo import demo_steps

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clock")]
# Prices are scheduled and promoted around today: every test runs late on a leap day, so "tomorrow" is 1 March.
CLOCKS = [dt.datetime(2028, 2, 29, 23, 45, tzinfo=dt.timezone(dt.timedelta(hours=8)))]

DEMO_PASSWORD = "demo-Passw0rd-for-tests"


@pytest.fixture
def demo(roles) -> dict:
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


def test_demo_is_reproducible_for_a_seed_and_differs_across_seeds(roles) -> None:
    # given a demo built with seed 7
    load_demo(seed=7, password=DEMO_PASSWORD)
    first = demo_fingerprint()
    # when rebuilt with the same seed, then with another
    load_demo(seed=7, reset=True, password=DEMO_PASSWORD)
    second = demo_fingerprint()
    load_demo(seed=8, reset=True, password=DEMO_PASSWORD)
    third = demo_fingerprint()
    # then the same seed gives identical codes and prices
    assert first == second
    assert first != third
    assert Product.objects.count() == PRODUCT_COUNT
    assert Sku.objects.aggregate(highest=Max("id"))["highest"] is not None


def test_demo_command_prints_the_users_and_their_password(roles, settings, tmp_path, capsys) -> None:
    # given an empty catalog and a private var directory
    settings.VAR_DIR = tmp_path
    # when the command runs twice
    call_command("demo", "--seed", "3")
    first = capsys.readouterr().out
    call_command("demo")
    second = capsys.readouterr().out
    # then the first run loads and prints the demo password, the second changes nothing
    password = (tmp_path / "demo-login.txt").read_text().strip()
    assert "demo data loaded (seed 3)" in first
    assert f"password: {password}" in first
    assert User.objects.get(username="finance").check_password(password)
    assert oct((tmp_path / "demo-login.txt").stat().st_mode & 0o777) == "0o600"
    assert "catalog not empty" in second
    assert Product.objects.count() == PRODUCT_COUNT
    assert Product.objects.values("merchant_code").annotate(n=Count("id")).filter(n__gt=1).count() == 0


def test_demo_pipeline_loads_each_app_in_installed_apps_order_and_resets_in_reverse() -> None:
    # given the apps that ship a demo_data module
    # when the demo command discovers them
    labels = [step.label for step in demo_steps()]
    # then the lower layers come first, so inventory builds on the catalog and purchasing on inventory
    assert labels == [
        "catalog",
        "inventory",
        "purchasing",
        "orders",
        "fulfillment",
        "aftersales",
        "analytics",
    ]


def test_demo_only_if_empty_skips_everything_once_any_app_has_data(roles, settings, tmp_path, capsys) -> None:
    # given a catalog that is not empty
    settings.VAR_DIR = tmp_path
    load_demo(seed=1, password=DEMO_PASSWORD)
    users_before = User.objects.count()
    # when the command runs with --only-if-empty
    call_command("demo", "--only-if-empty")
    out = capsys.readouterr().out
    # then nothing is added, not even stock or users
    assert out == "catalog not empty: demo skipped\n"
    assert User.objects.count() == users_before
    assert Product.objects.count() == PRODUCT_COUNT
    assert not (tmp_path / "demo-login.txt").exists()
