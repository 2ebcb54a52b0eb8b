import datetime as dt
import itertools
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from shopops.catalog.tests.factories import create_shop
from shopops.channels.models import Platform, Shop
from shopops.core.errors import InvalidInput, NotFound, PermissionDeniedError
from shopops.core.models import AuditEntry
from shopops.customers.services import phone_hash, phone_last4
from shopops.inventory.tests.factories import create_sku
from shopops.orders import queries
from shopops.orders.models import (
    IssueStatus,
    Order,
    OrderIssue,
    OrderLine,
    OrderStatus,
    RefundStatus,
    ReviewStatus,
    SavedFilter,
)
from shopops.orders.queries import OrderSearch
from shopops.orders.services import filters as filter_services

SHANGHAI = ZoneInfo("Asia/Shanghai")
_numbers = itertools.count(1)


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


def make_order(
    *,
    shop: Shop,
    external_id: str | None = None,
    status: str = OrderStatus.PAID,
    placed_at: dt.datetime | None = None,
    paid_amount: str = "100.00",
    receiver_phone: str = "13800131234",
    receiver_name: str = "张三",
    receiver_address: str = "浙江省杭州市西湖区文三路100号",
    lines: list[tuple[str, int]] | None = None,
    skus: list[Any] | None = None,
    **extra: Any,
) -> Order:
    """An order row written directly (reads need no services): lines by merchant code or linked SKUs."""
    number = next(_numbers)
    order = Order.objects.create(
        shop=shop,
        external_id=external_id or f"EXT{number:06d}",
        status=status,
        placed_at=placed_at or local(2026, 6, 1, 10, 0),
        paid_amount=Decimal(paid_amount),
        receiver_phone=receiver_phone,
        receiver_phone_hash=phone_hash(receiver_phone),
        receiver_phone_last4=phone_last4(receiver_phone),
        receiver_name=receiver_name,
        receiver_province="浙江省",
        receiver_city="杭州市",
        receiver_district="西湖区",
        receiver_address=receiver_address,
        **extra,
    )
    line_no = itertools.count(1)
    for code, quantity in lines if lines is not None else [("MC-DEFAULT", 1)]:
        OrderLine.objects.create(
            order=order,
            line_no=next(line_no),
            merchant_code=code,
            quantity=quantity,
            unit_price=Decimal("10.00"),
        )
    for sku in skus or []:
        OrderLine.objects.create(order=order, line_no=next(line_no), sku=sku, quantity=1)
    return order


def found(user: Any, **params: Any) -> list[str]:
    orders = queries.search_orders(user, OrderSearch.from_dict(params))
    return sorted(orders.values_list("external_id", flat=True))


@pytest.fixture
def shop(db: None) -> Shop:
    return create_shop(code="tm-main", platform=Platform.TMALL)


def test_text_search_matches_order_no_buyer_and_tracking_number_exactly(admin_user, shop):
    # given
    make_order(shop=shop, external_id="A1001", buyer_id="tb_buyer_1", buyer_nick="小明")
    make_order(shop=shop, external_id="A1002", tracking_number="SF1234567890")
    make_order(shop=shop, external_id="A10021")
    # when / then
    assert found(admin_user, q="A1002") == ["A1002"]
    assert found(admin_user, q="tb_buyer_1") == ["A1001"]
    assert found(admin_user, q="小明") == ["A1001"]
    assert found(admin_user, q="SF1234567890") == ["A1002"]
    assert found(admin_user, q="A100") == []


def test_phone_search_by_full_number_uses_the_hash_and_by_last_four_digits(admin_user, shop):
    # given two numbers ending in 1234 and one ending in 5678
    make_order(shop=shop, external_id="P1", receiver_phone="13800131234")
    make_order(shop=shop, external_id="P2", receiver_phone="13900131234")
    make_order(shop=shop, external_id="P3", receiver_phone="13800135678")
    # when / then
    assert found(admin_user, phone="13800131234") == ["P1"]
    assert found(admin_user, phone="+86 138-0013-1234") == ["P1"]
    # (the last four digits narrowed by shop and day: alone they are too broad)
    day = {"shop_id": shop.pk, "placed_from": "2026-06-01", "placed_to": "2026-06-01"}
    assert found(admin_user, phone="1234", **day) == ["P1", "P2"]
    assert found(admin_user, phone="5678", **day) == ["P3"]
    assert found(admin_user, phone="13700131234") == []


