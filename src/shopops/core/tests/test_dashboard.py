"""工作台 stock and purchasing panels: exact rows, permissions and warehouse scope."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from shopops.core.models import AlertSeverity
from shopops.core.notifications import raise_alert, resolve_alert
from shopops.inventory import services as inventory_services
from shopops.inventory.tests.factories import create_sku, create_warehouse, stock
from shopops.purchasing import services as purchasing_services
from shopops.purchasing.tests.factories import create_supplier


def panels_for(user: Any) -> dict[str, Any]:
    client = Client()
    client.force_login(user)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    return {panel.key: panel for panel in response.context["panels"]}


def texts(panel: Any) -> list[list[str]]:
    return [[str(cell) for cell in row] for row in panel.rows]


def link(url: str, text: str) -> str:
    return f'<a class="text-primary-600" href="{url}">{text}</a>'


def sku_cell(sku: Any) -> str:
    return link(reverse("admin:catalog_sku_change", args=[sku.pk]), sku.merchant_code)


@pytest.fixture
def world(admin_user: Any) -> dict[str, Any]:
    """Two warehouses with low and healthy stock, stock alerts and purchase orders in several states."""
    north, south = create_warehouse(code="N1"), create_warehouse(code="S1")
    below_point = create_sku(merchant_code="A-LOW")
    below_safety = create_sku(merchant_code="B-SAFE")
    healthy = create_sku(merchant_code="C-OK")
    empty = create_sku(merchant_code="D-ZERO")
    stock(sku=below_point, warehouse=north, on_hand=3)
    stock(sku=below_safety, warehouse=north, on_hand=10, safety_stock=12)
    stock(sku=healthy, warehouse=north, on_hand=20)
    stock(sku=empty, warehouse=south, on_hand=0)
    for sku, warehouse, point in ((below_point, north, 5), (healthy, north, 5), (empty, south, 0)):
        inventory_services.set_stock_threshold(
            sku_id=sku.pk, warehouse_id=warehouse.pk, low_stock_quantity=point, actor=admin_user
        )
    now = timezone.now()
    alerts = {
        "north_warning": raise_alert(
            kind="inventory.low_stock",
            key=f"inventory.low_stock:{below_point.pk}:{north.pk}",
            title="低库存：A-LOW（N1）",
            now=now - dt.timedelta(hours=1),
        ).alert,
        "south_critical": raise_alert(
            kind="inventory.low_stock",
            key=f"inventory.low_stock:{empty.pk}:{south.pk}",
            title="低库存：D-ZERO（S1）",
            severity=AlertSeverity.CRITICAL,
            now=now - dt.timedelta(hours=2),
        ).alert,
        "overall_info": raise_alert(
            kind="inventory.overstock",
            key=f"inventory.overstock:{healthy.pk}:all",
            title="超储：C-OK（全部仓库）",
            severity=AlertSeverity.INFO,
            now=now,
        ).alert,
        "north_newer_warning": raise_alert(
            kind="inventory.low_stock",
            key=f"inventory.low_stock:{healthy.pk}:{north.pk}",
            title="低库存：C-OK（N1）",
            now=now,
        ).alert,
    }
    raise_alert(kind="inventory.low_stock", key="inventory.low_stock:0:0", title="已解决", now=now)
    resolve_alert(key="inventory.low_stock:0:0", now=now)
    raise_alert(kind="catalog.price", key="catalog.price:1", title="不是库存预警", now=now)
    supplier = create_supplier(name="华东供应商")
    today = timezone.localdate()

    def order(warehouse: Any, expected: dt.date, *, approve: bool = True) -> Any:
        created = purchasing_services.create_purchase_order(
            supplier_id=supplier.pk,
            warehouse_id=warehouse.pk,
            lines=[{"sku_id": healthy.pk, "quantity": 10, "unit_price": "5.00"}],
            expected_date=expected,
            actor=admin_user,
        )
        if approve:
            purchasing_services.approve_purchase_order(po_id=created.pk, actor=admin_user)
        created.refresh_from_db()
        return created

    late_north = order(north, today - dt.timedelta(days=1))
    later_south = order(south, today - dt.timedelta(days=3))
    purchasing_services.receive_purchase_order(
        po_id=later_south.pk,
        lines=[{"line_id": later_south.lines.get().pk, "received": 4, "accepted": 4}],
        actor=admin_user,
    )
    order(north, today)  # due today: not late yet
    order(north, today - dt.timedelta(days=5), approve=False)  # a draft is not expected
    cancelled = order(north, today - dt.timedelta(days=5))
    purchasing_services.cancel_purchase_order(po_id=cancelled.pk, actor=admin_user)
    return {
        "north": north,
        "south": south,
        "skus": {"low": below_point, "safe": below_safety, "empty": empty},
        "alerts": alerts,
        "orders": {"late_north": late_north, "later_south": later_south},
        "today": today,
    }


def alert_row(alert: Any, severity: str) -> list[str]:
    return [
        link(reverse("admin:core_alert_change", args=[alert.pk]), alert.title),
        severity,
        timezone.localtime(alert.last_seen).strftime("%Y-%m-%d %H:%M"),
    ]


def order_row(order: Any, warehouse: str, status: str, days: int, today: dt.date) -> list[str]:
    return [
        link(reverse("admin:purchasing_purchaseorder_change", args=[order.pk]), order.number),
        "华东供应商",
        warehouse,
        status,
        (today - dt.timedelta(days=days)).isoformat(),
        str(days),
    ]


def test_dashboard_lists_stock_alerts_low_stock_and_late_orders(admin_user, world):
    # given the world above and a user who sees every warehouse
    skus, alerts, orders, today = world["skus"], world["alerts"], world["orders"], world["today"]
    # when the 工作台 is opened
    panels = panels_for(admin_user)
    # then open inventory alerts: most severe first, then newest
    assert texts(panels["inventory_alerts"]) == [
        alert_row(alerts["south_critical"], "严重"),
        alert_row(alerts["north_newer_warning"], "警告"),
        alert_row(alerts["north_warning"], "警告"),
        alert_row(alerts["overall_info"], "提示"),
    ]
    assert panels["inventory_alerts"].total == 4
    # and levels at or below their line, shortest first: free − line = 3 − 5, 10 − 12, 0 − 0
    assert texts(panels["low_stock"]) == [
        [sku_cell(skus["low"]), skus["low"].product.name, "仓库N1", "3", "0", "3", "5"],
        [sku_cell(skus["safe"]), skus["safe"].product.name, "仓库N1", "10", "0", "10", "12"],
        [sku_cell(skus["empty"]), skus["empty"].product.name, "仓库S1", "0", "0", "0", "0"],
    ]
    # and approved / partly received orders expected before today, oldest expected first
    assert texts(panels["overdue_purchase_orders"]) == [
        order_row(orders["later_south"], "仓库S1", "部分收货", 3, today),
        order_row(orders["late_north"], "仓库N1", "已审核", 1, today),
    ]


def test_dashboard_panels_follow_warehouse_scope(make_user, admin_user, world):
    # given a warehouse keeper limited to the north warehouse
    keeper = make_user("warehouse")
    inventory_services.set_warehouse_scope(
        user_id=keeper.pk, warehouse_ids=[world["north"].pk], actor=admin_user
    )
    skus, alerts, orders, today = world["skus"], world["alerts"], world["orders"], world["today"]
    # when they open the 工作台
    panels = panels_for(keeper)
    # then only north rows show (not south, not the all-warehouses alert)
    assert texts(panels["inventory_alerts"]) == [
        alert_row(alerts["north_newer_warning"], "警告"),
        alert_row(alerts["north_warning"], "警告"),
    ]
    assert [row[0] for row in texts(panels["low_stock"])] == [sku_cell(skus["low"]), sku_cell(skus["safe"])]
    assert texts(panels["overdue_purchase_orders"]) == [
        order_row(orders["late_north"], "仓库N1", "已审核", 1, today)
    ]


def test_dashboard_panels_need_their_view_permission(make_user, world):
    # given a designer (alerts only) and a customer service agent (stock and alerts, no purchasing)
    designer, agent = make_user("designer"), make_user("customer_service")
    # when each opens the 工作台
    designer_panels, agent_panels = panels_for(designer), panels_for(agent)
    # then each sees only the panels their permissions allow
    stock_keys = {"inventory_alerts", "low_stock", "overdue_purchase_orders"}
    assert set(designer_panels) & stock_keys == set()  # stock is not a 美工's job (issue 11 §3)
    assert set(agent_panels) & stock_keys == {"inventory_alerts", "low_stock"}
