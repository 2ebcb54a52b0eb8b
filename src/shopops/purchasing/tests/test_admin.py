import re
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from shopops.core.models import AuditEntry
from shopops.inventory import services as inventory_services
from shopops.inventory.models import StockLevel
from shopops.inventory.tests.factories import create_sku, create_warehouse, stock
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


def test_replenishment_page_previews_then_creates_drafts(buyer):
    # given a SKU that sold 30 units this month, has none left and one supplier
    warehouse, sku = create_warehouse(), create_sku()
    supplier = create_supplier(lead_time_days=10)
    create_supplier_price(supplier=supplier, sku=sku, price="6.00")
    stock(sku=sku, warehouse=warehouse, on_hand=30)
    inventory_services.issue_stock(sku_id=sku.pk, warehouse_id=warehouse.pk, quantity=30, actor=None)
    client = client_for(buyer)
    url = reverse("admin:purchasing_purchaseorder_replenishment")
    # when the page is opened, then confirmed with other parameters, then confirmed as previewed
    page = client.get(url)
    changed = client.post(
        url, {"step": "apply", "days": "30", "review_period_days": "0", "previewed": "30:7:"}
    )
    drafts_after_change = PurchaseOrder.objects.count()
    confirmed = client.post(
        url, {"step": "apply", "days": "30", "review_period_days": "0", "previewed": "30:0:"}
    )
    # then the preview shows 1/day × (10 + 7) = 17, a changed form only previews again (10 + 0 = 10),
    # and confirming creates one draft of 10 units
    assert page.status_code == 200
    assert preview_rows(page) == [
        [
            sku.merchant_code,
            warehouse.name,
            supplier.name,
            "1.0000",
            "0",
            "0",
            "0",
            "0",
            "10.0000",
            "17",
        ]
    ]
    assert changed.status_code == 200
    assert [row[-1] for row in preview_rows(changed)] == ["10"]
    assert drafts_after_change == 0
    assert confirmed.status_code == 302
    order = PurchaseOrder.objects.get()
    assert (order.status, order.supplier_id) == ("draft", supplier.pk)
    assert list(order.lines.values_list("sku_id", "quantity", "unit_price")) == [
        (sku.pk, 10, Decimal("6.00"))
    ]