def test_phone_search_refuses_other_lengths(admin_user, shop):
    with pytest.raises(InvalidInput) as refused:
        OrderSearch(phone="12345")
    assert refused.value.fields == {"phone": "请输入完整的 11 位手机号或后 4 位"}


def test_sku_search_by_line_merchant_code_linked_sku_code_or_sku_id(admin_user, shop):
    # given
    blue = create_sku(merchant_code="SKU-BLUE")
    make_order(shop=shop, external_id="S1", lines=[("MC-RED", 2)])
    make_order(shop=shop, external_id="S2", lines=[], skus=[blue])
    make_order(shop=shop, external_id="S3", lines=[("MC-RED", 1), ("MC-GREEN", 1)])
    # when / then (an order with two matching lines is listed once)
    assert found(admin_user, sku="MC-RED") == ["S1", "S3"]
    assert found(admin_user, sku="SKU-BLUE") == ["S2"]
    assert found(admin_user, sku=str(blue.pk)) == ["S2"]
    assert found(admin_user, sku="MC-NONE") == []


def test_status_refund_review_validity_flag_and_shop_filters(admin_user, shop):
    # given
    jd = create_shop(code="jd-main", platform=Platform.JD)
    make_order(shop=shop, external_id="T1", status=OrderStatus.PAID, is_valid=True, flag=1)
    make_order(shop=shop, external_id="T2", status=OrderStatus.SHIPPED, refund_status=RefundStatus.PARTIAL)
    make_order(shop=jd, external_id="T3", status=OrderStatus.CANCELLED, review_status=ReviewStatus.INVALID)
    make_order(shop=jd, external_id="T4", status=OrderStatus.PAID, review_status=ReviewStatus.EXCEPTION)
    # when / then
    assert found(admin_user, status=["paid", "shipped"]) == ["T1", "T2", "T4"]
    assert found(admin_user, status="cancelled") == ["T3"]
    assert found(admin_user, refund_status="partial") == ["T2"]
    assert found(admin_user, review_status="exception") == ["T4"]
    assert found(admin_user, is_valid=True) == ["T1"]
    assert found(admin_user, is_valid="false") == ["T2", "T3", "T4"]
    assert found(admin_user, flag=1) == ["T1"]
    assert found(admin_user, shop_id=jd.pk) == ["T3", "T4"]
    assert found(admin_user, platform="tmall") == ["T1", "T2"]
    assert found(admin_user, platform="jd", status=["paid"]) == ["T4"]


def test_placed_date_range_uses_asia_shanghai_business_days(admin_user, shop):
    # given orders around the edges of 2026-06-01 in Shanghai (00:00 +08:00 is 2026-05-31 16:00 UTC)
    make_order(shop=shop, external_id="D0", placed_at=local(2026, 5, 31, 23, 59, 59))
    make_order(shop=shop, external_id="D1", placed_at=dt.datetime(2026, 5, 31, 16, 0, tzinfo=dt.UTC))
    make_order(shop=shop, external_id="D2", placed_at=local(2026, 6, 1, 23, 59, 59))
    make_order(shop=shop, external_id="D3", placed_at=local(2026, 6, 2, 0, 0))
    # when / then
    assert found(admin_user, placed_from="2026-06-01", placed_to="2026-06-01") == ["D1", "D2"]
    assert found(admin_user, placed_from="2026-06-01") == ["D1", "D2", "D3"]
    assert found(admin_user, placed_to="2026-05-31") == ["D0"]


