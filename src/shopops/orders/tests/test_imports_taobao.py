import datetime as dt
import io
from decimal import Decimal

import pytest

from shopops.core.errors import NotFound, PermissionDeniedError
from shopops.core.models import AuditEntry
from shopops.inventory.tests.factories import create_sku
from shopops.orders.imports import IMPORT_KINDS, import_orders
from shopops.orders.models import Order, OrderEvent, OrderEventKind, OrderLine
from shopops.orders.tests.factories import create_shop
from shopops.orders.tests.import_fixtures import TAOBAO_HEADER, counts, csv_bytes, problems, taobao_row

pytestmark = pytest.mark.django_db

ORDER_A = "2876543210987654321"
ORDER_B = "2876543210987654322"
ORDER_C = "1876543210987654"
ACTOR = "cli:test"
ITEMS_HEADER = [
    "子订单编号",
    "主订单编号",
    "标题",
    "价格",
    "购买数量",
    "外部系统编号",
    "商品属性",
    "套餐信息",
    "备注",
    "订单状态",
    "商家编码",
    "支付单号",
    "买家应付货款",
    "买家实际支付金额",
    "退款状态",
    "退款金额",
    "订单创建时间",
    "订单付款时间",
]


def run(shop, data, **options):
    return import_orders(
        source=io.BytesIO(data), filename="ExportOrderList.csv", actor=ACTOR, shop=shop.code, **options
    )


def test_taobao_file_with_a_bad_row_is_refused_whole_in_all_or_nothing():
    # given
    shop = create_shop()
    data = csv_bytes(
        TAOBAO_HEADER, [taobao_row(ORDER_A), taobao_row(ORDER_B, paid="abc元")], encoding="gb18030"
    )
    before = counts()

    # when
    result = run(shop, data, format="taobao")

    # then
    assert result.is_refused
    assert problems(result) == [(3, "买家实际支付金额", "“abc元”不是有效金额")]
    assert counts() == before


def test_taobao_skip_bad_rows_keeps_good_orders_and_reads_every_quirk():
    # given
    shop = create_shop()
    data = csv_bytes(
        TAOBAO_HEADER, [taobao_row(ORDER_A), taobao_row(ORDER_B, paid="abc元")], encoding="gb18030"
    )

    # when
    result = run(shop, data, format="taobao", mode="skip_bad_rows")

    # then
    assert result.encoding == "gb18030"
    assert (result.created, result.skipped) == (1, 1)
    assert problems(result) == [(3, "买家实际支付金额", "“abc元”不是有效金额")]
    assert result.unknown_columns == ["神秘新列"]
    order = Order.objects.get()
    assert order.external_id == ORDER_A
    assert (order.status, order.platform_status) == ("paid", "买家已付款，等待卖家发货")
    assert (order.goods_amount, order.shipping_fee, order.paid_amount) == (
        Decimal("100.00"),
        Decimal("10.00"),
        Decimal("110.00"),
    )
    assert (order.receiver_province, order.receiver_city, order.receiver_district) == (
        "浙江省",
        "杭州市",
        "西湖区",
    )
    assert (order.receiver_address, order.receiver_postcode) == ("文三路 100号 5幢", "310012")
    assert order.receiver_phone == "13800000000-1234"
    assert (order.receiver_phone_hash, order.receiver_phone_last4) == ("", "1234")
    assert order.placed_at == dt.datetime(2016, 5, 23, 14, 2, tzinfo=dt.UTC)
    assert order.paid_at == dt.datetime(2016, 5, 23, 14, 5, tzinfo=dt.UTC)
    assert (order.stock_state, order.source, order.buyer_id) == ("untracked", "import", "tb_buyer1")
    assert order.customer is not None
    assert order.import_sha256 == result.sha256
    line = OrderLine.objects.get()
    assert (line.title, line.quantity, line.unit_price, line.amount) == (
        "真丝连衣裙",
        2,
        Decimal("50.00"),
        Decimal("100.00"),
    )
    assert (line.merchant_code, line.sku_id) == ("", None)
    created = OrderEvent.objects.get(order=order, kind=OrderEventKind.CREATED)
    assert (created.via, created.message, created.to_status) == ("import", "导入 ExportOrderList.csv", "paid")
    assert AuditEntry.objects.filter(action="orders.imported").count() == 1


def test_reimporting_the_same_taobao_file_changes_nothing():
    # given
    shop = create_shop()
    data = csv_bytes(
        TAOBAO_HEADER, [taobao_row(ORDER_A), taobao_row(ORDER_C, goods="50", postage="0", paid="50")]
    )
    run(shop, data, format="taobao")
    before = counts()

    same_rows_other_bytes = data.decode().encode("gb18030")  # another file: compared field by field

    # when
    result = run(shop, data, format="taobao")
    compared = run(shop, same_rows_other_bytes, format="taobao")

    # then
    assert result.counts() == {"total": 2, "created": 0, "updated": 0, "unchanged": 2, "skipped": 0}
    assert compared.counts() == {"total": 2, "created": 0, "updated": 0, "unchanged": 2, "skipped": 0}
    assert compared.sha256 != result.sha256
    assert counts() == before


