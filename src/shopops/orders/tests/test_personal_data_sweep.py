"""The personal-data net: personal values imported through every order format (and one order created
through the API) must not reach a user without core.view_pii through any GET endpoint of the API
schema, any admin page, or any export. Catches the next `buyer_id`: a field holding personal data
whatever its name."""

from __future__ import annotations

import html
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db.models import Model
from django.http import HttpResponseBase
from django.test import Client
from django.urls import URLPattern, reverse
from huey.contrib.djhuey import HUEY

from shopops.accounts.models import User
from shopops.aftersales.models import AfterSaleCase
from shopops.aftersales.tests.factories import apply
from shopops.api import api
from shopops.channels.models import Platform, Shop
from shopops.core.models import AuditEntry, ImportJob
from shopops.core.pii import pii_fields
from shopops.customers.models import Customer
from shopops.fulfillment.models import Shipment
from shopops.fulfillment.services import ship_shipment
from shopops.fulfillment.tests.factories import parcel_for
from shopops.inventory.tests.factories import create_sku, create_warehouse
from shopops.orders.models import Order
from shopops.orders.tests.factories import create_shop
from shopops.orders.tests.import_fixtures import TAOBAO_HEADER, csv_bytes

pytestmark = pytest.mark.django_db

PHONE, TEXT = "phone", "text"


@dataclass(frozen=True)
class Personal:
    """A personal value put into a file. Phones are compared by their digits (however they are spaced
    or dashed), everything else without whitespace and case. `stored`: kept in clear in a personal-data
    field, so a user with core.view_pii sees it; an identifier (a buyer id that is an e-mail, a phone or
    an ID card number) and an ignored column are stored nowhere in clear."""

    text: str
    kind: str = TEXT
    stored: bool = True

    def digits(self) -> str:
        digits = re.sub(r"\D", "", self.text.split("-")[0] if "-" in self.text[11:] else self.text)
        return digits[2:] if len(digits) == 13 and digits.startswith("86") else digits

    def found_in(self, body: str, compact: str) -> bool:
        if self.kind == PHONE:
            return re.search(r"[\s\-()]{0,3}".join(self.digits()), body) is not None
        return re.sub(r"\s+", "", self.text).lower() in compact


# template (our own shop)
ID_NUMBER = Personal("330106199003074517", stored=False)  # in 买家ID
TEMPLATE_NICK = Personal("慕容秋水")
TEMPLATE_EMAIL = Personal("qiushui.murong@example.net")
TEMPLATE_RECEIVER = Personal("上官婉儿")
TEMPLATE_MOBILE = Personal("+86 139 1234 0001", PHONE)
TEMPLATE_ADDRESS = Personal("梧桐巷 77号 3幢1201室")
# the template order again, later: a new receiver phone and address (timeline and audit carry both)
TEMPLATE_NEW_MOBILE = Personal("13912340008", PHONE)
TEMPLATE_NEW_ADDRESS = Personal("银杏路 18号 2单元501")
# taobao
TAOBAO_NICK = Personal("tb_qingfeng_2024")  # 买家会员名: an account name, masked like a name
ALIPAY = Personal("alipay.linghu@example.org", stored=False)  # 买家支付宝账号, an ignored column
TAOBAO_RECEIVER = Personal("令狐冲")
TAOBAO_ADDRESS = Personal("麓山南路 88号 12栋")
TAOBAO_PRIVACY = Personal("17012345678-4321", PHONE)
TAOBAO_LANDLINE = Personal("0731-88886666", PHONE)  # the second order has no mobile
TAOBAO_SECOND_RECEIVER = Personal("向问天")
# jd
JD_ACCOUNT = Personal("13712340002", PHONE, stored=False)  # 下单帐号: the buyer's mobile
JD_RECEIVER = Personal("任盈盈")
JD_ADDRESS = Personal("建国路 99号 8层")
JD_MOBILE = Personal("13712340003", PHONE)
# pdd
PDD_RECEIVER = Personal("岳灵珊")
PDD_MOBILE = Personal("13612340004", PHONE)
PDD_ADDRESS = Personal("科技园南路 6号 1602")
# shopify
SHOPIFY_EMAIL = Personal("amy.lin@example.com")  # Email: also the buyer key
SHOPIFY_RECEIVER = Personal("Amy Lin")
SHOPIFY_STREET = Personal("Quiet Lane Apt 5")
SHOPIFY_MOBILE = Personal("+86 135-1234-0005", PHONE)
SHOPIFY_BILLING = Personal("Amelia Billing", stored=False)  # Billing Name, an ignored column
# douyin
DOUYIN_NICK = Personal("抖音小龙女")
DOUYIN_RECEIVER = Personal("龙姑娘")
DOUYIN_MOBILE = Personal("13312340006", PHONE)
DOUYIN_ADDRESS = Personal("锦里西路 12号 3单元")
# an order of our own web shop created through the API, keyed by the buyer's e-mail
API_BUYER = Personal("zhou.zhiruo@example.cn", stored=False)
API_RECEIVER = Personal("周芷若")
API_MOBILE = Personal("13212340007", PHONE)
API_ADDRESS = Personal("峨眉路 3号 7栋")

