import io
from collections.abc import Callable
from typing import Any

import openpyxl
import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from shopops.accounts.models import User
from shopops.channels import services as channel_services
from shopops.core.models import AuditEntry
from shopops.inventory import services as inventory_services
from shopops.inventory.admin import ledger_url
from shopops.inventory.models import (
    Location,
    MovementType,
    Reservation,
    ReservationStatus,
    StockLevel,
    StockMovement,
    StockThreshold,
    UserWarehouseScope,
    Warehouse,
    WarehouseScopeSetting,
)
from shopops.inventory.tests.factories import create_bundle, create_sku, create_warehouse, stock

INVENTORY_MODELS = sorted(
    model._meta.model_name for model in admin.site._registry if model._meta.app_label == "inventory"
)


@pytest.fixture
def staff(make_user: Callable[..., User]) -> Callable[..., User]:
    def make(role: str, **extra: Any) -> User:
        return make_user(role, is_staff=True, **extra)

    return make


@pytest.fixture
def world(admin_user):
    first, second = create_warehouse(code="HZ"), create_warehouse(code="SH")
    sku, other = create_sku(merchant_code="TEE-BLK-M"), create_sku(merchant_code="MUG-1")
    stock(sku=sku, warehouse=first, on_hand=10, safety_stock=1)
    stock(sku=sku, warehouse=second, on_hand=4)
    stock(sku=other, warehouse=first, on_hand=1, safety_stock=3)
    inventory_services.reserve_stock(
        sku_id=sku.pk, warehouse_id=first.pk, quantity=2, reference="SO-1", actor=admin_user
    )
    return {"first": first, "second": second, "sku": sku, "other": other}


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def listed(response) -> list[Any]:
    return list(response.context["cl"].result_list)


def levels() -> list[tuple[int, int, int, int]]:
    return list(StockLevel.objects.order_by("pk").values_list("pk", "on_hand", "reserved", "safety_stock"))


def test_stock_level_list_shows_quantities_value_and_a_ledger_link(world, staff):
    # given warehouse staff
    client = client_for(staff("warehouse"))
    # when they open the stock list
    response = client.get(reverse("admin:inventory_stocklevel_changelist"))
    # then every level shows, valued at cost, each linking to its own ledger
    page = response.content.decode()
    assert response.status_code == 200
    assert len(listed(response)) == 3
    assert "¥100.00" in page  # 10 × 10.00
    link = ledger_url(merchant_code="TEE-BLK-M", warehouse_id=world["first"].pk)
    assert link.replace("&", "&amp;") in page


def test_low_stock_filter(world, staff):
    # given MUG-1 holds 1 unit against a safety stock of 3
    client = client_for(staff("warehouse"))
    # when filtering below safety stock
    response = client.get(reverse("admin:inventory_stocklevel_changelist") + "?low_stock=below_safety")
    # then only it is listed
    assert [level.sku.merchant_code for level in listed(response)] == ["MUG-1"]


def test_ledger_link_lists_only_that_skus_movements(world, staff):
    # given the ledger link of TEE-BLK-M in HZ
    client = client_for(staff("operations"))
    # when it is followed
    response = client.get(ledger_url(merchant_code="TEE-BLK-M", warehouse_id=world["first"].pk))
    # then exactly that position's movements show, newest first
    expected = list(
        StockMovement.objects.filter(sku=world["sku"], warehouse=world["first"])
        .order_by("-id")
        .values_list("pk", flat=True)
    )
    assert response.status_code == 200
    assert [movement.pk for movement in listed(response)] == expected
    assert [movement.movement_type for movement in listed(response)] == [
        MovementType.RESERVE,
        MovementType.OPENING,
    ]


def test_stock_movements_are_read_only_for_everyone(world, staff):
    # given the admin and a movement
    client = client_for(staff("admin"))
    movement = StockMovement.objects.first()
    # when trying to add, change or delete
    adding = client.get(reverse("admin:inventory_stockmovement_add"))
    changing = client.post(reverse("admin:inventory_stockmovement_change", args=[movement.pk]), {"note": "x"})
    deleting = client.post(
        reverse("admin:inventory_stockmovement_delete", args=[movement.pk]), {"post": "yes"}
    )
    # then all are refused and the ledger is as it was
    assert (adding.status_code, changing.status_code, deleting.status_code) == (403, 403, 403)
    assert StockMovement.objects.get(pk=movement.pk).note == ""


