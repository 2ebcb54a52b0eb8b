import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from shopops.customers.services import platform_buyer_id
from shopops.inventory.tests.factories import create_sku
from shopops.orders.imports import import_orders
from shopops.orders.models import Order, OrderEvent, OrderEventKind, OrderLine
from shopops.orders.tests.factories import create_shop
from shopops.orders.tests.import_fixtures import TAOBAO_HEADER, counts, csv_bytes, problems, taobao_row

pytestmark = pytest.mark.django_db

ACTOR = "cli:test"
JD_HEADER = [
    "订单号",
    "商品ID",
    "商品名称",
    "订购数量",
    "下单时间",
    "京东价",
    "订单金额",
    "结算金额",
    "应付金额",
    "订单状态",
    "下单帐号",
    "客户姓名",
    "客户地址",
    "联系电话",
    "商家备注",
    "商家备注等级（等级1-5为由高到低）",
    "运费金额",
    "付款确认时间",
    "货号",
    "仓库名称",
    "京东新列",
]
PDD_HEADER = [
    "订单号",
    "订单状态",
    "商品",
    "商品规格",
    "商品数量(件)",
    "商品总价(元)",
    "邮费(元)",
    "店铺优惠折扣(元)",
    "平台优惠折扣(元)",
    "用户实付金额(元)",
    "商家实收金额(元)",
    "订单成交时间",
    "支付时间",
    "商家编码-规格维度",
    "商家编码-商品维度",
    "售后状态",
    "快递单号",
    "快递公司",
    "收货人",
    "手机",
    "省",
    "市",
    "区",
    "街道",
]
SHOPIFY_HEADER = [
    "Name",
    "Email",
    "Financial Status",
    "Paid at",
    "Fulfillment Status",
    "Fulfilled at",
    "Currency",
    "Subtotal",
    "Shipping",
    "Taxes",
    "Total",
    "Discount Amount",
    "Created at",
    "Lineitem quantity",
    "Lineitem name",
    "Lineitem price",
    "Lineitem sku",
    "Shipping Name",
    "Shipping Street",
    "Shipping City",
    "Shipping Zip",
    "Shipping Province",
    "Shipping Country",
    "Shipping Phone",
    "Cancelled at",
    "Refunded Amount",
    "Vendor",
    "Id",
]


def run(shop, data, **options):
    return import_orders(
        source=io.BytesIO(data), filename="orders.csv", actor=ACTOR, shop=shop.code, **options
    )


def jd_row(order_id, code, title, quantity, price, *, status="等待出库"):
    return [
        order_id, "100012", title, quantity, "2026-06-01 10:00:00", price, "100.00", "95.00", "100.00",
        status, "jd_buyer", "赵六", "北京 北京市 朝阳区 建国路 88号", "13700001111", "加急", "2", "0.00",
        "2026-06-01 10:02:00", code, "北京仓", "?",
    ]  # fmt: skip


def test_jd_bad_row_makes_its_whole_order_bad_in_both_modes():
    # given
    shop = create_shop(platform="jd")
    rows = [
        jd_row("J1", "SKU-A", "保温杯", "1", "59.00"),
        jd_row("J1", "SKU-B", "杯套", "2", "20.50"),
        jd_row("J2", "SKU-A", "保温杯", "1", "59.00"),
        jd_row("J2", "SKU-B", "杯套", "0", "20.50"),
    ]
    data = csv_bytes(JD_HEADER, rows)
    expected = [(4, "", "同一订单的第 5 行有错误，整单未导入"), (5, "订购数量", "数量须大于 0")]

    # when
    refused = run(shop, data, format="jd")
    kept = run(shop, data, format="jd", mode="skip_bad_rows")

    # then
    assert refused.is_refused
    assert problems(refused) == expected
    assert problems(kept) == expected
    assert (kept.created, kept.skipped) == (2, 2)
    assert kept.unknown_columns == ["京东新列"]
    order = Order.objects.get()
    assert (order.external_id, order.status, order.flag, order.seller_memo) == ("J1", "paid", 2, "加急")
    assert (order.goods_amount, order.paid_amount, order.merchant_received) == (
        Decimal("100.00"),
        Decimal("100.00"),
        Decimal("95.00"),
    )
    assert (order.receiver_province, order.receiver_address) == ("北京", "建国路 88号")
    assert list(order.lines.values_list("line_no", "merchant_code", "quantity", "unit_price", "amount")) == [
        (1, "SKU-A", 1, Decimal("59.00"), Decimal("59.00")),
        (2, "SKU-B", 2, Decimal("20.50"), Decimal("41.00")),
    ]