def test_paid_and_shipped_date_ranges(admin_user, shop):
    # given
    make_order(
        shop=shop, external_id="E1", paid_at=local(2026, 6, 3, 9, 0), shipped_at=local(2026, 6, 4, 9, 0)
    )
    make_order(shop=shop, external_id="E2", paid_at=local(2026, 6, 4, 9, 0))
    make_order(shop=shop, external_id="E3")
    # when / then
    assert found(admin_user, paid_from="2026-06-03", paid_to="2026-06-03") == ["E1"]
    assert found(admin_user, paid_from="2026-06-01") == ["E1", "E2"]
    assert found(admin_user, shipped_from="2026-06-04", shipped_to="2026-06-04") == ["E1"]


def test_amount_range_on_paid_amount_is_inclusive(admin_user, shop):
    # given
    for external_id, amount in (("M1", "99.99"), ("M2", "100.00"), ("M3", "200.00"), ("M4", "200.01")):
        make_order(shop=shop, external_id=external_id, paid_amount=amount)
    # when / then
    assert found(admin_user, amount_min="100", amount_max="200.00") == ["M2", "M3"]
    assert found(admin_user, amount_min="200.01") == ["M4"]
    assert found(admin_user, amount_max="99.99") == ["M1"]


def test_has_open_issues(admin_user, shop):
    # given
    open_one = make_order(shop=shop, external_id="I1")
    settled = make_order(shop=shop, external_id="I2")
    make_order(shop=shop, external_id="I3")
    OrderIssue.objects.create(order=open_one, rule="incomplete_address", message="地址不完整")
    OrderIssue.objects.create(order=settled, rule="test_order", message="测试单", status=IssueStatus.RESOLVED)
    # when / then
    assert found(admin_user, has_open_issues=True) == ["I1"]
    assert found(admin_user, has_open_issues=False) == ["I2", "I3"]


def test_search_is_limited_to_the_users_shops(make_user, shop):
    # given
    other = create_shop(code="pdd-1", platform=Platform.PDD)
    make_order(shop=shop, external_id="O1")
    make_order(shop=other, external_id="O2")
    clerk = make_user("operations", shops=[shop])
    # when / then
    assert found(clerk) == ["O1"]
    assert found(clerk, shop_id=other.pk) == []


def test_search_parameters_are_validated():
    # when
    with pytest.raises(InvalidInput) as refused:
        OrderSearch.from_dict(
            {
                "colour": "red",
                "status": ["paid", "lost"],
                "placed_from": "2026-06-02",
                "placed_to": "2026-06-01",
                "amount_min": "abc",
                "flag": 7,
            }
        )
    # then unknown keys and unparsable values are named first
    assert refused.value.fields == {"colour": "未知的筛选条件", "amount_min": "格式无效"}
    with pytest.raises(InvalidInput) as refused:
        OrderSearch.from_dict(
            {"status": ["paid", "lost"], "placed_from": "2026-06-02", "placed_to": "2026-06-01", "flag": 7}
        )
    assert set(refused.value.fields) == {"status", "placed_to", "flag"}
    assert refused.value.fields["placed_to"] == "结束日期不能早于开始日期"


def test_search_round_trips_through_a_dict():
    # given
    search = OrderSearch(
        q="A1",
        phone="1234",
        status=("paid", "shipped"),
        is_valid=False,
        placed_from=dt.date(2026, 6, 1),
        amount_max=Decimal("88.50"),
        flag=0,
    )
    # when
    data = search.to_dict()
    # then
    assert data == {
        "q": "A1",
        "phone": "1234",
        "status": ["paid", "shipped"],
        "is_valid": False,
        "placed_from": "2026-06-01",
        "amount_max": "88.50",
        "flag": 0,
    }
    assert OrderSearch.from_dict(data) == search