def test_stock_list_follows_the_warehouse_scope(world, staff):
    # given warehouse staff limited to SH
    user = staff("warehouse")
    inventory_services.set_warehouse_scope(user_id=user.pk, warehouse_ids=[world["second"].pk], actor=None)
    client = client_for(user)
    # when they open the stock list and the first warehouse's level
    response = client.get(reverse("admin:inventory_stocklevel_changelist"))
    hidden = StockLevel.objects.get(sku=world["sku"], warehouse=world["first"])
    other_page = client.get(reverse("admin:inventory_stocklevel_change", args=[hidden.pk]))
    # then only SH rows, the filter does not name HZ, and HZ's row is not found
    assert [level.warehouse.code for level in listed(response)] == ["SH"]
    assert "仓库HZ" not in response.content.decode()
    assert other_page.status_code == 302  # the admin redirects "does not exist" to the list


def test_adjust_action_asks_for_a_reason_then_writes_the_ledger(world, staff):
    # given warehouse staff and HZ's TEE level
    user = staff("warehouse")
    client = client_for(user)
    level = StockLevel.objects.get(sku=world["sku"], warehouse=world["first"])
    url = reverse("admin:inventory_stocklevel_changelist")
    action = {"action": "adjust_selected", "_selected_action": [level.pk]}
    # when the action is chosen, then confirmed with a reason
    form_page = client.post(url, action)
    applied = client.post(
        url,
        {
            **action,
            "step": "apply",
            "movement_type": "count_gain",
            "quantity_delta": "3",
            "reason": "盘点多出",
        },
    )
    # then the form came first, then one ledger row and an audit entry
    assert form_page.status_code == 200
    assert "确认调整" in form_page.content.decode()
    assert applied.status_code == 302
    movement = StockMovement.objects.order_by("-id").first()
    assert (
        movement.movement_type,
        movement.on_hand_delta,
        movement.on_hand_after,
        movement.note,
        movement.actor,
    ) == (
        MovementType.COUNT_GAIN,
        3,
        13,
        "盘点多出",
        user,
    )
    assert AuditEntry.objects.filter(action="stock.adjusted", actor=user).count() == 1


def test_adjust_action_refused_by_the_service_changes_nothing(world, staff):
    # given HZ: 10 on hand, 2 reserved
    client = client_for(staff("warehouse"))
    level = StockLevel.objects.get(sku=world["sku"], warehouse=world["first"])
    before, movements = levels(), StockMovement.objects.count()
    # when 9 units are taken off
    response = client.post(
        reverse("admin:inventory_stocklevel_changelist"),
        {
            "action": "adjust_selected",
            "_selected_action": [level.pk],
            "step": "apply",
            "movement_type": "adjust",
            "quantity_delta": "-9",
            "reason": "盘亏",
        },
        follow=True,
    )
    # then the refusal is shown and nothing changed
    assert "未预占的在库数量不足" in response.content.decode()
    assert (levels(), StockMovement.objects.count()) == (before, movements)


def test_view_only_staff_cannot_adjust(world, staff):
    # given operations staff (inventory view only)
    client = client_for(staff("operations"))
    level = StockLevel.objects.get(sku=world["sku"], warehouse=world["first"])
    before = levels()
    # when they post the action anyway
    response = client.post(
        reverse("admin:inventory_stocklevel_changelist"),
        {
            "action": "adjust_selected",
            "_selected_action": [level.pk],
            "step": "apply",
            "movement_type": "adjust",
            "quantity_delta": "5",
            "reason": "x",
        },
    )
    # then the action is not offered and nothing changed
    assert "adjust_selected" not in response.content.decode()
    assert levels() == before


def test_safety_stock_action(world, staff):
    client = client_for(staff("warehouse"))
    level = StockLevel.objects.get(sku=world["sku"], warehouse=world["second"])
    client.post(
        reverse("admin:inventory_stocklevel_changelist"),
        {
            "action": "set_safety_stock_selected",
            "_selected_action": [level.pk],
            "step": "apply",
            "safety_stock": "2",
        },
    )
    level.refresh_from_db()
    assert (level.safety_stock, level.available) == (2, 2)


