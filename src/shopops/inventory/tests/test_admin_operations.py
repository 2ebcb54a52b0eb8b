"""Stocktake and transfer pages: each action permitted / 403 without permission / 404 out of scope /
refused in the wrong state; every change a POST through the services."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from shopops.accounts.models import User
from shopops.inventory import services as inventory_services
from shopops.inventory.models import (
    MovementType,
    StockLevel,
    StockMovement,
    Stocktake,
    StocktakeStatus,
    Transfer,
    TransferStatus,
)
from shopops.inventory.tests.factories import create_sku, create_warehouse, stock

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(admin_user: User, make_user: Callable[..., User]) -> dict[str, Any]:
    hz, sh = create_warehouse(code="HZ"), create_warehouse(code="SH")
    tee, mug = create_sku(merchant_code="TEE-BLK-M"), create_sku(merchant_code="MUG-1")
    tee.barcode = "6901234567892"
    tee.save(update_fields=["barcode"])
    stock(sku=tee, warehouse=hz, on_hand=10)
    stock(sku=mug, warehouse=hz, on_hand=4)
    counter = make_user("warehouse", username="counter", is_staff=True)
    approver = make_user("warehouse", username="approver", is_staff=True)
    viewer = make_user("operations", username="viewer", is_staff=True)
    outsider = make_user("warehouse", username="outsider", is_staff=True)
    inventory_services.set_warehouse_scope(user_id=outsider.pk, warehouse_ids=[sh.pk], actor=None)
    return {
        "hz": hz,
        "sh": sh,
        "tee": tee,
        "mug": mug,
        "counter": counter,
        "approver": approver,
        "viewer": viewer,
        "outsider": outsider,
    }


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def url(name: str, *args: Any) -> str:
    """`stocktake_count` → the count page; `transfer_change` → the change page."""
    model, action = name.split("_", 1)
    suffix = action if action in ("change", "changelist") else f"{action}_{model}"
    return reverse(f"admin:inventory_{model}_{suffix}", args=args)


def on_hand(sku: Any, warehouse: Any) -> int:
    return StockLevel.objects.get(sku=sku, warehouse=warehouse).on_hand


def start(world: dict[str, Any], **extra: Any) -> Stocktake:
    return inventory_services.start_stocktake(
        warehouse_id=world["hz"].pk, scope="full", actor=world["counter"], **extra
    )


# Stocktakes.


def test_start_page_lists_only_warehouses_in_scope_and_starts_a_stocktake(world):
    outsider = client_for(world["outsider"])
    page = outsider.get(url("stocktake_start"))
    assert page.status_code == 200
    assert "仓库HZ" not in page.content.decode()
    assert "仓库SH" in page.content.decode()
    # a warehouse outside the scope is not a valid choice
    refused = outsider.post(url("stocktake_start"), {"warehouse": world["hz"].pk, "scope": "full"})
    assert refused.status_code == 200
    assert not Stocktake.objects.exists()

    response = client_for(world["counter"]).post(
        url("stocktake_start"), {"warehouse": world["hz"].pk, "scope": "full", "is_blind": "on"}
    )
    stocktake = Stocktake.objects.get()
    assert response.status_code == 302
    assert response["Location"] == url("stocktake_count", stocktake.pk)
    assert stocktake.is_blind
    assert stocktake.lines.count() == 2


def test_start_by_sku_codes_reports_unknown_codes(world):
    client = client_for(world["counter"])
    page = client.post(
        url("stocktake_start"),
        {"warehouse": world["hz"].pk, "scope": "skus", "sku_codes": "TEE-BLK-M\nNOPE-1"},
    )
    assert "找不到这些SKU：NOPE-1" in page.content.decode()
    assert not Stocktake.objects.exists()
    client.post(
        url("stocktake_start"), {"warehouse": world["hz"].pk, "scope": "skus", "sku_codes": "6901234567892"}
    )
    assert list(Stocktake.objects.get().lines.values_list("sku__merchant_code", flat=True)) == ["TEE-BLK-M"]


def test_view_only_role_gets_403_on_every_stocktake_action(world):
    stocktake = start(world)
    viewer = client_for(world["viewer"])
    assert viewer.get(url("stocktake_change", stocktake.pk)).status_code == 200
    for name in ("stocktake_count", "stocktake_submit", "stocktake_review", "stocktake_cancel"):
        assert (
            viewer.post(
                url(name, stocktake.pk), {"code": "TEE-BLK-M", "quantity": 1, "mode": "add"}
            ).status_code
            == 403
        )
    assert (
        viewer.post(url("stocktake_start"), {"warehouse": world["hz"].pk, "scope": "full"}).status_code == 403
    )
    assert Stocktake.objects.get().status == StocktakeStatus.COUNTING


def test_stocktake_of_another_warehouse_is_404(world):
    stocktake = start(world)
    outsider = client_for(world["outsider"])
    for name in ("stocktake_count", "stocktake_submit", "stocktake_cancel"):
        assert outsider.post(url(name, stocktake.pk), {"code": "TEE-BLK-M", "quantity": 1}).status_code == 404
    assert not stocktake.lines.filter(counted_quantity__isnull=False).exists()


def test_scans_add_up_by_barcode_and_code_and_a_blind_count_hides_the_book(world):
    stocktake = start(world)
    client = client_for(world["counter"])
    for code in ("6901234567892", "6901234567892", "TEE-BLK-M"):
        response = client.post(
            url("stocktake_count", stocktake.pk), {"code": code, "quantity": 1, "mode": "add"}
        )
        assert response.status_code == 302
    client.post(url("stocktake_count", stocktake.pk), {"code": "MUG-1", "quantity": 5, "mode": "set"})
    counted = dict(stocktake.lines.values_list("sku__merchant_code", "counted_quantity"))
    assert counted == {"TEE-BLK-M": 3, "MUG-1": 5}
    page = client.get(url("stocktake_count", stocktake.pk)).content.decode()
    assert "快照账面数" not in page
    assert 'data-testid="recent-scans"' in page
    unknown = client.post(
        url("stocktake_count", stocktake.pk), {"code": "NOPE", "quantity": 1, "mode": "add"}, follow=True
    )
    assert "找不到条码或商家编码为 NOPE 的SKU" in unknown.content.decode()


def test_count_import_reports_bad_rows_and_records_the_rest(world):
    stocktake = start(world)
    sheet = "商家编码,数量\nTEE-BLK-M,7\nNOPE,2\nMUG-1,-1\n".encode()
    upload = io.BytesIO(sheet)
    upload.name = "counts.csv"
    page = client_for(world["counter"]).post(url("stocktake_count", stocktake.pk), {"file": upload})
    text = page.content.decode()
    assert page.status_code == 200
    assert "出错 2" in text
    assert "第 3 行" in text
    assert dict(
        stocktake.lines.exclude(counted_quantity=None).values_list("sku__merchant_code", "counted_quantity")
    ) == {"TEE-BLK-M": 7}


def test_submit_review_and_post_move_stock_to_the_counts(world):
    stocktake = start(world)
    counter, approver = client_for(world["counter"]), client_for(world["approver"])
    counter.post(url("stocktake_count", stocktake.pk), {"code": "TEE-BLK-M", "quantity": 8, "mode": "set"})
    counter.post(url("stocktake_count", stocktake.pk), {"code": "MUG-1", "quantity": 6, "mode": "set"})
    assert counter.get(url("stocktake_submit", stocktake.pk)).status_code == 200  # the confirmation page
    assert Stocktake.objects.get().status == StocktakeStatus.COUNTING
    counter.post(url("stocktake_submit", stocktake.pk))
    assert Stocktake.objects.get().status == StocktakeStatus.SUBMITTED
    # the counter may not approve their own count: refused with the reason, nothing posted
    refused = counter.post(url("stocktake_review", stocktake.pk), follow=True)
    assert "盘点人不能审核自己参与的盘点单" in refused.content.decode()
    review = approver.get(url("stocktake_review", stocktake.pk)).content.decode()
    assert "-2" in review
    assert "+2" not in review
    assert "¥" in review
    approver.post(url("stocktake_review", stocktake.pk))
    assert Stocktake.objects.get().status == StocktakeStatus.POSTED
    assert (on_hand(world["tee"], world["hz"]), on_hand(world["mug"], world["hz"])) == (8, 6)


def test_wrong_state_is_refused_and_buttons_follow_the_state(world):
    stocktake = start(world)
    counter, approver = client_for(world["counter"]), client_for(world["approver"])
    page = counter.get(url("stocktake_change", stocktake.pk)).content.decode()
    assert url("stocktake_count", stocktake.pk) in page
    assert url("stocktake_review", stocktake.pk) not in page
    # posting a stocktake still counting: refused with its state, nothing moves
    refused = approver.post(url("stocktake_review", stocktake.pk), follow=True)
    assert "盘点单状态为盘点中，不能执行此操作" in refused.content.decode()
    assert Stocktake.objects.get().status == StocktakeStatus.COUNTING
    # cancelling asks for a reason
    assert counter.post(url("stocktake_cancel", stocktake.pk), {"reason": ""}).status_code == 200
    counter.post(url("stocktake_cancel", stocktake.pk), {"reason": "重复建单"})
    assert Stocktake.objects.get().status == StocktakeStatus.CANCELLED
    page = counter.get(url("stocktake_change", stocktake.pk)).content.decode()
    assert url("stocktake_count", stocktake.pk) not in page
    assert url("stocktake_cancel", stocktake.pk) not in page
    assert (
        counter.post(
            url("stocktake_count", stocktake.pk), {"code": "MUG-1", "quantity": 1, "mode": "add"}
        ).status_code
        == 302
    )
    assert not Stocktake.objects.get().lines.exclude(counted_quantity=None).exists()


def test_designer_sees_no_cost_on_the_review(world, make_user):
    stocktake = start(world, is_blind=False)
    client_for(world["counter"]).post(
        url("stocktake_count", stocktake.pk), {"code": "MUG-1", "quantity": 1, "mode": "set"}
    )
    inventory_services.submit_stocktake(stocktake_id=stocktake.pk, actor=world["counter"])
    page = client_for(world["approver"]).get(url("stocktake_change", stocktake.pk)).content.decode()
    assert "成本价" in page
    viewer = make_user("customer_service", username="kefu", is_staff=True)
    page = client_for(viewer).get(url("stocktake_change", stocktake.pk)).content.decode()
    assert "成本价" not in page
    assert "10.00" not in page


# Transfers.


def transfer_post(source: Any, destination: Any, rows: list[tuple[str, str]]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "source": source.pk,
        "destination": destination.pk,
        "note": "",
        "lines-TOTAL_FORMS": len(rows),
        "lines-INITIAL_FORMS": 0,
        "lines-MIN_NUM_FORMS": 0,
        "lines-MAX_NUM_FORMS": 200,
    }
    for number, (code, quantity) in enumerate(rows):
        data[f"lines-{number}-code"] = code
        data[f"lines-{number}-quantity"] = quantity
    return data


def test_create_ship_and_receive_a_transfer_in_parts(world):
    client = client_for(world["counter"])
    bad = client.post(
        url("transfer_create"), transfer_post(world["hz"], world["sh"], [("NOPE", "1"), ("MUG-1", "")])
    )
    assert "找不到条码或商家编码为 NOPE 的SKU" in bad.content.decode()
    assert "请填写数量" in bad.content.decode()
    assert not Transfer.objects.exists()
    created = client.post(
        url("transfer_create"),
        transfer_post(world["hz"], world["sh"], [("TEE-BLK-M", "6"), ("", ""), ("MUG-1", "4")]),
    )
    transfer = Transfer.objects.get()
    assert created["Location"] == url("transfer_change", transfer.pk)
    assert client.get(url("transfer_ship", transfer.pk)).status_code == 200
    assert Transfer.objects.get().status == "draft"
    client.post(url("transfer_ship", transfer.pk))
    assert on_hand(world["tee"], world["hz"]) == 4
    assert StockLevel.objects.get(sku=world["tee"], warehouse=world["sh"]).in_transit == 6
    tee_line = transfer.lines.get(sku=world["tee"])
    mug_line = transfer.lines.get(sku=world["mug"])
    too_many = client.post(url("transfer_receive", transfer.pk), {f"received-{tee_line.pk}": "7"})
    assert "最多 6" in too_many.content.decode()
    client.post(
        url("transfer_receive", transfer.pk), {f"received-{tee_line.pk}": "2", f"received-{mug_line.pk}": "0"}
    )
    assert Transfer.objects.get().status == TransferStatus.PARTIALLY_RECEIVED
    assert on_hand(world["tee"], world["sh"]) == 2
    client.post(
        url("transfer_receive", transfer.pk), {f"received-{tee_line.pk}": "4", f"received-{mug_line.pk}": "4"}
    )
    assert Transfer.objects.get().status == TransferStatus.RECEIVED
    assert (on_hand(world["tee"], world["sh"]), on_hand(world["mug"], world["sh"])) == (6, 4)
    assert StockLevel.objects.get(sku=world["tee"], warehouse=world["sh"]).in_transit == 0


def test_transfer_sides_permissions_and_states(world):
    transfer = inventory_services.create_transfer(
        source_id=world["hz"].pk, destination_id=world["sh"].pk, lines={world["tee"].pk: 3}, actor=None
    )
    viewer, outsider = client_for(world["viewer"]), client_for(world["outsider"])
    assert viewer.post(url("transfer_ship", transfer.pk)).status_code == 403
    assert (
        viewer.post(
            url("transfer_create"), transfer_post(world["hz"], world["sh"], [("MUG-1", "1")])
        ).status_code
        == 403
    )
    # the destination side sees the transfer but may not ship it from a warehouse it does not hold
    assert outsider.get(url("transfer_change", transfer.pk)).status_code == 200
    assert outsider.post(url("transfer_ship", transfer.pk)).status_code == 404
    page = outsider.get(url("transfer_change", transfer.pk)).content.decode()
    assert url("transfer_ship", transfer.pk) not in page
    # receiving a draft is refused by state
    refused = client_for(world["counter"]).post(url("transfer_receive", transfer.pk), {}, follow=True)
    assert refused.status_code == 200
    client_for(world["counter"]).post(url("transfer_ship", transfer.pk))
    # now the destination side receives; a second ship is refused by state
    again = client_for(world["counter"]).post(url("transfer_ship", transfer.pk), follow=True)
    assert "调拨单状态为已发出，不能执行此操作" in again.content.decode()
    line = transfer.lines.get()
    outsider.post(url("transfer_receive", transfer.pk), {f"received-{line.pk}": "1"})
    assert on_hand(world["tee"], world["sh"]) == 1
    # closing needs a reason and records the rest as missing
    assert outsider.post(url("transfer_close", transfer.pk), {"reason": ""}).status_code == 200
    outsider.post(url("transfer_close", transfer.pk), {"reason": "运输丢失"})
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.CLOSED
    assert StockLevel.objects.get(sku=world["tee"], warehouse=world["sh"]).in_transit == 0


# Write-offs (报损).


def write_off(client: Client, level: StockLevel, **data: Any) -> Any:
    return client.post(
        reverse("admin:inventory_stocklevel_changelist"),
        {"action": "write_off_selected", "_selected_action": [level.pk], "step": "apply", **data},
        follow=True,
    )


def test_write_off_takes_units_off_with_the_reason_in_the_ledger(world):
    level = StockLevel.objects.get(sku=world["tee"], warehouse=world["hz"])
    client = client_for(world["counter"])
    # "other" needs a note: refused, nothing written
    refused = write_off(client, level, reason="other", quantity=2, note="")
    assert "请说明报损原因" in refused.content.decode()
    assert on_hand(world["tee"], world["hz"]) == 10
    write_off(client, level, reason="damaged", quantity=3, note="搬运压坏")
    assert on_hand(world["tee"], world["hz"]) == 7
    movement = StockMovement.objects.filter(sku=world["tee"], movement_type=MovementType.DAMAGE).get()
    assert (movement.on_hand_delta, movement.note) == (-3, "破损：搬运压坏")
    # more than on hand is refused by the service with its reason
    too_many = write_off(client, level, reason="lost", quantity=50)
    assert on_hand(world["tee"], world["hz"]) == 7
    assert too_many.status_code == 200


def test_write_off_needs_the_change_permission(world):
    level = StockLevel.objects.get(sku=world["tee"], warehouse=world["hz"])
    write_off(client_for(world["viewer"]), level, reason="damaged", quantity=1)
    assert on_hand(world["tee"], world["hz"]) == 10
