import csv
import io

import openpyxl
import pytest
from django.core.management import call_command
from django.test import Client

from shopops.catalog.tests.factories import create_shop
from shopops.channels.models import Platform
from shopops.core.models import AuditEntry
from shopops.orders.models import OrderStatus
from shopops.orders.tests.test_queries import local, make_order

MASKED = {
    "收货人": "张**",
    "收货人电话": "138****1234",
    "收货地址": "浙江省杭州市西湖区******",
    "买家昵称": "小**",
    "买家邮箱": "d***@example.com",
}
CLEAR = {
    "收货人": "张三",
    "收货人电话": "13800131234",
    "收货地址": "浙江省杭州市西湖区文三路100号",
    "买家昵称": "小明",
    "买家邮箱": "dave@example.com",
}


@pytest.fixture
def orders(db):
    shop = create_shop(code="tm-x", name="天猫旗舰店", platform=Platform.TMALL)
    first = make_order(
        shop=shop,
        external_id="X1",
        buyer_nick="小明",
        buyer_email="dave@example.com",
        paid_amount="129.00",
        placed_at=local(2026, 6, 1, 10, 0),
        paid_at=local(2026, 6, 1, 10, 5),
        lines=[("MC-RED", 2), ("MC-BLUE", 1)],
    )
    second = make_order(
        shop=shop,
        external_id="X2",
        status=OrderStatus.SHIPPED,
        buyer_nick="小明",
        buyer_email="dave@example.com",
        placed_at=local(2026, 6, 2, 9, 0),
    )
    return [first, second]


def csv_rows(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))


def xlsx_rows(content: bytes) -> list[dict[str, object]]:
    sheet = openpyxl.load_workbook(io.BytesIO(content), read_only=True).active
    values = list(sheet.iter_rows(values_only=True))
    return [dict(zip(values[0], row, strict=True)) for row in values[1:]]


def personal(row: dict) -> dict:
    return {key: row[key] for key in MASKED}


def test_csv_export_masks_personal_data_without_view_pii(orders, make_user, api_client_for):
    # given finance (export permission, no core.view_pii)
    client = api_client_for(make_user("finance"))
    # when
    response = client.get("/api/v1/orders/export", {"format": "csv", "placed_from": "2026-06-01"})
    # then
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = csv_rows(b"".join(response.streaming_content))
    assert [row["平台订单号"] for row in rows] == ["X1", "X2"]
    assert personal(rows[0]) == MASKED
    assert (rows[0]["实付金额"], rows[0]["下单时间"], rows[0]["付款时间"], rows[0]["商品明细"]) == (
        "129.00",
        "2026-06-01 10:00:00",
        "2026-06-01 10:05:00",
        "MC-RED×2；MC-BLUE×1",
    )
    assert (rows[1]["订单状态"], rows[1]["店铺"], rows[1]["平台"]) == ("已发货", "天猫旗舰店", "天猫")


def test_xlsx_export_masks_personal_data_without_view_pii(orders, make_user, api_client_for):
    client = api_client_for(make_user("finance"))
    response = client.get("/api/v1/orders/export", {"format": "xlsx", "q": "X1"})
    rows = xlsx_rows(b"".join(response.streaming_content))
    assert len(rows) == 1
    assert personal(rows[0]) == MASKED
    assert rows[0]["实付金额"] == 129


def test_export_shows_full_values_to_a_user_with_view_pii(orders, make_user, api_client_for):
    client = api_client_for(make_user("admin"))
    csv_content = b"".join(client.get("/api/v1/orders/export", {"q": "X1"}).streaming_content)
    xlsx_content = b"".join(
        client.get("/api/v1/orders/export", {"q": "X1", "format": "xlsx"}).streaming_content
    )
    assert personal(csv_rows(csv_content)[0]) == CLEAR
    assert personal(xlsx_rows(xlsx_content)[0]) == CLEAR