def test_jd_newer_export_moves_the_order_on_without_duplicating():
    # given
    shop = create_shop(platform="jd")
    first = [jd_row("J1", "SKU-A", "保温杯", "1", "59.00"), jd_row("J1", "SKU-B", "杯套", "2", "20.50")]
    run(shop, csv_bytes(JD_HEADER, first), format="jd")
    before = counts()
    newer = [
        jd_row("J1", "SKU-A", "保温杯", "1", "59.00", status="等待确认收货"),
        jd_row("J1", "SKU-B", "杯套", "2", "20.50", status="等待确认收货"),
    ]

    # when
    again = run(shop, csv_bytes(JD_HEADER, first), format="jd")
    between = counts()
    result = run(shop, csv_bytes(JD_HEADER, newer), format="jd")

    # then
    assert (again.unchanged, between) == (2, before)
    assert result.updated == 2
    order = Order.objects.get()
    assert (order.status, order.platform_status) == ("shipped", "等待确认收货")
    event = OrderEvent.objects.get(order=order, kind=OrderEventKind.IMPORTED)
    assert event.changes["status"] == ["paid", "shipped"]
    assert (counts()["orders"], counts()["lines"]) == (before["orders"], before["lines"])


def pdd_row(order_id, status, *, paid="84.00", after_sale="无售后或售后取消", code="CUP-1"):
    return [
        order_id, status, "陶瓷马克杯", "白色", "1", "99.00", "0.00", "5.00", "10.00", paid, "94.00",
        "2026-06-02 09:00:00", "2026-06-02 09:01:00", code, "CUP", after_sale, "YT1234567890123", "圆通",
        "张**", "138****1234", "广东省", "深圳市", "南山区", "****",
    ]  # fmt: skip


def test_pdd_combined_statuses_masked_receivers_and_merchant_revenue():
    # given
    shop = create_shop(platform="pdd")
    sku = create_sku(merchant_code="CUP-1")
    rows = [
        pdd_row("240602-001", "已发货，待签收"),
        pdd_row("240602-002", "已签收，退款成功", after_sale="退款成功"),
        pdd_row("240602-003", "火星状态"),
    ]

    # when
    result = run(shop, csv_bytes(PDD_HEADER, rows), format="pdd", mode="skip_bad_rows")

    # then
    assert problems(result) == [(4, "订单状态", "未知的订单状态“火星状态”，请在格式文件的 [status] 中补充")]
    shipped = Order.objects.get(external_id="240602-001")
    assert (shipped.status, shipped.platform_status) == ("shipped", "已发货，待签收")
    assert (shipped.paid_amount, shipped.merchant_received) == (Decimal("84.00"), Decimal("94.00"))
    assert (shipped.shop_discount, shipped.platform_discount) == (Decimal("5.00"), Decimal("10.00"))
    assert (shipped.receiver_name, shipped.receiver_phone, shipped.receiver_address) == (
        "张**",
        "138****1234",
        "****",
    )
    assert (shipped.receiver_phone_hash, shipped.receiver_phone_last4) == ("", "1234")
    assert (shipped.carrier_name, shipped.tracking_number) == ("圆通", "YT1234567890123")
    assert OrderLine.objects.get(order=shipped).sku_id == sku.pk
    refunded = Order.objects.get(external_id="240602-002")
    assert (refunded.status, refunded.refunded_amount, refunded.refund_status) == (
        "closed",
        Decimal("84.00"),
        "full",
    )


def test_pdd_reimport_is_idempotent_and_a_newer_status_is_followed():
    # given
    shop = create_shop(platform="pdd")
    run(shop, csv_bytes(PDD_HEADER, [pdd_row("240602-001", "已发货，待签收")]), format="pdd")
    before = counts()

    # when
    same = run(
        shop,
        csv_bytes(PDD_HEADER, [pdd_row("240602-001", "已发货，待签收")], encoding="gb18030"),
        format="pdd",
    )
    unchanged = counts()
    newer = run(shop, csv_bytes(PDD_HEADER, [pdd_row("240602-001", "已签收")]), format="pdd")

    # then
    assert (same.unchanged, unchanged) == (1, before)
    assert newer.updated == 1
    order = Order.objects.get()
    assert order.status == "delivered"
    assert OrderEvent.objects.get(order=order, kind=OrderEventKind.IMPORTED).changes["status"] == [
        "shipped",
        "delivered",
    ]


