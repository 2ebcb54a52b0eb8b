import pytest

from shopops.catalog.tests.factories import create_shop
from shopops.channels.models import Platform
from shopops.core.errors import InvalidInput, NotFound
from shopops.core.models import AuditEntry
from shopops.inventory import services as inventory_services
from shopops.inventory.tests.factories import create_bundle, create_sku, create_warehouse, stock

pytestmark = pytest.mark.django_db


def expected_figure(*, pool: int, kept_for_others: int, buffer_units: int, quota_percent: int) -> int:
    # the documented rule, computed independently
    capped = (pool * quota_percent) // 100
    return max(min(pool - kept_for_others - buffer_units, capped), 0)


def test_shop_without_rule_sells_every_available_unit_of_every_active_warehouse() -> None:
    # given 10 on hand (2 reserved, 1 safety) in one warehouse and 5 in another, 7 in an inactive one
    sku = create_sku()
    first, second, closed = create_warehouse(), create_warehouse(), create_warehouse()
    stock(sku=sku, warehouse=first, on_hand=10, safety_stock=1)
    stock(sku=sku, warehouse=second, on_hand=5)
    stock(sku=sku, warehouse=closed, on_hand=7)
    closed.is_active = False
    closed.save()
    inventory_services.reserve_stock(
        sku_id=sku.pk, quantity=2, reference="SO-1", actor=None, warehouse_id=first.pk
    )
    shop = create_shop()
    # when
    figure = inventory_services.channel_available(sku_id=sku.pk, shop_id=shop.pk)
    # then (10 − 2 − 1) + 5
    assert figure == 12


def test_quota_buffer_and_units_kept_for_the_own_shop_combine_as_documented(admin_user) -> None:
    # given 50 available units, Taobao limited to 60 % with a buffer of 2, the own shop keeping 10
    sku, warehouse = create_sku(), create_warehouse()
    stock(sku=sku, warehouse=warehouse, on_hand=50)
    taobao = create_shop(platform=Platform.TAOBAO)
    own = create_shop(platform=Platform.OWN)
    jd = create_shop(platform=Platform.JD)
    inventory_services.set_channel_stock_rule(
        shop_id=taobao.pk, actor=admin_user, buffer_units=2, quota_percent=60
    )
    inventory_services.set_channel_stock_rule(shop_id=own.pk, actor=admin_user, reserved_units=10)
    # when
    figures = {
        shop.pk: inventory_services.channel_available(sku_id=sku.pk, shop_id=shop.pk)
        for shop in (taobao, own, jd)
    }
    # then
    assert figures == {
        taobao.pk: expected_figure(pool=50, kept_for_others=10, buffer_units=2, quota_percent=60),
        own.pk: expected_figure(pool=50, kept_for_others=0, buffer_units=0, quota_percent=100),
        jd.pk: expected_figure(pool=50, kept_for_others=10, buffer_units=0, quota_percent=100),
    }
    assert figures == {taobao.pk: 30, own.pk: 50, jd.pk: 40}
    assert AuditEntry.objects.filter(action="channel_stock_rule.changed").count() == 2


def test_the_quota_binds_when_the_pool_is_large_and_the_keep_backs_when_it_is_small(admin_user) -> None:
    # given a Taobao shop with 60 % quota and an own shop keeping 10, over several pool sizes
    sku, warehouse = create_sku(), create_warehouse()
    taobao, own = create_shop(platform=Platform.TAOBAO), create_shop(platform=Platform.OWN)
    inventory_services.set_channel_stock_rule(
        shop_id=taobao.pk, actor=admin_user, buffer_units=1, quota_percent=60
    )
    inventory_services.set_channel_stock_rule(shop_id=own.pk, actor=admin_user, reserved_units=10)
    seen = {}
    on_hand = 0
    for pool in (3, 11, 17, 33, 101):
        inventory_services.receive_stock(
            sku_id=sku.pk, warehouse_id=warehouse.pk, quantity=pool - on_hand, actor=None
        )
        on_hand = pool
        # when
        seen[pool] = inventory_services.channel_available(sku_id=sku.pk, shop_id=taobao.pk)
    # then
    assert seen == {
        pool: expected_figure(pool=pool, kept_for_others=10, buffer_units=1, quota_percent=60)
        for pool in (3, 11, 17, 33, 101)
    }
    assert seen == {3: 0, 11: 0, 17: 6, 33: 19, 101: 60}


def test_a_shop_limited_to_warehouses_only_sees_their_stock_and_keep_backs_on_other_warehouses_do_not_apply(
    admin_user,
) -> None:
    # given the own shop keeps 10 but sells only from warehouse A; the JD shop sells only from B
    sku = create_sku()
    warehouse_a, warehouse_b = create_warehouse(), create_warehouse()
    stock(sku=sku, warehouse=warehouse_a, on_hand=20)
    stock(sku=sku, warehouse=warehouse_b, on_hand=8)
    own, jd = create_shop(platform=Platform.OWN), create_shop(platform=Platform.JD)
    inventory_services.set_channel_stock_rule(
        shop_id=own.pk, actor=admin_user, reserved_units=10, warehouse_ids=[warehouse_a.pk]
    )
    inventory_services.set_channel_stock_rule(shop_id=jd.pk, actor=admin_user, warehouse_ids=[warehouse_b.pk])
    # when / then
    assert inventory_services.channel_available(sku_id=sku.pk, shop_id=jd.pk) == 8
    assert inventory_services.channel_available(sku_id=sku.pk, shop_id=own.pk) == 20


def test_a_bundle_counts_complete_bundles_per_warehouse_and_an_inactive_shop_sells_nothing() -> None:
    # given a bundle of 2×A + 1×B; warehouse 1 has 5 A and 9 B (2 bundles), warehouse 2 has 4 A, 1 B (1)
    part_a, part_b = create_sku(), create_sku()
    bundle = create_bundle(components={part_a: 2, part_b: 1})
    first, second = create_warehouse(), create_warehouse()
    stock(sku=part_a, warehouse=first, on_hand=5)
    stock(sku=part_b, warehouse=first, on_hand=9)
    stock(sku=part_a, warehouse=second, on_hand=4)
    stock(sku=part_b, warehouse=second, on_hand=1)
    shop, closed_shop = create_shop(), create_shop(is_active=False)
    # when / then
    assert inventory_services.channel_available(sku_id=bundle.pk, shop_id=shop.pk) == 5 // 2 + min(4 // 2, 1)
    assert inventory_services.channel_available(sku_id=bundle.pk, shop_id=closed_shop.pk) == 0


def test_a_rule_refuses_a_quota_above_100_percent_and_an_unknown_shop(admin_user) -> None:
    # given
    shop, sku = create_shop(), create_sku()
    # when / then
    with pytest.raises(InvalidInput) as refused:
        inventory_services.set_channel_stock_rule(shop_id=shop.pk, actor=admin_user, quota_percent=101)
    assert refused.value.fields == {"quota_percent": "须为 0–100"}
    with pytest.raises(NotFound):
        inventory_services.channel_available(sku_id=sku.pk, shop_id=shop.pk + 1000)