PERSONAL = [value for name, value in dict(globals()).items() if isinstance(value, Personal)]
OBJECT_PAGES = ("<path:object_id>/history/", "<path:object_id>/reveal/")
PLACED = "2025-06-01 10:00:00"  # before the factory shops' stock_effects_since: history orders


def template_file(*, mobile: Personal, address: Personal) -> bytes:
    header = ["订单号", "下单时间", "付款时间", "订单状态", "买家ID", "买家昵称", "买家邮箱", "收货人", "收货电话",
              "省", "市", "区县", "详细地址", "商家编码", "商品标题", "数量", "单价"]  # fmt: skip
    row = ["T-1", PLACED, PLACED, "paid", ID_NUMBER.text, TEMPLATE_NICK.text, TEMPLATE_EMAIL.text,
           TEMPLATE_RECEIVER.text, mobile.text, "浙江省", "杭州市", "西湖区", address.text, "NET-1", "网兜", "2",
           "30.00"]  # fmt: skip
    return csv_bytes(header, [row])


def taobao_file() -> bytes:
    def row(order_id: str, receiver: Personal, landline: str, mobile: str) -> list[str]:
        return [f'="{order_id}"', TAOBAO_NICK.text, ALIPAY.text, "100.00元", "10.00", "110.00元",
                "买家已付款，等待卖家发货", "", receiver.text, f"湖南省 长沙市 岳麓区 {TAOBAO_ADDRESS.text}(410000)",
                landline, mobile, "2025/6/1 10:00", "2025/6/1 10:05", "真丝连衣裙", "", "", "", "1", "旗舰店",
                "x"]  # fmt: skip

    rows = [
        row("2876500000000000001", TAOBAO_RECEIVER, TAOBAO_LANDLINE.text, f"'{TAOBAO_PRIVACY.text}"),
        row("2876500000000000002", TAOBAO_SECOND_RECEIVER, TAOBAO_LANDLINE.text, ""),
    ]
    return csv_bytes(TAOBAO_HEADER, rows, encoding="gb18030")


def jd_file() -> bytes:
    header = ["订单号", "商品ID", "商品名称", "订购数量", "下单时间", "京东价", "订单金额", "结算金额", "应付金额",
              "订单状态", "下单帐号", "客户姓名", "客户地址", "联系电话", "付款确认时间", "货号"]  # fmt: skip
    row = ["J-1", "100012", "保温杯", "1", PLACED, "59.00", "59.00", "55.00", "59.00", "等待出库", JD_ACCOUNT.text,
           JD_RECEIVER.text, f"北京 北京市 朝阳区 {JD_ADDRESS.text}", JD_MOBILE.text, PLACED, "CUP-1"]  # fmt: skip
    return csv_bytes(header, [row])


def pdd_file() -> bytes:
    header = ["订单号", "订单状态", "商品", "商品数量(件)", "商品总价(元)", "邮费(元)", "用户实付金额(元)",
              "商家实收金额(元)", "订单成交时间", "支付时间", "商家编码-规格维度", "售后状态", "收货人", "手机", "省",
              "市", "区", "街道"]  # fmt: skip
    row = ["P-1", "待发货", "陶瓷马克杯", "1", "39.00", "0.00", "39.00", "39.00", PLACED, PLACED, "MUG-1",
           "无售后或售后取消", PDD_RECEIVER.text, PDD_MOBILE.text, "广东省", "深圳市", "南山区",
           PDD_ADDRESS.text]  # fmt: skip
    return csv_bytes(header, [row])


