"""商品对应: an operator maps an unmatched platform line to a SKU once per shop; the waiting orders get the
SKU, reserve stock and pass review, later imports use the mapping, other shops stay as they were."""

from __future__ import annotations

import datetime as dt
import io
import zoneinfo

import pytest
import time_machine

from shopops.core.errors import NotFound, PermissionDeniedError
from shopops.inventory.models import Reservation, ReservationStatus
from shopops.inventory.tests.factories import create_sku
from shopops.orders import queries, services
from shopops.orders.imports import import_orders
from shopops.orders.models import (
    IssueStatus,
    Order,
    OrderIssue,
    OrderLine,
    ReviewStatus,
    SkuMapping,
    StockState,
)
from shopops.orders.tests.factories import create_shop, order_input, stocked_sku
from shopops.orders.tests.import_fixtures import csv_bytes

pytestmark = pytest.mark.django_db
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 6, 2, 9, 0, tzinfo=SHANGHAI)  # after the factory shops start tracking stock

HEADER = ["订单号", "子订单号", "订单状态", "下单时间", "付款时间", "买家ID", "收货人", "收货电话", "省", "市",
          "区县", "详细地址", "实付金额", "商家编码", "数量", "单价"]  # fmt: skip


def row(order_id: str, code: str, quantity: int, buyer: str) -> list[str]:
    placed = "2026-06-01 10:00:00"
    phone = f"1360000{sum(map(ord, order_id)):04d}"
    return [order_id, f"{order_id}-1", "paid", placed, placed, buyer, "孙八", phone, "浙江省", "杭州市", "西湖区",
            "文一路 9 号", f"{30 * quantity}.00", code, str(quantity), "30.00"]  # fmt: skip


def run_import(shop, rows):
    return import_orders(
        source=io.BytesIO(csv_bytes(HEADER, rows)),
        filename="orders.csv",
        actor="cli:test",
        shop=shop.code,
        format="template",
    )


def open_rules(order: Order) -> set[str]:
    return set(OrderIssue.objects.filter(order=order, status=IssueStatus.OPEN).values_list("rule", flat=True))


def reserved_units(sku) -> int:
    return sum(
        Reservation.objects.filter(sku=sku, status=ReservationStatus.ACTIVE).values_list(
            "quantity", flat=True
        )
    )


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def two_shops():
    return create_shop(code="tb-new"), create_shop(code="tb-other")


def test_mapping_fixes_waiting_orders_and_later_imports(make_user, two_shops):
    # given a new Taobao shop whose outer ids are not our SKU codes, and another shop with the same code
    shop, other = two_shops
    sku = stocked_sku(on_hand=10, merchant_code="REAL-1")
    rows = [("T1", 2, "b1"), ("T2", 1, "b2")]
    run_import(shop, [row(order_id, "TB-9", quantity, buyer) for order_id, quantity, buyer in rows])
    run_import(other, [row("O1", "TB-9", 4, "b3")])
    waiting = list(Order.objects.filter(shop=shop).order_by("external_id"))
    assert [open_rules(order) for order in waiting] == [{"sku_unmatched"}, {"sku_unmatched"}]
    unmatched = {
        entry.key: entry for entry in queries.unmatched_sku_keys(make_user("admin"), shop_id=shop.pk)
    }
    assert (unmatched[("TB-9", "", "")].orders, unmatched[("TB-9", "", "")].units) == (2, 3)
    operator = make_user("operations")

    # when the operator maps TB-9 to REAL-1 in this shop
    result = services.map_sku(actor=operator, shop_id=shop.pk, merchant_code=" TB-9 ", sku_id=sku.pk)

    # then the waiting orders get the SKU, reserve their units and pass review
    assert (result.lines, sorted(result.order_ids)) == (2, sorted(order.pk for order in waiting))
    for order in Order.objects.filter(shop=shop):
        assert open_rules(order) == set()
        assert (order.review_status, order.stock_state) == (ReviewStatus.PASSED, StockState.RESERVED)
        settled = OrderIssue.objects.get(order=order, rule="sku_unmatched")
        assert settled.status == IssueStatus.RESOLVED
        assert settled.resolution.startswith("系统：")
    assert reserved_units(sku) == sum(quantity for _id, quantity, _buyer in rows)
    # the other shop's order is untouched
    untouched = Order.objects.get(shop=other)
    assert open_rules(untouched) == {"sku_unmatched"}
    assert OrderLine.objects.get(order=untouched).sku_id is None
    assert [entry.key for entry in queries.unmatched_sku_keys(operator, shop_id=shop.pk)] == []

    # and mapping again is a no-op
    again = services.map_sku(actor=operator, shop_id=shop.pk, merchant_code="TB-9", sku_id=sku.pk)
    assert (again.lines, again.order_ids) == (0, [])
    assert SkuMapping.objects.filter(shop=shop).count() == 1
    assert reserved_units(sku) == 3

    # and a later import of the shop uses the mapping: matched, reserved, no issue
    run_import(shop, [row("T3", "TB-9", 5, "b4")])
    later = Order.objects.get(shop=shop, external_id="T3")
    assert OrderLine.objects.get(order=later).sku_id == sku.pk
    assert open_rules(later) == set()
    assert reserved_units(sku) == 8
    # while the other shop's next import still lands unmatched
    run_import(other, [row("O2", "TB-9", 1, "b5")])
    assert open_rules(Order.objects.get(shop=other, external_id="O2")) == {"sku_unmatched"}