def test_release_action_frees_the_reserved_units(world, staff, admin_user):
    # given SO-1 holds 2 units, and SO-2 holds a bundle of TEE and MUG
    bundle = create_bundle(components={world["sku"]: 1, world["other"]: 1})
    inventory_services.receive_stock(
        sku_id=world["other"].pk, warehouse_id=world["first"].pk, quantity=5, actor=admin_user
    )
    inventory_services.reserve_stock(
        sku_id=bundle.pk, warehouse_id=world["first"].pk, quantity=1, reference="SO-2", actor=admin_user
    )
    client = client_for(staff("warehouse"))
    one_component = Reservation.objects.get(reference="SO-2", sku=world["other"])
    first = Reservation.objects.get(reference="SO-1")
    # when SO-1 and one component of SO-2 are released
    client.post(
        reverse("admin:inventory_reservation_changelist"),
        {"action": "release_selected", "_selected_action": [first.pk, one_component.pk]},
    )
    # then both documents are released whole (a bundle never half)
    assert set(Reservation.objects.values_list("reference", "status")) == {
        ("SO-1", ReservationStatus.RELEASED),
        ("SO-2", ReservationStatus.RELEASED),
    }
    assert StockLevel.objects.get(sku=world["sku"], warehouse=world["first"]).reserved == 0


def test_warehouse_added_in_the_admin_goes_through_the_service(staff):
    # given warehouse staff
    user = staff("warehouse")
    client = client_for(user)
    # when they add a store, inactive, and then try a duplicate
    created = client.post(
        reverse("admin:inventory_warehouse_add"),
        {"code": "ST-1", "name": "西湖门店", "kind": "store", "address": "", "is_active": ""},
    )
    duplicate = client.post(
        reverse("admin:inventory_warehouse_add"),
        {"code": "ST-1", "name": "另一个", "kind": "own", "address": "", "is_active": "on"},
    )
    # then one warehouse, created and deactivated through the service, and the duplicate refused on the form
    warehouse = Warehouse.objects.get()
    assert created.status_code == 302
    assert (warehouse.code, warehouse.kind, warehouse.is_active) == ("ST-1", "store", False)
    assert list(
        AuditEntry.objects.filter(object_id=str(warehouse.pk)).order_by("pk").values_list("action", flat=True)
    ) == ["warehouse.created", "warehouse.updated"]
    assert duplicate.status_code == 200
    assert Warehouse.objects.count() == 1


def test_warehouse_code_is_read_only_once_created(world, staff):
    client = client_for(staff("warehouse"))
    response = client.post(
        reverse("admin:inventory_warehouse_change", args=[world["first"].pk]),
        {"code": "XX", "name": "杭州仓", "kind": "own", "address": "", "is_active": "on"},
    )
    world["first"].refresh_from_db()
    assert response.status_code == 302
    assert (world["first"].code, world["first"].name) == ("HZ", "杭州仓")
    assert (
        AuditEntry.objects.filter(action="warehouse.updated", object_id=str(world["first"].pk)).count() == 1
    )


def test_warehouse_scope_is_set_through_the_service(world, staff, make_user):
    # given a user and the admin
    clerk = make_user("warehouse")
    client = client_for(staff("admin"))
    # when the admin limits the clerk to SH
    response = client.post(
        reverse("admin:inventory_warehousescopesetting_add"),
        {"user": clerk.pk, "has_all_warehouses": "", "warehouses": [world["second"].pk]},
    )
    # then the scope holds exactly SH, audited
    assert response.status_code == 302
    assert WarehouseScopeSetting.objects.get(user=clerk).has_all_warehouses is False
    assert list(UserWarehouseScope.objects.filter(user=clerk).values_list("warehouse__code", flat=True)) == [
        "SH"
    ]
    assert AuditEntry.objects.filter(action="warehouse_scope.changed").count() == 1