def shopify_file() -> bytes:
    header = ["Name", "Email", "Financial Status", "Paid at", "Fulfillment Status", "Currency", "Subtotal",
              "Shipping", "Total", "Created at", "Lineitem quantity", "Lineitem name", "Lineitem price",
              "Lineitem sku", "Billing Name", "Shipping Name", "Shipping Street", "Shipping City", "Shipping Zip",
              "Shipping Province", "Shipping Country", "Shipping Phone"]  # fmt: skip
    stamp = "2025-06-01 10:00:00 +0800"
    row = ["#1001", SHOPIFY_EMAIL.text, "paid", stamp, "unfulfilled", "CNY", "88.00", "0.00", "88.00", stamp,
           "1", "Tote", "88.00", "TOTE-1", SHOPIFY_BILLING.text, SHOPIFY_RECEIVER.text,
           f"1 {SHOPIFY_STREET.text}", "Shanghai", "200000", "SH", "CN", SHOPIFY_MOBILE.text]  # fmt: skip
    return csv_bytes(header, [row])


def douyin_file() -> bytes:
    header = ["主订单编号", "子订单编号", "选购商品", "商家编码", "商品数量", "商品单价", "支付金额", "订单状态",
              "订单提交时间", "支付完成时间", "买家昵称", "收件人", "收件人手机号", "省", "市", "区",
              "详细地址"]  # fmt: skip
    row = ["D-1", "D-1-1", "围巾", "SCARF-1", "1", "66.00", "66.00", "待发货", PLACED, PLACED, DOUYIN_NICK.text,
           DOUYIN_RECEIVER.text, DOUYIN_MOBILE.text, "四川省", "成都市", "武侯区", DOUYIN_ADDRESS.text]  # fmt: skip
    return csv_bytes(header, [row])


def everyone_but_personal_data() -> list[Permission]:
    return list(
        Permission.objects.exclude(codename__in=["view_pii", "reveal_pii"], content_type__app_label="core")
    )


def import_file(
    client: Client, capture: Any, shop: Shop, name: str, data: bytes, platform_format: str
) -> None:
    upload = SimpleUploadedFile(name, data, content_type="text/csv")
    with capture(execute=True):
        response = client.post(
            "/api/v1/orders/imports", {"file": upload, "shop": shop.pk, "format": platform_format}
        )
    assert response.status_code == 202, response.content
    job = client.get(f"/api/v1/orders/imports/{response.json()['id']}").json()
    assert (job["status"], job["error_count"], job["counts"]["skipped"]) == ("succeeded", 0, 0), job


@pytest.fixture
def world(make_user: Callable[..., User], api_client_for: Callable[[User], Client], settings: Any,
          tmp_path: Path, django_capture_on_commit_callbacks: Any) -> dict[str, Any]:  # fmt: skip
    settings.MEDIA_ROOT = tmp_path / "media"
    was_immediate = HUEY.immediate
    HUEY.immediate = True
    # the operator imports without core.view_pii: their own import jobs are part of what they see
    operator = make_user(None, is_staff=True)
    operator.user_permissions.set(everyone_but_personal_data())
    operator = User.objects.get(pk=operator.pk)
    client = api_client_for(operator)
    for code in ("NET-1", "CUP-1", "MUG-1", "TOTE-1", "SCARF-1", "WEB-1"):
        create_sku(merchant_code=code)
    shops = {platform: create_shop(platform=platform) for platform in Platform.values}
    files: list[tuple[str, Callable[[], bytes], str]] = [
        ("taobao", taobao_file, Platform.TAOBAO),
        ("jd", jd_file, Platform.JD),
        ("pdd", pdd_file, Platform.PDD),
        ("shopify", shopify_file, Platform.SHOPIFY),
        ("douyin", douyin_file, Platform.DOUYIN),
    ]
    capture = django_capture_on_commit_callbacks
    try:
        first = template_file(mobile=TEMPLATE_MOBILE, address=TEMPLATE_ADDRESS)
        import_file(client, capture, shops[Platform.OWN], "template.csv", first, "template")
        for name, build, platform in files:
            import_file(client, capture, shops[platform], f"{name}.csv", build(), name)
        later = template_file(mobile=TEMPLATE_NEW_MOBILE, address=TEMPLATE_NEW_ADDRESS)
        import_file(client, capture, shops[Platform.OWN], "template-later.csv", later, "template")
    finally:
        HUEY.immediate = was_immediate
    web_order = {
        "shop_id": shops[Platform.OWN].pk, "external_id": "W-1", "status": "paid", "buyer_id": API_BUYER.text,
        "lines": [{"merchant_code": "WEB-1", "quantity": 1, "unit_price": "20.00"}],
        "receiver_name": API_RECEIVER.text, "receiver_phone": API_MOBILE.text, "receiver_province": "四川省",
        "receiver_city": "乐山市", "receiver_district": "峨眉山市", "receiver_address": API_ADDRESS.text,
    }  # fmt: skip
    created = client.post(
        "/api/v1/orders", json.dumps(web_order), content_type="application/json", HTTP_IDEMPOTENCY_KEY="web-1"
    )
    assert created.status_code == 201, created.content
    # a parcel and an after-sales case hang off imported orders
    warehouse = create_warehouse()
    parcel = parcel_for(Order.objects.get(external_id="J-1"), actor=operator, warehouse_id=warehouse.pk)
    ship_shipment(actor=operator, shipment_id=parcel.pk, carrier="SF", tracking_number="SF1234567890123")
    apply(Order.objects.get(external_id="D-1"), kind="refund_only", actor=operator)
    return {"operator": operator, "client": client}