def test_lines_without_a_code_are_mapped_by_title_and_spec(make_user):
    shop = create_shop()
    sku = stocked_sku(on_hand=5)
    data = order_input(lines=[(None, 2, "10.00")])
    data.lines[0].title = "夏季短袖T恤"
    data.lines[0].spec = "颜色:白;尺码:M"
    order = services.create_order(actor="cli:test", shop_id=shop.pk, data=data)
    assert open_rules(order) == {"sku_unmatched"}
    operator = make_user("customer_service")

    services.map_sku(
        actor=operator, shop_id=shop.pk, title="夏季短袖T恤", spec="颜色:白;尺码:M", sku_id=sku.pk
    )

    order.refresh_from_db()
    assert open_rules(order) == set()
    assert order.stock_state == StockState.RESERVED
    assert reserved_units(sku) == 2
    # a new order of the same listing is matched at creation
    second = order_input(lines=[(None, 1, "10.00")])
    second.lines[0].title = "夏季短袖T恤"
    second.lines[0].spec = "颜色:白;尺码:M"
    created = services.create_order(actor="cli:test", shop_id=shop.pk, data=second)
    assert OrderLine.objects.get(order=created).sku_id == sku.pk


def test_bulk_mapping_by_prefix_previews_then_applies(make_user):
    shop = create_shop()
    first = create_sku(merchant_code="A-100")
    second = create_sku(merchant_code="A-200")
    run_import(
        shop, [row("P1", "TB-A-100", 1, "b1"), row("P2", "TB-A-200", 1, "b2"), row("P3", "ZZ-1", 1, "b3")]
    )
    operator = make_user("operations")

    preview = services.bulk_candidates(shop_id=shop.pk, mode="strip_prefix", prefix="TB-")
    assert {key[0]: sku.merchant_code for key, sku in preview.items()} == {
        "TB-A-100": "A-100",
        "TB-A-200": "A-200",
    }

    result = services.bulk_map(actor=operator, shop_id=shop.pk, mode="strip_prefix", prefix="TB-")

    assert len(result.order_ids) == 2
    mapped = dict(OrderLine.objects.filter(order__shop=shop).values_list("order__external_id", "sku_id"))
    assert mapped == {"P1": first.pk, "P2": second.pk, "P3": None}
    assert [entry.key for entry in queries.unmatched_sku_keys(operator, shop_id=shop.pk)] == [
        ("ZZ-1", "", "")
    ]


def test_mapping_checks_permission_and_shop_scope(make_user, two_shops):
    shop, other = two_shops
    sku = create_sku(merchant_code="REAL-2")
    run_import(shop, [row("S1", "TB-2", 1, "b1")])
    with pytest.raises(PermissionDeniedError):
        services.map_sku(actor=make_user("warehouse"), shop_id=shop.pk, merchant_code="TB-2", sku_id=sku.pk)
    outsider = make_user("operations", shops=[other])
    with pytest.raises(NotFound):
        services.map_sku(actor=outsider, shop_id=shop.pk, merchant_code="TB-2", sku_id=sku.pk)
    with pytest.raises(NotFound):
        services.bulk_map(actor=outsider, shop_id=shop.pk, mode="equal")
    assert queries.unmatched_sku_keys(outsider) == []
    assert not SkuMapping.objects.exists()
    assert OrderLine.objects.get(order__external_id="S1").sku_id is None