def test_saved_filter_round_trip_rename_share_delete(make_user, shop):
    # given
    owner = make_user("operations")
    colleague = make_user("operations")
    make_order(shop=shop, external_id="F1", status=OrderStatus.PAID, paid_amount="50.00")
    make_order(shop=shop, external_id="F2", status=OrderStatus.PAID, paid_amount="150.00")
    # when saving a search
    saved = filter_services.create_saved_filter(
        actor=owner, name="大额待发货", params={"status": ["paid"], "amount_min": "100"}
    )
    # then it is stored normalized and gives the same orders back
    assert saved.params == {"status": ["paid"], "amount_min": "100"}
    assert found(owner, **queries.saved_search(owner, saved.pk).to_dict()) == ["F2"]
    # and it is private until shared
    with pytest.raises(NotFound):
        queries.saved_search(colleague, saved.pk)
    filter_services.rename_saved_filter(actor=owner, filter_id=saved.pk, name="大额待发")
    filter_services.share_saved_filter(actor=owner, filter_id=saved.pk)
    assert list(queries.saved_filters_for(colleague).values_list("name", flat=True)) == ["大额待发"]
    # a colleague may use but not delete it
    with pytest.raises(PermissionDeniedError):
        filter_services.delete_saved_filter(actor=colleague, filter_id=saved.pk)
    filter_services.delete_saved_filter(actor=owner, filter_id=saved.pk)
    assert SavedFilter.objects.count() == 0
    actions = list(
        AuditEntry.objects.filter(action__startswith="saved_filter.")
        .order_by("pk")
        .values_list("action", flat=True)
    )
    assert actions == [
        "saved_filter.created",
        "saved_filter.updated",
        "saved_filter.updated",
        "saved_filter.deleted",
    ]


def test_saved_filter_params_are_validated_on_save_and_on_use(make_user):
    # given
    owner = make_user("operations")
    # when / then saving bad parameters is refused
    with pytest.raises(InvalidInput) as refused:
        filter_services.create_saved_filter(actor=owner, name="坏", params={"phone": "12"})
    assert refused.value.fields == {"phone": "请输入完整的 11 位手机号或后 4 位"}
    # and a stored filter that no longer validates is refused when used
    stale = SavedFilter.objects.create(owner=owner, name="旧", params={"status": ["lost"]})
    with pytest.raises(InvalidInput):
        queries.saved_search(owner, stale.pk)


def test_duplicate_saved_filter_name_is_a_conflict(make_user):
    owner = make_user("operations")
    filter_services.create_saved_filter(actor=owner, name="待发货", params={"status": ["paid"]})
    with pytest.raises(filter_services.DuplicateSavedFilter):
        filter_services.create_saved_filter(actor=owner, name="待发货", params={})


def test_exception_queue_lists_open_issues_oldest_first_with_filters(make_user, shop):
    # given
    other = create_shop(code="jd-2", platform=Platform.JD)
    first = OrderIssue.objects.create(order=make_order(shop=shop), rule="incomplete_address", message="x")
    second = OrderIssue.objects.create(order=make_order(shop=other), rule="unpaid_timeout", message="y")
    OrderIssue.objects.create(
        order=make_order(shop=shop), rule="incomplete_address", message="z", status=IssueStatus.IGNORED
    )
    clerk = make_user("operations", shops=[shop])
    admin = make_user("admin")
    # when / then
    assert list(queries.exception_queue(admin)) == [first, second]
    assert list(queries.exception_queue(admin, rule="unpaid_timeout")) == [second]
    assert list(queries.exception_queue(admin, shop_id=shop.pk)) == [first]
    assert list(queries.exception_queue(clerk)) == [first]


def test_orders_created_through_the_service_are_found_by_phone_and_sku(admin_user):
    # given orders created by the order service (which stores the phone hash and last four digits)
    from shopops.orders.tests import factories

    shop = factories.create_shop()
    sku = factories.stocked_sku(on_hand=10, merchant_code="SVC-RED")
    created = factories.create_order(
        shop=shop, lines=[(sku, 1, "59.00")], external_id="SVC1", receiver_phone="+86 138 1234 5678"
    )
    factories.create_order(shop=shop, lines=[("SVC-BLUE", 1, "9.00")], external_id="SVC2")
    # when / then
    assert found(admin_user, phone="13812345678") == ["SVC1"]
    assert found(admin_user, phone="5678", q="SVC1") == ["SVC1"]
    assert found(admin_user, sku="SVC-RED") == ["SVC1"]
    assert found(admin_user, sku=str(sku.pk)) == ["SVC1"]
    assert queries.order_detail(admin_user, created.pk).events.all()[0].kind == "created"