def body_text(response: HttpResponseBase) -> str:
    raw = b"".join(response.streaming_content) if response.streaming else response.content  # type: ignore[attr-defined]
    return readable(raw, is_json="json" in response.get("Content-Type", ""))


def readable(raw: bytes, *, is_json: bool = False) -> str:
    """What a person could read in a body: JSON with its escapes undone, HTML unescaped, CSV in its
    encoding, every cell of a spreadsheet."""
    if raw[:2] == b"PK":
        book = openpyxl.load_workbook(io.BytesIO(raw), read_only=True)
        cells = (
            cell for sheet in book.worksheets for row in sheet.iter_rows(values_only=True) for cell in row
        )
        return "\n".join(str(cell) for cell in cells if cell is not None)
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    if is_json:
        text = json.dumps(json.loads(text), ensure_ascii=False)
    return html.unescape(text)


def leaked(body: str, values: list[Personal]) -> list[str]:
    compact = re.sub(r"\s+", "", body).lower()
    return [value.text for value in values if value.found_in(body, compact)]


def api_urls() -> Iterator[tuple[str, dict[str, str]]]:
    """Every GET operation of the API schema, path ids substituted with every object that may carry
    personal data (any id otherwise), once per file format it offers. Not the 数据中心 (analytics): its
    warehouse holds ids and measures only, and its queries would double the sweep's time."""
    ids = {
        "order_id": list(Order.objects.values_list("pk", flat=True)),
        "customer_id": list(Customer.objects.values_list("pk", flat=True)),
        "case_id": list(AfterSaleCase.objects.values_list("pk", flat=True)),
        "shipment_id": list(Shipment.objects.values_list("pk", flat=True)),
        "job_id": list(ImportJob.objects.values_list("pk", flat=True)),
    }
    for path, operations in api.get_openapi_schema()["paths"].items():
        operation = operations.get("get")
        if operation is None or path.startswith("/api/v1/analytics/"):
            continue
        parameters = operation.get("parameters", [])
        formats = [
            p["schema"].get("enum", []) for p in parameters if p["name"] == "format" and p["in"] == "query"
        ]
        queries = [{"format": value} for value in formats[0]] if formats else [{}]
        urls = [path]
        for parameter in (p for p in parameters if p["in"] == "path"):
            name = parameter["name"]
            urls = [url.replace(f"{{{name}}}", str(pk)) for url in urls for pk in ids.get(name, [1])]
        for url in urls:
            for query in queries:
                yield url, query


def holds_personal_data(model: type[Model]) -> bool:
    """Rows that hold personal data or tell about an order or a customer (the audit log, parcels,
    cases, issues …): every one of them is looked at, of other models one."""
    related = {field.related_model for field in model._meta.get_fields() if field.many_to_one}
    return bool(pii_fields(model)) or model is AuditEntry or bool(related & {Order, Customer})


