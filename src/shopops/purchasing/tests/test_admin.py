import re
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from shopops.core.errors import InvalidInput
from shopops.core.models import AuditEntry
from shopops.inventory import services as inventory_services
from shopops.inventory.models import StockLevel
from shopops.inventory.tests.factories import create_sku, create_warehouse, stock
from shopops.purchasing import services
from shopops.purchasing.models import PurchaseOrder, PurchaseOrderStatus, PurchaseReceipt
from shopops.purchasing.tests.factories import (
    create_purchase_order,
    create_supplier,
    create_supplier_price,
    grant,
)

ALL_PERMISSIONS = (
    "purchasing.view_supplier",
    "purchasing.add_supplier",
    "purchasing.change_supplier",
    "purchasing.view_supplierprice",
    "purchasing.add_supplierprice",
    "purchasing.view_purchaseorder",
    "purchasing.add_purchaseorder",
    "purchasing.change_purchaseorder",
    "purchasing.approve_purchaseorder",
    "purchasing.receive_purchaseorder",
    "purchasing.view_purchasereceipt",
    "purchasing.view_purchaseorderline",
    "purchasing.add_purchaseorderline",
    "purchasing.change_purchaseorderline",
    "purchasing.delete_purchaseorderline",
    "catalog.view_sku",
    "inventory.view_warehouse",
)


@pytest.fixture
def buyer(make_user):
    return grant(make_user(is_staff=True), *ALL_PERMISSIONS)


def preview_rows(response) -> list[list[str]]:
    html = response.content.decode()
    rows = re.findall(r'<tr data-testid="preview-row">(.*?)</tr>', html, flags=re.S)
    return [[cell.strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)] for row in rows]


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_pages_render(buyer):
    # given a buyer and one order
    order = create_purchase_order(
        supplier=create_supplier(),
        warehouse=create_warehouse(),
        lines=[(create_sku(), 3, "5.00")],
        actor=buyer,
    )
    client = client_for(buyer)
    # when opening every purchasing page
    urls = [
        reverse("admin:purchasing_supplier_changelist"),
        reverse("admin:purchasing_supplier_add"),
        reverse("admin:purchasing_supplierprice_changelist"),
        reverse("admin:purchasing_purchaseorder_changelist"),
        reverse("admin:purchasing_purchaseorder_add"),
        reverse("admin:purchasing_purchaseorder_change", args=[order.pk]),
        reverse("admin:purchasing_purchasereceipt_changelist"),
    ]
    # then each answers 200
    assert [client.get(url).status_code for url in urls] == [200] * len(urls)


def test_add_order_with_inline_lines_goes_through_the_service(buyer):
    # given a supplier, a warehouse and a SKU
    supplier, warehouse, sku = create_supplier(), create_warehouse(), create_sku()
    prefix = "lines"
    data = {
        "supplier": supplier.pk,
        "warehouse": warehouse.pk,
        "expected_date": "2030-06-01",
        "note": "首单",
        f"{prefix}-TOTAL_FORMS": "1",
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
        f"{prefix}-0-sku": sku.pk,
        f"{prefix}-0-quantity": "12",
        f"{prefix}-0-unit_price": "7.50",
        "events-TOTAL_FORMS": "0",
        "events-INITIAL_FORMS": "0",
        "events-MIN_NUM_FORMS": "0",
        "events-MAX_NUM_FORMS": "1000",
    }
    # when the add form is posted
    response = client_for(buyer).post(reverse("admin:purchasing_purchaseorder_add"), data)
    # then a draft with its line and total exists, created by the service (timeline and audit)
    assert response.status_code == 302, response.content.decode()[:2000]
    order = PurchaseOrder.objects.get()
    assert (order.status, order.total_amount, order.note) == ("draft", Decimal("90.00"), "首单")
    assert list(order.lines.values_list("sku_id", "quantity", "unit_price")) == [
        (sku.pk, 12, Decimal("7.50"))
    ]
    assert order.events.count() == 1
    assert AuditEntry.objects.filter(action="purchase_order.created").count() == 1