def shopify_rows():
    first = [
        "#1001", "amy@example.com", "paid", "2026-06-01 10:02:00 +0000", "fulfilled", "2026-06-02 08:00:00 +0000",
        "USD", "60.00", "5.00", "0.00", "65.00", "0.00", "2026-06-01 10:01:00 +0000", "2", "Mug", "20.00",
        "MUG-1", "Amy Lee", "1 Main St", "Springfield", "12345", "IL", "US", "+1 555 0100", "", "", "Acme", "901",
    ]  # fmt: skip
    second = ["#1001"] + [""] * 12 + ["1", "Coaster", "20.00", "COASTER-1"] + [""] * 11
    serial = [
        "#1002", "bob@example.com", "pending", "", "unfulfilled", "", "USD", "15.00", "0.00", "0.00", "15.00",
        "0.00", "46174.5", "1", "Mug", "15.00", "MUG-1", "Bob", "2 Side St", "Shelbyville", "54321", "IL", "US",
        "", "", "", "Acme", "902",
    ]  # fmt: skip
    refunded = [
        "#1003", "cy@example.com", "refunded", "46175.25", "unfulfilled", "", "USD", "20.00", "0.00", "0.00",
        "20.00", "0.00", "46175.25", "1", "Mug", "20.00", "MUG-1", "Cy", "3 Elm St", "Ogdenville", "11111", "IL",
        "US", "", "", "20.00", "Acme", "903",
    ]  # fmt: skip
    return [first, second, serial, refunded]


def test_shopify_line_item_rows_group_into_orders_with_excel_serial_dates():
    # given
    shop = create_shop(platform="shopify")

    # when (a BOM makes it another file: every order is compared field by field)
    result = run(shop, csv_bytes(SHOPIFY_HEADER, shopify_rows(), encoding="utf-8-sig"), format="shopify")

    # then
    assert (result.created, result.errors, result.unknown_columns) == (4, [], [])
    first = Order.objects.get(external_id="#1001")
    assert (first.status, first.currency, first.buyer_id, first.buyer_email) == (
        "shipped",
        "USD",
        platform_buyer_id("amy@example.com"),  # the e-mail stays in buyer_email only
        "amy@example.com",
    )
    assert (first.goods_amount, first.shipping_fee, first.paid_amount) == (
        Decimal("60.00"),
        Decimal("5.00"),
        Decimal("65.00"),
    )
    assert first.placed_at == dt.datetime(2026, 6, 1, 10, 1, tzinfo=dt.UTC)
    assert first.shipped_at == dt.datetime(2026, 6, 2, 8, 0, tzinfo=dt.UTC)
    assert (first.receiver_name, first.receiver_city, first.receiver_country) == (
        "Amy Lee",
        "Springfield",
        "US",
    )
    assert list(first.lines.values_list("title", "merchant_code", "quantity", "amount")) == [
        ("Mug", "MUG-1", 2, Decimal("40.00")),
        ("Coaster", "COASTER-1", 1, Decimal("20.00")),
    ]
    pending = Order.objects.get(external_id="#1002")
    assert pending.status == "pending_payment"
    assert pending.placed_at == dt.datetime(2026, 6, 1, 4, 0, tzinfo=dt.UTC)  # 12:00 in Shanghai
    closed = Order.objects.get(external_id="#1003")
    assert (closed.status, closed.refunded_amount, closed.refund_status) == (
        "closed",
        Decimal("20.00"),
        "full",
    )


def test_shopify_reimport_changes_nothing():
    # given
    shop = create_shop(platform="shopify")
    run(shop, csv_bytes(SHOPIFY_HEADER, shopify_rows()), format="shopify")
    before = counts()

    # when (a BOM makes it another file: every order is compared field by field)
    result = run(shop, csv_bytes(SHOPIFY_HEADER, shopify_rows(), encoding="utf-8-sig"), format="shopify")

    # then
    assert result.counts() == {"total": 4, "created": 0, "updated": 0, "unchanged": 4, "skipped": 0}
    assert counts() == before