def test_newer_taobao_export_updates_status_and_refund_and_records_the_change():
    # given
    shop = create_shop()
    first = csv_bytes(
        TAOBAO_HEADER, [taobao_row(ORDER_A), taobao_row(ORDER_C, goods="50", postage="0", paid="50")]
    )
    run(shop, first, format="taobao")
    before = counts()
    newer = csv_bytes(
        TAOBAO_HEADER,
        [
            taobao_row(
                ORDER_A, status="卖家已发货，等待买家确认", tracking="SF1234567890123", carrier="顺丰速运"
            ),
            taobao_row(ORDER_C, goods="50", postage="0", paid="50", status="交易关闭"),
        ],
    )

    # when
    result = run(shop, newer, format="taobao")

    # then
    assert (result.created, result.updated, result.unchanged) == (0, 2, 0)
    shipped = Order.objects.get(external_id=ORDER_A)
    assert (shipped.status, shipped.tracking_number, shipped.carrier_name) == (
        "shipped",
        "SF1234567890123",
        "顺丰速运",
    )
    closed = Order.objects.get(external_id=ORDER_C)
    assert (closed.status, closed.refunded_amount, closed.refund_status) == (
        "closed",
        Decimal("50.00"),
        "full",
    )
    event = OrderEvent.objects.get(order=shipped, kind=OrderEventKind.IMPORTED)
    assert event.changes["status"] == ["paid", "shipped"]
    assert event.changes["tracking_number"] == ["", "SF1234567890123"]
    assert (event.via, event.from_status, event.to_status) == ("import", "paid", "shipped")
    after = counts()
    assert (after["orders"], after["lines"]) == (before["orders"], before["lines"])
    assert shipped.import_sha256 == result.sha256


def test_item_report_replaces_the_summary_line_with_real_lines_and_skus():
    # given
    shop = create_shop()
    sku = create_sku(merchant_code="DRESS-M")
    run(shop, csv_bytes(TAOBAO_HEADER, [taobao_row(ORDER_A)]), format="taobao")
    items = csv_bytes(
        ITEMS_HEADER,
        [
            [
                f'="{ORDER_A}1"',
                f'="{ORDER_A}"',
                "真丝连衣裙 M",
                "50.00",
                "1",
                "",
                "尺码:M",
                "",
                "",
                "买家已付款，等待卖家发货",
                "DRESS-M",
                "",
                "50.00",
                "50.00",
                "没有申请退款",
                "无退款申请",
                "2016-05-23 22:02:00",
                "2016-05-23 22:05:00",
            ],
            [
                f'="{ORDER_A}2"',
                f'="{ORDER_A}"',
                "真丝连衣裙 L",
                "50.00",
                "1",
                "DRESS-L",
                "尺码:L",
                "",
                "",
                "买家已付款，等待卖家发货",
                "",
                "",
                "50.00",
                "50.00",
                "退款成功",
                "50.00",
                "2016-05-23 22:02:00",
                "2016-05-23 22:05:00",
            ],
        ],
        encoding="gb18030",
    )

    # when
    result = run(shop, items, format="taobao_items")

    # then
    assert (result.updated, result.errors) == (2, [])
    assert [(warning.row, warning.message) for warning in result.warnings] == [
        (3, "商家编码“DRESS-L”没有对应的 SKU（订单照常导入，审单会提示）")
    ]
    order = Order.objects.get()
    lines = list(
        order.lines.values_list("external_line_id", "merchant_code", "sku_id", "quantity", "refunded_amount")
    )
    assert lines == [
        (f"{ORDER_A}1", "DRESS-M", sku.pk, 1, Decimal("0.00")),
        (f"{ORDER_A}2", "DRESS-L", None, 1, Decimal("50.00")),
    ]
    assert (order.paid_amount, order.refunded_amount, order.refund_status) == (
        Decimal("110.00"),
        Decimal("50.00"),
        "partial",
    )
    event = OrderEvent.objects.get(order=order, kind=OrderEventKind.IMPORTED)
    assert event.changes["lines"] == [0, 2]


def test_order_id_mangled_into_scientific_notation_is_refused():
    # given
    shop = create_shop()
    row = taobao_row(ORDER_A)
    row[0] = "2.87654E+18"

    # when
    result = run(shop, csv_bytes(TAOBAO_HEADER, [row]), format="taobao")

    # then
    assert problems(result) == [
        (2, "订单编号", "“2.87654E+18”是科学计数法，编码已丢失精度，请把该列设为文本后重新导出")
    ]
    assert Order.objects.count() == 0


def test_dry_run_reports_but_writes_nothing():
    # given
    shop = create_shop()
    before = counts()

    # when
    result = run(shop, csv_bytes(TAOBAO_HEADER, [taobao_row(ORDER_A)]), dry_run=True)

    # then
    assert (result.created, result.committed, result.dry_run) == (1, False, True)
    assert counts() == before


def test_format_is_recognised_from_the_header():
    # given
    shop = create_shop()

    # when
    result = run(shop, csv_bytes(TAOBAO_HEADER, [taobao_row(ORDER_A)]))

    # then
    assert result.created == 1
    assert AuditEntry.objects.get(action="orders.imported").changes["format"] == "taobao"