def test_approve_then_receive_from_the_change_page(buyer):
    # given a draft of 10
    warehouse, sku = create_warehouse(), create_sku()
    order = create_purchase_order(
        supplier=create_supplier(), warehouse=warehouse, lines=[(sku, 10, "12.00")], actor=buyer
    )
    line = order.lines.get()
    client = client_for(buyer)
    # when approving and receiving 8 accepted and 2 rejected through the detail actions
    approve_url = reverse("admin:purchasing_purchaseorder_approve_order", args=[order.pk])
    receive_url = reverse("admin:purchasing_purchaseorder_receive_order", args=[order.pk])
    confirm_page = client.get(approve_url)
    approved = client.post(approve_url, {"step": "apply", "reason": ""})
    receive_page = client.get(receive_url)
    received = client.post(
        receive_url,
        {
            "step": "apply",
            "warehouse": warehouse.pk,
            f"accepted_{line.pk}": "8",
            f"rejected_{line.pk}": "2",
            "note": "",
        },
    )
    # then the order is partly received and only accepted units are in stock
    assert (
        confirm_page.status_code,
        approved.status_code,
        receive_page.status_code,
        received.status_code,
    ) == (
        200,
        302,
        200,
        302,
    )
    # the receiving page names the product beside its code
    assert sku.product.name in receive_page.content.decode()
    order.refresh_from_db()
    assert order.status == PurchaseOrderStatus.PARTIALLY_RECEIVED
    assert StockLevel.objects.get(sku=sku, warehouse=warehouse).on_hand == 8
    assert list(
        PurchaseReceipt.objects.get().lines.values_list("accepted_quantity", "rejected_quantity")
    ) == [(8, 2)]


def test_detail_actions_need_their_permission(make_user):
    # given a staff user who may only view orders
    viewer = grant(make_user(is_staff=True), "purchasing.view_purchaseorder")
    order = create_purchase_order(
        supplier=create_supplier(), warehouse=create_warehouse(), lines=[(create_sku(), 1, "1.00")]
    )
    client = client_for(viewer)
    # when they try to approve or receive
    answers = [
        client.post(
            reverse("admin:purchasing_purchaseorder_approve_order", args=[order.pk]), {"step": "apply"}
        ).status_code,
        client.get(reverse("admin:purchasing_purchaseorder_receive_order", args=[order.pk])).status_code,
    ]
    # then both are refused and the order is still a draft
    assert answers == [403, 403]
    assert PurchaseOrder.objects.get(pk=order.pk).status == PurchaseOrderStatus.DRAFT


def test_changelist_cancel_action(buyer):
    # given a draft and a received order
    warehouse = create_warehouse()
    draft = create_purchase_order(
        supplier=create_supplier(), warehouse=warehouse, lines=[(create_sku(), 1, "1.00")], actor=buyer
    )
    received = create_purchase_order(
        supplier=create_supplier(), warehouse=warehouse, lines=[(create_sku(), 1, "1.00")], actor=buyer
    )
    PurchaseOrder.objects.filter(pk=received.pk).update(status=PurchaseOrderStatus.RECEIVED)
    # when both are cancelled from the list
    response = client_for(buyer).post(
        reverse("admin:purchasing_purchaseorder_changelist"),
        {"action": "cancel_selected", "_selected_action": [draft.pk, received.pk]},
        follow=True,
    )
    # then only the draft is cancelled and the refusal is shown
    assert response.status_code == 200
    statuses = dict(PurchaseOrder.objects.values_list("pk", "status"))
    assert statuses == {draft.pk: "cancelled", received.pk: "received"}
    assert "不能从“已收货”变为“已取消”" in response.content.decode()


def test_supplier_list_masks_contacts_without_view_pii(buyer):
    # given a supplier with a contact
    create_supplier(contact_name="王小明", contact_phone="13812345678")
    # when a buyer without core.view_pii opens the list
    page = client_for(buyer).get(reverse("admin:purchasing_supplier_changelist")).content.decode()
    # then the contact is masked
    assert "138****5678" in page
    assert "13812345678" not in page
    assert "王小明" not in page


def sold_out_sku(warehouse, *, supplier, units=30, price="6.00"):
    """A SKU that sold `units` in the last days and has none left, bought from `supplier`."""
    sku = create_sku()
    create_supplier_price(supplier=supplier, sku=sku, price=price)
    stock(sku=sku, warehouse=warehouse, on_hand=units)
    inventory_services.issue_stock(sku_id=sku.pk, warehouse_id=warehouse.pk, quantity=units, actor=None)
    return sku


def suggestion_rows(response) -> dict[str, list[str]]:
    html = response.content.decode()
    rows = re.findall(r'<tr data-testid="suggestion" data-code="([^"]+)">(.*?)</tr>', html, re.S)
    return {
        code: [
            re.sub(r"<[^>]+>|\s+", " ", cell).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", body, re.S)
        ]
        for code, body in rows
    }


REPLENISHMENT = "admin:purchasing_purchaseorder_replenishment"


