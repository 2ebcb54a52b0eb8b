"""The import reviews the history orders it creates from the values it holds, with their outcome in the
INSERT (no reload); these tests hold it to what `review_orders` makes of the same orders in the database,
and check the fast paths of the import's parsers and writers against the general functions."""

import datetime as dt
import io
import zoneinfo
from decimal import Decimal

import pytest

from shopops.core import tabular
from shopops.core.errors import InvalidInput
from shopops.core.money import plain_money, to_money
from shopops.customers.models import Customer
from shopops.customers.services import match_customer
from shopops.inventory.tests.factories import create_sku
from shopops.orders import services
from shopops.orders.imports import _clean, import_orders
from shopops.orders.imports.bulk import fetch_in
from shopops.orders.imports.reading import identifier_parser, parse_money, refund_money_parser
from shopops.orders.models import Order, OrderEvent, OrderEventKind, OrderIssue
from shopops.orders.services.common import aware
from shopops.orders.tests.factories import create_shop
from shopops.orders.tests.import_fixtures import csv_bytes

HEADER = ["订单号", "子订单号", "订单状态", "下单时间", "付款时间", "买家ID", "收货人", "收货电话", "省", "市",
          "区县", "详细地址", "实付金额", "商家编码", "数量", "单价", "买家留言"]  # fmt: skip


def row(order_id, *, buyer, phone=None, placed="2025-06-01 10:00:00", status="paid", code="BAG-1",
        paid="30.00", address="文一路 9 号", message="", name="孙八"):  # fmt: skip
    paid_at = "" if status == "pending_payment" else placed
    if phone is None:  # a phone of its own (one shared by five buyers makes a suspected fake)
        phone = f"1360000{sum(map(ord, order_id)):04d}"
    return [order_id, f"{order_id}-1", status, placed, paid_at, buyer, name, phone, "浙江省", "杭州市", "西湖区",
            address, paid, code, "1", "30.00", message]  # fmt: skip


def rules_file():
    """History orders (2025) that make every review rule fire, and one order placed after the shop's
    stock effects start (tracked: reviewed the usual way, after its stock)."""
    rows = [
        row("D1", buyer="dupe", placed="2025-06-01 10:00:00"),
        row("D2", buyer="dupe", placed="2025-06-01 10:10:00", phone="13600000117"),  # duplicate of D1
        row("U1", buyer="late", status="pending_payment"),  # unpaid long past its deadline
        row("X1", buyer="tester", message="测试单，请勿发货"),  # test order
        row("S1", buyer="lost", code="NO-SUCH-SKU"),  # SKU unmatched
        row("A1", buyer="far", address=""),  # incomplete address
        row("B1", buyer="bad"),  # blacklisted buyer
        row("N1", buyer="", phone="", name=""),  # nobody to match: no customer, incomplete address
        row("T1", buyer="now", placed="2026-06-01 10:00:00"),  # tracked
    ]
    # five buyers on one receiver phone within the fake window: the fifth is suspected
    rows += [
        row(f"F{n}", buyer=f"farm{n}", phone="13900009999", placed=f"2025-07-0{n} 09:00:00")
        for n in range(1, 6)
    ]
    # one buyer ordering more than `fake_buyer_orders_per_hour` (2 here) in an hour
    rows += [
        row(f"H{n}", buyer="hasty", placed=f"2025-08-01 09:0{n}:00", phone="", paid=f"{n}0.00")
        for n in range(1, 5)
    ]
    return csv_bytes(HEADER, rows)  # fmt: skip


def review_state():
    orders = dict(Order.objects.values_list("external_id", "review_status").order_by("external_id"))
    validity = dict(Order.objects.values_list("external_id", "is_valid"))
    issues = sorted(OrderIssue.objects.values_list("order__external_id", "rule", "status", "message"))
    events = sorted(OrderEvent.objects.values_list("order__external_id", "kind", "message", "changes"))
    return orders, validity, issues, events


@pytest.mark.django_db
def test_import_reviews_new_history_orders_as_review_orders_does(settings):
    # given
    settings.ORDER_REVIEW = {"fake_buyer_orders_per_hour": 2}
    shop = create_shop(platform="own")
    create_sku(merchant_code="BAG-1")
    bad = match_customer(platform="own", buyer_id="bad", phone="13611112222")
    assert bad is not None
    Customer.objects.filter(pk=bad.pk).update(is_blacklisted=True, blacklist_reason="恶意退款")

    # when
    result = import_orders(
        source=io.BytesIO(rules_file()),
        filename="rules.csv",
        actor="cli:test",
        shop=shop.code,
        format="template",
    )
    imported = review_state()
    services.review_orders(order_ids=list(Order.objects.values_list("pk", flat=True)), actor="cli:test")

    # then: reviewing them again from the database changes nothing, and every rule fired
    assert result.errors == []
    assert review_state() == imported
    statuses, validity, issues, _events = imported
    rules = {(order, rule) for order, rule, _status, _message in issues}
    assert {("D2", "duplicate"), ("U1", "unpaid_timeout"), ("X1", "test_order"), ("S1", "sku_unmatched"),
            ("A1", "incomplete_address"), ("B1", "blacklisted_buyer"), ("F5", "suspected_fake"),
            ("H3", "suspected_fake"), ("N1", "incomplete_address")} <= rules  # fmt: skip
    assert ("D1", "duplicate") not in rules
    assert (statuses["D1"], validity["D1"]) == ("passed", True)
    assert (statuses["D2"], validity["D2"]) == ("invalid", False)
    assert (statuses["S1"], validity["S1"]) == ("exception", True)
    assert (statuses["U1"], validity["U1"]) == ("invalid", False)
    reviewed = OrderEvent.objects.filter(kind=OrderEventKind.REVIEWED)
    assert reviewed.count() == Order.objects.count()
    assert reviewed.get(order__external_id="D2").changes["review_status"] == ["pending", "invalid"]
    assert Order.objects.get(external_id="T1").stock_state != "untracked"