def test_order_placed_after_tracking_started_reserves_stock_through_the_ledger():
    # given
    from shopops.inventory.models import Reservation
    from shopops.inventory.tests.factories import create_warehouse, stock

    shop = create_shop()
    sku = create_sku(merchant_code="TEE-01")
    stock(sku=sku, warehouse=create_warehouse(), on_hand=5)
    template = [
        "订单号",
        "订单状态",
        "下单时间",
        "付款时间",
        "商家编码",
        "数量",
        "单价",
        "收货人",
        "收货电话",
        "省",
        "市",
        "详细地址",
    ]
    row = [
        "W1",
        "paid",
        "2026-06-01 10:00:00",
        "2026-06-01 10:01:00",
        "TEE-01",
        "2",
        "30",
        "王五",
        "13912345678",
        "上海",
        "上海市",
        "世纪大道 1 号",
    ]

    # when
    result = run(shop, csv_bytes(template, [row]), format="template")

    # then
    assert result.created == 1
    order = Order.objects.get()
    assert order.stock_state == "reserved"
    assert list(Reservation.objects.values_list("sku_id", "quantity", "status")) == [(sku.pk, 2, "active")]


def test_user_without_order_permissions_is_refused(make_user):
    # given
    shop = create_shop()
    user = make_user("warehouse")

    # when / then
    with pytest.raises(PermissionDeniedError):
        import_orders(source=io.BytesIO(b"x"), filename="a.csv", actor=user, shop=shop.code)


def test_shop_outside_the_users_scope_is_not_found(make_user):
    # given
    shop = create_shop()
    other = create_shop()
    user = make_user("operations", shops=[other])

    # when / then
    with pytest.raises(NotFound):
        import_orders(
            source=io.BytesIO(csv_bytes(TAOBAO_HEADER, [taobao_row(ORDER_A)])),
            filename="a.csv",
            actor=user,
            shop=shop.code,
        )
    assert Order.objects.count() == 0


def test_orders_kind_is_offered_to_the_import_command():
    assert IMPORT_KINDS == {"orders": import_orders}


def test_qianniu_xlsx_headers_are_read_as_taobao_and_ids_stay_text():
    # given
    from shopops.core.tabular import write_table

    shop = create_shop()
    header = ["订单编号", "买家下单时间", "买家付款时间", "物流公司", "买家实付金额", "运单号", "买家会员名",
              "联系手机", "收货地址", "宝贝标题", "宝贝规格", "宝贝总数量", "买家应付货款", "订单状态", "发货时间",
              "确认收货时间"]  # fmt: skip
    row = [ORDER_A, "2026-05-01 09:00:00", "2026-05-01 09:01:00", "中通快递", "89.00", "73100000000000",
           "qn_buyer", "13912345678", "广东省 深圳市 南山区 科技园 1 号(518000)", "T恤", "颜色:白", 1, "89.00",
           "交易成功", "2026-05-02 10:00:00", "2026-05-06 10:00:00"]  # fmt: skip
    data = io.BytesIO()
    write_table(data, headers=header, rows=[row], file_format="xlsx")

    # when
    result = import_orders(source=data, filename="qianniu.xlsx", actor=ACTOR, shop=shop.code)

    # then
    assert (result.file_format, result.created, result.errors, result.unknown_columns) == ("xlsx", 1, [], [])
    order = Order.objects.get()
    assert (order.external_id, order.status, order.tracking_number) == (
        ORDER_A,
        "completed",
        "73100000000000",
    )
    assert order.shipped_at == dt.datetime(2026, 5, 2, 2, 0, tzinfo=dt.UTC)
    assert order.completed_at == dt.datetime(2026, 5, 6, 2, 0, tzinfo=dt.UTC)
    assert (order.receiver_postcode, order.receiver_phone_last4) == ("518000", "5678")
    assert OrderLine.objects.get().spec == "颜色:白"


def test_order_report_after_the_item_report_completes_the_amounts_and_keeps_the_lines():
    # given
    shop = create_shop()
    items = csv_bytes(
        ITEMS_HEADER,
        [[f'="{ORDER_A}1"', f'="{ORDER_A}"', "真丝连衣裙 M", "50.00", "2", "", "", "", "", "买家已付款，等待卖家发货",
          "DRESS-M", "", "100.00", "100.00", "没有申请退款", "无退款申请", "2016/5/23 22:02", "2016/5/23 22:05"]],
    )  # fmt: skip
    run(shop, items, format="taobao_items")
    assert Order.objects.get().paid_amount == Decimal("100.00")

    # when
    result = run(shop, csv_bytes(TAOBAO_HEADER, [taobao_row(ORDER_A)]), format="taobao")

    # then
    assert result.updated == 1
    order = Order.objects.get()
    assert (order.paid_amount, order.shipping_fee) == (Decimal("110.00"), Decimal("10.00"))
    assert list(order.lines.values_list("external_line_id", "quantity")) == [(f"{ORDER_A}1", 2)]
