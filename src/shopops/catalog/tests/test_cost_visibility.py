"""Cost prices, margins and stock value at cost by role (issue 11 §2): 美工 and 客服 see sale prices only —
in pages, exports and the API alike; 运营 and 财务 see costs. Every surface is searched for the fixture SKU's
known cost numbers."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from shopops.catalog.tests.factories import create_product, create_sku
from shopops.inventory.tests.factories import create_warehouse, stock

pytestmark = pytest.mark.django_db

COST = Decimal("73.19")
SALE = Decimal("149.00")
ON_HAND = 7
BELOW_COST_SALE = Decimal("50.00")
# the numbers a cost leak would show: the cost, the value at cost, the margin (50.9%), the loss per unit
SECRETS = ("73.19", "512.33", "50.9%", "23.19")
SEE_COST = ("operations", "finance")
SALE_ONLY = ("customer_service", "designer")


@pytest.fixture
def world(db: None) -> dict[str, Any]:
    product = create_product(name="羊毛围巾")
    sku = create_sku(product=product, merchant_code="SCARF-01", sale_price=SALE, cost_price=COST)
    loss = create_sku(product=product, merchant_code="SCARF-02", sale_price=BELOW_COST_SALE, cost_price=COST)
    warehouse = create_warehouse(code="HZ")
    stock(sku=sku, warehouse=warehouse, on_hand=ON_HAND)
    return {"product": product, "sku": sku, "loss": loss}


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def pages(world: dict[str, Any]) -> dict[str, str]:
    return {
        "sku list": reverse("admin:catalog_sku_changelist"),
        "sku page": reverse("admin:catalog_sku_change", args=[world["sku"].pk]),
        "product page": reverse("admin:catalog_product_change", args=[world["product"].pk]),
        "stock list": reverse("admin:inventory_stocklevel_changelist"),
        "sku export": reverse("admin:catalog_sku_export_products_csv"),
        "工作台": reverse("admin:index"),
    }


def body(response: Any) -> str:
    assert response.status_code == 200, response.status_code
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("utf-8-sig")
    return response.content.decode("utf-8-sig")


def test_the_value_at_cost_is_what_the_secrets_say() -> None:
    # independent computation of the numbers searched for
    assert f"{COST * ON_HAND:.2f}" == "512.33"
    assert f"{(SALE - COST) / SALE * 100:.1f}%" == "50.9%"
    assert f"{COST - BELOW_COST_SALE:.2f}" == "23.19"


@pytest.mark.parametrize("role", SALE_ONLY)
def test_sale_only_roles_see_no_cost_in_any_page_or_export(
    role: str, world: dict[str, Any], make_user
) -> None:
    # given
    client = logged_in(make_user(role))
    # when / then
    for name, url in pages(world).items():
        response = client.get(url)
        if response.status_code == 403:
            continue  # the role cannot open the page at all
        text = body(response)
        assert "149" in text or name in ("stock list", "工作台"), name  # the sale price is shown
        for secret in SECRETS:
            assert secret not in text, (name, secret)
        assert "成本" not in text or name == "工作台", name


@pytest.mark.parametrize("role", SEE_COST)
def test_operations_and_finance_see_the_cost(role: str, world: dict[str, Any], make_user) -> None:
    client = logged_in(make_user(role))
    shown = {name: body(client.get(url)) for name, url in pages(world).items()}
    assert "73.19" in shown["sku list"]
    assert "50.9%" in shown["sku list"]
    assert "73.19" in shown["sku page"]
    assert "512.33" in shown["stock list"]
    assert "73.19" in shown["sku export"]
    assert "23.19" in shown["工作台"]  # the below-cost panel's loss per unit


def test_sale_only_export_leaves_the_cost_column_out(world: dict[str, Any], make_user) -> None:
    text = body(
        logged_in(make_user("customer_service")).get(reverse("admin:catalog_sku_export_products_csv"))
    )
    header = text.splitlines()[0].split(",")
    assert "售价" in header
    assert "成本价" not in header


@pytest.mark.parametrize(("role", "sees"), [(r, False) for r in SALE_ONLY] + [(r, True) for r in SEE_COST])
def test_api_cost_fields_follow_the_permission(
    role: str, sees: bool, world: dict[str, Any], make_user, api_client_for: Callable[..., Client]
) -> None:
    # given
    client = api_client_for(make_user(role))
    sku = world["sku"]
    # when
    one = client.get(f"/api/v1/catalog/skus/{sku.pk}").json()
    listed = {row["merchant_code"]: row for row in client.get("/api/v1/catalog/skus").json()["items"]}
    product = client.get(f"/api/v1/catalog/products/{world['product'].pk}").json()
    levels = client.get("/api/v1/inventory/stock")
    export = client.get("/api/v1/catalog/export")
    # then
    expected = "73.19" if sees else None
    assert one["sale_price"] == "149.00"
    assert one["cost_price"] == expected
    assert listed["SCARF-01"]["cost_price"] == expected
    assert {row["cost_price"] for row in product["skus"]} == {expected}
    if levels.status_code == 200:
        (row,) = levels.json()["items"]
        assert (row["cost_price"], row["value"]) == ((expected, "512.33") if sees else (None, None))
    else:
        assert role == "designer"
        assert levels.status_code == 403
    assert ("73.19" in body(export)) is sees


@pytest.mark.parametrize("role", SALE_ONLY)
def test_asking_by_cost_is_refused_without_the_permission(
    role: str, world: dict[str, Any], make_user, api_client_for
) -> None:
    client = api_client_for(make_user(role))
    for url in (
        "/api/v1/catalog/skus?below_cost=true",
        "/api/v1/catalog/skus?ordering=-cost_price",
        "/api/v1/catalog/products?below_cost=true",
        "/api/v1/catalog/export?below_cost=true",
        "/api/v1/inventory/reports/stock-on-hand",
    ):
        response = client.get(url)
        assert response.status_code == 403, url
        assert "73.19" not in response.content.decode()


@pytest.mark.parametrize("role", ["customer_service", "designer", "promotion"])
def test_sale_only_roles_cannot_open_purchasing_at_all(role: str, make_user) -> None:
    client = logged_in(make_user(role))
    assert client.get(reverse("admin:purchasing_purchaseorder_changelist")).status_code == 403
    assert client.get(reverse("admin:purchasing_supplierprice_changelist")).status_code == 403