DOUYIN_HEADER = [
    "主订单编号", "子订单编号", "选购商品", "商家编码", "商品数量", "商品单价", "运费", "支付金额", "订单状态",
    "售后状态", "订单提交时间", "支付完成时间", "收件人", "收件人手机号", "省", "市", "区", "详细地址", "达人ID",
]  # fmt: skip


def test_douyin_default_mapping_reads_a_multi_line_order():
    # given
    shop = create_shop(platform="douyin")
    rows = [
        ["DY1", "DY1-1", "卫衣", "HOODIE-M", "1", "129.00", "0.00", "199.00", "待发货", "无售后", "2026/6/3 20:15",
         "2026/6/3 20:16", "钱七", "15800001111", "江苏省", "南京市", "鼓楼区", "中山路 1 号", "123"],
        ["DY1", "DY1-2", "袜子", "SOCKS", "2", "35.00", "0.00", "199.00", "待发货", "无售后", "2026/6/3 20:15",
         "2026/6/3 20:16", "钱七", "15800001111", "江苏省", "南京市", "鼓楼区", "中山路 1 号", "123"],
    ]  # fmt: skip

    # when
    result = run(shop, csv_bytes(DOUYIN_HEADER, rows), format="douyin")

    # then
    assert (result.created, result.errors, result.unknown_columns) == (2, [], [])
    order = Order.objects.get()
    assert (order.status, order.paid_amount, order.placed_at) == (
        "paid",
        Decimal("199.00"),
        dt.datetime(2026, 6, 3, 12, 15, tzinfo=dt.UTC),
    )
    assert list(order.lines.values_list("external_line_id", "quantity", "amount")) == [
        ("DY1-1", 1, Decimal("129.00")),
        ("DY1-2", 2, Decimal("70.00")),
    ]


TEMPLATE_HEADER = ["订单号", "子订单号", "订单状态", "下单时间", "付款时间", "买家ID", "收货人", "收货电话", "省", "市",
                   "区县", "详细地址", "运费", "实付金额", "商家编码", "商品标题", "数量", "单价", "行退款金额"]  # fmt: skip


def template_rows(status="paid"):
    return [
        ["T1", "T1-1", status, "2016-06-01 10:00:00", "2016-06-01 10:01:00", "own_7", "孙八", "13600002222", "浙江省",
         "杭州市", "西湖区", "文一路 9 号", "8.00", "68.00", "BAG-1", "帆布包", "1", "30.00", "0"],
        ["T1", "T1-2", "", "", "", "", "", "", "", "", "", "", "", "", "PEN-1", "钢笔", "3", "10.00", ""],
    ]  # fmt: skip


def test_template_order_columns_may_be_left_empty_on_following_lines():
    # given
    shop = create_shop(platform="own")

    # when
    result = run(shop, csv_bytes(TEMPLATE_HEADER, template_rows()), format="template")

    # then
    assert (result.created, result.errors) == (2, [])
    order = Order.objects.get()
    assert (order.status, order.shipping_fee, order.paid_amount, order.goods_amount) == (
        "paid",
        Decimal("8.00"),
        Decimal("68.00"),
        Decimal("60.00"),
    )
    assert list(order.lines.values_list("merchant_code", "quantity", "amount")) == [
        ("BAG-1", 1, Decimal("30.00")),
        ("PEN-1", 3, Decimal("30.00")),
    ]


def test_template_dry_run_then_import_then_newer_status():
    # given
    shop = create_shop(platform="own")
    before = counts()

    # when
    dry = run(shop, csv_bytes(TEMPLATE_HEADER, template_rows()), format="template", dry_run=True)
    after_dry = counts()
    run(shop, csv_bytes(TEMPLATE_HEADER, template_rows()), format="template")
    imported = counts()
    newer = run(shop, csv_bytes(TEMPLATE_HEADER, template_rows("completed")), format="template")

    # then
    assert (dry.created, after_dry) == (2, before)
    assert newer.updated == 2
    assert Order.objects.get().status == "completed"
    assert (counts()["orders"], counts()["lines"]) == (imported["orders"], imported["lines"])