@pytest.mark.parametrize(
    ("url_name", "title"),
    [
        ("export_stock_on_hand", "库存金额(成本)"),
        ("export_slow_movers", "未销售天数"),
        ("export_stock_age", "最长库龄(天)"),
        ("export_turnover", "周转次数"),
    ],
)
def test_report_exports_download_xlsx(world, staff, url_name, title):
    # given finance staff (inventory view)
    client = client_for(staff("finance"))
    # when they download a report
    response = client.get(reverse(f"admin:inventory_stocklevel_{url_name}"))
    # then it is a spreadsheet with the report's columns
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    header = next(openpyxl.load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
    assert title in header


def test_stock_on_hand_export_values(world, staff):
    client = client_for(staff("finance"))
    response = client.get(
        reverse("admin:inventory_stocklevel_export_stock_on_hand") + f"?warehouse={world['second'].pk}"
    )
    rows = list(openpyxl.load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
    assert rows[1:] == [("SH", "库存测试", 1, 4, 0, 4, 0, 40)]


def test_exports_need_the_view_permission(world, staff):
    response = client_for(staff("designer")).get(reverse("admin:inventory_stocklevel_export_stock_on_hand"))
    assert response.status_code == 403


def seed_every_model(world, admin_user) -> None:
    """At least one row of every inventory model registered in the admin."""
    create_bundle(components={world["sku"]: 1})
    inventory_services.set_warehouse_scope(user_id=admin_user.pk, warehouse_ids=None, actor=None)
    Location.objects.create(warehouse=world["first"], code="A-01")
    inventory_services.set_stock_threshold(
        sku_id=world["sku"].pk, warehouse_id=world["first"].pk, low_stock_quantity=3, actor=admin_user
    )
    shop = channel_services.create_shop(actor=admin_user, code="tmall-1", name="天猫店", platform="tmall")
    inventory_services.set_channel_stock_rule(
        shop_id=shop.pk, warehouse_ids=[world["first"].pk], quota_percent=60, actor=admin_user
    )
    inventory_services.start_stocktake(warehouse_id=world["first"].pk, scope="full", actor=admin_user)
    inventory_services.create_transfer(
        source_id=world["first"].pk,
        destination_id=world["second"].pk,
        lines={world["sku"].pk: 2},
        actor=admin_user,
    )


@pytest.mark.parametrize("model_name", INVENTORY_MODELS)
def test_admin_opens_every_inventory_list_and_form(world, staff, admin_user, model_name):
    # given a superuser and at least one row of each model
    seed_every_model(world, admin_user)
    model = next(
        m
        for m in admin.site._registry
        if m._meta.app_label == "inventory" and m._meta.model_name == model_name
    )
    obj = model._default_manager.first()
    client = client_for(staff("admin", is_superuser=True))
    # when the list and the object's page and history open
    changelist = client.get(reverse(f"admin:inventory_{model_name}_changelist"))
    change = client.get(reverse(f"admin:inventory_{model_name}_change", args=[obj.pk]))
    history = client.get(reverse(f"admin:inventory_{model_name}_history", args=[obj.pk]))
    # then each answers
    assert (changelist.status_code, change.status_code, history.status_code) == (200, 200, 200)


def test_blind_stocktake_hides_book_quantities_while_counting(world, staff, admin_user):
    # given a blind count of HZ
    stocktake = inventory_services.start_stocktake(
        warehouse_id=world["first"].pk, scope="full", actor=admin_user
    )
    client = client_for(staff("admin", is_superuser=True))
    # when its page opens
    page = client.get(reverse("admin:inventory_stocktake_change", args=[stocktake.pk])).content.decode()
    # then the snapshot quantity is not shown
    assert "快照账面数" not in page
    assert "TEE-BLK-M" in page


def test_threshold_added_in_the_admin_goes_through_the_service(world, staff):
    # given a superuser
    client = client_for(staff("admin", is_superuser=True))
    # when a threshold with the overstock line below the low line is added, then a valid one
    refused = client.post(
        reverse("admin:inventory_stockthreshold_add"),
        {
            "sku": world["sku"].pk,
            "warehouse": world["first"].pk,
            "low_stock_quantity": "5",
            "overstock_quantity": "3",
            "is_active": "on",
        },
    )
    created = client.post(
        reverse("admin:inventory_stockthreshold_add"),
        {
            "sku": world["sku"].pk,
            "warehouse": world["first"].pk,
            "low_stock_quantity": "5",
            "overstock_quantity": "50",
            "is_active": "on",
        },
    )
    # then the refusal shows on the form (nothing saved), and the valid one is saved through the service
    assert refused.status_code == 200
    assert refused.context["adminform"].form.errors
    assert created.status_code == 302
    assert AuditEntry.objects.filter(action__startswith="stock_threshold").count() == 1
    threshold = StockThreshold.objects.get()
    assert (threshold.low_stock_quantity, threshold.overstock_quantity) == (5, 50)


def test_channel_stock_rule_saved_in_the_admin_goes_through_the_service(world, staff, admin_user):
    # given a shop and a superuser
    shop = channel_services.create_shop(actor=admin_user, code="tmall-1", name="天猫店", platform="tmall")
    client = client_for(staff("admin", is_superuser=True))
    # when a rule giving the shop at most 60% of HZ is added
    response = client.post(
        reverse("admin:inventory_channelstockrule_add"),
        {
            "shop": shop.pk,
            "warehouses": [world["first"].pk],
            "buffer_units": "1",
            "quota_percent": "60",
            "reserved_units": "0",
            "is_active": "on",
        },
    )
    # then the service wrote it once, audited once
    assert response.status_code == 302
    rule = shop.stock_rule
    assert (rule.quota_percent, rule.buffer_units, list(rule.warehouses.values_list("code", flat=True))) == (
        60,
        1,
        ["HZ"],
    )
    assert AuditEntry.objects.filter(action="channel_stock_rule.changed").count() == 1