def test_every_export_is_audited_with_filters_and_row_count(orders, make_user, api_client_for):
    # given
    user = make_user("finance")
    client = api_client_for(user)
    # when
    response = client.get(
        "/api/v1/orders/export", {"format": "xlsx", "status": ["paid"], "phone": "1234", "q": "X1"}
    )
    b"".join(response.streaming_content)
    # then
    entry = AuditEntry.objects.get(action="order.exported")
    assert entry.actor == user
    assert entry.changes == {
        "filters": {"q": "X1", "phone": "1234", "status": ["paid"]},
        "format": "xlsx",
        "rows": 1,
        "masked": True,
        "via": "api",
    }


def test_export_needs_the_export_permission_and_is_not_audited_when_refused(
    orders, make_user, api_client_for
):
    # given a warehouse user (views orders, may not export)
    client = api_client_for(make_user("warehouse"))
    # when
    response = client.get("/api/v1/orders/export")
    # then
    assert response.status_code == 403
    assert response.json()["fields"] == {"permission": "orders.export_order"}
    assert not AuditEntry.objects.filter(action="order.exported").exists()


def test_export_is_limited_to_the_users_shops(orders, make_user, api_client_for):
    other = create_shop(code="jd-x", platform=Platform.JD)
    make_order(shop=other, external_id="Y1")
    client = api_client_for(make_user("finance", shops=[other]))
    rows = csv_rows(b"".join(client.get("/api/v1/orders/export").streaming_content))
    assert [row["平台订单号"] for row in rows] == ["Y1"]


def test_admin_export_selected_is_masked_and_audited(orders, make_user):
    # given an operator (export permission, no core.view_pii) on the order list
    user = make_user("operations")
    client = Client()
    client.force_login(user)
    # when exporting the first order as CSV through the bulk action
    response = client.post(
        "/admin/orders/order/",
        {"action": "export_selected_csv", "_selected_action": [str(orders[0].pk)]},
    )
    # then
    assert response.status_code == 200
    rows = csv_rows(b"".join(response.streaming_content))
    assert [row["平台订单号"] for row in rows] == ["X1"]
    assert personal(rows[0]) == MASKED
    entry = AuditEntry.objects.get(action="order.exported")
    assert (entry.changes["rows"], entry.changes["order_ids"], entry.changes["via"]) == (
        1,
        [orders[0].pk],
        "admin",
    )


def test_cli_export_orders_masks_without_a_user_and_applies_filters(orders, tmp_path):
    # when
    path = tmp_path / "orders.csv"
    call_command("export_data", "orders", str(path), "--filter", "status=shipped")
    # then
    rows = csv_rows(path.read_bytes())
    assert [row["平台订单号"] for row in rows] == ["X2"]
    assert personal(rows[0]) == MASKED
    entry = AuditEntry.objects.get(action="order.exported")
    assert (entry.actor, entry.changes["filters"], entry.changes["via"]) == (
        None,
        {"status": ["shipped"]},
        "cli",
    )


def test_cli_export_as_admin_user_shows_full_values(orders, admin_user, tmp_path):
    path = tmp_path / "orders.xlsx"
    call_command("export_data", "orders", str(path), "--user", admin_user.username, "--filter", "q=X1")
    assert personal(xlsx_rows(path.read_bytes())[0]) == CLEAR


def test_admin_export_of_every_order_across_pages_follows_the_list_filters(orders, make_user):
    # given the list filtered to shipped orders and "select all across pages"
    client = Client()
    client.force_login(make_user("finance"))
    # when
    response = client.post(
        "/admin/orders/order/?status__exact=shipped",
        {"action": "export_selected_xlsx", "select_across": "1", "_selected_action": [str(orders[0].pk)]},
    )
    # then
    rows = xlsx_rows(b"".join(response.streaming_content))
    assert [row["平台订单号"] for row in rows] == ["X2"]
    assert AuditEntry.objects.get(action="order.exported").changes["order_ids"] == [orders[1].pk]