def admin_urls() -> Iterator[str]:
    """Every admin page without a parameter (lists, list actions, add forms, report pages), the change
    page of objects, and the history and reveal pages of those holding personal data; the index (工作台)
    first. Object actions that change state (approve, ship …) are POST-only by the charter and left
    alone, as is confirming an import; the 数据中心 too (see `api_urls`)."""
    yield reverse("admin:index")
    job_ids = list(ImportJob.objects.values_list("pk", flat=True))
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label == "analytics":
            continue
        personal = holds_personal_data(model)
        objects = model._default_manager.order_by("pk").values_list("pk", flat=True)
        object_ids = list(objects if personal else objects[:1])
        for pattern in model_admin.get_urls():
            if not isinstance(pattern, URLPattern) or pattern.name is None:
                continue
            route = str(pattern.pattern)
            if "<" not in route:
                yield reverse(f"admin:{pattern.name}")
            elif route == "<path:object_id>/change/" or (personal and route in OBJECT_PAGES):
                yield from (reverse(f"admin:{pattern.name}", args=[pk]) for pk in object_ids)
            elif route.startswith("import-jobs/<int:job_id>/") and "confirm" not in route:
                yield from (reverse(f"admin:{pattern.name}", args=[pk]) for pk in job_ids)


def test_no_personal_value_reaches_a_user_without_view_pii(world: dict[str, Any], tmp_path: Path) -> None:
    # given the operator (every permission but core.view_pii / core.reveal_pii) and what they can reach
    operator = world["operator"]
    api_client = world["client"]
    browser = Client()
    browser.force_login(operator)
    found: dict[str, list[str]] = {}
    statuses: dict[str, int] = {}

    def check(label: str, response: HttpResponseBase) -> None:
        statuses[label] = response.status_code
        leaks = leaked(body_text(response), PERSONAL)
        if leaks:
            found[label] = leaks

    # when every API GET endpoint, admin page and export is read
    for url, query in api_urls():
        check(f"GET {url}{'?format=' + query['format'] if query else ''}", api_client.get(url, query))
    for url in admin_urls():
        check(f"admin {url}", browser.get(url))
    order_ids = [str(pk) for pk in Order.objects.values_list("pk", flat=True)]
    changelist = reverse("admin:orders_order_changelist")
    for action in ("export_selected_csv", "export_selected_xlsx"):
        check(
            f"admin action {action}",
            browser.post(changelist, {"action": action, "_selected_action": order_ids}),
        )
    for name in ("orders.csv", "orders.xlsx"):
        call_command("export_data", "orders", str(tmp_path / name), "--user", operator.username)
        leaks = leaked(readable((tmp_path / name).read_bytes()), PERSONAL)
        if leaks:
            found[f"shopops export_data {name}"] = leaks

    # then no personal value appears anywhere, and nothing failed on the way
    assert found == {}, json.dumps(found, ensure_ascii=False, indent=1)
    assert [label for label, status in statuses.items() if status >= 500] == []
    # the net has no hole where personal data lives: these answered with content
    for label in ("GET /api/v1/orders", "GET /api/v1/customers", "GET /api/v1/aftersales/cases",
                  "GET /api/v1/shipments", "GET /api/v1/audit", "GET /api/v1/orders/export?format=xlsx",
                  f"admin {changelist}"):  # fmt: skip
        assert statuses[label] == 200, label


def test_a_user_with_view_pii_sees_the_stored_values(world: dict[str, Any], make_user: Callable[..., User],
                                                    api_client_for: Callable[[User], Client]) -> None:  # fmt: skip
    # given an administrator (core.view_pii)
    client = api_client_for(make_user("admin"))
    # when they export the orders and read the customers
    exported = body_text(client.get("/api/v1/orders/export", {"format": "csv"}))
    customers = [
        client.get(f"/api/v1/customers/{pk}") for pk in Customer.objects.values_list("pk", flat=True)
    ]
    seen = exported + "".join(body_text(response) for response in customers)
    # then every value kept in a personal-data field is there in clear (the net above looks at real data),
    # and identifiers stored only as their hash are not
    stored = [
        value for value in PERSONAL if value.stored and value not in (TEMPLATE_MOBILE, TEMPLATE_ADDRESS)
    ]
    assert sorted(leaked(seen, stored)) == sorted(value.text for value in stored)
    assert leaked(seen, [value for value in PERSONAL if not value.stored]) == []