@pytest.mark.django_db
def test_reimport_of_the_rules_file_changes_nothing(settings):
    # given
    settings.ORDER_REVIEW = {"fake_buyer_orders_per_hour": 2}
    shop = create_shop(platform="own")
    create_sku(merchant_code="BAG-1")
    data = rules_file()
    import_orders(
        source=io.BytesIO(data), filename="a.csv", actor="cli:test", shop=shop.code, format="template"
    )
    before = review_state()

    # when
    again = import_orders(
        source=io.BytesIO(data), filename="b.csv", actor="cli:test", shop=shop.code, format="template"
    )

    # then
    assert (again.created, again.updated, again.errors) == (0, 0, [])
    assert review_state() == before


MONEY_TEXTS = ["12.34", "99", "12.34元", "0", "0.005", "0.015", "00012.10", "12.3456", "999999999999.99",
               "999999999999.995", "1000000000000", "-1", "1,000", "¥5", " 5", "1e3", "1.2.3", "", "元", "٣"]  # fmt: skip
# what the fast path leaves to `to_money` (out of range, signs, separators, spaces, exponents, non-ASCII)
DECLINED = {"999999999999.995", "1000000000000", "-1", "1,000", "¥5", " 5", "1e3", "1.2.3", "", "元", "٣"}


@pytest.mark.parametrize("text", MONEY_TEXTS)
def test_plain_money_is_to_money_or_declines(text):
    # when
    fast = plain_money(text)

    # then
    if text in DECLINED:
        assert fast is None
    else:
        assert fast is not None
        assert str(fast) == str(to_money(text))


def outcome(function, *args):
    try:
        return ("ok", str(function(*args)))
    except (ValueError, InvalidInput) as error:
        return ("error", str(error))


@pytest.mark.parametrize("text", [text for text in MONEY_TEXTS if text.strip()])
def test_import_money_parsers_give_what_the_general_ones_give(text):
    # given
    refund = refund_money_parser({"无退款": "none"})

    # then
    assert outcome(parse_money, text) == outcome(tabular.parse_money, text)
    assert outcome(refund, text) == outcome(tabular.parse_money, text)
    assert refund("无退款申请") == refund("无退款") == Decimal("0.00")


@pytest.mark.parametrize("text", ["123", "2876543210987654321", "1" * 65, "1.23E+18", "AB-1", "１２３", "²"])
def test_identifier_fast_path_gives_what_the_general_parser_gives(text):
    assert outcome(identifier_parser(64), text) == outcome(tabular.identifier_parser(64), text)


@pytest.mark.parametrize(
    "cell",
    ['="123"', '=" 12 "', '="无"', '="', "'0012", "无", "  x  ", "\ufeffabc", "abc\u200b", "", None, 12, 1.5],
)
def test_clean_gives_what_clean_cell_gives(cell):
    assert _clean(cell) == tabular.clean_cell(cell)


def test_aware_fast_path_keeps_refusing_naive_times():
    # given
    shanghai = dt.datetime(2025, 1, 1, 8, tzinfo=zoneinfo.ZoneInfo("Asia/Shanghai"))

    # then
    assert aware(shanghai, field="placed_at") is shanghai
    assert aware(dt.datetime(2025, 1, 1, tzinfo=dt.UTC), field="placed_at") is not None
    with pytest.raises(InvalidInput):
        aware(dt.datetime(2025, 1, 1), field="placed_at")  # noqa: DTZ001 - the naive time refused


@pytest.mark.django_db
def test_fetch_in_reads_batches_and_no_values():
    # given
    shop = create_shop(platform="own")
    create_sku(merchant_code="BAG-1")
    import_orders(
        source=io.BytesIO(rules_file()), filename="a.csv", actor="cli:test", shop=shop.code, format="template"
    )
    wanted = ["D1", "D2", "F1", "F2", "F3", "nope"]

    # when
    found = fetch_in("SELECT external_id FROM orders_order WHERE shop_id = %s AND", "external_id", wanted,
                     [shop.pk], batch=2)  # fmt: skip

    # then
    assert sorted(external_id for (external_id,) in found) == ["D1", "D2", "F1", "F2", "F3"]
    assert fetch_in("SELECT id FROM orders_order WHERE", "id", []) == []