def test_import_command_takes_format_and_shop(tmp_path):
    # given
    shop = create_shop(code="tmall-main")
    path = tmp_path / "ExportOrderList.csv"
    path.write_bytes(csv_bytes(TAOBAO_HEADER, [taobao_row("2876543210987654321")], encoding="gb18030"))

    # when
    call_command("import_data", "orders", str(path), "--format", "taobao", "--shop", "tmall-main")

    # then
    assert Order.objects.get(shop=shop).external_id == "2876543210987654321"


def test_import_command_needs_a_shop_for_orders(tmp_path):
    # given
    path = tmp_path / "ExportOrderList.csv"
    path.write_bytes(csv_bytes(TAOBAO_HEADER, [taobao_row("2876543210987654321")]))

    # when / then
    with pytest.raises(CommandError, match="--shop"):
        call_command("import_data", "orders", str(path), "--format", "taobao")


def test_shopify_bad_line_item_makes_its_order_bad_in_both_modes():
    # given
    shop = create_shop(platform="shopify")
    rows = shopify_rows()
    rows[1][13] = "two"  # Lineitem quantity of the second row of #1001
    data = csv_bytes(SHOPIFY_HEADER, rows)
    expected = [(2, "", "同一订单的第 3 行有错误，整单未导入"), (3, "Lineitem quantity", "“two”不是有效数字")]

    # when
    refused = run(shop, data, format="shopify")
    kept = run(shop, data, format="shopify", mode="skip_bad_rows")

    # then
    assert (refused.is_refused, problems(refused)) == (True, expected)
    assert (problems(kept), kept.created, kept.skipped) == (expected, 2, 2)
    assert sorted(Order.objects.values_list("external_id", flat=True)) == ["#1002", "#1003"]


def test_shopify_newer_export_records_payment_and_shipping():
    # given
    shop = create_shop(platform="shopify")
    run(shop, csv_bytes(SHOPIFY_HEADER, shopify_rows()), format="shopify")
    rows = shopify_rows()
    rows[2][2:6] = ["paid", "2026-06-01 05:00:00 +0000", "fulfilled", "2026-06-02 01:00:00 +0000"]

    # when
    result = run(shop, csv_bytes(SHOPIFY_HEADER, rows), format="shopify")

    # then
    assert (result.updated, result.unchanged) == (1, 3)
    order = Order.objects.get(external_id="#1002")
    assert (order.status, order.paid_at) == ("shipped", dt.datetime(2026, 6, 1, 5, 0, tzinfo=dt.UTC))
    event = OrderEvent.objects.get(order=order, kind=OrderEventKind.IMPORTED)
    assert event.changes["status"] == ["pending_payment", "shipped"]
    assert Order.objects.count() == 3


def test_template_and_douyin_bad_rows_in_both_modes():
    # given
    shop = create_shop(platform="own")
    rows = template_rows()
    rows.append(list(rows[0]))
    rows[2][0], rows[2][3] = "T2", "2016-13-45 10:00:00"

    # when
    refused = run(shop, csv_bytes(TEMPLATE_HEADER, rows), format="template")
    kept = run(shop, csv_bytes(TEMPLATE_HEADER, rows), format="template", mode="skip_bad_rows")

    # then
    expected = [(4, "下单时间", "“2016-13-45 10:00:00”不是有效时间")]
    assert (refused.is_refused, problems(refused)) == (True, expected)
    assert (problems(kept), kept.created) == (expected, 2)
    assert list(Order.objects.values_list("external_id", flat=True)) == ["T1"]


def test_douyin_bad_price_is_reported_on_its_column():
    # given
    shop = create_shop(platform="douyin")
    row = ["DY9", "DY9-1", "卫衣", "HOODIE-M", "1", "一百", "0.00", "100.00", "待发货", "无售后", "2026/6/3 20:15",
           "2026/6/3 20:16", "钱七", "15800001111", "江苏省", "南京市", "鼓楼区", "中山路 1 号", "123"]  # fmt: skip

    # when
    refused = run(shop, csv_bytes(DOUYIN_HEADER, [row]), format="douyin")
    kept = run(shop, csv_bytes(DOUYIN_HEADER, [row]), format="douyin", mode="skip_bad_rows")

    # then
    assert problems(refused) == problems(kept) == [(2, "商品单价", "“一百”不是有效金额")]
    assert Order.objects.count() == 0