def test_replenishment_page_shows_names_and_whole_units_and_creates_the_chosen_rows(buyer):
    # given two SKUs that sold 30 units each this month and have none left, one supplier (lead time 10 days)
    warehouse = create_warehouse()
    supplier = create_supplier(lead_time_days=10)
    first, second = sold_out_sku(warehouse, supplier=supplier), sold_out_sku(warehouse, supplier=supplier)
    client = client_for(buyer)
    url = reverse(REPLENISHMENT) + "?days=30&review_period_days=0"
    # when the page is opened
    rows = suggestion_rows(client.get(url))
    # then each row names the product beside the code, velocity 30/30 = 1.00 a day, reorder point 1 × 10,
    # and the suggestion 1 × (10 + 0) = 10 units as a whole number
    assert rows[first.merchant_code][1:6] == [
        first.merchant_code,
        first.product.name,
        warehouse.name,
        supplier.name,
        "1.00",
    ]
    assert rows[first.merchant_code][10] == "10"
    assert f'name="quantity-{first.pk}-{warehouse.pk}" value="10"' in client.get(url).content.decode()
    assert "0000" not in client.get(url).content.decode()
    # when only the first row is chosen, with 12 units instead of 10
    key = f"{first.pk}-{warehouse.pk}"
    bad = client.post(url, {"pick": [key], f"quantity-{key}": "1.5"})
    assert "须为正整数" in bad.content.decode()
    assert not PurchaseOrder.objects.exists()
    done = client.post(
        url, {"pick": [key], f"quantity-{key}": "12", f"quantity-{second.pk}-{warehouse.pk}": "10"}
    )
    # then one draft of exactly that row and quantity
    assert done.status_code == 302
    order = PurchaseOrder.objects.get()
    assert (order.status, order.supplier_id, order.warehouse_id) == ("draft", supplier.pk, warehouse.pk)
    assert list(order.lines.values_list("sku_id", "quantity", "unit_price")) == [
        (first.pk, 12, Decimal("6.00"))
    ]


def test_replenishment_adds_to_the_open_draft_instead_of_a_second_one(buyer):
    # given a draft for the supplier and warehouse already holding 4 units of the first SKU
    warehouse = create_warehouse()
    supplier = create_supplier(lead_time_days=10)
    first, second = sold_out_sku(warehouse, supplier=supplier), sold_out_sku(warehouse, supplier=supplier)
    draft = services.create_purchase_order(
        supplier_id=supplier.pk,
        warehouse_id=warehouse.pk,
        lines=[{"sku_id": first.pk, "quantity": 4}],
        actor=None,
    )
    client = client_for(buyer)
    url = reverse(REPLENISHMENT) + "?days=30&review_period_days=0"
    # when the suggestions are turned into drafts: the draft's 4 units are in transit, so 10 − 4 = 6 more
    assert f'name="quantity-{first.pk}-{warehouse.pk}" value="6"' in client.get(url).content.decode()
    assert f"将补充到草稿 {draft.number}" in client.get(url).content.decode()
    keys = [f"{first.pk}-{warehouse.pk}", f"{second.pk}-{warehouse.pk}"]
    client.post(url, {"pick": keys, f"quantity-{keys[0]}": "6", f"quantity-{keys[1]}": "10"})
    # then no second draft: the open one now holds 4 + 6 and the new SKU's 10
    assert list(PurchaseOrder.objects.values_list("pk", flat=True)) == [draft.pk]
    assert sorted(draft.lines.values_list("sku_id", "quantity")) == sorted([(first.pk, 10), (second.pk, 10)])


def test_store_warehouses_get_no_purchase_orders_unless_marked(buyer, admin_user):
    # given a store that sold out a SKU and an own warehouse that did too
    store = inventory_services.create_warehouse(code="SH-STORE", name="门店", kind="store", actor=None)
    own = create_warehouse()
    supplier = create_supplier(lead_time_days=10)
    in_store, in_own = sold_out_sku(store, supplier=supplier), sold_out_sku(own, supplier=supplier)
    client = client_for(buyer)
    url = reverse(REPLENISHMENT) + "?days=30&review_period_days=0"
    # then the store (created as not receiving purchases) is neither suggested nor accepted for a PO
    assert store.receives_purchases is False
    assert set(suggestion_rows(client.get(url))) == {in_own.merchant_code}
    with pytest.raises(InvalidInput, match="门店不接收采购入库"):
        services.create_purchase_order(
            supplier_id=supplier.pk,
            warehouse_id=store.pk,
            lines=[{"sku_id": in_store.pk, "quantity": 1}],
            actor=None,
        )
    # when the store is marked as receiving purchases, it is suggested like any warehouse
    inventory_services.update_warehouse(warehouse_id=store.pk, receives_purchases=True, actor=admin_user)
    assert set(suggestion_rows(client.get(url))) == {in_own.merchant_code, in_store.merchant_code}
